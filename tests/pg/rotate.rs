//! `rez-db partition-rotate`: month-by-month time travel with retention,
//! rows rescued from DEFAULT, a second run doing nothing, the schema lock,
//! and a run interrupted between detach and drop finishing on the next run.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use sqlx::PgConnection;

use super::common::{stderr, TestDb};

async fn partitions(conn: &mut PgConnection, parent: &str) -> BTreeSet<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = $1::regclass AND c.relname NOT LIKE '%_default'",
    )
    .bind(parent)
    .fetch_all(conn)
    .await
    .unwrap()
    .into_iter()
    .collect()
}

fn rotate(db: &TestDb, config: &std::path::Path, now: &str) -> serde_json::Value {
    rotate_with(db, config, now, &[])
}

/// Runs partition-rotate with `--json`, expecting success; returns the report.
fn rotate_with(
    db: &TestDb,
    config: &std::path::Path,
    now: &str,
    extra: &[&str],
) -> serde_json::Value {
    let mut args = vec![
        "--json",
        "--config",
        config.to_str().unwrap(),
        "partition-rotate",
        "--now",
        now,
    ];
    args.extend_from_slice(extra);
    let out = db.rez(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// (action, partition, rows moved) of each action in a report.
fn actions(report: &serde_json::Value) -> Vec<(String, String, Option<u64>)> {
    report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let text = |k: &str| a[k].as_str().unwrap().to_string();
            (text("action"), text("partition"), a["moved"].as_u64())
        })
        .collect()
}

