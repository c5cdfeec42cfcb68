//! The `reindex-es` operation: building the Elasticsearch indices from
//! PostgreSQL ([`reindex::run`]), one run at a time per database (the
//! `search` advisory lock) and per index prefix (the Elasticsearch data
//! lease, `crate::store::lease`).
//!
//! A full rebuild never touches what searches use until the very end: it
//! creates the next versioned index from the file, streams rows out of
//! PostgreSQL (one query per index, rows decoded as they arrive, so memory is
//! bounded by the batches in flight, plus the ids indexed), bulk-indexes them
//! in batches bounded by document count and bytes with a few requests in
//! flight, catches up with the rows written meanwhile ([`catch_up`]), verifies
//! the count, and only then moves the alias in one `_aliases` call (and
//! catches up once more). Any failure before that
//! leaves the alias where it was and deletes the half-built index (or, when
//! asked to keep it, leaves it behind the alias `<name>_failed`): a finding of
//! the report (exit 1). A request the server refuses outside a build stops
//! the run (the store adapter's error).
//!
//! Retries: a bulk request that gets no answer, a 429 or a 5xx is sent again with
//! exponential backoff and jitter (backon); within an answered request, items
//! refused with 429 are sent again the same way. Any other item error fails the
//! run and the first ones are reported.
//!
//! Never: parses arguments, prints, names a flag, or opens a store the face
//! did not hand it (the PostgreSQL sessions come from its `Pg` handle).

pub mod catch_up;
pub mod docs;
pub mod reindex;

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::postgres::PgConnection;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::progress::Progress;
use crate::store::es::{Es, EsError};
pub use docs::Source;

/// How documents are batched and sent.
#[derive(Debug, Clone, Copy)]
pub struct BulkSettings {
    /// Documents per bulk request, at most.
    pub batch_docs: usize,
    /// Bytes per bulk request, at most (a single larger document goes alone).
    pub batch_bytes: usize,
    /// Bulk requests in flight.
    pub concurrency: usize,
    /// Attempts after the first, per request.
    pub retries: usize,
}

impl Default for BulkSettings {
    fn default() -> Self {
        BulkSettings {
            batch_docs: 1000,
            batch_bytes: 5 * 1024 * 1024,
            concurrency: 3,
            retries: 6,
        }
    }
}

/// One document the server refused.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ItemError {
    pub id: String,
    pub status: u16,
    #[serde(rename = "type")]
    pub error_type: String,
    pub reason: String,
}

/// What a stream of bulk requests did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BulkStats {
    pub indexed: u64,
    pub deleted: u64,
    pub failed: u64,
    pub retries: u64,
    /// The first item errors.
    pub errors: Vec<ItemError>,
}

/// Item errors kept for the report.
const ERRORS_SHOWN: usize = 10;

impl BulkStats {
    fn absorb(&mut self, other: BulkStats) {
        self.indexed += other.indexed;
        self.deleted += other.deleted;
        self.failed += other.failed;
        self.retries += other.retries;
        for e in other.errors {
            if self.errors.len() < ERRORS_SHOWN {
                self.errors.push(e);
            }
        }
    }
}

/// Why streaming stopped.
#[derive(Debug)]
pub enum StreamError {
    Pg(sqlx::Error),
    Es(EsError),
}

impl From<sqlx::Error> for StreamError {
    fn from(e: sqlx::Error) -> Self {
        StreamError::Pg(e)
    }
}

/// Which rows of a source a stream reads.
#[derive(Debug, Clone, Copy)]
pub enum Rows<'a> {
    /// Every row (a full build): rows that are not eligible are skipped.
    All,
    /// Rows changed at or after an instant by `updated_at` (`--since`).
    Since(DateTime<Utc>),
    /// Rows written after a snapshot (a catch-up pass). With what the index
    /// holds: a document it holds as it is, or a delete of a document it does
    /// not hold, is not sent.
    Written(catch_up::Window, Option<&'a catch_up::Indexed>),
}

/// What a stream did, and the documents it wrote (id and
/// `catch_up::fingerprint`) and deleted: a rebuild keeps them to skip what
/// the index already holds and to find the rows deleted from PostgreSQL.
#[derive(Debug, Default)]
pub struct Streamed {
    pub stats: BulkStats,
    /// Rows read (documents and deletes).
    pub rows: u64,
    /// Of those, rows not sent: the index held them as they are.
    pub unchanged: u64,
    pub indexed: Vec<(Uuid, u64)>,
    pub deleted_ids: Vec<Uuid>,
}

