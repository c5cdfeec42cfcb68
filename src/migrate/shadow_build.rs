//! The expected schema of a set of migrations: built in a shadow database
//! (`store::pg::shadow`: random name, always dropped) and read back with
//! `store::pg::catalog`, or taken from the cache of expected schemas
//! (`store::snapshot_cache`) when nothing it depends on has changed
//! (`crate::migration::snapshot_key` says what that is). Shared by `migrate
//! baseline` and `migrate diff`.
//!
//! The cache only ever saves time: a file it cannot use is noted on the
//! progress and replaced by a fresh build, and one it cannot write is noted
//! and forgotten.

use serde::Serialize;
use sqlx::PgConnection;

use crate::error::{CommandError, Result};
use crate::migration::schema_diff::{compare, Difference, SchemaSnapshot};
use crate::migration::snapshot_key::{snapshot_key, CacheEntry, ShadowInputs};
use crate::migration::{Migration, Repeatable};
use crate::progress::Progress;
use crate::store::pg::provision::{EXTENSIONS, ROLES};
use crate::store::pg::shadow::{self, Shadow};
use crate::store::pg::{catalog, history, migrator, Pg};
use crate::store::snapshot_cache::{Lookup, SnapshotCache};

/// How the expected schema may use the cache.
#[derive(Debug, Clone, Copy)]
pub enum CacheUse<'a> {
    /// No cache (no directory to keep it in): always build.
    Off,
    /// Take the schema from the cache when it holds it; store a fresh build.
    Reuse(&'a SnapshotCache),
    /// Build even when the cache holds it, and store the build.
    Refresh(&'a SnapshotCache),
}

/// Where the expected schema of a run came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExpectedSource {
    /// The cache of expected schemas: nothing it depends on changed.
    Cache,
    /// Built in a shadow database by this run.
    ShadowBuild,
}

impl ExpectedSource {
    /// One line for a report's table.
    pub fn describe(self) -> &'static str {
        match self {
            ExpectedSource::Cache => {
                "expected schema: from the cache (nothing it depends on changed)"
            }
            ExpectedSource::ShadowBuild => "expected schema: built in a shadow database",
        }
    }
}

/// The live schema against the expected one: what `migrate baseline` and
/// `migrate diff` report.
pub struct Comparison {
    /// How many schema objects were expected.
    pub compared: usize,
    pub expected_from: ExpectedSource,
    /// Empty when the live schema is the expected one.
    pub differences: Vec<Difference>,
}

/// Compares the schema of `live` (a connection to the database itself)
/// with the one `versioned`, then `repeatables`, produce
/// ([`expected_schema`]).
pub async fn compare_live(
    live: (&Pg, &mut PgConnection),
    shadow_admin: &Pg,
    versioned: &[&Migration],
    repeatables: &[&Repeatable],
    managed_parents: &[&str],
    cache: CacheUse<'_>,
    progress: &dyn Progress,
) -> Result<Comparison> {
    let (expected, expected_from) = expected_schema(
        shadow_admin,
        versioned,
        repeatables,
        managed_parents,
        cache,
        progress,
    )
    .await?;
    progress.note("reading the live schema");
    let (pg, conn) = live;
    let actual = catalog::snapshot(conn, managed_parents)
        .await
        .map_err(|e| pg.error(e))?;
    Ok(Comparison {
        compared: expected.objects.len(),
        expected_from,
        differences: compare(&expected, &actual),
    })
}

/// The schema `versioned`, then `repeatables`, produce: from the cache when
/// `cache` allows and holds it, else applied to a shadow database created
/// from `shadow_admin`, read and dropped (also when building failed);
/// `managed_parents`: the partitioned tables whose partitions are compared
/// by their parent only.
pub async fn expected_schema(
    shadow_admin: &Pg,
    versioned: &[&Migration],
    repeatables: &[&Repeatable],
    managed_parents: &[&str],
    cache: CacheUse<'_>,
    progress: &dyn Progress,
) -> Result<(SchemaSnapshot, ExpectedSource)> {
    let build_now = || {
        build(
            shadow_admin,
            versioned,
            repeatables,
            managed_parents,
            progress,
        )
    };
    let (store, reuse) = match cache {
        CacheUse::Off => return Ok((build_now().await?, ExpectedSource::ShadowBuild)),
        CacheUse::Reuse(store) => (store, true),
        CacheUse::Refresh(store) => (store, false),
    };
    let server = shadow::server_facts(shadow_admin).await?;
    let catalog_queries = catalog::query_texts();
    let key = snapshot_key(&ShadowInputs {
        versioned,
        repeatables,
        managed_parents,
        server: &server,
        setup_extensions: EXTENSIONS,
        setup_roles: ROLES,
        catalog_queries: &catalog_queries,
        rez_db_version: env!("CARGO_PKG_VERSION"),
    });
    match reuse.then(|| store.read(&key)) {
        Some(Lookup::Hit(snapshot)) => {
            progress.note("expected schema: from the cache");
            return Ok((snapshot, ExpectedSource::Cache));
        }
        Some(Lookup::Unusable(why)) => {
            tracing::info!("ignoring the cached expected schema: {why}");
            progress.note(&format!(
                "ignoring the cached expected schema ({why}); rebuilding it"
            ));
        }
        Some(Lookup::Miss) | None => {}
    }
    let built = build_now().await?;
    let entry = CacheEntry::new(&key, env!("CARGO_PKG_VERSION"), built);
    if let Err(e) = store.write(&entry) {
        let why = format!(
            "cannot cache the expected schema in {}: {e}",
            store.dir().display()
        );
        tracing::warn!("{why}");
        progress.note(&why);
    }
    Ok((entry.snapshot, ExpectedSource::ShadowBuild))
}

/// Builds the schema in a shadow database, reads it, drops the shadow.
async fn build(
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
