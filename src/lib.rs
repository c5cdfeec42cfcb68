//! rez-db: provisions and maintains the ReZ platform's four datastores.
//!
//! # The map
//!
//! Six layers, each using only the layers below it; `tests/architecture.rs`
//! reads every `crate::` and `super::` path of `src/` and fails, naming the
//! file and the path, when one points the wrong way.
//!
//! - **Face**: `main.rs` (parse, log, runtime, exit code), this file ([`run`]:
//!   Ctrl-C and SIGTERM, the operations log, dispatch), [`cli`] (the flags;
//!   the words of every hint that names one: `cli::remedy_hint`), [`context`]
//!   ([`Ctx`]: the configuration and the store handles, each opened once, on
//!   first use) and [`commands`] (one file per subcommand: its `Args`, the
//!   options it builds, the one operation it calls, the `Render` of the
//!   report), and [`targets`] (`--targets GROUP`: per database of a
//!   `targets:` group, the `Ctx` of a single run with that database's URL,
//!   its operations log, and the command's usual `run`; like this file's
//!   dispatch, it calls commands, which never call each other). *Invariant*:
//!   a command never holds an operation's logic, never touches a store
//!   itself, never calls another command.
//! - **Output**: [`output`] renders a report as a table or one JSON document,
//!   draws progress bars on a terminal, and writes the metrics file of
//!   `--metrics-file` (`output::metrics`: the series a report hands it). *Invariant*: it knows no operation.
//! - **Operations**, one folder each: options, store handles and a
//!   [`progress::Progress`] in, a serializable report out. *Invariant*: never
//!   `Ctx`, a clap type, `output::` or one of rez-db's flag names (a way out
//!   that names a flag is an [`error::Remedy`] the face words). An operation
//!   may call another (restore calls provision and validate).
//! - **Core**, pure and synchronous, no I/O: [`domain`] (the business rules:
//!   money, coins, ledgers, orders, offers, promo lots; every integrity check,
//!   import rule, seed and expiry computes through it), [`migration`]
//!   (embedded files, checksums, the plan), [`definitions`] (the other stores'
//!   definitions and the seed reference data, parsed and compared),
//!   [`partition`] (naming, planning, archive naming), [`progress`], [`lint`]
//!   (the hazards of migration files, from PostgreSQL's own parse trees).
//! - **Stores**: [`store`], one adapter per datastore (`store::pg` with its
//!   run locks, `store::lease` for the locks kept inside MongoDB, Redis and
//!   Elasticsearch, `store::pg::tools` for pg_dump/pg_restore children that
//!   never outlive rez-db, `store::snapshot_cache` for the expected schemas
//!   kept on local disk). *Invariant*: never an operation, command, output
//!   or flag.
//! - **Bottom**: [`config`] (flags as `Overrides`, environment, `rez-db.yaml`;
//!   never connects), [`secret`] (`RedactedUrl`; every message leaving the
//!   process is redacted once, at the exits), [`error`] (`CommandError`, the
//!   exit-code contract: 0 ok, 1 found problems, 2 usage, 3 unreachable, 4
//!   lock held, 5 could not do its job, 130/143 signals, 255 a bug).
//!
//! # Where each command's operation lives
//!
//! | command | face | operation |
//! |---|---|---|
//! | `create` | `commands/create.rs` | [`provision`] (PostgreSQL: database, extensions, roles; the other stores from their definitions) |
//! | `migrate`, `migrate status`, `new`, `revert`, `baseline`, `diff` | `commands/migrate.rs` | [`migrate`] (through `store::pg::migrator`, then [`provision`]; baseline and diff through `store::pg::shadow` and `store::pg::catalog`, their expected schema cached by `store::snapshot_cache` under the key `migration::snapshot_key` computes) |
//! | `seed` | `commands/seed.rs` | [`seed`] (`seed::run`: reference, synthetic, `--redis-only`) |
//! | `import-csv` | `commands/import_csv.rs` | [`import`] (`import::run`) |
//! | `validate` | `commands/validate.rs` | [`validate`] |
//! | `partition-rotate` | `commands/partition_rotate.rs` | [`rotate`] (planned by [`partition`]) |
//! | `expire-coins` | `commands/expire_coins.rs` | [`expire`] |
//! | `audit` | `commands/audit.rs` | [`audit`] |
//! | `reindex-es` | `commands/reindex_es.rs` | [`search`] (`search::reindex::run`) |
//! | `backup`, `backup prune`, `restore` | `commands/backup.rs`, `commands/restore.rs` | [`backup`] (prune in `backup::prune`, the version checks in `backup::versions`, age encryption in `backup::crypt`, restore in `backup::restore`, calling [`provision`] and [`validate`]) |
//! | `status` | `commands/status.rs` | [`status`] |
//! | `lint` | `commands/lint.rs` (reads the files) | [`lint`] (core: pure, no operation needed) |
//! | any of `create`, `migrate` (`status`), `validate`, `status`, `partition-rotate`, `expire-coins`, `backup` with `--targets GROUP` | [`targets`] (one `Ctx` per database, the command's own `run` on it) | [`fanout`] (bounded concurrency, `--keep-going`, `--canary`, the combined report and its worst exit code), generic over the command's report: a fan-out that knows no store and no command is reusable by all of them, and each target stays an ordinary run with its own locks and history |
//!
//! Every mutating run is recorded by [`oplog`] in `rez_meta.operations`.

