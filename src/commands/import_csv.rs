//! `rez-db import-csv`: the flags, turned into `crate::import`'s input and
//! options; the operation (locks, sessions, the load) is `import::run`, and
//! this file renders its report.

use std::fmt;
use std::io::{self, Write};
use std::path::PathBuf;

use chrono::Utc;
use clap::{Args, ValueEnum};
use serde::{Serialize, Serializer};

use crate::cli::{remedy_hint, word_violation_remedies, LockArgs, PgArgs};
use crate::error::{Remedy, Result};
use crate::import::outcome::Abort;
use crate::import::partitions::Retention;
use crate::import::reader::Dialect;
use crate::import::rejects::RejectFormat;
use crate::import::timestamps::{TimeReading, Zone};
use crate::import::{self, ImportReport, Input, ManifestReport, Mode, Outcome, Report};
use crate::output::metrics::Sample;
use crate::output::progress::Bars;
use crate::output::{table, Render};
use crate::validate;
use crate::Ctx;

/// Import rows from a CSV file into one table, checking every row first
///
/// The header names the columns (rename with --map). Each row is checked before it
/// reaches the table: types, exact money (at most 2 decimals), enumerated values, the
/// email and phone rules, NOT NULL, the table's CHECK constraints and business rules
/// (order totals, ledger signs, offer terms and windows, ratings), unique keys against
/// earlier rows and against the table, and references (foreign keys and the checked
/// references into orders) against the table they name and earlier rows of the import.
/// Refused rows go to the reject file (line, column, reason, the original line); the
/// good ones are loaded with COPY in one transaction, all or nothing. Rows of
/// partitioned tables (orders, wallet_transactions) never land in DEFAULT: the partitions
/// they need are created (and committed) before the load. A row older than its table's
/// retention (partitions.TABLE.retain) is rejected (past_retention) and gets no
/// partition, unless --allow-past-retention.
///
/// --manifest FILE imports a YAML list of files (`files: [{table: T, path: P, map:
/// {CSV_COL: DB_COL}, encoding: NAME}]`, paths relative to it and inside its folder
/// unless --allow-outside) in one transaction, each table after the tables it
/// references (the catalog's foreign keys and docs/schema.md's checked references);
/// the report names the order.
///
/// NULL, as PostgreSQL's CSV format has it: an unquoted empty field is NULL, a quoted
/// empty field ("") is the empty string; an unquoted field equal to a --null STRING is
/// NULL (a quoted one is that text); --empty-as-null makes every empty field NULL, for
/// files that quote everything. Timestamps with an offset are that instant; without one
/// (2019-03-04 10:20:30) they are read in --timezone ZONE, and refused without it, as
/// are times a daylight-saving change skipped or repeated in ZONE, and 0000-00-00
/// unless --zero-date-as-null. A file that is not UTF-8 is decoded from --encoding (a
/// UTF-8 or UTF-16 BOM decides whatever it says); line numbers are the file's.
///
/// A row that cannot be read is rejected like any bad row, and the rest loads: the
/// wrong number of fields (field_count), bytes its encoding cannot decode
/// (bad_encoding), a NUL byte (nul_byte), a quote inside an unquoted field
/// (stray_quote), JSON nested deeper than PostgreSQL parses (json_depth). A file with a
/// header and no rows loads nothing (exit 0).
/// Exit codes: 0 all rows loaded; 1 rows were rejected (the others are loaded), or
/// --max-errors / --max-error-ratio was exceeded (nothing loaded; every reject counts);
/// 2 the file or manifest is malformed (empty, a header its encoding cannot decode, a
/// quoted field still open at the end of the file, an unknown key), or the table or a
/// column is unknown (nothing loaded); 4 another run
/// holds the data lock (a seed, an import, a backup, a restore) or, for orders and
/// wallet_transactions, the partitions lock (a partition-rotate).
///
/// Loads: users, merchants, merchant_outlets, user_addresses, wallets (with
/// branded_coins), promo_coins, products, offers, orders, payments, offer_redemptions,
/// wallet_transactions, reviews, referrals, user_loyalty.
#[derive(Debug, Args)]
pub struct ImportCsvArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// The CSV file (UTF-8 unless --encoding; a BOM and CRLF line endings are fine)
    #[arg(
        value_name = "FILE",
        required_unless_present = "manifest",
        requires = "table"
    )]
    pub file: Option<PathBuf>,

    /// The table to load
    #[arg(long, value_name = "TABLE", required_unless_present = "manifest")]
    pub table: Option<String>,

    /// Import the files a YAML manifest lists, in dependency order, in one transaction
    #[arg(long, value_name = "FILE", conflicts_with_all = ["file", "table", "maps", "resume"])]
    pub manifest: Option<PathBuf>,

    /// Let the manifest's paths lead outside its folder (absolute paths, `..`, symbolic
    /// links); without it they are refused (exit 2)
    #[arg(long, requires = "manifest")]
    pub allow_outside: bool,

    /// Check every row (uniques and references against the tables included), write the
    /// reject file and the summary, and load nothing: the transaction is rolled back and no
    /// partition is created (the summary names the ones a real run would create)
    #[arg(long, conflicts_with = "resume")]
    pub dry_run: bool,

    /// Load the file's column CSV_COL into the table's column DB_COL (repeatable)
    #[arg(long = "map", value_name = "CSV_COL=DB_COL", value_parser = parse_map)]
    pub maps: Vec<(String, String)>,

    /// Field delimiter, one ASCII character
    #[arg(long, value_name = "CHAR", default_value = ",", value_parser = parse_byte)]
    pub delimiter: u8,

    /// Quote character, one ASCII character
    #[arg(long, value_name = "CHAR", default_value = "\"", value_parser = parse_byte)]
    pub quote: u8,

    /// Inside a quoted field, this character before the quote or before itself makes it
    /// literal, as PostgreSQL's COPY ... (ESCAPE '\'); for MySQL's SELECT ... INTO
    /// OUTFILE and the ETL tools that write \" for a quote [default: the quote doubled]
    #[arg(long, value_name = "CHAR", value_parser = parse_byte)]
    pub escape: Option<u8>,

    /// The file's encoding, by its WHATWG name: utf-8, utf-16le, utf-16be,
    /// windows-1252, iso-8859-1 (latin1: read as windows-1252, its superset), iso-8859-15,
    /// shift_jis, gbk... Decoded while reading; a UTF-8 or UTF-16 BOM overrides it. Bytes it
    /// cannot decode reject their row (bad_encoding)
    #[arg(long, value_name = "NAME", default_value = "utf-8",
          value_parser = import::reader::encoding_for)]
    pub encoding: &'static encoding_rs::Encoding,

    /// An unquoted field equal to STRING is NULL (repeatable: --null '\N' --null NULL);
    /// an unquoted empty field always is, a quoted one ("\N") never
    #[arg(long = "null", value_name = "STRING")]
    pub nulls: Vec<String>,

    /// Every empty field is NULL, quoted ("") or not: for files that quote everything
    #[arg(long)]
    pub empty_as_null: bool,

    /// The zone of timestamps without an offset: an IANA name (Asia/Kolkata), UTC, or a
    /// fixed offset (+05:30). Times a daylight-saving change skips or repeats there are
    /// rejected (dst_gap, dst_overlap); without the flag, every timestamp without an
    /// offset is (no_time_zone)
    #[arg(long, value_name = "ZONE", value_parser = Zone::parse)]
    pub timezone: Option<Zone>,

    /// Load 0000-00-00 dates and timestamps as NULL; without it they are rejected (zero_date)
    #[arg(long)]
    pub zero_date_as_null: bool,

    /// Reject file [default: FILE.rejects.csv, or FILE.rejects.jsonl with --reject-format jsonl];
    /// with --manifest, the directory for the reject files (N-NAME.rejects.csv, N the file's
    /// place in the run) [default: beside each file]
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,

    /// Format of the reject file
    #[arg(long, value_enum, default_value = "csv")]
    pub reject_format: RejectFormatArg,

    /// Load nothing when more than N rows are rejected
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,

    /// Load nothing when more than this fraction of the rows (0 to 1) is rejected
    #[arg(long, value_name = "R", value_parser = parse_ratio)]
    pub max_error_ratio: Option<f64>,

    /// How the good rows are written
    #[arg(long, value_enum, default_value = "atomic")]
    pub mode: ModeArg,

    /// Commit every --batch-rows rows with a checkpoint in rez_meta.import_checkpoints, and
    /// skip the rows an earlier run of the same file (path, size, first MiB) committed.
    /// Not all or nothing: committed batches stay when a later one fails or a maximum is
    /// exceeded
    #[arg(long)]
    pub resume: bool,

    /// Unique values (phones, emails, ids...) remembered in memory to find duplicates in the
    /// file, 16 bytes each plus up to as much slack; past N they spill into a temporary table
    /// on the server, so memory stays bounded whatever the file's size
    #[arg(long, value_name = "N", default_value_t = import::IN_MEMORY_VALUES,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub memory_values: usize,

    /// Load rows older than their table's retention (partitions.TABLE.retain) and create
    /// their partitions, which partition-rotate detaches at its next run; without it they
    /// are rejected (past_retention)
    #[arg(long)]
    pub allow_past_retention: bool,

    /// Before the commit, run the validate checks that read the imported tables (wallet
    /// balances against the imported ledger, promo balances against their lots, paid
    /// orders against payments, counters...) on the rows the import holds; an error-level
    /// violation rolls everything back (exit 1) and the report lists it as validate does.
    /// On by default with --manifest
    #[arg(long, conflicts_with_all = ["no_validate", "resume"])]
    pub validate: bool,

    /// Skip those checks with --manifest
    #[arg(long)]
    pub no_validate: bool,

    /// Rows per committed batch with --resume
    #[arg(long, value_name = "N", default_value_t = 50_000, requires = "resume",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_rows: u64,
}

