//! Test support shared by the integration suites: a throwaway PostgreSQL
//! database per test (kept, and named on stderr, when the test fails), and the
//! real `rez-db` binary run hermetically: a cleared environment holding only
//! what a test sets (see [`rez_process`]), so no developer's DATABASE_URL,
//! REZ_DB_STORES, RUST_LOG or ./rez-db.yaml ever reaches a run.
//!
//! A test that needs PostgreSQL panics when it is unreachable: it never skips.

#![allow(dead_code)]

pub mod pinned;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use assert_cmd::Command;
use sqlx::{Connection, PgConnection};

/// The server the tests use: `REZ_TEST_PG_URL` (a URL to any existing database
/// on it), else the local stack's.
pub fn server_url() -> String {
    std::env::var("REZ_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string())
}

fn with_database(server: &str, name: &str) -> String {
    let mut url = url::Url::parse(server).expect("REZ_TEST_PG_URL must be a URL");
    url.set_path(&format!("/{name}"));
    url.to_string()
}

pub async fn connect(url: &str) -> PgConnection {
    PgConnection::connect(url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL is required for this test and is not reachable at {url}: {e}\nstart it with `scripts/stack up`")
    })
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A database of its own for one test; dropped when the test passes.
pub struct TestDb {
    pub name: String,
    pub url: String,
    /// The cache of expected schemas of the runs against this database
    /// (`REZ_DB_CACHE_DIR`): one per test, so no test sees another's (or the
    /// developer's) cached schema, and a test's first baseline or diff
    /// builds its shadow database.
    pub cache: tempfile::TempDir,
}

impl TestDb {
    /// A fresh, empty database (no extensions, no roles).
    pub async fn empty(label: &str) -> TestDb {
        let name = format!(
            "rez_test_{label}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        let mut admin = connect(&server_url()).await;
        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&mut admin)
            .await
            .unwrap();
        sqlx::raw_sql(&format!(
            "CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8'"
        ))
        .execute(&mut admin)
        .await
        .unwrap();
        TestDb {
            url: with_database(&server_url(), &name),
            name,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// A database name that does not exist yet, for testing `create`.
    pub fn unborn(label: &str) -> TestDb {
        let name = format!(
            "rez_test_{label}_{}_{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::SeqCst)
        );
        TestDb {
            url: with_database(&server_url(), &name),
            name,
            cache: tempfile::tempdir().unwrap(),
        }
    }

    /// A database after `rez-db create` and `rez-db migrate`.
    pub async fn migrated(label: &str) -> TestDb {
        let db = TestDb::unborn(label);
        db.rez(&["create"]).assert().success();
        db.rez(&["migrate"]).assert().success();
        db
    }

    /// A migrated database holding the hand-checked dataset of fixtures/sql/clean.sql.
    pub async fn clean(label: &str) -> TestDb {
        let db = TestDb::migrated(label).await;
        let sql = std::fs::read_to_string(repo_path("fixtures/sql/clean.sql")).unwrap();
        sqlx::raw_sql(&sql)
            .execute(&mut db.conn().await)
            .await
            .unwrap();
        db
    }

    pub async fn conn(&self) -> PgConnection {
        connect(&self.url).await
    }

    /// The rez-db binary pointed at this database, and at PostgreSQL only
    /// (`REZ_DB_STORES=pg`): the shared MongoDB, Redis and Elasticsearch are left
    /// alone; tests/stores gives each test its own names on those.
    pub fn rez(&self, args: &[&str]) -> Command {
        Command::from_std(self.command(args))
    }

    /// [`TestDb::rez`] as a plain process, for tests that choose its stdio.
    pub fn command(&self, args: &[&str]) -> std::process::Command {
        let mut cmd = rez_process(args);
        cmd.env("DATABASE_URL", &self.url)
            .env("REZ_DB_STORES", "pg")
            .env("REZ_DB_CACHE_DIR", self.cache.path());
        cmd
    }

    /// The rez-db binary started in the background against this database
    /// (output discarded), for tests that kill it mid-way.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.command(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "test failed: kept database {} for inspection ({})",
                self.name, self.url
            );
            return;
        }
        let name = self.name.clone();
        // Drop runs inside the test's runtime: drop the database from another thread.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut admin) = PgConnection::connect(&server_url()).await {
                    let _ =
                        sqlx::raw_sql(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                            .execute(&mut admin)
                            .await;
                }
            });
        })
        .join()
        .unwrap();
    }
}

/// The rez-db binary, hermetic (see [`rez_process`]).
pub fn rez(args: &[&str]) -> Command {
    Command::from_std(rez_process(args))
}

/// The rez-db binary as a plain process, started the way jj's tests start
/// theirs (`cli/tests/common/test_environment.rs`): the environment is
/// cleared and holds only PATH (pg_dump and pg_restore are found through it),
/// HOME and the working directory in a scratch folder (no ~/.pgpass, no
/// ./rez-db.yaml), NO_COLOR, a fixed COLUMNS, a pinned REZ_DB_ACTOR, and what
/// the test then sets itself. Nothing else of the developer's shell
/// (DATABASE_URL, REZ_DB_STORES, REZ_DB_PROFILE, RUST_LOG, PG*) reaches it.
pub fn rez_process(args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("rez-db"));
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", scratch_dir("home"))
        .current_dir(scratch_dir("cwd"))
        .env("NO_COLOR", "1")
        .env("COLUMNS", "100")
        .env("REZ_DB_ACTOR", ACTOR);
    cmd
}

/// Who every test run is, in the operations log.
pub const ACTOR: &str = "rez-db-tests";

/// An empty folder shared by the runs of the tests (nothing writes in it).
fn scratch_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rez-db-tests-{what}"));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file in the repository, by its path from the repository root.
pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A new age key pair for `backup --encrypt-to` / `restore --identity`: the
/// identity file under `dir` (mode 600, as `age-keygen -o` writes it) and the
/// recipient (its public key `age1...`).
pub fn age_key(dir: &Path, name: &str) -> (PathBuf, String) {
    use age::secrecy::ExposeSecret;
    use std::os::unix::fs::PermissionsExt;
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let path = dir.join(name);
    let text = format!(
        "# public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    (path, recipient)
}

/// Every constraint and index of the database's tables, as `table name
/// definition valid`, sorted; partitions left out (loads create them, with
/// their parent's). A load that sets indexes aside must give back exactly
/// these.
pub async fn keys_and_indexes(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT format('%s %s %s %s', r.relname, c.conname, pg_get_constraintdef(c.oid), c.convalidated)
           FROM pg_constraint c JOIN pg_class r ON r.oid = c.conrelid
          WHERE r.relnamespace = 'public'::regnamespace AND NOT r.relispartition AND c.conparentid = 0
         UNION ALL
         SELECT format('%s %s %s %s', r.relname, i.relname, pg_get_indexdef(x.indexrelid), x.indisvalid)
           FROM pg_index x JOIN pg_class r ON r.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
          WHERE r.relnamespace = 'public'::regnamespace AND NOT r.relispartition
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}