fn config(dir: &tempfile::TempDir) -> std::path::PathBuf {
    let path = dir.path().join("rez-db.yaml");
    std::fs::write(
        &path,
        format!(
            "partitions:\n  audit_log: {{ premake: 2, retain: 3, archive_dir: {}, drop: true }}\n  orders: {{ premake: 1 }}\n",
            dir.path().join("archive").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn month_by_month_time_travel_keeps_the_window() {
    let db = TestDb::migrated("rotate_travel").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let mut conn = db.conn().await;
    // The migration made audit_log partitions from the current month on; travel
    // a year ahead, then month by month. Policy: premake 2, retain 3 (current included).
    for (month, expected) in [
        (
            "2027-11-10T00:00:00Z",
            &["2027_11", "2027_12", "2028_01"][..],
        ),
        (
            "2027-12-10T00:00:00Z",
            &["2027_11", "2027_12", "2028_01", "2028_02"][..],
        ),
        (
            "2028-01-10T00:00:00Z",
            &["2027_11", "2027_12", "2028_01", "2028_02", "2028_03"][..],
        ),
        // Two months of downtime: catch up, and let November and December go.
        (
            "2028-03-10T00:00:00Z",
            &["2028_01", "2028_02", "2028_03", "2028_04", "2028_05"][..],
        ),
    ] {
        rotate(&db, &config, month);
        let want: BTreeSet<String> = expected.iter().map(|m| format!("audit_log_{m}")).collect();
        assert_eq!(
            partitions(&mut conn, "audit_log").await,
            want,
            "after {month}"
        );
        let again = rotate(&db, &config, month);
        assert!(
            again["actions"].as_array().unwrap().is_empty(),
            "{month}: a second run must do nothing: {again}"
        );
    }
    // Everything detached was archived before it was dropped.
    let folder = archive_folder(&db, &dir.path().join("archive")).await;
    let archived: BTreeSet<String> = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        archived.contains("audit_log_2027_11.dump") && archived.contains("audit_log_2027_12.dump"),
        "{archived:?}"
    );
    assert!(
        archived.contains("audit_log_2027_11.dump.json"),
        "each with its sidecar: {archived:?}"
    );
    assert!(
        archived
            .iter()
            .all(|f| f.ends_with(".dump") || f.ends_with(".dump.json")),
        "no partial archive left: {archived:?}"
    );
    let leftovers: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_class WHERE relname = 'audit_log_2027_11'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(leftovers, 0, "dropped after the archive");
}

#[tokio::test]
async fn rows_in_default_move_into_their_partition_and_old_ones_are_reported() {
    let db = TestDb::migrated("rotate_default").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let mut conn = db.conn().await;
    // Audit rows for months that have no partition: two kept by retention, one beyond it.
    sqlx::raw_sql(
        "INSERT INTO audit_log (table_name, operation, changed_at) VALUES \
           ('t', 'INSERT', '2030-05-03 00:00+00'), ('t', 'INSERT', '2030-05-20 00:00+00'), \
           ('t', 'UPDATE', '2030-06-01 00:00+00'), ('t', 'DELETE', '2029-01-15 00:00+00')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let report = rotate(&db, &config, "2030-06-15T00:00:00Z");
    let moved: Vec<(String, String, Option<u64>)> = actions(&report)
        .into_iter()
        .filter(|a| a.0 == "move_and_create")
        .collect();
    let expect = |p: &str, n| ("move_and_create".to_string(), p.to_string(), Some(n));
    assert_eq!(
        moved,
        [
            expect("audit_log_2030_05", 2),
            expect("audit_log_2030_06", 1)
        ]
    );
    assert_eq!(report["rows_left_in_default"], 1);
    let (in_may, in_default): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM audit_log_2030_05), (SELECT count(*) FROM audit_log_default)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((in_may, in_default), (2, 1));
}

#[tokio::test]
async fn dry_run_changes_nothing_and_a_held_lock_exits_4() {
    let db = TestDb::migrated("rotate_lock").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let mut conn = db.conn().await;
    let before = partitions(&mut conn, "audit_log").await;
    let report = rotate_with(&db, &config, "2031-01-01T00:00:00Z", &["--dry-run"]);
    assert!(!report["actions"].as_array().unwrap().is_empty());
    assert_eq!(partitions(&mut conn, "audit_log").await, before);

    sqlx::query("SELECT pg_advisory_lock(1380276804, 1)")
        .execute(&mut conn)
        .await
        .unwrap();
    let out = db
        .rez(&["partition-rotate", "--now", "2031-01-01T00:00:00Z"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
}

#[tokio::test]
async fn a_run_killed_between_detach_and_drop_is_finished_by_the_next() {
    let db = TestDb::migrated("rotate_crash").await;
    let dir = tempfile::tempdir().unwrap();
    let config = config(&dir);
    let mut conn = db.conn().await;
    rotate(&db, &config, "2032-01-10T00:00:00Z");
    // What a run killed right after its DETACH leaves: a detached table, no archive.
    sqlx::raw_sql("ALTER TABLE audit_log DETACH PARTITION audit_log_2032_01")
        .execute(&mut conn)
        .await
        .unwrap();
    let report = rotate(&db, &config, "2032-04-10T00:00:00Z");
    let steps: Vec<String> = actions(&report)
        .into_iter()
        .filter(|a| a.1 == "audit_log_2032_01")
        .map(|a| a.0)
        .collect();
    assert_eq!(
        steps,
        ["archive", "drop"],
        "the detached table is archived and dropped, not detached again"
    );
    let dump = archive_folder(&db, &dir.path().join("archive"))
        .await
        .join("audit_log_2032_01.dump");
    assert_eq!(sidecar_rows(&dump), 0);
}

// ---- Archives (issue 12): an archive counts only when rez-db wrote and
// verified it for this partition of this database.

/// Runs partition-rotate with `--json`; (exit code, report).
fn rotate_code(db: &TestDb, config: &Path, now: &str) -> (i32, serde_json::Value) {
    let out = db
        .rez(&[
            "--json",
            "--config",
            config.to_str().unwrap(),
            "partition-rotate",
            "--now",
            now,
        ])
        .output()
        .unwrap();
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.status.code().unwrap(), report)
}

/// A config whose orders policy is `policy`, archives under `dir/archive`.
fn orders_config(dir: &tempfile::TempDir, policy: &str) -> PathBuf {
    let path = dir.path().join("rez-db.yaml");
    let policy = policy.replace("ARCHIVE", &dir.path().join("archive").display().to_string());
    std::fs::write(&path, format!("partitions:\n  orders: {{ {policy} }}\n")).unwrap();
    path
}

/// The folder of `db`'s archives under `root`:
/// `<database>@<host>_<port>_<system identifier>` (docs/operations.md).
async fn archive_folder(db: &TestDb, root: &Path) -> PathBuf {
    let sysid: i64 = sqlx::query_scalar("SELECT system_identifier FROM pg_control_system()")
        .fetch_one(&mut db.conn().await)
        .await
        .unwrap();
    let url = url::Url::parse(&db.url).unwrap();
    root.join(format!(
        "{}@{}_{}_{}",
        db.name,
        url.host_str().unwrap(),
        url.port().unwrap_or(5432),
        sysid as u64
    ))
}

/// One customer and one merchant, and `n` orders in the month starting at `month`.
async fn orders_in(conn: &mut PgConnection, month: &str, n: i64) {
    sqlx::raw_sql(
        "INSERT INTO users (id, phone, email, full_name, status) VALUES \
           ('10000000-0000-4000-8000-000000000001', '+919800000001', 'asha@example.com', 'Asha Rao', 'active') \
           ON CONFLICT DO NOTHING; \
         INSERT INTO merchants (id, business_name, primary_contact_name, primary_contact_phone, \
           primary_contact_email, address_line1, city, state, pincode, latitude, longitude, status) VALUES \
           ('20000000-0000-4000-8000-000000000001', 'Chai Point', 'Meera', '+919811111111', \
            'meera@chaipoint.in', '1 MG Road', 'Bengaluru', 'Karnataka', '560001', 12.9716, 77.5946, 'active') \
           ON CONFLICT DO NOTHING",
    )
    .execute(&mut *conn)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO orders (order_number, user_id, merchant_id, items, subtotal, total_amount, created_at) \
         SELECT 'ORD-' || $1 || '-' || g, '10000000-0000-4000-8000-000000000001', \
                '20000000-0000-4000-8000-000000000001', '[]', 0, 0, $1::timestamptz + g * interval '1 minute' \
         FROM generate_series(1, $2) g",
    )
    .bind(month)
    .bind(n)
    .execute(conn)
    .await
    .unwrap();
}

async fn table_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("public.{name}"))
        .fetch_one(conn)
        .await
        .unwrap()
}

