//! Whole-keyspace reads: every key matching a pattern, page by page, on
//! every master of a cluster at once (one task per master) or on the one
//! server. Each page of SCAN goes through a step run in the server's task
//! (validate's sample asks TYPE and TTL of the page in one pipeline, backup
//! DUMP and PTTL, while the next SCAN pages are read; `scan` keeps the
//! names), and the
//! caller gets the pages as they come, so nothing but a page per server
//! (and the fingerprints of the keys met, see [`Seen`]) is ever held.
//!
//! What it keeps from a scan of one server after the other: at most
//! `budget.max_keys` keys per server and pass; after a pass, every master
//! whose slots changed during it (a resharding, a failover) is scanned
//! again, so a key moved from a node scanned earlier to one scanned later
//! is not missed; a node that does not answer fails the whole walk with an
//! error that names it (exit 3), never a result from the others only.
//!
//! A failover mid-scan is caught by the node itself, not by the topology: a
//! node's view of the cluster may lag a failover by a gossip round, so a
//! topology read after a pass can still show the old master. Instead, every
//! SCAN page and every page's pipeline on a master ends with `ROLE`, answered
//! by that node in order after the page: a node that is no longer a master
//! may have answered for keys it no longer serves, so the whole pass is read
//! again from a fresh topology; what was handed on stays (callers take a key
//! twice). A key a master lists but answers MOVED for (a node holding keys
//! of slots it does not serve) is asked of its slot's owner, and counted
//! once, as the owner has it.

use std::collections::HashSet;
use std::future::Future;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::{Cmd, Value};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

use super::{error, node_error, KeyInfo, Node, Redis, ScanBudget, SCAN_PASSES};
use crate::error::{CommandError, ErrorKind};

/// Pages of one server whose step is in flight while its next SCAN is read.
const AHEAD: usize = 4;

/// How long a walk waits, after a master stepped down mid-pass, before it
/// reads the topology again: about a gossip round of the cluster bus.
const SETTLE: Duration = Duration::from_millis(500);

/// One server of a walk: the single server, or a master of the cluster.
#[derive(Clone)]
pub(super) struct Server {
    redis: Redis,
    node: Option<Node>,
    /// On a cluster, a connection to this master alone (see
    /// [`Redis::node_connection`]): its SCAN and its pages' pipelines go
    /// there and nowhere else.
    direct: Option<MultiplexedConnection>,
    /// Set by any master of the pass that answered `ROLE` with anything but
    /// `master` (a failover): the pass is read again.
    stepped_down: Arc<AtomicBool>,
}

/// Runs a step on one page of keys of one server: `(server, keys)` in,
/// whatever the caller wants out of the page.
pub(super) trait Step<T>:
    Fn(Server, Vec<Vec<u8>>) -> Self::Fut + Clone + Send + Sync + 'static
{
    type Fut: Future<Output = Result<T, CommandError>> + Send + 'static;
}

