//! `rez-db migrate`: apply the embedded PostgreSQL migrations, or show them.
//!
//! Order of a run: load and check the files, connect, take the schema lock,
//! set DDL timeouts, read the history *after* the lock (another run may just
//! have applied something), plan, and only then apply. Any divergence between
//! files and history stops the run before anything changes. `--dry-run` and
//! `--check` take no lock and write nothing, not even the history table.

use std::io::{self, Write};

use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::{LockArgs, PgArgs, StoreArgs};
use crate::config::StoreKind;
use crate::error::{CommandError, Result};
use crate::migration::{self, plan::verify, Divergence, Migration, PlanError};
use crate::output::{progress, table, Render};
use crate::provision::{Connections, ObjectRow, Options};
use crate::store::pg::{self, history, lock, migrator};
use crate::Ctx;

/// Apply pending PostgreSQL migrations; bring the other stores up to their files.
///
/// PostgreSQL migrations are checksummed, locked, one transaction each. MongoDB,
/// Redis and Elasticsearch are provisioned as by `create`. Migrations are embedded in the binary. An applied migration whose file was
/// edited or deleted stops the run before anything is applied. A MongoDB index
/// or Elasticsearch mapping that differs from its file is reported as drift
/// (exit 1) and changed only with --fix-drift.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct MigrateArgs {
    #[command(subcommand)]
    pub action: Option<MigrateAction>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Args, Default)]
pub struct RunArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    /// Drop and re-create MongoDB indexes that differ from their files (a TTL is changed in place)
    #[arg(long, conflicts_with = "check")]
    pub fix_drift: bool,

    /// Print the SQL that would run and change nothing (no lock, no history table)
    #[arg(long)]
    pub dry_run: bool,

    /// Apply migrations up to and including VERSION, then stop
    #[arg(long, value_name = "VERSION")]
    pub target: Option<i64>,

    /// Apply nothing; exit 1 when any migration is pending or diverged
    #[arg(long, conflicts_with = "dry_run")]
    pub check: bool,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// List applied and pending migrations with their checksums, and what `migrate` would
    /// create or change on the other selected stores; exit 1 on divergence or drift
    Status(StatusArgs),
}

/// `migrate status` reports on the stores `migrate` works on, so it takes the
/// same store flags (`--only pg` works on both).
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,
}

impl MigrateArgs {
    pub fn pg(&self) -> &PgArgs {
        match &self.action {
            Some(MigrateAction::Status(s)) => &s.pg,
            None => &self.run.pg,
        }
    }

    pub fn stores(&self) -> &StoreArgs {
        match &self.action {
            Some(MigrateAction::Status(s)) => &s.stores,
            None => &self.run.stores,
        }
    }

    pub fn lock(&self) -> Option<&LockArgs> {
        self.action.is_none().then_some(&self.run.lock)
    }

