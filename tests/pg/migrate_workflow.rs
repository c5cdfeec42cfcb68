//! The migration workflow of issue 14: `migrate new`, repeatable migrations,
//! `migrate revert`, `migrate baseline` (with its shadow database).

use std::path::Path;
use std::time::{Duration, Instant};

use rez_db::migration::schema_diff::{compare, SchemaSnapshot};
use rez_db::migration::MigrationSet;
use rez_db::store::pg::catalog;
use sqlx::PgConnection;

use super::common::{connect, repo_path, server_url, stderr, stdout, TestDb};
use super::migrations_dir::copy_of_migrations;

fn arg(dir: &Path) -> String {
    dir.display().to_string()
}

async fn history_versions(conn: &mut PgConnection) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM rez_meta.schema_history ORDER BY version")
        .fetch_all(conn)
        .await
        .unwrap()
}

async fn schema(conn: &mut PgConnection) -> SchemaSnapshot {
    catalog::snapshot(conn, &rez_db::partition::partitioned_tables())
        .await
        .unwrap()
}

async fn exists(conn: &mut PgConnection, relation: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(relation)
        .fetch_one(conn)
        .await
        .unwrap()
}

pub(super) fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(out), stderr(out)))
}

// ---- migrate new

#[tokio::test]
async fn new_writes_the_next_file_and_never_overwrites() {
    let db = TestDb::unborn("mnew");
    let dir = copy_of_migrations();
    let d = arg(dir.path());
    let next = rez_db::migration::embedded().unwrap().newest().unwrap() + 1;

    let out = db
        .rez(&[
            "--json",
            "migrate",
            "new",
            "add_user_index",
            "--no-transaction",
            "--migrations",
            &d,
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report = json(&out);
    let path = dir.path().join(format!("{next:04}_add_user_index.sql"));
    assert_eq!(report["path"], path.display().to_string());
    assert_eq!(report["version"], next);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("-- rez-db:no-transaction\n"), "{text}");

    // The next one is numbered after it, in a transaction; the human output is the path.
    let out = db
        .rez(&["migrate", "new", "second", "--migrations", &d])
        .output()
        .unwrap();
    let second = dir.path().join(format!("{:04}_second.sql", next + 1));
    assert_eq!(stdout(&out).trim(), second.display().to_string());
    assert!(!std::fs::read_to_string(&second)
        .unwrap()
        .contains("no-transaction"));

    // Both parse: `migrate status` of the directory lists them (pending, after the database is made).
    db.rez(&["create"]).assert().success();
    let out = db
        .rez(&["--json", "migrate", "status", "--migrations", &d])
        .output()
        .unwrap();
    let rows = json(&out)["migrations"].as_array().unwrap().clone();
    assert_eq!(rows.len() as i64, next + 1);

    for bad in ["Add", "add-index", "add index"] {
        let out = db
            .rez(&["migrate", "new", bad, "--migrations", &d])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{bad}");
        assert!(
            stderr(&out).contains("is not a migration name"),
            "{}",
            stderr(&out)
        );
    }
    // No directory configured and no ./migrations: exit 2 naming it.
    let out = db.rez(&["migrate", "new", "x"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("cannot read the migrations directory migrations"),
        "{}",
        stderr(&out)
    );

    // A file already there under the computed name is never overwritten.
    let empty = tempfile::tempdir().unwrap();
    std::fs::write(empty.path().join("0001_taken.sql"), "-- mine\n").unwrap();
    let err = rez_db::migrate::new_migration(
        empty.path(),
        &MigrationSet::default(),
        "taken",
        false,
        "today",
    )
    .unwrap_err();
    assert_eq!(err.kind, rez_db::error::ErrorKind::Usage);
    assert!(
        err.message.contains("refusing to overwrite"),
        "{}",
        err.message
    );
    assert_eq!(
        std::fs::read_to_string(empty.path().join("0001_taken.sql")).unwrap(),
        "-- mine\n"
    );
}

// ---- repeatable migrations

#[tokio::test]
async fn a_repeatable_migration_changed_twice_is_applied_each_time_and_only_then() {
    let db = TestDb::empty("mrepeat").await;
    let dir = tempfile::tempdir().unwrap();
    let d = arg(dir.path());
    std::fs::write(dir.path().join("0001_t.sql"), "CREATE TABLE t (id int);\n").unwrap();
    std::fs::create_dir(dir.path().join("repeatable")).unwrap();
    let view = dir.path().join("repeatable/views.sql");
    let write_view = |n: i32| {
        std::fs::write(
            &view,
            format!("CREATE OR REPLACE VIEW v AS SELECT id, {n} AS n FROM t;\n"),
        )
        .unwrap()
    };
    write_view(1);
    std::fs::write(
        dir.path().join("repeatable/functions.sql"),
        "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE sql AS 'SELECT 1';\n",
    )
    .unwrap();

    db.rez(&["migrate", "--check", "--migrations", &d])
        .assert()
        .code(1);
    let out = db
        .rez(&["--json", "migrate", "--migrations", &d])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        json(&out)["repeatable_applied"],
        serde_json::json!(["functions", "views"])
    );
    db.rez(&["migrate", "--check", "--migrations", &d])
        .assert()
        .code(0);

    let mut conn = db.conn().await;
    sqlx::query("INSERT INTO t VALUES (1)")
        .execute(&mut conn)
        .await
        .unwrap();
    assert_eq!(view_n(&mut conn).await, 1);

    for round in [2, 3] {
        write_view(round);
        let out = db
            .rez(&["--json", "migrate", "status", "--migrations", &d])
            .output()
            .unwrap();
        let states: Vec<(String, String)> = json(&out)["repeatables"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r["name"].as_str().unwrap().to_string(),
                    r["state"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            states,
            [
                ("functions".to_string(), "applied".to_string()),
                ("views".into(), "changed".into())
            ]
        );
        let dry = db
            .rez(&["migrate", "--dry-run", "--migrations", &d])
            .output()
            .unwrap();
        assert!(
            stdout(&dry).contains(&format!("{round} AS n")),
            "{}",
            stdout(&dry)
        );
        let out = db
            .rez(&["--json", "migrate", "--migrations", &d])
            .output()
            .unwrap();
        assert_eq!(
            json(&out)["repeatable_applied"],
            serde_json::json!(["views"])
        );
        assert_eq!(view_n(&mut conn).await, round);
    }
    // Unchanged: nothing runs; the history holds every application.
    let out = db
        .rez(&["--json", "migrate", "--migrations", &d])
        .output()
        .unwrap();
    assert_eq!(json(&out)["repeatable_applied"], serde_json::json!([]));
    let applications: Vec<(String, i64)> = sqlx::query_as(
        "SELECT name, count(*) FROM rez_meta.repeatable_history GROUP BY name ORDER BY name",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        applications,
        [("functions".to_string(), 1), ("views".to_string(), 3)]
    );
    let status = db
        .rez(&["migrate", "status", "--migrations", &d])
        .output()
        .unwrap();
    assert!(
        stdout(&status).contains("0 of 2 repeatable to apply"),
        "{}",
        stdout(&status)
    );

    // A repeatable the server refuses stops the run with exit 1; the last good one stays.
    std::fs::write(
        &view,
        "CREATE OR REPLACE VIEW v AS SELECT no_such_column FROM t;\n",
    )
    .unwrap();
    let out = db
        .rez(&["--json", "migrate", "--migrations", &d])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(json(&out)["failed"]["file"], "repeatable/views.sql");
    assert_eq!(view_n(&mut conn).await, 3);
}

/// `n` of the view the repeatable migration defines.
async fn view_n(conn: &mut PgConnection) -> i32 {
    sqlx::query_scalar("SELECT n FROM v LIMIT 1")
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Names of the repeatable migrations the database applied.
async fn repeatables_applied(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar("SELECT DISTINCT name FROM rez_meta.repeatable_history ORDER BY name")
        .fetch_all(conn)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_definitions_moved_to_repeatable_files_leave_the_schema_identical() {
    // Before the move: the versioned files alone (migrations/ without repeatable/).
    let before = TestDb::unborn("mmove_before");
    before.rez(&["create"]).assert().success();
    let dir = copy_of_migrations();
    assert!(!dir.path().join("repeatable").exists());
    before
        .rez(&["migrate", "--migrations", &arg(dir.path())])
        .assert()
        .success();
    // After: the built-in set, whose repeatable files state 0002's trigger
    // functions and 0014's policies and grants again.
    let after = TestDb::migrated("mmove_after").await;
    let (mut a, mut b) = (before.conn().await, after.conn().await);
    assert_eq!(repeatables_applied(&mut b).await, ["functions", "security"]);
    assert_eq!(
        compare(&schema(&mut a).await, &schema(&mut b).await),
        vec![]
    );

    // A database migrated before the move gets them on its next run, and stays the same.
    let out = before.rez(&["--json", "migrate"]).output().unwrap();
    assert_eq!(
        json(&out)["repeatable_applied"],
        serde_json::json!(["functions", "security"])
    );
    assert_eq!(
        compare(&schema(&mut a).await, &schema(&mut b).await),
        vec![]
    );
}

// ---- migrate revert

#[tokio::test]
async fn revert_to_0_then_migrate_again_gives_the_same_schema() {
    let db = TestDb::migrated("mrevert").await;
    let mut conn = db.conn().await;
    let before = schema(&mut conn).await;

    // A dry run prints the downs, newest first, and changes nothing.
    let out = db
        .rez(&["migrate", "revert", "--to", "0", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let (first, last) = (
        text.find("0014_views_security.down.sql").unwrap(),
        text.find("0001_prerequisites.down.sql").unwrap(),
    );
    assert!(first < last, "{text}");
    assert!(text.contains("DROP MATERIALIZED VIEW merchant_stats"));
    // Without a terminal and without --yes: refused.
    let out = db
        .rez(&["migrate", "revert", "--to", "0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(history_versions(&mut conn).await.len(), 14);

    let out = db
        .rez(&["--json", "migrate", "revert", "--to", "0", "--yes"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(json(&out)["reverted"].as_array().unwrap().len(), 14);
    assert!(history_versions(&mut conn).await.is_empty());
    assert!(!exists(&mut conn, "public.users").await);
    let left = schema(&mut conn).await;
    assert!(
        left.objects.iter().all(|o| matches!(
            o.kind,
            rez_db::migration::schema_diff::ObjectKind::Schema
                | rez_db::migration::schema_diff::ObjectKind::Extension
                | rez_db::migration::schema_diff::ObjectKind::Grant
        )),
        "only what `create` makes is left: {:?}",
        left.objects
    );
    // The revert is in the operations log.
    let logged: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM rez_meta.operations WHERE command = 'migrate revert' AND exit_code = 0",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(logged, 1);

    db.rez(&["migrate"]).assert().success();
    let after = schema(&mut conn).await;
    assert_eq!(
        compare(&before, &after),
        vec![],
        "the schema must be the same"
    );

    // Part of the way: down to 12, then up again.
    db.rez(&["migrate", "revert", "--to", "12", "--yes"])
        .assert()
        .success();
    assert_eq!(
        history_versions(&mut conn).await,
        (1..=12).collect::<Vec<i64>>()
    );
    assert!(!exists(&mut conn, "public.merchant_stats").await);
    db.rez(&["migrate"]).assert().success();
    assert_eq!(compare(&before, &schema(&mut conn).await), vec![]);
}

#[tokio::test]
async fn revert_refuses_a_missing_down_and_a_ledger_with_rows_unless_forced() {
    let db = TestDb::migrated("mrevert_refuse").await;
    let mut conn = db.conn().await;
    let dir = copy_of_migrations();
    let d = arg(dir.path());
    std::fs::remove_file(dir.path().join("0011_engagement.down.sql")).unwrap();
    let out = db
        .rez(&[
            "migrate",
            "revert",
            "--to",
            "10",
            "--yes",
            "--migrations",
            &d,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no down file for 0011_engagement.sql"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        history_versions(&mut conn).await.len(),
        14,
        "nothing was reverted"
    );

    sqlx::query("INSERT INTO audit_log (table_name, operation) VALUES ('t', 'INSERT')")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = db
        .rez(&["migrate", "revert", "--to", "11", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("0012_audit_log.down.sql would destroy the rows of audit_log"),
        "{err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(history_versions(&mut conn).await.len(), 14);
    db.rez(&["migrate", "revert", "--to", "11", "--yes", "--force"])
        .assert()
        .success();
    assert_eq!(
        history_versions(&mut conn).await,
        (1..=11).collect::<Vec<i64>>()
    );
    assert!(!exists(&mut conn, "public.audit_log").await);
}

#[tokio::test]
async fn a_failing_down_leaves_the_history_consistent() {
    let db = TestDb::empty("mrevert_fail").await;
    let dir = tempfile::tempdir().unwrap();
    let d = arg(dir.path());
    for v in 1..=3 {
        std::fs::write(
            dir.path().join(format!("{v:04}_t{v}.sql")),
            format!("CREATE TABLE t{v} (id int);\n"),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(format!("{v:04}_t{v}.down.sql")),
            format!("DROP TABLE t{v};\n"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("0002_t2.down.sql"),
        "DROP TABLE t2;\nSELECT no_such_column;\n",
    )
    .unwrap();
    db.rez(&["migrate", "--migrations", &d]).assert().success();

    let out = db
        .rez(&[
            "--json",
            "migrate",
            "revert",
            "--to",
            "0",
            "--yes",
            "--migrations",
            &d,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    assert_eq!(report["reverted"][0]["version"], 3);
    assert_eq!(report["failed"]["file"], "0002_t2.down.sql");
    assert_eq!(report["failed"]["line"], 2);
    let mut conn = db.conn().await;
    assert_eq!(history_versions(&mut conn).await, [1, 2]);
    assert!(
        exists(&mut conn, "t2").await,
        "the failed down is rolled back whole"
    );
    assert!(!exists(&mut conn, "t3").await);
}

// ---- migrate baseline

/// Runs the first `count` migration files of the built-in set on `db` through
/// `psql -f`, as the platform's production database was built: no history.
fn psql_migrations(db: &TestDb, count: usize) {
    let set = rez_db::migration::embedded().unwrap();
    for m in set.versioned.iter().take(count) {
        let file = repo_path(&format!("migrations/{}", m.file_name));
        let out = std::process::Command::new("psql")
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db.url, "-f"])
            .arg(&file)
            .output()
            .expect("psql is required for this test");
        assert!(
            out.status.success(),
            "psql -f {}: {}",
            m.file_name,
            stderr(&out)
        );
    }
}

/// A database made by `create`, then every migration file through `psql -f`.
pub(super) fn built_with_psql(label: &str) -> TestDb {
    let db = TestDb::unborn(label);
    db.rez(&["create"]).assert().success();
    psql_migrations(&db, usize::MAX);
    db
}

/// The shadow databases that exist now.
pub(super) async fn shadows(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT datname::text FROM pg_database WHERE datname LIKE 'rez\\_shadow\\_%'",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// The name of the shadow database running a statement that contains
/// `marker`, once one does (within 30 s).
pub(super) async fn shadow_running(admin: &mut PgConnection, marker: &str) -> String {
    let started = Instant::now();
    let shadow: String = loop {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT datname::text FROM pg_stat_activity WHERE query LIKE '%' || $1 || '%' \
             AND pid <> pg_backend_pid() LIMIT 1",
        )
        .bind(marker)
        .fetch_optional(&mut *admin)
        .await
        .unwrap();
        if let Some(name) = found {
            break name;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the shadow never ran the migration"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(shadow.starts_with("rez_shadow_"), "{shadow}");
    shadow
}

#[tokio::test]
async fn baseline_refuses_planted_differences_and_accepts_an_exact_copy() {
    let db = built_with_psql("mbase");
    let mut conn = db.conn().await;
    sqlx::raw_sql(
        "ALTER TABLE users ADD COLUMN nickname text; \
         DROP INDEX idx_merchants_city; \
         ALTER TABLE offers ALTER COLUMN status SET DEFAULT 'paused';",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let out = db
        .rez(&["--json", "migrate", "baseline", "--to", "14"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    let found = super::migrate_diff::differences(&report);
    assert_eq!(
        found,
        [
            (
                "changed".to_string(),
                "column".to_string(),
                "public.offers.status".to_string()
            ),
            (
                "extra".into(),
                "column".into(),
                "public.users.nickname".into()
            ),
            (
                "missing".into(),
                "index".into(),
                "public.idx_merchants_city".into()
            ),
        ],
        "exactly the planted differences: {report}"
    );
    let changed = report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["object"] == "public.offers.status")
        .unwrap()
        .clone();
    assert!(
        changed["actual"].as_str().unwrap().contains("'paused'"),
        "{changed}"
    );
    let human = db
        .rez(&["migrate", "baseline", "--to", "14"])
        .output()
        .unwrap();
    assert!(
        stdout(&human).contains("missing index public.idx_merchants_city"),
        "{}",
        stdout(&human)
    );
    assert!(stdout(&human).contains("nothing was recorded"));
    assert!(
        !exists(&mut conn, "rez_meta.schema_history").await,
        "a refused baseline writes nothing"
    );

    // Put it back as the migrations have it: accepted, recorded, and `migrate` has nothing to do.
    sqlx::raw_sql(
        "ALTER TABLE users DROP COLUMN nickname; \
         CREATE INDEX idx_merchants_city ON merchants (city); \
         ALTER TABLE offers ALTER COLUMN status SET DEFAULT 'draft';",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let out = db
        .rez(&["--json", "migrate", "baseline", "--to", "14"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert_eq!(json(&out)["recorded"].as_array().unwrap().len(), 14);
    assert_eq!(
        history_versions(&mut conn).await,
        (1..=14).collect::<Vec<i64>>()
    );
    let status = db.rez(&["migrate", "status"]).output().unwrap();
    assert!(
        stdout(&status).contains(", 0 pending, 0 diverged"),
        "{}",
        stdout(&status)
    );
    // Once baselined, it is refused (exit 2): the history is there.
    let again = db
        .rez(&["migrate", "baseline", "--to", "14"])
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(2));
    assert!(
        stderr(&again).contains("already has a migration history"),
        "{}",
        stderr(&again)
    );
}

#[tokio::test]
async fn baseline_to_an_earlier_version_and_through_a_shadow_url() {
    let db = TestDb::unborn("mbase_mid");
    db.rez(&["create"]).assert().success();
    psql_migrations(&db, 4);
    // A shadow URL naming a database that does not exist: exit 2, nothing recorded.
    let nowhere = format!("{}_nowhere", db.url);
    let out = db
        .rez(&["migrate", "baseline", "--to", "4", "--shadow-url", &nowhere])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    // Against the wrong version: the tables of 0005.. are missing, listed as such.
    let out = db
        .rez(&["--json", "migrate", "baseline", "--to", "5"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(json(&out)["differences"]
        .as_array()
        .unwrap()
        .iter()
        .any(|d| d["object"] == "public.merchants" && d["kind"] == "missing"));
    let out = db
        .rez(&[
            "migrate",
            "baseline",
            "--to",
            "4",
            "--shadow-url",
            &server_url(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    let mut conn = db.conn().await;
    assert_eq!(history_versions(&mut conn).await, [1, 2, 3, 4]);
    db.rez(&["migrate"]).assert().success();
    assert_eq!(history_versions(&mut conn).await.len(), 14);
}

#[tokio::test]
async fn an_interrupted_baseline_drops_its_shadow_database() {
    for (signal, code) in [("-INT", 130), ("-TERM", 143)] {
        let db = TestDb::empty("mbase_int").await;
        let dir = tempfile::tempdir().unwrap();
        let marker = format!("rez_shadow_test_{}_{}", std::process::id(), code);
        std::fs::write(
            dir.path().join("0001_slow.sql"),
            format!("SELECT pg_sleep(60) AS {marker};\n"),
        )
        .unwrap();
        let mut child = db
            .command(&[
                "migrate",
                "baseline",
                "--to",
                "1",
                "--migrations",
                &arg(dir.path()),
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        // Wait for the migration to run in the shadow database: that names it.
        let mut admin = connect(&server_url()).await;
        let shadow = shadow_running(&mut admin, &marker).await;
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let exit = child.wait().unwrap();
        assert_eq!(exit.code(), Some(code), "{signal}");
        assert!(
            !shadows(&mut admin).await.contains(&shadow),
            "{signal}: the shadow {shadow} must be dropped before rez-db exits"
        );
    }
}
