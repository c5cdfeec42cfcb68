//! What an import reports: per file, the rows read, loaded and refused (per
//! reason), the partitions made for them and why it stopped early; for the
//! run, one file's or a manifest's list. Plain serializable data; the face
//! renders it, and must be able to print it without asking anything else.

use std::collections::BTreeMap;

use serde::Serialize;

use super::options::Mode;

/// What the import of one file did.
#[derive(Debug, Default, Serialize)]
pub struct Outcome {
    pub columns: Vec<String>,
    pub read: u64,
    pub loaded: u64,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub rejected: u64,
    /// Refused values per reason code (a row can have several).
    pub reasons: BTreeMap<String, u64>,
    /// Why the import stopped, when a maximum was exceeded.
    pub aborted: Option<Abort>,
    /// Range partitions created for the rows before the load (partitioned
    /// tables; in a dry run, the ones it would create).
    pub partitions_created: Vec<String>,
    /// The table was empty: these indexes and constraints were set aside
    /// for the load and built again after it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub indexes_rebuilt: Vec<String>,
    /// With --resume: rows up to this line were committed by an earlier run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_after_line: Option<u64>,
    /// The validate checks run before the commit (one file's import).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<crate::validate::Report>,
}

/// Why the import of a file stopped and loaded nothing (but the batches a
/// resumed run committed): too many rows were rejected. The face words it,
/// since the words name the option that set the maximum: in the human
/// report, and as the `aborted` text of the JSON one (`Display` and
/// `Serialize` are implemented in `commands::import_csv`).
#[derive(Debug, Clone, PartialEq)]
pub enum Abort {
    /// More than `max` rows were rejected; the run stopped at `line`, or
    /// found it at the end of the file (None).
    MaxErrors { max: u64, line: Option<u64> },
    /// `rejected` of `read` rows were, a larger fraction than `ratio`.
    MaxErrorRatio {
        rejected: u64,
        read: u64,
        ratio: f64,
    },
}

/// The outcome of one file of a manifest.
#[derive(Debug, Serialize)]
pub struct FileOutcome {
    pub file: String,
    pub table: String,
    pub rejects_file: String,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// The report of one file.
#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub database: String,
    pub file: String,
    pub table: String,
    pub mode: Mode,
    pub dry_run: bool,
    pub rejects_file: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub elapsed_ms: u64,
}

/// The report of a manifest: one summary per file.
#[derive(Debug, Serialize)]
pub struct ManifestReport {
    pub database: String,
    pub manifest: String,
    pub mode: Mode,
    pub dry_run: bool,
    /// The tables in the order their files were imported: each after the
    /// tables it references.
    pub order: Vec<String>,
    pub files: Vec<FileOutcome>,
    /// The validate checks run on the imported rows before the commit; an
    /// error-level violation rolled everything back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<crate::validate::Report>,
    pub elapsed_ms: u64,
}

/// The report of a run.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    File(ImportReport),
    Manifest(ManifestReport),
}
