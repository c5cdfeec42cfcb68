//! The row engine of one file: what its rows are checked against (the
//! table's columns from the catalog, its unique keys and references, the
//! settings its rules need, a resumed run's checkpoint), and the checks
//! themselves. [`Import::row`] checks a record on its own (values, the
//! table's rules, retention, duplicates of rows loaded in earlier batches)
//! and [`Import::flush`] a batch against the database, on the lookup
//! session: unique keys against the table, references against the parents
//! and the run's own loaded rows. Good rows wait, encoded for COPY, in the
//! engine's buffer until [`Import::send`] hands them to the COPY it is
//! given; refused ones go to the reject file at once. A [`Memory`] carries
//! what a run has loaded from one file to the next.
//!
//! It checks and buffers: transactions, locks, COPY and commits are
//! `super::load`'s, which drives it. It must never let a row through that
//! it did not check, and per row it does only what the checks need: no
//! lookup, no progress, no await (those are per batch).

use std::collections::{HashMap, HashSet};

use sqlx::postgres::{PgConnection, PgCopyIn};

use super::check::{canonical, check_value, Column, Problem, SqlType};
use super::checkpoint::{self, FileKey};
use super::columns::{catalog, map_header};
use super::foreign::{self, Reference};
use super::keys::{self, Fingerprint, Fp, UniqueKey, KEY_SEP};
use super::options::{FileJob, Mode, Options};
use super::outcome::Outcome;
use super::partitions;
use super::reader::{input, CsvSource, Fault, Record};
use super::rejects::RejectWriter;
use super::seen::{self, Seen, IN_MEMORY_VALUES};
use super::tables::{self, Row, Settings, TableRules};
use crate::error::{CommandError, Remedy, Result};
use crate::store::pg::{quote_ident, rotate, settings as store_settings, Pg};

/// Rows checked against the table per query, and COPY bytes per message.
pub(super) const BATCH_ROWS: usize = 5_000;
pub(super) const COPY_CHUNK: usize = 1 << 20;

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
    pub(super) fresh: HashSet<&'static str>,
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
pub(super) struct Pending {
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

/// One file's import under way: what its rows are checked against, the
/// batch waiting for its lookups, and the tallies.
pub(super) struct Import<'a> {
    pub(super) opts: &'a Options,
    pub(super) job: &'a FileJob,
    pub(super) pg: &'a Pg,
    pub(super) file_no: usize,
    pub(super) table: String,
    pub(super) rules: &'static TableRules,
    pub(super) settings: Settings,
    pub(super) unique: Vec<UniqueKey>,
    /// Per unique key: the indexes in `memory.seen` of its values from
    /// earlier files of the run, then this file's (the last one).
    pub(super) seen: Vec<Vec<usize>>,
    /// The memory of this file's unique values was sized for the whole file.
    pub(super) sized: bool,
    /// The file holds more unique values than memory may: spill at once.
    pub(super) spill_now: bool,
    /// (index in the file's columns, reference) of each reference the file fills.
    pub(super) refs: Vec<(usize, Reference)>,
    /// (index, name) of columns whose loaded values later rows may reference.
    pub(super) remember: Vec<(usize, String)>,
    /// Rows of a partitioned table older than its retention are refused.
    pub(super) past_retention: Option<partitions::PastRetention>,
    /// Per part of the upsert key: its index in the file's columns (if
    /// there) and its type.
    pub(super) natural: Vec<(Option<usize>, SqlType)>,

    pub(super) memory: &'a mut Memory,
    pub(super) pending: Vec<Pending>,
    pub(super) copy_buf: Vec<u8>,
    pub(super) rejects: RejectWriter,
    /// The line of the last row read (checked, loaded or rejected).
    pub(super) last_line: u64,
    /// Rows taken since the last commit (--resume batches).
    pub(super) taken: u64,
    pub(super) outcome: Outcome,
    /// With --resume: the file's checkpoint key.
    pub(super) key: Option<FileKey>,
    /// The encoding the file is read in.
    pub(super) encoding: &'static encoding_rs::Encoding,
}

