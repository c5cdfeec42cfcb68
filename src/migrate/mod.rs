//! The `migrate` operation: apply the PostgreSQL migrations (the embedded set,
//! or a directory's: the face reads the files and hands over the set), then
//! the repeatable migrations that are new or changed, then bring MongoDB,
//! Redis and Elasticsearch up to their definition files
//! (`crate::provision`); [`status`] says what a run would do, [`new_migration`]
//! writes the next file, [`revert`] runs down files, [`baseline`] adopts a
//! database built outside rez-db, [`diff`] compares a database's schema with
//! what its applied migrations produce.
//!
//! Order of a run: load and check the files, connect, take the schema lock,
//! set DDL timeouts, read the history *after* the lock (another run may just
//! have applied something), plan (`crate::migration`, pure), and only then
//! apply through `store::pg::migrator`. Any divergence between files and
//! history stops the run before anything changes. A dry run and a check take
//! no lock and write nothing, not even the history table.
//!
//! A migration the server refuses stops the run; its transaction is rolled
//! back and the history records exactly the migrations applied before it,
//! which the report lists. Whose doing the refusal is decides the exit code
//! (`crate::migration::refusal`): the file's is a finding (exit 1), the
//! server's or the role's, or a failure of rez-db's own history row, means
//! the run could not do its job (exit 5, [`MigrateReport::failure`]).
//!
//! Never: parses arguments, prints, names a flag, or opens a store the face
//! did not hand it (the PostgreSQL sessions come from its [`Pg`] handle).

mod baseline;
mod diff;
mod new;
mod revert;
mod shadow_build;
mod status;

pub use crate::store::pg::migrator::{AppliedNow, Failure};
pub use crate::store::snapshot_cache::SnapshotCache;
pub use baseline::{baseline, BaselineOptions, BaselineReport};
pub use diff::{diff, DiffReport};
pub use new::{new_migration, NewReport};
pub use revert::{revert, DownRow, RevertOptions, RevertReport};
pub use shadow_build::{CacheUse, ExpectedSource};
pub use status::{
    status, status_with, RepeatableRow, RepeatableState, State, StatusReport, StatusRow,
};

use std::time::Duration;

use serde::Serialize;

use crate::definitions::Definitions;
use crate::error::{CommandError, ErrorKind, Result};
use crate::migration::{self, Divergence, Migration, MigrationSet, PlanError, Refusal, Repeatable};
use crate::progress::{Progress, Unit};
use crate::provision::{self, Connections, ObjectRow};
use crate::store::pg::migrator;
use crate::store::pg::{history, lock, Pg};

/// What a run does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Apply what is pending.
    #[default]
    Apply,
    /// Show the SQL that would run; change nothing.
    DryRun,
    /// Apply nothing; pending migrations and anything to create are problems.
    Check,
}

/// How far a run may go.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub mode: Mode,
    /// Apply migrations up to and including this version, then stop.
    pub target: Option<i64>,
    /// Drop and re-create drifted MongoDB indexes (`crate::provision`).
    pub fix_drift: bool,
    /// How long to wait for another run's lock or lease before exit 4.
    pub lock_wait: Duration,
}

#[derive(Debug, Serialize)]
pub struct MigrateReport {
    /// Empty when PostgreSQL is not among the stores.
    pub database: String,
    pub mode: Mode,
    /// Migrations that were already applied before this run.
    pub already_applied: usize,
    /// Applied by this run, in order.
    pub applied: Vec<AppliedNow>,
    /// Still to apply (for a dry run and a check: what a run would apply).
    pub pending: Vec<PendingRow>,
    /// Local migrations after the target, left for a later run.
    pub beyond_target: Vec<i64>,
    /// Repeatable migrations applied by this run, in order.
    pub repeatable_applied: Vec<String>,
    /// Repeatable migrations new or changed since their last application,
    /// still to apply (for a dry run and a check: what a run would apply).
    pub repeatable_pending: Vec<PendingRepeatable>,
    /// The migration the run stopped at (a repeatable one has version 0).
    pub failed: Option<Failure>,
    /// MongoDB, Redis and Elasticsearch objects (`crate::provision`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<ObjectRow>,
}