/// The values of `--mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// All good rows in one transaction, or nothing; a row whose unique value is already in the table is rejected
    Atomic,
    /// Like atomic, but a row whose natural key (users: phone; orders, wallet_transactions: id and created_at; others: id) exists updates that row
    Upsert,
}

impl From<ModeArg> for Mode {
    fn from(mode: ModeArg) -> Mode {
        match mode {
            ModeArg::Atomic => Mode::Atomic,
            ModeArg::Upsert => Mode::Upsert,
        }
    }
}

/// The values of `--reject-format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RejectFormatArg {
    Csv,
    Jsonl,
}

impl From<RejectFormatArg> for RejectFormat {
    fn from(format: RejectFormatArg) -> RejectFormat {
        match format {
            RejectFormatArg::Csv => RejectFormat::Csv,
            RejectFormatArg::Jsonl => RejectFormat::Jsonl,
        }
    }
}

fn parse_map(text: &str) -> std::result::Result<(String, String), String> {
    match text.split_once('=') {
        Some((from, to)) if !from.is_empty() && !to.is_empty() => {
            Ok((from.to_string(), to.to_string()))
        }
        _ => Err(format!("`{text}` is not CSV_COL=DB_COL")),
    }
}

fn parse_byte(text: &str) -> std::result::Result<u8, String> {
    match text.as_bytes() {
        [b] if b.is_ascii() && *b != b'\n' && *b != b'\r' => Ok(*b),
        _ if text == "\\t" => Ok(b'\t'),
        _ => Err(format!(
            "`{text}` is not one ASCII character (\\t for a tab)"
        )),
    }
}

