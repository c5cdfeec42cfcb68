//! Provisioning of MongoDB, Redis and Elasticsearch from their definition files,
//! shared by `create` and `migrate`: both are idempotent and report one row per
//! object (the `store` column tells the stores apart), so the PostgreSQL rows of
//! `create` and these rows form one report.
//!
//! Rules: every selected store is connected before anything changes (an
//! unreachable one is exit 3 and nothing was touched); a declared object the
//! server refuses is a row (`refused`) and never stops the others; an object
//! that differs from its file is `drift` (exit 1) and is changed only with
//! `--fix-drift`; objects the files do not declare are listed and never dropped.

pub mod es;
pub mod mongo;
pub mod redis;

use serde::Serialize;

use crate::config::StoreKind;
use crate::definitions::Definitions;
use crate::error::Result;
use crate::store::lease::{self, Scope};
pub use crate::store::pg::provision::Action;

/// One object of one store and what happened to it.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectRow {
    pub store: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
    /// Why it was refused, how it drifted, ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

impl ObjectRow {
    pub fn new(
        store: StoreKind,
        kind: &'static str,
        name: impl Into<String>,
        action: Action,
    ) -> ObjectRow {
        ObjectRow {
            store: store.as_str(),
            kind,
            name: name.into(),
            action,
            detail: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> ObjectRow {
        self.detail = Some(detail.into());
        self
    }

    /// Drift left in place, a refusal other than a MongoDB index's, or (under
    /// `--check`) anything still to do. A MongoDB server that lacks an index type
    /// (the local test server has no text indexes) is reported, not failed: no
    /// run could ever fix it.
    pub fn is_problem(&self, check: bool) -> bool {
        let tolerated_refusal = self.store == StoreKind::Mongodb.as_str() && self.kind == "index";
        match self.action {
            Action::Drift => true,
            Action::Refused => !tolerated_refusal,
            Action::WouldCreate | Action::WouldUpdate | Action::WouldRecreate => check,
            _ => false,
        }
    }
}

/// How far a run may go.
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    /// Report what would change; change nothing.
    pub dry_run: bool,
    /// Drop and re-create drifted objects.
    pub fix_drift: bool,
    /// The command provisioning (`create`, `migrate`), named in the leases it holds.
    pub command: &'static str,
    /// How long to wait for another run's lease before exit 4.
    pub lock_wait: std::time::Duration,
}

pub use crate::store::Connections;

/// Provisions every connected store from `defs`, in store order. Unless it
/// only looks (`dry_run`), it first takes the data lease of every store it
/// will change (`crate::store::lease`): two runs provisioning one store at
/// once (two `migrate`s of different databases sharing a MongoDB database or
/// an index prefix, or a `migrate` during a `restore` there) would both find
/// an object missing and both create it, and the second would fail.
pub async fn apply(
    conns: &mut Connections,
    defs: &Definitions,
    options: Options,
) -> Result<Vec<ObjectRow>> {
    let mut leases = Vec::new();
    if !options.dry_run {
        let (command, wait) = (options.command, options.lock_wait);
        if let Some(m) = &conns.mongo {
            leases.push(lease::mongo(m, Scope::Data, command, wait).await?);
        }
        if let Some(r) = &conns.redis {
            leases.push(lease::redis(r, Scope::Data, command, wait).await?);
        }
        if let Some(e) = &conns.es {
            leases.push(lease::es(e, Scope::Data, command, wait).await?);
        }
    }
    let rows = provision(conns, defs, options).await;
    // Released whatever the outcome; a lost lease is reported after the
    // run's own error, which says more.
    let mut released = Ok(());
    for lease in leases {
        let result = lease.release().await;
        if released.is_ok() {
            released = result;
        }
    }
    let rows = rows?;
    released?;
    Ok(rows)
}

async fn provision(
    conns: &mut Connections,
    defs: &Definitions,
    options: Options,
) -> Result<Vec<ObjectRow>> {
    let mut rows = Vec::new();
    if let Some(m) = &conns.mongo {
        rows.extend(mongo::apply(m, &defs.mongo, options).await?);
    }
    if let Some(r) = &mut conns.redis {
        rows.extend(redis::apply(r, &defs.redis, options).await?);
    }
    if let Some(e) = &conns.es {
        rows.extend(es::apply(e, &defs.es, options).await?);
    }
    Ok(rows)
}

/// The rows as a table, then one line per row that has a detail.
pub fn render(rows: &[ObjectRow], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut t = crate::output::table(["store", "kind", "name", "action"]);
    for r in rows {
        t.add_row([r.store, r.kind, &r.name, r.action.as_str()]);
    }
    writeln!(out, "{t}")?;
    render_details(rows, out)
}

/// One line per row that carries a detail (refusals, drift, alias targets).
pub fn render_details(rows: &[ObjectRow], out: &mut dyn std::io::Write) -> std::io::Result<()> {
    for r in rows.iter().filter(|r| r.detail.is_some()) {
        let detail = r.detail.as_deref().unwrap_or_default();
        writeln!(
            out,
            "{} {} {}: {}: {detail}",
            r.store,
            r.kind,
            r.name,
            r.action.as_str()
        )?;
    }
    Ok(())
}

/// The time stamp written into history entries (UTC, RFC 3339).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
