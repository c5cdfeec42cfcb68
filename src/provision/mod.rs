//! The `create` operation, and the provisioning of MongoDB, Redis and
//! Elasticsearch from their definition files that `create` and `migrate`
//! share: both are idempotent and report one row per object (the `store`
//! column tells the stores apart), so the PostgreSQL rows of [`postgres`]
//! and these rows form one report.
//!
//! Rules: every selected store is connected before anything changes (an
//! unreachable one is exit 3 and nothing was touched); a declared object the
//! server refuses is a row (`refused`) and never stops the others; an object
//! that differs from its file is `drift` (exit 1) and is changed only when
//! the caller asks for it (`Options::fix_drift`); objects the files do not
//! declare are listed and never dropped.
//!
//! An operation: it gets its options and store handles, never the command
//! line or the context, never asks on a terminal and never renders.

pub mod es;
pub mod mongo;
pub mod postgres;
pub mod redis;

use std::time::Duration;

use serde::Serialize;

use crate::config::StoreKind;
use crate::definitions::Definitions;
use crate::error::{Remedy, Result};
use crate::store::lease::{self, Scope};
pub use crate::store::pg::provision::Action;
use crate::store::pg::Pg;
pub use postgres::PgOptions;

/// Asked before a destructive step, with the question; `Ok` goes on, an
/// error (a refusal, the face's wording) stops the operation there.
pub type Confirm<'a> = &'a (dyn Fn(&str) -> Result<()> + Sync);

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
    /// The way out, which names a flag: the face words it into `detail`
    /// (`cli::word_object_remedies`) before the report is shown.
    #[serde(skip)]
    pub remedy: Option<Remedy>,
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
            remedy: None,
        }
    }

    pub fn with_detail(mut self, detail: impl Into<String>) -> ObjectRow {
        self.detail = Some(detail.into());
        self
    }

    pub fn with_remedy(mut self, remedy: Remedy) -> ObjectRow {
        self.remedy = Some(remedy);
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
    pub lock_wait: Duration,
}

pub use crate::store::Connections;

/// What `create` is asked to do.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The stores selected; PostgreSQL's part runs when it is among them.
    pub stores: Vec<StoreKind>,
    /// Drop the PostgreSQL database instead (the other stores are left alone).
    pub drop: bool,
    /// Report what would be done; change nothing.
    pub dry_run: bool,
    /// How long to wait for another run's lease before exit 4.
    pub lock_wait: Duration,
}

/// What `create` did (or would do), one row per object.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The servers visited, comma-separated (URLs, redacted).
    pub server: String,
    pub dry_run: bool,
    pub objects: Vec<ObjectRow>,
}

/// `create`: the PostgreSQL database, its extensions and roles (or the
/// database dropped), then the objects of the other stores connected in
/// `conns` from `defs` (none under `drop`, which concerns PostgreSQL only).
pub async fn create(
    pg: &Pg,
    conns: &mut Connections,
    defs: Option<&Definitions>,
    options: &CreateOptions,
    confirm: Confirm<'_>,
) -> Result<Report> {
    let servers: Vec<String> = options
        .stores
        .iter()
        .filter(|s| !options.drop || **s == StoreKind::Postgres)
        .filter_map(|s| match s {
            StoreKind::Postgres => Some(pg.url.to_string()),
            StoreKind::Mongodb => conns.mongo.as_ref().map(|m| m.url.to_string()),
            StoreKind::Redis => conns.redis.as_ref().map(|r| r.url.to_string()),
            StoreKind::Elasticsearch => conns.es.as_ref().map(|e| e.url.to_string()),
        })
        .collect();
    let mut report = Report {
        server: servers.join(", "),
        dry_run: options.dry_run,
        objects: Vec::new(),
    };
    if options.stores.contains(&StoreKind::Postgres) {
        let pg_options = PgOptions {
            drop: options.drop,
            dry_run: options.dry_run,
        };
        report
            .objects
            .extend(postgres::apply(pg, pg_options, confirm).await?);
    }
    if let Some(defs) = defs.filter(|_| !options.drop) {
        let options = Options {
            dry_run: options.dry_run,
            fix_drift: false,
            command: "create",
            lock_wait: options.lock_wait,
        };
        report.objects.extend(apply(conns, defs, options).await?);
    }
    Ok(report)
}

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

/// The time stamp written into history entries (UTC, RFC 3339).
pub(crate) fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