fn parse_ratio(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(r) if (0.0..=1.0).contains(&r) => Ok(r),
        _ => Err(format!("`{text}` is not a ratio between 0 and 1")),
    }
}

/// Why an import stopped, in the words of the flag that set the maximum.
impl fmt::Display for Abort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abort::MaxErrors {
                max,
                line: Some(line),
            } => write!(
                f,
                "more than --max-errors {max} rows rejected (stopped at line {line})"
            ),
            Abort::MaxErrors { max, line: None } => {
                write!(f, "more than --max-errors {max} rows rejected")
            }
            Abort::MaxErrorRatio {
                rejected,
                read,
                ratio,
            } => write!(
                f,
                "{rejected} of {read} rows rejected, more than --max-error-ratio {ratio}"
            ),
        }
    }
}

/// In the JSON report too, the `aborted` field is that text.
impl Serialize for Abort {
    fn serialize<S: Serializer>(&self, serializer: S) -> std::result::Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn summary_row(file: &str, table: &str, o: &Outcome) -> [String; 6] {
    [
        file.to_string(),
        table.to_string(),
        o.read.to_string(),
        o.loaded.to_string(),
        o.rejected.to_string(),
        o.partitions_created.len().to_string(),
    ]
}

const SUMMARY: [&str; 6] = [
    "file",
    "table",
    "read",
    "loaded",
    "rejected",
    "new partitions",
];

fn reasons(out: &mut dyn Write, o: &Outcome, rejects_file: &str) -> io::Result<()> {
    if !o.reasons.is_empty() {
        let mut t = table(["reason", "values"]);
        for (reason, n) in &o.reasons {
            t.add_row([reason.clone(), n.to_string()]);
        }
        writeln!(out, "{t}")?;
        writeln!(out, "rejected rows: {rejects_file}")?;
    }
    Ok(())
}

fn partitions(out: &mut dyn Write, o: &Outcome, table: &str, dry_run: bool) -> io::Result<()> {
    if !o.partitions_created.is_empty() {
        let verb = if dry_run { "would create" } else { "created" };
        writeln!(
            out,
            "{table}: {verb} partitions {}",
            o.partitions_created.join(", ")
        )?;
    }
    Ok(())
}

fn dry_run_note(out: &mut dyn Write, dry_run: bool) -> io::Result<()> {
    if dry_run {
        writeln!(
            out,
            "dry run: everything was checked and rolled back; nothing was loaded"
        )?;
    }
    Ok(())
}

impl Render for ImportReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let o = &self.outcome;
        let mut t = table(SUMMARY);
        t.add_row(summary_row(&self.file, &self.table, o));
        writeln!(out, "{t}")?;
        if let Some(line) = o.resumed_after_line.filter(|l| *l > 0) {
            writeln!(
                out,
                "resumed after line {line} (committed by an earlier run)"
            )?;
        }
        if self.mode == Mode::Upsert && o.aborted.is_none() {
            writeln!(
                out,
                "upsert: {} inserted, {} updated, {} unchanged",
                o.inserted, o.updated, o.unchanged
            )?;
        }
        partitions(out, o, &self.table, self.dry_run)?;
        reasons(out, o, &self.rejects_file)?;
        if let Some(reason) = &o.aborted {
            writeln!(out, "aborted: {reason}; {} rows stay loaded", o.loaded)?;
        }
        validation(out, o.validation.as_ref(), self.dry_run)?;
        dry_run_note(out, self.dry_run)?;
        writeln!(
            out,
            "{}: {} rows {} into {} in {:.1}s",
            self.database,
            o.loaded,
            if self.dry_run {
                "checked for loading"
            } else {
                "loaded"
            },
            self.table,
            self.elapsed_ms as f64 / 1000.0
        )
    }

    fn has_problems(&self) -> bool {
        self.outcome.rejected > 0
            || self.outcome.aborted.is_some()
            || self
                .outcome
                .validation
                .as_ref()
                .is_some_and(|v| v.errors > 0)
    }
}

