//! `import-csv`: historical rows from CSV files into the reference's Phase 3
//! tables, checked row by row before they reach them.
//!
//! A file streams through [`reader`] (constant memory, raw lines kept only
//! until their row is done), each value through [`check`] (types, exact money,
//! enumerations, the reference's CHECK patterns, NOT NULL), each row through
//! its table's rules ([`tables`]: CHECK bounds and the domain's business
//! rules), then the unique keys against earlier rows and, one batch at a time,
//! against the table, and the references against the parent tables and earlier
//! rows ([`foreign`]) on a second connection, so the first can stay inside its
//! COPY. The callers create the partitions the rows need first
//! ([`partitions::prepare`]), before the transaction. Good rows
//! go out by COPY inside one transaction; refused ones go to the reject file
//! ([`rejects`]). [`manifest`] runs several files in dependency order in one
//! transaction. Must never load a row it did not check, and never paste a
//! user-given name into SQL: tables and columns come from the catalog and are
//! quoted.

pub mod check;
pub mod checkpoint;
mod columns;
pub mod foreign;
mod keys;
pub mod manifest;
pub mod partitions;
pub mod reader;
pub mod rejects;
mod seen;
pub mod tables;
mod upsert;

use std::collections::{BTreeMap, HashMap, HashSet};

use std::path::PathBuf;
use std::time::Instant;

use serde::Serialize;
use sqlx::postgres::{PgConnection, PgCopyIn};
use sqlx::Connection;

use crate::error::{CommandError, Result};
use crate::output::progress;
use crate::secret::RedactedUrl;
use crate::store::pg::{self, bulk, quote_ident, rotate, settings as store_settings};
use check::{canonical, check_value, Column, Problem, SqlType};
use checkpoint::{Checkpoint, FileKey};
use foreign::Reference;

use columns::{catalog, map_header};
pub(crate) use keys::{Fingerprint, Fp};
use keys::{UniqueKey, KEY_SEP};
use reader::{CsvSource, InputError, Record};
use rejects::{RejectFormat, RejectWriter};
use seen::Seen;
pub use seen::IN_MEMORY_VALUES;
use tables::{Row, Settings, TableRules};

/// Rows checked against the table per query, and COPY bytes per message.
const BATCH_ROWS: usize = 5_000;
const COPY_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// All good rows in one transaction, or nothing; a row whose unique value is already in the table is rejected
    Atomic,
    /// Like atomic, but a row whose natural key (users: phone; orders, wallet_transactions: id and created_at; others: id) exists updates that row
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
    /// Check and send everything, then roll back.
    pub dry_run: bool,
    /// How long to wait for a lock when setting an empty table's indexes aside.
    pub lock_timeout: std::time::Duration,
    /// Unique values the run keeps in memory before they spill to a
    /// temporary table on the server (for the whole run: a manifest's too).
    pub memory_values: usize,
    /// Which rows of the partitioned tables are past retention.
    pub retention: partitions::Retention,
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
}

pub(crate) fn input(e: InputError) -> CommandError {
    let hint = match &e {
        InputError::FieldCount { .. } => {
            "every line needs as many fields as the header; quote fields that contain the delimiter"
        }
        InputError::Unterminated { .. } => "close the quote, or pick another --quote character",
        InputError::Utf8 { .. } => "convert the file first, e.g. `iconv -f LATIN1 -t UTF-8`",
        InputError::Empty { .. } => "the first line must name the columns",
        InputError::Io { .. } => "check the path and its permissions",
        InputError::NotRegular { .. } => {
            "export the data to a file first; devices, fifos, folders and /proc files are refused"
        }
    };
    CommandError::usage(e.to_string()).with_hint(hint)
}

/// What one run remembers across its files (one file, or a manifest's):
/// unique values per table and loaded parent keys, so that later rows and
/// later files are checked against rows the second connection cannot see yet.
pub struct Memory {
    pub loaded: foreign::Loaded,
    /// Per file and unique key of its table: the values it loaded.
    seen: Vec<Seen>,
    /// Tables that were empty when this run took them: every row in them
    /// is this run's, so what they hold is known here, and their indexes
    /// were set aside (the second connection must not wait on them).
    fresh: HashSet<&'static str>,
    /// More files follow on the same connections (a manifest): a file must
    /// not lock the tables their lookups will read.
    pub(crate) more_files: bool,
    /// Unique values kept in memory before they spill to the server.
    limit: usize,
    /// The values are in the lookup connection's temporary table ([`seen`]).
    spilled: bool,
    fingerprint: Fingerprint,
    files: Vec<String>,
    settings: Option<Settings>,
}

