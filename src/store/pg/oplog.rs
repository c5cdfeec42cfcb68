//! The operations log, `rez_meta.operations`: every mutating rez-db run
//! records its command, its arguments (secrets redacted), the actor, when it
//! started and ended, and how it ended, so "who ran what against prod" has an
//! answer. A run that never ended (killed) keeps its row without `ended_at`.
//!
//! Logging is best effort: a database that cannot take the row (read-only
//! replica, no privilege) must not stop a cron job; it is a warning.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;

const CREATE: &str = "\
CREATE SCHEMA IF NOT EXISTS rez_meta;
CREATE TABLE IF NOT EXISTS rez_meta.operations (
    id          bigserial   PRIMARY KEY,
    command     text        NOT NULL,
    arguments   text[]      NOT NULL,
    actor       text        NOT NULL,
    db_user     text        NOT NULL DEFAULT current_user,
    client_addr inet                 DEFAULT inet_client_addr(),
    started_at  timestamptz NOT NULL,
    ended_at    timestamptz,
    exit_code   integer,
    message     text
);
COMMENT ON TABLE rez_meta.operations IS 'Mutating rez-db runs: who ran what, when, and how it ended. Arguments are redacted.';";

/// One run's row.
#[derive(Debug, Clone)]
pub struct Operation {
    pub command: String,
    pub arguments: Vec<String>,
    pub actor: String,
    pub started_at: DateTime<Utc>,
}

/// `text` as a PostgreSQL `text` value can hold it: NUL, the one character
/// it refuses, written `\0`.
fn storable(text: &str) -> String {
    text.replace('\0', "\\0")
}

/// Writes the start of `op`; returns its id.
pub async fn start(conn: &mut PgConnection, op: &Operation) -> Result<i64, sqlx::Error> {
    sqlx::raw_sql(CREATE).execute(&mut *conn).await?;
    sqlx::query_scalar(
        "INSERT INTO rez_meta.operations (command, arguments, actor, started_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&op.command)
    .bind(op.arguments.iter().map(|a| storable(a)).collect::<Vec<_>>())
    .bind(&op.actor)
    .bind(op.started_at)
    .fetch_one(conn)
    .await
}

/// Records how run `id` ended. A message PostgreSQL cannot store in `text`
/// (a NUL byte) is stored escaped: the run's end is never lost to its message.
pub async fn finish(
    conn: &mut PgConnection,
    id: i64,
    exit_code: u8,
    message: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE rez_meta.operations SET ended_at = clock_timestamp(), exit_code = $2, message = $3 WHERE id = $1")
        .bind(id)
        .bind(i32::from(exit_code))
        .bind(message.map(storable))
        .execute(conn)
        .await
        .map(|_| ())
}