/// The rows an archive gives back: restored (table and data, no indexes or
/// constraints) into a database of its own with pg_restore, then counted.
async fn restored_rows(dump: &Path, table: &str) -> i64 {
    let scratch = TestDb::empty("archive_restore").await;
    let out = std::process::Command::new("pg_restore")
        .args([
            "--section=pre-data",
            "--section=data",
            "--no-owner",
            "--no-acl",
        ])
        .arg("--exit-on-error")
        .arg(format!("--dbname={}", scratch.url))
        .arg(dump)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_restore of {}: {}",
        dump.display(),
        stderr(&out)
    );
    sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
        .fetch_one(&mut scratch.conn().await)
        .await
        .unwrap()
}

/// The `rows` an archive's sidecar records.
fn sidecar_rows(dump: &Path) -> i64 {
    let text = std::fs::read_to_string(format!("{}.json", dump.display()))
        .unwrap_or_else(|e| panic!("sidecar of {}: {e}", dump.display()));
    let sidecar: serde_json::Value = serde_json::from_str(&text).unwrap();
    sidecar["rows"].as_i64().unwrap()
}

/// The actions a report lists for `partition`, in order.
fn steps(report: &serde_json::Value, partition: &str) -> Vec<String> {
    actions(report)
        .into_iter()
        .filter(|a| a.1 == partition)
        .map(|a| a.0)
        .collect()
}

