//! Locks between commands (README, "Locks"; src/store/pg/lock.rs): a backup
//! never runs while an import or seed sets indexes aside (the data lock,
//! shared by backups, exclusive for loads), and import-csv of a partitioned
//! table never runs while partition-rotate moves, detaches or drops
//! partitions (the partitions lock, shared by loads, exclusive for rotation).
//! Each lock is held from a test connection with the same keys, or by the
//! other command itself running at the same time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use sqlx::PgConnection;

use super::common::{repo_path, rez, stderr, stdout, TestDb};

/// "REZD": the first half of every rez-db advisory lock key.
const REZD: i32 = 1_380_276_804;
/// The second halves: the scopes of src/store/pg/lock.rs.
const DATA: i32 = 2;
const PARTITIONS: i32 = 5;

/// Takes (`shared` or exclusive) the lock `scope` on `conn`, as another
/// rez-db run would; returns the session's backend pid, which the refused
/// command must name.
async fn hold(conn: &mut PgConnection, scope: i32, shared: bool) -> i32 {
    let f = if shared {
        "pg_advisory_lock_shared"
    } else {
        "pg_advisory_lock"
    };
    sqlx::query(&format!("SELECT {f}($1, $2)"))
        .bind(REZD)
        .bind(scope)
        .execute(&mut *conn)
        .await
        .unwrap();
    sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(conn)
        .await
        .unwrap()
}

