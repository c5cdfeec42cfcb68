//! What only a Redis Cluster has: `status` shows its nodes and slots, a plain
//! URL to one node finds the cluster, a violation on any master is found, and
//! a master that stops is reported by name (exit 3), never a result from the
//! other masters. The shared cluster (`scripts/stack up --with-redis-cluster`)
//! is only read and written under the test's prefix; the failover cases stop
//! a master of a small cluster the test starts itself, and only that one.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use ::redis::AsyncCommands;

use crate::common::{stderr, TestDb};
use crate::support::{redis_connect, RedisKind, Stores};
use rez_db::store::redis::cluster::slot;
use rez_db::store::redis::Node;

#[tokio::test]
async fn status_shows_the_cluster_its_masters_replicas_and_slots() {
    let s = Stores::on("cluster_status", RedisKind::Cluster).await;
    s.json(&["create", "--only", "redis"], 0);
    let doc = s.json(&["status", "--only", "redis"], 0);
    let redis = &doc["stores"][0];
    let state = redis["state"].as_str().unwrap();
    assert!(
        state.starts_with("cluster ok: 3 master(s), 3 replica(s), 16384/16384 slots")
            && state.ends_with("layout v2 (current)"),
        "{doc:#}"
    );
    let cluster = &redis["cluster"];
    assert_eq!(cluster["state"], "ok", "{doc:#}");
    assert_eq!(cluster["slots_covered"], 16384);
    let nodes = cluster["nodes"].as_array().unwrap();
    let role = |r: &str| nodes.iter().filter(|n| n["role"] == r).count();
    assert_eq!((role("master"), role("replica")), (3, 3), "{nodes:#?}");
    assert!(nodes
        .iter()
        .filter(|n| n["role"] == "master")
        .all(|n| n["keys"].is_u64() && !n["slots"].as_str().unwrap().is_empty()));
    assert!(redis.get("findings").is_none(), "{doc:#}");

    // A plain URL naming one node: the cluster is detected and shown whole.
    let plain = Stores::on_url("cluster_plain", "redis://127.0.0.1:7102/0".into()).await;
    let doc = plain.json(&["status", "--only", "redis"], 0);
    assert_eq!(
        doc["stores"][0]["cluster"]["slots_covered"], 16384,
        "{doc:#}"
    );
    // A cluster has only database 0.
    let out = plain
        .rez(&["validate", "--only", "redis"])
        .env("REDIS_URL", "redis://127.0.0.1:7102/3")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("only database 0"), "{err}");
    // A node list with a node that is not host:port is a usage error naming it.
    let out = plain
        .rez(&["status", "--only", "redis"])
        .env("REDIS_URL", "redis+cluster://127.0.0.1:7101,nowhere/")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("`nowhere`") && err.contains("REDIS_URL"),
        "{err}"
    );
}

/// A key under `prefix` of the pattern `stem<n>` on each master of the
/// cluster: (master, key), one per master.
async fn one_key_per_master(s: &Stores, stem: &str) -> Vec<(String, String)> {
    let mut r = redis_connect(&s.redis_url, "").await;
    let topology = r.topology().await.unwrap().expect("a cluster");
    let mut out: Vec<(String, String)> = Vec::new();
    for n in 0.. {
        let key = format!("{}{stem}{n}", s.redis_prefix);
        let owner = topology.owner(slot(key.as_bytes())).unwrap().addr.clone();
        if !out.iter().any(|(m, _)| *m == owner) {
            out.push((owner, key));
        }
        if out.len() == topology.serving().count() {
            break;
        }
    }
    out
}

/// `validate --only redis` (exit 0: a key of no pattern is a warning): its
/// `redis.unknown_prefix` check.
fn unknown_prefix(s: &Stores) -> serde_json::Value {
    let doc = s.json(&["validate", "--only", "redis"], 0);
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "redis.unknown_prefix")
        .unwrap_or_else(|| panic!("no redis.unknown_prefix in {doc:#}"))
        .clone()
}

