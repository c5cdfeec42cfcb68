//! Catch-up passes: what a full rebuild does after its bulk load, before the
//! alias swap and once after it, so that no write PostgreSQL commits during the
//! rebuild is missing from the new index.
//!
//! The bulk load reads every row in one snapshot (a REPEATABLE READ
//! transaction). A pass then reads, in a new snapshot, the rows whose document
//! may have changed since the previous one: upserts the eligible ones, deletes
//! the others, and deletes the documents of rows no longer in the source table
//! at all (hard deletes leave no row to find: the pass compares the ids it has
//! indexed, kept sorted in memory, 16 bytes per document, with the table's
//! ids). Passes repeat until one finds fewer rows than the threshold (or
//! [`MAX_PASSES`] ran); in that last pass's snapshot PostgreSQL's count of
//! documents to index is taken, and the index must hold exactly that many.
//!
//! Which rows changed is decided by the transaction that wrote them (`xmin`),
//! not by `updated_at`: the trigger stamps `updated_at` with `now()`, the
//! *start* of the writing transaction, so a transaction that began before a
//! snapshot and committed after it carries an `updated_at` older than the
//! snapshot and a timestamp watermark misses it. A pass takes every row written
//! by a transaction whose id is at least the previous snapshot's `xmin` (the
//! oldest transaction still running then): everything that snapshot did not
//! see is in that range, including work of subtransactions and of transactions
//! that had no id yet. Transactions that committed before the snapshot but
//! have ids in the range are read once more, harmlessly; an idle transaction
//! left open for long widens the range (passes re-read what was written since
//! it began) and may keep the passes from converging, which only costs time.
//!
//! The race between the last pass and the swap: a write committed after the
//! last pass's snapshot and before the alias moves is not in the index at the
//! swap. The pass after the swap (into the index the alias now names) reads
//! everything written since that snapshot, so it is there when `reindex-es`
//! returns. Locking the tables against writes for the last pass and the swap
//! would close it too, at the cost of stalling the application's writes for an
//! Elasticsearch round trip; the extra pass stalls nobody. What remains, by
//! design: a write committed after the final pass's snapshot is not indexed by
//! this run (as after any rebuild: `--since` or the application indexes it),
//! and for the duration of that final pass searches may see documents up to
//! one pass old. Documents whose content depends on the clock rather than on a
//! write (a merchant's count of offers valid *now*) are as of the snapshot that
//! last read them.

use std::collections::HashSet;
use std::time::Instant;

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::postgres::PgConnection;
use sqlx::Connection;
use uuid::Uuid;

use super::{delete_ids, stream_into, BulkSettings, BulkStats, Rows, Source, StreamError};
use crate::progress::{Progress, Unit};

/// Passes before the swap, at most; the pass after the swap comes on top.
pub const MAX_PASSES: usize = 10;

/// The transaction ids a snapshot saw as finished: all below `xmin`, none from
/// `xmax` on (64-bit, as `pg_current_snapshot()` gives them).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    pub xmin: i64,
    pub xmax: i64,
}

/// The range of transaction ids a pass reads rows of: `[reference - span, reference)`.
#[derive(Debug, Clone, Copy)]
pub struct Window {
    pub reference: i64,
    pub span: i64,
}

/// Starts a read-only REPEATABLE READ transaction on `conn`: every query in it
/// sees the snapshot returned.
pub async fn begin(
    conn: &mut PgConnection,
) -> Result<(sqlx::Transaction<'_, sqlx::Postgres>, Snapshot), sqlx::Error> {
    let mut tx = conn.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .execute(&mut *tx)
        .await?;
    let (xmin, xmax): (i64, i64) = sqlx::query_as(
        "SELECT pg_snapshot_xmin(s)::text::bigint, pg_snapshot_xmax(s)::text::bigint \
         FROM pg_current_snapshot() s",
    )
    .fetch_one(&mut *tx)
    .await?;
    Ok((tx, Snapshot { xmin, xmax }))
}

/// A rebuild's catch-up passes, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CatchUpReport {
    pub passes: Vec<Pass>,
    /// The last pass before the swap found fewer rows than the threshold
    /// (false: the passes stopped at [`MAX_PASSES`]; the pass after the swap
    /// still caught up).
    pub converged: bool,
}

/// One catch-up pass, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pass {
    /// Rows written since the previous snapshot (documents upserted or deleted).
    pub rows: u64,
    pub indexed: u64,
    /// Documents deleted: rows no longer eligible, and rows deleted from the table.
    pub deleted: u64,
    /// Of those, rows deleted from the table.
    pub vanished: u64,
    /// Ran after the alias moved (the last pass).
    pub after_swap: bool,
    pub elapsed_ms: u64,
}

impl Pass {
    /// What decides whether another pass is needed.
    pub fn found(&self) -> u64 {
        self.rows + self.vanished
    }
}

/// The rebuild's state between passes: what the index holds and what the last
/// snapshot saw.
pub struct CatchUp {
    source: Source,
    /// Ids of the documents in the index, sorted.
    ids: Vec<Uuid>,
    seen: Snapshot,
}

impl CatchUp {
    /// After a full build that read `seen` and indexed `ids`.
    pub fn new(source: Source, mut ids: Vec<Uuid>, seen: Snapshot) -> CatchUp {
        ids.sort_unstable();
        ids.dedup();
        CatchUp { source, ids, seen }
    }

