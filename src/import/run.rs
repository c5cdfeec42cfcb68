//! The operation `import-csv` runs: it checks the input, takes the data
//! lock (and, for a partitioned table, the partitions lock, shared) on the
//! load's session, opens the lookup session, creates the partitions the
//! rows need, imports one file or a manifest's, gives the locks back and
//! reports. It never parses flags and never prints: the face does both.

use std::time::Instant;

use super::engine::Memory;
use super::options::{FileJob, Input, Options};
use super::outcome::{ImportReport, ManifestReport, Report};
use super::rejects::RejectFormat;
use super::{load, manifest, partitions, reader};
use crate::error::{CommandError, Result};
use crate::partition::naming::PARTITIONED;
use crate::progress::Progress;
use crate::store::pg::{lock, Pg};

/// Imports `input` into the database of `pg` as `opts` say.
pub async fn run(
    input: &Input,
    opts: &Options,
    pg: &Pg,
    progress: &dyn Progress,
) -> Result<Report> {
    let started = Instant::now();
    let files = match input {
        Input::Manifest {
            path,
            allow_outside,
            ..
        } => Some(manifest::read(path, *allow_outside)?),
        Input::File { path, .. } => {
            if let Some(what) = reader::irregular(path) {
                return Err(CommandError::usage(format!(
                    "{}: not a regular file ({what}); import-csv reads files only",
                    path.display()
                ))
                .with_hint("export the data to a file first"));
            }
            if !path.is_file() {
                return Err(CommandError::usage(format!(
                    "{}: no such file",
                    path.display()
                )));
            }
            None
        }
    };
    let mut conn = pg.connect().await?;
    lock::hold(&mut conn, pg, lock::LockScope::Data, opts.lock_wait).await?;
    // A partitioned table's partitions must stay put from their creation to
    // the commit of the rows loaded into them: partition-rotate waits.
    let partitioned = match (&files, input) {
        (Some(files), _) => files.iter().any(|f| is_partitioned(&f.table)),
        (None, Input::File { table, .. }) => is_partitioned(table),
        (None, Input::Manifest { .. }) => false,
    };
    let (scope, shared) = (lock::LockScope::Partitions, lock::Mode::Shared);
    if partitioned {
        lock::acquire_in(&mut conn, &pg.url, scope, shared, opts.lock_wait).await?;
    }
    let mut lookup = pg.connect().await?;
    let database = pg.url.to_string();
    let report = match input {
        Input::Manifest {
            path, rejects_dir, ..
        } => {
            let imported = manifest::import_all(
                &mut conn,
                &mut lookup,
                pg,
                files.as_deref().unwrap_or_default(),
                opts,
                rejects_dir.as_deref(),
                progress,
            )
            .await?;
            Report::Manifest(ManifestReport {
                database,
                manifest: path.display().to_string(),
                mode: opts.mode,
                dry_run: opts.dry_run,
                order: imported.order,
                files: imported.files,
                validation: imported.validation,
                elapsed_ms: 0,
            })
        }
        Input::File {
            path,
            table,
            maps,
            rejects,
        } => {
            let jsonl = opts.reject_format == RejectFormat::Jsonl;
            let job = FileJob {
                path: path.clone(),
                table: table.clone(),
                maps: maps.clone(),
                dialect: opts.dialect.clone(),
                rejects: rejects
                    .clone()
                    .unwrap_or_else(|| manifest::default_rejects(path, jsonl)),
            };
            let created = partitions::prepare(&mut conn, pg, opts, &job, progress).await?;
            let mut memory = Memory::with_limit(opts.memory_values);
            let mut outcome = load::file(
                &mut conn,
                &mut lookup,
                pg,
                opts,
                &job,
                &mut memory,
                progress,
            )
            .await?;
            outcome.partitions_created = created;
            Report::File(ImportReport {
                database,
                file: path.display().to_string(),
                table: table.clone(),
                mode: opts.mode,
                dry_run: opts.dry_run,
                rejects_file: job.rejects.display().to_string(),
                outcome,
                elapsed_ms: 0,
            })
        }
    };
    if partitioned {
        lock::release_in(&mut conn, scope, shared)
            .await
            .map_err(|e| pg.error(e))?;
    }
    lock::release(&mut conn, lock::LockScope::Data)
        .await
        .map_err(|e| pg.error(e))?;
    let elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(match report {
        Report::File(r) => Report::File(ImportReport { elapsed_ms, ..r }),
        Report::Manifest(r) => Report::Manifest(ManifestReport { elapsed_ms, ..r }),
    })
}

/// Whether `table` is one of the range-partitioned tables.
fn is_partitioned(table: &str) -> bool {
    PARTITIONED.iter().any(|(t, _)| *t == table)
}