impl Default for Memory {
    fn default() -> Self {
        Memory {
            loaded: foreign::Loaded::default(),
            seen: Vec::new(),
            fresh: HashSet::new(),
            fingerprint: Fingerprint::default(),
            files: Vec::new(),
            settings: None,
            more_files: false,
            limit: IN_MEMORY_VALUES,
            spilled: false,
        }
    }
}

impl Memory {
    /// A run that keeps up to `limit` unique values in memory.
    pub fn with_limit(limit: usize) -> Self {
        Memory {
            limit,
            ..Memory::default()
        }
    }

    fn values(&self) -> usize {
        self.seen.iter().map(Seen::len).sum()
    }
}

/// A checked row waiting for its batch's lookups.
struct Pending {
    line: u64,
    raw: String,
    encoded: Vec<u8>,
    /// Per unique key: its canonical parts (None when a part is NULL).
    keys: Vec<Option<Vec<String>>>,
    /// Per unique key: the fingerprint of its value.
    fingerprints: Vec<Option<Fp>>,
    /// The upsert key, canonical and joined, when the file fills it.
    natural: Option<String>,
    /// Per reference: the canonical value (None for NULL).
    refs: Vec<Option<String>>,
    /// Per remembered column: the canonical value.
    remember: Vec<Option<String>>,
}

