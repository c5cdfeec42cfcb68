//! The `status` operation: every selected store in one report — reachable or
//! not, what server and version, and how far its schema is from this
//! binary's files (PostgreSQL's migrations, MongoDB's collections in
//! `rez_schema_history`, Redis's layout marker, Elasticsearch's aliases).
//!
//! Reads only. A store that does not answer, or answers with an error, is a
//! row of the report, never the end of the run: the others are still shown.
//! Never: opens a store itself (the face hands it each store as it reached
//! it, [`Target`]), prints, or names a flag.

use serde::Serialize;

use crate::config::StoreKind;
use crate::definitions::Definitions;
use crate::error::{ErrorKind, Result};
use crate::migration::{self, MigrationSet};
use crate::secret::{redact, RedactedUrl};
use crate::store::es::Es;
use crate::store::mongo::Mongo;
use crate::store::pg::{history, Pg};
use crate::store::redis::Redis;

/// One selected store, as the face reached it: where it is, and its handle
/// or why there is none (PostgreSQL's sessions are opened from its handle).
pub enum Target<'a> {
    /// The database and the migrations it is compared with.
    Postgres(&'a Pg, &'a MigrationSet),
    Mongodb(&'a RedactedUrl, Result<&'a Mongo>),
    Redis(&'a RedactedUrl, Result<Redis>),
    Elasticsearch(&'a RedactedUrl, Result<&'a Es>),
}

#[derive(Debug, Serialize)]
pub struct StatusReport {
    pub stores: Vec<StoreStatus>,
}

#[derive(Debug, Serialize)]
pub struct StoreStatus {
    pub store: StoreKind,
    pub url: String,
    pub reachable: bool,
    pub server: Option<String>,
    pub version: Option<String>,
    /// One line: migrations, collections, aliases or layout.
    pub state: String,
    /// The state per object (migration counts, collection, alias -> index).
    pub details: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl StatusReport {
    pub fn any_unreachable(&self) -> bool {
        self.stores.iter().any(|s| !s.reachable)
    }

    /// `Unreachable` (exit 3) when a selected store did not answer.
    pub fn failure(&self) -> Option<ErrorKind> {
        self.any_unreachable().then_some(ErrorKind::Unreachable)
    }
}

/// Probes every target, in order, against the definitions `defs`.
pub async fn run(targets: Vec<Target<'_>>, defs: &Definitions) -> StatusReport {
    let mut stores = Vec::new();
    for target in targets {
        let (store, url, probe) = match target {
            Target::Postgres(pg, local) => {
                (StoreKind::Postgres, &pg.url, postgres(pg, local).await)
            }
            Target::Mongodb(url, m) => (
                StoreKind::Mongodb,
                url,
                probe(m, |m| mongodb(m, defs)).await,
            ),
            Target::Redis(url, r) => (StoreKind::Redis, url, probe(r, |r| redis(r, defs)).await),
            Target::Elasticsearch(url, es) => (
                StoreKind::Elasticsearch,
                url,
                probe(es, |es| elasticsearch(es, defs)).await,
            ),
        };
        stores.push(store_status(store, url.to_string(), probe));
    }
    StatusReport { stores }
}

/// `look` at the store when it was reached.
async fn probe<H, F>(handle: Result<H>, look: impl FnOnce(H) -> F) -> Result<Probe>
where
    F: std::future::Future<Output = Result<Probe>>,
{
    look(handle?).await
}

fn store_status(store: StoreKind, url: String, probe: Result<Probe>) -> StoreStatus {
    match probe {
        Ok(p) => StoreStatus {
            store,
            url,
            reachable: true,
            server: Some(p.server),
            version: Some(p.version),
            state: p.state,
            details: p.details,
            error: None,
        },
        Err(e) => StoreStatus {
            store,
            url,
            reachable: e.kind != ErrorKind::Unreachable,
            server: None,
            version: None,
            state: if e.kind == ErrorKind::Unreachable {
                "unreachable".into()
            } else {
                "error".into()
            },
            // A report that carries an error redacts it as emit_error would.
            details: e.hints.iter().map(|h| redact(h)).collect(),
            error: Some(redact(&e.message)),
        },
    }
}

struct Probe {
    server: String,
    version: String,
    state: String,
    details: Vec<String>,
}

async fn postgres(pg: &Pg, set: &MigrationSet) -> Result<Probe> {
    let mut conn = pg.connect().await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| pg.error(e))?;
    let applied = history::read(&mut conn).await.map_err(|e| pg.error(e))?;
    let local = &set.versioned;
    let divergences = migration::plan::verify(local, &applied);
    let pending = local
        .iter()
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .count();
    let newest = applied.iter().map(|a| a.version).max();
    Ok(Probe {
        server: "PostgreSQL".into(),
        version,
        state: format!(
            "{} applied, {pending} pending, {} diverged",
            applied.len(),
            divergences.len()
        ),
        details: newest
            .map(|v| vec![format!("newest applied migration: {v:04}")])
            .unwrap_or_else(|| vec!["no migration applied (`rez-db migrate`)".into()]),
    })
}

