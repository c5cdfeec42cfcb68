//! `rez-db migrate` and `rez-db migrate status`: the flags, the options they
//! make, and the report as a table. The work is `crate::migrate`'s.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::cli::{LockArgs, PgArgs, StoreArgs, TargetArgs};
use crate::config::StoreKind;
use crate::error::{ErrorKind, Result};
use crate::migrate::{
    self, AppliedNow, BaselineOptions, BaselineReport, CacheUse, DiffReport, Failure,
    MigrateReport, Mode, NewReport, Options, RepeatableState, RevertOptions, RevertReport,
    SnapshotCache, State, StatusReport,
};
use crate::output::{metrics::Sample, progress::Bars, table, Render};
use crate::Ctx;

/// Apply pending PostgreSQL migrations; bring the other stores up to their files.
///
/// PostgreSQL migrations are checksummed, locked, one transaction each. MongoDB,
/// Redis and Elasticsearch are provisioned as by `create`. Migrations are embedded in the binary,
/// or read from --migrations DIR. An applied migration whose file was
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

/// Where the migrations are.
#[derive(Debug, Args, Clone, Default)]
pub struct MigrationsArgs {
    /// Read the migrations from DIR instead of the built-in set
    /// [env: REZ_DB_MIGRATIONS; rez-db.yaml: migrations_dir]
    #[arg(long = "migrations", value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// Where `migrate baseline` and `migrate diff` build the expected schema.
#[derive(Debug, Args)]
pub struct ShadowArgs {
    /// Create the shadow database from this database URL instead of the same server's
    /// `postgres` (for a server where rez-db may not create databases)
    #[arg(long, value_name = "URL")]
    pub shadow_url: Option<String>,

    /// Build the expected schema in a shadow database even when the cache holds it; the build
    /// replaces the cached copy (cache: REZ_DB_CACHE_DIR, rez-db.yaml cache_dir, else
    /// $XDG_CACHE_HOME/rez-db or ~/.cache/rez-db)
    #[arg(long)]
    pub no_cache: bool,
}

impl ShadowArgs {
    /// How the expected schema may use `cache` (none: no directory for one).
    fn cache_use<'a>(&self, cache: Option<&'a SnapshotCache>) -> CacheUse<'a> {
        match (cache, self.no_cache) {
            (None, _) => CacheUse::Off,
            (Some(c), false) => CacheUse::Reuse(c),
            (Some(c), true) => CacheUse::Refresh(c),
        }
    }
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub migrations: MigrationsArgs,

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

    #[command(flatten)]
    pub targets: TargetArgs,
}

#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// List applied and pending migrations with their checksums, and what `migrate` would
    /// create or change on the other selected stores; exit 1 on divergence or drift
    Status(StatusArgs),
    /// Write the next numbered migration file (NNNN_NAME.sql) in the migrations directory
    ///
    /// Writes `NNNN_NAME.sql`, numbered one above the highest file of the
    /// directory (--migrations, REZ_DB_MIGRATIONS, migrations_dir:, else
    /// ./migrations), with a header comment; prints its path. Never overwrites a
    /// file and touches no database. Exit 2 on a bad NAME or directory.
    New(NewArgs),
    /// Run the down files of the applied migrations above VERSION, newest first
    ///
    /// Runs NNNN_name.down.sql of every applied migration above VERSION, newest
    /// first, each in its own transaction with its history row removed, under
    /// the schema lock. Refuses before doing anything (exit 2, naming the files)
    /// when a migration in the range has no down file, or when a down file would
    /// destroy the rows of a ledger table (wallet_transactions, wallets,
    /// payments, orders, promo_coins, audit_log) unless --force. Asks unless
    /// --yes. Exit 1 when the server refuses a down (the history still lists the
    /// migrations not reverted).
    Revert(RevertArgs),
    /// Record the migrations up to VERSION as applied to a database built outside rez-db,
    /// once its schema is proved identical to what they produce; exit 1 listing the differences
    ///
    /// Builds the schema that the migrations up to VERSION produce in a
    /// throwaway shadow database (random name, always dropped, even on Ctrl-C),
    /// compares it with the database's (tables, columns, constraints, indexes,
    /// triggers, policies, functions, views, sequences, extensions, grants;
    /// partitions that partition-rotate manages by their parent only), and
    /// records those migrations as applied in one transaction when they are
    /// identical. Exit 1 listing the differences, 2 when the database already
    /// has a migration history.
    Baseline(BaselineArgs),
    /// Compare the database's schema with what its applied migrations produce; exit 1 listing
    /// each object missing, extra or changed
    ///
    /// Builds the schema that the migrations in the database's history
    /// produce (plus the repeatable migrations whose file is the one last
    /// applied) in a throwaway shadow database (random name, always dropped,
    /// even on Ctrl-C), and compares it with the database's (tables, columns,
    /// constraints, indexes and their validity, triggers and whether enabled,
    /// policies, functions, views, sequences, extensions, grants; partitions
    /// that partition-rotate manages by their parent only). Changes nothing.
    /// Exit 1 listing each difference, 2 when the database has no migration
    /// history (adopt it with `migrate baseline`).
    Diff(DiffArgs),
}

