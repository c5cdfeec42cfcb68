//! Partitions for an import into a partitioned table (orders monthly,
//! wallet_transactions quarterly): every row must land in its range
//! partition, never silently in DEFAULT.
//!
//! The partitions are made BEFORE the import's transaction begins, in their
//! own committed statements, with partition-rotate's code
//! (`store::pg::partitions::ensure_range_partition`, or
//! `store::pg::rotate::move_and_create` when DEFAULT already holds rows of
//! that period, which PostgreSQL requires). Not inside the import's
//! transaction, deliberately: `CREATE TABLE ... PARTITION OF` takes an ACCESS
//! EXCLUSIVE lock on the parent (and SHARE ROW EXCLUSIVE on the tables its
//! foreign keys name) until the commit, and the second connection, which
//! checks unique keys and references against those very tables while the
//! COPY runs, would then wait on its own import forever. So a quick first pass
//! reads only the partition key of every row (constant memory: a set of
//! periods). An import that fails afterwards leaves its new partitions, empty:
//! exactly what partition-rotate would have created. A dry run creates
//! nothing and reports the partitions it would create.

use std::collections::BTreeMap;

use chrono::Utc;
use sqlx::postgres::PgConnection;

use super::check::parse_timestamp;
use super::reader::{CsvSource, Record};
use super::{input, Options};
use crate::config::RedactedUrl;
use crate::error::Result;
use crate::output::progress;
use crate::store::pg::partitions::{
    ensure_range_partition, partition_for, RangePartition, PARTITIONED,
};
use crate::store::pg::{self, rotate};

/// Creates the partitions the rows of `opts.file` need (in a dry run: lists
/// them); returns their names. `conn` must not be inside a transaction.
pub async fn prepare(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    opts: &Options,
    dry_run: bool,
) -> Result<Vec<String>> {
    let Some(&(parent, period)) = PARTITIONED.iter().find(|(t, _)| *t == opts.table) else {
        return Ok(Vec::new());
    };
    let err = |e| pg::error(url, e);
    // read_state prints bounds in the session's TimeZone.
    sqlx::raw_sql("SET TIME ZONE 'UTC'")
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    let state = rotate::read_state(conn, parent, period, None)
        .await
        .map_err(err)?;
    let key = rotate::key_column(conn, parent).await.map_err(err)?;
    let mut needed: BTreeMap<String, RangePartition> = BTreeMap::new();
    let mut need = |at| {
        let covered = |p: &RangePartition| p.from <= at && at < p.to;
        if !state.attached.iter().any(covered) {
            let p = partition_for(parent, period, at);
            needed.entry(p.name.clone()).or_insert(p);
        }
    };
    let mut source = CsvSource::open(&opts.file, opts.delimiter, opts.quote).map_err(input)?;
    let header = source.header().map_err(input)?;
    let position = header.iter().position(|h| {
        let target = opts
            .maps
            .iter()
            .find(|(from, _)| from == h)
            .map_or(h.as_str(), |(_, to)| to.as_str());
        target == key
    });
    match position {
        // Without the column every row takes its default, now().
        None => need(Utc::now()),
        Some(i) => {
            let bar = progress::throughput(source.size(), "bytes", opts.progress);
            bar.set_message(format!(
                "{}: reading the partition keys",
                opts.file.display()
            ));
            let mut record = Record::default();
            let mut rows: u64 = 0;
            while source.next(&mut record).map_err(input)? {
                // An unreadable value is rejected by the import itself.
                if let Some(at) = record.field(i).and_then(parse_timestamp) {
                    need(at.to_utc());
                }
                rows += 1;
                if rows.is_multiple_of(65_536) {
                    bar.set_position(source.position());
                }
            }
            bar.finish_and_clear();
        }
    }
    let mut created = Vec::new();
    for p in needed.into_values() {
        if dry_run {
            created.push(p.name);
            continue;
        }
        let holds_rows = state.in_default.iter().any(|(d, _)| d.name == p.name);
        let made = if holds_rows {
            rotate::move_and_create(conn, p.parent, &p.name, p.from, p.to)
                .await
                .map_err(err)?;
            true
        } else {
            ensure_range_partition(conn, p.parent, p.from, p.to, &p.name)
                .await
                .map_err(err)?
        };
        if made {
            created.push(p.name);
        }
    }
    Ok(created)
}
