//! The error every command returns, and the exit-code contract of the CLI.
//!
//! Library layers keep their own typed errors (`ConfigError`, `PgError`, ...);
//! each converts into a [`CommandError`] whose [`ErrorKind`] decides the exit
//! code and whose hints tell the user what to do next. Messages must never
//! contain a secret: URLs pass through [`crate::secret::RedactedUrl`] first.

use std::fmt;
use std::process::ExitCode;

use crate::config::StoreKind;

/// Why a command did not succeed; each kind maps to one documented exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command ran and found problems: violations, drift, divergent or
    /// pending migrations under `--check`, rejected rows, a backup that fails
    /// its verification, a migration whose SQL the server refused (rolled back).
    Problems,
    /// Bad flags, a bad configuration file, a refused destructive step.
    Usage,
    /// A datastore could not be reached or timed out.
    Unreachable,
    /// Another rez-db run holds the lock this command needs.
    LockHeld,
    /// The command could not do its job: a statement the server refused, a
    /// file that cannot be written, a permission denied, a disk full, a
    /// child tool (pg_dump, pg_restore) that failed. Not "found problems":
    /// a cron job must tell the two apart.
    Failed,
    /// A bug in rez-db itself.
    Bug,
}

impl ErrorKind {
    pub fn exit_code(self) -> u8 {
        match self {
            ErrorKind::Problems => 1,
            ErrorKind::Usage => 2,
            ErrorKind::Unreachable => 3,
            ErrorKind::LockHeld => 4,
            ErrorKind::Failed => 5,
            ErrorKind::Bug => 255,
        }
    }

    /// The kind whose exit code is `code`; `None` for 0 and for codes no
    /// kind has (130, 143: signals).
    pub fn from_exit_code(code: u8) -> Option<ErrorKind> {
        [
            ErrorKind::Problems,
            ErrorKind::Usage,
            ErrorKind::Unreachable,
            ErrorKind::LockHeld,
            ErrorKind::Failed,
            ErrorKind::Bug,
        ]
        .into_iter()
        .find(|k| k.exit_code() == code)
    }
}

/// A way out that names rez-db's flags. Only the face knows the flags, so an
/// operation or a store adapter says which remedy applies and the face words
/// it (`cli::remedy_hint`) before the error, or the report row that carries
/// it, is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remedy {
    /// Wait for another run's lock or lease (`--lock-wait`).
    LockWait,
    /// Point rez-db at another server of this store, or leave it out (`--only`).
    Relocate(StoreKind),
    /// Seed files are missing or unreadable in the directory given (`--seeds-dir`).
    SeedsDir,
    /// The settings a synthetic dataset is computed with are missing: load
    /// the reference data first (`seed` before `seed --synthetic`).
    SeedReferenceFirst,
    /// A synthetic dataset goes only into an empty database: drop, create
    /// and migrate it (`create --drop`), then seed again.
    EmptyDatabase,
    /// A seed committed in PostgreSQL may have stopped before Redis: its
    /// Redis structures are rebuilt from the database (`seed --redis-only`).
    RebuildRedis,
    /// The same, right after the Redis part of a committed seed failed.
    RebuildRedisOnceFixed,
    /// Close an unterminated quote of a CSV file, or pick another quote
    /// character (import-csv's `--quote`).
    QuoteChar,
    /// A file is not UTF-8: name its encoding (import-csv's `--encoding`);
    /// never a conversion that could corrupt its text.
    Encoding,
    /// A timestamp has no offset: name the zone the file's times are in
    /// (import-csv's `--timezone`).
    TimeZone,
    /// A zero date (`0000-00-00`): load it as NULL (`--zero-date-as-null`).
    ZeroDateAsNull,
    /// Write the reject file elsewhere (import-csv's `--rejects`).
    RejectsPath,
    /// Let a manifest's paths lead outside its folder (`--allow-outside`).
    AllowOutside,
    /// Load the file's `column` into one of `table`'s `columns` (the list,
    /// as shown) under another name (import-csv's `--map`).
    MapColumn {
        column: String,
        table: String,
        columns: String,
    },
    /// Add a column the table requires to the file, or map the file's name
    /// for it (import-csv's `--map`).
    MapRequired,
    /// Load rows older than their table's retention anyway
    /// (`--allow-past-retention`): the end of a `past_retention` reason.
    AllowPastRetention,
    /// A backup directory is not empty: another one, or replace it (`backup --force`).
    ReplaceBackup,
    /// A restore's target holds data: another target, or replace it (`restore --force`).
    ReplaceTarget,
    /// A restore stopped half-way: run it again over what it left (`restore --force`).
    RestoreAgain,
    /// The backup lacks a selected store: select only those it holds (`--only`).
    OnlyStoresOfBackup,
    /// A restore's target (or pg_restore) is older than, or another product
    /// than, what the backup was taken from: restore anyway when the user
    /// knows it is safe (`restore --allow-version-change`).
    AllowVersionChange,
    /// An encrypted backup is restored without the key of one of its
    /// recipients (`restore --identity`).
    Identity,
    /// An object differs from its definition file (`migrate --fix-drift`).
    FixDrift,
    /// The Redis structures derived from PostgreSQL are missing or wrong
    /// (`seed --redis-only`).
    RebuildDerived,
    /// A down file would destroy a ledger table's rows: back them up, or
    /// revert anyway (`migrate revert --force`).
    ForceRevert,
    /// The server refuses to create the shadow database: build it on
    /// another server (`migrate baseline --shadow-url`).
    ShadowServer,
}

/// A failed command: what went wrong and what the user can do about it.
#[derive(Debug)]
pub struct CommandError {
    pub kind: ErrorKind,
    pub message: String,
    pub hints: Vec<String>,
    /// Hints the face words (see [`Remedy`]); shown after `hints`.
    pub remedies: Vec<Remedy>,
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            message: message.into(),
            hints: Vec::new(),
            remedies: Vec::new(),
        }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }

    pub fn problems(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Problems, message)
    }

    pub fn failed(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Failed, message)
    }

    pub fn bug(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Bug, message)
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    pub fn with_remedy(mut self, remedy: Remedy) -> Self {
        if !self.remedies.contains(&remedy) {
            self.remedies.push(remedy);
        }
        self
    }

    pub fn exit_code(&self) -> ExitCode {
        ExitCode::from(self.kind.exit_code())
    }
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        for hint in &self.hints {
            write!(f, "\nhint: {hint}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CommandError {}

pub type Result<T, E = CommandError> = std::result::Result<T, E>;