    pub fn status_requested(&self) -> bool {
        matches!(self.action, Some(MigrateAction::Status(_)))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Apply,
    DryRun,
    Check,
}

#[derive(Debug, Serialize)]
pub struct MigrateReport {
    pub database: String,
    pub mode: Mode,
    /// Migrations that were already applied before this run.
    pub already_applied: usize,
    /// Applied by this run, in order.
    pub applied: Vec<migrator::AppliedNow>,
    /// Still to apply (for --dry-run and --check: what a run would apply).
    pub pending: Vec<PendingRow>,
    /// Local migrations after --target, left for a later run.
    pub beyond_target: Vec<i64>,
    pub failed: Option<migrator::Failure>,
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
    /// The SQL, under --dry-run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sql: Option<String>,
}

impl Render for MigrateReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.mode == Mode::DryRun {
            for p in &self.pending {
                let tx = if p.no_transaction {
                    "outside a transaction"
                } else {
                    "in one transaction"
                };
                writeln!(out, "-- migration {:04}_{}.sql ({tx})", p.version, p.name)?;
                writeln!(out, "{}\n", p.sql.as_deref().unwrap_or_default().trim_end())?;
            }
            crate::commands::render::objects(&self.stores, out)?;
            return writeln!(
                out,
                "-- dry run: {} pending, nothing was changed on {}",
                self.pending.len(),
                self.database
            );
        }
        if !self.applied.is_empty() {
            let mut t = table(["version", "name", "ms"]);
            for a in &self.applied {
                t.add_row([
                    a.version.to_string(),
                    a.name.clone(),
                    a.execution_ms.to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        if let Some(f) = &self.failed {
            let at = f.line.map(|l| format!(":{l}")).unwrap_or_default();
            writeln!(out, "FAILED migrations/{}{at}: {}", f.file, f.message)?;
            writeln!(
                out,
                "its transaction was rolled back; {} migration(s) were applied before it by this run",
                self.applied.len()
            )?;
            for index in &f.dropped_invalid_indexes {
                writeln!(
                    out,
                    "dropped INVALID index {index} left by the failed statement"
                )?;
            }
        }
        if self.mode == Mode::Check {
            for p in &self.pending {
                writeln!(out, "pending: {:04}_{}.sql", p.version, p.name)?;
            }
        }
        crate::commands::render::objects(&self.stores, out)?;
        if self.database.is_empty() {
            return Ok(());
        }
        let beyond = if self.beyond_target.is_empty() {
            String::new()
        } else {
            format!(", {} beyond --target", self.beyond_target.len())
        };
        writeln!(
            out,
            "{}: {} applied now, {} already applied, {} pending{beyond}",
            self.database,
            self.applied.len(),
            self.already_applied,
            self.pending.len()
        )
    }

    fn has_problems(&self) -> bool {
        self.failed.is_some()
            || (self.mode == Mode::Check && !self.pending.is_empty())
            || self
                .stores
                .iter()
                .any(|r| r.is_problem(self.mode == Mode::Check))
    }
}

pub async fn run(ctx: &Ctx, args: &MigrateArgs) -> Result<MigrateReport> {
    let run = &args.run;
    let stores = &ctx.config.stores;
    let others = stores.iter().any(|s| *s != StoreKind::Postgres);
    // Files first (exit 2), then every connection (exit 3): nothing changes before both pass.
    let defs = if others {
        Some(ctx.definitions()?.clone())
    } else {
        None
    };
    let mut conns = if others {
        ctx.connections().await?
    } else {
        Connections::default()
    };
    let mut report = if stores.contains(&StoreKind::Postgres) {
        run_with(ctx, run, &load_local()?).await?
    } else {
        MigrateReport {
            database: String::new(),
            mode: mode_of(run),
            already_applied: 0,
            applied: Vec::new(),
            pending: Vec::new(),
            beyond_target: Vec::new(),
            failed: None,
            stores: Vec::new(),
        }
    };
    if let Some(defs) = defs {
        let options = Options {
            dry_run: run.dry_run || run.check,
            fix_drift: run.fix_drift,
            command: "migrate",
            lock_wait: ctx.config.lock_wait,
        };
        report.stores = crate::provision::apply(&mut conns, &defs, options).await?;
        crate::cli::word_object_remedies(&mut report.stores);
    }
    Ok(report)
}

fn mode_of(run: &RunArgs) -> Mode {
    match (run.dry_run, run.check) {
        (true, _) => Mode::DryRun,
        (_, true) => Mode::Check,
        _ => Mode::Apply,
    }
}

/// [`run`] with another migration set than the embedded one (tests, tools).
pub async fn run_with(ctx: &Ctx, run: &RunArgs, local: &[Migration]) -> Result<MigrateReport> {
    let url = &ctx.config.database_url;
    let err = |e| pg::error(url, e);
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    let mode = mode_of(run);
    if mode == Mode::Apply {
        lock::hold(&mut conn, &ctx.config, lock::LockScope::Schema).await?;
    }
    let applied = history::read(&mut conn).await.map_err(err)?;
    let plan = migration::plan(local, &applied, run.target).map_err(plan_error)?;

    let mut report = MigrateReport {
        database: url.to_string(),
        mode,
        already_applied: plan.applied.len(),
        applied: Vec::new(),
        pending: Vec::new(),
        beyond_target: plan.beyond_target.iter().map(|m| m.version).collect(),
        failed: None,
        stores: Vec::new(),
    };
    if mode != Mode::Apply || plan.pending.is_empty() {
        report.pending = plan
            .pending
            .iter()
            .map(|m| pending_row(m, mode == Mode::DryRun))
            .collect();
        return Ok(report);
    }

    history::ensure_table(&mut conn).await.map_err(err)?;
    let bar = progress::steps(plan.pending.len() as u64, ctx.progress);
    let outcome = migrator::apply(&mut conn, &plan.pending, |m| {
        tracing::info!("applying {}", m.file_name);
        bar.set_message(m.file_name.clone());
        bar.inc(1);
    })
    .await;
    bar.finish_and_clear();
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
            report.failed = Some(failure);
        }
    }
    lock::release(&mut conn, lock::LockScope::Schema)
        .await
        .map_err(err)?;
    Ok(report)
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Empty when PostgreSQL is not among the stores.
    pub database: String,
    pub migrations: Vec<StatusRow>,
    pub divergences: Vec<Divergence>,
    /// MongoDB, Redis and Elasticsearch: what `migrate` would do (`crate::provision`, dry run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<ObjectRow>,
}

#[derive(Debug, Serialize)]
pub struct StatusRow {
    pub version: i64,
    pub name: String,
    pub state: State,
    pub checksum: String,
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Applied,
    Pending,
    /// Applied, but the file changed since.
    Edited,
    /// Applied, but no file in this binary.
    Missing,
    /// Never applied, yet older than the newest applied.
    OutOfOrder,
}

impl Render for StatusReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        if !self.database.is_empty() {
            self.postgres(out)?;
        }
        crate::commands::render::objects(&self.stores, out)
    }

    fn has_problems(&self) -> bool {
        !self.divergences.is_empty() || self.stores.iter().any(|r| r.is_problem(false))
    }
}

