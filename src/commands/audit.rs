//! `rez-db audit`: trigger-based row auditing into audit_log.
//!
//! `enable`/`disable` add or remove the `audit_<table>` trigger; `status`
//! compares the audited tables with the policy in rez-db.yaml (`audit:
//! tables:`) and exits 1 on a gap; `log` reads the history of a table or row.
//! Writers say who they are with `SET LOCAL app.actor = '...'`.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use serde::Serialize;

use crate::cli::{LockArgs, PgArgs};
use crate::error::{CommandError, Result};
use crate::output::{table, Render};
use crate::store::pg::{self, audit, lock};
use crate::Ctx;

/// Row-level audit of tables into audit_log: enable, disable, status, log.
#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub action: AuditAction,
}

#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Start auditing tables (adds the audit_<table> trigger)
    Enable(ChangeArgs),
    /// Stop auditing tables (removes the trigger)
    Disable(ChangeArgs),
    /// Which tables are audited, against the `audit: tables:` policy; exit 1 on a gap
    Status(StatusArgs),
    /// The audit history of a table, or of one row
    Log(LogArgs),
}

#[derive(Debug, Args)]
pub struct ChangeArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// A table to change (repeatable)
    #[arg(long = "table", value_name = "TABLE", required = true)]
    pub tables: Vec<String>,

    /// Report what would change and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pg: PgArgs,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    /// The audited table
    #[arg(long, value_name = "TABLE")]
    pub table: String,

    /// Only this row (its id)
    #[arg(long, value_name = "ID")]
    pub id: Option<String>,

    /// Only changes at or after this instant (RFC 3339)
    #[arg(long, value_name = "TIMESTAMP")]
    pub since: Option<DateTime<Utc>>,

    /// Only changes made by this actor (app.actor)
    #[arg(long, value_name = "ACTOR")]
    pub actor: Option<String>,

    /// At most N entries, newest first
    #[arg(long, value_name = "N", default_value_t = 100)]
    pub limit: i64,
}

impl AuditArgs {
    pub fn pg(&self) -> &PgArgs {
        match &self.action {
            AuditAction::Enable(a) | AuditAction::Disable(a) => &a.pg,
            AuditAction::Status(a) => &a.pg,
            AuditAction::Log(a) => &a.pg,
        }
    }

    pub fn lock(&self) -> Option<&LockArgs> {
        match &self.action {
            AuditAction::Enable(a) | AuditAction::Disable(a) => Some(&a.lock),
            _ => None,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum AuditReport {
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
    pub entries: Vec<audit::Entry>,
}

impl Render for AuditReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            AuditReport::Change(r) => {
                let mut t = table(["table", "action"]);
                for c in &r.tables {
                    t.add_row([c.table.as_str(), c.action]);
                }
                writeln!(out, "{t}")
            }
            AuditReport::Status(r) => {
                let mut t = table(["table", "audited", "required by policy"]);
                for s in r.tables.iter().filter(|s| s.audited || s.required) {
                    t.add_row([s.table.as_str(), yes(s.audited), yes(s.required)]);
                }
                writeln!(out, "{t}")?;
                match r.gaps.as_slice() {
                    [] => writeln!(out, "every table the policy names is audited"),
                    gaps => writeln!(
                        out,
                        "NOT audited although the policy requires it: {}",
                        gaps.join(", ")
                    ),
                }
            }
            AuditReport::Log(r) => {
                let mut t = table(["changed at", "operation", "row", "by", "old", "new"]);
                for e in &r.entries {
                    let json = |v: &Option<serde_json::Value>| {
                        v.as_ref().map(|v| v.to_string()).unwrap_or_default()
                    };
                    t.add_row([
                        e.changed_at.to_rfc3339(),
                        e.operation.clone(),
                        e.row_id.clone().unwrap_or_default(),
                        e.changed_by.clone().unwrap_or_default(),
                        json(&e.old_data),
                        json(&e.new_data),
                    ]);
                }
                writeln!(out, "{t}")
            }
        }
    }

    fn has_problems(&self) -> bool {
        matches!(self, AuditReport::Status(s) if !s.gaps.is_empty())
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub async fn run(ctx: &Ctx, args: &AuditArgs) -> Result<AuditReport> {
    let url = &ctx.config.database_url;
    let err = |e| pg::error(url, e);
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    match &args.action {
        AuditAction::Enable(change) | AuditAction::Disable(change) => {
            let enabling = matches!(args.action, AuditAction::Enable(_));
            let known = audit::auditable_tables(&mut conn).await.map_err(err)?;
            if let Some(bad) = change.tables.iter().find(|t| !known.contains(t)) {
                return Err(CommandError::usage(format!(
                    "`{bad}` is not a table that can be audited"
                ))
                .with_hint(
                    "name a table of the public schema (audit_log itself cannot be audited)",
                ));
            }
            if !change.dry_run {
                lock::hold(&mut conn, &ctx.config, lock::LockScope::Schema).await?;
            }
            let audited = audit::audited_tables(&mut conn).await.map_err(err)?;
            let mut report = ChangeReport {
                dry_run: change.dry_run,
                tables: Vec::new(),
            };
            for table in &change.tables {
                let is_on = audited.contains(table);
                let action = match (enabling, is_on, change.dry_run) {
                    (true, true, _) | (false, false, _) => "unchanged",
                    (true, false, true) => "would_enable",
                    (false, true, true) => "would_disable",
                    (true, false, false) => {
                        audit::enable(&mut conn, table).await.map_err(err)?;
                        "enabled"
                    }
                    (false, true, false) => {
                        audit::disable(&mut conn, table).await.map_err(err)?;
                        "disabled"
                    }
                };
                report.tables.push(TableChange {
                    table: table.clone(),
                    action,
                });
            }
            Ok(AuditReport::Change(report))
        }
        AuditAction::Status(_) => {
            let known = audit::auditable_tables(&mut conn).await.map_err(err)?;
            let audited = audit::audited_tables(&mut conn).await.map_err(err)?;
            let required = &ctx.config.audited_tables;
            if let Some(bad) = required.iter().find(|t| !known.contains(t)) {
                return Err(CommandError::usage(format!(
                    "the audit policy names `{bad}`, which is not a table"
                ))
                .with_hint("fix `audit: tables:` in rez-db.yaml"));
            }
            Ok(AuditReport::Status(StatusReport {
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
            }))
        }
        AuditAction::Log(log) => {
            let filter = audit::Filter {
                table: log.table.clone(),
                row_id: log.id.clone(),
                since: log.since,
                actor: log.actor.clone(),
                limit: log.limit,
            };
            let entries = audit::log(&mut conn, &filter).await.map_err(err)?;
            Ok(AuditReport::Log(LogReport { entries }))
        }
    }
}
