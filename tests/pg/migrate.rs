//! `rez-db migrate` behaviour: idempotency, checksums, dry runs, the lock,
//! targets, and failures in the middle of a run.

use std::time::Duration;

use rez_db::config::{Config, Overrides};
use rez_db::migrate::{run_with, MigrateReport, Options};
use rez_db::migration::source::from_files;
use rez_db::migration::{Migration, MigrationSet};
use rez_db::output::exit_code;
use rez_db::progress::Silent;
use rez_db::store::pg::Pg;
use sqlx::PgConnection;

use super::common::{stderr, stdout, TestDb};

fn embedded_count() -> i64 {
    rez_db::migration::embedded().unwrap().versioned.len() as i64
}

async fn history_versions(conn: &mut PgConnection) -> Vec<i64> {
    sqlx::query_scalar("SELECT version FROM rez_meta.schema_history ORDER BY version")
        .fetch_all(conn)
        .await
        .unwrap()
}

/// Tables in `public` that no extension owns (PostGIS brings spatial_ref_sys).
async fn public_tables(conn: &mut PgConnection) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') \
           AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')",
    )
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn second_run_applies_nothing_and_check_agrees() {
    let db = TestDb::unborn("idem");
    db.rez(&["create"]).assert().success();
    db.rez(&["migrate", "--check"]).assert().code(1);

    let first = db.rez(&["--json", "migrate"]).output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(
        report["applied"].as_array().unwrap().len() as i64,
        embedded_count()
    );

    let second = db.rez(&["--json", "migrate"]).output().unwrap();
    assert!(second.status.success());
    let report: serde_json::Value = serde_json::from_slice(&second.stdout).unwrap();
    assert_eq!(report["applied"].as_array().unwrap().len(), 0);
    assert_eq!(
        report["already_applied"].as_i64().unwrap(),
        embedded_count()
    );

    db.rez(&["migrate", "--check"]).assert().code(0);
    let status = db.rez(&["migrate", "status"]).output().unwrap();
    assert!(status.status.success());
    assert!(
        stdout(&status).contains(", 0 pending, 0 diverged"),
        "{}",
        stdout(&status)
    );
}

#[tokio::test]
async fn an_edited_migration_stops_the_run_and_names_the_file() {
    let db = TestDb::migrated("tamper").await;
    let mut conn = db.conn().await;
    let file: String = sqlx::query_scalar(
        "UPDATE rez_meta.schema_history SET checksum = repeat('0', 64) WHERE version = 3 \
         RETURNING lpad(version::text, 4, '0') || '_' || name || '.sql'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();

    let out = db.rez(&["migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "migrations/{file} was edited after it was applied"
        )),
        "{err}"
    );
    assert!(err.contains("nothing was applied"), "{err}");

    let status = db.rez(&["--json", "migrate", "status"]).output().unwrap();
    assert_eq!(status.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&status.stdout).unwrap();
    assert_eq!(report["divergences"][0]["kind"], "edited");
    assert_eq!(report["divergences"][0]["version"], 3);
}

