//! `rez-db partition-rotate`: month-by-month time travel with retention,
//! rows rescued from DEFAULT, a second run doing nothing, the schema lock,
//! and a run interrupted between detach and drop finishing on the next run.

use std::collections::BTreeSet;

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
    let archived: BTreeSet<String> = std::fs::read_dir(dir.path().join("archive"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        archived.contains("audit_log_2027_11.dump") && archived.contains("audit_log_2027_12.dump"),
        "{archived:?}"
    );
    assert!(
        archived.iter().all(|f| f.ends_with(".dump")),
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
    assert!(dir.path().join("archive/audit_log_2032_01.dump").exists());
}
