//! rez-db: provisions and maintains the ReZ platform's four datastores.
//!
//! How the pieces fit (read top to bottom):
//! - `main.rs` parses the command line and calls [`run`]; nothing else.
//! - [`cli`] declares the flags; [`config`] turns flags, environment and
//!   `rez-db.yaml` into a [`config::Config`], the only place that reads the
//!   environment; secrets live in [`config::RedactedUrl`].
//! - [`commands`] holds one module per subcommand: an `Args` struct and an
//!   `async fn run(&Ctx, &Args) -> Result<Report>`. Commands build reports and
//!   never print; [`output`] renders a report as a table or JSON.
//! - [`migration`] is pure: the embedded migration files, their checksums and
//!   the plan of what to apply. [`store`] holds one adapter per datastore and
//!   does all I/O; `store::lease` is the run lock kept inside MongoDB, Redis
//!   and Elasticsearch (PostgreSQL's is `store::pg::lock`).
//! - [`error`] defines [`error::CommandError`] and the exit-code contract;
//!   [`redact`] scrubs every message on its way out (stderr, `--json`, the
//!   operations log, log lines): secrets never leave, file content only as
//!   the one field a message is about. [`yaml`] reads a user's YAML file
//!   (configuration, manifest) within size and nesting bounds.
//! - [`domain`] holds the business rules (money, coins, ledgers, orders,
//!   offers), pure and synchronous; every command uses it.
//! - [`definitions`] parses `mongo-indexes/`, `redis-layout.toml` and
//!   `es-mappings/` (built in, or `--definitions DIR`) and compares them with
//!   what a live store holds, purely; [`provision`] applies them through the
//!   MongoDB, Redis and Elasticsearch adapters in [`store`]; [`search`] builds
//!   the Elasticsearch documents from PostgreSQL for `reindex-es`.
//! - [`backup`] writes and verifies backup directories (`manifest.json`
//!   last) and drives pg_dump / pg_restore for `backup` and `restore`,
//!   through `store::pg::tools`, which makes sure no such child outlives
//!   rez-db; [`run`] waits for them after Ctrl-C or SIGTERM.
//! - [`seed`] turns `seeds/*.yaml` and a (rng seed, clock) pair into rows,
//!   through [`domain`]; only its loaders touch the database.
//! - [`import`] checks CSV rows through [`domain`] and loads the good ones
//!   with COPY for `import-csv`; refused rows go to a reject file.
//! - [`expire`] expires promo coins past their expiry through
//!   `domain::promo` and `domain::ledger`, honouring the application's Redis
//!   wallet locks; [`audit`] adds and removes the audit triggers, compares
//!   them with the policy and reads audit_log.
//! - [`migrate`], [`status`] and [`rotate`] are the operations of `migrate`,
//!   `status` and `partition-rotate`: options and store handles in, a report
//!   out; a report whose run could not finish says so (`output::Render::failure`).

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
pub mod import;
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
pub mod validate;

use std::process::ExitCode;

pub use context::Ctx;

use cli::{Cli, Command};
use config::{Config, Overrides};
use error::CommandError;
use output::Render;

/// Runs one parsed command line to its exit code. Ctrl-C stops the command
/// (dropping its connections rolls back any open transaction, and dropping
/// its future sends SIGTERM to a pg_dump or pg_restore child and queues the
/// release of its store leases), waits until such a child and its workers
/// have exited (SIGKILL after [`store::pg::tools::STOP_GRACE`]), gives the
/// leases back, and exits 130; SIGTERM does the same and exits 143. So once
/// rez-db's exit is seen, nothing of it still writes.
pub async fn run(cli: Cli) -> ExitCode {
    let json = cli.global.json;
    let outcome = tokio::select! {
        code = dispatch(cli) => code,
        _ = tokio::signal::ctrl_c() => {
            eprintln!("interrupted: open transactions are rolled back by the server");
            stop_children().await;
            Ok(ExitCode::from(130))
        }
        _ = terminated() => {
            eprintln!("terminated: open transactions are rolled back by the server");
            stop_children().await;
            Ok(ExitCode::from(143))
        }
    };
    // Store leases a command left behind (an error, Ctrl-C, SIGTERM) are
    // given back now, so the next run does not wait for them to expire.
    store::lease::release_abandoned(std::time::Duration::from_secs(3)).await;
    outcome.unwrap_or_else(|err| {
        let err = cli::word_remedies(err);
        output::emit_error(&err, json);
        err.exit_code()
    })
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

async fn dispatch(cli: Cli) -> Result<ExitCode, CommandError> {
    let overrides = Overrides {
        config_file: cli.global.config.clone(),
        profile: cli.global.profile.clone(),
        database_url: cli.command.pg_args().database_url.clone(),
        lock_wait_secs: cli.command.lock_args().and_then(|l| l.lock_wait),
        ..cli
            .command
            .store_args()
            .map(cli::StoreArgs::overrides)
            .unwrap_or_default()
    };
    let json = cli.global.json;
    let ctx = Ctx::new(
        Config::load(&partition::partitioned_tables(), &overrides)?,
        json,
        output::progress::enabled(json),
    );
    let record = cli.command.mutation().map(|command| oplog::Operation {
        command: command.to_string(),
        arguments: secret::redact_args(std::env::args()),
        actor: ctx.config.actor.clone(),
        started_at: chrono::Utc::now(),
    });
    let oplog = oplog::OpLog::begin(&ctx.pg(), record).await;
    let outcome = execute(&ctx, &cli.command).await;
    oplog.finish(&ctx.pg(), &outcome).await;
    outcome.map(ExitCode::from)
}

async fn execute(ctx: &Ctx, command: &Command) -> Result<u8, CommandError> {
    let json = ctx.json;
    match command {
        Command::Create(args) => finish(commands::create::run(ctx, args).await?, json),
        Command::Migrate(args) => match args.status_requested() {
            true => finish(commands::migrate::status(ctx, args).await?, json),
            false => finish(commands::migrate::run(ctx, args).await?, json),
        },
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
        Command::Backup(args) => finish(commands::backup::run(ctx, args).await?, json),
        Command::Restore(args) => finish(commands::restore::run(ctx, args).await?, json),
        Command::Status(args) => finish(commands::status::run(ctx, args).await?, json),
    }
}

fn finish<R: Render>(report: R, json: bool) -> Result<u8, CommandError> {
    output::emit(&report, json)
        .map_err(|e| CommandError::failed(format!("cannot write the output: {e}")))?;
    Ok(output::exit_code(&report))
}
