//! What users see: snapshots of the human and the `--json` output of the
//! everyday commands, run through the real binary against a real database,
//! as a pipe or a file sees them (stdout not a terminal: tables at their
//! natural width). Clocks and seeds are pinned by flags; what still varies
//! from run to run (the test database's URL and name, durations, server
//! versions, the time a migration was applied, temporary paths) is replaced
//! by a placeholder, inside tables too (`common::pinned`).

use std::process::Output;

use rez_db::secret::RedactedUrl;

use super::common::pinned::pinned;
use super::common::{repo_path, stderr, stdout, TestDb};

/// The test database's URL as rez-db shows it.
fn shown_url(db: &TestDb) -> String {
    RedactedUrl::parse(&db.url).unwrap().to_string()
}

/// Runs `args` on `db`, expecting exit `code` and nothing on stderr; returns stdout.
fn run(db: &TestDb, args: &[&str], code: i32) -> String {
    let out = db.rez(args).output().unwrap();
    expect(&out, args, code)
}

fn expect(out: &Output, args: &[&str], code: i32) -> String {
    assert_eq!(
        out.status.code(),
        Some(code),
        "{args:?}\nstdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    assert_eq!(
        stderr(out),
        "",
        "{args:?}: stderr is for errors and progress"
    );
    stdout(out)
}

/// Pins what every snapshot here shares: the database's URL and name.
fn database_filters(db: &TestDb) -> Vec<(String, String)> {
    vec![
        (
            regex::escape(&shown_url(db)),
            "postgres://[server]/[database]".to_string(),
        ),
        (regex::escape(&db.name), "[database]".to_string()),
    ]
}

fn with<'a>(owned: &'a [(String, String)], more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    owned
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .chain(more.iter().copied())
        .collect()
}