async fn mongodb(m: &Mongo, defs: &Definitions) -> Result<Probe> {
    let info = m.server_info().await?;
    let history = m.latest_history().await?;
    let mut current = 0;
    let mut details = Vec::new();
    for col in &defs.mongo {
        let entry = history
            .iter()
            .find(|d| d.get_str("collection") == Ok(col.name.as_str()));
        let line = match entry {
            None => "never provisioned".to_string(),
            Some(d) if d.get_str("sha256") == Ok(col.sha256.as_str()) => {
                current += 1;
                format!(
                    "current (applied {})",
                    d.get_str("applied_at").unwrap_or("?")
                )
            }
            Some(d) => format!(
                "from an older file (applied {}): run `rez-db migrate`",
                d.get_str("applied_at").unwrap_or("?")
            ),
        };
        details.push(format!("{}: {line}", col.name));
    }
    Ok(Probe {
        server: info.product,
        version: info.version,
        state: format!(
            "database {}: {current}/{} collections current",
            info.database,
            defs.mongo.len()
        ),
        details,
    })
}

async fn redis(mut r: Redis, defs: &Definitions) -> Result<Probe> {
    let info = r.server_info().await?;
    let marker = r.layout_marker().await?;
    let layout = match marker {
        None => "layout not recorded".to_string(),
        Some((v, sha, _)) if sha == defs.redis.sha256 => format!("layout v{v} (current)"),
        Some((v, _, at)) => format!(
            "layout v{v} recorded {at}, file is v{}: run `rez-db migrate`",
            defs.redis.version
        ),
    };
    Ok(Probe {
        server: info.product,
        version: info.version,
        state: format!("{} key(s), {layout}", info.keys),
        details: Vec::new(),
    })
}

async fn elasticsearch(es: &Es, defs: &Definitions) -> Result<Probe> {
    let info = es.server_info().await?;
    let mut details = Vec::new();
    let mut live = 0;
    for d in &defs.es {
        let targets = es.alias_targets(&d.name).await?;
        let versions = es.versions(&d.name).await?;
        let line = match targets.as_slice() {
            [] => "no alias (`rez-db create`)".to_string(),
            list => {
                live += 1;
                let mut parts = Vec::new();
                for t in list {
                    parts.push(format!("{t} ({} docs)", es.count(t).await?));
                }
                format!(
                    "-> {}; {} version(s) on the server",
                    parts.join(", "),
                    versions.len()
                )
            }
        };
        details.push(format!("{}: {line}", es.name(&d.name)));
    }
    Ok(Probe {
        server: info.product,
        version: info.version,
        state: format!("{live}/{} aliases live", defs.es.len()),
        details,
    })
}