/// The `path` of the report's archive action for `partition`.
fn archived_to(report: &serde_json::Value, partition: &str) -> PathBuf {
    let action = report["actions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["action"] == "archive" && a["partition"] == partition)
        .unwrap_or_else(|| panic!("no archive of {partition}: {report}"));
    PathBuf::from(action["path"].as_str().unwrap())
}

/// The repro: a partition detached but never archived (a crash between
/// detach and archive, or a manual DETACH) with garbage where the archive
/// would be, at the old name and at the new one.
#[tokio::test]
async fn a_detached_partition_is_dropped_only_after_an_archive_this_run_verified() {
    let db = TestDb::migrated("rotate_garbage").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    rotate(
        &db,
        &orders_config(&dir, "retain: 12"),
        "2026-11-10T00:00:00Z",
    );
    orders_in(&mut conn, "2026-11-01 00:00+00", 37).await;
    sqlx::raw_sql("ALTER TABLE orders DETACH PARTITION orders_2026_11")
        .execute(&mut conn)
        .await
        .unwrap();
    let root = dir.path().join("archive");
    let folder = archive_folder(&db, &root).await;
    std::fs::create_dir_all(&folder).unwrap();
    let old_name = root.join("orders_2026_11.dump");
    let new_name = folder.join("orders_2026_11.dump");
    std::fs::write(&old_name, "garbage\n").unwrap();
    std::fs::write(&new_name, "garbage\n").unwrap();

    let config = orders_config(&dir, "retain: 3, archive_dir: ARCHIVE, drop: true");
    let (code, report) = rotate_code(&db, &config, "2027-03-15T00:00:00Z");
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        steps(&report, "orders_2026_11"),
        ["archive", "drop"],
        "{report}"
    );
    let written = archived_to(&report, "orders_2026_11");
    assert_eq!(
        written,
        folder.join("orders_2026_11.2.dump"),
        "beside, not over"
    );
    assert!(
        report
            .to_string()
            .contains("orders_2026_11.dump: no sidecar"),
        "the untrusted file is named: {report}"
    );
    assert_eq!(sidecar_rows(&written), 37);
    assert_eq!(restored_rows(&written, "orders_2026_11").await, 37);
    assert!(!table_exists(&mut conn, "orders_2026_11").await);
    for garbage in [&old_name, &new_name] {
        assert_eq!(
            std::fs::read(garbage).unwrap(),
            b"garbage\n",
            "{}",
            garbage.display()
        );
    }
}

#[tokio::test]
async fn a_drop_is_refused_when_no_archive_can_be_written() {
    let db = TestDb::migrated("rotate_refused").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    rotate(
        &db,
        &orders_config(&dir, "retain: 12"),
        "2026-11-10T00:00:00Z",
    );
    orders_in(&mut conn, "2026-11-01 00:00+00", 5).await;
    // A file where the database's archive folder must go: nothing can be written.
    let root = dir.path().join("archive");
    std::fs::create_dir_all(&root).unwrap();
    let folder = archive_folder(&db, &root).await;
    std::fs::write(&folder, "not a folder\n").unwrap();

    let config = orders_config(&dir, "retain: 3, archive_dir: ARCHIVE, drop: true");
    let (code, report) = rotate_code(&db, &config, "2027-03-15T00:00:00Z");
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        steps(&report, "orders_2026_11"),
        ["detach", "refused"],
        "{report}"
    );
    assert!(table_exists(&mut conn, "orders_2026_11").await, "kept");
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM orders_2026_11")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(rows, 5);
    assert_eq!(std::fs::read(&folder).unwrap(), b"not a folder\n");
    // The other tables were still rotated: audit_log's partitions were made.
    assert!(
        table_exists(&mut conn, "audit_log_2027_06").await,
        "{report}"
    );
}