impl Render for ManifestReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(
            out,
            "order (each table after those it references): {}",
            self.order.join(", ")
        )?;
        let mut t = table(SUMMARY);
        for f in &self.files {
            t.add_row(summary_row(&f.file, &f.table, &f.outcome));
        }
        writeln!(out, "{t}")?;
        for f in &self.files {
            partitions(out, &f.outcome, &f.table, self.dry_run)?;
            reasons(out, &f.outcome, &f.rejects_file)?;
            if let Some(reason) = &f.outcome.aborted {
                writeln!(out, "aborted at {}: {reason}; nothing was loaded", f.file)?;
            }
        }
        validation(out, self.validation.as_ref(), self.dry_run)?;
        dry_run_note(out, self.dry_run)?;
        let loaded: u64 = self.files.iter().map(|f| f.outcome.loaded).sum();
        writeln!(
            out,
            "{}: {loaded} rows {} from {} files of {} in {:.1}s",
            self.database,
            if self.dry_run {
                "checked for loading"
            } else {
                "loaded"
            },
            self.files.len(),
            self.manifest,
            self.elapsed_ms as f64 / 1000.0
        )
    }

    fn has_problems(&self) -> bool {
        self.validation.as_ref().is_some_and(|v| v.errors > 0)
            || self
                .files
                .iter()
                .any(|f| f.outcome.rejected > 0 || f.outcome.aborted.is_some())
    }
}

