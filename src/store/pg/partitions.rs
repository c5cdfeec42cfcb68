//! Range partitions of the partitioned tables (`orders` and `audit_log`
//! monthly, `wallet_transactions` quarterly), named and bounded exactly as
//! the migrations name them: `orders_2026_01`, `wallet_transactions_2026_q1`,
//! `audit_log_2026_01`, bounds in UTC with an explicit `+00` offset.
//!
//! [`ensure_range_partition`] creates one partition unless a table of that
//! name exists; names, bounds and the partitions covering a time range are
//! the pure `crate::partition::naming`'s. It
//! never moves rows out of a DEFAULT partition (PostgreSQL refuses to create a
//! partition whose range the DEFAULT partition already holds rows for; that
//! move is `partition-rotate`'s job) and never drops anything.

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;

use super::quote_ident;
use crate::partition::naming::{bound, RangePartition};

/// Creates `name` as the partition `[from, to)` of `parent`, unless a table
/// called `name` already exists. Returns whether it created it.
///
/// Fails (as PostgreSQL does) when another partition overlaps the range, or
/// when the DEFAULT partition holds rows in it. Run it under the run lock and
/// with `lock_timeout` set: attaching takes a lock on the parent.
pub async fn ensure_range_partition(
    conn: &mut PgConnection,
    parent: &str,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    name: &str,
) -> Result<bool, sqlx::Error> {
    let exists: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = current_schema() AND c.relname = $1)",
    )
    .bind(name)
    .fetch_one(&mut *conn)
    .await?;
    if exists {
        return Ok(false);
    }
    let sql = format!(
        "CREATE TABLE {} PARTITION OF {} FOR VALUES FROM ('{}') TO ('{}')",
        quote_ident(name),
        quote_ident(parent),
        bound(from),
        bound(to)
    );
    sqlx::raw_sql(&sql).execute(conn).await?;
    Ok(true)
}

/// [`ensure_range_partition`] for each of `partitions`; returns the names created.
pub async fn ensure_all(
    conn: &mut PgConnection,
    partitions: &[RangePartition],
) -> Result<Vec<String>, sqlx::Error> {
    let mut created = Vec::new();
    for p in partitions {
        if ensure_range_partition(conn, p.parent, p.from, p.to, &p.name).await? {
            created.push(p.name.clone());
        }
    }
    Ok(created)
}