/// Streams `source`'s `rows` into `index` (a concrete index or an alias with
/// one index). Rows no longer eligible become deletes, except in a full
/// build where they are skipped. Stops producing at the first item error and
/// returns once every request in flight has finished.
pub async fn stream_into(
    es: &Es,
    pg: &mut PgConnection,
    source: Source,
    rows: Rows<'_>,
    index: &str,
    settings: BulkSettings,
    progress: &dyn Progress,
) -> Result<Streamed, StreamError> {
    let mut sender = Sender::new(es, settings, progress);
    let mut out = Streamed::default();
    let sql = match rows {
        Rows::All | Rows::Since(_) => source.sql(),
        Rows::Written(..) => source.written_sql(),
    };
    let held = match rows {
        Rows::Written(_, held) => held,
        _ => None,
    };
    {
        let query = sqlx::query(&sql);
        let query = match rows {
            Rows::All => query.bind(None::<DateTime<Utc>>),
            Rows::Since(t) => query.bind(Some(t)),
            Rows::Written(w, _) => query.bind(w.reference).bind(w.span),
        };
        let mut stream = query.fetch(&mut *pg);
        while let Some(row) = stream.try_next().await? {
            let (id, doc) = source.document(&row)?;
            out.rows += 1;
            let item = match doc {
                Some(json) => {
                    let print = catch_up::fingerprint(&json);
                    if held.is_some_and(|h| h.holds(id, print)) {
                        out.unchanged += 1;
                        continue;
                    }
                    let mut item = action("index", index, &id.to_string());
                    item.extend_from_slice(&json);
                    item.push(b'\n');
                    out.indexed.push((id, print));
                    item
                }
                None if held.is_some_and(|h| !h.contains(id)) => {
                    out.unchanged += 1;
                    continue;
                }
                None if !matches!(rows, Rows::All) => {
                    out.deleted_ids.push(id);
                    action("delete", index, &id.to_string())
                }
                None => continue,
            };
            sender.push(item).await;
            if sender.stopped() {
                break;
            }
        }
    }
    out.stats = sender.finish().await?;
    Ok(out)
}

/// Deletes the documents `ids` from `index`, in bulk batches.
pub async fn delete_ids(
    es: &Es,
    index: &str,
    ids: &[Uuid],
    settings: BulkSettings,
    progress: &dyn Progress,
) -> Result<BulkStats, StreamError> {
    let mut sender = Sender::new(es, settings, progress);
    for id in ids {
        sender.push(action("delete", index, &id.to_string())).await;
        if sender.stopped() {
            break;
        }
    }
    sender.finish().await
}

fn action(op: &str, index: &str, id: &str) -> Vec<u8> {
    let mut line =
        serde_json::to_vec(&json!({op: {"_index": index, "_id": id}})).expect("serialises");
    line.push(b'\n');
    line
}

/// The batch being filled, the bulk requests in flight and what the
/// finished ones did.
struct Sender<'a> {
    es: &'a Es,
    settings: BulkSettings,
    progress: &'a dyn Progress,
    batch: Vec<Vec<u8>>,
    bytes: usize,
    in_flight: JoinSet<Result<BulkStats, EsError>>,
    stats: BulkStats,
    failure: Option<EsError>,
}

impl<'a> Sender<'a> {
    fn new(es: &'a Es, settings: BulkSettings, progress: &'a dyn Progress) -> Sender<'a> {
        Sender {
            es,
            settings,
            progress,
            batch: Vec::new(),
            bytes: 0,
            in_flight: JoinSet::new(),
            stats: BulkStats::default(),
            failure: None,
        }
    }

    /// Adds one item (action line, and document line for an index) to the
    /// batch, sending the batch when it is full by count or bytes.
    async fn push(&mut self, item: Vec<u8>) {
        // Send what is batched first when this item would overflow the byte bound.
        if !self.batch.is_empty() && self.bytes + item.len() > self.settings.batch_bytes {
            let full = std::mem::take(&mut self.batch);
            self.send(full).await;
            self.bytes = 0;
        }
        self.bytes += item.len();
        self.batch.push(item);
        if self.batch.len() >= self.settings.batch_docs {
            let full = std::mem::take(&mut self.batch);
            self.send(full).await;
            self.bytes = 0;
        }
    }

    /// Sends `batch` once fewer than `concurrency` requests are in flight.
    async fn send(&mut self, batch: Vec<Vec<u8>>) {
        while self.in_flight.len() >= self.settings.concurrency.max(1) {
            match self.in_flight.join_next().await {
                Some(done) => self.settle(done),
                None => break,
            }
        }
        let es = self.es.clone();
        let retries = self.settings.retries;
        self.in_flight
            .spawn(async move { send_batch(&es, batch, retries).await });
    }

    /// A request failed or a document was refused: produce nothing more.
    fn stopped(&self) -> bool {
        self.failure.is_some() || !self.stats.errors.is_empty()
    }

    fn settle(&mut self, done: Result<Result<BulkStats, EsError>, tokio::task::JoinError>) {
        match done {
            Ok(Ok(s)) => {
                self.progress.advance(s.indexed + s.deleted + s.failed);
                self.stats.absorb(s);
            }
            Ok(Err(e)) => {
                self.failure.get_or_insert(e);
            }
            Err(join) => {
                self.failure.get_or_insert(EsError {
                    status: None,
                    message: format!("a bulk task failed: {join}"),
                });
            }
        }
    }

    /// Sends what is left, then waits for every request in flight.
    async fn finish(mut self) -> Result<BulkStats, StreamError> {
        if !self.batch.is_empty() && !self.stopped() {
            let last = std::mem::take(&mut self.batch);
            self.send(last).await;
        }
        while let Some(done) = self.in_flight.join_next().await {
            self.settle(done);
        }
        match self.failure {
            Some(e) => Err(StreamError::Es(e)),
            None => Ok(self.stats),
        }
    }
}