struct Import<'a> {
    opts: &'a Options,
    url: &'a RedactedUrl,
    file_no: usize,
    table: String,
    rules: &'static TableRules,
    settings: Settings,
    unique: Vec<UniqueKey>,
    /// Per unique key: the indexes in `memory.seen` of its values from
    /// earlier files of the run, then this file's (the last one).
    seen: Vec<Vec<usize>>,
    /// The memory of this file's unique values was sized for the whole file.
    sized: bool,
    /// The file holds more unique values than memory may: spill at once.
    spill_now: bool,
    /// (index in the file's columns, reference) of each reference the file fills.
    refs: Vec<(usize, Reference)>,
    /// (index, name) of columns whose loaded values later rows may reference.
    remember: Vec<(usize, String)>,
    /// Rows of a partitioned table older than its retention are refused.
    past_retention: Option<partitions::PastRetention>,
    /// Per part of the upsert key: its index in the file's columns (if
    /// there) and its type.
    natural: Vec<(Option<usize>, SqlType)>,

    memory: &'a mut Memory,
    pending: Vec<Pending>,
    copy_buf: Vec<u8>,
    rejects: RejectWriter,
    /// The line of the last row read (checked, loaded or rejected).
    last_line: u64,
    /// Rows taken since the last commit (--resume batches).
    taken: u64,
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

    /// Sizes this file's memory of unique values for the rows the file
    /// holds, estimated from the bytes the rows so far took: one allocation
    /// instead of doublings, whose old and new tables would live side by
    /// side (most of the peak at 2M rows, before).
    fn size_memory(&mut self, position: u64, size: u64) {
        self.sized = true;
        let read = self.taken.max(1);
        let Some(per_row) = position.checked_div(read).filter(|b| *b > 0) else {
            return;
        };
        // 5% over the estimate: rows later in a file tend to be no shorter.
        let rows = (size / per_row).saturating_add(size / per_row / 20);
        let values = rows.saturating_mul(self.seen.len() as u64);
        if values.saturating_add(self.memory.values() as u64) > self.memory.limit as u64 {
            self.spill_now = true;
            return;
        }
        for k in 0..self.seen.len() {
            let this_file = *self.seen[k].last().expect("this file's values");
            self.memory.seen[this_file].expect(usize::try_from(rows).unwrap_or(usize::MAX));
        }
    }

    /// Key `k` of a row has the value `parts`, which line `first` of file
    /// `file_no` loaded.
    fn duplicate(&self, k: usize, parts: &[String], file_no: usize, first: u64) -> Problem {
        let place = if file_no == self.file_no {
            "the file".to_string()
        } else {
            self.memory.files[file_no].clone()
        };
        Problem::new(
            &self.unique[k].label,
            "duplicate_in_file",
            format!(
                "`{}` is already on line {first} of {place}",
                parts.join(", ")
            ),
        )
    }

    /// The file number and line of the first row that gave key `k` this value.
    fn first_seen(&self, k: usize, f: &Fp) -> Option<(usize, u64)> {
        self.seen[k].iter().find_map(|&i| {
            let seen = &self.memory.seen[i];
            seen.line(f).map(|line| (seen.file_no, line))
        })
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
        if problems.is_empty() {
            let row = Row { columns, record };
            problems = self.rules.row(&row, &self.settings);
        }
        if let Some(p) = self.past_retention.as_ref().and_then(|r| r.check(record)) {
            problems.push(p);
        }
        let canon = |i: usize| record.field(i).map(|v| canonical(&columns[i].ty, v));
        let keys: Vec<Option<Vec<String>>> = self
            .unique
            .iter()
            .map(|k| k.parts.iter().map(|(i, ..)| canon(*i)).collect())
            .collect();
        // Each key's fingerprint once: looked up, then remembered if the row loads.
        let fingerprints: Vec<Option<Fp>> = keys
            .iter()
            .map(|key| {
                key.as_ref().map(|parts| {
                    self.memory
                        .fingerprint
                        .of(&parts.join(&KEY_SEP.to_string()))
                })
            })
            .collect();
        if problems.is_empty() {
            // Earlier batches' values, when in memory; the batch's own and
            // spilled ones are looked for in `flush`.
            for (k, (key, f)) in keys.iter().zip(&fingerprints).enumerate() {
                let (Some(parts), Some(f)) = (key, f) else {
                    continue;
                };
                if let Some((file_no, first)) = self.first_seen(k, f) {
                    problems.push(self.duplicate(k, parts, file_no, first));
                }
            }
        }
        if !problems.is_empty() {
            return self.reject(record.line, &record.raw, &problems);
        }
        let natural: Option<Vec<String>> = self
            .natural
            .iter()
            .map(|(i, ty)| i.and_then(|i| record.field(i)).map(|v| canonical(ty, v)))
            .collect();
        encoded.push(b'\n');
        self.pending.push(Pending {
            line: record.line,
            raw: record.raw.clone(),
            encoded,
            keys,
            fingerprints,
            natural: natural.map(|n| n.join(&KEY_SEP.to_string())),
            refs: self.refs.iter().map(|(i, _)| canon(*i)).collect(),
            remember: self.remember.iter().map(|(i, _)| canon(*i)).collect(),
        });
        Ok(())
    }

    /// Checks the pending rows' unique keys against the table and their
    /// references against the parents (on `lookup`, outside the load's
    /// transaction) and moves the good ones to the COPY buffer.
    async fn flush(&mut self, lookup: &mut PgConnection) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let url = self.url;
        let err = |e| pg::error(url, e);
        if !self.memory.spilled && (self.spill_now || self.memory.values() > self.memory.limit) {
            tracing::info!(
                "{} unique values remembered: the next ones go to a temporary table",
                self.memory.values()
            );
            seen::spill(lookup, &mut self.memory.seen)
                .await
                .map_err(err)?;
            self.memory.spilled = true;
        }
        // Per key, the batch's values that earlier batches loaded (spilled).
        let mut spilled = Vec::with_capacity(self.unique.len());
        for k in 0..self.unique.len() {
            let fps: Vec<Fp> = match self.memory.spilled {
                true => self
                    .pending
                    .iter()
                    .filter_map(|p| p.fingerprints[k])
                    .collect(),
                false => Vec::new(),
            };
            spilled.push(
                seen::probe(lookup, &self.seen[k], &fps)
                    .await
                    .map_err(err)?,
            );
        }
        let mut existing = Vec::with_capacity(self.unique.len());
        for k in 0..self.unique.len() {
            let mut values: Vec<Vec<&str>> = vec![Vec::new(); self.unique[k].parts.len()];
            for parts in self.pending.iter().filter_map(|p| p.keys[k].as_ref()) {
                for (list, v) in values.iter_mut().zip(parts) {
                    list.push(v.as_str());
                }
            }
            let natural: Vec<(&str, &SqlType)> = self
                .rules
                .key
                .iter()
                .zip(&self.natural)
                .map(|(n, (_, ty))| (*n, ty))
                .collect();
            // An empty table taken by this run holds only rows in memory.
            existing.push(if self.memory.fresh.contains(self.rules.name) {
                HashMap::new()
            } else {
                keys::owners(lookup, &self.table, &self.unique[k], &natural, &values)
                    .await
                    .map_err(|e| pg::error(self.url, e))?
            });
        }
        let mut parents: Vec<HashSet<String>> = Vec::with_capacity(self.refs.len());
        for (r, (_, reference)) in self.refs.iter().enumerate() {
            let mut values: Vec<&str> = self
                .pending
                .iter()
                .filter_map(|p| p.refs[r].as_deref())
                .filter(|v| {
                    !self
                        .memory
                        .loaded
                        .contains(&reference.parent, &reference.parent_column, v)
                })
                .collect();
            values.sort_unstable();
            values.dedup();
            if self.memory.fresh.contains(reference.parent.as_str()) {
                // All its rows are this run's, in `memory.loaded`.
                values.clear();
            }
            parents.push(
                foreign::existing(lookup, reference, &values)
                    .await
                    .map_err(|e| pg::error(self.url, e))?,
            );
        }
        let pending = std::mem::take(&mut self.pending);
        // Per key, the values of this batch's loaded rows: fingerprint -> line.
        let mut batch: Vec<keys::FpMap<u64>> = vec![keys::FpMap::default(); self.unique.len()];
        for p in pending {
            let mut problems = Vec::new();
            for (k, f) in p.fingerprints.iter().enumerate() {
                let (Some(f), Some(parts)) = (f, &p.keys[k]) else {
                    continue;
                };
                let first = batch[k]
                    .get(f)
                    .map(|&line| (self.file_no, line))
                    .or_else(|| {
                        spilled[k]
                            .get(&f.to_uuid())
                            .map(|&(slot, line)| (self.memory.seen[slot].file_no, line))
                    });
                if let Some((file_no, line)) = first {
                    problems.push(self.duplicate(k, parts, file_no, line));
                }
            }
            for (k, key) in self.unique.iter().enumerate() {
                let Some(parts) = &p.keys[k] else { continue };
                let value = parts.join(&KEY_SEP.to_string());
                let Some(owner) = existing[k].get(&value) else {
                    continue;
                };
                let same_row = self.opts.mode == Mode::Upsert
                    && owner.is_some()
                    && owner.as_deref() == p.natural.as_deref();
                if !same_row {
                    problems.push(Problem::new(
                        &key.label,
                        "duplicate_in_table",
                        format!(
                            "`{}` is already in `{}` ({})",
                            parts.join(", "),
                            self.rules.name,
                            key.label
                        ),
                    ));
                }
            }
            for (r, (_, reference)) in self.refs.iter().enumerate() {
                let Some(value) = p.refs[r].as_deref() else {
                    continue;
                };
                let (parent, column) = (&reference.parent, &reference.parent_column);
                if !parents[r].contains(value)
                    && !self.memory.loaded.contains(parent, column, value)
                {
                    problems.push(Problem::new(
                        &reference.column,
                        "foreign_key",
                        format!(
                            "`{value}` is not a `{parent}.{column}`: not in the table, nor loaded earlier by this import"
                        ),
                    ));
                }
            }
            if !problems.is_empty() {
                self.reject(p.line, &p.raw, &problems)?;
                continue;
            }
            for (k, f) in p.fingerprints.iter().enumerate() {
                if let Some(f) = f {
                    batch[k].insert(*f, p.line);
                }
            }
            for ((_, name), value) in self.remember.iter().zip(&p.remember) {
                if let Some(v) = value {
                    self.memory.loaded.record(self.rules.name, name, v);
                }
            }

            self.copy_buf.extend_from_slice(&p.encoded);
            self.outcome.loaded += 1;
        }
        self.remember_batch(lookup, batch).await
    }

    /// Adds the values of a batch's loaded rows to the run's memory, or to
    /// the spilled table.
    async fn remember_batch(
        &mut self,
        lookup: &mut PgConnection,
        batch: Vec<keys::FpMap<u64>>,
    ) -> Result<()> {
        for (k, values) in batch.into_iter().enumerate() {
            let this_file = *self.seen[k].last().expect("this file's values");
            if self.memory.spilled {
                let (fps, lines): (Vec<Fp>, Vec<u64>) = values.into_iter().unzip();
                seen::record(lookup, this_file, &fps, &lines)
                    .await
                    .map_err(|e| pg::error(self.url, e))?;
            } else {
                for (f, line) in values {
                    self.memory.seen[this_file].insert(f, line);
                }
            }
        }
        Ok(())
    }

    async fn send(&mut self, copy: &mut PgCopyIn<&mut PgConnection>) -> Result<()> {
        if !self.copy_buf.is_empty() {
            copy.send(self.copy_buf.as_slice())
                .await
                .map_err(|e| pg::error(self.url, e))?;
            self.copy_buf.clear();
        }
        Ok(())
    }
}