impl<T, F, Fut> Step<T> for F
where
    F: Fn(Server, Vec<Vec<u8>>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Result<T, CommandError>> + Send + 'static,
{
    type Fut = Fut;
}

impl Redis {
    /// Walks every key matching `pattern`: SCAN pages of each server, each
    /// through `step` in that server's task, handed to `sink` as they come.
    /// On a cluster the masters are read at once, and the masters whose
    /// slots moved during a pass are read again (at most [`SCAN_PASSES`]
    /// passes), so `sink` may meet a key twice (SCAN itself may, too).
    pub(super) async fn walk<T: Send + 'static>(
        &mut self,
        pattern: &str,
        budget: ScanBudget,
        step: impl Step<T>,
        mut sink: impl FnMut(T),
    ) -> Result<(), CommandError> {
        if !self.is_cluster() {
            let server = Server {
                redis: self.clone(),
                node: None,
                direct: None,
                stepped_down: Arc::default(),
            };
            return read_servers(vec![server], pattern, budget, step, &mut sink).await;
        }
        let (mut before, mut todo) = self.serving_masters().await?;
        for pass in 0.. {
            tracing::debug!(
                "pass {pass}: {}",
                todo.iter()
                    .map(|m| format!("{} ({})", m.addr, m.slot_ranges()))
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            let stepped_down = Arc::new(AtomicBool::new(false));
            let servers = todo
                .into_iter()
                .map(|node| Server {
                    redis: self.clone(),
                    node: Some(node),
                    direct: None,
                    stepped_down: stepped_down.clone(),
                })
                .collect();
            let read = read_servers(servers, pattern, budget, step.clone(), &mut sink).await;
            // After a failover the pass's error (the step-down) is expected.
            let failover = stepped_down.load(Ordering::SeqCst);
            if failover {
                if let Err(e) = &read {
                    tracing::debug!("pass {pass}: {}", e.message);
                }
                tracing::debug!("pass {pass}: a master stepped down: every master again");
                tokio::time::sleep(SETTLE).await;
            } else {
                read?;
            }
            let (after, masters) = self.serving_masters().await?;
            todo = if failover {
                masters
            } else {
                masters
                    .into_iter()
                    .filter(|m| {
                        !before
                            .serving()
                            .any(|b| b.addr == m.addr && b.slots == m.slots)
                    })
                    .collect()
            };
            tracing::debug!("after pass {pass}: {} master(s) to scan again", todo.len());
            if todo.is_empty() {
                break;
            }
            if pass + 1 == SCAN_PASSES {
                return Err(CommandError::new(
                    ErrorKind::Unreachable,
                    format!(
                        "Redis Cluster at {}: slots kept moving during {SCAN_PASSES} scans of the keyspace",
                        self.url
                    ),
                )
                .with_hint("run again once the resharding or failover is over"));
            }
            before = after;
        }
        Ok(())
    }

    /// Every key under the prefix with its TYPE and TTL (keys that vanish
    /// between SCAN and TYPE are left out), each key once, to `each` as the
    /// pages come: at most `budget.max_keys` per server (on a cluster, per
    /// master). Returns how many keys `each` got.
    pub async fn sample_each(
        &mut self,
        budget: ScanBudget,
        mut each: impl FnMut(KeyInfo),
    ) -> Result<u64, CommandError> {
        let pattern = format!("{}*", crate::config::names::glob_literal(&self.prefix));
        let name: fn(&KeyInfo) -> &[u8] = |k| k.key.as_bytes();
        self.each_once(&pattern, budget, type_and_ttl, name, |k| {
            each(k);
            Ok(())
        })
        .await
    }

    /// Every key matching `pattern` with its DUMP payload and remaining TTL,
    /// each key once, to `each` as the pages come (keys gone between SCAN
    /// and DUMP are left out): on a cluster, each master's pages are read
    /// from that master while its next SCAN pages are, so memory holds a few
    /// pages and a fingerprint per key, never the keyspace's names. The
    /// first error of `each` ends the walk and is returned.
    pub async fn dump_each(
        &mut self,
        pattern: &str,
        per_call: usize,
        each: impl FnMut(Dumped) -> Result<(), CommandError>,
    ) -> Result<u64, CommandError> {
        let budget = ScanBudget {
            max_keys: usize::MAX,
            per_call,
            pause: Duration::ZERO,
        };
        let name: fn(&Dumped) -> &[u8] = |k| &k.key;
        self.each_once(pattern, budget, dump_and_pttl, name, each)
            .await
    }

    /// Walks `pattern` with `step` and hands each item of its pages to
    /// `each` once, by `name` (a key SCAN returns twice, or meets again in a
    /// pass read again, counts once). The first error of `each` stops the
    /// handing on and is returned. Returns how many items `each` took.
    async fn each_once<T: Send + 'static>(
        &mut self,
        pattern: &str,
        budget: ScanBudget,
        step: impl Step<Vec<T>>,
        name: fn(&T) -> &[u8],
        mut each: impl FnMut(T) -> Result<(), CommandError>,
    ) -> Result<u64, CommandError> {
        let mut seen = Seen::default();
        let (mut count, mut failed) = (0, None);
        self.walk(pattern, budget, step, |page: Vec<T>| {
            for item in page {
                if failed.is_some() || !seen.first_time(name(&item)) {
                    continue;
                }
                match each(item) {
                    Ok(()) => count += 1,
                    Err(e) => failed = Some(e),
                }
            }
        })
        .await?;
        match failed {
            Some(e) => Err(e),
            None => Ok(count),
        }
    }
}

