//! Loading a synthetic dataset into PostgreSQL: one transaction, COPY table
//! by table in foreign-key order, users in chunks that a blocking thread
//! generates while the previous chunk streams to the server (both cores
//! work, memory stays bounded by two chunks). Client-only work overlaps the
//! server's wherever the order allows: the partitions are created while the
//! world is built and the users tallied, the first chunk of users is
//! generated while the merchants and offers load.
//!
//! All or nothing: an error, or Ctrl-C, drops the transaction and the server
//! rolls it back; a dry run rolls it back on purpose after counting. It
//! refuses a database that already has users or merchants: the dataset's
//! unique values (phones, emails, order numbers) are unique only among
//! themselves.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::catalog::Catalog;
use super::other_stores::{self, Pending};
use super::tables::UserTables;
use super::{generate_users, generate_world, tally, Cursor, Params, World};
use crate::error::{CommandError, Remedy, Result};
use crate::partition::naming::{self as partitions, Period, PARTITIONED};
use crate::progress::{Progress, Unit};
use crate::secret::RedactedUrl;
use crate::seed::apply;
use crate::seed::files::SeedSource;
use crate::store::pg::bulk;
use crate::store::pg::copy::{copy_in, CopyTable};
use crate::store::pg::reference::{self as stored, UpsertCounts};
use crate::store::pg::{self, Pg};

