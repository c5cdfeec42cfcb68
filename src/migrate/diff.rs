//! `migrate diff`: compares the live schema with the schema its applied
//! migrations produce. The expected schema is built in a shadow database
//! (`super::shadow_build`) from the migration files of the versions the
//! database's history lists, then the repeatable migrations whose file is
//! still the one last applied (same checksum). A repeatable never applied,
//! or changed since, is left out of the expected schema (its old text is not
//! kept anywhere) and listed in the report, so its objects may show as
//! extra or changed. Partitions that `partition-rotate` manages are compared
//! by their parent only. The expected schema comes from the cache when
//! nothing it depends on changed (`super::shadow_build`); the live one is
//! always read afresh.
//!
//! Read-only: no lock, nothing written, not recorded in the operations log.
//! A database without a migration history is refused (exit 2: baseline it
//! first); a history that diverges from the files stops the run (exit 1).

use serde::Serialize;

use crate::error::{CommandError, Result};
use crate::migration::schema_diff::Difference;
use crate::migration::{self, Migration, MigrationSet, Repeatable};
use crate::progress::Progress;
use crate::store::pg::{history, Pg};

use super::shadow_build::{compare_live, CacheUse, ExpectedSource};

#[derive(Debug, Serialize)]
pub struct DiffReport {
    pub database: String,
    /// The versions the expected schema was built from (the applied ones).
    pub versions: Vec<i64>,
    /// Repeatable migrations part of the expected schema.
    pub repeatables: Vec<String>,
    /// Repeatable migrations left out: never applied, or changed since.
    pub repeatables_not_reproduced: Vec<String>,
    /// How many schema objects were expected.
    pub compared: usize,
    /// Whether the expected schema came from the cache or a shadow build.
    pub expected_schema: ExpectedSource,
    /// Empty when the live schema is what the applied migrations produce.
    pub differences: Vec<Difference>,
}

impl DiffReport {
    pub fn has_problems(&self) -> bool {
        !self.differences.is_empty()
    }
}

/// Compares `pg`'s schema with what its applied migrations (`local`'s files
/// for the versions of its history) produce in a shadow database created
/// from `shadow_admin`.
pub async fn diff(
    pg: &Pg,
    shadow_admin: &Pg,
    local: &MigrationSet,
    managed_parents: &[&str],
    cache: CacheUse<'_>,
    progress: &dyn Progress,
) -> Result<DiffReport> {
    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    let applied = history::read(&mut conn).await.map_err(err)?;
    if applied.is_empty() {
        return Err(CommandError::usage(format!(
            "{} has no migration history: there is no applied migration to compare its schema with",
            pg.url
        ))
        .with_hint(
            "a database built outside rez-db is adopted with `rez-db migrate baseline` first",
        ));
    }
    let plan = migration::plan(&local.versioned, &applied, None).map_err(super::plan_error)?;
    let versioned: Vec<&Migration> = plan.applied.iter().map(|(m, _)| *m).collect();
    let last = history::read_repeatable(&mut conn).await.map_err(err)?;
    let (repeatables, left_out): (Vec<&Repeatable>, Vec<&Repeatable>) =
        local.repeatable.iter().partition(|r| {
            last.iter()
                .any(|a| a.name == r.name && a.checksum == r.checksum)
        });

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
    Ok(DiffReport {
        database: pg.url.to_string(),
        versions: versioned.iter().map(|m| m.version).collect(),
        repeatables: repeatables.iter().map(|r| r.name.clone()).collect(),
        repeatables_not_reproduced: left_out.iter().map(|r| r.name.clone()).collect(),
        compared: comparison.compared,
        expected_schema: comparison.expected_from,
        differences: comparison.differences,
    })
}
