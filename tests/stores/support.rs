//! A throwaway namespace on each store for one test.

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use assert_cmd::Command;
use rez_db::secret::RedactedUrl;
use rez_db::store::es::Es;
use serde_json::Value;

use crate::common::{self, TestDb};

pub fn mongo_server() -> String {
    std::env::var("REZ_TEST_MONGODB_URI").unwrap_or_else(|_| "mongodb://127.0.0.1:27017".into())
}
pub fn redis_url() -> String {
    std::env::var("REZ_TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/0".into())
}
/// The 3-master cluster of `scripts/stack up --with-redis-cluster`.
pub fn redis_cluster_url() -> String {
    std::env::var("REZ_TEST_REDIS_CLUSTER_URL")
        .unwrap_or_else(|_| "redis+cluster://127.0.0.1:7101,127.0.0.1:7102,127.0.0.1:7103/".into())
}

/// Which Redis a test runs against; [`redis_tests!`] runs it on both.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RedisKind {
    Standalone,
    Cluster,
}

impl RedisKind {
    pub fn url(self) -> String {
        match self {
            RedisKind::Standalone => redis_url(),
            RedisKind::Cluster => redis_cluster_url(),
        }
    }
}

/// `redis_tests!(name, ...)`: each `async fn name(kind: RedisKind)` becomes
/// two tests, `name::standalone` and `name::cluster`.
#[macro_export]
macro_rules! redis_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test]
            async fn standalone() {
                super::$name($crate::support::RedisKind::Standalone).await
            }
            #[tokio::test]
            async fn cluster() {
                super::$name($crate::support::RedisKind::Cluster).await
            }
        }
    )*};
}

/// Connects to `url` through rez-db's own adapter (a cluster routed by slot).
pub async fn redis_connect(url: &str, prefix: &str) -> rez_db::store::redis::Redis {
    rez_db::store::redis::connect(&RedactedUrl::parse(&normalised(url)).unwrap(), prefix, Duration::from_secs(5))
        .await
        .unwrap_or_else(|e| panic!("Redis is required and not reachable at {url}: {e}\nstart it with `scripts/stack up --with-redis-cluster`"))
}

fn normalised(url: &str) -> String {
    rez_db::config::redis_url::normalise(url).unwrap()
}

/// Every key under `prefix` (full names, sorted), from every master of a cluster.
pub async fn redis_keys(r: &mut rez_db::store::redis::Redis, prefix: &str) -> Vec<String> {
    let budget = rez_db::store::redis::ScanBudget {
        max_keys: usize::MAX,
        per_call: 1000,
        pause: Duration::ZERO,
    };
    r.scan(&format!("{prefix}*"), budget)
        .await
        .unwrap()
        .into_iter()
        .map(|k| String::from_utf8(k).unwrap())
        .collect()
}

