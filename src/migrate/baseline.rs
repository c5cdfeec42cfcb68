//! `migrate baseline --to VERSION`: adopts a database whose schema was built
//! outside rez-db. The schema migrations 1..=VERSION produce is built in a
//! shadow database (`store::pg::shadow`: random name, always dropped) and
//! compared with the live one (`store::pg::catalog` reads both,
//! `crate::migration::schema_diff` compares); any difference refuses the
//! baseline (exit 1, each listed); none records those migrations as applied,
//! with their checksums, in one transaction. When VERSION is the newest
//! migration, the repeatable migrations are part of the expected schema and
//! are recorded too.
//!
//! Order: check the target, take the schema lock on the live database, read
//! its history (a database rez-db already migrated is refused, exit 2), build
//! and read the shadow (or take its schema from the cache, when nothing it
//! depends on changed: `super::shadow_build`), read the live schema, drop the
//! shadow, compare, and only then write. Partitions that `partition-rotate` manages are compared
//! by their parent only.

use std::time::Duration;

use serde::Serialize;

use crate::error::{CommandError, Result};
use crate::migration::schema_diff::Difference;
use crate::migration::{Migration, MigrationSet, Repeatable};
use crate::progress::Progress;
use crate::store::pg::{history, lock, Pg};

use super::shadow_build::{compare_live, CacheUse, ExpectedSource};

#[derive(Debug, Clone, Copy)]
pub struct BaselineOptions {
    /// Record migrations up to and including this version.
    pub to: i64,
    pub lock_wait: Duration,
}

#[derive(Debug, Serialize)]
pub struct BaselineReport {
    pub database: String,
    pub to: i64,
    /// How many schema objects were compared (the expected schema's).
    pub compared: usize,
    /// Whether the expected schema came from the cache or a shadow build.
    pub expected_schema: ExpectedSource,
    /// Empty when the live schema is what the migrations produce.
    pub differences: Vec<Difference>,
    /// Versions recorded as applied (none when refused).
    pub recorded: Vec<i64>,
    /// Repeatable migrations recorded as applied.
    pub recorded_repeatable: Vec<String>,
}

impl BaselineReport {
    pub fn has_problems(&self) -> bool {
        !self.differences.is_empty()
    }
}

/// Baselines `pg` at `options.to`, building the expected schema in a shadow
/// database created from `shadow_admin`; `managed_parents`: the partitioned
/// tables whose partitions are compared by their parent only.
pub async fn baseline(
    pg: &Pg,
    shadow_admin: &Pg,
    local: &MigrationSet,
    managed_parents: &[&str],
    options: BaselineOptions,
    cache: CacheUse<'_>,
    progress: &dyn Progress,
) -> Result<BaselineReport> {
    let to = options.to;
    if !local.versioned.iter().any(|m| m.version == to) {
        return Err(CommandError::usage(format!(
            "version {to}: there is no migration with that version"
        ))
        .with_hint("`rez-db migrate status` lists the versions"));
    }
    let versioned: Vec<&Migration> = local.versioned.iter().filter(|m| m.version <= to).collect();
    let repeatables: Vec<&Repeatable> = match local.newest() == Some(to) {
        true => local.repeatable.iter().collect(),
        false => Vec::new(),
    };

    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    lock::hold(&mut conn, pg, lock::LockScope::Schema, options.lock_wait).await?;
    let applied = history::read(&mut conn).await.map_err(err)?;
    if !applied.is_empty() {
        return Err(CommandError::usage(format!(
            "{} already has a migration history ({} applied, newest {:04}); baseline is for a database rez-db never migrated",
            pg.url,
            applied.len(),
            applied.iter().map(|a| a.version).max().unwrap_or_default()
        ))
        .with_hint("`rez-db migrate status` shows where it stands"));
    }

    let comparison = compare_live(
        (pg, &mut conn),
        shadow_admin,
        &versioned,
        &repeatables,
        managed_parents,
        cache,
        progress,
    )
    .await?;

    let mut report = BaselineReport {
        database: pg.url.to_string(),
        to,
        compared: comparison.compared,
        expected_schema: comparison.expected_from,
        differences: comparison.differences,
        recorded: Vec::new(),
        recorded_repeatable: Vec::new(),
    };
    if report.has_problems() {
        return Ok(report);
    }

    history::ensure_table(&mut conn).await.map_err(err)?;
    let mut tx = sqlx::Connection::begin(&mut conn).await.map_err(err)?;
    for m in &versioned {
        history::record(&mut tx, m, 0).await.map_err(err)?;
    }
    for r in &repeatables {
        history::record_repeatable(&mut tx, r, 0)
            .await
            .map_err(err)?;
    }
    tx.commit().await.map_err(err)?;
    report.recorded = versioned.iter().map(|m| m.version).collect();
    report.recorded_repeatable = repeatables.iter().map(|r| r.name.clone()).collect();
    lock::release(&mut conn, lock::LockScope::Schema)
        .await
        .map_err(err)?;
    Ok(report)
}
