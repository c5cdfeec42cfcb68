//! `import-csv`: historical rows from a CSV file into one table, checked row
//! by row before they reach it.
//!
//! The file streams through [`reader`] (constant memory, raw lines kept only
//! until their row is done), each value through [`check`] (types, exact money,
//! enumerations, the reference's CHECK patterns, NOT NULL), then the unique
//! columns against earlier rows of the file and, one batch at a time, against
//! the table (on a second connection, so the first can stay inside its COPY).
//! Good rows go out in one COPY inside one transaction; refused ones go to the
//! reject file ([`rejects`]). Must never load a row it did not check, and never
//! paste a user-given name into SQL: tables and columns come from the catalog
//! and are quoted.

pub mod check;
pub mod checkpoint;
pub mod reader;
pub mod rejects;

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, RandomState};
use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use sqlx::postgres::{PgConnection, PgCopyIn};
use sqlx::Connection;

use crate::config::RedactedUrl;
use crate::error::{CommandError, Result};
use crate::output::progress;
use crate::store::pg::{self, quote_ident};
use check::{check_value, Column, Problem, SqlType};
use checkpoint::{Checkpoint, FileKey};
use reader::{CsvSource, InputError, Record};
use rejects::{RejectFormat, RejectWriter};

/// What import-csv knows how to load: the natural key (the upsert's conflict
/// target) and the unique columns checked against the file and the table.
struct TableRules {
    name: &'static str,
    key: &'static str,
    unique: &'static [&'static str],
}

const TABLES: &[TableRules] = &[TableRules {
    name: "users",
    key: "phone",
    unique: &["phone", "email"],
}];

/// Rows checked against the table per query, and COPY bytes per message.
const BATCH_ROWS: usize = 5_000;
const COPY_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// All good rows in one transaction, or nothing; a row whose unique value is already in the table is rejected
    Atomic,
    /// Like atomic, but a row whose natural key (users: phone) exists updates that row
    Upsert,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub file: PathBuf,
    pub table: String,
    /// (csv column, table column)
    pub maps: Vec<(String, String)>,
    pub delimiter: u8,
    pub quote: u8,
    pub rejects: PathBuf,
    pub reject_format: RejectFormat,
    pub max_errors: Option<u64>,
    pub max_error_ratio: Option<f64>,
    pub mode: Mode,
    /// Commit every `batch_rows` rows with a checkpoint, and skip what an
    /// earlier run of the same file committed.
    pub resume: bool,
    pub batch_rows: u64,
    pub progress: bool,
}

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
    pub aborted: Option<String>,
    /// With --resume: rows up to this line were committed by an earlier run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resumed_after_line: Option<u64>,
}

fn input(e: InputError) -> CommandError {
    let hint = match &e {
        InputError::FieldCount { .. } => {
            "every line needs as many fields as the header; quote fields that contain the delimiter"
        }
        InputError::Unterminated { .. } => "close the quote, or pick another --quote character",
        InputError::Utf8 { .. } => "convert the file first, e.g. `iconv -f LATIN1 -t UTF-8`",
        InputError::Empty { .. } => "the first line must name the columns",
        InputError::Io { .. } => "check the path and its permissions",
    };
    CommandError::usage(e.to_string()).with_hint(hint)
}

/// (name, data_type, char length, precision, scale, NOT NULL, has a default)
type CatalogRow = (
    String,
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    bool,
    bool,
);

