//! PostgreSQL migrations as data: the files, embedded or read from a
//! directory, with their line-ending-proof checksums ([`source`]), how to
//! split a no-transaction file into statements ([`split`]), the pure decision
//! of what to apply given what the database says it has applied ([`plan`]),
//! whose doing a refused migration is ([`refusal`]), the next file's name
//! ([`new_file`]), what a revert would run and whether it may ([`revert`]),
//! the comparison of two schemas ([`schema_diff`]) and the key under which
//! an expected schema is cached ([`snapshot_key`]).
//!
//! Nothing here does I/O; `store::pg::migrator` carries the plan out and
//! `store::pg::catalog` reads a schema.

pub mod new_file;
pub mod plan;
pub mod refusal;
pub mod revert;
pub mod schema_diff;
pub mod snapshot_key;
pub mod source;
pub mod split;

pub use plan::{plan, Applied, Divergence, Plan, PlanError};
pub use refusal::{refusal, Refusal};
pub use source::{embedded, Migration, MigrationSet, Repeatable, SourceError};