fn fixture(name: &str) -> String {
    repo_path(&format!("fixtures/csv/valid/phase3/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

/// A migrated database with the fixture's users and merchants (what orders
/// reference) and the coin rate orders are valued with.
async fn with_users_and_merchants(label: &str) -> TestDb {
    let db = TestDb::migrated(label).await;
    sqlx::query(
        "INSERT INTO app_settings (setting_key, setting_value, setting_type) \
         VALUES ('coin_to_inr_rate', '0.5', 'number')",
    )
    .execute(&mut db.conn().await)
    .await
    .unwrap();
    let rejects = tempfile::tempdir().unwrap();
    for table in ["users", "merchants"] {
        let out = db
            .rez(&[
                "import-csv",
                "--table",
                table,
                &fixture(&format!("{table}.csv")),
                "--rejects",
                rejects.path().join("r.csv").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(out.status.success(), "{table}: {}", stderr(&out));
    }
    db
}

/// Writes `rows` valid orders spread evenly over the `months` months from
/// January 2024 (one item each, no coins), for the fixture's users and
/// merchants.
fn orders_csv(dir: &Path, rows: usize, months: usize) -> PathBuf {
    use std::fmt::Write as _;
    let mut text = String::from(
        "id,order_number,user_id,merchant_id,items,subtotal,total_amount,payment_method,payment_status,status,created_at\n",
    );
    for i in 0..rows {
        let month = i % months;
        let (year, month) = (2024 + month / 12, month % 12 + 1);
        let day = i / months % 28 + 1;
        writeln!(
            text,
            "00000000-0000-4000-8000-{i:012},ORD-LOCK-{i},11111111-0000-4000-8000-00000000000{u},\
             22222222-0000-4000-8000-00000000000{u},\
             \"[{{\"\"name\"\":\"\"Tea\"\",\"\"qty\"\":1,\"\"price\"\":10.00,\"\"total\"\":10.00}}]\",\
             10.00,10.00,upi,paid,completed,{year}-{month:02}-{day:02}T10:00:00+05:30",
            u = i % 2 + 1,
        )
        .unwrap();
    }
    let path = dir.join("orders.csv");
    std::fs::write(&path, text).unwrap();
    path
}

/// `rez-db --json import-csv --table orders FILE` with `extra` flags,
/// against the database of `url`.
fn import_orders(url: &str, file: &Path, extra: &[&str]) -> std::process::Output {
    let rejects = file.with_extension("rejects.csv");
    let mut args = vec![
        "--json",
        "import-csv",
        "--table",
        "orders",
        file.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    rez(&args)
        .env("DATABASE_URL", url)
        .env("REZ_DB_STORES", "pg")
        .output()
        .unwrap()
}

async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

/// The partitions of orders (DEFAULT left out).
async fn order_partitions(conn: &mut PgConnection) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid \
         WHERE i.inhparent = 'orders'::regclass AND c.relname <> 'orders_default' ORDER BY 1",
    )
    .fetch_all(conn)
    .await
    .unwrap()
}

/// A config file with the given `orders` policy.
fn rotate_config(dir: &Path, orders: &str) -> PathBuf {
    let path = dir.join("rez-db.yaml");
    std::fs::write(
        &path,
        format!(
            "partitions:\n  orders: {{ {orders}, archive_dir: {} }}\n",
            dir.join("archive").display()
        ),
    )
    .unwrap();
    path
}

#[tokio::test]
async fn backup_exits_4_while_an_import_holds_the_data_lock_and_waits_for_it_with_lock_wait() {
    let db = TestDb::migrated("lock_backup").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut import = db.conn().await;
    let pid = hold(&mut import, DATA, false).await;

    let dir = tmp.path().join("refused");
    let out = db
        .rez(&["backup", "--to", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("data lock"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("pid {pid}")),
        "{}",
        stderr(&out)
    );
    assert!(!dir.join("manifest.json").exists());
    assert!(!dir.join("postgres").exists(), "pg_dump never started");

    // With --lock-wait the backup waits for the import to finish.
    let dir = tmp.path().join("waited");
    let backup = db.spawn(&["backup", "--to", dir.to_str().unwrap(), "--lock-wait", "60"]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!dir.join("postgres").exists(), "the backup waits");
    drop(import);
    let status = tokio::task::spawn_blocking(move || {
        let mut backup = backup;
        backup.wait().unwrap()
    })
    .await
    .unwrap();
    assert!(status.success());
    assert!(dir.join("manifest.json").exists());
}

#[tokio::test]
async fn loads_exit_4_while_backups_hold_the_data_lock_and_backups_run_together() {
    let db = with_users_and_merchants("lock_import_backup").await;
    let tmp = tempfile::tempdir().unwrap();
    // Two backups running: two shared holders.
    let (mut one, mut two) = (db.conn().await, db.conn().await);
    let pids = [
        hold(&mut one, DATA, true).await,
        hold(&mut two, DATA, true).await,
    ];
    let file = orders_csv(tmp.path(), 10, 2);
    let out = import_orders(&db.url, &file, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let err: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let message = err.to_string();
    assert!(message.contains("data lock"), "{message}");
    for pid in pids {
        assert!(message.contains(&format!("pid {pid}")), "{message}");
    }
    let mut conn = db.conn().await;
    assert_eq!(count(&mut conn, "SELECT count(*) FROM orders").await, 0);

    let out = db
        .rez(&["seed", "--synthetic", "--scale", "10", "--rng-seed", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // A third backup runs beside the two.
    let dir = tmp.path().join("backup");
    let out = db
        .rez(&["backup", "--to", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn an_import_of_orders_exits_4_while_a_rotation_holds_the_partitions_lock() {
    let db = with_users_and_merchants("lock_import_rotate").await;
    let tmp = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    let before = order_partitions(&mut conn).await;
    let mut rotation = db.conn().await;
    let pid = hold(&mut rotation, PARTITIONS, false).await;

    let file = orders_csv(tmp.path(), 10, 5);
    let out = import_orders(&db.url, &file, &[]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(stdout(&out).contains("partitions lock"), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("pid {pid}")),
        "{}",
        stdout(&out)
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM orders").await, 0);
    assert_eq!(
        order_partitions(&mut conn).await,
        before,
        "no partition made"
    );

    // A table that is not partitioned does not need it.
    let out = db
        .rez(&[
            "import-csv",
            "--table",
            "products",
            &fixture("products.csv"),
            "--rejects",
            tmp.path().join("p.csv").to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

#[tokio::test]
async fn a_rotation_exits_4_while_an_import_of_orders_holds_the_partitions_lock() {
    let db = TestDb::migrated("lock_rotate_import").await;
    let tmp = tempfile::tempdir().unwrap();
    let config = rotate_config(tmp.path(), "premake: 2");
    let mut conn = db.conn().await;
    let before = order_partitions(&mut conn).await;
    let mut import = db.conn().await;
    let pid = hold(&mut import, PARTITIONS, true).await;

    let out = db
        .rez(&[
            "--config",
            config.to_str().unwrap(),
            "partition-rotate",
            "--now",
            "2031-01-01T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("partitions lock"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("pid {pid}")),
        "{}",
        stderr(&out)
    );
    assert_eq!(order_partitions(&mut conn).await, before, "nothing rotated");
}

#[tokio::test]
async fn restore_exits_4_while_a_rotation_holds_the_partitions_lock_and_changes_nothing() {
    let source = TestDb::migrated("lock_restore_source").await;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("backup");
    let out = source
        .rez(&["backup", "--to", dir.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let target = TestDb::migrated("lock_restore_target").await;
    let mut conn = target.conn().await;
    sqlx::query("INSERT INTO app_settings (setting_key, setting_value, setting_type) VALUES ('kept', '1', 'number')")
        .execute(&mut conn)
        .await
        .unwrap();
    let mut rotation = target.conn().await;
    let pid = hold(&mut rotation, PARTITIONS, false).await;
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
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("partitions lock"), "{}", stderr(&out));
    assert!(
        stderr(&out).contains(&format!("pid {pid}")),
        "{}",
        stderr(&out)
    );
    let kept = "SELECT count(*) FROM app_settings WHERE setting_key = 'kept'";
    assert_eq!(count(&mut conn, kept).await, 1, "nothing dropped");
}

#[tokio::test]
async fn an_import_of_many_months_and_a_rotation_at_once_put_no_row_in_default() {
    let db = with_users_and_merchants("lock_pair").await;
    let tmp = tempfile::tempdir().unwrap();
    // Two years of orders; the rotation keeps the last 12 months of its
    // `--now` and drops the rest, so it detaches months the import loads.
    let rows = 12_000;
    let file = orders_csv(tmp.path(), rows, 24);
    let config = rotate_config(tmp.path(), "premake: 1, retain: 12, drop: true");
    let import = {
        let (url, file) = (db.url.clone(), file.clone());
        tokio::task::spawn_blocking(move || import_orders(&url, &file, &["--lock-wait", "120"]))
    };
    // The rotation starts once the import has made its partitions of 2024
    // (in order: December last), the moment its rows are on their way into
    // them; or, when the import waits for the rotation, at once.
    let mut conn = db.conn().await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !order_partitions(&mut conn)
        .await
        .contains(&"orders_2024_12".to_string())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let out = db
        .rez(&[
            "--json",
            "--config",
            config.to_str().unwrap(),
            "partition-rotate",
            "--now",
            "2025-12-15T00:00:00Z",
            "--lock-wait",
            "120",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let import = import.await.unwrap();
    // Rows past the rotation's retention may be refused (exit 1); none may
    // land in DEFAULT.
    assert!(
        matches!(import.status.code(), Some(0 | 1)),
        "{}",
        stderr(&import)
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM orders_default").await,
        0,
        "rows landed in DEFAULT"
    );
}
