//! `rez-db backup` / `restore` of PostgreSQL: a seeded database survives a
//! round trip byte for byte (per table: row count and an md5 of its rows);
//! a corrupted, an interrupted (kill -9) and a non-empty-target restore are
//! refused and change nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::PgConnection;

use super::common::{stderr, stdout, TestDb};

/// A migrated database holding the synthetic dataset.
async fn seeded(label: &str) -> TestDb {
    let db = TestDb::migrated(label).await;
    db.rez(&["seed", "--synthetic", "--scale", "200", "--rng-seed", "1"])
        .assert()
        .success();
    db
}

/// Every table of `public` and `rez_meta.schema_history` (partitions on their
/// own, so a row restored into the wrong partition shows): its row count and
/// the md5 of its rows in a canonical order.
async fn fingerprint(conn: &mut PgConnection) -> Vec<(String, i64, String)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE ((n.nspname = 'public' AND c.relkind = 'r' \
                 AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e')) \
             OR (n.nspname = 'rez_meta' AND c.relname = 'schema_history')) \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    let mut out = Vec::new();
    for table in tables {
        let (count, md5): (i64, String) = sqlx::query_as(&format!(
            "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '') FROM {table} t"
        ))
        .fetch_one(&mut *conn)
        .await
        .unwrap();
        out.push((table, count, md5));
    }
    out
}

fn backup_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backup");
    (tmp, dir)
}

fn backup(db: &TestDb, dir: &Path) {
    let out = db
        .rez(&["backup", "--to", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn a_seeded_database_survives_backup_drop_and_restore() {
    let db = seeded("backup_roundtrip").await;
    let before = fingerprint(&mut db.conn().await).await;
    assert!(before
        .iter()
        .any(|(t, n, _)| t == "public.users" && *n == 200));
    assert!(
        before
            .iter()
            .any(|(t, _, _)| t.starts_with("public.orders_")),
        "the partitions are part of the fingerprint"
    );
    let (_tmp, dir) = backup_dir();
    backup(&db, &dir);

    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let pg = &manifest["stores"][0];
    assert_eq!(pg["store"], "postgres");
    assert_eq!(pg["source"], db.name.as_str());
    assert!(pg["schema_version"].as_i64().unwrap() > 0);
    assert!(pg["files"].as_array().unwrap().len() > 2);
    assert!(
        !manifest.to_string().contains("postgres://"),
        "the manifest holds no URL"
    );

    db.rez(&["create", "--drop", "--yes"]).assert().success();
    let out = db
        .rez(&["--json", "restore", "--from", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["validation"]["errors"], 0, "{}", stdout(&out));

    assert_eq!(fingerprint(&mut db.conn().await).await, before);
    db.rez(&["validate"]).assert().success();
}

#[tokio::test]
async fn a_flipped_byte_is_refused_naming_the_file_and_nothing_changes() {
    let db = seeded("backup_flipped").await;
    let (_tmp, dir) = backup_dir();
    backup(&db, &dir);
    // The largest data file: certainly table rows, not metadata.
    let victim = std::fs::read_dir(dir.join("postgres"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();

    // Into a fresh, missing database, so only verification can stop it.
    let target = TestDb::unborn("backup_flipped_target");
    let out = target
        .rez(&["restore", "--from", dir.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(stderr(&out).contains(name), "{}", stderr(&out));
    assert!(stderr(&out).contains("SHA-256"), "{}", stderr(&out));
    let mut admin = super::common::connect(&super::common::server_url()).await;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&target.name)
            .fetch_one(&mut admin)
            .await
            .unwrap();
    assert!(!exists, "a refused restore creates nothing");
}

#[tokio::test]
async fn a_backup_killed_midway_is_refused_by_restore() {
    let db = seeded("backup_killed").await;
    let (_tmp, dir) = backup_dir();
    // Hold a lock pg_dump needs, so the dump is certainly in progress (its
    // folder made, no manifest yet) when the kill lands.
    let mut blocker = db.conn().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let mut child = db.spawn(&["backup", "--to", dir.to_str().unwrap()]);
    let mut admin = db.conn().await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'pg_dump' AND wait_event_type = 'Lock')",
        )
        .fetch_one(&mut admin)
        .await
        .unwrap();
        if waiting && dir.join("postgres").exists() {
            break;
        }
        assert!(Instant::now() < deadline, "pg_dump never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // The orphaned pg_dump is ended too, as a crashed host would.
    sqlx::query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND application_name = 'pg_dump'",
    )
    .execute(&mut admin)
    .await
    .unwrap();
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut blocker)
        .await
        .unwrap();
    assert!(!dir.join("manifest.json").exists());

    let target = TestDb::unborn("backup_killed_target");
    let out = target
        .rez(&["restore", "--from", dir.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("manifest.json is missing"),
        "{}",
        stderr(&out)
    );
}

#[tokio::test]
async fn restore_into_a_non_empty_database_needs_force_and_changes_nothing() {
    let source = seeded("backup_source").await;
    let (_tmp, dir) = backup_dir();
    backup(&source, &dir);

    let target = TestDb::clean("backup_occupied").await;
    let before = fingerprint(&mut target.conn().await).await;
    let from = dir.to_str().unwrap();

    let out = target.rez(&["restore", "--from", from]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    assert!(stderr(&out).contains("--force"), "{}", stderr(&out));

    // --force without a terminal and without --yes cannot ask: refused.
    let out = target
        .rez(&["restore", "--from", from, "--force"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // --dry-run prints the plan and changes nothing either.
    let out = target
        .rez(&["restore", "--from", from, "--force", "--dry-run"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("would REPLACE"), "{}", stdout(&out));

    assert_eq!(fingerprint(&mut target.conn().await).await, before);

    // With --force --yes it is replaced by the backup.
    target
        .rez(&["restore", "--from", from, "--force", "--yes"])
        .assert()
        .success();
    assert_eq!(
        fingerprint(&mut target.conn().await).await,
        fingerprint(&mut source.conn().await).await
    );
}

#[tokio::test]
async fn backup_refuses_a_non_empty_directory_without_force() {
    let db = TestDb::migrated("backup_dir").await;
    let (_tmp, dir) = backup_dir();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("notes.txt"), "mine").unwrap();
    let to = dir.to_str().unwrap();
    let out = db.rez(&["backup", "--to", to]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("not empty"), "{}", stderr(&out));
    db.rez(&["backup", "--to", to, "--force"])
        .assert()
        .success();
    assert!(dir.join("manifest.json").exists());
    assert!(dir.join("notes.txt").exists());
}
