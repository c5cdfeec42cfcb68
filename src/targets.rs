//! `--targets GROUP`: one command on every database of a `targets:` group.
//!
//! Part of the face, beside [`crate::run`]'s dispatch: for each target it
//! builds a [`Ctx`] whose PostgreSQL URL is the target's (everything else
//! is the run's configuration), records the run in that database's
//! operations log, and calls the command's usual `run` with it; the
//! scheduling (`--parallel`, `--keep-going`, `--canary`) is
//! [`crate::fanout`]'s. So each target has its own advisory lock, migration
//! history and operations log, exactly as if it were run alone.
//!
//! The other stores (MongoDB, Redis, Elasticsearch) are shared by the
//! group, so under `--targets` a command visits PostgreSQL alone unless the
//! stores are chosen explicitly (`--only`, REZ_DB_STORES or `stores:`):
//! provisioning a shared store once per database would only race with
//! itself. A `backup` of the group writes each target into its own folder of
//! `--to DIR` (`DIR/<target name>`).

use std::future::Future;
use std::io::{self, Write};

use crate::cli::{Cli, Command, TargetArgs};
use crate::config::{targets, Config, Overrides, StoreKind, Target};
use crate::error::{CommandError, ErrorKind, Result};
use crate::fanout::{self, Combined, Done, ErrorDoc, State};
use crate::output::{self, metrics, table, Render};
use crate::secret::redact;
use crate::{commands, oplog, partition, secret, Ctx};

/// What a run on a group leaves for the face: its exit code, one metrics
/// run per target that started, and the metrics file of the configuration.
pub struct Fanned {
    pub code: u8,
    pub runs: Vec<metrics::Run>,
    pub metrics_file: Option<std::path::PathBuf>,
}

/// Runs `cli`'s command on every database of the group `args.targets` names.
pub async fn run(cli: &Cli, mut overrides: Overrides, args: &TargetArgs) -> Result<Fanned> {
    let group = args.targets.clone().unwrap_or_default();
    overrides.default_stores = Some(vec![StoreKind::Postgres]);
    let config = Config::load(&partition::partitioned_tables(), &overrides)?;
    let list = targets::group(&config.targets, &group, config.file.as_deref())?.to_vec();
    let command = &cli.command;
    if let Command::Create(a) = command {
        if a.drop && !a.yes {
            return Err(CommandError::usage(format!(
                "refusing to drop the {} databases of `{group}` without --yes",
                list.len()
            ))
            .with_hint("rez-db cannot ask once per database of a group: pass --yes"));
        }
    }
    let options = fanout::Options {
        parallel: usize::from(args.parallel.unwrap_or(2)),
        keep_going: args.keep_going,
        canary: args.canary.map(usize::from),
        // A change stops at the first target that did not go cleanly; a
        // read-only run stops only where it could not look.
        fails_from: if command.mutation().is_some() { 1 } else { 2 },
    };
    let fan = Fan {
        cli,
        config: &config,
        group: &group,
        targets: &list,
        options: &options,
    };
    use commands::migrate::MigrateAction;
    let (code, runs) = match command {
        Command::Create(a) => {
            fan.go(|ctx| async move { commands::create::run(&ctx, a).await })
                .await?
        }
        Command::Migrate(a) => match &a.action {
            Some(MigrateAction::Status(_)) => {
                fan.go(|ctx| async move { commands::migrate::status(&ctx, a).await })
                    .await?
            }
            None => {
                fan.go(|ctx| async move { commands::migrate::run(&ctx, a).await })
                    .await?
            }
            Some(_) => {
                return Err(CommandError::bug(
                    "--targets on a migrate action without it",
                ))
            }
        },
        Command::Validate(a) => {
            fan.go(|ctx| async move { commands::validate::run(&ctx, a).await })
                .await?
        }
        Command::Status(a) => {
            fan.go(|ctx| async move { commands::status::run(&ctx, a).await })
                .await?
        }
        Command::PartitionRotate(a) => {
            fan.go(|ctx| async move { commands::partition_rotate::run(&ctx, a).await })
                .await?
        }
        Command::ExpireCoins(a) => {
            fan.go(|ctx| async move { commands::expire_coins::run(&ctx, a).await })
                .await?
        }
        Command::Backup(a) => {
            let root = commands::backup::backup_dir(&a.run)?;
            let root = &root;
            fan.go_named(|ctx, target| async move {
                commands::backup::run_into(&ctx, &a.run, root.join(&target.name)).await
            })
            .await?
        }
        _ => return Err(CommandError::bug("--targets on a command without it")),
    };
    Ok(Fanned {
        code,
        runs,
        metrics_file: config.metrics_file.clone(),
    })
}