/// Runs every server's task at once and hands their pages to `sink`; the
/// first error stops them all.
async fn read_servers<T: Send + 'static>(
    servers: Vec<Server>,
    pattern: &str,
    budget: ScanBudget,
    step: impl Step<T>,
    sink: &mut impl FnMut(T),
) -> Result<(), CommandError> {
    let (tx, mut rx) = mpsc::channel(AHEAD * servers.len().max(1));
    let mut tasks = JoinSet::new();
    for server in servers {
        let (tx, step, pattern) = (tx.clone(), step.clone(), pattern.to_string());
        tasks.spawn(async move {
            let mut server = server;
            if let Some(node) = &server.node {
                match server.redis.node_connection(node).await {
                    Ok(conn) => server.direct = Some(conn),
                    Err(e) => {
                        let _ = tx.send(Err(e)).await;
                        return;
                    }
                }
            }
            let pages = scan_pages(server.clone(), pattern, budget);
            let mut done = std::pin::pin!(pages
                .map(|keys| {
                    let (server, step) = (server.clone(), step.clone());
                    async move { step(server, keys?).await }
                })
                .buffered(AHEAD));
            while let Some(page) = done.next().await {
                let failed = page.is_err();
                if tx.send(page).await.is_err() || failed {
                    return;
                }
            }
        });
    }
    drop(tx);
    // Dropping `tasks` on an error aborts the other servers' reads.
    while let Some(page) = rx.recv().await {
        sink(page?);
    }
    while let Some(joined) = tasks.join_next().await {
        joined.map_err(|e| CommandError::bug(format!("a Redis scan task failed: {e}")))?;
    }
    Ok(())
}

/// The SCAN pages of one server, at most `budget.max_keys` keys in all,
/// with `budget.pause` between calls (an opt-in throttle).
fn scan_pages(
    server: Server,
    pattern: String,
    budget: ScanBudget,
) -> impl futures_util::Stream<Item = Result<Vec<Vec<u8>>, CommandError>> + Send {
    // (cursor, keys so far, finished)
    futures_util::stream::unfold((0u64, 0usize, false), move |(cursor, taken, finished)| {
        let (mut server, pattern) = (server.clone(), pattern.clone());
        async move {
            if finished {
                return None;
            }
            if taken > 0 && !budget.pause.is_zero() {
                tokio::time::sleep(budget.pause).await;
            }
            let mut cmd = ::redis::cmd("SCAN");
            cmd.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(budget.per_call);
            match server.scan_call(cmd).await {
                Err(e) => Some((Err(e), (cursor, taken, true))),
                Ok((next, mut keys)) => {
                    keys.truncate(budget.max_keys - taken);
                    let taken = taken + keys.len();
                    let finished = next == 0 || taken >= budget.max_keys;
                    if finished {
                        let node = server.node.as_ref().map(|n| n.addr.as_str());
                        tracing::debug!("SCAN of {node:?} done: {taken} keys");
                    }
                    Some((Ok(keys), (next, taken, finished)))
                }
            }
        }
    })
}

impl Server {
    /// One SCAN call, on the server or on this master itself (then with
    /// its `ROLE` after it: see the module's comment).
    async fn scan_call(&mut self, cmd: Cmd) -> Result<(u64, Vec<Vec<u8>>), CommandError> {
        match (&mut self.direct, &self.node) {
            (Some(conn), Some(node)) => {
                let (page, role): ((u64, Vec<Vec<u8>>), Value) = ::redis::pipe()
                    .add_command(cmd)
                    .cmd("ROLE")
                    .query_async(conn)
                    .await
                    .map_err(|e| node_error(&self.redis.url, node, e))?;
                self.still_master(&role)?;
                Ok(page)
            }
            _ => cmd
                .query_async(&mut self.redis.conn)
                .await
                .map_err(|e| error(&self.redis.url, e)),
        }
    }