/// Takes the table for this run if it is empty, its indexes set aside
/// ([`bulk::take_if_empty`]). A table an earlier file of the run took stays
/// this run's. The table's foreign keys stay: the second connection reads
/// the parents. The keys other tables reference go too (with those foreign
/// keys, which locks the referencing tables) unless the second connection
/// will read one of those tables: a later file of a manifest, or a parent
/// that also references the table.
async fn take_if_empty(
    tx: &mut PgConnection,
    run: &mut Import<'_>,
) -> std::result::Result<Option<bulk::SetAside>, sqlx::Error> {
    if run.memory.fresh.contains(run.rules.name) {
        return Ok(None);
    }
    let (table, more_files, refs) = (run.rules.name, run.memory.more_files, &run.refs);
    let taken = bulk::take_if_empty(tx, table, run.opts.lock_timeout, |children| {
        let read_later = children
            .iter()
            .any(|c| c != table && refs.iter().any(|(_, r)| &r.parent == c));
        if more_files || read_later {
            &[bulk::Scope::Indexes]
        } else {
            &[bulk::Scope::Keys, bulk::Scope::Indexes]
        }
    })
    .await?;
    if taken.is_some() {
        run.memory.fresh.insert(run.rules.name);
    }
    Ok(taken)
}

/// The settings the row rules need, read once per run.
async fn settings(lookup: &mut PgConnection, url: &RedactedUrl) -> Result<Settings> {
    let value = store_settings::value(lookup, "coin_to_inr_rate")
        .await
        .map_err(|e| pg::error(url, e))?;
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    Ok(Settings {
        coin_to_inr_rate: value
            .map(text)
            .and_then(|t| rust_decimal::Decimal::from_str_exact(t.trim()).ok()),
    })
}

