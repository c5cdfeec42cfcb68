//! `migrate status`: every migration's state against the history, then what
//! a run would create or change on the other stores (a dry run of
//! `crate::provision`). Reads only; never takes a lock.

use std::future::Future;

use serde::Serialize;

use super::load_local;
use crate::definitions::Definitions;
use crate::error::Result;
use crate::migration::{plan::verify, Divergence, Migration};
use crate::provision::{self, Connections, ObjectRow};
use crate::store::pg::{history, Pg};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Empty when PostgreSQL is not among the stores.
    pub database: String,
    pub migrations: Vec<StatusRow>,
    pub divergences: Vec<Divergence>,
    /// MongoDB, Redis and Elasticsearch: what `migrate` would do (`crate::provision`, dry run).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub stores: Vec<ObjectRow>,
}

#[derive(Debug, Serialize)]
pub struct StatusRow {
    pub version: i64,
    pub name: String,
    pub state: State,
    pub checksum: String,
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Applied,
    Pending,
    /// Applied, but the file changed since.
    Edited,
    /// Applied, but no file in this binary.
    Missing,
    /// Never applied, yet older than the newest applied.
    OutOfOrder,
}

impl StatusReport {
    /// A diverged history, or drift (or a refused object) on the other stores.
    pub fn has_problems(&self) -> bool {
        !self.divergences.is_empty() || self.stores.iter().any(|r| r.is_problem(false))
    }
}

/// PostgreSQL's migrations (`pg`), then the other stores as a check run sees
/// them (`others`: their definitions, and the connections, opened only once
/// PostgreSQL has answered: PostgreSQL is asked first, as it was before the
/// other stores were part of `migrate status`).
pub async fn status(
    pg: Option<&Pg>,
    others: Option<(&Definitions, impl Future<Output = Result<Connections>>)>,
) -> Result<StatusReport> {
    let mut report = match pg {
        Some(pg) => status_with(pg, &load_local()?).await?,
        None => StatusReport {
            database: String::new(),
            migrations: Vec::new(),
            divergences: Vec::new(),
            stores: Vec::new(),
        },
    };
    if let Some((defs, connect)) = others {
        let mut conns = connect.await?;
        let options = provision::Options {
            dry_run: true,
            ..provision::Options::default()
        };
        report.stores = provision::apply(&mut conns, defs, options).await?;
    }
    Ok(report)
}

/// [`status`] of PostgreSQL alone, with another migration set than the embedded one.
pub async fn status_with(pg: &Pg, local: &[Migration]) -> Result<StatusReport> {
    let mut conn = pg.connect().await?;
    let applied = history::read(&mut conn).await.map_err(|e| pg.error(e))?;
    let divergences = verify(local, &applied);
    let state_of = |version: i64| {
        divergences
            .iter()
            .find(|d| d.version() == version)
            .map(|d| match d {
                Divergence::Edited { .. } => State::Edited,
                Divergence::Missing { .. } => State::Missing,
                Divergence::OutOfOrder { .. } => State::OutOfOrder,
            })
    };
    let mut migrations: Vec<StatusRow> = local
        .iter()
        .map(|m| {
            let row = applied.iter().find(|a| a.version == m.version);
            StatusRow {
                version: m.version,
                name: m.name.clone(),
                state: state_of(m.version).unwrap_or(if row.is_some() {
                    State::Applied
                } else {
                    State::Pending
                }),
                checksum: m.checksum.clone(),
                applied_at: row.map(|a| a.applied_at),
            }
        })
        .collect();
    for a in applied
        .iter()
        .filter(|a| !local.iter().any(|m| m.version == a.version))
    {
        migrations.push(StatusRow {
            version: a.version,
            name: a.name.clone(),
            state: State::Missing,
            checksum: a.checksum.clone(),
            applied_at: Some(a.applied_at),
        });
    }
    migrations.sort_by_key(|r| r.version);
    Ok(StatusReport {
        database: pg.url.to_string(),
        migrations,
        divergences,
        stores: Vec::new(),
    })
}