#[derive(Debug, Clone)]
pub struct Options {
    pub params: Params,
    /// Where reference data comes from if the reference tables are empty.
    pub seeds: SeedSource,
    pub dry_run: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableRows {
    pub table: &'static str,
    pub rows: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Loaded {
    pub scale: u64,
    pub rng_seed: u64,
    pub now: DateTime<Utc>,
    /// Reference tables that were empty and were seeded first.
    pub reference_seeded: Vec<UpsertCounts>,
    pub partitions_created: Vec<String>,
    /// Rows loaded per table, in load order.
    pub tables: Vec<TableRows>,
    pub rows: u64,
    pub other_stores: Vec<Pending>,
}

/// Loads the dataset of `opts` through `conn`, a session on the database of
/// `pg`; the users' progress goes to `progress`.
pub async fn load(
    conn: &mut PgConnection,
    pg: &Pg,
    opts: &Options,
    progress: &dyn Progress,
) -> Result<Loaded> {
    let started = std::time::Instant::now();
    let url = &pg.url;
    let err = |e| pg::error(url, e);
    let mut tx = conn.begin().await.map_err(err)?;
    refuse_non_empty(&mut tx, url).await?;
    pg::set_ddl_timeouts(&mut tx, pg.lock_timeout, pg.statement_timeout)
        .await
        .map_err(err)?;

    let counts = stored::counts(&mut tx).await.map_err(err)?;
    let empty: Vec<&str> = apply::TABLES
        .iter()
        .copied()
        .filter(|t| counts.get(*t).copied().unwrap_or(0) == 0)
        .collect();
    let reference_seeded = if empty.is_empty() {
        Vec::new()
    } else {
        let data = apply::read(&mut tx, url, &opts.seeds).await?;
        apply::upsert(&mut tx, url, &data, Some(&empty)).await?
    };
    let catalog = Catalog::from_stored(&stored::read(&mut tx).await.map_err(err)?)?;

    let params = opts.params;
    // Building the world and the users' tally is client CPU only (seconds at
    // a million users): the server creates the partitions meanwhile.
    let building = tokio::task::spawn_blocking(move || {
        let world = World::build(params, catalog);
        let counted = tally(&world);
        (world, counted)
    });
    let partitions = ensure_partitions(&mut tx, url, &params).await;
    let (world, counted) = building.await.map_err(crashed)?;
    let partitions_created = partitions?;
    let world = Arc::new(world);
    tracing::info!(
        "world built, users tallied and partitions ready after {:?}",
        started.elapsed()
    );

    // The first chunk of users is generated while the supply side loads.
    let first_chunk = spawn_chunk(world.clone(), Cursor::new(&world), UserTables::new());
    let mut loaded: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut order: Vec<&'static str> = Vec::new();
    let world_rows = {
        let world = world.clone();
        blocking(move || generate_world(&world, &counted)).await?
    };
    // Every table the dataset fills is empty (refused otherwise) and this
    // transaction is alone on it: its keys and indexes are built once after
    // the load instead of row by row (what pg_restore does).
    let filled: Vec<&str> = world_rows
        .in_load_order()
        .into_iter()
        .chain(UserTables::new().in_load_order())
        .map(|t| t.table)
        .collect();
    let set_aside = bulk::set_aside(&mut tx, &filled, bulk::Scope::Everything)
        .await
        .map_err(err)?;
    for table in world_rows.in_load_order() {
        send(&mut tx, url, table, &mut loaded, &mut order).await?;
    }

    tracing::info!("merchants and offers loaded after {:?}", started.elapsed());
    load_users(
        &mut tx,
        url,
        &world,
        first_chunk,
        progress,
        &mut loaded,
        &mut order,
    )
    .await?;
    tracing::info!("users loaded after {:?}", started.elapsed());
    let took = set_aside.rebuild(&mut tx).await.map_err(err)?;
    tracing::info!("keys and indexes built in {took:?}");

    // Dashboards read merchant_stats; it summarises the orders just loaded.
    sqlx::raw_sql("REFRESH MATERIALIZED VIEW merchant_stats")
        .execute(&mut *tx)
        .await
        .map_err(err)?;
    tracing::info!("merchant_stats refreshed after {:?}", started.elapsed());
    if opts.dry_run {
        tx.rollback().await.map_err(err)?;
    } else {
        // Fresh statistics, so the first queries (validate's) get good plans.
        let analyze = format!("ANALYZE {}", order.join(", "));
        sqlx::raw_sql(&analyze)
            .execute(&mut *tx)
            .await
            .map_err(err)?;
        tracing::info!("analyzed after {:?}", started.elapsed());
        tx.commit().await.map_err(err)?;
    }
    let tables: Vec<TableRows> = order
        .iter()
        .map(|&table| TableRows {
            table,
            rows: loaded[table],
        })
        .collect();
    Ok(Loaded {
        scale: params.scale,
        rng_seed: params.rng_seed,
        now: params.now,
        reference_seeded,
        partitions_created,
        rows: tables.iter().map(|t| t.rows).sum(),
        other_stores: other_stores::not_yet_sent(|t| loaded.get(t).copied().unwrap_or(0)),
        tables,
    })
}

/// Creates the partitions every generated row needs, so that none lands in a
/// DEFAULT partition; returns the names created.
async fn ensure_partitions(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    params: &Params,
) -> Result<Vec<String>> {
    // audit_log rows come from the merchants trigger, stamped with the
    // transaction's now(), not the dataset's: its month needs a partition too.
    let db_now: DateTime<Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *conn)
        .await
        .map_err(|e| pg::error(url, e))?;
    let (from, to) = params.time_range();
    let mut wanted: Vec<partitions::RangePartition> = PARTITIONED
        .iter()
        .flat_map(|&(parent, period)| partitions::covering(parent, period, from, to))
        .collect();
    wanted.push(partitions::partition_for(
        "audit_log",
        Period::Month,
        db_now,
    ));
    wanted.sort_by(|a, b| a.name.cmp(&b.name));
    wanted.dedup_by(|a, b| a.name == b.name);
    crate::store::pg::partitions::ensure_all(conn, &wanted)
        .await
        .map_err(|e| pg::error(url, e))
}

/// Generates users chunk by chunk on a blocking thread, COPYing each chunk
/// while the next one is generated.
async fn load_users(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    world: &Arc<World>,
    first_chunk: tokio::task::JoinHandle<Chunk>,
    progress: &dyn Progress,
    loaded: &mut BTreeMap<&'static str, u64>,
    order: &mut Vec<&'static str>,
) -> Result<()> {
    progress.begin(world.params.scale, Unit::Items("users"));
    let mut next = Some(first_chunk);
    let mut free = Some(UserTables::new());
    while let Some(chunk) = next.take() {
        let (rows, state) = chunk.await.map_err(crashed)?;
        if !state.done(world) {
            // Two buffers alternate: the one just sent is free again below.
            let buffer = free.take().unwrap_or_default();
            next = Some(spawn_chunk(world.clone(), state, buffer));
        }
        for table in rows.in_load_order() {
            send(conn, url, table, loaded, order).await?;
        }
        progress.advance(rows.users.rows());
        progress.note(&format!("{} rows", loaded.values().sum::<u64>()));
        free = Some(rows);
    }
    progress.end();
    Ok(())
}

async fn refuse_non_empty(conn: &mut PgConnection, url: &RedactedUrl) -> Result<()> {
    let (users, merchants): (bool, bool) =
        sqlx::query_as("SELECT EXISTS (SELECT 1 FROM users), EXISTS (SELECT 1 FROM merchants)")
            .fetch_one(conn)
            .await
            .map_err(|e| pg::error(url, e))?;
    let table = match (users, merchants) {
        (true, _) => "users",
        (_, true) => "merchants",
        _ => return Ok(()),
    };
    Err(CommandError::usage(format!(
        "{} already has data ({table} has rows); a synthetic dataset is loaded only into an empty database",
        url.database_name().unwrap_or_default()
    ))
    .with_remedy(Remedy::EmptyDatabase)
    .with_remedy(Remedy::RebuildRedis))
}

/// COPYs one table's rows (if any) and counts them.
async fn send(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    table: &CopyTable,
    loaded: &mut BTreeMap<&'static str, u64>,
    order: &mut Vec<&'static str>,
) -> Result<()> {
    let count = loaded.entry(table.table).or_insert_with(|| {
        order.push(table.table);
        0
    });
    if table.is_empty() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let rows = copy_in(conn, table).await.map_err(|e| pg::error(url, e))?;
    tracing::debug!(
        "COPY {} rows into {} in {:?}",
        rows,
        table.table,
        started.elapsed()
    );
    *count += rows;
    Ok(())
}

type Chunk = (UserTables, Cursor);

fn spawn_chunk(
    world: Arc<World>,
    mut state: Cursor,
    mut buffer: UserTables,
) -> tokio::task::JoinHandle<Chunk> {
    tokio::task::spawn_blocking(move || {
        generate_users(&world, &mut state, &mut buffer);
        (buffer, state)
    })
}

/// Runs CPU-bound generation off the async runtime's threads.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work).await.map_err(crashed)
}

fn crashed(e: tokio::task::JoinError) -> CommandError {
    CommandError::bug(format!("the synthetic data generator stopped: {e}"))
}