/// Deletes `keys` one by one (a multi-key DEL would span slots on a cluster).
pub async fn redis_del(r: &mut rez_db::store::redis::Redis, keys: &[String]) {
    r.per_key(keys, 1, |pipe, _, k| {
        pipe.cmd("DEL").arg(k);
    })
    .await
    .unwrap();
}
pub fn es_url() -> String {
    std::env::var("REZ_TEST_ELASTICSEARCH_URL").unwrap_or_else(|_| "http://127.0.0.1:9200".into())
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub struct Stores {
    pub mongo_db: String,
    pub mongo_uri: String,
    pub es_prefix: String,
    pub redis_prefix: String,
    /// The Redis this test runs against (standalone or the cluster).
    pub redis_url: String,
    pub db: Option<TestDb>,
    dir: tempfile::TempDir,
}

impl Stores {
    /// Names of its own on MongoDB, Redis and Elasticsearch; PostgreSQL not used.
    pub async fn new(label: &str) -> Stores {
        Stores::on(label, RedisKind::Standalone).await
    }

    /// As [`Stores::new`], with Redis standalone or the cluster.
    pub async fn on(label: &str, kind: RedisKind) -> Stores {
        Stores::on_url(label, kind.url()).await
    }

    /// As [`Stores::new`], with the Redis at `redis_url`.
    pub async fn on_url(label: &str, redis_url: String) -> Stores {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("{label}_{}_{n}", std::process::id());
        let mongo_db = format!("rez_test_{id}");
        let mongo_uri = format!("{}/{mongo_db}", mongo_server().trim_end_matches('/'));
        let s = Stores {
            mongo_uri,
            mongo_db,
            es_prefix: format!("t_{id}_").to_lowercase(),
            redis_prefix: format!("t_{id}:"),
            redis_url,
            db: None,
            dir: tempfile::tempdir().unwrap(),
        };
        // Fail loudly, naming the server, when one is missing.
        s.es().await;
        s.mongo().await;
        s.redis().await;
        std::fs::write(
            s.config_path(),
            format!(
                "redis_key_prefix: \"{}\"\nes_index_prefix: \"{}\"\n",
                s.redis_prefix, s.es_prefix
            ),
        )
        .unwrap();
        s
    }

    /// Also a migrated PostgreSQL database holding fixtures/sql/clean.sql.
    pub async fn with_clean_pg(label: &str) -> Stores {
        Stores::with_clean_pg_on(label, RedisKind::Standalone).await
    }

    /// As [`Stores::with_clean_pg`], with Redis standalone or the cluster.
    pub async fn with_clean_pg_on(label: &str, kind: RedisKind) -> Stores {
        let mut s = Stores::on(label, kind).await;
        s.db = Some(TestDb::clean(label).await);
        s
    }

    fn config_path(&self) -> PathBuf {
        self.dir.path().join("rez-db.yaml")
    }

    /// The binary pointed at this test's names; every store when the test has a
    /// PostgreSQL database, else the three others.
    pub fn rez(&self, args: &[&str]) -> Command {
        let mut cmd = common::rez(args);
        cmd.arg("--config")
            .arg(self.config_path())
            .env("MONGODB_URI", &self.mongo_uri)
            .env("REDIS_URL", &self.redis_url)
            .env("ELASTICSEARCH_URL", es_url());
        match &self.db {
            Some(db) => cmd.env("DATABASE_URL", &db.url),
            None => cmd.env("REZ_DB_STORES", "mongo,redis,es"),
        };
        cmd
    }

    /// The binary started in the background as `rez` would run it (stdout
    /// discarded, stderr piped), for tests that stop it mid-way.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        let mut cmd = common::rez_process(args);
        cmd.arg("--config")
            .arg(self.config_path())
            .env("MONGODB_URI", &self.mongo_uri)
            .env("REDIS_URL", &self.redis_url)
            .env("ELASTICSEARCH_URL", es_url())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        match &self.db {
            Some(db) => cmd.env("DATABASE_URL", &db.url),
            None => cmd.env("REZ_DB_STORES", "mongo,redis,es"),
        };
        cmd.spawn().unwrap()
    }

    /// Runs the binary with `--json`, expecting `code`; returns the document.
    pub fn json(&self, args: &[&str], code: i32) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.rez(&all).output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(code),
            "{args:?}\nstdout: {}\nstderr: {}",
            common::stdout(&out),
            common::stderr(&out)
        );
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", common::stdout(&out)))
    }

    pub async fn mongo(&self) -> mongodb::Database {
        let client = mongodb::Client::with_uri_str(&self.mongo_uri)
            .await
            .unwrap();
        client
            .database(&self.mongo_db)
            .run_command(mongodb::bson::doc! {"ping": 1})
            .await
            .unwrap_or_else(|e| panic!("MongoDB is required and not reachable at {}: {e}\nstart it with `scripts/stack up`", self.mongo_uri));
        client.database(&self.mongo_db)
    }

    /// A connection to this test's Redis (a cluster routes each command by
    /// its key; a pipeline must hold one slot).
    pub async fn redis(&self) -> rez_db::store::redis::Conn {
        self.redis_store().await.connection().clone()
    }

    /// rez-db's adapter on this test's Redis, without a prefix.
    pub async fn redis_store(&self) -> rez_db::store::redis::Redis {
        redis_connect(&self.redis_url, "").await
    }

    pub async fn es(&self) -> Es {
        rez_db::store::es::connect(&RedactedUrl::parse(&es_url()).unwrap(), &self.es_prefix, Duration::from_secs(5))
            .await
            .unwrap_or_else(|e| panic!("Elasticsearch is required and not reachable at {}: {e}\nstart it with `scripts/stack up`", es_url()))
    }

    /// The concrete index behind this test's alias `name`.
    pub async fn alias_target(&self, name: &str) -> Vec<String> {
        self.es().await.alias_targets(name).await.unwrap()
    }
}

impl Drop for Stores {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "test failed: kept MongoDB database {}, Redis keys {}*, Elasticsearch indices {}*",
                self.mongo_db, self.redis_prefix, self.es_prefix
            );
            return;
        }
        let (db, uri, es_prefix, redis_prefix, redis_url) = (
            self.mongo_db.clone(),
            self.mongo_uri.clone(),
            self.es_prefix.clone(),
            self.redis_prefix.clone(),
            self.redis_url.clone(),
        );
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(client) = mongodb::Client::with_uri_str(&uri).await {
                    let _ = client.database(&db).drop().await;
                }
                if let Ok(es) = rez_db::store::es::connect(
                    &RedactedUrl::parse(&es_url()).unwrap(),
                    "",
                    Duration::from_secs(5),
                )
                .await
                {
                    let list = es
                        .call_opt(
                            elasticsearch::http::Method::Get,
                            &format!("/_cat/indices/{es_prefix}*?format=json&h=index"),
                            None,
                        )
                        .await
                        .ok()
                        .flatten()
                        .unwrap_or_default();
                    for row in list.as_array().into_iter().flatten() {
                        if let Some(name) = row.get("index").and_then(Value::as_str) {
                            let _ = es.delete_index(name).await;
                        }
                    }
                }
                let url = RedactedUrl::parse(&normalised(&redis_url)).unwrap();
                if let Ok(mut r) =
                    rez_db::store::redis::connect(&url, "", Duration::from_secs(5)).await
                {
                    // A test that stopped a node leaves what it cannot reach.
                    let budget = rez_db::store::redis::ScanBudget {
                        max_keys: usize::MAX,
                        per_call: 1000,
                        pause: Duration::ZERO,
                    };
                    if let Ok(keys) = r.scan(&format!("{redis_prefix}*"), budget).await {
                        let _ = r
                            .per_key(&keys, 1, |pipe, _, k| {
                                pipe.cmd("DEL").arg(k);
                            })
                            .await;
                    }
                }
            });
        })
        .join()
        .unwrap();
    }
}

/// The rows of a create/migrate report for `store`, as (kind, name, action, detail).
pub fn rows(doc: &Value, field: &str, store: &str) -> Vec<(String, String, String, String)> {
    doc[field]
        .as_array()
        .unwrap_or_else(|| panic!("no `{field}` in {doc:#}"))
        .iter()
        .filter(|r| r["store"] == store)
        .map(|r| {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            (s("kind"), s("name"), s("action"), s("detail"))
        })
        .collect()
}