#[derive(Debug, Args)]
pub struct NewArgs {
    /// What the migration does, in lowercase letters, digits and _ (e.g. add_user_index)
    pub name: String,

    /// Make it run outside a transaction, statement by statement (CREATE INDEX CONCURRENTLY)
    #[arg(long)]
    pub no_transaction: bool,

    #[command(flatten)]
    pub migrations: MigrationsArgs,

    #[arg(skip)]
    pub pg: PgArgs,
}

#[derive(Debug, Args)]
pub struct RevertArgs {
    /// Keep the migrations up to and including VERSION (0 reverts them all)
    #[arg(long, value_name = "VERSION")]
    pub to: i64,

    /// Print the SQL that would run and change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Do not ask for confirmation (required without a terminal)
    #[arg(long)]
    pub yes: bool,

    /// Run down files that destroy rows of a ledger table
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(flatten)]
    pub migrations: MigrationsArgs,
}

#[derive(Debug, Args)]
pub struct BaselineArgs {
    /// The newest migration the database's schema already holds
    #[arg(long, value_name = "VERSION")]
    pub to: i64,

    #[command(flatten)]
    pub shadow: ShadowArgs,

    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(flatten)]
    pub migrations: MigrationsArgs,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub shadow: ShadowArgs,

    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub migrations: MigrationsArgs,
}

/// `migrate status` reports on the stores `migrate` works on, so it takes the
/// same store flags (`--only pg` works on both).
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub migrations: MigrationsArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    #[command(flatten)]
    pub targets: TargetArgs,
}

impl MigrateArgs {
    pub fn pg(&self) -> &PgArgs {
        match &self.action {
            Some(MigrateAction::Status(s)) => &s.pg,
            Some(MigrateAction::New(a)) => &a.pg,
            Some(MigrateAction::Revert(a)) => &a.pg,
            Some(MigrateAction::Baseline(a)) => &a.pg,
            Some(MigrateAction::Diff(a)) => &a.pg,
            None => &self.run.pg,
        }
    }

    /// The store flags: `migrate` and `migrate status` visit every store;
    /// the other actions are PostgreSQL's alone.
    pub fn stores(&self) -> Option<&StoreArgs> {
        match &self.action {
            Some(MigrateAction::Status(s)) => Some(&s.stores),
            None => Some(&self.run.stores),
            Some(_) => None,
        }
    }

    /// `--targets GROUP` and its companions: `migrate` and `migrate status`.
    pub fn targets(&self) -> Option<&TargetArgs> {
        match &self.action {
            Some(MigrateAction::Status(s)) => Some(&s.targets),
            None => Some(&self.run.targets),
            Some(_) => None,
        }
    }

    /// `--migrations DIR`, whichever action this is.
    pub fn migrations_dir(&self) -> Option<PathBuf> {
        let args = match &self.action {
            Some(MigrateAction::Status(s)) => &s.migrations,
            Some(MigrateAction::New(a)) => &a.migrations,
            Some(MigrateAction::Revert(a)) => &a.migrations,
            Some(MigrateAction::Baseline(a)) => &a.migrations,
            Some(MigrateAction::Diff(a)) => &a.migrations,
            None => &self.run.migrations,
        };
        args.dir.clone()
    }

    pub fn lock(&self) -> Option<&LockArgs> {
        match &self.action {
            None => Some(&self.run.lock),
            Some(MigrateAction::Revert(a)) => Some(&a.lock),
            Some(MigrateAction::Baseline(a)) => Some(&a.lock),
            Some(_) => None,
        }
    }

    pub fn status_requested(&self) -> bool {
        matches!(self.action, Some(MigrateAction::Status(_)))
    }

    /// `--shadow-url URL` of `migrate baseline` and `migrate diff`.
    pub fn shadow_url(&self) -> Option<String> {
        match &self.action {
            Some(MigrateAction::Baseline(a)) => a.shadow.shadow_url.clone(),
            Some(MigrateAction::Diff(a)) => a.shadow.shadow_url.clone(),
            _ => None,
        }
    }