/// One command's run over the group.
struct Fan<'a> {
    cli: &'a Cli,
    config: &'a Config,
    group: &'a str,
    targets: &'a [Target],
    options: &'a fanout::Options,
}

impl<'a> Fan<'a> {
    async fn go<R, F, Fut>(&self, one: F) -> Result<(u8, Vec<metrics::Run>)>
    where
        R: Render,
        F: Fn(Ctx) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        self.go_named(|ctx, _: &'a Target| one(ctx)).await
    }

    /// Runs `one` with each target's own [`Ctx`], prints the combined
    /// report, and returns its exit code and the targets' metrics.
    async fn go_named<R, F, Fut>(&self, one: F) -> Result<(u8, Vec<metrics::Run>)>
    where
        R: Render,
        F: Fn(Ctx, &'a Target) -> Fut,
        Fut: Future<Output = Result<R>>,
    {
        let json = self.cli.global.json;
        let command = &self.cli.command;
        let one = &one;
        let combined = fanout::run(
            &command.name(),
            self.group,
            self.targets,
            self.options,
            |target| {
                let mut config = self.config.clone();
                config.database_url = target.url.clone();
                // Bars of several databases at once would overwrite each other.
                let ctx = Ctx::new(config, json, false);
                let record = command.mutation().map(|name| oplog::Operation {
                    command: name.to_string(),
                    arguments: secret::redact_args(std::env::args()),
                    actor: ctx.config.actor.clone(),
                    started_at: chrono::Utc::now(),
                });
                async move {
                    let oplog = oplog::OpLog::begin(&ctx.pg(), record).await;
                    let (report, outcome) = match one(ctx.clone(), target).await {
                        Ok(report) => {
                            let code = output::exit_code(&report);
                            (Some(report), Ok(code))
                        }
                        Err(e) => (None, Err(e)),
                    };
                    oplog.finish(&ctx.pg(), &outcome).await;
                    done(self.group, report, outcome)
                }
            },
        )
        .await;
        output::emit(&combined, json)
            .map_err(|e| CommandError::failed(format!("cannot write the output: {e}")))?;
        let runs = combined
            .targets
            .iter()
            .filter_map(|row| metrics_run(&command.name(), self.targets, row))
            .collect();
        Ok((output::exit_code(&combined), runs))
    }
}

/// A target's outcome as a row of the combined report holds it.
fn done<R: Render>(group: &str, report: Option<R>, outcome: Result<u8>) -> Done<R> {
    match outcome {
        Ok(code) => Done {
            exit_code: code,
            summary: report.as_ref().map(summary).unwrap_or_default(),
            report,
            error: None,
        },
        Err(mut err) => {
            // A target's URL comes from its group, not from the flags the
            // remedy would name.
            let relocate = crate::error::Remedy::Relocate(StoreKind::Postgres);
            if err.remedies.contains(&relocate) {
                err.remedies.retain(|r| *r != relocate);
                err.hints.push(format!(
                    "fix the target's URL under `targets.{group}` in rez-db.yaml, or leave it out"
                ));
            }
            let err = crate::cli::word_remedies(err);
            let message = redact(&err.message);
            Done {
                exit_code: err.kind.exit_code(),
                summary: message.lines().next().unwrap_or_default().to_string(),
                report,
                error: Some(ErrorDoc {
                    kind: format!("{:?}", err.kind).to_lowercase(),
                    exit_code: err.kind.exit_code(),
                    message,
                    hints: err.hints.iter().map(|h| redact(h)).collect(),
                }),
            }
        }
    }
}

/// The last line of a report's human form that is not part of a table:
/// the commands end with the line that sums up what they did.
fn summary<R: Render>(report: &R) -> String {
    let mut text = Vec::new();
    if report.human(&mut text).is_err() {
        return String::new();
    }
    let text = String::from_utf8_lossy(&text);
    let line = text
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty() && !l.starts_with(['│', '┌', '└', '├', '╞', '╘', '╒', '─', '═']))
        .unwrap_or_default();
    redact(line)
}