impl StatusReport {
    fn postgres(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["version", "name", "state", "sha256", "applied at"]);
        for r in &self.migrations {
            t.add_row([
                format!("{:04}", r.version),
                r.name.clone(),
                format!("{:?}", r.state).to_lowercase(),
                r.checksum.chars().take(12).collect(),
                r.applied_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default(),
            ]);
        }
        writeln!(out, "{t}")?;
        for d in &self.divergences {
            writeln!(out, "diverged: {}", d.describe())?;
        }
        let pending = self
            .migrations
            .iter()
            .filter(|r| r.state == State::Pending)
            .count();
        writeln!(
            out,
            "{}: {} migration(s), {pending} pending, {} diverged",
            self.database,
            self.migrations.len(),
            self.divergences.len()
        )
    }
}

/// `migrate status`: PostgreSQL's migrations, then the other selected stores
/// as `migrate --check` sees them. PostgreSQL is asked first, as before the
/// other stores were part of it.
pub async fn status(ctx: &Ctx, _args: &MigrateArgs) -> Result<StatusReport> {
    let stores = &ctx.config.stores;
    let others = stores.iter().any(|s| *s != StoreKind::Postgres);
    let defs = match others {
        true => Some(ctx.definitions()?.clone()),
        false => None,
    };
    let mut report = match stores.contains(&StoreKind::Postgres) {
        true => status_with(ctx, &load_local()?).await?,
        false => StatusReport {
            database: String::new(),
            migrations: Vec::new(),
            divergences: Vec::new(),
            stores: Vec::new(),
        },
    };
    if let Some(defs) = defs {
        let mut conns = ctx.connections().await?;
        let options = Options {
            dry_run: true,
            ..Options::default()
        };
        report.stores = crate::provision::apply(&mut conns, &defs, options).await?;
        crate::cli::word_object_remedies(&mut report.stores);
    }
    Ok(report)
}

/// [`status`] with another migration set than the embedded one.
pub async fn status_with(ctx: &Ctx, local: &[Migration]) -> Result<StatusReport> {
    let url = &ctx.config.database_url;
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    let applied = history::read(&mut conn)
        .await
        .map_err(|e| pg::error(url, e))?;
    let divergences = verify(local, &applied);
    let state_of = |version: i64| {
        divergences
            .iter()
            .find(|d| d.version() == version)
            .map(|d| match d {
                Divergence::Edited { .. } => State::Edited,
                Divergence::Missing { .. } => State::Missing,
                Divergence::OutOfOrder { .. } => State::OutOfOrder,
            })
    };
    let mut migrations: Vec<StatusRow> = local
        .iter()
        .map(|m| {
            let row = applied.iter().find(|a| a.version == m.version);
            StatusRow {
                version: m.version,
                name: m.name.clone(),
                state: state_of(m.version).unwrap_or(if row.is_some() {
                    State::Applied
                } else {
                    State::Pending
                }),
                checksum: m.checksum.clone(),
                applied_at: row.map(|a| a.applied_at),
            }
        })
        .collect();
    for a in applied
        .iter()
        .filter(|a| !local.iter().any(|m| m.version == a.version))
    {
        migrations.push(StatusRow {
            version: a.version,
            name: a.name.clone(),
            state: State::Missing,
            checksum: a.checksum.clone(),
            applied_at: Some(a.applied_at),
        });
    }
    migrations.sort_by_key(|r| r.version);
    Ok(StatusReport {
        database: url.to_string(),
        migrations,
        divergences,
        stores: Vec::new(),
    })
}

fn load_local() -> Result<Vec<Migration>> {
    migration::embedded()
        .map_err(|e| CommandError::bug(format!("the embedded migrations are broken: {e}")))
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
        PlanError::UnknownTarget(v) => CommandError::usage(format!("--target {v}: there is no migration with that version"))
            .with_hint("`rez-db migrate status` lists the versions"),
        PlanError::TargetBelowApplied { target, newest_applied } => CommandError::usage(format!(
            "--target {target} is below the newest applied version {newest_applied}; rez-db has no down migrations"
        ))
        .with_hint("write a new migration that reverses the change"),
    }
}