/// Tells `memory` which parent keys the references of `tables` need.
pub async fn want_parents(
    lookup: &mut PgConnection,
    url: &RedactedUrl,
    tables: &[&str],
    memory: &mut Memory,
) -> Result<()> {
    for table in tables {
        for r in foreign::references(lookup, table)
            .await
            .map_err(|e| pg::error(url, e))?
        {
            if tables.contains(&r.parent.as_str()) {
                memory.loaded.want(&r.parent, &r.parent_column);
            }
        }
    }
    Ok(())
}

/// Runs the import of one file on `conn` (which holds the data lock; it may
/// be inside a manifest's transaction, and then each commit here is a
/// savepoint's release) and `lookup`.
pub async fn import(
    conn: &mut PgConnection,
    lookup: &mut PgConnection,
    url: &RedactedUrl,
    opts: &Options,
    memory: &mut Memory,
) -> Result<Outcome> {
    let file = opts.file.display().to_string();
    let (rules, catalog) = catalog(lookup, url, &opts.table).await?;
    let mut source = CsvSource::open(&opts.file, opts.delimiter, opts.quote).map_err(input)?;
    let header = source.header().map_err(input)?;
    let columns = map_header(&file, rules.name, &header, &opts.maps, &catalog)?;
    let settings = match &memory.settings {
        Some(s) => s.clone(),
        None => {
            let s = settings(lookup, url).await?;
            memory.settings = Some(s.clone());
            s
        }
    };
    if let Some(why) = tables::require_settings(rules.name, &columns, &settings) {
        return Err(CommandError::usage(format!("{file}: {why}"))
            .with_hint("load the reference data first: `rez-db seed`"));
    }
    let position = |name: &str| columns.iter().position(|c| c.name == name);
    let described = |name: &str| catalog.iter().find(|c| c.column.name == name);
    let udt = |name: &str| described(name).map(|c| c.udt.clone()).unwrap_or_default();
    let unique: Vec<UniqueKey> = rules
        .unique
        .iter()
        .filter_map(|key| {
            let parts: Option<Vec<_>> = key
                .iter()
                .map(|n| position(n).map(|i| (i, n.to_string(), udt(n), columns[i].ty.clone())))
                .collect();
            parts.map(|parts| UniqueKey {
                label: key.join(", "),
                parts,
            })
        })
        .collect();
    let references = foreign::references(lookup, rules.name)
        .await
        .map_err(|e| pg::error(url, e))?;
    for r in references.iter().filter(|r| r.parent == rules.name) {
        memory.loaded.want(&r.parent, &r.parent_column);
    }
    let refs: Vec<(usize, Reference)> = references
        .into_iter()
        .filter_map(|r| position(&r.column).map(|i| (i, r)))
        .collect();
    let remember: Vec<(usize, String)> = memory
        .loaded
        .wanted_columns(rules.name)
        .into_iter()
        .filter_map(|c| position(&c).map(|i| (i, c)))
        .collect();
    let past_retention = match opts.retention.cutoff(rules.name) {
        None => None,
        Some(_) => {
            let key = rotate::key_column(lookup, rules.name)
                .await
                .map_err(|e| pg::error(url, e))?;
            position(&key).and_then(|i| opts.retention.check(rules.name, &key, i))
        }
    };
    let natural: Vec<(Option<usize>, SqlType)> = rules
        .key
        .iter()
        .map(|n| {
            let ty = described(n).map_or(SqlType::Text, |c| c.column.ty.clone());
            (position(n), ty)
        })
        .collect();

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
    let file_no = memory.files.len();
    memory.files.push(file.clone());
    let seen: Vec<Vec<usize>> = unique
        .iter()
        .map(|key| {
            let mut earlier: Vec<usize> = (0..memory.seen.len())
                .filter(|&i| {
                    memory.seen[i].table == rules.name && memory.seen[i].label == key.label
                })
                .collect();
            earlier.push(memory.seen.len());
            memory.seen.push(Seen::new(rules.name, &key.label, file_no));
            earlier
        })
        .collect();
    let mut run = Import {
        opts,
        url,
        file_no,
        table: format!("public.{}", quote_ident(rules.name)),
        rules,
        settings,
        unique,
        seen,
        sized: false,
        spill_now: false,
        refs,
        remember,
        past_retention,
        natural,
        memory,
        pending: Vec::with_capacity(BATCH_ROWS),
        copy_buf: Vec::with_capacity(COPY_CHUNK * 2),
        rejects,
        last_line: resumed.last_line,
        taken: 0,
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
    let window = Window {
        skip_to,
        limit,
        started,
        bar: &bar,
    };
    loop {
        let mut tx = conn.begin().await.map_err(err)?;
        // One transaction for the whole file into an empty table: its
        // indexes are built after the load (resume commits in batches, and
        // upsert needs the unique indexes for ON CONFLICT).
        let set_aside = if opts.mode == Mode::Atomic && key.is_none() {
            take_if_empty(&mut tx, &mut run).await.map_err(err)?
        } else {
            None
        };
        let target = match opts.mode {
            Mode::Atomic => run.table.clone(),
            Mode::Upsert => {
                upsert::create_stage(&mut tx, &run.table)
                    .await
                    .map_err(err)?;
                upsert::STAGE.to_string()
            }
        };
        let mut copy = tx
            .copy_in_raw(&format!("COPY {target} ({column_list}) FROM STDIN"))
            .await
            .map_err(err)?;
        let segment =
            match stream(&mut run, &columns, &mut source, &mut copy, lookup, &window).await {
                Err(e) => {
                    let _ = copy.abort("import-csv stopped").await;
                    return Err(e);
                }
                Ok(Segment::Abort(reason)) => {
                    copy.abort("import-csv aborted: too many rejected rows")
                        .await
                        .map_err(err)?;
                    Segment::Abort(reason)
                }
                Ok(end) => {
                    copy.finish()
                        .await
                        .map_err(|e| copy_failed(url, &file, e))?;
                    match (&end, ratio_exceeded(opts, &run.outcome)) {
                        (Segment::Eof, Some(reason)) => Segment::Abort(reason),
                        _ => end,
                    }
                }
            };
        if let Segment::Abort(reason) = segment {
            bar.finish_and_clear();
            tx.rollback().await.map_err(err)?;
            run.finish_rejects()?;
            let mut outcome = run.outcome;
            outcome.aborted = Some(reason);
            outcome.loaded = committed;
            return Ok(outcome);
        }
        if let Some(set_aside) = set_aside {
            run.outcome.indexes_rebuilt = set_aside.names();
            let took = set_aside
                .rebuild(&mut tx)
                .await
                .map_err(|e| copy_failed(url, &file, e))?;
            tracing::info!("{}: indexes built again in {took:?}", run.table);
        }
        if opts.mode == Mode::Upsert {
            let (i, u) = upsert::upsert(&mut tx, rules, &run.table, &columns)
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
        if opts.dry_run {
            tx.rollback().await.map_err(err)?;
        } else {
            tx.commit().await.map_err(err)?;
        }
        committed = run.outcome.loaded;
        run.taken = 0;
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

/// Which rows the calls of [`stream`] take.
struct Window<'a> {
    /// Rows starting on this line or before are committed already (--resume).
    skip_to: u64,
    /// Rows per commit.
    limit: u64,
    started: Instant,
    bar: &'a indicatif::ProgressBar,
}

/// Reads, checks and sends rows until the commit's limit or the end of the file.
async fn stream(
    run: &mut Import<'_>,
    columns: &[Column],
    source: &mut CsvSource,
    copy: &mut PgCopyIn<&mut PgConnection>,
    lookup: &mut PgConnection,
    window: &Window<'_>,
) -> Result<Segment> {
    let mut record = Record::default();
    let end = loop {
        if run.taken >= window.limit {
            break Segment::Full;
        }
        if !source.next(&mut record).map_err(input)? {
            break Segment::Eof;
        }
        if record.line <= window.skip_to {
            continue;
        }
        run.taken += 1;
        run.last_line = record.line;
        run.row(columns, &record)?;
        if run.pending.len() >= BATCH_ROWS {
            if !run.sized {
                run.size_memory(source.position(), source.size());
            }
            run.flush(lookup).await?;
            if run.copy_buf.len() >= COPY_CHUNK {
                run.send(copy).await?;
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
    run.send(copy).await?;
    Ok(end)
}

/// A row the checks let through and PostgreSQL refused: a missing check, so
/// the message says so; the transaction rolls back. A refusal for the data's
/// sake (SQLSTATE classes 22, data exception, and 23, integrity constraint
/// violation: a unique index import-csv does not know) is a problem found in
/// the file, exit 1; anything else is the load failing, exit 5 (or 3, 4).
fn copy_failed(url: &RedactedUrl, file: &str, e: sqlx::Error) -> CommandError {
    let about_the_data = pg::code(&e).is_some_and(|c| c.starts_with("22") || c.starts_with("23"));
    let mut err = pg::error(url, e);
    if about_the_data {
        err.kind = crate::error::ErrorKind::Problems;
    }
    CommandError {
        message: format!(
            "{file}: PostgreSQL refused the load, nothing was loaded: {}",
            err.message
        ),
        ..err
    }
    .with_hint("this is a check import-csv lacks: please report it with the line PostgreSQL names")
}
