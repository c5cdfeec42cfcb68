//! The expected schema of a set of migrations: built in a shadow database
//! (`store::pg::shadow`: random name, always dropped) and read back with
//! `store::pg::catalog`. Shared by `migrate baseline` and `migrate diff`.

use crate::error::{CommandError, Result};
use crate::migration::schema_diff::SchemaSnapshot;
use crate::migration::{Migration, Repeatable};
use crate::progress::Progress;
use crate::store::pg::provision::{EXTENSIONS, ROLES};
use crate::store::pg::shadow::Shadow;
use crate::store::pg::{catalog, history, migrator, Pg};

/// Applies `versioned`, then `repeatables`, to a shadow database created
/// from `shadow_admin`, reads its schema and drops it (also when building
/// failed); `managed_parents`: the partitioned tables whose partitions are
/// compared by their parent only.
pub async fn expected_schema(
    shadow_admin: &Pg,
    versioned: &[&Migration],
    repeatables: &[&Repeatable],
    managed_parents: &[&str],
    progress: &dyn Progress,
) -> Result<SchemaSnapshot> {
    progress.note("building the expected schema in a shadow database");
    let shadow = Shadow::create(shadow_admin, EXTENSIONS, ROLES).await?;
    let expected = build_and_read(&shadow, versioned, repeatables, managed_parents).await;
    let dropped = shadow.remove().await;
    let expected = expected?;
    dropped?;
    Ok(expected)
}

/// Applies the migrations in the shadow database and reads its schema.
async fn build_and_read(
    shadow: &Shadow,
    versioned: &[&Migration],
    repeatables: &[&Repeatable],
    managed_parents: &[&str],
) -> Result<SchemaSnapshot> {
    let pg = &shadow.pg;
    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    history::ensure_table(&mut conn).await.map_err(err)?;
    let refused = |f: migrator::Failure| {
        let at = f.line.map(|l| format!(":{l}")).unwrap_or_default();
        CommandError::failed(format!(
            "migrations/{}{at} failed in the shadow database {}: {}",
            f.file,
            shadow.name(),
            f.message
        ))
        .with_hint("the migrations must apply to an empty database: fix the file and run again")
    };
    migrator::apply(&mut conn, versioned, |_| {})
        .await
        .map_err(|(_, f)| refused(f))?;
    migrator::apply_repeatables(&mut conn, repeatables, |_| {})
        .await
        .map_err(|(_, f)| refused(f))?;
    catalog::snapshot(&mut conn, managed_parents)
        .await
        .map_err(err)
}
