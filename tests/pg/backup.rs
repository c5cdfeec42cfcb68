//! `rez-db backup` / `restore` of PostgreSQL: a seeded database survives a
//! round trip byte for byte (per table: row count and an md5 of its rows);
//! a corrupted, an interrupted (kill -9) and a non-empty-target restore are
//! refused and change nothing.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use sqlx::PgConnection;

use super::common::{age_key, stderr, stdout, TestDb};

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

/// Flips one bit in the middle of the largest file of `dir/postgres` (certainly
/// table rows, not metadata); returns its file name.
fn flip_a_byte_of_the_largest_data_file(dir: &Path) -> String {
    let victim = std::fs::read_dir(dir.join("postgres"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.ends_with("toc.dat"))
        .max_by_key(|p| std::fs::metadata(p).unwrap().len())
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&victim, bytes).unwrap();
    victim.file_name().unwrap().to_str().unwrap().to_string()
}

async fn database_exists(name: &str) -> bool {
    let mut admin = super::common::connect(&super::common::server_url()).await;
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(&mut admin)
        .await
        .unwrap()
}

/// Starts `backup --to dir` in the background while a transaction holds a
/// lock pg_dump needs, and waits until pg_dump waits for it: the dump is
/// certainly in progress (its folder made, no manifest yet) and cannot
/// finish. Returns the blocking connection (ROLLBACK releases it) and the child.
async fn start_a_blocked_backup(
    db: &TestDb,
    dir: &Path,
    admin: &mut PgConnection,
) -> (PgConnection, std::process::Child) {
    let mut blocker = db.conn().await;
    sqlx::raw_sql("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
        .execute(&mut blocker)
        .await
        .unwrap();
    let child = db.spawn(&["backup", "--to", dir.to_str().unwrap()]);
    wait_for_a_blocked_pg_dump(admin).await;
    (blocker, child)
}

/// Waits (up to 30 s) until a pg_dump session of `admin`'s database waits
/// for a lock: the dump has certainly started and cannot finish.
async fn wait_for_a_blocked_pg_dump(admin: &mut PgConnection) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let waiting: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
             AND application_name = 'pg_dump' AND wait_event_type = 'Lock')",
        )
        .fetch_one(&mut *admin)
        .await
        .unwrap();
        if waiting {
            return;
        }
        assert!(Instant::now() < deadline, "pg_dump never started");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `restore --force --yes` of `from` into `target`, which then equals `source`.
