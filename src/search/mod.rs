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
//! flight (how many: [`tuning`], from the server's answers; PostgreSQL's rows
//! keep being read and built into the next request body while they fly),
//! catches up with the rows written meanwhile ([`catch_up`]), verifies
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
pub mod tuning;

use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::postgres::PgConnection;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::progress::Progress;
use crate::store::es::{Es, EsError};
pub use docs::Source;
pub use tuning::Concurrency;
use tuning::Tuner;

/// How documents are batched and sent.
#[derive(Debug, Clone, Copy)]
pub struct BulkSettings {
    /// Documents per bulk request, at most.
    pub batch_docs: usize,
    /// Bytes per bulk request, at most (a single larger document goes alone).
    pub batch_bytes: usize,
    /// Bulk requests in flight: fixed, or chosen from the server's answers.
    pub concurrency: Concurrency,
    /// Attempts after the first, per request.
    pub retries: usize,
}

impl Default for BulkSettings {
    fn default() -> Self {
        BulkSettings {
            batch_docs: 1000,
            batch_bytes: 5 * 1024 * 1024,
            concurrency: Concurrency::Auto {
                ceiling: tuning::CEILING,
            },
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
    /// Bulk requests in flight at the end: with [`Concurrency::Auto`], what
    /// the server's answers settled it at.
    pub concurrency: usize,
}

/// Streams `source`'s `rows` into `index` (a concrete index or an alias with
/// one index). Rows no longer eligible become deletes, except in a full
/// build where they are skipped. Stops producing at the first item error and
/// returns once every request in flight has finished. PostgreSQL's rows keep
/// being read and built into the next batch while earlier batches are in
/// flight; the producer waits only when the concurrency is reached.
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
        // One document's JSON, reused: it is copied once, into the request body.
        let mut doc = Vec::with_capacity(1024);
        while let Some(row) = stream.try_next().await? {
            doc.clear();
            let (id, eligible) = source.document(&row, &mut doc)?;
            out.rows += 1;
            match eligible {
                true => {
                    let print = catch_up::fingerprint(&doc);
                    if held.is_some_and(|h| h.holds(id, print)) {
                        out.unchanged += 1;
                        continue;
                    }
                    out.indexed.push((id, print));
                    sender
                        .push(|body| {
                            write_action(body, "index", index, id);
                            body.extend_from_slice(&doc);
                            body.push(b'\n');
                        })
                        .await;
                }
                false if held.is_some_and(|h| !h.contains(id)) => {
                    out.unchanged += 1;
                    continue;
                }
                false if !matches!(rows, Rows::All) => {
                    out.deleted_ids.push(id);
                    sender
                        .push(|body| write_action(body, "delete", index, id))
                        .await;
                }
                false => continue,
            }
            if sender.stopped() {
                break;
            }
        }
    }
    out.concurrency = sender.concurrency();
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
        sender
            .push(|body| write_action(body, "delete", index, *id))
            .await;
        if sender.stopped() {
            break;
        }
    }
    sender.finish().await
}

/// Appends a bulk action line, `{"<op>":{"_index":"<index>","_id":"<id>"}}`,
/// written straight into the request body (no JSON value built per document).
fn write_action(body: &mut Vec<u8>, op: &str, index: &str, id: Uuid) {
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(op.as_bytes());
    body.extend_from_slice(b"\":{\"_index\":");
    // The index name as a JSON string, escaped by serde_json (a prefix is the user's).
    serde_json::to_writer(&mut *body, index).expect("writing into a Vec cannot fail");
    body.extend_from_slice(b",\"_id\":\"");
    body.extend_from_slice(
        id.hyphenated()
            .encode_lower(&mut Uuid::encode_buffer())
            .as_bytes(),
    );
    body.extend_from_slice(b"\"}}\n");
}

/// Items (an action line, and a document line for an index) end to end in
/// one request body, and where each ends: a request goes out without
/// gathering pieces, and the items a server refuses with 429 are cut out of
/// it for the retry.
#[derive(Debug, Default)]
struct Batch {
    body: Vec<u8>,
    ends: Vec<usize>,
}

impl Batch {
    fn with_capacity(bytes: usize, items: usize) -> Batch {
        Batch {
            body: Vec::with_capacity(bytes),
            ends: Vec::with_capacity(items),
        }
    }

    fn len(&self) -> usize {
        self.ends.len()
    }

    fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    fn item(&self, i: usize) -> &[u8] {
        let start = match i {
            0 => 0,
            _ => self.ends[i - 1],
        };
        &self.body[start..self.ends[i]]
    }

    /// A batch of the items `picked` (positions in this one).
    fn subset(&self, picked: &[usize]) -> Batch {
        let mut out = Batch::default();
        for &i in picked {
            out.body.extend_from_slice(self.item(i));
            out.ends.push(out.body.len());
        }
        out
    }
}

