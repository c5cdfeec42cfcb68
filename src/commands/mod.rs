//! One module per subcommand. Each has an `Args` struct (its doc comments are
//! the `--help` text), a `run` function that returns a report, and the report's
//! rendering. Commands never print directly and never read the environment.

pub mod create;
pub mod migrate;
pub mod validate;
