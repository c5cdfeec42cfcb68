//! What an import is asked to do: its input (one file into one table, or a
//! manifest's files) and how every file of the run is read, checked and
//! written. Plain data the face builds from its flags and the
//! configuration; it must never parse a command line nor know a flag.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::partitions::Retention;
pub use super::reader::Dialect;
use super::rejects::RejectFormat;
pub use super::timestamps::TimeReading;

/// How the good rows are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// All good rows in one transaction, or nothing; a row whose unique
    /// value is already in the table is rejected.
    Atomic,
    /// Like atomic, but a row whose natural key exists updates that row
    /// (see `tables::TableRules::key`).
    Upsert,
}

/// What to import.
#[derive(Debug, Clone)]
pub enum Input {
    /// One CSV file into `table`, the header's columns renamed by `maps`
    /// (csv column, table column); its reject file is `rejects`, or
    /// `FILE.rejects.csv` beside it.
    File {
        path: PathBuf,
        table: String,
        maps: Vec<(String, String)>,
        rejects: Option<PathBuf>,
    },
    /// The files a YAML manifest lists ([`super::manifest`]), whose paths
    /// may lead outside its folder only when `allow_outside`; their reject
    /// files go into `rejects_dir`, or beside each file.
    Manifest {
        path: PathBuf,
        allow_outside: bool,
        rejects_dir: Option<PathBuf>,
    },
}

/// How a run imports: what every file of it gets.
#[derive(Debug, Clone)]
pub struct Options {
    /// How the files are read (a manifest's entry may set its own
    /// delimiter, quote and encoding).
    pub dialect: Dialect,
    /// How timestamps without an offset, and zero dates, are read.
    pub timestamps: TimeReading,
    /// How the face tells a user to name a file's encoding (it names the
    /// flag): the end of the `bad_encoding` reason of a UTF-8 file.
    pub encoding_hint: String,
    pub reject_format: RejectFormat,
    /// Load nothing when more rows than this are rejected.
    pub max_errors: Option<u64>,
    /// Load nothing when a larger fraction of the rows is rejected.
    pub max_error_ratio: Option<f64>,
    pub mode: Mode,
    /// Commit every `batch_rows` rows with a checkpoint, and skip what an
    /// earlier run of the same file committed.
    pub resume: bool,
    pub batch_rows: u64,
    /// Check and send everything, then roll back.
    pub dry_run: bool,
    /// Unique values the run keeps in memory before they spill to a
    /// temporary table on the server (for the whole run: a manifest's too).
    pub memory_values: usize,
    /// Which rows of the partitioned tables are past retention.
    pub retention: Retention,
    /// How long to wait for another run's lock before exit 4.
    pub lock_wait: Duration,
    /// Before the commit, run the validate checks that read the imported
    /// tables; an error-level violation rolls everything back.
    pub validate: bool,
}

/// Violations shown per check of the validation before the commit (all are counted).
pub const VALIDATE_LIMIT: usize = 10;

/// One file of a run: where it is, which table it loads, how it reads, and
/// where its refused rows go.
#[derive(Debug, Clone)]
pub struct FileJob {
    pub path: PathBuf,
    pub table: String,
    /// (csv column, table column)
    pub maps: Vec<(String, String)>,
    pub dialect: Dialect,
    pub rejects: PathBuf,
}