#[tokio::test]
async fn a_corrupted_archive_is_not_trusted_and_a_verified_one_is_written_beside_it() {
    let db = TestDb::migrated("rotate_corrupt").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    rotate(
        &db,
        &orders_config(&dir, "retain: 12"),
        "2026-11-10T00:00:00Z",
    );
    orders_in(&mut conn, "2026-11-01 00:00+00", 300).await;
    // An earlier run archived without dropping...
    let keep = orders_config(&dir, "retain: 3, archive_dir: ARCHIVE");
    rotate(&db, &keep, "2027-03-15T00:00:00Z");
    let folder = archive_folder(&db, &dir.path().join("archive")).await;
    let first = folder.join("orders_2026_11.dump");
    assert_eq!(sidecar_rows(&first), 300);
    // ...and the archive was damaged since: cut in half, sidecar intact.
    let bytes = std::fs::read(&first).unwrap();
    std::fs::write(&first, &bytes[..bytes.len() / 2]).unwrap();

    let config = orders_config(&dir, "retain: 3, archive_dir: ARCHIVE, drop: true");
    let (code, report) = rotate_code(&db, &config, "2027-03-15T00:00:00Z");
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        steps(&report, "orders_2026_11"),
        ["archive", "drop"],
        "{report}"
    );
    let written = archived_to(&report, "orders_2026_11");
    assert_eq!(written, folder.join("orders_2026_11.2.dump"));
    assert!(report.to_string().contains("SHA-256"), "{report}");
    assert_eq!(restored_rows(&written, "orders_2026_11").await, 300);
    assert_eq!(
        std::fs::read(&first).unwrap(),
        &bytes[..bytes.len() / 2],
        "kept as found"
    );
}

/// Issue 12, defect 2: staging and production (here two databases of one
/// server) with the same policy and archive_dir.
#[tokio::test]
async fn two_databases_with_one_archive_dir_keep_their_own_archives() {
    let dir = tempfile::tempdir().unwrap();
    let config = orders_config(&dir, "retain: 3, archive_dir: ARCHIVE, drop: true");
    let root = dir.path().join("archive");
    let mut dbs = Vec::new();
    for (label, rows) in [("rotate_two_a", 37), ("rotate_two_b", 27)] {
        let db = TestDb::migrated(label).await;
        rotate(
            &db,
            &orders_config(&dir, "retain: 12"),
            "2026-11-10T00:00:00Z",
        );
        orders_in(&mut db.conn().await, "2026-11-01 00:00+00", rows).await;
        dbs.push((db, rows));
    }
    // orders_config rewrote the file: the shared policy again.
    let config_again = orders_config(&dir, "retain: 3, archive_dir: ARCHIVE, drop: true");
    assert_eq!(config, config_again);
    for (db, _) in &dbs {
        let report = rotate(db, &config, "2027-03-15T00:00:00Z");
        assert_eq!(
            steps(&report, "orders_2026_11"),
            ["detach", "archive", "drop"],
            "{report}"
        );
    }
    for (db, rows) in &dbs {
        let dump = archive_folder(db, &root).await.join("orders_2026_11.dump");
        assert_eq!(sidecar_rows(&dump), *rows, "{}", dump.display());
        assert_eq!(restored_rows(&dump, "orders_2026_11").await, *rows);
    }
}