impl Render for Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            Report::File(r) => r.human(out),
            Report::Manifest(r) => r.human(out),
        }
    }

    fn has_problems(&self) -> bool {
        match self {
            Report::File(r) => r.has_problems(),
            Report::Manifest(r) => r.has_problems(),
        }
    }

    fn metrics(&self) -> Vec<Sample> {
        let files: Vec<(&str, &Outcome)> = match self {
            Report::File(r) => vec![(r.table.as_str(), &r.outcome)],
            Report::Manifest(r) => r
                .files
                .iter()
                .map(|f| (f.table.as_str(), &f.outcome))
                .collect(),
        };
        // Per table: a manifest may list several files of one table.
        let mut per_table = std::collections::BTreeMap::<&str, (u64, u64)>::new();
        for (table, outcome) in files {
            let counts = per_table.entry(table).or_default();
            counts.0 += outcome.loaded;
            counts.1 += outcome.rejected;
        }
        per_table
            .into_iter()
            .flat_map(|(table, (loaded, rejected))| {
                [
                    Sample::count(
                        "rows_imported",
                        "Rows the last run loaded, per table.",
                        loaded as i64,
                    )
                    .with("table", table),
                    Sample::count(
                        "rows_rejected",
                        "Rows the last run refused (written to the reject file), per table.",
                        rejected as i64,
                    )
                    .with("table", table),
                ]
            })
            .collect()
    }
}

pub async fn run(ctx: &Ctx, args: &ImportCsvArgs) -> Result<Report> {
    let input = match &args.manifest {
        Some(path) => Input::Manifest {
            path: path.clone(),
            allow_outside: args.allow_outside,
            rejects_dir: args.rejects.clone(),
        },
        // clap requires FILE and --table without --manifest.
        None => Input::File {
            path: args.file.clone().unwrap_or_default(),
            table: args.table.clone().unwrap_or_default(),
            maps: args.maps.clone(),
            rejects: args.rejects.clone(),
        },
    };
    let options = import::Options {
        dialect: Dialect {
            delimiter: args.delimiter,
            quote: args.quote,
            escape: args.escape,
            encoding: args.encoding,
            nulls: args.nulls.clone(),
            empty_as_null: args.empty_as_null,
        },
        timestamps: TimeReading {
            zone: args.timezone.clone(),
            zero_as_null: args.zero_date_as_null,
            zone_hint: remedy_hint(Remedy::TimeZone),
            zero_hint: remedy_hint(Remedy::ZeroDateAsNull),
        },
        encoding_hint: remedy_hint(Remedy::Encoding),
        reject_format: args.reject_format.into(),
        max_errors: args.max_errors,
        max_error_ratio: args.max_error_ratio,
        mode: args.mode.into(),
        resume: args.resume,
        batch_rows: args.batch_rows,
        dry_run: args.dry_run,
        memory_values: args.memory_values,
        retention: Retention {
            now: Utc::now(),
            policies: ctx.config.partitions.clone(),
            allow: args.allow_past_retention,
            waiver: remedy_hint(Remedy::AllowPastRetention),
        },
        lock_wait: ctx.config.lock_wait,
        validate: args.validate || (args.manifest.is_some() && !args.no_validate),
    };
    let mut report = import::run(&input, &options, &ctx.pg(), &Bars::new(ctx.progress)).await?;
    let validation = match &mut report {
        Report::File(r) => r.outcome.validation.as_mut(),
        Report::Manifest(r) => r.validation.as_mut(),
    };
    if let Some(v) = validation {
        word_violation_remedies(&mut v.checks);
    }
    Ok(report)
}

/// The validation before the commit, when it ran.
fn validation(out: &mut dyn Write, v: Option<&validate::Report>, dry_run: bool) -> io::Result<()> {
    let Some(v) = v else { return Ok(()) };
    if v.errors > 0 {
        writeln!(
            out,
            "validation before the commit: {} error(s); everything was rolled back, nothing was loaded",
            v.errors
        )?;
        return v.human(out);
    }
    let verb = if dry_run { "would commit" } else { "committed" };
    writeln!(
        out,
        "validation before the commit: {} checks, no error, {} warning(s); {verb}",
        v.checks.len(),
        v.warnings
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abort_names_the_flag_that_set_the_maximum_in_both_reports() {
        let at_line = Abort::MaxErrors {
            max: 2,
            line: Some(5),
        };
        assert_eq!(
            serde_json::to_value(&at_line).unwrap(),
            "more than --max-errors 2 rows rejected (stopped at line 5)"
        );
        let at_end = Abort::MaxErrors { max: 2, line: None };
        assert_eq!(at_end.to_string(), "more than --max-errors 2 rows rejected");
        let ratio = Abort::MaxErrorRatio {
            rejected: 3,
            read: 5,
            ratio: 0.5,
        };
        assert_eq!(
            ratio.to_string(),
            "3 of 5 rows rejected, more than --max-error-ratio 0.5"
        );
    }
}