pub mod audit;
pub mod backup;
pub mod cli;
pub mod commands;
pub mod config;
pub mod context;
pub mod definitions;
pub mod domain;
pub mod error;
pub mod expire;
pub mod fanout;
pub mod import;
pub mod lint;
pub mod migrate;
pub mod migration;
pub mod oplog;
pub mod output;
pub mod partition;
pub mod progress;
pub mod provision;
pub mod rotate;
pub mod search;
pub mod secret;
pub mod seed;
pub mod status;
pub mod store;
pub mod targets;
pub mod validate;

use std::process::ExitCode;

pub use context::Ctx;

use cli::{Cli, Command};
use config::{Config, Overrides};
use error::{CommandError, ErrorKind};
use output::Render;

/// Runs one parsed command line to its exit code. Ctrl-C stops the command
/// (dropping its connections rolls back any open transaction, and dropping
/// its future sends SIGTERM to a pg_dump or pg_restore child and queues the
/// release of its store leases), waits until such a child and its workers
/// have exited (SIGKILL after [`store::pg::tools::STOP_GRACE`]), gives the
/// leases back, drops the shadow databases it made, and exits 130; SIGTERM
/// does the same and exits 143. So once rez-db's exit is seen, nothing of it
/// still writes.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.global.json;
    let clock = std::time::Instant::now();
    let mut metrics = Metrics {
        file: cli.global.metrics_file.clone(),
        target: "unknown".to_string(),
        samples: Vec::new(),
        runs: Vec::new(),
    };
    let outcome = tokio::select! {
        code = dispatch(&cli, &mut metrics) => code,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: open transactions are rolled back by the server");
            stop_children().await;
            Ok(130)
        }
        _ = terminated() => {
            eprintln!("terminated: open transactions are rolled back by the server");
            stop_children().await;
            Ok(143)
        }
    };
    // Shadow databases a command left behind (an error, Ctrl-C, SIGTERM)
    // are dropped now: a shadow never outlives the run that made it.
    store::pg::shadow::drop_abandoned(std::time::Duration::from_secs(10)).await;
    // Store leases a command left behind (an error, Ctrl-C, SIGTERM) are
    // given back now, so the next run does not wait for them to expire.
    store::lease::release_abandoned(std::time::Duration::from_secs(3)).await;
    // Last, once no lease or command uses MongoDB any more.
    store::mongo::close_all(std::time::Duration::from_secs(3)).await;
    let code = outcome.unwrap_or_else(|err| {
        let err = cli::word_remedies(err);
        output::emit_error(&err, json);
        err.kind.exit_code()
    });
    ExitCode::from(metrics.record(&cli.command, clock, code))
}

/// Where the metrics of this run go (`--metrics-file`, `metrics_file:`),
/// filled in as the run learns it: the file and target once the
/// configuration is read, the samples from the command's report.
struct Metrics {
    file: Option<std::path::PathBuf>,
    target: String,
    samples: Vec<output::metrics::Sample>,
    /// Under `--targets`: one run per database of the group that started,
    /// each recorded under its own `target` label instead of the one above.
    runs: Vec<output::metrics::Run>,
}

impl Metrics {
    /// Writes the run into the metrics file, if there is one; the exit code
    /// to leave with. A metrics file that cannot be written fails a run that
    /// would exit 0 (exit 5): a cron job's monitoring must not go blind
    /// silently. A run that already failed keeps its own exit code.
    fn record(self, command: &Command, clock: std::time::Instant, code: u8) -> u8 {
        let Some(file) = &self.file else {
            return code;
        };
        let duration = clock.elapsed();
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .saturating_sub(duration);
        let runs = match self.runs.is_empty() {
            true => vec![output::metrics::Run {
                command: command.name(),
                target: self.target,
                started: started.as_secs_f64(),
                duration_secs: duration.as_secs_f64(),
                exit_code: code,
                samples: self.samples,
            }],
            false => self.runs,
        };
        match runs
            .iter()
            .try_for_each(|run| output::metrics::record(file, run))
        {
            Ok(()) => code,
            Err(e) => {
                eprintln!(
                    "error: cannot write the metrics file {}: {e}",
                    file.display()
                );
                if code == 0 {
                    ErrorKind::Failed.exit_code()
                } else {
                    code
                }
            }
        }
    }
}

