//! The `partition-rotate` operation: the nightly partition maintenance of
//! orders, wallet_transactions and audit_log. Plans with
//! `crate::partition::plan` (pure), then runs the actions one by one under
//! the schema and partitions locks ([`action`]), each retried with backoff
//! when a table lock is not granted within lock_timeout.
//!
//! A partition whose archive cannot be written and verified is not dropped:
//! the refusal is a finding of the report (exit 1) and the other partitions
//! and tables go on. A statement the server refuses stops the run: the
//! actions before it stay done and are reported, and the run could not do
//! its job ([`RotateReport::failure`]: exit 5, 4 for a table lock still not
//! granted after the retries, 3 for a statement past statement_timeout).
//!
//! Never: parses arguments, prints, names a flag, or reads the configuration
//! (the face hands it the policies and its PostgreSQL handle).

mod action;

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::Policy;
use crate::error::{CommandError, ErrorKind, Result};
use crate::partition::naming::{Period, PARTITIONED};
use crate::partition::plan::{self, Action};
use crate::store::pg::{archive, lock, rotate, Pg};

use action::{execute, Step, Target};

/// What to rotate, as of when.
#[derive(Debug, Clone)]
pub struct Options {
    /// The instant the run rotates as of.
    pub now: DateTime<Utc>,
    /// Only these partitioned tables; empty: all.
    pub tables: Vec<String>,
    /// List exactly what would be done; change nothing and take no lock.
    pub dry_run: bool,
    /// How long to wait for another run's lock before exit 4.
    pub lock_wait: Duration,
    /// The retention policy of each table (`partitions:` of the configuration).
    pub policies: BTreeMap<String, Policy>,
}

#[derive(Debug, Serialize)]
pub struct RotateReport {
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    pub actions: Vec<Done>,
    /// Rows left in DEFAULT partitions (periods beyond retention).
    pub rows_left_in_default: i64,
    /// What stopped the run, if anything; the actions before it were done.
    pub failed: Option<Stopped>,
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

/// The action that stopped a run: serialized as its message alone.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct Stopped {
    /// `table: action partition: what the server said`.
    pub message: String,
    /// Why it stopped, which is the run's exit code.
    #[serde(skip)]
    pub kind: ErrorKind,
}

impl RotateReport {
    /// Partitions neither archived nor dropped, because no archive could be
    /// written and verified.
    pub fn refused(&self) -> usize {
        self.actions
            .iter()
            .filter(|d| matches!(d.action, Action::Refused { .. }))
            .count()
    }

    /// A refused drop (a finding), or a run that stopped.
    pub fn has_problems(&self) -> bool {
        self.failed.is_some() || self.refused() > 0
    }

    /// The run stopped at an action the server refused: it could not do its job.
    pub fn failure(&self) -> Option<ErrorKind> {
        self.failed.as_ref().map(|f| f.kind)
    }
}

/// Attempts per action when a table lock is not granted within lock_timeout.
const ATTEMPTS: u32 = 5;

pub async fn run(pg: &Pg, options: &Options) -> Result<RotateReport> {
    let known: Vec<&str> = PARTITIONED.iter().map(|(t, _)| *t).collect();
    if let Some(unknown) = options.tables.iter().find(|t| !known.contains(&t.as_str())) {
        return Err(
            CommandError::usage(format!("`{unknown}` is not a partitioned table"))
                .with_hint(format!("partitioned tables: {}", known.join(", "))),
        );
    }
    let url = &pg.url;
    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    if !options.dry_run {
        lock::hold(&mut conn, pg, lock::LockScope::Schema, options.lock_wait).await?;
        // Excludes import-csv / seed of partitioned tables and backup (shared holders).
        lock::acquire(
            &mut conn,
            url,
            lock::LockScope::Partitions,
            options.lock_wait,
        )
        .await?;
    }
    // Partition bounds print in the session's TimeZone: read and write them in UTC.
    sqlx::raw_sql("SET TIME ZONE 'UTC'")
        .execute(&mut conn)
        .await
        .map_err(err)?;
    let mut report = RotateReport {
        now: options.now,
        dry_run: options.dry_run,
        actions: Vec::new(),
        rows_left_in_default: 0,
        failed: None,
    };
    let selected: Vec<(&'static str, Period)> = PARTITIONED
        .iter()
        .filter(|(t, _)| options.tables.is_empty() || options.tables.iter().any(|a| a == t))
        .copied()
        .collect();
    let policy = |parent: &str| options.policies.get(parent).cloned().unwrap_or_default();
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
            if options.dry_run {
                report.actions.push(done);
                continue;
            }
            let partition = done.action.partition().to_string();
            if matches!(done.action, Action::Drop { .. }) && refused.contains(&partition) {
                continue;
            }
            let target = Target {
                pg,
                parent,
                period,
                identity: identity.as_ref(),
            };
            match execute(&mut conn, target, &done.action).await {
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
                Err((kind, failure)) => {
                    report.failed = Some(Stopped {
                        message: format!(
                            "{parent}: {} {}: {failure}",
                            kind_of(&done.action),
                            done.action.partition()
                        ),
                        kind,
                    });
                    break 'tables;
                }
            }
            report.actions.push(done);
        }
    }
    if !options.dry_run {
        lock::release(&mut conn, lock::LockScope::Schema)
            .await
            .map_err(err)?;
    }
    Ok(report)
}

/// The verb of an action, in a failure's message.
fn kind_of(action: &Action) -> &'static str {
    match action {
        Action::Create { .. } => "create",
        Action::MoveAndCreate { .. } => "move",
        Action::Detach { .. } => "detach",
        Action::Archive { .. } => "archive",
        Action::Drop { .. } => "drop",
        Action::Refused { .. } | Action::LeftInDefault { .. } => "report",
    }
}
