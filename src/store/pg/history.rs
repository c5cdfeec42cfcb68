//! The migration history tables: `rez_meta.schema_history` (one row per
//! applied versioned migration) and `rez_meta.repeatable_history` (one row
//! per application of a repeatable migration; the newest per name counts).
//!
//! They live in their own schema so that `GRANT ... ON ALL TABLES IN SCHEMA public`
//! never hands them to application roles, and so `pg_dump -n public` of the data
//! stays clean. They are created lazily by the first real run: a dry run or a
//! check must leave the database exactly as it found it.
//!
//! rez-db's own changes to these tables are made here, idempotently, by
//! [`ensure_table`] ([`upgrade`] for a database that has the tables already):
//! `checksum_algorithm` came with line-ending-proof checksums; the rows written
//! before it keep the algorithm they were written with (`sha256`, the column's
//! default, also for a row an older rez-db writes), and keep verifying.

use sqlx::postgres::PgConnection;
use sqlx::Row;

use crate::migration::source::{Repeatable, CHECKSUM_ALGORITHM};
use crate::migration::{Applied, Migration};

const CREATE: &str = "\
CREATE SCHEMA IF NOT EXISTS rez_meta;
CREATE TABLE IF NOT EXISTS rez_meta.schema_history (
    version        bigint PRIMARY KEY,
    name           text        NOT NULL,
    checksum       text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    no_transaction boolean     NOT NULL,
    applied_at     timestamptz NOT NULL DEFAULT now(),
    applied_by     text        NOT NULL DEFAULT current_user,
    execution_ms   bigint      NOT NULL
);
COMMENT ON TABLE rez_meta.schema_history IS
    'Migrations applied by rez-db; checksum is the SHA-256 of the migration file (checksum_algorithm says of what).';";

/// The changes to the history tables since they first shipped, in order; each idempotent.
const UPGRADES: &str = "\
ALTER TABLE rez_meta.schema_history
    ADD COLUMN IF NOT EXISTS checksum_algorithm text NOT NULL DEFAULT 'sha256';
CREATE TABLE IF NOT EXISTS rez_meta.repeatable_history (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name               text        NOT NULL,
    checksum           text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
    checksum_algorithm text        NOT NULL,
    applied_at         timestamptz NOT NULL DEFAULT now(),
    applied_by         text        NOT NULL DEFAULT current_user,
    execution_ms       bigint      NOT NULL
);
CREATE INDEX IF NOT EXISTS repeatable_history_name ON rez_meta.repeatable_history (name, id);";

/// Creates the history tables, or brings existing ones up to date.
pub async fn ensure_table(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(CREATE).execute(&mut *conn).await?;
    upgrade(conn).await
}

/// Brings existing history tables up to date when they are not (an ALTER
/// takes a table lock: only when something is missing).
pub async fn upgrade(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    let current: bool = sqlx::query_scalar(
        "SELECT to_regclass('rez_meta.repeatable_history') IS NOT NULL AND EXISTS ( \
           SELECT 1 FROM pg_attribute WHERE attrelid = 'rez_meta.schema_history'::regclass \
             AND attname = 'checksum_algorithm' AND NOT attisdropped)",
    )
    .fetch_one(&mut *conn)
    .await?;
    if current {
        return Ok(());
    }
    sqlx::raw_sql(UPGRADES).execute(conn).await.map(|_| ())
}

/// Whether the history table exists.
pub async fn exists(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT to_regclass('rez_meta.schema_history') IS NOT NULL")
        .fetch_one(conn)
        .await
}

/// The applied migrations in version order; empty when the table does not exist.
pub async fn read(conn: &mut PgConnection) -> Result<Vec<Applied>, sqlx::Error> {
    if !exists(&mut *conn).await? {
        return Ok(Vec::new());
    }
    // to_jsonb(h): a table an older rez-db made has no checksum_algorithm yet.
    let rows = sqlx::query(
        "SELECT version, name, checksum, applied_at, execution_ms, \
                coalesce(to_jsonb(h) ->> 'checksum_algorithm', 'sha256') AS checksum_algorithm \
         FROM rez_meta.schema_history h ORDER BY version",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Applied {
                version: r.try_get("version")?,
                name: r.try_get("name")?,
                checksum: r.try_get("checksum")?,
                checksum_algorithm: r.try_get("checksum_algorithm")?,
                applied_at: r.try_get("applied_at")?,
                execution_ms: r.try_get("execution_ms")?,
            })
        })
        .collect()
}

/// Records `migration` as applied; inside the migration's own transaction when it has one.
pub async fn record(
    conn: &mut PgConnection,
    migration: &Migration,
    execution_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rez_meta.schema_history \
           (version, name, checksum, checksum_algorithm, no_transaction, execution_ms) \
         VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(migration.version)
    .bind(&migration.name)
    .bind(&migration.checksum)
    .bind(CHECKSUM_ALGORITHM)
    .bind(migration.no_transaction)
    .bind(execution_ms)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Removes the row of `version` (a reverted migration); inside the down's transaction.
pub async fn remove(conn: &mut PgConnection, version: i64) -> Result<u64, sqlx::Error> {
    sqlx::query("DELETE FROM rez_meta.schema_history WHERE version = $1")
        .bind(version)
        .execute(conn)
        .await
        .map(|r| r.rows_affected())
}

/// A repeatable migration's last application.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatableApplied {
    pub name: String,
    pub checksum: String,
    pub applied_at: chrono::DateTime<chrono::Utc>,
    /// How many times it was applied.
    pub applications: i64,
}

/// The last application of every repeatable migration; empty when the table does not exist.
pub async fn read_repeatable(
    conn: &mut PgConnection,
) -> Result<Vec<RepeatableApplied>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('rez_meta.repeatable_history') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT DISTINCT ON (name) name, checksum, applied_at, \
                count(*) OVER (PARTITION BY name) AS applications \
         FROM rez_meta.repeatable_history ORDER BY name, id DESC",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(RepeatableApplied {
                name: r.try_get("name")?,
                checksum: r.try_get("checksum")?,
                applied_at: r.try_get("applied_at")?,
                applications: r.try_get("applications")?,
            })
        })
        .collect()
}

/// Records an application of `repeatable`; inside its transaction.
pub async fn record_repeatable(
    conn: &mut PgConnection,
    repeatable: &Repeatable,
    execution_ms: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rez_meta.repeatable_history (name, checksum, checksum_algorithm, execution_ms) \
         VALUES ($1, $2, $3, $4)",
    )
    .bind(&repeatable.name)
    .bind(&repeatable.checksum)
    .bind(CHECKSUM_ALGORITHM)
    .bind(execution_ms)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets every application of the repeatable migrations, so that the next
/// run applies them all again: after a revert, whose downs may have dropped
/// or replaced what they define.
pub async fn forget_repeatables(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "DO $$ BEGIN IF to_regclass('rez_meta.repeatable_history') IS NOT NULL THEN \
         DELETE FROM rez_meta.repeatable_history; END IF; END $$",
    )
    .execute(conn)
    .await
    .map(|_| ())
}
