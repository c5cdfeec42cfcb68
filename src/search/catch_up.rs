//! Catch-up passes: what a full rebuild does after its bulk load, before the
//! alias swap and once after it, so that no write PostgreSQL commits during the
//! rebuild is missing from the new index.
//!
//! The bulk load reads every row in one snapshot (a REPEATABLE READ
//! transaction). A pass then reads, in a new snapshot, the rows whose document
//! may have changed since the previous one: upserts the eligible ones, deletes
//! the others, and deletes the documents of rows no longer in the source table
//! at all (hard deletes leave no row to find: the pass compares the ids it has
//! indexed, kept sorted in memory ([`Indexed`], 24 bytes per document), with
//! the table's ids). Passes repeat until one finds fewer documents to write or
//! delete than the threshold, or no fewer than the pass before ([`Stage`]),
//! or [`MAX_PASSES`] ran; in that last pass's snapshot PostgreSQL's count of
//! documents to index is taken, and the index must hold exactly that many.
//!
//! Which rows changed is decided by the transaction that wrote them (`xmin`),
//! not by `updated_at`: the trigger stamps `updated_at` with `now()`, the
//! *start* of the writing transaction, so a transaction that began before a
//! snapshot and committed after it carries an `updated_at` older than the
//! snapshot and a timestamp watermark misses it. A pass takes every row written
//! by a transaction whose id is at least the previous snapshot's [`floor`]
//! (the oldest transaction still running then that may have written to this
//! database): everything that snapshot did not see is in that range, including
//! work of subtransactions and of transactions that had no id yet.
//! Transactions that committed before the snapshot but have ids in the range
//! are read once more; an idle transaction of this database left open for long
//! widens the range (passes re-read what was written since it began).
//!
//! A row read again costs a PostgreSQL read, not an Elasticsearch write: the
//! run keeps, for every document it wrote into the new index, a fingerprint of
//! the JSON sent ([`fingerprint`]), and a pass before the swap sends only the
//! documents that differ from it (and deletes only documents the index holds).
//! Overwriting a document is what a pass costs most (an Elasticsearch-compatible
//! server pays a delete and an add; see docs/benchmarks.md), and rows re-read
//! because of a wide range, or written without a change to their document
//! (a stock counter, `updated_at` alone), need none. Nothing but this run
//! writes into the new index before the swap, so the bookkeeping is what the
//! index holds; the pass after the swap, when the application may write into
//! the index too, sends every row it reads.
//!
//! Rows deleted from the table are found by reading all its ids (below), a
//! read of the whole primary key: a pass that finds at least the threshold of
//! changed documents is followed by another anyway, so only a pass that may be
//! the last one does it (and the pass after the swap).
//!
//! [`floor`]: Snapshot::floor
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
use std::hash::{BuildHasher, RandomState};
use std::sync::OnceLock;
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

/// What a snapshot did not see, as 64-bit transaction ids (as
/// `pg_current_snapshot()` gives them): the writes of every transaction from
/// `xmax` on, and of some between `floor` and `xmax` (those still running).
#[derive(Debug, Clone, Copy)]
pub struct Snapshot {
    /// The oldest transaction running at the snapshot that may have written
    /// to this database, or `xmax` when none: the snapshot's `xmin` without
    /// the transactions of other databases of the server, which cannot write
    /// here (ids are server-wide, so a long transaction of another database
    /// would otherwise widen every pass's range).
    pub floor: i64,
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
    let (floor, xmax): (i64, i64) = sqlx::query_as(SNAPSHOT_SQL).fetch_one(&mut *tx).await?;
    Ok((tx, Snapshot { floor, xmax }))
}

/// The transaction's snapshot, as `(floor, xmax)`. A transaction listed as
/// running is left out of the floor only when `pg_stat_activity`, read after
/// the snapshot was taken, shows it still running in another database: one
/// that ended meanwhile, a prepared one, or one whose session the role may not
/// see (NULL `backend_xid`) counts, as if it had written here.
const SNAPSHOT_SQL: &str = "\
    SELECT coalesce(( \
             SELECT min(x::text::bigint) FROM pg_snapshot_xip(s) x \
             WHERE NOT EXISTS ( \
               SELECT 1 FROM pg_stat_activity a \
               WHERE a.backend_xid = x::xid \
                 AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))), \
             pg_snapshot_xmax(s)::text::bigint), \
           pg_snapshot_xmax(s)::text::bigint \
    FROM pg_current_snapshot() s";

/// A fingerprint of a document's JSON, to tell whether the index already
/// holds it. SipHash under keys drawn once per process: a collision (a changed
/// document taken for the one sent, so not sent) has odds of 2^-64 per
/// document and cannot be crafted by whoever writes product names, since the
/// keys are secret.
pub fn fingerprint(json: &[u8]) -> u64 {
    static KEYS: OnceLock<RandomState> = OnceLock::new();
    KEYS.get_or_init(RandomState::new).hash_one(json)
}

/// The documents this run wrote into an index and has not deleted: id and
/// [`fingerprint`], sorted by id (24 bytes per document).
#[derive(Debug, Default)]
pub struct Indexed {
    docs: Vec<(Uuid, u64)>,
}

