//! `rez-db partition-rotate`: the flags, the options they make from the
//! configuration's policies, and the report as a table. The rotation is
//! `crate::rotate`'s.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use clap::Args;

use crate::cli::{LockArgs, PgArgs, TargetArgs};
use crate::error::{ErrorKind, Result};
use crate::output::metrics::Sample;
use crate::output::{table, Render};
use crate::partition::plan::Action;
use crate::rotate::{self, Options, RotateReport};
use crate::Ctx;

/// Create partitions ahead of time, move rows out of DEFAULT, and detach,
/// archive and drop what is past retention (policies: `partitions:` in rez-db.yaml).
///
/// Idempotent and safe to run twice or after downtime: it reads what exists
/// and does only what is missing. A second concurrent run exits 4. With an
/// archive_dir, a partition is dropped only after an archive of it was
/// written and verified (pg_restore gives back its rows); when none can be,
/// the drop is refused and the run exits 1.
#[derive(Debug, Args)]
pub struct PartitionRotateArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Rotate as if it were this instant, RFC 3339 (2026-01-15T10:00:00Z) or a date
    /// (2026-01-15, midnight UTC): for catch-up tests and time travel
    #[arg(long, value_name = "TIMESTAMP", value_parser = crate::cli::parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Only this partitioned table (repeatable) [default: all]
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// List exactly what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,

    #[command(flatten)]
    pub targets: TargetArgs,
}

impl Render for RotateReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["table", "action", "partition", "detail"]);
        for d in &self.actions {
            let (kind, detail) = match &d.action {
                Action::Create { from, to, .. } => ("create", format!("{from} .. {to}")),
                Action::MoveAndCreate { rows, .. } => (
                    "move + create",
                    format!("{} rows out of DEFAULT", d.moved.unwrap_or(*rows as u64)),
                ),
                Action::Detach { .. } => ("detach", String::new()),
                Action::Archive {
                    path, untrusted, ..
                } => {
                    let mut detail = path.display().to_string();
                    if let Some(rows) = d.archived_rows {
                        detail.push_str(&format!(" ({rows} rows, verified)"));
                    }
                    for file in untrusted {
                        detail.push_str(&format!("\nnot trusted, kept: {file}"));
                    }
                    ("archive", detail)
                }
                Action::Drop { archive, .. } => (
                    "drop",
                    archive
                        .as_ref()
                        .map(|a| format!("archived in {}", a.display()))
                        .unwrap_or_default(),
                ),
                Action::Refused { reason, .. } => ("refused", reason.clone()),
                Action::LeftInDefault { rows, .. } => {
                    ("left in DEFAULT", format!("{rows} rows beyond retention"))
                }
            };
            t.add_row([d.table, kind, d.action.partition(), &detail]);
        }
        writeln!(out, "{t}")?;
        let verb = if self.dry_run { "would run" } else { "ran" };
        writeln!(
            out,
            "{verb} {} actions as of {}; {} rows left in DEFAULT",
            self.actions.len(),
            self.now,
            self.rows_left_in_default
        )?;
        let refused = self.refused();
        if refused > 0 {
            writeln!(
                out,
                "REFUSED: {refused} partition(s) neither archived nor dropped (see above); they stay"
            )?;
        }
        if let Some(f) = &self.failed {
            writeln!(out, "FAILED: {}", f.message)?;
        }
        Ok(())
    }

    fn has_problems(&self) -> bool {
        RotateReport::has_problems(self)
    }

    fn failure(&self) -> Option<ErrorKind> {
        RotateReport::failure(self)
    }

    fn metrics(&self) -> Vec<Sample> {
        let kinds = [
            "create",
            "move_and_create",
            "detach",
            "archive",
            "drop",
            "refused",
        ];
        let mut out: Vec<Sample> = kinds
            .iter()
            .map(|kind| {
                let n = self
                    .actions
                    .iter()
                    .filter(|d| action_kind(&d.action) == Some(*kind))
                    .count();
                Sample::count(
                    "partitions",
                    "Partitions the last run acted on, per action (or would have, under --dry-run).",
                    n as i64,
                )
                .with("action", *kind)
            })
            .collect();
        let moved: u64 = self.actions.iter().filter_map(|d| d.moved).sum();
        out.push(Sample::count(
            "rows_moved_from_default",
            "Rows the last run moved out of DEFAULT partitions.",
            moved as i64,
        ));
        out.push(Sample::count(
            "rows_left_in_default",
            "Rows left in DEFAULT partitions (periods beyond retention).",
            self.rows_left_in_default,
        ));
        out
    }
}

/// The `action` label of a done action; None for rows left in DEFAULT (their own series).
fn action_kind(action: &Action) -> Option<&'static str> {
    Some(match action {
        Action::Create { .. } => "create",
        Action::MoveAndCreate { .. } => "move_and_create",
        Action::Detach { .. } => "detach",
        Action::Archive { .. } => "archive",
        Action::Drop { .. } => "drop",
        Action::Refused { .. } => "refused",
        Action::LeftInDefault { .. } => return None,
    })
}

pub async fn run(ctx: &Ctx, args: &PartitionRotateArgs) -> Result<RotateReport> {
    let options = Options {
        now: args.now.unwrap_or_else(Utc::now),
        tables: args.tables.clone(),
        dry_run: args.dry_run,
        lock_wait: ctx.config.lock_wait,
        policies: ctx.config.partitions.clone(),
    };
    rotate::run(&ctx.pg(), &options).await
}
