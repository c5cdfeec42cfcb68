//! The migration history table, `rez_meta.schema_history`.
//!
//! It lives in its own schema so that `GRANT ... ON ALL TABLES IN SCHEMA public`
//! never hands it to application roles, and so `pg_dump -n public` of the data
//! stays clean. It is created lazily by the first real run: a dry run or a
//! check must leave the database exactly as it found it.

use sqlx::postgres::PgConnection;
use sqlx::Row;

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
    'Migrations applied by rez-db; checksum is the SHA-256 of the migration file.';";

pub async fn ensure_table(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(CREATE).execute(conn).await.map(|_| ())
}

/// The applied migrations in version order; empty when the table does not exist.
pub async fn read(conn: &mut PgConnection) -> Result<Vec<Applied>, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('rez_meta.schema_history') IS NOT NULL")
            .fetch_one(&mut *conn)
            .await?;
    if !exists {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(
        "SELECT version, name, checksum, applied_at, execution_ms \
         FROM rez_meta.schema_history ORDER BY version",
    )
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Applied {
                version: r.try_get("version")?,
                name: r.try_get("name")?,
                checksum: r.try_get("checksum")?,
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
        "INSERT INTO rez_meta.schema_history (version, name, checksum, no_transaction, execution_ms) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(migration.version)
    .bind(&migration.name)
    .bind(&migration.checksum)
    .bind(migration.no_transaction)
    .bind(execution_ms)
    .execute(conn)
    .await
    .map(|_| ())
}