/// The table's columns, from the catalog; an unknown or unsupported table is exit 2.
async fn catalog(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    table: &str,
) -> Result<(&'static TableRules, Vec<CatalogColumn>)> {
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, character_maximum_length::int, \
                    numeric_precision::int, numeric_scale::int, is_nullable = 'NO', \
                    column_default IS NOT NULL \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| pg::error(url, e))?;
    let supported: Vec<&str> = TABLES.iter().map(|t| t.name).collect();
    if rows.is_empty() {
        return Err(CommandError::usage(format!(
            "there is no table `{table}` in the database {url}"
        ))
        .with_hint(format!("import-csv loads: {}", supported.join(", "))));
    }
    let Some(rules) = TABLES.iter().find(|t| t.name == table) else {
        return Err(
            CommandError::usage(format!("import-csv cannot load `{table}` yet"))
                .with_hint(format!("import-csv loads: {}", supported.join(", "))),
        );
    };
    let columns = rows
        .into_iter()
        .map(|(name, ty, len, precision, scale, not_null, has_default)| {
            let sql_type = SqlType::from_catalog(&ty, len, precision, scale);
            CatalogColumn {
                unsupported: sql_type.is_none().then(|| ty.clone()),
                column: Column::new(
                    rules.name,
                    &name,
                    sql_type.unwrap_or(SqlType::Text),
                    not_null,
                ),
                required: not_null && !has_default,
            }
        })
        .collect();
    Ok((rules, columns))
}

/// One column of the table as the catalog describes it.
struct CatalogColumn {
    column: Column,
    /// NOT NULL without a default: the file must fill it.
    required: bool,
    /// The SQL type, when import-csv cannot check it (the column may not be mapped).
    unsupported: Option<String>,
}

/// Maps the header onto the table's columns; every name is checked against
/// the catalog. Returns the file's columns in header order.
fn map_header(
    file: &str,
    table: &str,
    header: &[String],
    maps: &[(String, String)],
    columns: &[CatalogColumn],
) -> Result<Vec<Column>> {
    for (from, _) in maps {
        if !header.iter().any(|h| h == from) {
            return Err(CommandError::usage(format!(
                "--map {from}=...: the header of {file} has no column `{from}`"
            ))
            .with_hint(format!("the header names: {}", header.join(", "))));
        }
    }
    let names: Vec<&str> = columns.iter().map(|c| c.column.name.as_str()).collect();
    let mut mapped: Vec<Column> = Vec::with_capacity(header.len());
    for h in header {
        let target = maps
            .iter()
            .find(|(from, _)| from == h)
            .map_or(h.as_str(), |(_, to)| to.as_str());
        let Some(i) = names.iter().position(|n| *n == target) else {
            return Err(CommandError::usage(format!(
                "{file}:1: column `{h}` is not a column of `{table}`"
            ))
            .with_hint(format!(
                "rename it with --map {h}=COLUMN; the columns of `{table}` are: {}",
                names.join(", ")
            )));
        };
        let col = &columns[i].column;
        if let Some(ty) = &columns[i].unsupported {
            return Err(CommandError::usage(format!(
                "{file}:1: column `{target}` has type {ty}, which import-csv cannot check"
            ))
            .with_hint("leave the column out of the file (it keeps its default)"));
        }
        if mapped.iter().any(|c| c.name == target) {
            return Err(CommandError::usage(format!(
                "{file}:1: column `{target}` appears twice in the header (after --map)"
            )));
        }
        mapped.push(col.clone());
    }
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| c.required && !mapped.iter().any(|m| m.name == c.column.name))
        .map(|c| c.column.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(CommandError::usage(format!(
            "{file}:1: the header lacks `{}`, NOT NULL in `{table}` without a default",
            missing.join("`, `")
        ))
        .with_hint("add the column, or --map the file's name for it"));
    }
    Ok(mapped)
}

/// 128 bits of two independently keyed SipHashes: the file's unique values
/// are remembered by fingerprint (24 bytes an entry with its line, whatever
/// the value's length), so millions of rows stay within a bounded footprint;
/// a false "duplicate" would need a 128-bit collision.
#[derive(Default)]
struct Fingerprint(RandomState, RandomState);

impl Fingerprint {
    fn of(&self, value: &str) -> u128 {
        (u128::from(self.0.hash_one(value)) << 64) | u128::from(self.1.hash_one(value))
    }
}

/// A checked row waiting for its batch's lookup against the table.
struct Pending {
    line: u64,
    raw: String,
    encoded: Vec<u8>,
    /// Values of the unique columns, in `Import::unique` order.
    keys: Vec<Option<String>>,
}

