//! `rez-db import-csv`: a thin wrapper around `crate::import`. It parses the
//! flags, connects (twice: the load's transaction and the lookups), takes the
//! data lock, runs the import and builds the report.

use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use clap::Args;
use serde::Serialize;

use crate::cli::{LockArgs, PgArgs};
use crate::error::{CommandError, Result};
use crate::import::{self, rejects::RejectFormat, Mode, Outcome};
use crate::output::{table, Render};
use crate::store::pg::{self, lock};
use crate::Ctx;

/// Import rows from a CSV file into one table, checking every row first
///
/// The header names the columns (rename with --map). Each row is checked before it
/// reaches the table: types, exact money (at most 2 decimals), enumerated values, the
/// email and phone rules, NOT NULL, and unique columns against earlier rows of the file
/// and against the table. Refused rows go to the reject file (line, column, reason, the
/// original line); the good ones are loaded with COPY in one transaction, all or nothing.
///
/// An empty field is NULL. A file with a header and no rows loads nothing (exit 0).
/// Exit codes: 0 all rows loaded; 1 rows were rejected (the others are loaded), or
/// --max-errors / --max-error-ratio was exceeded (nothing loaded); 2 the file is
/// malformed (empty, invalid UTF-8, wrong field count, unterminated quote), or the
/// table or a column is unknown (nothing loaded); 4 another run holds the data lock.
///
/// Loads: users.
#[derive(Debug, Args)]
pub struct ImportCsvArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// The CSV file (UTF-8; a BOM and CRLF line endings are fine)
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// The table to load
    #[arg(long, value_name = "TABLE")]
    pub table: String,

    /// Load the file's column CSV_COL into the table's column DB_COL (repeatable)
    #[arg(long = "map", value_name = "CSV_COL=DB_COL", value_parser = parse_map)]
    pub maps: Vec<(String, String)>,

    /// Field delimiter, one ASCII character
    #[arg(long, value_name = "CHAR", default_value = ",", value_parser = parse_byte)]
    pub delimiter: u8,

    /// Quote character, one ASCII character
    #[arg(long, value_name = "CHAR", default_value = "\"", value_parser = parse_byte)]
    pub quote: u8,

    /// Reject file [default: FILE.rejects.csv, or FILE.rejects.jsonl with --reject-format jsonl]
    #[arg(long, value_name = "PATH")]
    pub rejects: Option<PathBuf>,

    /// Format of the reject file
    #[arg(long, value_enum, default_value = "csv")]
    pub reject_format: RejectFormat,

    /// Load nothing when more than N rows are rejected
    #[arg(long, value_name = "N")]
    pub max_errors: Option<u64>,

    /// Load nothing when more than this fraction of the rows (0 to 1) is rejected
    #[arg(long, value_name = "R", value_parser = parse_ratio)]
    pub max_error_ratio: Option<f64>,

    /// How the good rows are written
    #[arg(long, value_enum, default_value = "atomic")]
    pub mode: Mode,

    /// Commit every --batch-rows rows with a checkpoint in rez_meta.import_checkpoints, and
    /// skip the rows an earlier run of the same file (path, size, first MiB) committed.
    /// Not all or nothing: committed batches stay when a later one fails or a maximum is
    /// exceeded
    #[arg(long)]
    pub resume: bool,

    /// Rows per committed batch with --resume
    #[arg(long, value_name = "N", default_value_t = 50_000, requires = "resume",
          value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_rows: u64,
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

#[derive(Debug, Serialize)]
pub struct ImportReport {
    pub database: String,
    pub file: String,
    pub table: String,
    pub mode: Mode,
    pub rejects_file: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub elapsed_ms: u64,
}

impl Render for ImportReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let o = &self.outcome;
        let mut t = table(["file", "table", "read", "loaded", "rejected"]);
        t.add_row([
            self.file.clone(),
            self.table.clone(),
            o.read.to_string(),
            o.loaded.to_string(),
            o.rejected.to_string(),
        ]);
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
        if !o.reasons.is_empty() {
            let mut t = table(["reason", "values"]);
            for (reason, n) in &o.reasons {
                t.add_row([reason.clone(), n.to_string()]);
            }
            writeln!(out, "{t}")?;
            writeln!(out, "rejected rows: {}", self.rejects_file)?;
        }
        if let Some(reason) = &o.aborted {
            writeln!(out, "aborted: {reason}; {} rows stay loaded", o.loaded)?;
        }
        writeln!(
            out,
            "{}: {} rows loaded into {} in {:.1}s",
            self.database,
            o.loaded,
            self.table,
            self.elapsed_ms as f64 / 1000.0
        )
    }

    fn has_problems(&self) -> bool {
        self.outcome.rejected > 0 || self.outcome.aborted.is_some()
    }
}

pub async fn run(ctx: &Ctx, args: &ImportCsvArgs) -> Result<ImportReport> {
    let started = Instant::now();
    let url = &ctx.config.database_url;
    if !args.file.is_file() {
        return Err(CommandError::usage(format!(
            "{}: no such file",
            args.file.display()
        )));
    }
    let rejects = args.rejects.clone().unwrap_or_else(|| {
        let ext = match args.reject_format {
            RejectFormat::Csv => "rejects.csv",
            RejectFormat::Jsonl => "rejects.jsonl",
        };
        let mut name = args.file.clone().into_os_string();
        name.push(format!(".{ext}"));
        PathBuf::from(name)
    });
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    lock::hold(&mut conn, &ctx.config, lock::LockScope::Data).await?;
    let mut lookup = pg::connect(url, ctx.config.connect_timeout).await?;
    let options = import::Options {
        file: args.file.clone(),
        table: args.table.clone(),
        maps: args.maps.clone(),
        delimiter: args.delimiter,
        quote: args.quote,
        rejects: rejects.clone(),
        reject_format: args.reject_format,
        max_errors: args.max_errors,
        max_error_ratio: args.max_error_ratio,
        mode: args.mode,
        resume: args.resume,
        batch_rows: args.batch_rows,
        progress: ctx.progress,
    };
    let outcome = import::import(&mut conn, &mut lookup, url, &options).await?;
    lock::release(&mut conn, lock::LockScope::Data)
        .await
        .map_err(|e| pg::error(url, e))?;
    Ok(ImportReport {
        database: url.to_string(),
        file: args.file.display().to_string(),
        table: args.table.clone(),
        mode: args.mode,
        rejects_file: rejects.display().to_string(),
        outcome,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