    /// The replies to `per` commands about each of `keys`, queued by
    /// `queue`, in one pipeline to this server. On a cluster the pipeline
    /// goes to the master whose SCAN found the keys; the keys whose slot
    /// moved meanwhile (a MOVED or ASK reply) are asked again through
    /// [`Redis::per_key`], routed by their slots, following the redirections.
    pub(super) async fn per_key(
        &mut self,
        keys: &[Vec<u8>],
        per: usize,
        queue: impl Fn(&mut ::redis::Pipeline, &[u8]),
    ) -> Result<Vec<Value>, CommandError> {
        // SCAN with MATCH may answer a page without keys.
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for k in keys {
            queue(&mut pipe, k);
        }
        // On a cluster the raw replies: a MOVED or ASK is a value among them;
        // then the master's ROLE, answered after every key of the page.
        let sent = match &mut self.direct {
            Some(conn) => {
                pipe.cmd("ROLE");
                let replies = conn
                    .req_packed_commands(&pipe, 0, keys.len() * per + 1)
                    .await;
                match replies {
                    Ok(mut values) if values.len() == keys.len() * per + 1 => {
                        let role = values.pop().unwrap_or(Value::Nil);
                        self.still_master(&role)?;
                        Ok(values)
                    }
                    other => other,
                }
            }
            None => pipe.query_async::<Vec<Value>>(&mut self.redis.conn).await,
        };
        // `again`: every key is asked again, routed by its slot.
        let (mut replies, again) = match sent {
            Ok(values) if values.len() == keys.len() * per => (values, false),
            Ok(values) => {
                return Err(CommandError::bug(format!(
                    "a pipeline of {} commands got {} replies",
                    keys.len() * per,
                    values.len()
                )))
            }
            // A driver that turns the first redirection into the answer.
            Err(e) if e.redirect_node().is_some() => (vec![Value::Nil; keys.len() * per], true),
            Err(e) => {
                let mut err = match &self.node {
                    Some(node) => node_error(&self.redis.url, node, e),
                    None => error(&self.redis.url, e),
                };
                err.message = format!("{} (a pipeline of {} key(s))", err.message, keys.len());
                return Err(err);
            }
        };
        let moved: Vec<usize> = (0..keys.len())
            .filter(|i| {
                again
                    || replies[i * per..(i + 1) * per]
                        .iter()
                        .any(|v| matches!(v, Value::ServerError(_)))
            })
            .collect();
        if !moved.is_empty() {
            tracing::debug!(
                "{:?}: {} of {} keys asked again through the cluster client (first replies {:?})",
                self.node.as_ref().map(|n| n.addr.as_str()),
                moved.len(),
                keys.len(),
                &replies[moved[0] * per..(moved[0] + 1) * per]
            );
            let names: Vec<&[u8]> = moved.iter().map(|i| keys[*i].as_slice()).collect();
            let routed = self
                .redis
                .per_key(&names, per, |pipe, _, k| queue(pipe, k))
                .await?;
            for (i, values) in moved.into_iter().zip(routed) {
                replies.splice(i * per..(i + 1) * per, values);
            }
        }
        Ok(replies)
    }
}

impl Server {
    /// Fails the page when this master's `ROLE` reply says it is one no
    /// longer, and marks the pass to be read again.
    fn still_master(&self, role: &Value) -> Result<(), CommandError> {
        let first = match role {
            Value::Array(items) => items.first(),
            _ => None,
        };
        let is_master = matches!(first, Some(Value::BulkString(b)) if b == b"master")
            || matches!(first, Some(Value::SimpleString(s)) if s == "master");
        if is_master {
            return Ok(());
        }
        self.stepped_down.store(true, Ordering::SeqCst);
        let addr = self.node.as_ref().map_or("?", |n| n.addr.as_str());
        Err(CommandError::new(
            ErrorKind::Unreachable,
            format!("Redis Cluster node {addr} stepped down from master during the scan"),
        ))
    }
}

