//! Partition rotation, the database side: read what exists, then carry out
//! one planned action at a time (see `crate::partition::plan`).
//!
//! Every statement runs under the session's `lock_timeout`: ATTACH, DETACH
//! and CREATE ... PARTITION OF lock the parent, and a lock queued behind a
//! long query would stall every query queued behind it in turn.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::archive;
use super::quote_ident;
use crate::partition::archive::Identity;
use crate::partition::naming::{partition_for, partition_named, Period, RangePartition};
use crate::partition::plan::{ArchiveState, TableState};

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

/// Where to look for the archives of the partitions that leave the table.
#[derive(Debug, Clone, Copy)]
pub struct Archives<'a> {
    /// This database's folder under `archive_dir`.
    pub folder: &'a Path,
    pub identity: &'a Identity,
    /// Partitions ending at or before this instant are past retention
    /// (`partition::plan::retention_cutoff`): only theirs are inspected.
    pub cutoff: DateTime<Utc>,
}

/// What exists for `parent`; with `archives`, what the archive folder holds
/// for each partition past retention, attached or detached. The session
/// must be in UTC (bounds print in its TimeZone).
pub async fn read_state(
    conn: &mut PgConnection,
    parent: &'static str,
    period: Period,
    archives: Option<Archives<'_>>,
) -> Result<TableState, sqlx::Error> {
    let children: Vec<(String, String)> = sqlx::query_as(
        "SELECT c.relname::text, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i \
         JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = $1::regclass ORDER BY 1",
    )
    .bind(parent)
    .fetch_all(&mut *conn)
    .await?;
    let attached: Vec<RangePartition> = children
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
    // Only tables whose name is a period's: `orders_2026_13` was never a partition.
    let detached: Vec<RangePartition> = loose
        .iter()
        .filter_map(|name| partition_named(parent, period, name))
        .collect();
    let mut inspected = BTreeMap::new();
    if let Some(a) = archives {
        for p in attached
            .iter()
            .chain(&detached)
            .filter(|p| p.to <= a.cutoff)
        {
            let state: ArchiveState = archive::inspect(conn, a.folder, a.identity, p).await?;
            inspected.insert(p.name.clone(), state);
        }
    }
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
        archives: inspected,
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

/// Drops the detached table `name`. With `archived_rows` (the rows its
/// archive's sidecar records), only while it still holds exactly that many:
/// the count and the DROP run under one ACCESS EXCLUSIVE lock, so no row
/// written after the archive is lost. Returns why it was not dropped.
pub async fn drop_table(
    conn: &mut PgConnection,
    name: &str,
    archived_rows: Option<i64>,
) -> Result<Option<String>, sqlx::Error> {
    let table = quote_ident(name);
    let mut tx = conn.begin().await?;
    if let Some(archived) = archived_rows {
        sqlx::raw_sql(&format!("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE"))
            .execute(&mut *tx)
            .await?;
        let rows: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *tx)
            .await?;
        if rows != archived {
            tx.rollback().await?;
            return Ok(Some(format!(
                "not dropped: it holds {rows} rows and its archive {archived}; the next run archives it again"
            )));
        }
    }
    sqlx::raw_sql(&format!("DROP TABLE IF EXISTS {table}"))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(None)
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