impl Import<'_> {
    /// The reject file cannot be written: the run cannot do its job (exit
    /// 5), whatever the rows are.
    pub(super) fn reject_error(&self, e: std::io::Error) -> CommandError {
        CommandError::failed(format!(
            "cannot write the reject file {}: {e}",
            self.job.rejects.display()
        ))
    }

    pub(super) fn finish_rejects(&mut self) -> Result<()> {
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

    pub(super) fn over_max_errors(&self) -> bool {
        self.opts
            .max_errors
            .is_some_and(|max| self.outcome.rejected > max)
    }

    /// Sizes this file's memory of unique values for the rows the file
    /// holds, estimated from the bytes the rows so far took: one allocation
    /// instead of doublings, whose old and new tables would live side by
    /// side (most of the peak at 2M rows, before).
    pub(super) fn size_memory(&mut self, position: u64, size: u64) {
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

    /// What is wrong with a record as read, in the words of a reject.
    fn fault(&self, columns: &[Column], fault: &Fault) -> Problem {
        let column = |field: usize| {
            columns
                .get(field)
                .map_or_else(|| format!("field {}", field + 1), |c| c.name.clone())
        };
        match *fault {
            Fault::FieldCount { expected, found } => Problem::new(
                "",
                "field_count",
                format!(
                    "{found} fields where the header has {expected}; quote fields that hold the \
                     delimiter"
                ),
            ),
            Fault::Encoding { field, byte } => {
                let detail = match byte {
                    Some(byte) => format!(
                        "bytes that are not UTF-8 (from byte {byte} of the file); {}",
                        self.opts.encoding_hint
                    ),
                    None => format!(
                        "bytes that are not {} (each shown as U+FFFD in the raw line)",
                        self.encoding.name()
                    ),
                };
                Problem::new(&column(field), "bad_encoding", detail)
            }
            Fault::Nul { field } => Problem::new(
                &column(field),
                "nul_byte",
                "a NUL byte (0x00), which PostgreSQL cannot store in text",
            ),
            Fault::StrayQuote { field } => Problem::new(
                &column(field),
                "stray_quote",
                "a quote character inside an unquoted field or after a closing quote: quote the \
                 whole field and double the quotes inside it",
            ),
        }
    }

    /// Checks one record; a good one joins the pending batch.
    pub(super) fn row(&mut self, columns: &[Column], record: &Record) -> Result<()> {
        self.outcome.read += 1;
        if let Some(fault) = &record.fault {
            let problem = self.fault(columns, fault);
            return self.reject(record.line, &record.raw, &[problem]);
        }
        let time = &self.opts.timestamps;
        let mut encoded = Vec::with_capacity(record.raw.len() + 16);
        let mut problems = Vec::new();
        for (i, col) in columns.iter().enumerate() {
            if i > 0 {
                encoded.push(b'\t');
            }
            if let Err(p) = check_value(col, record.field(i), time, &mut encoded) {
                problems.push(p);
            }
        }
        if problems.is_empty() {
            let row = Row {
                columns,
                record,
                time,
            };
            problems = self.rules.row(&row, &self.settings);
        }
        if let Some(p) = self.past_retention.as_ref().and_then(|r| r.check(record)) {
            problems.push(p);
        }
        let canon = |i: usize| record.field(i).map(|v| canonical(&columns[i].ty, v, time));
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
            .map(|(i, ty)| {
                i.and_then(|i| record.field(i))
                    .map(|v| canonical(ty, v, time))
            })
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
    pub(super) async fn flush(&mut self, lookup: &mut PgConnection) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let pg = self.pg;
        let err = |e| pg.error(e);
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
                    .map_err(|e| self.pg.error(e))?
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
                    .map_err(|e| self.pg.error(e))?,
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
                    .map_err(|e| self.pg.error(e))?;
            } else {
                for (f, line) in values {
                    self.memory.seen[this_file].insert(f, line);
                }
            }
        }
        Ok(())
    }

    pub(super) async fn send(&mut self, copy: &mut PgCopyIn<&mut PgConnection>) -> Result<()> {
        if !self.copy_buf.is_empty() {
            copy.send(self.copy_buf.as_slice())
                .await
                .map_err(|e| self.pg.error(e))?;
            self.copy_buf.clear();
        }
        Ok(())
    }
}

