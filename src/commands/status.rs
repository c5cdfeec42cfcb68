//! `rez-db status`: every selected store in one table — reachable or not, what
//! server and version, and how far its schema is from this binary's files.
//! Read-only. Exit 3 if a selected store is unreachable, 0 otherwise.

use std::io::{self, Write};

use clap::Args;
use serde::Serialize;

use crate::cli::{PgArgs, StoreArgs};
use crate::config::StoreKind;
use crate::definitions::Definitions;
use crate::error::{CommandError, Result};
use crate::migration;
use crate::output::{table, Render};
use crate::secret::redact;
use crate::store::pg::{self, history};
use crate::Ctx;

/// Show every datastore: reachable or not, server version, schema state.
///
/// PostgreSQL: applied and pending migrations. MongoDB: collections recorded in
/// rez_schema_history. Redis: keys and the recorded layout version.
/// Elasticsearch: each alias and the versioned index behind it. Exit 3 if a
/// store is unreachable (leave it out with --only).
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,
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
}

impl Render for StatusReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["store", "url", "reachable", "server", "state"]);
        for s in &self.stores {
            t.add_row([
                s.store.as_str().to_string(),
                s.url.clone(),
                if s.reachable {
                    "yes".into()
                } else {
                    "NO".into()
                },
                match (&s.server, &s.version) {
                    (Some(p), Some(v)) => format!("{p} {v}"),
                    _ => String::new(),
                },
                s.state.clone(),
            ]);
        }
        writeln!(out, "{t}")?;
        for s in &self.stores {
            for d in &s.details {
                writeln!(out, "{}: {d}", s.store)?;
            }
            if let Some(e) = &s.error {
                writeln!(out, "{}: {e}", s.store)?;
            }
        }
        Ok(())
    }
}

pub async fn run(ctx: &Ctx, _args: &StatusArgs) -> Result<StatusReport> {
    let defs = ctx.definitions()?.clone();
    let c = &ctx.config;
    let mut stores = Vec::new();
    for kind in &c.stores {
        let (url, probe) = match kind {
            StoreKind::Postgres => (c.database_url.to_string(), postgres(ctx).await),
            StoreKind::Mongodb => (c.mongodb_uri.to_string(), mongodb(ctx, &defs).await),
            StoreKind::Redis => (c.redis_url.to_string(), redis(ctx, &defs).await),
            StoreKind::Elasticsearch => (
                c.elasticsearch_url.to_string(),
                elasticsearch(ctx, &defs).await,
            ),
        };
        stores.push(match probe {
            Ok(p) => StoreStatus {
                store: *kind,
                url,
                reachable: true,
                server: Some(p.server),
                version: Some(p.version),
                state: p.state,
                details: p.details,
                error: None,
            },
            Err(e) => StoreStatus {
                store: *kind,
                url,
                reachable: e.kind != crate::error::ErrorKind::Unreachable,
                server: None,
                version: None,
                state: if e.kind == crate::error::ErrorKind::Unreachable {
                    "unreachable".into()
                } else {
                    "error".into()
                },
                // A report that carries an error redacts it as emit_error would.
                details: e.hints.iter().map(|h| redact(h)).collect(),
                error: Some(redact(&e.message)),
            },
        });
    }
    Ok(StatusReport { stores })
}

struct Probe {
    server: String,
    version: String,
    state: String,
    details: Vec<String>,
}

async fn postgres(ctx: &Ctx) -> Result<Probe> {
    let url = &ctx.config.database_url;
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    let version: String = sqlx::query_scalar("SHOW server_version")
        .fetch_one(&mut conn)
        .await
        .map_err(|e| pg::error(url, e))?;
    let applied = history::read(&mut conn)
        .await
        .map_err(|e| pg::error(url, e))?;
    let local = migration::embedded()
        .map_err(|e| CommandError::bug(format!("the embedded migrations are broken: {e}")))?;
    let divergences = migration::plan::verify(&local, &applied);
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

async fn mongodb(ctx: &Ctx, defs: &Definitions) -> Result<Probe> {
    let c = &ctx.config;
    let m = crate::store::mongo::connect(&c.mongodb_uri, c.connect_timeout).await?;
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

async fn redis(ctx: &Ctx, defs: &Definitions) -> Result<Probe> {
    let c = &ctx.config;
    let mut r =
        crate::store::redis::connect(&c.redis_url, &c.redis_key_prefix, c.connect_timeout).await?;
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

async fn elasticsearch(ctx: &Ctx, defs: &Definitions) -> Result<Probe> {
    let c = &ctx.config;
    let es = crate::store::es::connect(&c.elasticsearch_url, &c.es_index_prefix, c.connect_timeout)
        .await?;
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
