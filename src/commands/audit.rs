//! `rez-db audit`: trigger-based row auditing into audit_log (`crate::audit`).
//!
//! `enable`/`disable` add or remove the `audit_<table>` trigger; `status`
//! compares the audited tables with the policy in rez-db.yaml (`audit:
//! tables:`) and exits 1 on a gap; `log` reads the history of a table or row.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use crate::audit;
use crate::cli::{LockArgs, PgArgs};
use crate::error::Result;
use crate::output::{table, Render};
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

impl Render for audit::Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        match self {
            audit::Report::Change(r) => {
                let mut t = table(["table", "action"]);
                for c in &r.tables {
                    t.add_row([c.table.as_str(), c.action]);
                }
                writeln!(out, "{t}")
            }
            audit::Report::Status(r) => {
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
            audit::Report::Log(r) => {
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
        matches!(self, audit::Report::Status(s) if !s.gaps.is_empty())
    }
}

fn yes(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

pub async fn run(ctx: &Ctx, args: &AuditArgs) -> Result<audit::Report> {
    let options = match &args.action {
        AuditAction::Enable(change) | AuditAction::Disable(change) => {
            audit::Options::Change(audit::Change {
                enable: matches!(args.action, AuditAction::Enable(_)),
                tables: change.tables.clone(),
                dry_run: change.dry_run,
                lock_wait: ctx.config.lock_wait,
            })
        }
        AuditAction::Status(_) => audit::Options::Status {
            required: ctx.config.audited_tables.clone(),
        },
        AuditAction::Log(log) => audit::Options::Log(audit::Filter {
            table: log.table.clone(),
            row_id: log.id.clone(),
            since: log.since,
            actor: log.actor.clone(),
            limit: log.limit,
        }),
    };
    audit::run(&options, &ctx.pg()).await
}