/// A rerun after a crash between archive and drop trusts the archive only
/// while it still matches its table: the untouched partition is dropped
/// without a new archive; one whose archive lost its dump (killed between
/// the sidecar and the dump's rename) gets it again in the same slot; one
/// written into since its archive gets a new archive beside the old.
#[tokio::test]
async fn a_rerun_trusts_only_archives_that_still_match_their_table() {
    let db = TestDb::migrated("rotate_resume").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    rotate(
        &db,
        &orders_config(&dir, "retain: 12"),
        "2026-10-10T00:00:00Z",
    );
    for month in [
        "2026-10-01 00:00+00",
        "2026-11-01 00:00+00",
        "2026-12-01 00:00+00",
    ] {
        orders_in(&mut conn, month, 20).await;
    }
    rotate(
        &db,
        &orders_config(&dir, "retain: 2, archive_dir: ARCHIVE"),
        "2027-02-15T00:00:00Z",
    );
    let folder = archive_folder(&db, &dir.path().join("archive")).await;
    for month in ["10", "11", "12"] {
        assert_eq!(
            sidecar_rows(&folder.join(format!("orders_2026_{month}.dump"))),
            20
        );
    }
    std::fs::remove_file(folder.join("orders_2026_10.dump")).unwrap();
    // Someone writes into a detached table after its archive.
    sqlx::raw_sql(
        "INSERT INTO orders_2026_12 (order_number, user_id, merchant_id, items, subtotal, total_amount, created_at) \
         VALUES ('ORD-LATE', '10000000-0000-4000-8000-000000000001', '20000000-0000-4000-8000-000000000001', \
                 '[]', 0, 0, '2026-12-20 00:00+00')",
    )
    .execute(&mut conn)
    .await
    .unwrap();

    let config = orders_config(&dir, "retain: 2, archive_dir: ARCHIVE, drop: true");
    let report = rotate(&db, &config, "2027-02-15T00:00:00Z");
    assert_eq!(
        steps(&report, "orders_2026_10"),
        ["archive", "drop"],
        "{report}"
    );
    assert_eq!(
        archived_to(&report, "orders_2026_10"),
        folder.join("orders_2026_10.dump")
    );
    assert_eq!(steps(&report, "orders_2026_11"), ["drop"], "{report}");
    assert_eq!(
        steps(&report, "orders_2026_12"),
        ["archive", "drop"],
        "{report}"
    );
    let twelve = archived_to(&report, "orders_2026_12");
    assert_eq!(twelve, folder.join("orders_2026_12.2.dump"));
    assert_eq!(restored_rows(&twelve, "orders_2026_12").await, 21);
    assert_eq!(
        sidecar_rows(&folder.join("orders_2026_12.dump")),
        20,
        "kept"
    );
    assert_eq!(
        restored_rows(&folder.join("orders_2026_10.dump"), "orders_2026_10").await,
        20
    );
    for month in ["10", "11", "12"] {
        assert!(!table_exists(&mut conn, &format!("orders_2026_{month}")).await);
    }
}

/// An action the server refuses stops the run: the actions before it are
/// reported done, the failure is named, and the run could not do its job
/// (exit 5), which is not a finding about the data (issue 13).
#[tokio::test]
async fn an_action_the_server_refuses_stops_the_run_with_exit_5() {
    let db = TestDb::migrated("rotate_stopped").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    // A partition made by hand over the range of audit_log_2031_06.
    sqlx::raw_sql(
        "CREATE TABLE audit_log_by_hand PARTITION OF audit_log \
         FOR VALUES FROM ('2031-06-01 00:00+00') TO ('2031-07-01 00:00+00')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let config = config(&dir);
    let out = db
        .rez(&[
            "--json",
            "--config",
            config.to_str().unwrap(),
            "partition-rotate",
            "--table",
            "audit_log",
            "--now",
            "2031-05-10T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failed = report["failed"].as_str().unwrap_or_default();
    assert!(
        failed.starts_with("audit_log: create audit_log_2031_06: ") && failed.contains("overlap"),
        "{report}"
    );
    assert_eq!(
        actions(&report)
            .iter()
            .map(|a| (a.0.as_str(), a.1.as_str()))
            .collect::<Vec<_>>(),
        [("create", "audit_log_2031_05")],
        "the action before the failure is done and reported"
    );
    assert!(partitions(&mut conn, "audit_log")
        .await
        .contains("audit_log_2031_05"));
}