#[derive(Debug, Serialize)]
pub struct PendingRow {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    pub no_transaction: bool,
    /// The SQL, in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct PendingRepeatable {
    pub name: String,
    pub file: String,
    pub checksum: String,
    /// The SQL, in a dry run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

impl MigrateReport {
    fn empty(mode: Mode) -> MigrateReport {
        MigrateReport {
            database: String::new(),
            mode,
            already_applied: 0,
            applied: Vec::new(),
            pending: Vec::new(),
            beyond_target: Vec::new(),
            repeatable_applied: Vec::new(),
            repeatable_pending: Vec::new(),
            failed: None,
            stores: Vec::new(),
        }
    }

    /// Found problems: a migration the server refused, anything pending
    /// under a check, drift or a refused object on the other stores.
    pub fn has_problems(&self) -> bool {
        self.failed.is_some()
            || (self.mode == Mode::Check
                && !(self.pending.is_empty() && self.repeatable_pending.is_empty()))
            || self
                .stores
                .iter()
                .any(|r| r.is_problem(self.mode == Mode::Check))
    }

    /// `Failed` when the run could not do its job: the migration it stopped
    /// at was refused by the server for a reason of the server's or the
    /// role's (`crate::migration::refusal`), or rez-db's own statement failed
    /// (its history row). None for a refusal of the file's SQL: a finding.
    pub fn failure(&self) -> Option<ErrorKind> {
        self.failed.as_ref().and_then(failure_kind)
    }
}

/// What a migration (or a down) the run stopped at means for the run:
/// `Failed` when rez-db's own statement failed or the server refused it for
/// a reason of the server's or the role's (`crate::migration::refusal`),
/// `LockHeld` / `Unreachable` for a lock not granted / a statement timeout;
/// None for a refusal of the file's SQL: a finding.
pub fn failure_kind(failed: &Failure) -> Option<ErrorKind> {
    if failed.own_statement {
        return Some(ErrorKind::Failed);
    }
    match migration::refusal(failed.sqlstate.as_deref()) {
        Refusal::OfTheFile => None,
        Refusal::OfTheServer => Some(ErrorKind::Failed),
        Refusal::LockNotGranted => Some(ErrorKind::LockHeld),
        Refusal::TimedOut => Some(ErrorKind::Unreachable),
    }
}

/// Migrates the stores it is handed: PostgreSQL (`pg`) with the migrations
/// `local`, then the other connected stores (`others`) from their
/// definitions. The face connects the other stores before calling, so an
/// unreachable one (exit 3) stops the run before anything changed.
pub async fn run(
    pg: Option<&Pg>,
    local: &MigrationSet,
    others: Option<(&mut Connections, &Definitions)>,
    options: &Options,
    progress: &dyn Progress,
) -> Result<MigrateReport> {
    let mut report = match pg {
        Some(pg) => run_with(pg, options, local, progress).await?,
        None => MigrateReport::empty(options.mode),
    };
    if let Some((conns, defs)) = others {
        let options = provision::Options {
            dry_run: options.mode != Mode::Apply,
            fix_drift: options.fix_drift,
            command: "migrate",
            lock_wait: options.lock_wait,
        };
        report.stores = provision::apply(conns, defs, options).await?;
    }
    Ok(report)
}

/// [`run`] on PostgreSQL alone.
pub async fn run_with(
    pg: &Pg,
    options: &Options,
    local: &MigrationSet,
    progress: &dyn Progress,
) -> Result<MigrateReport> {
    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    let mode = options.mode;
    if mode == Mode::Apply {
        lock::hold(&mut conn, pg, lock::LockScope::Schema, options.lock_wait).await?;
        // A history table an older rez-db made gets its new columns now, under the lock.
        if history::exists(&mut conn).await.map_err(err)? {
            history::upgrade(&mut conn).await.map_err(err)?;
        }
    }
    let applied = history::read(&mut conn).await.map_err(err)?;
    let plan = migration::plan(&local.versioned, &applied, options.target).map_err(plan_error)?;

    let mut report = MigrateReport {
        database: pg.url.to_string(),
        already_applied: plan.applied.len(),
        beyond_target: plan.beyond_target.iter().map(|m| m.version).collect(),
        ..MigrateReport::empty(mode)
    };
    // Repeatables run after every versioned migration, so only when none is
    // left beyond the target: they may use what the last one creates.
    let last_applied = history::read_repeatable(&mut conn).await.map_err(err)?;
    let repeatables: Vec<&Repeatable> = match plan.beyond_target.is_empty() {
        true => migration::plan::changed_repeatables(
            &local.repeatable,
            &last_applied_checksums(&last_applied),
        ),
        false => Vec::new(),
    };
    if mode != Mode::Apply || (plan.pending.is_empty() && repeatables.is_empty()) {
        report.pending = plan
            .pending
            .iter()
            .map(|m| pending_row(m, mode == Mode::DryRun))
            .collect();
        report.repeatable_pending = repeatables
            .iter()
            .map(|r| repeatable_row(r, mode == Mode::DryRun))
            .collect();
        return Ok(report);
    }

    history::ensure_table(&mut conn).await.map_err(err)?;
    progress.begin((plan.pending.len() + repeatables.len()) as u64, Unit::Steps);
    let outcome = migrator::apply(&mut conn, &plan.pending, |m| {
        tracing::info!("applying {}", m.file_name);
        progress.note(&m.file_name);
        progress.advance(1);
    })
    .await;
    match outcome {
        Ok(done) => report.applied = done,
        Err((done, failure)) => {
            let failed_at = failure.version;
            report.applied = done;
            report.pending = plan
                .pending
                .iter()
                .filter(|m| m.version >= failed_at)
                .map(|m| pending_row(m, false))
                .collect();
            report.repeatable_pending = repeatables
                .iter()
                .map(|r| repeatable_row(r, false))
                .collect();
            report.failed = Some(failure);
        }
    }
    if report.failed.is_none() {
        let outcome = migrator::apply_repeatables(&mut conn, &repeatables, |r| {
            tracing::info!("applying {}", r.file_name);
            progress.note(&r.file_name);
            progress.advance(1);
        })
        .await;
        match outcome {
            Ok(done) => report.repeatable_applied = done,
            Err((done, failure)) => {
                report.repeatable_pending = repeatables
                    .iter()
                    .filter(|r| !done.contains(&r.name))
                    .map(|r| repeatable_row(r, false))
                    .collect();
                report.repeatable_applied = done;
                report.failed = Some(failure);
            }
        }
    }
    progress.end();
    lock::release(&mut conn, lock::LockScope::Schema)
        .await
        .map_err(err)?;
    Ok(report)
}

/// `(name, checksum)` of each repeatable's last application.
fn last_applied_checksums(rows: &[history::RepeatableApplied]) -> Vec<(String, String)> {
    rows.iter()
        .map(|r| (r.name.clone(), r.checksum.clone()))
        .collect()
}

fn repeatable_row(r: &Repeatable, with_sql: bool) -> PendingRepeatable {
    PendingRepeatable {
        name: r.name.clone(),
        file: r.file_name.clone(),
        checksum: r.checksum.clone(),
        sql: with_sql.then(|| r.sql.clone()),
    }
}

fn pending_row(m: &Migration, with_sql: bool) -> PendingRow {
    PendingRow {
        version: m.version,
        name: m.name.clone(),
        checksum: m.checksum.clone(),
        no_transaction: m.no_transaction,
        sql: with_sql.then(|| m.sql.clone()),
    }
}

fn plan_error(e: PlanError) -> CommandError {
    match e {
        PlanError::Diverged(list) => {
            let lines: Vec<String> = list.iter().map(Divergence::describe).collect();
            CommandError::problems(format!(
                "the database's migration history diverges from migrations/; nothing was applied:\n  {}",
                lines.join("\n  ")
            ))
            .with_hint("`rez-db migrate status` shows every migration's state")
        }
        PlanError::UnknownTarget(v) => CommandError::usage(format!(
            "target version {v}: there is no migration with that version"
        ))
        .with_hint("`rez-db migrate status` lists the versions"),
        PlanError::TargetBelowApplied { target, newest_applied } => CommandError::usage(format!(
            "target version {target} is below the newest applied version {newest_applied}; rez-db has no down migrations"
        ))
        .with_hint("write a new migration that reverses the change"),
    }
}
