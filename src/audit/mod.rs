//! Trigger-based row auditing into audit_log: add or remove the
//! `audit_<table>` trigger, compare the audited tables with the policy
//! (`audit: tables:` in rez-db.yaml), read the history of a table or a row.
//! Writers say who they are with `SET LOCAL app.actor = '...'`.
//!
//! Table names come from users: each is checked against the catalog before
//! anything changes, and the SQL (`store::pg::audit`) quotes them. It never
//! sees the command line or the context, and never prints: options and the
//! PostgreSQL handle in, a [`Report`] out.

use std::time::Duration;

use serde::Serialize;
use sqlx::PgConnection;

use crate::error::{CommandError, Result};
use crate::store::pg::{audit, lock, Pg};

pub use crate::store::pg::audit::{Entry, Filter};

/// What to do.
#[derive(Debug, Clone)]
pub enum Options {
    /// Add or remove the audit trigger of tables.
    Change(Change),
    /// Which tables are audited, against the tables the policy requires.
    Status { required: Vec<String> },
    /// Read audit_log.
    Log(Filter),
}

/// Turning auditing on or off.
#[derive(Debug, Clone)]
pub struct Change {
    /// On (true) or off.
    pub enable: bool,
    pub tables: Vec<String>,
    /// Report what would change and change nothing (no lock is taken).
    pub dry_run: bool,
    /// How long to wait for another run's schema lock.
    pub lock_wait: Duration,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Report {
    Change(ChangeReport),
    Status(StatusReport),
    Log(LogReport),
}

#[derive(Debug, Serialize)]
pub struct ChangeReport {
    pub dry_run: bool,
    pub tables: Vec<TableChange>,
}

#[derive(Debug, Serialize)]
pub struct TableChange {
    pub table: String,
    /// enabled, disabled, unchanged (or would_enable / would_disable).
    pub action: &'static str,
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub tables: Vec<TableStatus>,
    /// Tables the policy requires that are not audited.
    pub gaps: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct TableStatus {
    pub table: String,
    pub audited: bool,
    pub required: bool,
}

#[derive(Debug, Serialize)]
pub struct LogReport {
    pub entries: Vec<Entry>,
}

pub async fn run(opts: &Options, pg: &Pg) -> Result<Report> {
    let mut conn = pg.connect().await?;
    match opts {
        Options::Change(change) => self::change(&mut conn, pg, change)
            .await
            .map(Report::Change),
        Options::Status { required } => status(&mut conn, pg, required).await.map(Report::Status),
        Options::Log(filter) => {
            let entries = audit::log(&mut conn, filter)
                .await
                .map_err(|e| pg.error(e))?;
            Ok(Report::Log(LogReport { entries }))
        }
    }
}

async fn change(conn: &mut PgConnection, pg: &Pg, change: &Change) -> Result<ChangeReport> {
    let err = |e| pg.error(e);
    let known = audit::auditable_tables(conn).await.map_err(err)?;
    if let Some(bad) = change.tables.iter().find(|t| !known.contains(t)) {
        return Err(
            CommandError::usage(format!("`{bad}` is not a table that can be audited")).with_hint(
                "name a table of the public schema (audit_log itself cannot be audited)",
            ),
        );
    }
    if !change.dry_run {
        lock::hold(conn, pg, lock::LockScope::Schema, change.lock_wait).await?;
    }
    let audited = audit::audited_tables(conn).await.map_err(err)?;
    let mut report = ChangeReport {
        dry_run: change.dry_run,
        tables: Vec::new(),
    };
    for table in &change.tables {
        let is_on = audited.contains(table);
        let action = match (change.enable, is_on, change.dry_run) {
            (true, true, _) | (false, false, _) => "unchanged",
            (true, false, true) => "would_enable",
            (false, true, true) => "would_disable",
            (true, false, false) => {
                audit::enable(conn, table).await.map_err(err)?;
                "enabled"
            }
            (false, true, false) => {
                audit::disable(conn, table).await.map_err(err)?;
                "disabled"
            }
        };
        report.tables.push(TableChange {
            table: table.clone(),
            action,
        });
    }
    Ok(report)
}

async fn status(conn: &mut PgConnection, pg: &Pg, required: &[String]) -> Result<StatusReport> {
    let err = |e| pg.error(e);
    let known = audit::auditable_tables(conn).await.map_err(err)?;
    let audited = audit::audited_tables(conn).await.map_err(err)?;
    if let Some(bad) = required.iter().find(|t| !known.contains(t)) {
        return Err(CommandError::usage(format!(
            "the audit policy names `{bad}`, which is not a table"
        ))
        .with_hint("fix `audit: tables:` in rez-db.yaml"));
    }
    Ok(StatusReport {
        tables: known
            .iter()
            .map(|t| TableStatus {
                table: t.clone(),
                audited: audited.contains(t),
                required: required.contains(t),
            })
            .collect(),
        gaps: required
            .iter()
            .filter(|t| !audited.contains(t))
            .cloned()
            .collect(),
    })
}