#[tokio::test]
async fn dry_run_prints_sql_and_leaves_nothing_behind() {
    let db = TestDb::unborn("dry");
    db.rez(&["create"]).assert().success();
    let out = db.rez(&["migrate", "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let sql = stdout(&out);
    assert!(
        sql.contains("CREATE TABLE users"),
        "dry run must print the SQL"
    );
    assert!(sql.contains("nothing was changed"));

    let mut conn = db.conn().await;
    assert_eq!(public_tables(&mut conn).await, 0);
    let meta: bool =
        sqlx::query_scalar("SELECT to_regclass('rez_meta.schema_history') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(!meta, "--dry-run must not create the history table");
}

#[tokio::test]
async fn target_stops_at_a_version_and_the_next_run_continues() {
    let db = TestDb::unborn("target");
    db.rez(&["create"]).assert().success();
    db.rez(&["migrate", "--target", "4"]).assert().success();
    let mut conn = db.conn().await;
    assert_eq!(history_versions(&mut conn).await, [1, 2, 3, 4]);
    db.rez(&["migrate", "--target", "2"]).assert().code(2);
    db.rez(&["migrate"]).assert().success();
    assert_eq!(
        history_versions(&mut conn).await.len() as i64,
        embedded_count()
    );
}

#[tokio::test]
async fn a_held_lock_gives_exit_4_and_concurrent_runs_apply_once() {
    let db = TestDb::unborn("lock");
    db.rez(&["create"]).assert().success();

    // Hold the schema lock from outside, as another run would.
    let mut holder = db.conn().await;
    sqlx::query("SELECT pg_advisory_lock(1380276804, 1)")
        .execute(&mut holder)
        .await
        .unwrap();
    let out = db.rez(&["migrate", "--lock-wait", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("another rez-db run holds the schema lock"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        public_tables(&mut db.conn().await).await,
        0,
        "nothing may be applied without the lock"
    );
    drop(holder);

    // Two real runs at once: one applies everything, the other waits and applies nothing.
    // PostgreSQL only: the shared MongoDB, Redis and Elasticsearch are not this test's.
    let spawn = || {
        db.command(&["--json", "migrate", "--lock-wait", "120"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success() && b.status.success());
    let applied = |o: &std::process::Output| {
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        v["applied"].as_array().unwrap().len() as i64
    };
    let mut counts = [applied(&a), applied(&b)];
    counts.sort();
    assert_eq!(counts, [0, embedded_count()]);
    let versions = history_versions(&mut db.conn().await).await;
    assert_eq!(
        versions.len() as i64,
        embedded_count(),
        "each version recorded once"
    );
}

/// The handle the face would give the operation for this database.
pub fn pg_for(db: &TestDb) -> Pg {
    let config = Config::load_with_env(
        &rez_db::partition::partitioned_tables(),
        &Overrides {
            config_file: Some("/dev/null".into()),
            database_url: Some(db.url.clone()),
            ..Default::default()
        },
        &|_| None,
    )
    .unwrap();
    Pg {
        url: config.database_url,
        connect_timeout: config.connect_timeout,
        lock_timeout: config.lock_timeout,
        statement_timeout: config.statement_timeout,
    }
}

/// `migrate` applying `set` instead of the embedded migrations, not waiting for a lock.
async fn run_set(db: &TestDb, set: &[Migration]) -> MigrateReport {
    let options = Options {
        lock_wait: Duration::ZERO,
        ..Options::default()
    };
    run_with(
        &pg_for(db),
        &options,
        &MigrationSet::from(set.to_vec()),
        &Silent,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_failing_migration_rolls_back_alone_and_the_next_run_continues() {
    let db = TestDb::empty("midfail").await;
    let good = |v: i64| {
        (
            format!("{v:04}_t{v}.sql"),
            format!("CREATE TABLE t{v} (id int);\n"),
        )
    };
    let broken = (
        "0003_broken.sql".to_string(),
        "CREATE TABLE t3 (id int);\nINSERT INTO t3 VALUES (1);\nSELECT no_such_column FROM t3;\n"
            .to_string(),
    );
    let set = from_files([good(1), good(2), broken, good(4)]).unwrap();
    let report = run_set(&db, &set).await;
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [1, 2]
    );
    let failed = report.failed.as_ref().expect("0003 must fail");
    assert_eq!((failed.version, failed.line), (3, Some(3)));
    assert!(
        failed.message.contains("no_such_column"),
        "{}",
        failed.message
    );
    assert_eq!(
        report.pending.iter().map(|p| p.version).collect::<Vec<_>>(),
        [3, 4]
    );

    let mut conn = db.conn().await;
    let t3: bool = sqlx::query_scalar("SELECT to_regclass('t3') IS NOT NULL")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(
        !t3,
        "the failed migration's own statements must be rolled back"
    );
    assert_eq!(history_versions(&mut conn).await, [1, 2]);

    // The fixed file (never applied, so it may change) goes through on the next run.
    let fixed = (
        "0003_broken.sql".to_string(),
        "CREATE TABLE t3 (id int);\n".to_string(),
    );
    let set = from_files([good(1), good(2), fixed, good(4)]).unwrap();
    let report = run_set(&db, &set).await;
    assert!(report.failed.is_none());
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [3, 4]
    );
}

#[tokio::test]
async fn a_failed_concurrent_index_leaves_no_invalid_index() {
    let db = TestDb::empty("concurrently").await;
    let table = (
        "0001_table.sql".to_string(),
        "CREATE TABLE t (id int, email text);\nINSERT INTO t VALUES (1, 'a'), (2, 'a');\n"
            .to_string(),
    );
    let index = (
        "0002_index.sql".to_string(),
        "-- rez-db:no-transaction\n\
         CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_t_id ON t (id);\n\
         CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_t_email ON t (email);\n"
            .to_string(),
    );
    let set = from_files([table.clone(), index.clone()]).unwrap();
    let report = run_set(&db, &set).await;
    let failed = report
        .failed
        .expect("the unique build must fail on duplicates");
    assert_eq!(failed.line, Some(3));
    assert_eq!(failed.dropped_invalid_indexes, ["public.idx_t_email"]);

    let mut conn = db.conn().await;
    let invalid: i64 = sqlx::query_scalar("SELECT count(*) FROM pg_index WHERE NOT indisvalid")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(invalid, 0);
    assert_eq!(history_versions(&mut conn).await, [1]);

    // Fix the data; the rerun re-runs the whole idempotent file and records it once.
    sqlx::query("UPDATE t SET email = 'b' WHERE id = 2")
        .execute(&mut conn)
        .await
        .unwrap();
    let report = run_set(&db, &set).await;
    assert!(report.failed.is_none(), "{:?}", report.failed);
    assert_eq!(history_versions(&mut conn).await, [1, 2]);
    let valid: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_indexes WHERE indexname IN ('idx_t_id', 'idx_t_email')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(valid, 2);
}

// ---- Exit codes of a failed migration (issue 13): the server refusing the
// file's SQL is a finding (1); refusing it for a reason of the server's or the
// role's, or refusing rez-db's own history row, means the run could not do its
// job (5). Either way the history holds exactly the migrations before it.

fn table_file(v: i64) -> (String, String) {
    (
        format!("{v:04}_t{v}.sql"),
        format!("CREATE TABLE t{v} (id int);\n"),
    )
}

#[tokio::test]
async fn a_migration_the_server_refuses_for_its_sql_exits_1() {
    let db = TestDb::empty("refused_sql").await;
    let typo = (
        "0002_typo.sql".to_string(),
        "CREATE TABLE t2 (id int;\n".to_string(),
    );
    let set = from_files([table_file(1), typo, table_file(3)]).unwrap();
    let report = run_set(&db, &set).await;
    let failed = report.failed.as_ref().expect("0002 must fail");
    assert_eq!(failed.version, 2);
    assert_eq!(
        failed.sqlstate.as_deref(),
        Some("42601"),
        "{}",
        failed.message
    );
    assert!(!failed.own_statement);
    assert_eq!(exit_code(&report), 1);
    assert_eq!(history_versions(&mut db.conn().await).await, [1]);

    // Through the binary: a database `rez-db create` never prepared fails the
    // prerequisites check of 0001 (a RAISE): a finding about this database.
    let bare = TestDb::empty("refused_bare").await;
    let out = bare.rez(&["--json", "migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"]["version"], 1, "{report}");
    assert_eq!(report["failed"]["sqlstate"], "P0001", "{report}");
    assert!(report["failed"]["message"]
        .as_str()
        .unwrap()
        .contains("missing extension"));
    let out = bare.rez(&["migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("FAILED migrations/0001_prerequisites.sql"),
        "{}",
        stdout(&out)
    );
    assert!(!stdout(&out).contains("not the file"), "{}", stdout(&out));
}

#[tokio::test]
async fn a_migration_refused_for_privilege_or_a_lost_history_row_exits_5() {
    let db = TestDb::empty("refused_role").await;
    // As a role without CREATE on `public` (pg_read_all_data, built in).
    let forbidden = (
        "0002_forbidden.sql".to_string(),
        "SET LOCAL ROLE pg_read_all_data;\nCREATE TABLE t2 (id int);\n".to_string(),
    );
    let set = from_files([table_file(1), forbidden]).unwrap();
    let report = run_set(&db, &set).await;
    let failed = report.failed.as_ref().expect("0002 must be refused");
    assert_eq!(failed.version, 2);
    assert_eq!(
        failed.sqlstate.as_deref(),
        Some("42501"),
        "{}",
        failed.message
    );
    assert!(!failed.own_statement, "the file's statement was refused");
    assert_eq!(exit_code(&report), 5);
    assert_eq!(
        report.applied.iter().map(|a| a.version).collect::<Vec<_>>(),
        [1],
        "the report says how far the run got"
    );
    let mut conn = db.conn().await;
    assert_eq!(history_versions(&mut conn).await, [1]);

    // The file's SQL passes, but the role it leaves cannot write the history
    // row: rez-db's own statement failed; the migration is rolled back with it.
    let unrecorded = (
        "0002_forbidden.sql".to_string(),
        "SET LOCAL ROLE pg_read_all_data;\nSELECT 1;\n".to_string(),
    );
    let set = from_files([table_file(1), unrecorded]).unwrap();
    let report = run_set(&db, &set).await;
    let failed = report
        .failed
        .as_ref()
        .expect("the history row must be refused");
    assert!(failed.own_statement, "{}", failed.message);
    assert_eq!(failed.sqlstate.as_deref(), Some("42501"));
    assert_eq!(exit_code(&report), 5);
    assert_eq!(history_versions(&mut conn).await, [1]);
}
