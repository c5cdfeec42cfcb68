//! The command line: global flags, the flag groups shared by subcommands, and
//! the list of subcommands. Each subcommand's own `Args` lives beside its code
//! in `commands/`; its doc comments are the `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::commands::{create::CreateArgs, migrate::MigrateArgs, validate::ValidateArgs};

/// Provision, migrate and check the ReZ platform's datastores.
///
/// Configuration: flags > environment (DATABASE_URL, REDIS_URL, MONGODB_URI,
/// ELASTICSEARCH_URL) > rez-db.yaml > the local stack's defaults.
///
/// Exit codes: 0 ok; 1 ran and found problems; 2 usage or configuration
/// error; 3 a datastore unreachable or timed out; 4 another run holds the
/// lock; 255 a bug in rez-db.
#[derive(Debug, Parser)]
#[command(name = "rez-db", version, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Configuration file [default: ./rez-db.yaml when it exists]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Named profile from the configuration file's `profiles:` (or REZ_DB_PROFILE)
    #[arg(long, global = true, value_name = "NAME")]
    pub profile: Option<String>,

    /// Print exactly one JSON document on stdout
    #[arg(long, global = true)]
    pub json: bool,

    /// More logging on stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
}

/// Where PostgreSQL is.
#[derive(Debug, Args, Clone, Default)]
pub struct PgArgs {
    /// PostgreSQL URL [env: DATABASE_URL]
    #[arg(long, value_name = "URL")]
    pub database_url: Option<String>,
}

/// How long to wait for another run's lock.
#[derive(Debug, Args, Clone, Default)]
pub struct LockArgs {
    /// Wait up to SECONDS for another rez-db run to finish, then exit 4 [default: 0]
    #[arg(long, value_name = "SECONDS")]
    pub lock_wait: Option<u64>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    Create(CreateArgs),
    Migrate(MigrateArgs),
    Validate(ValidateArgs),
}

impl Command {
    /// The connection flags of whichever subcommand this is.
    pub fn pg_args(&self) -> &PgArgs {
        match self {
            Command::Create(args) => &args.pg,
            Command::Migrate(args) => args.pg(),
            Command::Validate(args) => &args.pg,
        }
    }

    pub fn lock_args(&self) -> Option<&LockArgs> {
        match self {
            Command::Create(_) => None,
            Command::Migrate(args) => args.lock(),
            Command::Validate(_) => None,
        }
    }
}