async fn force_restore_gives_a_copy(target: &TestDb, source: &TestDb, from: &str) {
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
    // The report times each phase, validate's apart from the restore's, and
    // the phases add up: the restore proper ends before the run does, and
    // validate runs after PostgreSQL's restore (it is the only store here).
    let t = |key: &str| {
        report["timings"][key]
            .as_u64()
            .unwrap_or_else(|| panic!("{key}: {report}"))
    };
    let postgres_ms = report["stores"][0]["restore_ms"].as_u64().unwrap();
    assert!(
        t("verify_ms") + t("prepare_ms") + postgres_ms <= t("restore_ms"),
        "{report}"
    );
    assert!(
        t("restore_ms") + t("validate_ms") <= t("total_ms"),
        "{report}"
    );
    assert!(
        !report["validation"]["checks"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{report}"
    );

    assert_eq!(fingerprint(&mut db.conn().await).await, before);
    db.rez(&["validate"]).assert().success();
}

#[tokio::test]
async fn a_flipped_byte_is_refused_naming_the_file_and_nothing_changes() {
    let db = seeded("backup_flipped").await;
    let (_tmp, dir) = backup_dir();
    backup(&db, &dir);
    let name = flip_a_byte_of_the_largest_data_file(&dir);

    // Into a fresh, missing database, so only verification can stop it.
    let target = TestDb::unborn("backup_flipped_target");
    let out = target
        .rez(&["restore", "--from", dir.to_str().unwrap(), "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(&name), "{}", stderr(&out));
    assert!(stderr(&out).contains("SHA-256"), "{}", stderr(&out));
    assert!(
        !database_exists(&target.name).await,
        "a refused restore creates nothing"
    );
}

#[tokio::test]
async fn a_backup_killed_midway_stops_pg_dump_and_is_refused_by_restore() {
    let db = seeded("backup_killed").await;
    let (_tmp, dir) = backup_dir();
    let mut admin = db.conn().await;
    let (mut blocker, mut child) = start_a_blocked_backup(&db, &dir, &mut admin).await;
    assert!(dir.join("postgres").exists());
    child.kill().unwrap(); // SIGKILL: rez-db can do nothing more itself
    child.wait().unwrap();
    // pg_dump, which would wait for its lock for ever, dies with rez-db: its
    // processes and sessions are gone while the lock is still held.
    wait_until_no_client_is_left("pg_dump", &db.name, &mut admin).await;
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

/// A source database with a backup of it, and an occupied target (the
/// hand-checked dataset) with its fingerprint: a restore that is refused
/// must leave the target exactly so.
async fn a_backup_and_an_occupied_target(
    label: &str,
) -> (
    TestDb,
    tempfile::TempDir,
    PathBuf,
    TestDb,
    Vec<(String, i64, String)>,
) {
    let source = TestDb::migrated(&format!("{label}_source")).await;
    let (tmp, dir) = backup_dir();
    backup(&source, &dir);
    let target = TestDb::clean(&format!("{label}_target")).await;
    let before = fingerprint(&mut target.conn().await).await;
    (source, tmp, dir, target, before)
}

/// `restore --force --yes` of `dir` into `target`: refused with exit 1 and a
/// message naming `file`; the target keeps every row.
async fn refused_and_untouched(
    target: &TestDb,
    dir: &Path,
    file: &str,
    before: &[(String, i64, String)],
) -> String {
    let out = target
        .rez(&[
            "restore",
            "--from",
            dir.to_str().unwrap(),
            "--force",
            "--yes",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains(file), "{}", stderr(&out));
    assert_eq!(
        fingerprint(&mut target.conn().await).await,
        before,
        "the target is untouched"
    );
    stderr(&out)
}

#[cfg(unix)]
#[tokio::test]
async fn a_file_replaced_by_a_symlink_to_an_identical_copy_is_refused_before_the_drop() {
    let (_source, _tmp, dir, target, before) =
        a_backup_and_an_occupied_target("restore_link").await;
    // The copy has the same bytes, so its size and SHA-256 (read through
    // the link) match the manifest; pg_restore would refuse it after the drop.
    let toc = dir.join("postgres/toc.dat");
    let outside = tempfile::tempdir().unwrap();
    let copy = outside.path().join("toc.dat");
    std::fs::rename(&toc, &copy).unwrap();
    std::os::unix::fs::symlink(&copy, &toc).unwrap();
    let err = refused_and_untouched(&target, &dir, "postgres/toc.dat", &before).await;
    assert!(err.contains("symbolic link"), "{err}");
}

#[tokio::test]
async fn a_garbage_toc_with_a_matching_manifest_fails_pg_restore_list_before_the_drop() {
    let (_source, _tmp, dir, target, before) = a_backup_and_an_occupied_target("restore_toc").await;
    // Garbage of the right size, and a manifest that agrees with it: only
    // pg_restore can tell that the archive is unreadable.
    let toc = dir.join("postgres/toc.dat");
    let size = std::fs::metadata(&toc).unwrap().len() as usize;
    let garbage: Vec<u8> = (0..size).map(|i| (i * 7 + 3) as u8).collect();
    std::fs::write(&toc, &garbage).unwrap();
    let path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    use sha2::{Digest, Sha256};
    for file in manifest["stores"][0]["files"].as_array_mut().unwrap() {
        if file["path"] == "postgres/toc.dat" {
            file["sha256"] = format!("{:x}", Sha256::digest(&garbage)).into();
        }
    }
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let err = refused_and_untouched(&target, &dir, "postgres/toc.dat", &before).await;
    assert!(err.contains("pg_restore"), "{err}");
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
    force_restore_gives_a_copy(&target, &source, from).await;
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

/// The data files of a backup's `postgres/` folder (not `toc.dat`).
fn data_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir.join("postgres"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "toc.dat")
        .collect();
    names.sort();
    names
}

#[tokio::test]
async fn a_compressed_backup_round_trips_and_a_flipped_byte_in_it_is_refused() {
    let db = seeded("backup_gzip").await;
    let before = fingerprint(&mut db.conn().await).await;
    let (_tmp, plain) = backup_dir();
    backup(&db, &plain);
    let (_tmp2, dir) = backup_dir();
    let out = db
        .rez(&["backup", "--compress", "--to", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));

    // The manifest says how each backup is stored (a compressed one is format
    // 2, which an older rez-db refuses); pg_dump wrote gzip or plain data.
    let manifest = |dir: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
    };
    assert_eq!(manifest(&dir)["stores"][0]["compression"], "gzip");
    assert_eq!(manifest(&dir)["format"], 2);
    assert_eq!(manifest(&plain)["stores"][0]["compression"], "none");
    assert_eq!(manifest(&plain)["format"], 1);
    assert!(data_files(&dir).iter().all(|n| n.ends_with(".dat.gz")));
    assert!(data_files(&plain).iter().all(|n| n.ends_with(".dat")));
    let size = |dir: &Path| -> u64 {
        std::fs::read_dir(dir.join("postgres"))
            .unwrap()
            .map(|e| e.unwrap().metadata().unwrap().len())
            .sum()
    };
    assert!(size(&dir) < size(&plain), "gzip makes the dump smaller");

    let target = TestDb::unborn("backup_gzip_target");
    let out = target
        .rez(&["restore", "--from", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fingerprint(&mut target.conn().await).await, before);

    // A flipped byte inside a compressed file: refused by its checksum.
    let name = flip_a_byte_of_the_largest_data_file(&dir);
    let fresh = TestDb::unborn("backup_gzip_flipped");
    let out = fresh
        .rez(&["restore", "--from", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(name.ends_with(".dat.gz"), "{name}");
    assert!(stderr(&out).contains(&name), "{}", stderr(&out));
    assert!(stderr(&out).contains("SHA-256"), "{}", stderr(&out));
}

/// pg_dump processes still running against database `name` (their command
/// line names it), from /proc.
fn pg_dump_processes(name: &str) -> Vec<String> {
    client_processes("pg_dump", name)
}

/// Processes of `tool` (pg_dump, pg_restore: leader and parallel workers)
/// still running against database `name` (their command line names it),
/// from /proc. A zombie has no command line: only live processes count.
fn client_processes(tool: &str, name: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(tool) && cmdline.contains(&format!("/{name} ")) {
            found.push(format!(
                "{}: {cmdline}",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    found
}

/// The server sessions of `tool` (its application_name) in database `name`.
async fn client_sessions(admin: &mut PgConnection, tool: &str, name: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
    )
    .bind(name)
    .bind(tool)
    .fetch_one(admin)
    .await
    .unwrap()
}

/// Waits (up to 10 s) until no process and no session of `tool` is left
/// for database `name`; fails naming what is left.
async fn wait_until_no_client_is_left(tool: &str, name: &str, admin: &mut PgConnection) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let processes = client_processes(tool, name);
        let sessions = client_sessions(admin, tool, name).await;
        if processes.is_empty() && sessions == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "10 s after rez-db died: {sessions} {tool} session(s), processes {processes:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A migrated database with a table `big` of a million rows and three indexes.
async fn with_a_big_table(label: &str) -> TestDb {
    let db = TestDb::migrated(label).await;
    sqlx::raw_sql(
        "CREATE TABLE big AS SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b \
           FROM generate_series(1, 1000000) g; \
         CREATE INDEX big_a ON big (a); CREATE INDEX big_b ON big (b); \
         CREATE INDEX big_ab ON big (a, b);",
    )
    .execute(&mut db.conn().await)
    .await
    .unwrap();
    db
}

/// [`with_a_big_table`] and a backup of it: pg_restore loads it and builds the indexes with its
/// two workers for a few seconds, long enough to be caught at it.
async fn a_slow_backup(label: &str) -> (TestDb, tempfile::TempDir, PathBuf) {
    let db = with_a_big_table(label).await;
    let (tmp, dir) = backup_dir();
    backup(&db, &dir);
    (db, tmp, dir)
}

/// Starts `restore --from dir` into `target` in the background and returns
/// once pg_restore's workers build the indexes of `big`: pg_restore is
/// certainly running, in its parallel phase, with work left.
async fn start_a_restore_building_indexes(
    target: &TestDb,
    dir: &Path,
    admin: &mut PgConnection,
) -> std::process::Child {
    let child = target.spawn(&["restore", "--from", dir.to_str().unwrap()]);
    wait_until_pg_restore_builds_indexes(target, admin).await;
    child
}

/// Waits (up to 60 s) until pg_restore's workers build the indexes of `big`
/// in the database of `target`.
async fn wait_until_pg_restore_builds_indexes(target: &TestDb, admin: &mut PgConnection) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let building: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = $1 \
             AND application_name = 'pg_restore' AND query ILIKE 'CREATE INDEX big%')",
        )
        .bind(&target.name)
        .fetch_one(&mut *admin)
        .await
        .unwrap();
        if building {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        Instant::now() < deadline,
        "pg_restore never built big's indexes"
    );
}

/// Objects (pg_class rows) in the database of `db`.
async fn objects(db: &TestDb) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_class")
        .fetch_one(&mut db.conn().await)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_killed_restore_leaves_no_pg_restore_running() {
    let (source, _tmp, dir) = a_slow_backup("restore_kill9").await;
    let target = TestDb::unborn("restore_kill9_target");
    let mut admin = super::common::connect(&super::common::server_url()).await;
    let mut child = start_a_restore_building_indexes(&target, &dir, &mut admin).await;
    assert!(!client_processes("pg_restore", &target.name).is_empty());
    child.kill().unwrap(); // SIGKILL: no handler of rez-db's runs
    child.wait().unwrap();
    wait_until_no_client_is_left("pg_restore", &target.name, &mut admin).await;
    // Stopped, not finished: big's indexes were still being built.
    let stopped = objects(&target).await;
    assert!(
        stopped < objects(&source).await,
        "pg_restore ran to completion"
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        objects(&target).await,
        stopped,
        "objects created after the kill"
    );
}

#[tokio::test]
async fn a_terminated_restore_exits_143_only_after_pg_restore_has_exited() {
    let (source, _tmp, dir) = a_slow_backup("restore_term").await;
    let target = TestDb::unborn("restore_term_target");
    let mut admin = super::common::connect(&super::common::server_url()).await;
    let mut child = start_a_restore_building_indexes(&target, &dir, &mut admin).await;
    let sent = std::process::Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = child.wait().unwrap();
    // Looked at the moment rez-db's exit is seen: nothing of pg_restore left.
    let left = client_processes("pg_restore", &target.name);
    let at_exit = objects(&target).await;
    assert_eq!(status.code(), Some(143));
    assert!(left.is_empty(), "pg_restore outlived rez-db: {left:?}");
    // Their server sessions, cancelled, end a moment later (the server's
    // side); nothing more is created in the database afterwards.
    wait_until_no_client_is_left("pg_restore", &target.name, &mut admin).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        objects(&target).await,
        at_exit,
        "objects created after the exit"
    );
    assert!(
        at_exit < objects(&source).await,
        "the restore was interrupted, not finished"
    );
}

#[tokio::test]
async fn an_interrupted_backup_leaves_no_pg_dump_running() {
    let db = TestDb::migrated("backup_interrupted").await;
    let mut admin = db.conn().await;
    for (signal, code) in [("INT", 130), ("TERM", 143)] {
        let (_tmp, dir) = backup_dir();
        // pg_dump is certainly running when the signal lands, and would wait
        // for ever for its lock if nothing stopped it.
        let (mut blocker, mut child) = start_a_blocked_backup(&db, &dir, &mut admin).await;
        assert!(!pg_dump_processes(&db.name).is_empty());
        let sent = std::process::Command::new("kill")
            .args(["-s", signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        assert_eq!(child.wait().unwrap().code(), Some(code), "SIG{signal}");
        // rez-db waited for its child: no pg_dump process at its exit.
        let left = pg_dump_processes(&db.name);
        assert!(
            left.is_empty(),
            "after SIG{signal}, pg_dump outlived rez-db: {left:?}"
        );

        // pg_dump ends its workers and their sessions on the way out; give it
        // a moment, while the blocking lock is still held.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let sessions: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                 AND application_name = 'pg_dump'",
            )
            .fetch_one(&mut admin)
            .await
            .unwrap();
            let processes = pg_dump_processes(&db.name);
            if sessions == 0 && processes.is_empty() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "after SIG{signal}: {sessions} pg_dump session(s), processes {processes:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!dir.join("manifest.json").exists());
        sqlx::raw_sql("ROLLBACK")
            .execute(&mut blocker)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn restore_exits_4_while_a_seed_holds_the_data_lock_and_changes_nothing() {
    let source = TestDb::migrated("restore_lock_source").await;
    let (_tmp, dir) = backup_dir();
    backup(&source, &dir);
    let target = TestDb::clean("restore_lock_target").await;
    let before = fingerprint(&mut target.conn().await).await;

    // What `seed` and `import-csv` hold while they load: ("REZD", data).
    let mut seed = target.conn().await;
    sqlx::query("SELECT pg_advisory_lock(1380276804, 2)")
        .execute(&mut seed)
        .await
        .unwrap();
    let from = dir.to_str().unwrap();
    let out = target
        .rez(&["restore", "--from", from, "--force", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("data lock"), "{}", stderr(&out));
    assert_eq!(fingerprint(&mut target.conn().await).await, before);

    // Released: the restore goes through, and holds the lock itself meanwhile.
    sqlx::query("SELECT pg_advisory_unlock(1380276804, 2)")
        .execute(&mut seed)
        .await
        .unwrap();
    drop(seed);
    force_restore_gives_a_copy(&target, &source, from).await;
}

#[tokio::test]
async fn a_second_restore_of_the_same_database_exits_4_before_creating_it() {
    let source = TestDb::migrated("restore_twice_source").await;
    let (_tmp, dir) = backup_dir();
    backup(&source, &dir);
    let target = TestDb::unborn("restore_twice_target");

    // Another restore of this database holds the lock on its name in the
    // maintenance database: ("REZN", first 4 bytes of SHA-256 of the name).
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(target.name.as_bytes());
    let key = i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut other = super::common::connect(&super::common::server_url()).await;
    sqlx::query("SELECT pg_advisory_lock(1380276814, $1)")
        .bind(key)
        .execute(&mut other)
        .await
        .unwrap();
    let out = target
        .rez(&[
            "restore",
            "--from",
            dir.to_str().unwrap(),
            "--lock-wait",
            "1",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("restore lock"), "{}", stderr(&out));
    assert!(stderr(&out).contains(&target.name), "{}", stderr(&out));
    assert!(
        !database_exists(&target.name).await,
        "a restore that waits for the lock creates nothing"
    );
}

/// Rewrites the manifest's PostgreSQL `versions` with `edit` (the manifest
/// holds no checksum of itself: it is what the checksums are read from).
fn edit_pg_versions(dir: &Path, edit: impl Fn(&mut serde_json::Value)) {
    let path = dir.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    edit(&mut manifest["stores"][0]["versions"]);
    std::fs::write(&path, serde_json::to_vec_pretty(&manifest).unwrap()).unwrap();
}

#[tokio::test]
async fn the_manifest_records_versions_and_an_older_target_is_refused_unless_allowed() {
    let (source, _tmp, dir, target, before) =
        a_backup_and_an_occupied_target("restore_versions").await;
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    let recorded = &manifest["stores"][0]["versions"];
    let (server,): (String,) = sqlx::query_as("SELECT current_setting('server_version')")
        .fetch_one(&mut source.conn().await)
        .await
        .unwrap();
    let server = server.split_whitespace().next().unwrap().to_string();
    assert_eq!(recorded["product"], "postgresql");
    assert_eq!(recorded["server"], server.as_str());
    assert!(
        recorded["client"]
            .as_str()
            .unwrap()
            .starts_with(&server[..2]),
        "{recorded}"
    );
    assert!(
        recorded["archive_format"]
            .as_str()
            .unwrap()
            .starts_with("1."),
        "{recorded}"
    );

    let restore = |extra: &[&str]| {
        let mut args = vec![
            "restore",
            "--from",
            dir.to_str().unwrap(),
            "--force",
            "--yes",
        ];
        args.extend(extra);
        target.rez(&args).output().unwrap()
    };
    // A newer source server than the target.
    edit_pg_versions(&dir, |v| v["server"] = "99.1".into());
    let out = restore(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "the target runs postgresql {server}, older than the postgresql 99.1"
        )),
        "{err}"
    );
    assert!(err.contains("--allow-version-change"), "{err}");
    assert_eq!(
        fingerprint(&mut target.conn().await).await,
        before,
        "untouched"
    );
    // An archive written by a newer pg_dump than this pg_restore.
    edit_pg_versions(&dir, |v| {
        v["server"] = server.as_str().into();
        v["client"] = "99.2".into();
    });
    let out = restore(&["--dry-run"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("is older than the pg_dump 99.2 that wrote the archive"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        fingerprint(&mut target.conn().await).await,
        before,
        "untouched"
    );
    // Allowed: the restore goes through.
    let out = restore(&["--allow-version-change"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        fingerprint(&mut target.conn().await).await,
        fingerprint(&mut source.conn().await).await
    );
}

/// `backup --compress --encrypt-to` each of `recipients` into `dir`.
fn encrypted_backup(db: &TestDb, dir: &Path, recipients: &[&str]) {
    let mut args = vec!["backup", "--compress", "--to", dir.to_str().unwrap()];
    for r in recipients {
        args.extend(["--encrypt-to", r]);
    }
    let out = db.rez(&args).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

/// `restore --from dir` into `target` with `extra` flags, $TMPDIR set to
/// `tmpdir` (where the decrypted archive goes), expecting exit `code`;
/// returns stderr.
fn restore_encrypted(
    target: &TestDb,
    dir: &Path,
    tmpdir: &Path,
    extra: &[&str],
    code: i32,
) -> String {
    let mut args = vec!["restore", "--from", dir.to_str().unwrap(), "--yes"];
    args.extend_from_slice(extra);
    let out = target.rez(&args).env("TMPDIR", tmpdir).output().unwrap();
    assert_eq!(out.status.code(), Some(code), "{}", stderr(&out));
    stderr(&out)
}

fn read_manifest(dir: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

#[tokio::test]
async fn an_encrypted_backup_restores_with_either_recipients_key_and_its_manifest_needs_none() {
    let db = seeded("backup_age").await;
    let before = fingerprint(&mut db.conn().await).await;
    let keys = tempfile::tempdir().unwrap();
    let (key_a, a) = age_key(keys.path(), "a.txt");
    let (key_b, b) = age_key(keys.path(), "b.txt");
    let (_tmp, dir) = backup_dir();
    encrypted_backup(&db, &dir, &[&a, &b]);

    // The manifest is plain JSON, read here without any key: the
    // recipients, and per file the ciphertext's and the plaintext's checksum.
    let manifest = read_manifest(&dir);
    assert_eq!(manifest["format"], 3, "an older rez-db refuses it");
    let pg = &manifest["stores"][0];
    assert_eq!(pg["encryption"]["scheme"], "age-x25519");
    assert_eq!(pg["encryption"]["recipients"], serde_json::json!([a, b]));
    assert!(pg["schema_version"].as_i64().unwrap() > 0);
    for file in pg["files"].as_array().unwrap() {
        let path = file["path"].as_str().unwrap();
        assert!(path.ends_with(".age"), "{path}");
        assert_eq!(file["plaintext"]["sha256"].as_str().unwrap().len(), 64);
        assert_ne!(file["plaintext"]["sha256"], file["sha256"]);
        let bytes = std::fs::read(dir.join(path)).unwrap();
        assert!(bytes.starts_with(b"age-encryption.org/v1\n"), "{path}");
    }
    assert!(data_files(&dir)
        .iter()
        .all(|n| n == "toc.dat.age" || n.ends_with(".dat.gz.age")));
    assert!(
        !dir.join("postgres/toc.dat").exists(),
        "no plaintext is left"
    );
    let text = manifest.to_string();
    assert!(!text.contains("AGE-SECRET-KEY") && !text.contains("postgres://"));
    // `backup prune` reads it without a key: a complete backup.
    let root = dir.parent().unwrap().to_str().unwrap();
    let out = db
        .rez(&[
            "--json",
            "backup",
            "prune",
            "--root",
            root,
            "--keep-last",
            "1",
            "--dry-run",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let pruned: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(pruned["backups"][0]["complete"], true, "{pruned}");
    assert_eq!(pruned["kept"], 1, "{pruned}");

    // Without --identity: refused before anything, naming the flag.
    let scratch = tempfile::tempdir().unwrap();
    let target = TestDb::unborn("backup_age_none");
    let err = restore_encrypted(&target, &dir, scratch.path(), &[], 2);
    assert!(err.contains("--identity"), "{err}");
    assert!(!database_exists(&target.name).await);

    // Each recipient's key alone restores the same data; the decrypted copy
    // of the archive is gone afterwards.
    for (label, key) in [("backup_age_a", &key_a), ("backup_age_b", &key_b)] {
        let target = TestDb::unborn(label);
        let tmpdir = tempfile::tempdir().unwrap();
        restore_encrypted(
            &target,
            &dir,
            tmpdir.path(),
            &["--identity", key.to_str().unwrap()],
            0,
        );
        assert_eq!(fingerprint(&mut target.conn().await).await, before);
        assert_eq!(
            std::fs::read_dir(tmpdir.path()).unwrap().count(),
            0,
            "the decrypted archive is removed"
        );
    }
}

#[tokio::test]
async fn a_wrong_key_an_open_key_file_or_a_tampered_ciphertext_is_refused_before_the_target_is_touched(
) {
    let db = seeded("backup_age_refused").await;
    let keys = tempfile::tempdir().unwrap();
    let (key_a, a) = age_key(keys.path(), "a.txt");
    let (stranger, _) = age_key(keys.path(), "stranger.txt");
    let (_tmp, dir) = backup_dir();
    encrypted_backup(&db, &dir, &[&a]);
    let target = TestDb::unborn("backup_age_refused_target");
    let tmpdir = tempfile::tempdir().unwrap();

    // A key that is not a recipient: exit 2 naming whom the backup is for,
    // the target never created, nothing decrypted.
    let err = restore_encrypted(
        &target,
        &dir,
        tmpdir.path(),
        &["--identity", stranger.to_str().unwrap()],
        2,
    );
    assert!(err.contains(&a), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");
    assert!(!database_exists(&target.name).await);
    assert_eq!(std::fs::read_dir(tmpdir.path()).unwrap().count(), 0);

    // A key file others can read: refused, never echoed.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&stranger, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = restore_encrypted(
        &target,
        &dir,
        tmpdir.path(),
        &["--identity", stranger.to_str().unwrap()],
        2,
    );
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("AGE-SECRET-KEY"), "{err}");

    // A flipped byte in a ciphertext: its SHA-256 refuses it (exit 1).
    let name = flip_a_byte_of_the_largest_data_file(&dir);
    assert!(name.ends_with(".age"), "{name}");
    let err = restore_encrypted(
        &target,
        &dir,
        tmpdir.path(),
        &["--identity", key_a.to_str().unwrap()],
        1,
    );
    assert!(err.contains(&name) && err.contains("SHA-256"), "{err}");
    assert!(!database_exists(&target.name).await);

    // A recipient that is not one: exit 2, naming it.
    let (_tmp2, other) = backup_dir();
    let out = db
        .rez(&[
            "backup",
            "--to",
            other.to_str().unwrap(),
            "--encrypt-to",
            "age1notakey",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("age1notakey"), "{}", stderr(&out));
    assert!(!other.exists(), "nothing written");
}

/// The folders and files under `dir`, recursively, as paths relative to it.
fn everything_under(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&folder) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            found.push(path.strip_prefix(dir).unwrap().display().to_string());
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                pending.push(path);
            }
        }
    }
    found
}

/// Waits (up to 60 s) until `restore` has made its private folder for the
/// decrypted archive under `tmpdir` and written a file into it; fails if
/// the child exits first.
fn wait_for_the_decrypted_copy(tmpdir: &Path, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let found = everything_under(tmpdir);
        if found
            .iter()
            .any(|p| p.starts_with("rez-db-restore-") && p.contains('/'))
        {
            return;
        }
        if let Some(status) = child.try_wait().unwrap() {
            panic!("restore exited ({status}) before its decrypted copy was seen");
        }
        assert!(
            Instant::now() < deadline,
            "no decrypted copy under {tmpdir:?}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// SIGTERM to `child`; its exit status, once it has exited.
fn terminate(child: &mut std::process::Child) -> std::process::ExitStatus {
    let sent = std::process::Command::new("kill")
        .args(["-s", "TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    child.wait().unwrap()
}

#[tokio::test]
async fn a_terminated_encrypted_restore_removes_its_decrypted_copy() {
    // Big enough to be caught mid-way.
    let db = with_a_big_table("backup_age_term").await;
    let keys = tempfile::tempdir().unwrap();
    let (key, recipient) = age_key(keys.path(), "key.txt");
    let (_tmp, dir) = backup_dir();
    encrypted_backup(&db, &dir, &[&recipient]);
    let mut admin = super::common::connect(&super::common::server_url()).await;

    // Two moments: as soon as the first decrypted file is written (the
    // archive is being decrypted), and while pg_restore reads the
    // decrypted copy (building big's indexes).
    for moment in ["decrypting", "pg_restore"] {
        let target = TestDb::unborn("backup_age_term_target");
        let tmpdir = tempfile::tempdir().unwrap();
        let args = [
            "restore",
            "--from",
            dir.to_str().unwrap(),
            "--identity",
            key.to_str().unwrap(),
        ];
        let mut child = target
            .command(&args)
            .env("TMPDIR", tmpdir.path())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        wait_for_the_decrypted_copy(tmpdir.path(), &mut child);
        if moment == "pg_restore" {
            wait_until_pg_restore_builds_indexes(&target, &mut admin).await;
            let copy = everything_under(tmpdir.path());
            assert!(
                copy.iter().any(|p| p.ends_with(".dat.gz")),
                "the decrypted copy is there while pg_restore reads it: {copy:?}"
            );
        }
        let status = terminate(&mut child);
        assert_eq!(status.code(), Some(143), "{moment}: stopped by SIGTERM");
        // Looked at the moment rez-db's exit is seen: no folder, no file.
        let left = everything_under(tmpdir.path());
        assert!(
            left.is_empty(),
            "{moment}: the decrypted copy outlived rez-db: {left:?}"
        );
        wait_until_no_client_is_left("pg_restore", &target.name, &mut admin).await;
    }
    // Nor was any plaintext ever written beside the backup.
    let plain: Vec<String> = everything_under(&dir)
        .into_iter()
        .filter(|p| p.contains('.') && !p.ends_with(".age") && p != "manifest.json")
        .collect();
    assert!(plain.is_empty(), "plaintext in the backup: {plain:?}");
}
