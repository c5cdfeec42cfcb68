//! One module per subcommand. Each has an `Args` struct (its doc comments are
//! the `--help` text), a `run` function that returns a report, and the report's
//! rendering. Commands never print directly and never read the environment.
//! [`render`] is no subcommand: the renderings several of them share.

pub mod audit;
pub mod backup;
pub mod create;
pub mod expire_coins;
pub mod import_csv;
pub mod lint;
pub mod migrate;
pub mod partition_rotate;
pub mod reindex_es;
pub mod render;
pub mod restore;
pub mod seed;
pub mod status;
pub mod validate;
