//! `migrate status`: every migration's state against the history, then what
//! a run would create or change on the other stores (a dry run of
//! `crate::provision`). Reads only; never takes a lock.

use std::future::Future;

use serde::Serialize;

use crate::definitions::Definitions;
use crate::error::Result;
use crate::migration::{plan::verify, Divergence, MigrationSet};
use crate::provision::{self, Connections, ObjectRow};
use crate::store::pg::{history, Pg};

#[derive(Debug, Serialize)]
pub struct StatusReport {
    /// Empty when PostgreSQL is not among the stores.
    pub database: String,
    pub migrations: Vec<StatusRow>,
    /// The repeatable migrations of the set, and those the database applied
    /// that the set no longer has.
    pub repeatables: Vec<RepeatableRow>,
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

#[derive(Debug, Serialize)]
pub struct RepeatableRow {
    pub name: String,
    pub state: RepeatableState,
    /// The file's checksum (the last applied one's for a file no longer there).
    pub checksum: String,
    pub applied_at: Option<chrono::DateTime<chrono::Utc>>,
    /// How many times the database applied it.
    pub applications: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RepeatableState {
    /// Applied as the file is now.
    Applied,
    /// Applied, and the file changed since: the next run applies it again.
    Changed,
    /// Never applied.
    Pending,
    /// Applied, but no longer a file of the set (its objects stay).
    Removed,
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
    local: &MigrationSet,
    others: Option<(&Definitions, impl Future<Output = Result<Connections>>)>,
) -> Result<StatusReport> {
    let mut report = match pg {
        Some(pg) => status_with(pg, local).await?,
        None => StatusReport {
            database: String::new(),
            migrations: Vec::new(),
            repeatables: Vec::new(),
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

/// [`status`] of PostgreSQL alone.
pub async fn status_with(pg: &Pg, set: &MigrationSet) -> Result<StatusReport> {
    let local = &set.versioned;
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
    let last = history::read_repeatable(&mut conn)
        .await
        .map_err(|e| pg.error(e))?;
    let mut repeatables: Vec<RepeatableRow> = set
        .repeatable
        .iter()
        .map(|r| {
            let row = last.iter().find(|a| a.name == r.name);
            RepeatableRow {
                name: r.name.clone(),
                state: match row {
                    None => RepeatableState::Pending,
                    Some(a) if a.checksum == r.checksum => RepeatableState::Applied,
                    Some(_) => RepeatableState::Changed,
                },
                checksum: r.checksum.clone(),
                applied_at: row.map(|a| a.applied_at),
                applications: row.map_or(0, |a| a.applications),
            }
        })
        .collect();
    for a in last
        .iter()
        .filter(|a| !set.repeatable.iter().any(|r| r.name == a.name))
    {
        repeatables.push(RepeatableRow {
            name: a.name.clone(),
            state: RepeatableState::Removed,
            checksum: a.checksum.clone(),
            applied_at: Some(a.applied_at),
            applications: a.applications,
        });
    }
    Ok(StatusReport {
        database: pg.url.to_string(),
        migrations,
        repeatables,
        divergences,
        stores: Vec::new(),
    })
}
