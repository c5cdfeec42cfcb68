//! Partition rotation, the database side: read what exists, then carry out
//! one planned action at a time (see `crate::partition::plan`).
//!
//! Every statement runs under the session's `lock_timeout`: ATTACH, DETACH
//! and CREATE ... PARTITION OF lock the parent, and a lock queued behind a
//! long query would stall every query queued behind it in turn.

use std::path::Path;
use std::process::Command;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::partitions::{partition_for, Period, RangePartition};
use super::quote_ident;
use crate::config::RedactedUrl;
use crate::partition::plan::{archive_path, TableState};

/// `FROM ('a') TO ('b')` of a partition bound, printed in UTC.
fn parse_bound(expr: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let parts: Vec<&str> = expr.split('\'').collect();
    let parse = |s: &str| DateTime::parse_from_str(&format!("{s}00"), "%Y-%m-%d %H:%M:%S%z").ok();
    match parts.as_slice() {
        [_, from, _, to, _] => Some((parse(from)?.to_utc(), parse(to)?.to_utc())),
        _ => None,
    }
}

/// The partition key column of `parent` (e.g. created_at).
pub async fn key_column(conn: &mut PgConnection, parent: &str) -> Result<String, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT a.attname::text FROM pg_partitioned_table p \
         JOIN pg_attribute a ON a.attrelid = p.partrelid AND a.attnum = p.partattrs[0] \
         WHERE p.partrelid = $1::regclass",
    )
    .bind(parent)
    .fetch_one(conn)
    .await
}

/// The DEFAULT partition of `parent`, if it has one.
pub async fn default_partition(
    conn: &mut PgConnection,
    parent: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partdefid \
         WHERE p.partrelid = $1::regclass",
    )
    .bind(parent)
    .fetch_optional(conn)
    .await
}

/// What exists for `parent`. The session must be in UTC (bounds print in its TimeZone).
pub async fn read_state(
    conn: &mut PgConnection,
    parent: &'static str,
    period: Period,
    archive_dir: Option<&Path>,
) -> Result<TableState, sqlx::Error> {
    let children: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1",
    )
    .bind(parent)
    .fetch_all(&mut *conn)
    .await?;
    let attached = children
        .iter()
        .filter_map(|(name, expr)| {
            parse_bound(expr).map(|(from, to)| RangePartition {
                parent,
                name: name.clone(),
                from,
                to,
            })
        })
        .collect();
    let pattern = match period {
        Period::Month => format!("^{parent}_[0-9]{{4}}_[0-9]{{2}}$"),
        Period::Quarter => format!("^{parent}_[0-9]{{4}}_q[1-4]$"),
    };
    let loose: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relkind = 'r' AND NOT c.relispartition AND c.relname ~ $1 ORDER BY 1",
    )
    .bind(&pattern)
    .fetch_all(&mut *conn)
    .await?;
    let detached = loose
        .into_iter()
        .map(|name| {
            let archived = archive_dir.is_some_and(|dir| archive_path(dir, &name).exists());
            (name, archived)
        })
        .collect();
    let mut in_default = Vec::new();
    if let Some(default) = default_partition(conn, parent).await? {
        let key = key_column(conn, parent).await?;
        let unit = match period {
            Period::Month => "month",
            Period::Quarter => "quarter",
        };
        let sql = format!(
            "SELECT (date_trunc('{unit}', {key} AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'), count(*) FROM {default} GROUP BY 1 ORDER BY 1",
            key = quote_ident(&key),
            default = quote_ident(&default),
        );
        let periods: Vec<(DateTime<Utc>, i64)> = sqlx::query_as(&sql).fetch_all(&mut *conn).await?;
        in_default = periods
            .into_iter()
            .map(|(start, rows)| (partition_for(parent, period, start), rows))
            .collect();
    }
    Ok(TableState {
        attached,
        detached,
        in_default,
    })
}