/// After an interruption: the command's future is dropped; waits for the
/// PostgreSQL client tools it ran to exit.
async fn stop_children() {
    let count = store::pg::tools::count();
    if count > 0 {
        eprintln!("waiting for {count} pg_dump/pg_restore process group(s) to stop");
    }
    let left = store::pg::tools::stop_all(store::pg::tools::STOP_GRACE).await;
    if !left.is_empty() {
        eprintln!("process group(s) {left:?} did not stop even after SIGKILL");
    }
}

/// Resolves on SIGTERM (what `kill`, systemd and container runtimes send),
/// which would otherwise end the process without dropping anything.
async fn terminated() {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(mut term) => {
            term.recv().await;
        }
        // Without a handler SIGTERM keeps its default action: never resolve.
        Err(_) => std::future::pending().await,
    }
    #[cfg(not(unix))]
    std::future::pending::<()>().await
}

async fn dispatch(cli: &Cli, metrics: &mut Metrics) -> Result<u8, CommandError> {
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        profile: cli.global.profile.clone(),
        database_url: cli.command.pg_args().database_url.clone(),
        lock_wait_secs: cli.command.lock_args().and_then(|l| l.lock_wait),
        metrics_file: cli.global.metrics_file.clone(),
        migrations_dir: cli.command.migrations_dir(),
        shadow_url: cli.command.shadow_url(),
        ..cli
            .command
            .store_args()
            .map(cli::StoreArgs::overrides)
            .unwrap_or_default()
    };
    if let Some(args) = cli.command.target_args().filter(|a| a.targets.is_some()) {
        let fanned = targets::run(cli, overrides, args).await?;
        metrics.file = fanned.metrics_file;
        metrics.runs = fanned.runs;
        return Ok(fanned.code);
    }
    let json = cli.global.json;
    let config = Config::load(&partition::partitioned_tables(), &overrides)?;
    metrics.file = config.metrics_file.clone();
    metrics.target = config.database_url.server_and_database();
    let ctx = Ctx::new(config, json, output::progress::enabled(json));
    let record = cli.command.mutation().map(|command| oplog::Operation {
        command: command.to_string(),
        arguments: secret::redact_args(std::env::args()),
        actor: ctx.config.actor.clone(),
        started_at: chrono::Utc::now(),
    });
    let oplog = oplog::OpLog::begin(&ctx.pg(), record).await;
    let outcome = execute(&ctx, &cli.command).await.map(|(code, samples)| {
        metrics.samples = samples;
        code
    });
    oplog.finish(&ctx.pg(), &outcome).await;
    outcome
}

/// The exit code of the command, and what it did for the metrics file.
async fn execute(
    ctx: &Ctx,
    command: &Command,
) -> Result<(u8, Vec<output::metrics::Sample>), CommandError> {
    let json = ctx.json;
    match command {
        Command::Create(args) => finish(commands::create::run(ctx, args).await?, json),
        Command::Migrate(args) => {
            use commands::migrate::{self as m, MigrateAction as A};
            match &args.action {
                Some(A::Status(_)) => finish(m::status(ctx, args).await?, json),
                Some(A::New(a)) => finish(m::new(ctx, a)?, json),
                Some(A::Revert(a)) => finish(m::revert(ctx, a).await?, json),
                Some(A::Baseline(a)) => finish(m::baseline(ctx, a).await?, json),
                Some(A::Diff(a)) => finish(m::diff(ctx, a).await?, json),
                None => finish(m::run(ctx, args).await?, json),
            }
        }
        Command::Seed(args) => finish(commands::seed::run(ctx, args).await?, json),
        Command::ImportCsv(args) => finish(commands::import_csv::run(ctx, args).await?, json),
        Command::ExpireCoins(args) => finish(commands::expire_coins::run(ctx, args).await?, json),
        Command::PartitionRotate(args) => {
            finish(commands::partition_rotate::run(ctx, args).await?, json)
        }
        Command::Audit(args) => finish(commands::audit::run(ctx, args).await?, json),
        Command::Validate(args) if args.list => finish(commands::validate::list(), json),
        Command::Validate(args) => finish(commands::validate::run(ctx, args).await?, json),
        Command::ReindexEs(args) => finish(commands::reindex_es::run(ctx, args).await?, json),
        Command::Backup(args) => match &args.action {
            Some(commands::backup::BackupAction::Prune(prune)) => {
                finish(commands::backup::prune(prune)?, json)
            }
            None => finish(commands::backup::run(ctx, &args.run).await?, json),
        },
        Command::Restore(args) => finish(commands::restore::run(ctx, args).await?, json),
        Command::Status(args) => finish(commands::status::run(ctx, args).await?, json),
        Command::Lint(args) if args.rules => finish(commands::lint::list(), json),
        Command::Lint(args) => finish(commands::lint::run(ctx, args)?, args.json(json)),
    }
}

fn finish<R: Render>(
    report: R,
    json: bool,
) -> Result<(u8, Vec<output::metrics::Sample>), CommandError> {
    output::emit(&report, json)
        .map_err(|e| CommandError::failed(format!("cannot write the output: {e}")))?;
    Ok((output::exit_code(&report), report.metrics()))
}