/// One batch, with retries: the whole request on no answer/429/5xx, and the
/// items the server answered 429 for.
pub async fn send_batch(
    es: &Es,
    mut items: Vec<Vec<u8>>,
    retries: usize,
) -> Result<BulkStats, EsError> {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(retries)
        .with_jitter()
        .build();
    let mut stats = BulkStats::default();
    loop {
        let body: Vec<u8> = items.concat();
        let reply = match es.bulk(body).await {
            Ok(reply) => reply,
            Err(e) if e.is_transient() => match delays.next() {
                Some(d) => {
                    stats.retries += 1;
                    tokio::time::sleep(d).await;
                    continue;
                }
                None => return Err(e),
            },
            Err(e) => return Err(e),
        };
        let reply: BulkReply = serde_json::from_str(&reply).map_err(|e| EsError {
            status: Some(200),
            message: format!("an unreadable bulk reply: {e}"),
        })?;
        if reply.items.len() != items.len() {
            return Err(EsError {
                status: Some(200),
                message: format!(
                    "the bulk reply has {} items for {} sent",
                    reply.items.len(),
                    items.len()
                ),
            });
        }
        let mut again = Vec::new();
        for (item, result) in items.into_iter().zip(reply.items) {
            let Some((op, r)) = result.into_iter().next() else {
                continue;
            };
            match (op.as_str(), r.status) {
                ("delete", 200..=299) => stats.deleted += 1,
                (_, 200..=299) => stats.indexed += 1,
                // Already gone: the delete's goal holds.
                ("delete", 404) => stats.deleted += 1,
                (_, 429) => again.push(item),
                _ => {
                    stats.failed += 1;
                    if stats.errors.len() < ERRORS_SHOWN {
                        let error = r.error.unwrap_or_default();
                        let text = |p: &str| {
                            error
                                .pointer(p)
                                .and_then(Value::as_str)
                                .unwrap_or("")
                                .to_string()
                        };
                        let caused = text("/caused_by/reason");
                        let reason = match caused.is_empty() {
                            true => text("/reason"),
                            false => format!("{} ({caused})", text("/reason")),
                        };
                        stats.errors.push(ItemError {
                            id: r.id.unwrap_or_default(),
                            status: r.status,
                            error_type: text("/type"),
                            reason,
                        });
                    }
                }
            }
        }
        if again.is_empty() {
            return Ok(stats);
        }
        match delays.next() {
            Some(d) => {
                stats.retries += 1;
                items = again;
                tokio::time::sleep(d).await;
            }
            None => {
                return Err(EsError {
                    status: Some(429),
                    message: format!(
                        "{} documents were still refused with 429 after {retries} retries",
                        again.len()
                    ),
                })
            }
        }
    }
}

/// The parts of a `_bulk` reply rez-db reads; the rest is skipped unparsed.
#[derive(Deserialize)]
struct BulkReply {
    items: Vec<std::collections::BTreeMap<String, BulkItem>>,
}

#[derive(Deserialize)]
struct BulkItem {
    #[serde(default)]
    status: u16,
    #[serde(rename = "_id", default)]
    id: Option<String>,
    #[serde(default)]
    error: Option<Value>,
}

/// Documents per second, for reports.
pub fn rate(docs: u64, started: Instant) -> u64 {
    let secs = started.elapsed().as_secs_f64();
    if secs > 0.0 {
        (docs as f64 / secs) as u64
    } else {
        docs
    }
}
