//! `rez-db partition-rotate`: the nightly partition maintenance of orders,
//! wallet_transactions and audit_log. Plans with `crate::partition::plan`
//! (pure), then runs the actions one by one under the schema lock, each
//! retried with backoff when a table lock is not granted within lock_timeout.

use std::io::{self, Write};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use crate::cli::{LockArgs, PgArgs};
use crate::error::{CommandError, Result};
use crate::output::{table, Render};
use crate::partition::plan::{self, Action};
use crate::store::pg::partitions::PARTITIONED;
use crate::store::pg::{self, lock, rotate, sqlstate};
use crate::Ctx;

/// Create partitions ahead of time, move rows out of DEFAULT, and detach,
/// archive and drop what is past retention (policies: `partitions:` in rez-db.yaml).
///
/// Idempotent and safe to run twice or after downtime: it reads what exists
/// and does only what is missing. A second concurrent run exits 4.
#[derive(Debug, Args)]
pub struct PartitionRotateArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Rotate as if it were this instant (RFC 3339): for catch-up tests and time travel
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<DateTime<Utc>>,

    /// Only this partitioned table (repeatable) [default: all]
    #[arg(long = "table", value_name = "TABLE")]
    pub tables: Vec<String>,

    /// List exactly what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct RotateReport {
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    pub actions: Vec<Done>,
    /// Rows left in DEFAULT partitions (periods beyond retention).
    pub rows_left_in_default: i64,
    /// What stopped the run, if anything; the actions before it were done.
    pub failed: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct Done {
    pub table: &'static str,
    #[serde(flatten)]
    pub action: Action,
    /// Rows moved out of DEFAULT, for move_and_create.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub moved: Option<u64>,
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
                Action::Archive { path, .. } => ("archive", path.display().to_string()),
                Action::Drop { .. } => ("drop", String::new()),
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
        if let Some(f) = &self.failed {
            writeln!(out, "FAILED: {f}")?;
        }
        Ok(())
    }

    fn has_problems(&self) -> bool {
        self.failed.is_some()
    }
}

/// Attempts per action when a table lock is not granted within lock_timeout.
const ATTEMPTS: u32 = 5;

pub async fn run(ctx: &Ctx, args: &PartitionRotateArgs) -> Result<RotateReport> {
    let known: Vec<&str> = PARTITIONED.iter().map(|(t, _)| *t).collect();
    if let Some(unknown) = args.tables.iter().find(|t| !known.contains(&t.as_str())) {
        return Err(
            CommandError::usage(format!("`{unknown}` is not a partitioned table"))
                .with_hint(format!("partitioned tables: {}", known.join(", "))),
        );
    }
    let url = &ctx.config.database_url;
    let err = |e| pg::error(url, e);
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    if !args.dry_run {
        lock::hold(&mut conn, &ctx.config, lock::LockScope::Schema).await?;
        // Excludes import-csv / seed of partitioned tables and backup (shared holders).
        lock::acquire(
            &mut conn,
            url,
            lock::LockScope::Partitions,
            ctx.config.lock_wait,
        )
        .await?;
    }
    // Partition bounds print in the session's TimeZone: read and write them in UTC.
    sqlx::raw_sql("SET TIME ZONE 'UTC'")
        .execute(&mut conn)
        .await
        .map_err(err)?;
    let mut report = RotateReport {
        now: args.now.unwrap_or_else(Utc::now),
        dry_run: args.dry_run,
        actions: Vec::new(),
        rows_left_in_default: 0,
        failed: None,
    };
    'tables: for (parent, period) in PARTITIONED
        .iter()
        .filter(|(t, _)| args.tables.is_empty() || args.tables.iter().any(|a| a == t))
    {
        let policy = ctx
            .config
            .partitions
            .get(*parent)
            .cloned()
            .unwrap_or_default();
        let state = rotate::read_state(&mut conn, parent, *period, policy.archive_dir.as_deref())
            .await
            .map_err(err)?;
        for action in plan::plan(parent, *period, &policy, &state, report.now) {
            if let Action::LeftInDefault { rows, .. } = &action {
                report.rows_left_in_default += rows;
            }
            let moved = if args.dry_run {
                None
            } else {
                match execute(&mut conn, url, parent, &action).await {
                    Ok(moved) => moved,
                    Err(failure) => {
                        report.failed = Some(format!(
                            "{parent}: {} {}: {failure}",
                            kind(&action),
                            action.partition()
                        ));
                        break 'tables;
                    }
                }
            };
            report.actions.push(Done {
                table: parent,
                action,
                moved,
            });
        }
    }
    if !args.dry_run {
        lock::release(&mut conn, lock::LockScope::Schema)
            .await
            .map_err(err)?;
    }
    Ok(report)
}

fn kind(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create",
        Action::MoveAndCreate { .. } => "move",
        Action::Detach { .. } => "detach",
        Action::Archive { .. } => "archive",
        Action::Drop { .. } => "drop",
        Action::LeftInDefault { .. } => "report",
    }
}

/// Runs one action, retrying lock timeouts with backoff. Returns rows moved.
async fn execute(
    conn: &mut sqlx::PgConnection,
    url: &crate::config::RedactedUrl,
    parent: &'static str,
    action: &Action,
) -> std::result::Result<Option<u64>, String> {
    let mut attempt = 0;
    loop {
        let result = match action {
            Action::Create {
                partition,
                from,
                to,
            } => pg::partitions::ensure_range_partition(conn, parent, *from, *to, partition)
                .await
                .map(|_| None),
            Action::MoveAndCreate {
                partition,
                from,
                to,
                ..
            } => rotate::move_and_create(conn, parent, partition, *from, *to)
                .await
                .map(Some),
            Action::Detach { partition } => {
                rotate::detach(conn, parent, partition).await.map(|_| None)
            }
            Action::Archive { partition, path } => {
                return rotate::archive(url, partition, path).map(|_| None)
            }
            Action::Drop { partition } => rotate::drop_table(conn, partition).await.map(|_| None),
            Action::LeftInDefault { .. } => Ok(None),
        };
        match result {
            Err(e)
                if pg::code(&e).as_deref() == Some(sqlstate::LOCK_NOT_AVAILABLE)
                    && attempt + 1 < ATTEMPTS =>
            {
                attempt += 1;
                let pause = Duration::from_millis(250 << attempt);
                tracing::warn!(
                    "{parent}: lock not granted for {}; retrying in {pause:?}",
                    action.partition()
                );
                tokio::time::sleep(pause).await;
            }
            other => return other.map_err(|e| url.scrub(&e.to_string())),
        }
    }
}
