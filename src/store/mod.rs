//! One adapter per datastore. Adapters speak the store's public protocol,
//! turn driver errors into [`crate::error::CommandError`]s that name the
//! (redacted) URL and the fix, and hold no business rules.

pub mod es;
pub mod lease;
pub mod mongo;
pub mod pg;
pub mod redis;
pub mod snapshot_cache;

/// The connections to the non-PostgreSQL stores a command selected; `None`
/// for a store it left out (never contacted).
#[derive(Default, Clone)]
pub struct Connections {
    pub mongo: Option<mongo::Mongo>,
    pub redis: Option<redis::Redis>,
    pub es: Option<es::Es>,
}