impl Indexed {
    pub fn new(mut docs: Vec<(Uuid, u64)>) -> Indexed {
        docs.sort_by_key(|(id, _)| *id);
        // A stable sort: of two entries for one id, the later is the one sent last.
        docs.dedup_by(|later, earlier| {
            let same = later.0 == earlier.0;
            if same {
                earlier.1 = later.1;
            }
            same
        });
        Indexed { docs }
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// The index holds a document for `id`.
    pub fn contains(&self, id: Uuid) -> bool {
        self.find(id).is_ok()
    }

    /// The index holds exactly the document of fingerprint `print` for `id`.
    pub fn holds(&self, id: Uuid, print: u64) -> bool {
        self.find(id).is_ok_and(|at| self.docs[at].1 == print)
    }

    fn find(&self, id: Uuid) -> Result<usize, usize> {
        self.docs.binary_search_by_key(&id, |(i, _)| *i)
    }

    /// Records documents written (`added`, in the order sent) and deleted.
    fn apply(&mut self, added: &[(Uuid, u64)], removed: &[Uuid]) {
        if !removed.is_empty() {
            let removed: HashSet<&Uuid> = removed.iter().collect();
            self.docs.retain(|(id, _)| !removed.contains(id));
        }
        let mut new = Vec::new();
        for &(id, print) in added {
            match self.find(id) {
                Ok(at) => self.docs[at].1 = print,
                Err(_) => new.push((id, print)),
            }
        }
        if !new.is_empty() {
            // None of `new` was held; of an id sent twice, the last print stays.
            new.append(&mut self.docs);
            *self = Indexed::new(new);
        }
    }
}

/// A rebuild's catch-up passes, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CatchUpReport {
    pub passes: Vec<Pass>,
    /// The last pass before the swap found fewer documents to write or delete
    /// than the threshold (false: the passes stopped shrinking, or
    /// [`MAX_PASSES`] ran; the pass after the swap still caught up).
    pub converged: bool,
}

/// One catch-up pass, for the report.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Pass {
    /// Rows written since the previous snapshot (read again).
    pub rows: u64,
    /// Of those, rows whose document the index already held as it is, or
    /// held none of while the row is not searchable: nothing sent.
    pub unchanged: u64,
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
    /// What decides whether another pass is needed: documents written or
    /// deleted.
    pub fn found(&self) -> u64 {
        self.rows - self.unchanged + self.vanished
    }
}

/// Where a pass writes.
#[derive(Debug, Clone, Copy)]
pub enum Stage {
    /// Into the new index, which nothing else writes to: documents the index
    /// holds as they are are skipped. When the pass [`settles`], PostgreSQL's
    /// count of documents to index is taken in its snapshot.
    ///
    /// [`settles`]: Stage::settles
    BeforeSwap {
        threshold: u64,
        /// Documents the previous pass wrote or deleted (none for the first).
        previous: Option<u64>,
    },
    /// Into the index the alias names: every row read is sent.
    AfterSwap,
}

impl Stage {
    /// A pass that found `found` documents to write or delete is the last
    /// before the swap: fewer than the threshold, or no fewer than the pass
    /// before. Passes that stop shrinking are writers outpacing the server
    /// (each pass takes long enough for as many writes to arrive), and more
    /// of them would only delay the swap: the pass after the swap still takes
    /// whatever they would have.
    pub fn settles(self, found: u64) -> bool {
        match self {
            Stage::BeforeSwap {
                threshold,
                previous,
            } => found < threshold || previous.is_some_and(|p| found >= p),
            Stage::AfterSwap => true,
        }
    }
}

/// The rebuild's state between passes: what the index holds and what the last
/// snapshot saw.
pub struct CatchUp {
    source: Source,
    indexed: Indexed,
    seen: Snapshot,
}

impl CatchUp {
    /// After a full build that read `seen` and wrote `indexed`.
    pub fn new(source: Source, indexed: Indexed, seen: Snapshot) -> CatchUp {
        CatchUp {
            source,
            indexed,
            seen,
        }
    }

    /// Documents the index holds by this bookkeeping.
    pub fn documents(&self) -> u64 {
        self.indexed.len() as u64
    }

