//! `migrate revert --to VERSION`: runs the down files of every applied
//! migration above VERSION, newest first, each in its own transaction with
//! its history row removed (a no-transaction down runs statement by
//! statement, and its row goes last), under the schema lock and the DDL
//! timeouts `migrate` runs under.
//!
//! Refused before anything runs (exit 2, naming the files): a history that
//! diverges from the files, a migration in the range without a down file, a
//! down file that would destroy the rows of a ledger table that holds rows
//! (unless forced) (`crate::migration::revert`). A dry run shows the SQL and
//! takes no lock. A real run is first put to the confirmation its caller
//! hands it, then checked again under the lock.
//!
//! A down the server refuses stops the run: its transaction is rolled back,
//! so the history still lists exactly the migrations whose downs did not run.
//! Once anything was reverted, every repeatable migration is pending again.

use std::time::Duration;

use serde::Serialize;

use crate::domain::ledger::LEDGER_TABLES;
use crate::error::{CommandError, ErrorKind, Result};
use crate::migration::revert::{plan_revert, RevertError};
use crate::migration::{Divergence, Migration, MigrationSet};
use crate::progress::{Progress, Unit};
use crate::provision::Confirm;
use crate::store::pg::migrator::{self, AppliedNow, Failure};
use crate::store::pg::{catalog, history, lock, Pg};

#[derive(Debug, Clone, Copy, Default)]
pub struct RevertOptions {
    /// Revert every applied migration above this version (0: all).
    pub to: i64,
    /// Show the SQL; change nothing.
    pub dry_run: bool,
    /// Run downs that destroy rows of a ledger table.
    pub force: bool,
    pub lock_wait: Duration,
}

#[derive(Debug, Serialize)]
pub struct RevertReport {
    pub database: String,
    pub to: i64,
    pub dry_run: bool,
    /// Reverted by this run, newest first.
    pub reverted: Vec<AppliedNow>,
    /// Still to revert (for a dry run: what a run would revert), newest first.
    pub pending: Vec<DownRow>,
    pub failed: Option<Failure>,
}

#[derive(Debug, Serialize)]
pub struct DownRow {
    pub version: i64,
    pub name: String,
    pub file: String,
    pub no_transaction: bool,
    /// The SQL, in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

impl RevertReport {
    pub fn has_problems(&self) -> bool {
        self.failed.is_some()
    }

    /// As `migrate`: a refusal of the server's, not the file's, is exit 5 (or 4, 3).
    pub fn failure(&self) -> Option<ErrorKind> {
        self.failed.as_ref().and_then(super::failure_kind)
    }
}

pub async fn revert(
    pg: &Pg,
    local: &MigrationSet,
    options: RevertOptions,
    confirm: Confirm<'_>,
    progress: &dyn Progress,
) -> Result<RevertReport> {
    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    let range = checked_range(&mut conn, pg, local, options).await?;
    let mut report = RevertReport {
        database: pg.url.to_string(),
        to: options.to,
        dry_run: options.dry_run,
        reverted: Vec::new(),
        pending: range.iter().map(|m| down_row(m, options.dry_run)).collect(),
        failed: None,
    };
    if options.dry_run || range.is_empty() {
        return Ok(report);
    }
    let files: Vec<&str> = range
        .iter()
        .filter_map(|m| m.down.as_ref().map(|d| d.file_name.as_str()))
        .collect();
    confirm(&format!(
        "Revert {} migration(s) of {} by running {}?",
        range.len(),
        pg.url,
        files.join(", ")
    ))?;

    lock::hold(&mut conn, pg, lock::LockScope::Schema, options.lock_wait).await?;
    // Another run may have changed the history while the question was asked.
    let range = checked_range(&mut conn, pg, local, options).await?;
    progress.begin(range.len() as u64, Unit::Steps);
    let outcome = migrator::revert(&mut conn, &range, |m| {
        let file = m.down.as_ref().map_or("", |d| d.file_name.as_str());
        tracing::info!("reverting {} with {file}", m.file_name);
        progress.note(file);
        progress.advance(1);
    })
    .await;
    progress.end();
    match outcome {
        Ok(done) => {
            report.reverted = done;
            report.pending.clear();
        }
        Err((done, failure)) => {
            report.pending = range
                .iter()
                .filter(|m| m.version <= failure.version)
                .map(|m| down_row(m, false))
                .collect();
            report.reverted = done;
            report.failed = Some(failure);
        }
    }
    // The downs may have dropped what the repeatable migrations define (0002's
    // functions, 0014's policies): the next `migrate` applies them all again.
    if !report.reverted.is_empty() {
        history::forget_repeatables(&mut conn).await.map_err(err)?;
    }
    lock::release(&mut conn, lock::LockScope::Schema)
        .await
        .map_err(err)?;
    Ok(report)
}

/// The migrations to revert, newest first, or the refusal (exit 2 or 1).
async fn checked_range<'a>(
    conn: &mut sqlx::PgConnection,
    pg: &Pg,
    local: &'a MigrationSet,
    options: RevertOptions,
) -> Result<Vec<&'a Migration>> {
    let err = |e| pg.error(e);
    let applied = history::read(conn).await.map_err(err)?;
    let with_rows = catalog::tables_with_rows(conn, LEDGER_TABLES)
        .await
        .map_err(err)?;
    let has_rows = |t: &str| with_rows.iter().any(|w| w == t);
    plan_revert(
        &local.versioned,
        &applied,
        options.to,
        &has_rows,
        options.force,
    )
    .map_err(revert_error)
}

fn down_row(m: &Migration, with_sql: bool) -> DownRow {
    let down = m.down.as_ref();
    DownRow {
        version: m.version,
        name: m.name.clone(),
        file: down.map(|d| d.file_name.clone()).unwrap_or_default(),
        no_transaction: down.is_some_and(|d| d.no_transaction),
        sql: down.filter(|_| with_sql).map(|d| d.sql.clone()),
    }
}

fn revert_error(e: RevertError) -> CommandError {
    match e {
        RevertError::Diverged(list) => {
            let lines: Vec<String> = list.iter().map(Divergence::describe).collect();
            CommandError::problems(format!(
                "the database's migration history diverges from the migration files; nothing was reverted:\n  {}",
                lines.join("\n  ")
            ))
            .with_hint("`rez-db migrate status` shows every migration's state")
        }
        RevertError::UnknownTarget(v) => CommandError::usage(format!(
            "version {v}: there is no migration with that version (0 reverts them all)"
        ))
        .with_hint("`rez-db migrate status` lists the versions"),
        RevertError::NoDown(files) => CommandError::usage(format!(
            "nothing was reverted: no down file for {}",
            files.join(", ")
        ))
        .with_hint("write NNNN_name.down.sql beside each, or revert to a higher version"),
        RevertError::DestroysLedger(found) => {
            let lines: Vec<String> = found
                .iter()
                .map(|(file, table)| format!("{file} would destroy the rows of {table}"))
                .collect();
            CommandError::usage(format!("nothing was reverted: {}", lines.join("; ")))
                .with_remedy(crate::error::Remedy::ForceRevert)
        }
    }
}