#[tokio::test]
async fn a_violation_on_any_master_is_found() {
    let s = Stores::on("cluster_validate", RedisKind::Cluster).await;
    let mut r = s.redis().await;
    let planted = one_key_per_master(&s, "tmp:debug").await;
    assert_eq!(planted.len(), 3);
    for (_, key) in &planted {
        let _: () = r.set(key, "1").await.unwrap();
    }
    let check = unknown_prefix(&s);
    assert_eq!(check["violations"], 3, "one per master: {check:#}");
    let mut found: Vec<&str> = check["shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["entity"].as_str().unwrap())
        .collect();
    found.sort();
    let mut want: Vec<&str> = planted.iter().map(|(_, k)| k.as_str()).collect();
    want.sort();
    assert_eq!(found, want);
}

/// A 3-master cluster on free loopback ports, started by the test (its own
/// processes, stopped by PID when it is dropped), without replicas or with
/// one per master.
struct OwnCluster {
    nodes: Vec<(u16, Child)>,
    _dir: tempfile::TempDir,
}

impl OwnCluster {
    fn start() -> OwnCluster {
        OwnCluster::start_with(0)
    }

    /// `replicas` per master.
    fn start_with(replicas: u16) -> OwnCluster {
        let dir = tempfile::tempdir().unwrap();
        let count = 3 * (1 + replicas);
        let base = free_ports(count);
        let mut nodes = Vec::new();
        for port in base..base + count {
            let child = Command::new("redis-server")
                .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
                .args(["--cluster-enabled", "yes", "--cluster-node-timeout", "1000"])
                .args(["--cluster-config-file", &format!("nodes-{port}.conf")])
                .args(["--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(dir.path())
                .stdout(Stdio::null())
                .spawn()
                .expect("redis-server is required (Debian redis-server; `scripts/stack up --with-redis-cluster` installs it)");
            nodes.push((port, child));
        }
        let mut cluster = OwnCluster { nodes, _dir: dir };
        let ports: Vec<u16> = cluster.nodes.iter().map(|(p, _)| *p).collect();
        for port in &ports {
            cluster.wait(*port, |info| info.contains("cluster_state:"), "to start");
        }
        let addrs: Vec<String> = cluster
            .nodes
            .iter()
            .map(|(p, _)| format!("127.0.0.1:{p}"))
            .collect();
        // `timeout`: redis-cli waits for the nodes to agree, forever if they never do.
        let out = Command::new("timeout")
            .args(["60", "redis-cli", "--cluster", "create"])
            .args(&addrs)
            .args(["--cluster-replicas", &replicas.to_string(), "--cluster-yes"])
            .output()
            .expect("redis-cli is required");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        for port in &ports {
            cluster.wait(
                *port,
                |i| i.contains("cluster_state:ok"),
                "to form the cluster",
            );
        }
        cluster
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.nodes[0].0)
    }

    fn info(port: u16) -> String {
        Command::new("redis-cli")
            .args(["-p", &port.to_string(), "cluster", "info"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).replace('\r', ""))
            .unwrap_or_default()
    }

    fn wait(&mut self, port: u16, ready: impl Fn(&str) -> bool, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !ready(&Self::info(port)) {
            for (p, child) in &mut self.nodes {
                if let Ok(Some(status)) = child.try_wait() {
                    panic!("redis-server on port {p} exited: {status}");
                }
            }
            assert!(Instant::now() < deadline, "node {port} did not get {what}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Stops the process of the node on `port` (SIGKILL to the PID it started).
    fn stop(&mut self, port: u16) {
        let at = self.nodes.iter().position(|(p, _)| *p == port).unwrap();
        let (_, mut child) = self.nodes.remove(at);
        child.kill().unwrap();
        child.wait().unwrap();
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `n` consecutive loopback ports free, with their cluster bus ports (+10000),
/// different for each cluster of this process (tests run in parallel).
fn free_ports(n: u16) -> u16 {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let start = (std::process::id() % 300) as u16 * 30;
    (0..100)
        .map(|_| 20_000 + (start + NEXT.fetch_add(n + 1, Ordering::SeqCst)) % 9_000)
        .find(|base| {
            (*base..base + n).all(|p| {
                TcpListener::bind(("127.0.0.1", p)).is_ok()
                    && TcpListener::bind(("127.0.0.1", p + 10_000)).is_ok()
            })
        })
        .expect("no free loopback ports for a test cluster")
}

#[tokio::test]
async fn a_stopped_master_fails_validate_and_backup_by_name_and_status_finds_it() {
    let mut own = OwnCluster::start();
    let s = Stores::on_url("cluster_failover", own.url()).await;
    let mut r = s.redis().await;
    let planted = one_key_per_master(&s, "session:").await;
    for (_, key) in &planted {
        let _: () = r.hset(key, "user_id", "u1").await.unwrap();
        let _: () = r.expire(key, 600).await.unwrap();
    }
    s.json(&["validate", "--only", "redis"], 0);

    let victim = own.nodes[1].0;
    own.stop(victim);
    let named = format!("127.0.0.1:{victim}");
    for args in [
        vec!["validate", "--only", "redis"],
        vec!["backup", "--only", "redis", "--to"],
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let to = tmp.path().join("b");
        let mut args: Vec<&str> = args;
        if args.last() == Some(&"--to") {
            args.push(to.to_str().unwrap());
        }
        let out = s.rez(&args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(3), "{args:?}: {err}");
        assert!(err.contains(&named), "{args:?} names the node: {err}");
        assert!(
            !to.join("manifest.json").exists(),
            "no backup of part of the keyspace"
        );
    }

    // Once the others flag it failed: status shows the cluster with findings (exit 1).
    let alive = own.nodes[0].0;
    own.wait(
        alive,
        |i| i.contains("cluster_state:fail"),
        "to flag the failure",
    );
    let doc = s.json(&["status", "--only", "redis"], 1);
    let findings = doc["stores"][0]["findings"].as_array().unwrap();
    assert!(
        findings
            .iter()
            .any(|f| f.as_str().unwrap().contains(&named)),
        "{findings:?}"
    );
    assert!(
        findings
            .iter()
            .any(|f| f.as_str().unwrap().contains("cluster_state")),
        "{findings:?}"
    );
}

#[tokio::test]
async fn seed_checks_every_master_before_postgresql_commits() {
    let mut own = OwnCluster::start();
    let mut s = Stores::on_url("cluster_seed", own.url()).await;
    s.db = Some(TestDb::migrated("cluster_seed").await);
    let victim = own.nodes[2].0;
    own.stop(victim);
    let out = s
        .rez(&["seed", "--synthetic", "--scale", "30", "--rng-seed", "1"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains(&format!("127.0.0.1:{victim}")), "{err}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut s.db.as_ref().unwrap().conn().await)
        .await
        .unwrap();
    assert_eq!(users, 0, "nothing committed in PostgreSQL");
}

/// `redis-cli -p PORT ARGS...`, its answer trimmed.
fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .arg("-p")
        .arg(port.to_string())
        .args(args)
        .output()
        .expect("redis-cli is required");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn a_key_in_a_slot_being_migrated_is_found_through_ask() {
    let own = OwnCluster::start();
    let s = Stores::on_url("cluster_ask", own.url()).await;
    let mut r = s.redis().await;
    let (owner, key) = one_key_per_master(&s, "tmp:moving").await.remove(0);
    let _: () = r.set(&key, "1").await.unwrap();
    let stays = format!("{}session:stays", s.redis_prefix);
    let _: () = r.hset(&stays, "user_id", "u1").await.unwrap();
    let _: () = r.expire(&stays, 600).await.unwrap();
    // Half-way through a resharding of the key's slot: the key already sits
    // on the importing node, the slot still belongs to the migrating one.
    let from: u16 = owner.rsplit_once(':').unwrap().1.parse().unwrap();
    let to = own
        .nodes
        .iter()
        .map(|(p, _)| *p)
        .find(|p| *p != from)
        .unwrap();
    let slot = slot(key.as_bytes()).to_string();
    let (from_id, to_id) = (
        cli(from, &["cluster", "myid"]),
        cli(to, &["cluster", "myid"]),
    );
    assert_eq!(
        cli(to, &["cluster", "setslot", &slot, "importing", &from_id]),
        "OK"
    );
    assert_eq!(
        cli(from, &["cluster", "setslot", &slot, "migrating", &to_id]),
        "OK"
    );
    let moved = cli(
        from,
        &["migrate", "127.0.0.1", &to.to_string(), &key, "0", "5000"],
    );
    assert_eq!(moved, "OK");
    let asked = cli(from, &["exists", &key]);
    assert!(
        asked.starts_with("ASK "),
        "the key left the slot's owner: {asked}"
    );

    // validate reads its type through the ASK redirection and finds it.
    let check = unknown_prefix(&s);
    assert_eq!(check["violations"], 1, "{check:#}");
    assert_eq!(check["shown"][0]["entity"], key.as_str());
    assert_eq!(check["shown"][0]["actual"], "string, no pattern");
    // backup holds it too.
    let tmp = tempfile::tempdir().unwrap();
    let to_dir = tmp.path().join("b");
    let done = s.json(
        &[
            "backup",
            "--only",
            "redis",
            "--to",
            to_dir.to_str().unwrap(),
        ],
        0,
    );
    let masters = done["manifest"]["stores"][0]["redis_cluster"]
        .as_array()
        .unwrap();
    let total: u64 = masters.iter().map(|m| m["keys"].as_u64().unwrap()).sum();
    assert_eq!(total, 2, "{masters:#?}");
}

/// `n` keys `tmp:bulk<i>` under the test's prefix (a pattern the layout does
/// not declare: each one a `redis.unknown_prefix` warning).
async fn fill(s: &Stores, n: usize) {
    let mut r = s.redis_store().await;
    let keys: Vec<String> = (0..n)
        .map(|i| format!("{}tmp:bulk{i}", s.redis_prefix))
        .collect();
    r.per_key(&keys, 1, |pipe, _, k| {
        pipe.cmd("SET").arg(k).arg("1");
    })
    .await
    .unwrap();
}

/// The node `replica` replicates `master` by its own account, in its
/// cluster view and its replication link, linked and not syncing, with as
/// many keys: a failover to it then loses nothing. The topology a test reads
/// says whose replica a node is; under load a replica was seen linked to its
/// master at the same offset yet holding another master's keys (a failover
/// to it then handed one master's slots to a copy of another's keys, and
/// validate rightly counted 40,975 of 60,000).
fn in_sync(replica: &Node, master: &Node) -> bool {
    let (port, master_port) = (
        replica.host_port().unwrap().1,
        master.host_port().unwrap().1,
    );
    let info = cli(port, &["info", "replication"]);
    let has = |line: &str| info.lines().any(|l| l.trim() == line);
    let follows = cli(port, &["cluster", "nodes"])
        .lines()
        .find(|l| l.contains("myself"))
        .and_then(|l| l.split_whitespace().nth(3))
        == Some(master.id.as_str());
    follows
        && has(&format!("master_port:{master_port}"))
        && has("master_link_status:up")
        && has("master_sync_in_progress:0")
        && cli(port, &["dbsize"]) == cli(master_port, &["dbsize"])
}

/// SCAN calls the node on `port` has served.
fn scan_calls(port: u16) -> u64 {
    cli(port, &["info", "commandstats"])
        .lines()
        .find_map(|l| l.trim().strip_prefix("cmdstat_scan:calls="))
        .and_then(|rest| rest.split(',').next()?.parse().ok())
        .unwrap_or(0)
}

/// Runs `validate --only redis` over `keys` keys (all read: the sample is
/// larger), throttled so each master's scan lasts a couple of seconds,
/// and calls `meanwhile` once the master on `victim` has served its first
/// SCAN of the run. Then the run has either read every key (exit 0, each
/// key reported once) or failed naming the master (exit 3 or 5): never a
/// result from part of the keyspace. Returns the exit code.
fn validate_while(s: &Stores, keys: usize, victim: u16, meanwhile: impl FnOnce()) -> i32 {
    let before = scan_calls(victim);
    // 500 keys a SCAN call, 50 ms between calls: 2 s for 20,000 keys a master.
    let cmd = s.rez(&[
        "--json",
        "validate",
        "--only",
        "redis",
        "--redis-sample",
        &(keys * 2).to_string(),
        "--redis-scan-pause",
        "50",
    ]);
    let run = std::thread::spawn(move || {
        let mut cmd = cmd;
        // The walk's passes, in the failure message if the keys do not add up.
        cmd.env(
            "RUST_LOG",
            "warn,rez_db::store::redis=debug,rez_db::validate=debug",
        );
        cmd.output().unwrap()
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while scan_calls(victim) == before {
        assert!(
            Instant::now() < deadline,
            "validate never scanned 127.0.0.1:{victim}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    meanwhile();
    let out = run.join().unwrap();
    let code = out.status.code().unwrap_or(-1);
    let err = stderr(&out);
    match code {
        0 => {
            let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let check = doc["checks"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["id"] == "redis.unknown_prefix")
                .unwrap()
                .clone();
            assert_eq!(
                check["violations"], keys as u64,
                "every key, once: {check:#}\nstderr: {err}"
            );
        }
        3 | 5 => assert!(
            err.contains(&format!("127.0.0.1:{victim}")),
            "the failure names the master: {err}"
        ),
        _ => panic!("exit {code}: {err}"),
    }
    code
}

#[tokio::test]
async fn a_master_killed_mid_scan_fails_validate_by_name() {
    let mut own = OwnCluster::start();
    let s = Stores::on_url("cluster_midscan_kill", own.url()).await;
    fill(&s, 60_000).await;
    let victim = own.nodes[1].0;
    let code = validate_while(&s, 60_000, victim, || own.stop(victim));
    assert_eq!(code, 3, "a master that stopped is unreachable (exit 3)");
}

// Reproduced a silent partial result one run in four before each page ended
// with the master's ROLE (2026-12-07): exit 0 having counted about 41,000 of
// the 60,000 keys, the old master's pages after the failover reading TYPE
// `none` for every key, and the topology read after the pass not yet showing
// the failover. Its later failures under load (exit 0 with ~41,000 keys, in
// clean-clone CI runs) were the test's: the replica it promoted held another
// master's keys (see `in_sync`).
#[tokio::test]
async fn a_failover_mid_scan_is_followed_or_named() {
    let own = OwnCluster::start_with(1);
    let s = Stores::on_url("cluster_midscan_failover", own.url()).await;
    fill(&s, 60_000).await;
    let mut r = s.redis_store().await;
    // A master and a replica that holds every key of it (see `in_sync`).
    let deadline = Instant::now() + Duration::from_secs(30);
    let (master, replica) = loop {
        let topology = r.topology().await.unwrap().expect("a cluster");
        let pair = topology.serving().find_map(|m| {
            let rep = topology.replicas_of(m).find(|rep| in_sync(rep, m))?;
            Some((m.clone(), rep.clone()))
        });
        if let Some(pair) = pair {
            break pair;
        }
        assert!(
            Instant::now() < deadline,
            "no replica holds its master's keys: {topology:#?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let victim: u16 = master.host_port().unwrap().1;
    let (_, successor) = replica.host_port().unwrap();
    let code = validate_while(&s, 60_000, victim, || {
        assert_eq!(cli(successor, &["cluster", "failover"]), "OK");
    });
    // A graceful failover loses nothing: the run follows it.
    assert_eq!(code, 0);
    // The failover did happen (it may end after the run: wait for it).
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let after = r.topology().await.unwrap().unwrap();
        if after.owner(master.slots[0].0).map(|n| n.addr.as_str()) == Some(&replica.addr) {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the replica never took over: {after:#?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