/// What one request's answers said, for the concurrency rule.
type Answered = Result<BulkStats, EsError>;

/// The batch being filled, the bulk requests in flight, what the finished
/// ones did, and (with [`Concurrency::Auto`]) the window of answers the next
/// concurrency is chosen from.
struct Sender<'a> {
    es: &'a Es,
    settings: BulkSettings,
    progress: &'a dyn Progress,
    batch: Batch,
    in_flight: JoinSet<Answered>,
    /// Requests allowed in flight now.
    limit: usize,
    tuner: Option<Tuner>,
    window: WindowSoFar,
    stats: BulkStats,
    failure: Option<EsError>,
}

/// Answers of the current window, as they arrive.
struct WindowSoFar {
    started: Instant,
    requests: usize,
    docs: u64,
    throttled: bool,
}

impl WindowSoFar {
    fn new() -> WindowSoFar {
        WindowSoFar {
            started: Instant::now(),
            requests: 0,
            docs: 0,
            throttled: false,
        }
    }
}

impl<'a> Sender<'a> {
    fn new(es: &'a Es, settings: BulkSettings, progress: &'a dyn Progress) -> Sender<'a> {
        let (limit, tuner) = match settings.concurrency {
            Concurrency::Fixed(n) => (n.max(1), None),
            Concurrency::Auto { ceiling } => {
                let tuner = Tuner::new(ceiling);
                (tuner.current(), Some(tuner))
            }
        };
        Sender {
            es,
            settings,
            progress,
            batch: Batch::default(),
            in_flight: JoinSet::new(),
            limit,
            tuner,
            window: WindowSoFar::new(),
            stats: BulkStats::default(),
            failure: None,
        }
    }

    /// The concurrency in use now (the one an automatic stream settled at, at its end).
    fn concurrency(&self) -> usize {
        self.limit
    }

    /// Adds one item, which `write` appends to the request body, sending
    /// the batch when it is full by count or bytes.
    async fn push(&mut self, write: impl FnOnce(&mut Vec<u8>)) {
        let start = self.batch.body.len();
        write(&mut self.batch.body);
        // Send what is batched first when this item overflows the byte bound.
        if !self.batch.is_empty() && self.batch.body.len() > self.settings.batch_bytes {
            let item = self.batch.body.split_off(start);
            let full = self.take_batch();
            self.send(full).await;
            self.batch.body.extend_from_slice(&item);
        }
        self.batch.ends.push(self.batch.body.len());
        if self.batch.len() >= self.settings.batch_docs {
            let full = self.take_batch();
            self.send(full).await;
        }
    }

    /// The full batch, leaving an empty one sized like it.
    fn take_batch(&mut self) -> Batch {
        let next = Batch::with_capacity(self.batch.body.len(), self.batch.len());
        std::mem::replace(&mut self.batch, next)
    }

    /// Sends `batch` once fewer than the concurrency's requests are in flight.
    async fn send(&mut self, batch: Batch) {
        while self.in_flight.len() >= self.limit {
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

    fn settle(&mut self, done: Result<Answered, tokio::task::JoinError>) {
        match done {
            Ok(Ok(s)) => {
                let docs = s.indexed + s.deleted + s.failed;
                self.progress.advance(docs);
                self.window.requests += 1;
                self.window.docs += docs;
                self.window.throttled |= s.retries > 0;
                self.stats.absorb(s);
                self.retune();
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

    /// Once a window of answers is complete, lets the tuner choose the
    /// concurrency of the next one.
    fn retune(&mut self) {
        let Some(tuner) = self.tuner.as_mut() else {
            return;
        };
        let w = &self.window;
        if w.requests < tuning::window_requests(self.limit) {
            return;
        }
        let elapsed = w.started.elapsed().as_secs_f64().max(1e-3);
        self.limit = tuner.observe(tuning::Window {
            concurrency: self.limit,
            docs_per_sec: (w.docs as f64 / elapsed) as u64,
            throttled: w.throttled,
        });
        self.window = WindowSoFar::new();
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
async fn send_batch(es: &Es, mut items: Batch, retries: usize) -> Result<BulkStats, EsError> {
    let mut delays = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(200))
        .with_max_delay(Duration::from_secs(10))
        .with_max_times(retries)
        .with_jitter()
        .build();
    let mut stats = BulkStats::default();
    loop {
        let reply = match es.bulk(items.body.clone()).await {
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
        for (at, result) in reply.items.into_iter().enumerate() {
            let Some((op, r)) = result.into_iter().next() else {
                continue;
            };
            match (op.as_str(), r.status) {
                ("delete", 200..=299) => stats.deleted += 1,
                (_, 200..=299) => stats.indexed += 1,
                // Already gone: the delete's goal holds.
                ("delete", 404) => stats.deleted += 1,
                (_, 429) => again.push(at),
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
                items = items.subset(&again);
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
