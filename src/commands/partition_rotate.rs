//! `rez-db partition-rotate`: the nightly partition maintenance of orders,
//! wallet_transactions and audit_log. Plans with `crate::partition::plan`
//! (pure), then runs the actions one by one under the schema lock, each
//! retried with backoff when a table lock is not granted within lock_timeout.
//! A partition whose archive cannot be written and verified is not dropped:
//! the refusal is reported (exit 1) and the other partitions and tables go on.

use std::collections::HashSet;
use std::io::{self, Write};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use crate::cli::{LockArgs, PgArgs};
use crate::config::Config;
use crate::error::{CommandError, Result};
use crate::output::{table, Render};
use crate::partition::archive::Identity;
use crate::partition::naming::{partition_named, Period, PARTITIONED};
use crate::partition::plan::{self, Action};
use crate::store::pg::{self, archive, lock, rotate, sqlstate};
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
    /// Rows the archive holds (verified), for archive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub archived_rows: Option<i64>,
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
            writeln!(out, "FAILED: {f}")?;
        }
        Ok(())
    }

    fn has_problems(&self) -> bool {
        self.failed.is_some() || self.refused() > 0
    }
}

impl RotateReport {
    fn refused(&self) -> usize {
        self.actions
            .iter()
            .filter(|d| matches!(d.action, Action::Refused { .. }))
            .count()
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
    let selected: Vec<(&'static str, Period)> = PARTITIONED
        .iter()
        .filter(|(t, _)| args.tables.is_empty() || args.tables.iter().any(|a| a == t))
        .copied()
        .collect();
    let policy = |parent: &str| {
        ctx.config
            .partitions
            .get(parent)
            .cloned()
            .unwrap_or_default()
    };
    // Archives are filed under the database they come from (issue 12).
    let identity = match selected
        .iter()
        .any(|(t, _)| policy(t).archive_dir.is_some())
    {
        true => Some(archive::identity(&mut conn, url).await.map_err(err)?),
        false => None,
    };
    'tables: for (parent, period) in selected {
        let policy = policy(parent);
        let folder = policy
            .archive_dir
            .as_ref()
            .zip(identity.as_ref())
            .map(|(dir, id)| dir.join(id.folder_name()));
        // Only what leaves the table is archived: without retention, nothing.
        let cutoff = plan::retention_cutoff(parent, period, &policy, report.now);
        let archives = match (&folder, &identity, cutoff) {
            (Some(folder), Some(identity), Some(cutoff)) => Some(rotate::Archives {
                folder,
                identity,
                cutoff,
            }),
            _ => None,
        };
        let state = rotate::read_state(&mut conn, parent, period, archives)
            .await
            .map_err(err)?;
        // Partitions whose archive failed: their drop is skipped.
        let mut refused: HashSet<String> = HashSet::new();
        for action in plan::plan(parent, period, &policy, &state, report.now) {
            if let Action::LeftInDefault { rows, .. } = &action {
                report.rows_left_in_default += rows;
            }
            let mut done = Done {
                table: parent,
                action,
                moved: None,
                archived_rows: None,
            };
            if args.dry_run {
                report.actions.push(done);
                continue;
            }
            let partition = done.action.partition().to_string();
            if matches!(done.action, Action::Drop { .. }) && refused.contains(&partition) {
                continue;
            }
            let target = Target {
                parent,
                period,
                identity: identity.as_ref(),
            };
            match execute(&mut conn, &ctx.config, target, &done.action).await {
                Ok(Step::Done {
                    moved,
                    archived_rows,
                }) => {
                    done.moved = moved;
                    done.archived_rows = archived_rows;
                }
                Ok(Step::Refused(reason)) => {
                    tracing::warn!("{parent}: {partition}: {reason}");
                    refused.insert(partition.clone());
                    done.action = Action::Refused { partition, reason };
                }
                Err(failure) => {
                    report.failed = Some(format!(
                        "{parent}: {} {}: {failure}",
                        kind(&done.action),
                        done.action.partition()
                    ));
                    break 'tables;
                }
            }
            report.actions.push(done);
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
        Action::Refused { .. } | Action::LeftInDefault { .. } => "report",
    }
}

/// The table an action is about, and whose database's archives it writes.
#[derive(Clone, Copy)]
struct Target<'a> {
    parent: &'static str,
    period: Period,
    identity: Option<&'a Identity>,
}

/// How an action ended when it did not fail.
enum Step {
    Done {
        /// Rows moved out of DEFAULT.
        moved: Option<u64>,
        /// Rows in the archive written and verified.
        archived_rows: Option<i64>,
    },
    /// Not archived or not dropped, and why: the table stays.
    Refused(String),
}

impl Step {
    fn moved(rows: Option<u64>) -> Step {
        Step::Done {
            moved: rows,
            archived_rows: None,
        }
    }
}

/// Writes and verifies the archive of `partition` at `path`: refused (not
/// failed) when it cannot be, so that its drop is skipped and the run goes on.
async fn archive_one(
    conn: &mut sqlx::PgConnection,
    config: &Config,
    target: Target<'_>,
    partition: &str,
    path: &std::path::Path,
) -> Step {
    let bounds = partition_named(target.parent, target.period, partition);
    let (Some(identity), Some(bounds)) = (target.identity, bounds) else {
        return Step::Refused(format!(
            "not archived, so not dropped: no bounds or database identity for {partition}"
        ));
    };
    let url = &config.database_url;
    match archive::write(conn, url, config.lock_timeout, identity, &bounds, path).await {
        Ok(sidecar) => Step::Done {
            moved: None,
            archived_rows: Some(sidecar.rows),
        },
        Err(e) => Step::Refused(format!("not archived, so not dropped: {e}")),
    }
}

/// Runs one action, retrying lock timeouts with backoff.
async fn execute(
    conn: &mut sqlx::PgConnection,
    config: &Config,
    target: Target<'_>,
    action: &Action,
) -> std::result::Result<Step, String> {
    let url = &config.database_url;
    let parent = target.parent;
    let mut attempt = 0;
    loop {
        let result = match action {
            Action::Create {
                partition,
                from,
                to,
            } => pg::partitions::ensure_range_partition(conn, parent, *from, *to, partition)
                .await
                .map(|_| Step::moved(None)),
            Action::MoveAndCreate {
                partition,
                from,
                to,
                ..
            } => rotate::move_and_create(conn, parent, partition, *from, *to)
                .await
                .map(|rows| Step::moved(Some(rows))),
            Action::Detach { partition } => rotate::detach(conn, parent, partition)
                .await
                .map(|_| Step::moved(None)),
            Action::Archive {
                partition, path, ..
            } => return Ok(archive_one(conn, config, target, partition, path).await),
            Action::Drop { partition, archive } => {
                let archived_rows = match archive.as_deref().map(archive::recorded_rows) {
                    None => None,
                    Some(Ok(rows)) => Some(rows),
                    Some(Err(e)) => return Ok(Step::Refused(format!("not dropped: {e}"))),
                };
                rotate::drop_table(conn, partition, archived_rows)
                    .await
                    .map(|refusal| refusal.map_or(Step::moved(None), Step::Refused))
            }
            Action::Refused { reason, .. } => return Ok(Step::Refused(reason.clone())),
            Action::LeftInDefault { .. } => Ok(Step::moved(None)),
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
