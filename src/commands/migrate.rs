//! `rez-db migrate` and `rez-db migrate status`: the flags, the options they
//! make, and the report as a table. The work is `crate::migrate`'s.

use std::io::{self, Write};

use clap::{Args, Subcommand};

use crate::cli::{LockArgs, PgArgs, StoreArgs};
use crate::config::StoreKind;
use crate::error::{ErrorKind, Result};
use crate::migrate::{self, MigrateReport, Mode, Options, State, StatusReport};
use crate::output::{metrics::Sample, progress::Bars, table, Render};
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

#[derive(Debug, Args)]
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
            if self.failure().is_some() {
                let why = match (f.own_statement, &f.sqlstate) {
                    (true, _) => "rez-db's own statement failed (its history row), not the file's"
                        .to_string(),
                    (false, Some(code)) => {
                        format!("SQLSTATE {code} is about the server or the role, not the file")
                    }
                    (false, None) => "the server gave no answer about the file".to_string(),
                };
                writeln!(
                    out,
                    "{why}: run `rez-db migrate` again once the cause is fixed"
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
        MigrateReport::has_problems(self)
    }

    fn failure(&self) -> Option<ErrorKind> {
        MigrateReport::failure(self)
    }

    fn metrics(&self) -> Vec<Sample> {
        vec![
            Sample::count(
                "migrations_applied",
                "Migrations the last run applied.",
                self.applied.len() as i64,
            ),
            Sample::count(
                "migrations_pending",
                "Migrations still to apply after the last run.",
                self.pending.len() as i64,
            ),
        ]
    }
}

impl Render for StatusReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        if !self.database.is_empty() {
            postgres(self, out)?;
        }
        crate::commands::render::objects(&self.stores, out)
    }

    fn has_problems(&self) -> bool {
        StatusReport::has_problems(self)
    }
}

/// The migrations table and its summary line.
fn postgres(report: &StatusReport, out: &mut dyn Write) -> io::Result<()> {
    let mut t = table(["version", "name", "state", "sha256", "applied at"]);
    for r in &report.migrations {
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
    for d in &report.divergences {
        writeln!(out, "diverged: {}", d.describe())?;
    }
    let pending = report
        .migrations
        .iter()
        .filter(|r| r.state == State::Pending)
        .count();
    writeln!(
        out,
        "{}: {} migration(s), {pending} pending, {} diverged",
        report.database,
        report.migrations.len(),
        report.divergences.len()
    )
}

/// Whether the run visits PostgreSQL, and any of the other stores.
fn selected(ctx: &Ctx) -> (bool, bool) {
    let stores = &ctx.config.stores;
    (
        stores.contains(&StoreKind::Postgres),
        stores.iter().any(|s| *s != StoreKind::Postgres),
    )
}

pub async fn run(ctx: &Ctx, args: &MigrateArgs) -> Result<MigrateReport> {
    let run = &args.run;
    let (postgres, others) = selected(ctx);
    // Files first (exit 2), then every connection (exit 3): nothing changes before both pass.
    let defs = match others {
        true => Some(ctx.definitions()?),
        false => None,
    };
    let mut conns = match others {
        true => Some(ctx.connections().await?),
        false => None,
    };
    let options = Options {
        mode: match (run.dry_run, run.check) {
            (true, _) => Mode::DryRun,
            (_, true) => Mode::Check,
            _ => Mode::Apply,
        },
        target: run.target,
        fix_drift: run.fix_drift,
        lock_wait: ctx.config.lock_wait,
    };
    let pg = postgres.then(|| ctx.pg());
    let others = conns.as_mut().zip(defs);
    let mut report = migrate::run(pg.as_ref(), others, &options, &Bars::new(ctx.progress)).await?;
    crate::cli::word_object_remedies(&mut report.stores);
    Ok(report)
}

/// `migrate status`: PostgreSQL's migrations, then the other selected stores
/// as `migrate --check` sees them.
pub async fn status(ctx: &Ctx, _args: &MigrateArgs) -> Result<StatusReport> {
    let (postgres, others) = selected(ctx);
    let defs = match others {
        true => Some(ctx.definitions()?),
        false => None,
    };
    let pg = postgres.then(|| ctx.pg());
    let mut report = migrate::status(pg.as_ref(), defs.map(|d| (d, ctx.connections()))).await?;
    crate::cli::word_object_remedies(&mut report.stores);
    Ok(report)
}
