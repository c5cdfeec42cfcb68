//! Redis through the `redis` crate on tokio: connect (bounded by the configured
//! timeout), identify the server, and read keys for `validate` without ever
//! blocking the server: SCAN in small steps (never KEYS, which walks the whole
//! keyspace in one go), TYPE and TTL pipelined a page at a time, with an
//! opt-in pause between SCAN calls for a server that must not be pressed.
//!
//! Every key rez-db reads or writes carries the configured prefix; callers deal
//! in unprefixed names.
//!
//! A Redis Cluster (a `redis+cluster://` URL, or a plain URL whose server
//! answers `cluster_enabled:1`) is reached through the driver's cluster
//! client, which routes each single-key command (and each single-slot
//! pipeline) to the slot's master and follows MOVED and ASK. Whole-keyspace
//! work never trusts one node: [`Redis::scan`] walks every master that
//! serves slots and [`Redis::per_key`] sends its pipelines grouped by slot,
//! so no multi-key command ever spans two slots. A node that does not answer
//! is an error that names it (exit 3), never a result from the others only.

use std::time::Duration;

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::cluster_async::ClusterConnection;
use ::redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
use ::redis::{
    AsyncCommands, Cmd, ErrorKind as DriverKind, Pipeline, RedisError, RedisFuture, Value,
};
use futures_util::StreamExt;
use serde::Serialize;

use crate::config::redis_url;
use crate::config::StoreKind;
use crate::error::{CommandError, ErrorKind, Remedy};
use crate::secret::RedactedUrl;

pub mod cluster;
mod walk;

pub use cluster::{Node, Topology};
pub use walk::Dumped;

/// The hash that records which layout file a Redis was provisioned against.
pub const LAYOUT_KEY: &str = "rez-db:layout";

const UNREACHABLE_HINT: &str = "is the server running? `scripts/stack up` starts the local stack";

/// Keys per pipelined round trip.
const BATCH: usize = 500;
/// Single-slot pipelines in flight at once on a cluster.
const IN_FLIGHT: usize = 32;
/// Passes over the masters before a scan gives up on slots that keep moving.
const SCAN_PASSES: usize = 3;

/// A connected Redis; a clone shares the multiplexed connection.
#[derive(Clone)]
pub struct Redis {
    pub url: RedactedUrl,
    prefix: String,
    conn: Conn,
    /// On a cluster: how to reach one node directly.
    nodes: Option<NodeAccess>,
}

/// How to open a connection of its own to one node of a cluster: the URL's
/// scheme and credentials, and the connect timeout.
#[derive(Clone)]
struct NodeAccess {
    scheme: String,
    userinfo: String,
    timeout: Duration,
}

/// One server, or a cluster through the driver's routing client. Either runs
/// any command (`query_async(redis.connection())`); on a cluster a keyless
/// command goes to a random node and a pipeline must hold one slot.
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub product: String,
    pub version: String,
    /// Keys in the selected database (all prefixes).
    pub keys: u64,
}

/// One sampled key: its name without the prefix, TYPE, and TTL in seconds (`None`: no expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key: String,
    pub key_type: String,
    pub ttl: Option<u64>,
}

/// How hard a sample may press on the server.
#[derive(Debug, Clone, Copy)]
pub struct ScanBudget {
    /// Stop after this many keys (on a cluster: on each master).
    pub max_keys: usize,
    /// SCAN's COUNT hint per call.
    pub per_call: usize,
    /// Sleep between SCAN calls on each server: a throttle for a busy
    /// production server, off by default (one SCAN of a few hundred keys
    /// holds the server well under a millisecond; the pause only spreads
    /// the load out, at a cost of the pause per page).
    pub pause: Duration,
}

impl Default for ScanBudget {
    fn default() -> Self {
        ScanBudget {
            max_keys: 10_000,
            per_call: 500,
            pause: Duration::ZERO,
        }
    }
}