struct Import<'a> {
    opts: &'a Options,
    url: &'a RedactedUrl,
    table: String,
    rules: &'static TableRules,
    /// (index in the file's columns, column name) of each unique column present.
    unique: Vec<(usize, &'static str)>,
    /// Per unique column: fingerprint of a value -> line it first appeared on.
    seen: Vec<HashMap<u128, u64>>,
    fingerprint: Fingerprint,
    pending: Vec<Pending>,
    copy_buf: Vec<u8>,
    rejects: RejectWriter,
    /// The line of the last row read (checked, loaded or rejected).
    last_line: u64,
    outcome: Outcome,
}

impl Import<'_> {
    fn reject_error(&self, e: std::io::Error) -> CommandError {
        CommandError::usage(format!(
            "cannot write the reject file {}: {e}",
            self.opts.rejects.display()
        ))
    }

    fn finish_rejects(&mut self) -> Result<()> {
        self.rejects
            .flushed_len()
            .map(|_| ())
            .map_err(|e| self.reject_error(e))
    }

    fn reject(&mut self, line: u64, raw: &str, problems: &[Problem]) -> Result<()> {
        self.outcome.rejected += 1;
        for p in problems {
            *self.outcome.reasons.entry(p.code.to_string()).or_default() += 1;
            if let Err(e) = self.rejects.write(line, raw, p) {
                return Err(self.reject_error(e));
            }
        }
        Ok(())
    }

    fn over_max_errors(&self) -> bool {
        self.opts
            .max_errors
            .is_some_and(|max| self.outcome.rejected > max)
    }

    /// Checks one record; a good one joins the pending batch.
    fn row(&mut self, columns: &[Column], record: &Record) -> Result<()> {
        self.outcome.read += 1;
        let mut encoded = Vec::with_capacity(record.raw.len() + 16);
        let mut problems = Vec::new();
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                encoded.push(b'\t');
            }
            if let Err(p) = check_value(col, record.field(i), &mut encoded) {
                problems.push(p);
            }
        }
        let keys: Vec<Option<String>> = self
            .unique
            .iter()
            .map(|(i, _)| record.field(*i).map(str::to_string))
            .collect();
        if problems.is_empty() {
            for (k, (_, name)) in self.unique.iter().enumerate() {
                let seen = keys[k].as_deref().map(|v| self.fingerprint.of(v));
                if let Some(first) = seen.and_then(|f| self.seen[k].get(&f)) {
                    problems.push(Problem::new(
                        name,
                        "duplicate_in_file",
                        format!(
                            "`{}` is already on line {first} of the file",
                            keys[k].as_deref().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        if !problems.is_empty() {
            return self.reject(record.line, &record.raw, &problems);
        }
        for (k, key) in keys.iter().enumerate() {
            if let Some(v) = key {
                self.seen[k].insert(self.fingerprint.of(v), record.line);
            }
        }
        encoded.push(b'\n');
        self.pending.push(Pending {
            line: record.line,
            raw: record.raw.clone(),
            encoded,
            keys,
        });
        Ok(())
    }

    /// Checks the pending rows' unique values against the table (on `lookup`,
    /// outside the load's transaction) and moves the good ones to the COPY buffer.
    async fn flush(&mut self, lookup: &mut PgConnection) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let key_index = self.unique.iter().position(|(_, n)| *n == self.rules.key);
        let mut existing: Vec<HashMap<String, Option<String>>> = Vec::new();
        for (k, (_, name)) in self.unique.iter().enumerate() {
            let values: Vec<&str> = self
                .pending
                .iter()
                .filter_map(|p| p.keys[k].as_deref())
                .collect();
            // Both names are from TABLES (constants), quoted anyway.
            let sql = format!(
                "SELECT {col}::text, {key}::text FROM {table} WHERE {col} = ANY($1::text[])",
                col = quote_ident(name),
                key = quote_ident(self.rules.key),
                table = self.table,
            );
            let found: Vec<(String, Option<String>)> = sqlx::query_as(&sql)
                .bind(&values)
                .fetch_all(&mut *lookup)
                .await
                .map_err(|e| pg::error(self.url, e))?;
            existing.push(found.into_iter().collect());
        }
        let pending = std::mem::take(&mut self.pending);
        for p in pending {
            let mut problems = Vec::new();
            for (k, (_, name)) in self.unique.iter().enumerate() {
                let Some(value) = p.keys[k].as_deref() else {
                    continue;
                };
                let Some(owner) = existing[k].get(value) else {
                    continue;
                };
                let row_key = key_index.and_then(|i| p.keys[i].as_deref());
                let same_row = self.opts.mode == Mode::Upsert
                    && owner.is_some()
                    && owner.as_deref() == row_key;
                if !same_row {
                    problems.push(Problem::new(
                        name,
                        "duplicate_in_table",
                        format!("`{value}` is already in `{}`.`{name}`", self.rules.name),
                    ));
                }
            }
            if problems.is_empty() {
                self.copy_buf.extend_from_slice(&p.encoded);
                self.outcome.loaded += 1;
            } else {
                self.reject(p.line, &p.raw, &problems)?;
            }
        }
        Ok(())
    }
}

/// Runs the import on `conn` (which holds the data lock) and `lookup`.
pub async fn import(
    conn: &mut PgConnection,
    lookup: &mut PgConnection,
    url: &RedactedUrl,
    opts: &Options,
) -> Result<Outcome> {
    let file = opts.file.display().to_string();
    let (rules, catalog) = catalog(lookup, url, &opts.table).await?;
    let mut source = CsvSource::open(&opts.file, opts.delimiter, opts.quote).map_err(input)?;
    let header = source.header().map_err(input)?;
    let columns = map_header(&file, rules.name, &header, &opts.maps, &catalog)?;
    let key = match opts.resume {
        true => Some(
            FileKey::of(&opts.file, rules.name)
                .map_err(|e| CommandError::usage(format!("{file}: cannot read: {e}")))?,
        ),
        false => None,
    };
    let resumed = match &key {
        Some(key) => checkpoint::load(lookup, key)
            .await
            .map_err(|e| pg::error(url, e))?,
        None => None,
    };
    let resumed = resumed.unwrap_or_default();
    let rejects = match resumed.rejects_size {
        0 => RejectWriter::create(&opts.rejects, opts.reject_format),
        len => RejectWriter::append(&opts.rejects, opts.reject_format, len),
    }
    .map_err(|e| {
        CommandError::usage(format!(
            "cannot create the reject file {}: {e}",
            opts.rejects.display()
        ))
        .with_hint("choose another path with --rejects PATH")
    })?;
    let unique: Vec<(usize, &'static str)> = rules
        .unique
        .iter()
        .filter_map(|u| columns.iter().position(|c| c.name == *u).map(|i| (i, *u)))
        .collect();
    let mut run = Import {
        opts,
        url,
        table: format!("public.{}", quote_ident(rules.name)),
        rules,
        seen: vec![HashMap::new(); unique.len()],
        fingerprint: Fingerprint::default(),
        unique,
        pending: Vec::with_capacity(BATCH_ROWS),
        copy_buf: Vec::with_capacity(COPY_CHUNK * 2),
        rejects,
        last_line: resumed.last_line,
        outcome: Outcome {
            columns: columns.iter().map(|c| c.name.clone()).collect(),
            read: resumed.read,
            loaded: resumed.loaded,
            rejected: resumed.rejected,
            reasons: resumed.reasons.clone(),
            resumed_after_line: key.as_ref().map(|_| resumed.last_line),
            ..Outcome::default()
        },
    };
    let column_list = columns
        .iter()
        .map(|c| quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let err = |e| pg::error(url, e);
    let limit = if key.is_some() {
        opts.batch_rows.max(1)
    } else {
        u64::MAX
    };
    let skip_to = run.last_line;
    let loaded_at_start = run.outcome.loaded;
    let mut committed = run.outcome.loaded;
    let (mut inserted, mut updated) = (0, 0);
    let started = Instant::now();
    let bar = progress::throughput(source.size(), "bytes", opts.progress);
    loop {
        let mut tx = conn.begin().await.map_err(err)?;
        let target = match opts.mode {
            Mode::Atomic => run.table.clone(),
            Mode::Upsert => {
                sqlx::raw_sql(&format!(
                    "CREATE TEMP TABLE rez_import_stage (LIKE {} INCLUDING DEFAULTS) ON COMMIT DROP",
                    run.table
                ))
                .execute(&mut *tx)
                .await
                .map_err(err)?;
                "pg_temp.rez_import_stage".to_string()
            }
        };
        let mut copy = tx
            .copy_in_raw(&format!("COPY {target} ({column_list}) FROM STDIN"))
            .await
            .map_err(err)?;
        let window = Window {
            skip_to,
            limit,
            started,
            bar: &bar,
        };
        let segment =
            match stream(&mut run, &columns, &mut source, &mut copy, lookup, &window).await {
                Err(e) => {
                    let _ = copy.abort("import-csv stopped").await;
                    return Err(e);
                }
                Ok(Segment::Eof) => match ratio_exceeded(opts, &run.outcome) {
                    Some(reason) => Segment::Abort(reason),
                    None => Segment::Eof,
                },
                Ok(other) => other,
            };
        if let Segment::Abort(reason) = segment {
            bar.finish_and_clear();
            copy.abort("import-csv aborted: too many rejected rows")
                .await
                .map_err(err)?;
            tx.rollback().await.map_err(err)?;
            run.finish_rejects()?;
            let mut outcome = run.outcome;
            outcome.aborted = Some(reason);
            outcome.loaded = committed;
            return Ok(outcome);
        }
        copy.finish()
            .await
            .map_err(|e| copy_failed(url, &file, e))?;
        if opts.mode == Mode::Upsert {
            let (i, u) = upsert(&mut tx, rules, &run.table, &columns)
                .await
                .map_err(err)?;
            inserted += i;
            updated += u;
        }
        if let Some(key) = &key {
            let cp = Checkpoint {
                last_line: run.last_line,
                read: run.outcome.read,
                loaded: run.outcome.loaded,
                rejected: run.outcome.rejected,
                reasons: run.outcome.reasons.clone(),
                rejects_size: run.rejects.flushed_len().map_err(|e| run.reject_error(e))?,
            };
            checkpoint::save(&mut tx, key, &cp).await.map_err(err)?;
        }
        tx.commit().await.map_err(err)?;
        committed = run.outcome.loaded;
        if segment == Segment::Eof {
            break;
        }
    }
    bar.finish_and_clear();
    run.finish_rejects()?;
    let mut outcome = run.outcome;
    match opts.mode {
        Mode::Atomic => outcome.inserted = outcome.loaded - loaded_at_start,
        Mode::Upsert => {
            outcome.inserted = inserted;
            outcome.updated = updated;
            outcome.unchanged = outcome.loaded - loaded_at_start - inserted - updated;
        }
    }
    Ok(outcome)
}

fn ratio_exceeded(opts: &Options, outcome: &Outcome) -> Option<String> {
    let r = opts.max_error_ratio?;
    let read = outcome.read.max(1) as f64;
    (outcome.rejected as f64 / read > r).then(|| {
        format!(
            "{} of {} rows rejected, more than --max-error-ratio {r}",
            outcome.rejected, outcome.read
        )
    })
}

/// How a call of [`stream`] ended.
#[derive(Debug, PartialEq, Eq)]
enum Segment {
    /// The file is done.
    Eof,
    /// `--batch-rows` rows were read (resume mode): commit and go on.
    Full,
    /// `--max-errors` was exceeded.
    Abort(String),
}

/// Which rows one call of [`stream`] takes.
struct Window<'a> {
    /// Rows starting on this line or before are committed already (--resume).
    skip_to: u64,
    limit: u64,
    started: Instant,
    bar: &'a indicatif::ProgressBar,
}

/// Reads, checks and sends up to `window.limit` rows.
async fn stream(
    run: &mut Import<'_>,
    columns: &[Column],
    source: &mut CsvSource,
    copy: &mut PgCopyIn<&mut PgConnection>,
    lookup: &mut PgConnection,
    window: &Window<'_>,
) -> Result<Segment> {
    let mut record = Record::default();
    let mut taken = 0;
    let end = loop {
        if taken >= window.limit {
            break Segment::Full;
        }
        if !source.next(&mut record).map_err(input)? {
            break Segment::Eof;
        }
        if record.line <= window.skip_to {
            continue;
        }
        taken += 1;
        run.last_line = record.line;
        run.row(columns, &record)?;
        if run.pending.len() >= BATCH_ROWS {
            run.flush(lookup).await?;
            if run.copy_buf.len() >= COPY_CHUNK {
                copy.send(run.copy_buf.as_slice())
                    .await
                    .map_err(|e| pg::error(run.url, e))?;
                run.copy_buf.clear();
            }
            let read = run.outcome.read;
            window.bar.set_position(source.position());
            window.bar.set_message(format!(
                "{read} rows, {:.0} rows/s",
                read as f64 / window.started.elapsed().as_secs_f64().max(1e-3)
            ));
        }
        if run.over_max_errors() {
            return Ok(Segment::Abort(format!(
                "more than --max-errors {} rows rejected (stopped at line {})",
                run.opts.max_errors.unwrap_or_default(),
                record.line
            )));
        }
    };
    run.flush(lookup).await?;
    if run.over_max_errors() {
        return Ok(Segment::Abort(format!(
            "more than --max-errors {} rows rejected",
            run.opts.max_errors.unwrap_or_default()
        )));
    }
    if !run.copy_buf.is_empty() {
        copy.send(run.copy_buf.as_slice())
            .await
            .map_err(|e| pg::error(run.url, e))?;
        run.copy_buf.clear();
    }
    Ok(end)
}

/// A row the checks let through and PostgreSQL refused: a missing check, so
/// the message says so; the transaction rolls back.
fn copy_failed(url: &RedactedUrl, file: &str, e: sqlx::Error) -> CommandError {
    let err = pg::error(url, e);
    CommandError {
        message: format!(
            "{file}: PostgreSQL refused the load, nothing was loaded: {}",
            err.message
        ),
        ..err
    }
    .with_hint("this is a check import-csv lacks: please report it with the line PostgreSQL names")
}

/// Moves the staged rows into the table by natural key; (inserted, updated).
/// Rows equal to the table's are left alone, so a rerun changes nothing.
async fn upsert(
    conn: &mut PgConnection,
    rules: &TableRules,
    table: &str,
    columns: &[Column],
) -> Result<(u64, u64), sqlx::Error> {
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let others: Vec<&String> = columns
        .iter()
        .zip(&names)
        .filter(|(c, _)| c.name != rules.key)
        .map(|(_, n)| n)
        .collect();
    let action = if others.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let set: Vec<String> = others
            .iter()
            .map(|n| format!("{n} = EXCLUDED.{n}"))
            .collect();
        let old: Vec<String> = others.iter().map(|n| format!("t.{n}")).collect();
        let new: Vec<String> = others.iter().map(|n| format!("EXCLUDED.{n}")).collect();
        format!(
            "DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
            set.join(", "),
            old.join(", "),
            new.join(", ")
        )
    };
    let list = names.join(", ");
    let sql = format!(
        "WITH up AS (INSERT INTO {table} AS t ({list}) SELECT {list} FROM pg_temp.rez_import_stage \
         ON CONFLICT ({key}) {action} RETURNING (xmax = 0) AS inserted) \
         SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
        key = quote_ident(rules.key),
    );
    let (inserted, updated): (i64, i64) = sqlx::query_as(&sql).fetch_one(conn).await?;
    Ok((inserted as u64, updated as u64))
}