impl<'a> Import<'a> {
    /// Prepares the import of `job`: its table's columns and rules, its
    /// header mapped onto them, what its rows are checked against, a
    /// resumed run's checkpoint and the reject file. Returns the engine, the
    /// file's columns and the file, positioned after its header.
    pub(super) async fn open(
        lookup: &mut PgConnection,
        pg: &'a Pg,
        opts: &'a Options,
        job: &'a FileJob,
        memory: &'a mut Memory,
    ) -> Result<(Import<'a>, Vec<Column>, CsvSource)> {
        let file = job.path.display().to_string();
        let (rules, catalog) = catalog(lookup, &pg.url, &job.table).await?;
        let mut source = CsvSource::open(&job.path, &job.dialect).map_err(input)?;
        let header = source.header().map_err(input)?;
        let columns = map_header(&file, rules.name, &header, &job.maps, &catalog)?;
        let settings = match &memory.settings {
            Some(s) => s.clone(),
            None => {
                let s = settings(lookup, pg).await?;
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
            .map_err(|e| pg.error(e))?;
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
                    .map_err(|e| pg.error(e))?;
                position(&key)
                    .and_then(|i| opts.retention.check(rules.name, &key, i, &opts.timestamps))
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
                FileKey::of(&job.path, rules.name)
                    .map_err(|e| CommandError::usage(format!("{file}: cannot read: {e}")))?,
            ),
            false => None,
        };
        let resumed = match &key {
            Some(key) => checkpoint::load(lookup, key)
                .await
                .map_err(|e| pg.error(e))?,
            None => None,
        };
        let resumed = resumed.unwrap_or_default();
        let rejects = match resumed.rejects_size {
            0 => RejectWriter::create(&job.rejects, opts.reject_format),
            len => RejectWriter::append(&job.rejects, opts.reject_format, len),
        }
        .map_err(|e| {
            CommandError::failed(format!(
                "cannot create the reject file {}: {e}",
                job.rejects.display()
            ))
            .with_remedy(Remedy::RejectsPath)
        })?;
        let file_no = memory.files.len();
        memory.files.push(file);
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
        let outcome = Outcome {
            columns: columns.iter().map(|c| c.name.clone()).collect(),
            read: resumed.read,
            loaded: resumed.loaded,
            rejected: resumed.rejected,
            reasons: resumed.reasons.clone(),
            resumed_after_line: key.as_ref().map(|_| resumed.last_line),
            ..Outcome::default()
        };
        let run = Import {
            opts,
            job,
            pg,
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
            outcome,
            key,
            encoding: source.encoding(),
        };
        Ok((run, columns, source))
    }
}

/// The settings the row rules need, read once per run.
async fn settings(lookup: &mut PgConnection, pg: &Pg) -> Result<Settings> {
    let value = store_settings::value(lookup, "coin_to_inr_rate")
        .await
        .map_err(|e| pg.error(e))?;
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
pub(super) async fn want_parents(
    lookup: &mut PgConnection,
    pg: &Pg,
    tables: &[&str],
    memory: &mut Memory,
) -> Result<()> {
    for table in tables {
        for r in foreign::references(lookup, table)
            .await
            .map_err(|e| pg.error(e))?
        {
            if tables.contains(&r.parent.as_str()) {
                memory.loaded.want(&r.parent, &r.parent_column);
            }
        }
    }
    Ok(())
}