    /// The name recorded in the operations log when this run changes the database.
    pub fn mutation(&self) -> Option<&'static str> {
        match &self.action {
            None => (!self.run.dry_run && !self.run.check).then_some("migrate"),
            Some(MigrateAction::Revert(a)) => (!a.dry_run).then_some("migrate revert"),
            Some(MigrateAction::Baseline(_)) => Some("migrate baseline"),
            Some(MigrateAction::Status(_) | MigrateAction::New(_) | MigrateAction::Diff(_)) => None,
        }
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
            for r in &self.repeatable_pending {
                writeln!(
                    out,
                    "-- repeatable migration {} (in one transaction)",
                    r.file
                )?;
                writeln!(out, "{}\n", r.sql.as_deref().unwrap_or_default().trim_end())?;
            }
            crate::commands::render::objects(&self.stores, out)?;
            return writeln!(
                out,
                "-- dry run: {} pending, nothing was changed on {}",
                self.pending.len(),
                self.database
            );
        }
        done_table("version", &self.applied, out)?;
        if let Some(f) = &self.failed {
            failed_line(&format!("migrations/{}", f.file), f, out)?;
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
        for name in &self.repeatable_applied {
            writeln!(out, "applied repeatable/{name}.sql")?;
        }
        if self.mode == Mode::Check {
            for p in &self.pending {
                writeln!(out, "pending: {:04}_{}.sql", p.version, p.name)?;
            }
            for r in &self.repeatable_pending {
                writeln!(out, "pending: {}", r.file)?;
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
    if !report.repeatables.is_empty() {
        let mut t = table(["repeatable", "state", "sha256", "applied at", "times"]);
        for r in &report.repeatables {
            t.add_row([
                r.name.clone(),
                format!("{:?}", r.state).to_lowercase(),
                r.checksum.chars().take(12).collect(),
                r.applied_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_default(),
                r.applications.to_string(),
            ]);
        }
        writeln!(out, "{t}")?;
    }
    for d in &report.divergences {
        writeln!(out, "diverged: {}", d.describe())?;
    }
    let pending = report
        .migrations
        .iter()
        .filter(|r| r.state == State::Pending)
        .count();
    let repeatable = report
        .repeatables
        .iter()
        .filter(|r| matches!(r.state, RepeatableState::Pending | RepeatableState::Changed))
        .count();
    let repeatable = match report.repeatables.is_empty() {
        true => String::new(),
        false => format!(
            ", {repeatable} of {} repeatable to apply",
            report.repeatables.len()
        ),
    };
    writeln!(
        out,
        "{}: {} migration(s), {pending} pending, {} diverged{repeatable}",
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
    let migrations = match postgres {
        true => ctx.migrations()?,
        false => Default::default(),
    };
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
    let mut report = migrate::run(
        pg.as_ref(),
        &migrations,
        others,
        &options,
        &Bars::new(ctx.progress),
    )
    .await?;
    crate::cli::word_object_remedies(&mut report.stores);
    Ok(report)
}

/// The migrations a run applied (or reverted), if any: version, name, ms.
fn done_table(first: &str, done: &[AppliedNow], out: &mut dyn Write) -> io::Result<()> {
    if done.is_empty() {
        return Ok(());
    }
    let mut t = table([first, "name", "ms"]);
    for a in done {
        t.add_row([
            a.version.to_string(),
            a.name.clone(),
            a.execution_ms.to_string(),
        ]);
    }
    writeln!(out, "{t}")
}

/// `FAILED file:line: message` of the migration a run stopped at.
fn failed_line(file: &str, f: &Failure, out: &mut dyn Write) -> io::Result<()> {
    let at = f.line.map(|l| format!(":{l}")).unwrap_or_default();
    writeln!(out, "FAILED {file}{at}: {}", f.message)
}

/// `migrate status`: PostgreSQL's migrations, then the other selected stores
/// as `migrate --check` sees them.
pub async fn status(ctx: &Ctx, _args: &MigrateArgs) -> Result<StatusReport> {
    let (postgres, others) = selected(ctx);
    let migrations = match postgres {
        true => ctx.migrations()?,
        false => Default::default(),
    };
    let defs = match others {
        true => Some(ctx.definitions()?),
        false => None,
    };
    let pg = postgres.then(|| ctx.pg());
    let mut report = migrate::status(
        pg.as_ref(),
        &migrations,
        defs.map(|d| (d, ctx.connections())),
    )
    .await?;
    crate::cli::word_object_remedies(&mut report.stores);
    Ok(report)
}

/// The migrations directory `migrate new` writes into: the one configured,
/// else `./migrations`.
fn new_dir(ctx: &Ctx) -> PathBuf {
    ctx.config
        .migrations_dir
        .clone()
        .unwrap_or_else(|| PathBuf::from("migrations"))
}

/// `migrate new NAME`.
pub fn new(ctx: &Ctx, args: &NewArgs) -> Result<NewReport> {
    let dir = new_dir(ctx);
    let set = crate::context::load_migrations(Some(&dir))?;
    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    migrate::new_migration(&dir, &set, &args.name, args.no_transaction, &today)
}

impl Render for NewReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        writeln!(out, "{}", self.path)
    }
}

/// `migrate revert --to VERSION`.
pub async fn revert(ctx: &Ctx, args: &RevertArgs) -> Result<RevertReport> {
    let migrations = ctx.migrations()?;
    let confirm = |question: &str| match args.yes {
        true => Ok(()),
        false => crate::cli::confirm(question, "revert"),
    };
    let options = RevertOptions {
        to: args.to,
        dry_run: args.dry_run,
        force: args.force,
        lock_wait: ctx.config.lock_wait,
    };
    migrate::revert(
        &ctx.pg(),
        &migrations,
        options,
        &confirm,
        &Bars::new(ctx.progress),
    )
    .await
}

impl Render for RevertReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        if self.dry_run {
            for d in &self.pending {
                let tx = match d.no_transaction {
                    true => "outside a transaction",
                    false => "in one transaction",
                };
                writeln!(
                    out,
                    "-- down {} of {:04}_{} ({tx})",
                    d.file, d.version, d.name
                )?;
                writeln!(out, "{}\n", d.sql.as_deref().unwrap_or_default().trim_end())?;
            }
            return writeln!(
                out,
                "-- dry run: {} to revert, nothing was changed on {}",
                self.pending.len(),
                self.database
            );
        }
        done_table("reverted", &self.reverted, out)?;
        if let Some(f) = &self.failed {
            failed_line(&f.file, f, out)?;
            writeln!(
                out,
                "its transaction was rolled back; the history still lists {} migration(s) above {}",
                self.pending.len(),
                self.to
            )?;
        }
        writeln!(
            out,
            "{}: {} reverted, {} left above version {}",
            self.database,
            self.reverted.len(),
            self.pending.len(),
            self.to
        )
    }

    fn has_problems(&self) -> bool {
        RevertReport::has_problems(self)
    }

    fn failure(&self) -> Option<ErrorKind> {
        RevertReport::failure(self)
    }
}