pub async fn connect(
    url: &RedactedUrl,
    prefix: &str,
    timeout: Duration,
) -> Result<Redis, CommandError> {
    if let Some((scheme, seeds)) = redis_url::cluster_seeds(url.url()) {
        return connect_cluster(url, prefix, timeout, scheme, &seeds).await;
    }
    let client = ::redis::Client::open(url.expose()).map_err(|e| {
        CommandError::usage(url.scrub(&format!("invalid Redis URL {url}: {e}")))
            .with_hint("expected a URL like redis://:password@host:6379/0")
    })?;
    let mut conn = within(url, timeout, client.get_multiplexed_async_connection())
        .await?
        .map_err(
            |e| match e.to_string().contains("not allowed in cluster mode") {
                // The URL names a database other than 0 on a cluster node.
                true => only_database_0(url),
                false => error(url, e),
            },
        )?;
    // A cluster node named by a plain URL: the cluster it belongs to.
    let info: String = ::redis::cmd("INFO")
        .arg("cluster")
        .query_async(&mut conn)
        .await
        .map_err(|e| error(url, e))?;
    if info.lines().any(|l| l.trim() == "cluster_enabled:1") {
        let node = format!(
            "{}:{}",
            url.url().host_str().unwrap_or("127.0.0.1"),
            url.url().port().unwrap_or(6379)
        );
        let scheme = if url.url().scheme() == "rediss" {
            "rediss"
        } else {
            "redis"
        };
        return connect_cluster(url, prefix, timeout, scheme, &[node]).await;
    }
    Ok(Redis {
        url: url.clone(),
        prefix: prefix.to_string(),
        conn: Conn::Single(conn),
        nodes: None,
    })
}

/// `connecting`, bounded by the connect timeout (exit 3 past it).
async fn within<T>(
    url: &RedactedUrl,
    timeout: Duration,
    connecting: impl std::future::Future<Output = T>,
) -> Result<T, CommandError> {
    tokio::time::timeout(timeout, connecting)
        .await
        .map_err(|_| {
            CommandError::new(
                ErrorKind::Unreachable,
                format!(
                    "Redis at {url} did not answer within {}s",
                    timeout.as_secs()
                ),
            )
            .with_hint(UNREACHABLE_HINT)
            .with_remedy(Remedy::Relocate(StoreKind::Redis))
        })
}

/// The cluster that any of `seeds` (`host:port`) belongs to, with the URL's
/// credentials. A cluster has only database 0.
async fn connect_cluster(
    url: &RedactedUrl,
    prefix: &str,
    timeout: Duration,
    scheme: &str,
    seeds: &[String],
) -> Result<Redis, CommandError> {
    let db = url.url().path().trim_matches('/');
    if !db.is_empty() && db != "0" {
        return Err(only_database_0(url));
    }
    let parsed = url.url();
    let userinfo = match (parsed.username(), parsed.password()) {
        ("", None) => String::new(),
        (user, Some(password)) => format!("{user}:{password}@"),
        (user, None) => format!("{user}@"),
    };
    let nodes: Vec<String> = seeds
        .iter()
        .map(|node| format!("{scheme}://{userinfo}{node}/"))
        .collect();
    let client = ::redis::cluster::ClusterClient::builder(nodes)
        .connection_timeout(timeout)
        .response_timeout(timeout.max(Duration::from_secs(10)))
        // A stopped node fails the command after a few tries (exit 3), not minutes.
        .retries(3)
        .build()
        .map_err(|e| {
            CommandError::usage(url.scrub(&format!("invalid Redis Cluster URL {url}: {e}")))
                .with_hint("expected a URL like redis+cluster://:password@host:7000,host:7001/")
        })?;
    let conn = within(url, timeout, client.get_async_connection())
        .await?
        .map_err(|e| error(url, e))?;
    Ok(Redis {
        url: url.clone(),
        prefix: prefix.to_string(),
        conn: Conn::Cluster(conn),
        nodes: Some(NodeAccess {
            scheme: scheme.to_string(),
            userinfo,
            timeout,
        }),
    })
}