    /// One pass into `index`; returns PostgreSQL's count of documents when
    /// `stage` asked for it.
    pub async fn pass(
        &mut self,
        es: &crate::store::es::Es,
        conn: &mut PgConnection,
        index: &str,
        stage: Stage,
        settings: BulkSettings,
        progress: &dyn Progress,
    ) -> Result<(Pass, Option<u64>, BulkStats), StreamError> {
        let started = Instant::now();
        progress.begin(0, Unit::Items("docs"));
        let (mut tx, now) = begin(conn).await?;
        let window = Window {
            reference: now.xmax,
            span: now.xmax - self.seen.floor,
        };
        let held = match stage {
            Stage::BeforeSwap { .. } => Some(&self.indexed),
            Stage::AfterSwap => None,
        };
        let streamed = stream_into(
            es,
            &mut tx,
            self.source,
            Rows::Written(window, held),
            index,
            settings,
            progress,
        )
        .await?;
        let mut stats = streamed.stats;
        self.indexed.apply(&streamed.indexed, &streamed.deleted_ids);
        let mut pass = Pass {
            rows: streamed.rows,
            unchanged: streamed.unchanged,
            ..Pass::default()
        };
        // Looking for deleted rows reads the whole primary key: not in a pass
        // that another will follow anyway.
        if stats.failed == 0 && stage.settles(pass.found()) {
            let vanished = self.vanished(&mut tx).await?;
            pass.vanished = vanished.len() as u64;
            if !vanished.is_empty() {
                stats.absorb(delete_ids(es, index, &vanished, settings, progress).await?);
                self.indexed.apply(&[], &vanished);
            }
        }
        let count = match stage {
            Stage::BeforeSwap { .. } if stage.settles(pass.found()) => {
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

    /// The indexed ids no longer in the source table, by a merge of the sorted
    /// ids with the table's primary key read in order (PostgreSQL orders uuids
    /// by their bytes, as `Uuid` does).
    async fn vanished(&self, conn: &mut PgConnection) -> Result<Vec<Uuid>, sqlx::Error> {
        let sql = format!("SELECT id FROM {} ORDER BY id", self.source.table());
        let mut rows = sqlx::query_scalar::<_, Uuid>(&sql).fetch(conn);
        missing(&self.indexed, &mut rows).await
    }
}

/// The ids of `ours` that the sorted stream `theirs` does not hold.
async fn missing<S>(ours: &Indexed, theirs: &mut S) -> Result<Vec<Uuid>, sqlx::Error>
where
    S: futures_util::Stream<Item = Result<Uuid, sqlx::Error>> + Unpin,
{
    let ours = &ours.docs;
    let mut gone = Vec::new();
    let mut i = 0;
    while let Some(id) = theirs.try_next().await? {
        while i < ours.len() && ours[i].0 < id {
            gone.push(ours[i].0);
            i += 1;
        }
        if i < ours.len() && ours[i].0 == id {
            i += 1;
        }
        if i == ours.len() {
            break;
        }
    }
    gone.extend(ours[i..].iter().map(|(id, _)| *id));
    Ok(gone)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn indexed(ids: &[u128]) -> Indexed {
        Indexed::new(ids.iter().map(|n| (id(*n), *n as u64)).collect())
    }

    #[tokio::test]
    async fn missing_merges_two_sorted_lists() {
        let ours = indexed(&[1, 3, 5, 7, 9]);
        let mut theirs = futures_util::stream::iter([id(2), id(3), id(4), id(7)].map(Ok));
        assert_eq!(
            missing(&ours, &mut theirs).await.unwrap(),
            [id(1), id(5), id(9)]
        );
        let mut none = futures_util::stream::iter(Vec::<Result<Uuid, sqlx::Error>>::new());
        assert_eq!(
            missing(&ours, &mut none).await.unwrap(),
            [1, 3, 5, 7, 9].map(id)
        );
    }

    #[test]
    fn uuid_order_is_byte_order_as_in_postgresql() {
        let a = Uuid::parse_str("0fffffff-ffff-4fff-bfff-ffffffffffff").unwrap();
        let b = Uuid::parse_str("10000000-0000-4000-8000-000000000000").unwrap();
        assert!(a < b);
        assert!(a.as_bytes() < b.as_bytes());
    }

    #[test]
    fn apply_keeps_the_ids_sorted_and_unique_with_the_last_print_sent() {
        let mut held = indexed(&[5, 1, 3]);
        held.apply(&[(id(4), 40), (id(1), 10), (id(4), 41)], &[id(3)]);
        assert_eq!(held.docs, [(id(1), 10), (id(4), 41), (id(5), 5)]);
        assert!(held.holds(id(4), 41) && !held.holds(id(4), 40));
        assert!(!held.contains(id(3)));
        // Deleted, then written again in a later pass (a row deleted and
        // inserted again with the same id).
        held.apply(&[(id(3), 30)], &[]);
        assert!(held.holds(id(3), 30));
        let c = CatchUp::new(Source::Products, held, Snapshot { floor: 1, xmax: 1 });
        assert_eq!(c.documents(), 4);
    }

    #[test]
    fn passes_settle_below_the_threshold_or_when_they_stop_shrinking() {
        let first = Stage::BeforeSwap {
            threshold: 500,
            previous: None,
        };
        assert!(first.settles(499) && !first.settles(500));
        let later = |previous| Stage::BeforeSwap {
            threshold: 500,
            previous: Some(previous),
        };
        assert!(!later(9000).settles(6000), "shrinking: another pass");
        assert!(later(6000).settles(6000) && later(6000).settles(7000));
        assert!(later(600).settles(10));
        assert!(Stage::AfterSwap.settles(u64::MAX));
    }

    #[test]
    fn a_fingerprint_tells_documents_apart_and_is_stable_within_a_run() {
        let a = br#"{"name":"Chai","price":12.50}"#;
        let b = br#"{"name":"Chai","price":12.5}"#;
        assert_eq!(fingerprint(a), fingerprint(a));
        assert_ne!(fingerprint(a), fingerprint(b));
    }
}