/// validate's step: TYPE and TTL of every key of the page, pipelined.
async fn type_and_ttl(
    mut server: Server,
    keys: Vec<Vec<u8>>,
) -> Result<Vec<KeyInfo>, CommandError> {
    let replies = server
        .per_key(&keys, 2, |pipe, k| {
            pipe.cmd("TYPE").arg(k).cmd("TTL").arg(k);
        })
        .await?;
    let prefix = server.redis.prefix.len();
    Ok(keys
        .iter()
        .zip(replies.chunks(2))
        .filter_map(|(key, pair)| key_info(&key[prefix..], &pair[0], &pair[1]))
        .collect())
}

/// A key as a backup keeps it: its full name, its remaining time to live in
/// milliseconds (-1: none) and its DUMP payload.
pub struct Dumped {
    pub key: Vec<u8>,
    pub pttl: i64,
    pub payload: Vec<u8>,
}

/// backup's step: DUMP and PTTL of every key of the page, pipelined.
async fn dump_and_pttl(
    mut server: Server,
    keys: Vec<Vec<u8>>,
) -> Result<Vec<Dumped>, CommandError> {
    let replies = server
        .per_key(&keys, 2, |pipe, k| {
            pipe.cmd("DUMP").arg(k).cmd("PTTL").arg(k);
        })
        .await?;
    let mut out = Vec::with_capacity(keys.len());
    let mut replies = replies.into_iter();
    for key in keys {
        let pair = replies.by_ref().take(2).collect();
        let (payload, pttl): (Option<Vec<u8>>, i64) = ::redis::from_redis_value(Value::Array(pair))
            .map_err(|e| CommandError::failed(format!("Redis DUMP/PTTL reply: {e}")))?;
        // Gone (expired or deleted) between SCAN and DUMP: not part of the backup.
        match payload {
            Some(payload) if pttl != -2 => out.push(Dumped { key, pttl, payload }),
            _ => {}
        }
    }
    Ok(out)
}

/// A key's TYPE and TTL replies read; `None` for a key that expired or was
/// deleted between SCAN and TYPE (TYPE `none`).
fn key_info(name: &[u8], key_type: &Value, ttl: &Value) -> Option<KeyInfo> {
    let key_type = match key_type {
        Value::SimpleString(s) => s.clone(),
        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
        other => format!("{other:?}"),
    };
    if key_type == "none" {
        return None;
    }
    let ttl = match ttl {
        Value::Int(n) if *n >= 0 => Some(*n as u64),
        _ => None,
    };
    Some(KeyInfo {
        key: String::from_utf8_lossy(name).into_owned(),
        key_type,
        ttl,
    })
}

/// The keys a walk has handed on, by a 128-bit fingerprint (two SipHash
/// values under random keys) instead of the names: 16 bytes a key, and a
/// false "already seen" among a billion keys has odds of about 10^-21.
#[derive(Default)]
struct Seen {
    hashers: (RandomState, RandomState),
    keys: HashSet<u128>,
}

impl Seen {
    fn first_time(&mut self, key: &[u8]) -> bool {
        let (a, b) = (&self.hashers.0, &self.hashers.1);
        let print = (u128::from(a.hash_one(key)) << 64) | u128::from(b.hash_one(key));
        self.keys.insert(print)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_handed_on_once() {
        let mut seen = Seen::default();
        assert!(seen.first_time(b"session:a"));
        assert!(seen.first_time(b"session:b"));
        assert!(!seen.first_time(b"session:a"));
        assert_eq!(seen.keys.len(), 2);
    }

    #[test]
    fn a_key_gone_before_type_is_left_out() {
        let string = Value::SimpleString("string".into());
        let got = key_info(b"k", &string, &Value::Int(30)).unwrap();
        assert_eq!((got.key.as_str(), got.ttl), ("k", Some(30)));
        assert_eq!(key_info(b"k", &string, &Value::Int(-1)).unwrap().ttl, None);
        let none = Value::SimpleString("none".into());
        assert!(key_info(b"k", &none, &Value::Int(-2)).is_none());
    }
}