    /// Documents the index holds by this bookkeeping.
    pub fn documents(&self) -> u64 {
        self.ids.len() as u64
    }

    /// One pass into `index`. When `count_if_below` is given and the pass
    /// finds fewer rows than it, PostgreSQL's count of documents to index is
    /// taken in the same snapshot and returned.
    #[allow(clippy::too_many_arguments)]
    pub async fn pass(
        &mut self,
        es: &crate::store::es::Es,
        conn: &mut PgConnection,
        index: &str,
        count_if_below: Option<u64>,
        settings: BulkSettings,
        progress: &dyn Progress,
    ) -> Result<(Pass, Option<u64>, BulkStats), StreamError> {
        let started = Instant::now();
        progress.begin(0, Unit::Items("docs"));
        let (mut tx, now) = begin(conn).await?;
        let window = Window {
            reference: now.xmax,
            span: now.xmax - self.seen.xmin,
        };
        let streamed = stream_into(
            es,
            &mut tx,
            self.source,
            Rows::Written(window),
            index,
            settings,
            progress,
        )
        .await?;
        let mut stats = streamed.stats;
        self.apply(&streamed.indexed_ids, &streamed.deleted_ids);
        let mut pass = Pass {
            rows: streamed.rows,
            ..Pass::default()
        };
        if stats.failed == 0 {
            let vanished = self.vanished(&mut tx).await?;
            pass.vanished = vanished.len() as u64;
            if !vanished.is_empty() {
                stats.absorb(delete_ids(es, index, &vanished, settings, progress).await?);
                self.apply(&[], &vanished);
            }
        }
        let count = match count_if_below {
            Some(threshold) if pass.found() < threshold => {
                let n: i64 = sqlx::query_scalar(&self.source.count_sql())
                    .bind(None::<chrono::DateTime<chrono::Utc>>)
                    .fetch_one(&mut *tx)
                    .await?;
                Some(n as u64)
            }
            _ => None,
        };
        tx.commit().await?;
        self.seen = now;
        pass.indexed = stats.indexed;
        pass.deleted = stats.deleted;
        pass.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok((pass, count, stats))
    }

    fn apply(&mut self, added: &[Uuid], removed: &[Uuid]) {
        if !removed.is_empty() {
            let removed: HashSet<&Uuid> = removed.iter().collect();
            self.ids.retain(|id| !removed.contains(id));
        }
        if !added.is_empty() {
            self.ids.extend_from_slice(added);
            self.ids.sort_unstable();
            self.ids.dedup();
        }
    }

    /// The indexed ids no longer in the source table, by a merge of the sorted
    /// ids with the table's primary key read in order (PostgreSQL orders uuids
    /// by their bytes, as `Uuid` does).
    async fn vanished(&self, conn: &mut PgConnection) -> Result<Vec<Uuid>, sqlx::Error> {
        let sql = format!("SELECT id FROM {} ORDER BY id", self.source.table());
        let mut rows = sqlx::query_scalar::<_, Uuid>(&sql).fetch(conn);
        missing(&self.ids, &mut rows).await
    }
}

/// The ids of `ours` (sorted) that the sorted stream `theirs` does not hold.
async fn missing<S>(ours: &[Uuid], theirs: &mut S) -> Result<Vec<Uuid>, sqlx::Error>
where
    S: futures_util::Stream<Item = Result<Uuid, sqlx::Error>> + Unpin,
{
    let mut gone = Vec::new();
    let mut i = 0;
    while let Some(id) = theirs.try_next().await? {
        while i < ours.len() && ours[i] < id {
            gone.push(ours[i]);
            i += 1;
        }
        if i < ours.len() && ours[i] == id {
            i += 1;
        }
        if i == ours.len() {
            break;
        }
    }
    gone.extend_from_slice(&ours[i..]);
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    #[tokio::test]
    async fn missing_merges_two_sorted_lists() {
        let ours = [id(1), id(3), id(5), id(7), id(9)];
        let mut theirs = futures_util::stream::iter([id(2), id(3), id(4), id(7)].map(Ok));
        assert_eq!(
            missing(&ours, &mut theirs).await.unwrap(),
            [id(1), id(5), id(9)]
        );
        let mut none = futures_util::stream::iter(Vec::<Result<Uuid, sqlx::Error>>::new());
        assert_eq!(missing(&ours, &mut none).await.unwrap(), ours);
    }

    #[test]
    fn uuid_order_is_byte_order_as_in_postgresql() {
        let a = Uuid::parse_str("0fffffff-ffff-4fff-bfff-ffffffffffff").unwrap();
        let b = Uuid::parse_str("10000000-0000-4000-8000-000000000000").unwrap();
        assert!(a < b);
        assert!(a.as_bytes() < b.as_bytes());
    }

    #[test]
    fn apply_keeps_the_ids_sorted_and_unique() {
        let mut c = CatchUp::new(
            Source::Products,
            vec![id(5), id(1), id(3)],
            Snapshot { xmin: 1, xmax: 1 },
        );
        c.apply(&[id(4), id(1)], &[id(3)]);
        assert_eq!(c.ids, [id(1), id(4), id(5)]);
        assert_eq!(c.documents(), 3);
    }
}