/// A URL naming a database other than 0 on a cluster (exit 2).
fn only_database_0(url: &RedactedUrl) -> CommandError {
    CommandError::usage(format!(
        "{url} names a Redis Cluster, which has only database 0"
    ))
    .with_hint("name database 0 (or none) in the URL")
}

/// Turns a driver error into a command error with the right exit code.
pub fn error(url: &RedactedUrl, e: RedisError) -> CommandError {
    let text = shorten(url.scrub(&e.to_string()));
    if is_unreachable(&e) {
        return CommandError::new(
            ErrorKind::Unreachable,
            format!("cannot reach Redis at {url}: {text}"),
        )
        .with_hint(UNREACHABLE_HINT)
        .with_remedy(Remedy::Relocate(StoreKind::Redis));
    }
    match e.kind() {
        DriverKind::AuthenticationFailed => {
            CommandError::usage(format!("Redis refused the credentials for {url}: {text}"))
                .with_hint("check the password in the URL (redis://:password@host:6379/0)")
        }
        _ => CommandError::failed(format!("Redis error on {url}: {text}")),
    }
}

/// The server (or a cluster node) did not answer, or the cluster cannot
/// serve (a slot without a master: CLUSTERDOWN, a master down).
fn is_unreachable(e: &RedisError) -> bool {
    e.is_io_error()
        || e.is_connection_refusal()
        || e.is_timeout()
        || e.is_connection_dropped()
        || matches!(
            e.kind(),
            DriverKind::ClusterConnectionNotFound
                | DriverKind::Server(
                    ::redis::ServerErrorKind::ClusterDown | ::redis::ServerErrorKind::MasterDown
                )
        )
}

/// A driver error met on one cluster node: the error names the node and the
/// slots it serves, so "unreachable" says where.
fn node_error(url: &RedactedUrl, node: &Node, e: RedisError) -> CommandError {
    let mut err = error(url, e);
    err.message = format!(
        "Redis Cluster node {} (master of slots {}): {}",
        node.addr,
        node.slot_ranges(),
        err.message
    );
    err
}

impl Redis {
    fn err(&self, e: RedisError) -> CommandError {
        error(&self.url, e)
    }