/// `migrate baseline --to VERSION`.
pub async fn baseline(ctx: &Ctx, args: &BaselineArgs) -> Result<BaselineReport> {
    let migrations = ctx.migrations()?;
    let pg = ctx.pg();
    let shadow_admin = ctx.shadow_server();
    let options = BaselineOptions {
        to: args.to,
        lock_wait: ctx.config.lock_wait,
    };
    let cache = ctx.snapshot_cache();
    migrate::baseline(
        &pg,
        &shadow_admin,
        &migrations,
        &crate::partition::partitioned_tables(),
        options,
        args.shadow.cache_use(cache.as_ref()),
        &Bars::new(ctx.progress),
    )
    .await
}

impl Render for BaselineReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        for d in &self.differences {
            writeln!(out, "{}", d.describe())?;
        }
        writeln!(out, "{}", self.expected_schema.describe())?;
        match self.differences.is_empty() {
            true => writeln!(
                out,
                "{}: the schema is what migrations up to {:04} produce ({} objects compared); \
                 recorded {} migration(s) and {} repeatable as applied",
                self.database,
                self.to,
                self.compared,
                self.recorded.len(),
                self.recorded_repeatable.len()
            ),
            false => writeln!(
                out,
                "{}: {} difference(s) from what migrations up to {:04} produce; nothing was recorded",
                self.database,
                self.differences.len(),
                self.to
            ),
        }
    }

    fn has_problems(&self) -> bool {
        BaselineReport::has_problems(self)
    }
}

/// `migrate diff`.
pub async fn diff(ctx: &Ctx, args: &DiffArgs) -> Result<DiffReport> {
    let migrations = ctx.migrations()?;
    let cache = ctx.snapshot_cache();
    migrate::diff(
        &ctx.pg(),
        &ctx.shadow_server(),
        &migrations,
        &crate::partition::partitioned_tables(),
        args.shadow.cache_use(cache.as_ref()),
        &Bars::new(ctx.progress),
    )
    .await
}

impl Render for DiffReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        for d in &self.differences {
            writeln!(out, "{}", d.describe())?;
        }
        for name in &self.repeatables_not_reproduced {
            writeln!(
                out,
                "not compared: repeatable/{name}.sql was never applied or changed since (its objects may show as extra or changed)"
            )?;
        }
        writeln!(out, "{}", self.expected_schema.describe())?;
        let newest = self.versions.iter().max().copied().unwrap_or_default();
        match self.differences.is_empty() {
            true => writeln!(
                out,
                "{}: the schema is what its {} applied migration(s) (newest {newest:04}) produce ({} objects compared)",
                self.database,
                self.versions.len(),
                self.compared
            ),
            false => writeln!(
                out,
                "{}: {} difference(s) from what its {} applied migration(s) (newest {newest:04}) produce",
                self.database,
                self.differences.len(),
                self.versions.len()
            ),
        }
    }

    fn has_problems(&self) -> bool {
        DiffReport::has_problems(self)
    }
}
