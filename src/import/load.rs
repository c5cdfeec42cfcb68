//! The load of one file: COPY of the rows [`Import`] lets through, in one
//! transaction (or, resuming, one per batch, each committed with its
//! checkpoint), into the table or, for an upsert, into a stage table first.
//! Into an empty table the indexes are set aside for the load and built
//! again before the commit (`store::pg::bulk`); this module only decides
//! how much may be set aside. A maximum of rejected rows exceeded rolls the
//! open transaction back.
//!
//! Progress is told once per batch, never per row; it must never add work
//! to the row loop, which the benchmark holds to the floor of `\copy`.

use std::time::Instant;

use sqlx::postgres::{PgConnection, PgCopyIn};
use sqlx::Connection;

use super::check::Column;
use super::checkpoint::{self, Checkpoint};
use super::engine::{Import, Memory, BATCH_ROWS, COPY_CHUNK};
use super::options::{FileJob, Mode, Options, VALIDATE_LIMIT};
use super::outcome::{Abort, Outcome};
use super::reader::{input, CsvSource, Record};
use super::upsert;
use crate::error::{CommandError, ErrorKind, Result};
use crate::progress::{Progress, Unit};
use crate::store::pg::{self, bulk, Pg};

/// Imports `job` on `conn` (which holds the data lock; it may be inside a
/// manifest's transaction, and then each commit here is a savepoint's
/// release), checking against the tables on `lookup`.
pub(super) async fn file(
    conn: &mut PgConnection,
    lookup: &mut PgConnection,
    pg: &Pg,
    opts: &Options,
    job: &FileJob,
    memory: &mut Memory,
    progress: &dyn Progress,
) -> Result<Outcome> {
    let file = job.path.display().to_string();
    let (mut run, columns, mut source) = Import::open(lookup, pg, opts, job, memory).await?;
    let column_list = columns
        .iter()
        .map(|c| pg::quote_ident(&c.name))
        .collect::<Vec<_>>()
        .join(", ");
    let err = |e| pg.error(e);
    let resuming = run.key.is_some();
    let limit = if resuming {
        opts.batch_rows.max(1)
    } else {
        u64::MAX
    };
    let loaded_at_start = run.outcome.loaded;
    let mut committed = run.outcome.loaded;
    let (mut inserted, mut updated) = (0, 0);
    progress.begin(source.size(), Unit::Bytes);
    let mut window = Window {
        skip_to: run.last_line,
        limit,
        started: Instant::now(),
        progress,
        shown: 0,
    };
    loop {
        let mut tx = conn.begin().await.map_err(err)?;
        // One transaction for the whole file into an empty table: its
        // indexes are built after the load (resume commits in batches, and
        // upsert needs the unique indexes for ON CONFLICT).
        let set_aside = if opts.mode == Mode::Atomic && !resuming {
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
        let segment = match stream(
            &mut run,
            &columns,
            &mut source,
            &mut copy,
            lookup,
            &mut window,
        )
        .await
        {
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
                copy.finish().await.map_err(|e| copy_failed(pg, &file, e))?;
                match (&end, ratio_exceeded(opts, &run.outcome)) {
                    (Segment::Eof, Some(reason)) => Segment::Abort(reason),
                    _ => end,
                }
            }
        };
        if let Segment::Abort(reason) = segment {
            progress.end();
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
                .map_err(|e| copy_failed(pg, &file, e))?;
            tracing::info!("{}: indexes built again in {took:?}", run.table);
        }
        if opts.mode == Mode::Upsert {
            let (i, u) = upsert::upsert(&mut tx, run.rules, &run.table, &columns)
                .await
                .map_err(err)?;
            inserted += i;
            updated += u;
        }
        // The last transaction of the file, before its commit: the
        // validate checks of its table, on the rows only it can see.
        if opts.validate && segment == Segment::Eof {
            let report =
                crate::validate::within(&mut tx, pg, &[run.rules.name], VALIDATE_LIMIT).await?;
            if report.errors > 0 {
                progress.end();
                tx.rollback().await.map_err(err)?;
                run.finish_rejects()?;
                let mut outcome = run.outcome;
                outcome.loaded = committed;
                outcome.validation = Some(report);
                return Ok(outcome);
            }
            run.outcome.validation = Some(report);
        }
        if let Some(key) = &run.key {
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
    progress.end();
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
    let taken = bulk::take_if_empty(tx, table, run.pg.lock_timeout, |children| {
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

fn ratio_exceeded(opts: &Options, outcome: &Outcome) -> Option<Abort> {
    let ratio = opts.max_error_ratio?;
    let read = outcome.read.max(1) as f64;
    (outcome.rejected as f64 / read > ratio).then_some(Abort::MaxErrorRatio {
        rejected: outcome.rejected,
        read: outcome.read,
        ratio,
    })
}

/// How a call of [`stream`] ended.
#[derive(Debug, PartialEq)]
enum Segment {
    /// The file is done.
    Eof,
    /// A batch of rows was read (resuming): commit and go on.
    Full,
    /// A maximum of rejected rows was exceeded.
    Abort(Abort),
}

/// Which rows the calls of [`stream`] take, and how far they got.
struct Window<'a> {
    /// Rows starting on this line or before are committed already (resuming).
    skip_to: u64,
    /// Rows per commit.
    limit: u64,
    started: Instant,
    progress: &'a dyn Progress,
    /// The bytes of the file told to `progress` so far.
    shown: u64,
}

/// Reads, checks and sends rows until the commit's limit or the end of the file.
async fn stream(
    run: &mut Import<'_>,
    columns: &[Column],
    source: &mut CsvSource,
    copy: &mut PgCopyIn<&mut PgConnection>,
    lookup: &mut PgConnection,
    window: &mut Window<'_>,
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
            let (read, at) = (run.outcome.read, source.position());
            window.progress.advance(at.saturating_sub(window.shown));
            window.shown = at;
            window.progress.note(&format!(
                "{read} rows, {:.0} rows/s",
                read as f64 / window.started.elapsed().as_secs_f64().max(1e-3)
            ));
        }
        if run.over_max_errors() {
            return Ok(Segment::Abort(Abort::MaxErrors {
                max: run.opts.max_errors.unwrap_or_default(),
                line: Some(record.line),
            }));
        }
    };
    run.flush(lookup).await?;
    if run.over_max_errors() {
        return Ok(Segment::Abort(Abort::MaxErrors {
            max: run.opts.max_errors.unwrap_or_default(),
            line: None,
        }));
    }
    run.send(copy).await?;
    Ok(end)
}

/// A row the checks let through and PostgreSQL refused: a missing check, so
/// the message says so; the transaction rolls back. A refusal for the data's
/// sake (SQLSTATE classes 22, data exception, and 23, integrity constraint
/// violation: a unique index import-csv does not know) is a problem found in
/// the file, exit 1; anything else is the load failing, exit 5 (or 3, 4).
fn copy_failed(pg: &Pg, file: &str, e: sqlx::Error) -> CommandError {
    let about_the_data = pg::code(&e).is_some_and(|c| c.starts_with("22") || c.starts_with("23"));
    let mut err = pg.error(e);
    if about_the_data {
        err.kind = ErrorKind::Problems;
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