const ELAPSED_MS: (&str, &str) = (r#""elapsed_ms": \d+"#, r#""elapsed_ms": "[ms]""#);

#[tokio::test]
async fn status_of_a_migrated_database() {
    let db = TestDb::migrated("out_status").await;
    let owned = database_filters(&db);
    let filters = with(
        &owned,
        &[
            (r"^PostgreSQL \d.*$", "PostgreSQL [version]"),
            (r#""version": "[^"]*""#, r#""version": "[version]""#),
        ],
    );
    let human = run(&db, &["status", "--only", "pg"], 0);
    insta::assert_snapshot!("status", pinned(&human, &filters, &[]));
    let json = run(&db, &["--json", "status", "--only", "pg"], 0);
    insta::assert_snapshot!("status_json", pinned(&json, &filters, &[]));
}

#[tokio::test]
async fn migrate_status_of_a_migrated_database() {
    let db = TestDb::migrated("out_migrate").await;
    let owned = database_filters(&db);
    let filters = with(
        &owned,
        &[(
            r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?( UTC|Z)",
            "[applied at]",
        )],
    );
    let human = run(&db, &["migrate", "status"], 0);
    insta::assert_snapshot!("migrate_status", pinned(&human, &filters, &[]));
    let json = run(&db, &["--json", "migrate", "status"], 0);
    insta::assert_snapshot!("migrate_status_json", pinned(&json, &filters, &[]));
}

#[tokio::test]
async fn validate_of_the_clean_dataset() {
    let db = TestDb::clean("out_validate").await;
    let owned = database_filters(&db);
    let filters = with(&owned, &[ELAPSED_MS]);
    let human = run(&db, &["validate", "--only", "pg"], 0);
    insta::assert_snapshot!("validate", pinned(&human, &filters, &[("ms", "[ms]")]));
    let json = run(&db, &["--json", "validate", "--only", "pg"], 0);
    insta::assert_snapshot!("validate_json", pinned(&json, &filters, &[]));
}

#[tokio::test]
async fn seed_of_the_reference_data_into_a_migrated_database() {
    // Two databases: a second seed of the same one would change nothing.
    for (args, name) in [(&["seed"][..], "seed"), (&["--json", "seed"], "seed_json")] {
        let db = TestDb::migrated("out_seed").await;
        let owned = database_filters(&db);
        let filters = with(&owned, &[ELAPSED_MS]);
        let text = run(&db, args, 0);
        insta::assert_snapshot!(name, pinned(&text, &filters, &[]));
    }
}

#[tokio::test]
async fn import_csv_with_rejected_rows() {
    let db = TestDb::migrated("out_import").await;
    let dir = tempfile::tempdir().unwrap();
    let name = "users_with_rejects.csv";
    std::fs::copy(
        repo_path(&format!("fixtures/csv/valid/{name}")),
        dir.path().join(name),
    )
    .unwrap();
    let owned = database_filters(&db);
    let filters = with(&owned, &[ELAPSED_MS, (r" in \d+\.\ds$", " in [seconds]s")]);
    for (json, snapshot) in [(false, "import_csv"), (true, "import_csv_json")] {
        let mut args = vec!["import-csv", "--table", "users", name];
        if json {
            args.insert(0, "--json");
        }
        // The file by a relative name, as a user types it.
        let out = db.rez(&args).current_dir(dir.path()).output().unwrap();
        let text = expect(&out, &args, 1);
        insta::assert_snapshot!(snapshot, pinned(&text, &filters, &[]));
        let rejects =
            std::fs::read_to_string(dir.path().join(format!("{name}.rejects.csv"))).unwrap();
        insta::assert_snapshot!("import_csv_rejects", rejects);
        // The next run finds the table as this one found it.
        sqlx::raw_sql("DELETE FROM users")
            .execute(&mut db.conn().await)
            .await
            .unwrap();
    }
}

/// The partitions a migration run on 2026-12-07 makes (it starts from the
/// month, or quarter, holding its `now()`), whatever the day the test runs.
const PARTITIONS_OF_2026_12: &str = "
DO $$
DECLARE part regclass;
BEGIN
    FOR part IN SELECT i.inhrelid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent IN ('orders'::regclass, 'wallet_transactions'::regclass, 'audit_log'::regclass)
                   AND c.relpartbound IS NOT NULL AND NOT c.relname LIKE '%\\_default'
    LOOP
        EXECUTE format('DROP TABLE %s', part);
    END LOOP;
END $$;
CREATE TABLE orders_2026_12 PARTITION OF orders FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00');
CREATE TABLE orders_2027_01 PARTITION OF orders FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00');
CREATE TABLE orders_2027_02 PARTITION OF orders FOR VALUES FROM ('2027-02-01 00:00:00+00') TO ('2027-03-01 00:00:00+00');
CREATE TABLE orders_2027_03 PARTITION OF orders FOR VALUES FROM ('2027-03-01 00:00:00+00') TO ('2027-04-01 00:00:00+00');
CREATE TABLE wallet_transactions_2026_q4 PARTITION OF wallet_transactions FOR VALUES FROM ('2026-10-01 00:00:00+00') TO ('2027-01-01 00:00:00+00');
CREATE TABLE wallet_transactions_2027_q1 PARTITION OF wallet_transactions FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-04-01 00:00:00+00');
CREATE TABLE wallet_transactions_2027_q2 PARTITION OF wallet_transactions FOR VALUES FROM ('2027-04-01 00:00:00+00') TO ('2027-07-01 00:00:00+00');
CREATE TABLE wallet_transactions_2027_q3 PARTITION OF wallet_transactions FOR VALUES FROM ('2027-07-01 00:00:00+00') TO ('2027-10-01 00:00:00+00');
CREATE TABLE audit_log_2026_12 PARTITION OF audit_log FOR VALUES FROM ('2026-12-01 00:00:00+00') TO ('2027-01-01 00:00:00+00');
CREATE TABLE audit_log_2027_01 PARTITION OF audit_log FOR VALUES FROM ('2027-01-01 00:00:00+00') TO ('2027-02-01 00:00:00+00');
CREATE TABLE audit_log_2027_02 PARTITION OF audit_log FOR VALUES FROM ('2027-02-01 00:00:00+00') TO ('2027-03-01 00:00:00+00');
CREATE TABLE audit_log_2027_03 PARTITION OF audit_log FOR VALUES FROM ('2027-03-01 00:00:00+00') TO ('2027-04-01 00:00:00+00');
";

#[tokio::test]
async fn partition_rotate_dry_run_with_a_policy() {
    let db = TestDb::migrated("out_rotate").await;
    sqlx::raw_sql(PARTITIONS_OF_2026_12)
        .execute(&mut db.conn().await)
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let config = dir.path().join("rez-db.yaml");
    std::fs::write(
        &config,
        format!(
            "partitions:\n  \
             orders: {{ premake: 2 }}\n  \
             wallet_transactions: {{ premake: 3, retain: 1 }}\n  \
             audit_log: {{ premake: 2, retain: 3, archive_dir: {}, drop: true }}\n",
            archive.display()
        ),
    )
    .unwrap();
    // An archive's folder, <database>@<host>_<port>_<system identifier>,
    // before the database's name alone.
    let mut owned = vec![(
        format!(r"{}@[^/]+_\d+_\d+", regex::escape(&db.name)),
        "[database]@[host]_[port]_[system identifier]".to_string(),
    )];
    owned.extend(database_filters(&db));
    let tmp = regex::escape(&dir.path().display().to_string());
    let filters = with(&owned, &[(tmp.as_str(), "[tmp]")]);
    let config = config.to_str().unwrap();
    let now = "2027-03-15T00:00:00Z";
    let args = [
        "--config",
        config,
        "partition-rotate",
        "--dry-run",
        "--now",
        now,
    ];
    let human = run(&db, &args, 0);
    insta::assert_snapshot!("partition_rotate_dry_run", pinned(&human, &filters, &[]));
    let json = run(&db, &[&["--json"][..], &args].concat(), 0);
    insta::assert_snapshot!(
        "partition_rotate_dry_run_json",
        pinned(&json, &filters, &[])
    );
    assert!(!archive.exists(), "a dry run writes nothing");
}