/// The metrics run of a target that started; `None` for a skipped one.
fn metrics_run<R: Render>(
    command: &str,
    targets: &[Target],
    row: &fanout::Row<R>,
) -> Option<metrics::Run> {
    let (started, finished) = (row.started_at?, row.finished_at?);
    let target = targets.iter().find(|t| t.name == row.name)?;
    Some(metrics::Run {
        command: command.to_string(),
        target: target.url.server_and_database(),
        started: started.timestamp_micros() as f64 / 1e6,
        duration_secs: (finished - started).num_microseconds().unwrap_or(0) as f64 / 1e6,
        exit_code: row.exit_code?,
        samples: row.report.as_ref().map(Render::metrics).unwrap_or_default(),
    })
}

impl<R: Render> Render for Combined<R> {
    /// Each target's own report (or error) under its name, then a row per
    /// target and the total.
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        for row in &self.targets {
            if row.report.is_none() && row.error.is_none() {
                continue;
            }
            writeln!(out, "== {} ({}) ==", row.name, row.url)?;
            if let Some(report) = &row.report {
                report.human(out)?;
            }
            if let Some(e) = &row.error {
                writeln!(out, "error: {}", e.message)?;
                for hint in &e.hints {
                    writeln!(out, "hint: {hint}")?;
                }
            }
            writeln!(out)?;
        }
        let mut t = table(["target", "url", "exit", "state", "started", "ms", "summary"]);
        for row in &self.targets {
            let ms = match (row.started_at, row.finished_at) {
                (Some(s), Some(f)) => (f - s).num_milliseconds().to_string(),
                _ => String::new(),
            };
            t.add_row([
                format!("{}{}", row.name, if row.canary { " (canary)" } else { "" }),
                row.url.clone(),
                row.exit_code.map(|c| c.to_string()).unwrap_or_default(),
                state_word(row.state).to_string(),
                row.started_at
                    .map(|s| s.format("%H:%M:%S%.3f").to_string())
                    .unwrap_or_default(),
                ms,
                row.summary.clone(),
            ]);
        }
        writeln!(out, "{t}")?;
        let t = &self.total;
        writeln!(
            out,
            "{} on `{}`: {} target(s), {} ok, {} found problems, {} failed, {} not started; \
             exit {} (the worst)",
            self.command, self.group, t.targets, t.ok, t.problems, t.failed, t.skipped, t.exit_code
        )
    }

    fn has_problems(&self) -> bool {
        self.total.exit_code == ErrorKind::Problems.exit_code()
    }

    fn failure(&self) -> Option<ErrorKind> {
        ErrorKind::from_exit_code(self.total.exit_code).filter(|k| *k != ErrorKind::Problems)
    }
}

fn state_word(state: State) -> &'static str {
    match state {
        State::Ok => "ok",
        State::Problems => "found problems",
        State::Failed => "FAILED",
        State::Skipped => "not started",
    }
}
