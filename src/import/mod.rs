//! `import-csv`: historical rows from CSV files into the reference's Phase 3
//! tables, checked row by row before they reach them.
//!
//! [`run`] is the operation: the face hands it an [`Input`] (one file, or a
//! [`manifest`] of several, imported in dependency order in one
//! transaction), the run's [`Options`], the `Pg` handle and a progress
//! sink, and gets a [`Report`] back. The files, one job each:
//! - [`options`]: what the run is asked to do; [`outcome`]: what it reports.
//! - [`reader`] streams a file (constant memory, raw lines kept only until
//!   their row is done; `decode` transcodes a file that is not UTF-8, and a
//!   fault of one record is that record's reject); [`check`] checks each
//!   value ([`timestamps`] reads times in the run's zone) (types, exact money,
//!   enumerations, the reference's CHECK patterns, NOT NULL) and
//!   [`tables`] each row (CHECK bounds and the domain's business rules).
//! - `engine` checks the rows of one file: the unique keys against
//!   earlier rows and, one batch at a time, against the table, and the
//!   references against the parent tables and earlier rows ([`foreign`])
//!   on a second session, so the first can stay inside its COPY.
//! - `load` sends the good rows by COPY inside one transaction (or one per
//!   batch with a [`checkpoint`]); refused ones go to the reject file
//!   ([`rejects`]). [`partitions`] creates the partitions the rows need
//!   first, before the transaction.
//!
//! Must never load a row it did not check, and never paste a user-given
//! name into SQL: tables and columns come from the catalog and are quoted.
//! Like every operation it never sees the command line: no clap type, no
//! flag's name, no `Ctx`, no printing.

pub mod check;
pub mod checkpoint;
mod columns;
mod decode;
mod engine;
pub mod foreign;
mod keys;
mod load;
pub mod manifest;
pub mod options;
pub mod outcome;
pub mod partitions;
pub mod reader;
pub mod rejects;
mod run;
mod seen;
pub mod tables;
pub mod timestamps;
mod upsert;

pub use options::{Input, Mode, Options};
pub use outcome::{FileOutcome, ImportReport, ManifestReport, Outcome, Report};
pub use run::run;
pub use seen::IN_MEMORY_VALUES;