fn bound(at: DateTime<Utc>) -> String {
    format!("{}+00", at.format("%Y-%m-%d %H:%M:%S"))
}

/// Moves the DEFAULT partition's rows of `[from, to)` into a new partition
/// `name`, in one transaction: the rows leave DEFAULT (so PostgreSQL lets the
/// partition be created) and come back through the parent into it.
/// Returns the rows moved.
pub async fn move_and_create(
    conn: &mut PgConnection,
    parent: &str,
    name: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let default = default_partition(conn, parent).await?.ok_or_else(|| {
        sqlx::Error::Protocol(format!(
            "{parent} has no DEFAULT partition to move rows from"
        ))
    })?;
    let key = quote_ident(&key_column(conn, parent).await?);
    let mut tx = conn.begin().await?;
    sqlx::raw_sql(&format!(
        "CREATE TEMP TABLE rez_moving ON COMMIT DROP AS \
           WITH moved AS (DELETE FROM {default} WHERE {key} >= '{from}' AND {key} < '{to}' RETURNING *) SELECT * FROM moved; \
         CREATE TABLE {name} PARTITION OF {parent} FOR VALUES FROM ('{from}') TO ('{to}');",
        default = quote_ident(&default),
        name = quote_ident(name),
        parent = quote_ident(parent),
        from = bound(from),
        to = bound(to),
    ))
    .execute(&mut *tx)
    .await?;
    let moved = sqlx::raw_sql(&format!(
        "INSERT INTO {} SELECT * FROM rez_moving",
        quote_ident(parent)
    ))
    .execute(&mut *tx)
    .await?
    .rows_affected();
    tx.commit().await?;
    Ok(moved)
}

/// Detaches `name` from `parent`. `DETACH ... CONCURRENTLY` is refused when the
/// parent has a DEFAULT partition (ours all do), so this is the plain form,
/// bounded by lock_timeout.
pub async fn detach(conn: &mut PgConnection, parent: &str, name: &str) -> Result<(), sqlx::Error> {
    let concurrently = default_partition(conn, parent).await?.is_none();
    let sql = format!(
        "ALTER TABLE {} DETACH PARTITION {}{}",
        quote_ident(parent),
        quote_ident(name),
        if concurrently { " CONCURRENTLY" } else { "" }
    );
    sqlx::raw_sql(&sql).execute(conn).await.map(|_| ())
}

pub async fn drop_table(conn: &mut PgConnection, name: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {}", quote_ident(name)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Archives table `name` with pg_dump (custom format) to `path`, through a
/// temporary file renamed at the end, so a crash never leaves a file that
/// looks complete. The password goes through PGPASSWORD, never the command line.
pub fn archive(url: &RedactedUrl, name: &str, path: &Path) -> Result<(), String> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let partial = path.with_extension("dump.partial");
    let mut without_password = url.url().clone();
    let _ = without_password.set_password(None);
    let mut cmd = Command::new("pg_dump");
    cmd.arg("--format=custom")
        .arg(format!("--table={}", quote_ident(name)))
        .arg(format!("--file={}", partial.display()))
        .arg(format!("--dbname={without_password}"));
    if let Some(password) = url.url().password() {
        cmd.env("PGPASSWORD", password);
    }
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run pg_dump: {e} (install the PostgreSQL client)"))?;
    if !out.status.success() {
        return Err(url.scrub(&format!(
            "pg_dump of {name} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    std::fs::rename(&partial, path).map_err(|e| {
        format!(
            "cannot move the archive into place at {}: {e}",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_bounds_postgres_prints() {
        let (from, to) =
            parse_bound("FOR VALUES FROM ('2026-11-01 00:00:00+00') TO ('2026-12-01 00:00:00+00')")
                .unwrap();
        assert_eq!(bound(from), "2026-11-01 00:00:00+00");
        assert_eq!(bound(to), "2026-12-01 00:00:00+00");
        assert_eq!(parse_bound("DEFAULT"), None);
    }
}