    /// Whether this is a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        matches!(self.conn, Conn::Cluster(_))
    }

    /// The cluster's nodes and slots (`CLUSTER NODES`, asked of any node);
    /// `None` for a single server.
    pub async fn topology(&mut self) -> Result<Option<Topology>, CommandError> {
        if !self.is_cluster() {
            return Ok(None);
        }
        let text: String = ::redis::cmd("CLUSTER")
            .arg("NODES")
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.err(e))?;
        Topology::parse(&text)
            .map(Some)
            .map_err(|why| CommandError::failed(format!("Redis Cluster at {}: {why}", self.url)))
    }

    /// The masters to read the whole keyspace from: every slot must have a
    /// master that is not flagged failed, else the keyspace cannot be read
    /// whole and the error names the slots (or the node) without one (exit 3).
    async fn serving_masters(&mut self) -> Result<(Topology, Vec<Node>), CommandError> {
        let topology = self
            .topology()
            .await?
            .ok_or_else(|| CommandError::bug("serving_masters on a single server"))?;
        let uncovered = topology.uncovered();
        if !uncovered.is_empty() {
            return Err(CommandError::new(
                ErrorKind::Unreachable,
                format!(
                    "Redis Cluster at {}: no master serves slot(s) {}: the keyspace cannot be read whole",
                    self.url,
                    cluster::ranges(&uncovered)
                ),
            )
            .with_hint("`rez-db status` shows the cluster; `redis-cli --cluster fix` assigns the slots"));
        }
        if let Some(node) = topology.serving().find(|n| n.failed) {
            return Err(CommandError::new(
                ErrorKind::Unreachable,
                format!(
                    "Redis Cluster node {} (master of slots {}) is flagged failed and no replica took over",
                    node.addr,
                    node.slot_ranges()
                ),
            )
            .with_hint(UNREACHABLE_HINT));
        }
        let masters = topology.serving().cloned().collect();
        Ok((topology, masters))
    }

    /// Before a run writes: the server answers; on a cluster, every slot has
    /// a master that is not failed and every such master answers. An error
    /// names the node (exit 3).
    pub async fn check_writable(&mut self) -> Result<(), CommandError> {
        if !self.is_cluster() {
            let _: String = ::redis::cmd("PING")
                .query_async(&mut self.conn)
                .await
                .map_err(|e| self.err(e))?;
            return Ok(());
        }
        let (_, masters) = self.serving_masters().await?;
        for node in &masters {
            self.on_node(node, ::redis::cmd("PING")).await?;
        }
        Ok(())
    }

    /// A connection of its own to `node`, for whole-keyspace reads: a SCAN
    /// page's pipeline holds keys of many slots, and the cluster client
    /// answers the first MOVED in a pipeline by sending the whole pipeline
    /// to that node, then again, until its retries run out; on a connection
    /// of its own, a MOVED or ASK is one reply among the others, and only
    /// those keys are asked again, routed by slot.
    async fn node_connection(&self, node: &Node) -> Result<MultiplexedConnection, CommandError> {
        let access = self
            .nodes
            .as_ref()
            .ok_or_else(|| CommandError::bug("node_connection on a single server"))?;
        let client = ::redis::Client::open(format!(
            "{}://{}{}/",
            access.scheme, access.userinfo, node.addr
        ))
        .map_err(|e| node_error(&self.url, node, e))?;
        match tokio::time::timeout(access.timeout, client.get_multiplexed_async_connection()).await
        {
            Ok(connected) => connected.map_err(|e| node_error(&self.url, node, e)),
            Err(_) => Err(CommandError::new(
                ErrorKind::Unreachable,
                format!(
                    "Redis Cluster node {} (master of slots {}) did not answer within {}s",
                    node.addr,
                    node.slot_ranges(),
                    access.timeout.as_secs()
                ),
            )
            .with_hint(UNREACHABLE_HINT)),
        }
    }

    /// Sends `cmd` to the node `node` itself (SCAN, DBSIZE, INFO: commands
    /// without a key, which the cluster client would send anywhere).
    async fn on_node(&mut self, node: &Node, cmd: Cmd) -> Result<Value, CommandError> {
        let Conn::Cluster(conn) = &mut self.conn else {
            return Err(CommandError::bug("on_node on a single server"));
        };
        let (host, port) = node.host_port().ok_or_else(|| {
            CommandError::failed(format!("Redis Cluster node address `{}`", node.addr))
        })?;
        conn.route_command(
            cmd,
            RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress { host, port }),
        )
        .await
        .map_err(|e| node_error(&self.url, node, e))
    }

    /// Every key matching `pattern` (a SCAN glob), at most `max_keys` per
    /// server, by SCAN in steps of `per_call` (see [`walk`]: on a cluster,
    /// every master that serves slots at once, and again any whose slots
    /// moved during the pass). Returns the keys sorted, once each.
    pub async fn scan(
        &mut self,
        pattern: &str,
        budget: ScanBudget,
    ) -> Result<Vec<Vec<u8>>, CommandError> {
        let mut keys = Vec::new();
        let names =
            |_: walk::Server, page: Vec<Vec<u8>>| async move { Ok::<_, CommandError>(page) };
        self.walk(pattern, budget, names, |page| keys.extend(page))
            .await?;
        keys.sort();
        keys.dedup();
        Ok(keys)
    }

    fn decode<T: ::redis::FromRedisValue>(&self, v: Value) -> Result<T, CommandError> {
        ::redis::from_redis_value(v).map_err(|e| self.err(e.into()))
    }

    /// Runs `queue(pipeline, index, key)`, which queues `per` commands about one
    /// key (none ignored), for every key; returns each key's `per` replies,
    /// in the order of `keys`. A single server gets pipelines of [`BATCH`]
    /// keys; a cluster gets one pipeline per slot (so a MOVED or ASK for a
    /// slot in flight is followed for the whole pipeline, and no command
    /// ever spans two slots), several in flight at once. The keys of a slot
    /// being migrated (where only the first command after ASKING is served)
    /// are sent again one command at a time, each following its redirection;
    /// a write queued by `queue` must therefore be safe to send twice. A
    /// reply that is an error fails the call.
    pub async fn per_key<K: AsRef<[u8]>>(
        &mut self,
        keys: &[K],
        per: usize,
        queue: impl Fn(&mut Pipeline, usize, &[u8]),
    ) -> Result<Vec<Vec<Value>>, CommandError> {
        let groups: Vec<Vec<usize>> = match self.conn {
            Conn::Single(_) => (0..keys.len())
                .collect::<Vec<_>>()
                .chunks(BATCH)
                .map(<[usize]>::to_vec)
                .collect(),
            Conn::Cluster(_) => {
                let mut by_slot: std::collections::BTreeMap<u16, Vec<usize>> = Default::default();
                for (i, k) in keys.iter().enumerate() {
                    by_slot
                        .entry(cluster::slot(k.as_ref()))
                        .or_default()
                        .push(i);
                }
                by_slot
                    .into_values()
                    .flat_map(|v| v.chunks(BATCH).map(<[usize]>::to_vec).collect::<Vec<_>>())
                    .collect()
            }
        };
        let pipes: Vec<(Vec<usize>, Pipeline)> = groups
            .into_iter()
            .map(|group| {
                let mut pipe = ::redis::pipe();
                for &i in &group {
                    queue(&mut pipe, i, keys[i].as_ref());
                }
                (group, pipe)
            })
            .collect();
        let in_flight = if self.is_cluster() { IN_FLIGHT } else { 1 };
        let conn = self.conn.clone();
        let mut out: Vec<Vec<Value>> = vec![Vec::new(); keys.len()];
        let mut replies = futures_util::stream::iter(pipes)
            .map(|(group, pipe)| {
                let mut conn = conn.clone();
                async move {
                    match pipe.query_async::<Vec<Value>>(&mut conn).await {
                        Ok(values) => Ok((group, values)),
                        Err(e) => Err((group, e)),
                    }
                }
            })
            .buffer_unordered(in_flight);
        let mut redirected = Vec::new();
        loop {
            let (group, values) = match replies.next().await {
                None => break,
                Some(Ok(done)) => done,
                // A slot in the middle of a migration: ASKING holds for one
                // command only, so the rest of the pipeline answers MOVED.
                // Those keys are sent again command by command, below.
                Some(Err((group, e))) if e.redirect_node().is_some() => {
                    redirected.extend(group);
                    continue;
                }
                Some(Err((group, e))) => {
                    drop(replies);
                    return Err(self
                        .pipeline_error(keys[group[0]].as_ref(), group.len(), e)
                        .await);
                }
            };
            if values.len() != group.len() * per {
                return Err(CommandError::bug(format!(
                    "a pipeline of {} commands got {} replies",
                    group.len() * per,
                    values.len()
                )));
            }
            let mut values = values.into_iter();
            for i in group {
                out[i] = values.by_ref().take(per).collect();
            }
        }
        drop(replies);
        for i in redirected {
            let key = keys[i].as_ref();
            let mut pipe = ::redis::pipe();
            queue(&mut pipe, i, key);
            let mut replies = Vec::with_capacity(per);
            for cmd in pipe.cmd_iter() {
                match cmd.query_async::<Value>(&mut self.conn).await {
                    Ok(v) => replies.push(v),
                    Err(e) => return Err(self.pipeline_error(key, 1, e).await),
                }
            }
            out[i] = replies;
        }
        Ok(out)
    }

    /// A failed pipeline of `keys` keys starting with `first`: on a cluster,
    /// an unreachable one names the master of its slot.
    async fn pipeline_error(&mut self, first: &[u8], keys: usize, e: RedisError) -> CommandError {
        let unreachable = is_unreachable(&e);
        let mut err = error(&self.url, e);
        if unreachable && self.is_cluster() {
            if let Ok(Some(t)) = self.topology().await {
                if let Some(owner) = t.owner(cluster::slot(first)) {
                    err.message = format!(
                        "Redis Cluster node {} (master of slots {}): {}",
                        owner.addr,
                        owner.slot_ranges(),
                        err.message
                    );
                }
            }
        }
        err.message = format!("{} (a pipeline of {keys} key(s))", err.message);
        err
    }

    /// The cluster's view for `status`: `cluster_state` as the node asked
    /// sees it, the nodes, and the keys of each master serving slots.
    pub async fn cluster_view(&mut self) -> Result<Option<ClusterView>, CommandError> {
        let Some(topology) = self.topology().await? else {
            return Ok(None);
        };
        let info: String = ::redis::cmd("CLUSTER")
            .arg("INFO")
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.err(e))?;
        let state = info
            .lines()
            .find_map(|l| l.trim().strip_prefix("cluster_state:"))
            .unwrap_or("unknown")
            .to_string();
        let mut keys = Vec::new();
        for node in topology
            .serving()
            .filter(|n| !n.failed)
            .cloned()
            .collect::<Vec<_>>()
        {
            // A master that does not answer is shown as such, not the end of status.
            let count = match self.on_node(&node, ::redis::cmd("DBSIZE")).await {
                Ok(v) => self.decode::<u64>(v).ok(),
                Err(_) => None,
            };
            keys.push((node.addr.clone(), count));
        }
        Ok(Some(ClusterView {
            state,
            topology,
            keys,
        }))
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Product, version and keys (on a cluster: the sum over its masters,
    /// every one of which must answer).
    pub async fn server_info(&mut self) -> Result<ServerInfo, CommandError> {
        let (product, version) = self.product().await?;
        let keys: u64 = match self.is_cluster() {
            false => ::redis::cmd("DBSIZE")
                .query_async(&mut self.conn)
                .await
                .map_err(|e| self.err(e))?,
            true => {
                let (_, masters) = self.serving_masters().await?;
                let mut sum = 0;
                for node in &masters {
                    let v = self.on_node(node, ::redis::cmd("DBSIZE")).await?;
                    sum += self.decode::<u64>(v)?;
                }
                sum
            }
        };
        Ok(ServerInfo {
            product,
            version,
            keys,
        })
    }

    /// The server's product and version (`INFO server`, of any node).
    pub async fn product(&mut self) -> Result<(String, String), CommandError> {
        let mut cmd = ::redis::cmd("INFO");
        cmd.arg("server");
        let info: String = match &mut self.conn {
            Conn::Single(c) => cmd.query_async(c).await,
            // The cluster client would ask every node and answer a map.
            Conn::Cluster(c) => c
                .route_command(cmd, RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random))
                .await
                .and_then(|v| Ok(::redis::from_redis_value(v)?)),
        }
        .map_err(|e| self.err(e))?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim().to_string())
        };
        Ok((
            // Valkey answers with `server_name:valkey` beside a Redis-compatible version.
            field("server_name").unwrap_or_else(|| "redis".into()),
            field("valkey_version")
                .or_else(|| field("redis_version"))
                .unwrap_or_else(|| "unknown".into()),
        ))
    }

    /// Records the layout version (a hash at `rez-db:layout` under the prefix).
    pub async fn write_layout_marker(
        &mut self,
        version: u32,
        sha256: &str,
        applied_at: &str,
    ) -> Result<(), CommandError> {
        let key = format!("{}{LAYOUT_KEY}", self.prefix);
        let _: () = self
            .conn
            .hset_multiple(
                &key,
                &[
                    ("version", version.to_string()),
                    ("sha256", sha256.to_string()),
                    ("applied_at", applied_at.to_string()),
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The recorded layout (version, sha256, applied_at), if any.
    pub async fn layout_marker(
        &mut self,
    ) -> Result<Option<(String, String, String)>, CommandError> {
        let key = format!("{}{LAYOUT_KEY}", self.prefix);
        let map: std::collections::HashMap<String, String> =
            self.conn.hgetall(&key).await.map_err(|e| self.err(e))?;
        Ok((!map.is_empty()).then(|| {
            let get = |k: &str| map.get(k).cloned().unwrap_or_default();
            (get("version"), get("sha256"), get("applied_at"))
        }))
    }

    /// Takes each of `keys` for `ttl_ms` if nobody holds it (`SET key token NX
    /// PX ttl`), pipelined (on a cluster, one pipeline per slot): a round
    /// trip per batch, not per key. Returns, key by key, whether this call took it.
    pub async fn try_lock_all(
        &mut self,
        keys: &[String],
        token: &str,
        ttl_ms: u64,
    ) -> Result<Vec<bool>, CommandError> {
        let replies = self
            .per_key(keys, 1, |pipe, _, key| {
                pipe.cmd("SET")
                    .arg(key)
                    .arg(token)
                    .arg("NX")
                    .arg("PX")
                    .arg(ttl_ms);
            })
            .await?;
        Ok(replies
            .iter()
            .map(|r| !matches!(r.first(), Some(Value::Nil) | None))
            .collect())
    }

    /// Releases each of `keys` only if it still holds `token` (a lock that
    /// expired and was taken by someone else is left alone), pipelined as
    /// [`Redis::try_lock_all`] takes them.
    pub async fn unlock_all(&mut self, keys: &[String], token: &str) -> Result<(), CommandError> {
        const COMPARE_AND_DELETE: &str =
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
        self.per_key(keys, 1, |pipe, _, key| {
            pipe.cmd("EVAL")
                .arg(COMPARE_AND_DELETE)
                .arg(1)
                .arg(key)
                .arg(token);
        })
        .await
        .map(drop)
    }

    /// Sends a pipeline of writes (seed's derived structures).
    pub async fn run(&mut self, pipeline: &mut ::redis::Pipeline) -> Result<(), CommandError> {
        pipeline
            .query_async::<()>(&mut self.conn)
            .await
            .map_err(|e| self.err(e))
    }

    /// The raw connection, for writers (seed) and tests: a cluster routes
    /// each command by its key, and a pipeline must hold one slot.
    pub fn connection(&mut self) -> &mut Conn {
        &mut self.conn
    }
}

/// What `status` shows of a cluster.
#[derive(Debug, Clone, Serialize)]
pub struct ClusterView {
    /// `ok` or `fail`, as the node asked sees it.
    pub state: String,
    pub topology: Topology,
    /// Keys of each master serving slots (`None`: it did not answer).
    pub keys: Vec<(String, Option<u64>)>,
}

/// A failed pipeline lists every failed command (a thousand alike for one
/// cause): the first few say it.
fn shorten(text: String) -> String {
    const MAX: usize = 400;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ... ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_pipeline_failure_is_cut_on_a_character_boundary() {
        let text = format!("{}é{}", "x".repeat(399), "y".repeat(1000));
        let short = super::shorten(text);
        assert!(short.starts_with(&"x".repeat(399)), "{short}");
        assert!(short.ends_with("(1002 more bytes)"), "{short}");
        assert_eq!(super::shorten("short".into()), "short");
    }
}
