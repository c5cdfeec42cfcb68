//! `rez-db import-csv` for the reference's Phase 3 tables beyond users
//! (merchants, products, offers, orders, wallet_transactions, reviews):
//! exact loads, rejects of bad references, duplicates and broken business
//! rules with their line, column and reason, partitions created for orders
//! instead of rows in DEFAULT, manifest mode (dependency order, one
//! transaction, bad manifests) and dry runs that load nothing.

use std::path::Path;

use sqlx::PgConnection;

use super::common::{keys_and_indexes, repo_path, stderr, stdout, TestDb};

/// The tables of fixtures/csv/valid/phase3/manifest.yaml, in dependency order.
const MANIFEST_TABLES: [&str; 7] = [
    "users",
    "merchants",
    "products",
    "offers",
    "orders",
    "payments",
    "reviews",
];

fn valid(name: &str) -> String {
    fixture(&format!("valid/phase3/{name}"))
}

fn invalid(name: &str) -> String {
    fixture(&format!("invalid/phase3/{name}"))
}

fn fixture(name: &str) -> String {
    repo_path(&format!("fixtures/csv/{name}"))
        .to_str()
        .unwrap()
        .to_string()
}

/// Runs `rez-db --json import-csv ARGS`; (exit code, the JSON document).
fn run(db: &TestDb, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["--json", "import-csv"];
    all.extend_from_slice(args);
    let out = db.rez(&all).output().unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code().unwrap(), doc)
}

/// Imports one file into `table` with its rejects in `dir/rejects.csv`.
fn import(
    db: &TestDb,
    dir: &Path,
    table: &str,
    file: &str,
    extra: &[&str],
) -> (i32, serde_json::Value) {
    let rejects = dir.join("rejects.csv");
    let mut args = vec![
        "--table",
        table,
        file,
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    run(db, &args)
}

/// The reject file as `line|column|reason code`.
fn rejects(dir: &Path) -> Vec<String> {
    let mut reader = csv::Reader::from_path(dir.join("rejects.csv")).unwrap();
    reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            let code = r[2].split(':').next().unwrap().to_string();
            format!("{}|{}|{code}", &r[0], &r[1])
        })
        .collect()
}

async fn count(conn: &mut PgConnection, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(conn).await.unwrap()
}

/// The platform setting orders need to value their coins.
async fn coin_rate(conn: &mut PgConnection) {
    sqlx::query(
        "INSERT INTO app_settings (setting_key, setting_value, setting_type) \
         VALUES ('coin_to_inr_rate', '0.5', 'number')",
    )
    .execute(conn)
    .await
    .unwrap();
}

/// A migrated database with the coin rate, and a connection to it.
async fn migrated_with_coin_rate(label: &str) -> (TestDb, PgConnection) {
    let db = TestDb::migrated(label).await;
    let mut conn = db.conn().await;
    coin_rate(&mut conn).await;
    (db, conn)
}

/// Runs the valid manifest with its reject files in a temporary directory
/// (returned, so that it lives as long as the caller looks at it).
fn run_valid_manifest(db: &TestDb, extra: &[&str]) -> (i32, serde_json::Value, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let manifest = valid("manifest.yaml");
    let mut args = vec![
        "--manifest",
        &manifest,
        "--rejects",
        out.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (code, report) = run(db, &args);
    (code, report, out)
}

/// Wallets are not a Phase 3 table: the ledger's wallets come from the database.
async fn wallets(conn: &mut PgConnection) {
    sqlx::raw_sql(
        "INSERT INTO wallets (id, user_id) VALUES \
           ('77777777-0000-4000-8000-000000000001', '11111111-0000-4000-8000-000000000001'), \
           ('77777777-0000-4000-8000-000000000002', '11111111-0000-4000-8000-000000000002')",
    )
    .execute(conn)
    .await
    .unwrap();
}

async fn partition_exists(conn: &mut PgConnection, name: &str) -> bool {
    sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(format!("public.{name}"))
        .fetch_one(conn)
        .await
        .unwrap()
}

/// Imports the invalid orders file, whose one good row is of March 2024:
/// the March partition is created, DEFAULT stays empty; returns March's rows.
async fn import_march_orders(db: &TestDb, dir: &Path, conn: &mut PgConnection) -> i64 {
    let (code, report) = import(db, dir, "orders", &invalid("orders.csv"), &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        report["partitions_created"],
        serde_json::json!(["orders_2024_03"]),
        "{report}"
    );
    assert_eq!(count(conn, "SELECT count(*) FROM orders_default").await, 0);
    count(conn, "SELECT count(*) FROM orders_2024_03").await
}

/// Loads the valid Phase 3 files one by one, in dependency order.
async fn load_valid(db: &TestDb, dir: &Path) {
    let mut conn = db.conn().await;
    coin_rate(&mut conn).await;
    for table in ["users", "merchants", "products", "offers", "orders"] {
        let (code, report) = import(db, dir, table, &valid(&format!("{table}.csv")), &[]);
        assert_eq!(
            (code, report["rejected"].as_u64()),
            (0, Some(0)),
            "{table}: {report}"
        );
    }
    wallets(&mut conn).await;
    for table in ["wallet_transactions", "reviews"] {
        let (code, report) = import(db, dir, table, &valid(&format!("{table}.csv")), &[]);
        assert_eq!(
            (code, report["rejected"].as_u64()),
            (0, Some(0)),
            "{table}: {report}"
        );
    }
}

#[tokio::test]
async fn phase3_files_load_exactly_and_orders_get_their_partitions() {
    let db = TestDb::migrated("import3_valid").await;
    let dir = tempfile::tempdir().unwrap();
    let mut conn = db.conn().await;
    assert!(!partition_exists(&mut conn, "orders_2024_01").await);
    load_valid(&db, dir.path()).await;
    for (table, rows) in [
        ("users", 2),
        ("merchants", 2),
        ("products", 3),
        ("offers", 2),
        ("orders", 3),
        ("wallet_transactions", 3),
        ("reviews", 2),
    ] {
        let n = count(&mut conn, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(n, rows, "{table}");
    }
    // Orders of January and February 2024: both months got their partition,
    // nothing went to DEFAULT; the same for the ledger's quarters.
    for p in [
        "orders_2024_01",
        "orders_2024_02",
        "wallet_transactions_2024_q1",
        "wallet_transactions_2024_q2",
    ] {
        assert!(partition_exists(&mut conn, p).await, "{p}");
    }
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM orders_default").await,
        0
    );
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM orders_2024_01").await,
        2
    );
    assert_eq!(
        count(
            &mut conn,
            "SELECT count(*) FROM wallet_transactions_default"
        )
        .await,
        0
    );
    let (total, coins_value, items): (String, String, i64) = sqlx::query_as(
        "SELECT total_amount::text, coins_value::text, jsonb_array_length(items)::bigint FROM orders \
         WHERE order_number = 'ORD-20240115-A1'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        (total.as_str(), coins_value.as_str(), items),
        ("63.85", "7.50", 2)
    );
    // A second month without a partition, and the report names what it created.
    assert_eq!(import_march_orders(&db, dir.path(), &mut conn).await, 1);
    // validate agrees that what was loaded holds together.
    let out = db
        .rez(&[
            "validate",
            "--check",
            "order.total",
            "--check",
            "ref.reviews_order",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[tokio::test]
async fn bad_references_duplicates_and_broken_rules_are_rejected_by_line_and_column() {
    let db = TestDb::migrated("import3_rejects").await;
    let dir = tempfile::tempdir().unwrap();
    load_valid(&db, dir.path()).await;
    let mut conn = db.conn().await;
    // In the reject file, the rows refused on their own come first, then the
    // rows their batch's checks refuse (references, duplicates), in line order.
    let cases: [(&str, &[&str]); 6] = [
        (
            "merchants",
            &[
                "3|latitude|out_of_range",
                "4|id|duplicate_in_file",
                "5|verified_by|foreign_key",
                "6|id|duplicate_in_table",
            ],
        ),
        (
            "products",
            &[
                "5|price|out_of_range",
                "3|merchant_id|foreign_key",
                "4|merchant_id, slug|duplicate_in_file",
                "6|merchant_id, slug|duplicate_in_table",
            ],
        ),
        (
            "offers",
            &[
                "3|discount_value|bad_terms",
                "4|valid_until|bad_window",
                "6|available_days|bad_window",
                "5|merchant_id|foreign_key",
            ],
        ),
        (
            "orders",
            &[
                "3|total_amount|order_total",
                "7|items|order_item_total",
                "4|user_id|foreign_key",
                "5|order_number|duplicate_in_file",
                "6|order_number|duplicate_in_table",
            ],
        ),
        (
            "wallet_transactions",
            &[
                "3|amount|wrong_sign",
                "6|merchant_id|wrong_owner",
                "4|wallet_id|foreign_key",
                "5|id|duplicate_in_file",
            ],
        ),
        (
            "reviews",
            &[
                "3|rating|bad_rating",
                "4|order_id|foreign_key",
                "5|user_id, order_id|duplicate_in_file",
                "6|user_id, order_id|duplicate_in_table",
            ],
        ),
    ];
    for (table, expected) in cases {
        let before = count(&mut conn, &format!("SELECT count(*) FROM {table}")).await;
        let (code, report) = import(
            &db,
            dir.path(),
            table,
            &invalid(&format!("{table}.csv")),
            &[],
        );
        assert_eq!(code, 1, "{table}: {report}");
        assert_eq!(report["loaded"], 1, "{table}: {report}");
        assert_eq!(
            report["rejected"].as_u64(),
            Some(expected.len() as u64),
            "{table}: {report}"
        );
        assert_eq!(rejects(dir.path()), expected, "{table}");
        let after = count(&mut conn, &format!("SELECT count(*) FROM {table}")).await;
        assert_eq!(after, before + 1, "{table}");
    }
    // The reason names the column's value and what it should point at.
    let (_, _) = import(
        &db,
        dir.path(),
        "reviews",
        &invalid("reviews.csv"),
        &["--dry-run"],
    );
    let text = std::fs::read_to_string(dir.path().join("rejects.csv")).unwrap();
    assert!(
        text.contains("foreign_key: `55555555-0000-4000-8000-000000000099` is not a `orders.id`"),
        "{text}"
    );
}

#[tokio::test]
async fn every_check_constraint_of_the_phase3_tables_is_checked_before_copy() {
    let db = TestDb::migrated("import3_checks").await;
    let mut conn = db.conn().await;
    for rules in rez_db::import::tables::TABLES {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT conname::text FROM pg_constraint WHERE contype = 'c' AND conrelid = $1::regclass ORDER BY 1",
        )
        .bind(rules.name)
        .fetch_all(&mut conn)
        .await
        .unwrap();
        for name in names {
            let covered = rules.bounds.iter().any(|b| b.constraint == name)
                || rules.checked_by_rules.contains(&name.as_str());
            assert!(
                covered,
                "{}: CHECK {name} has no check in src/import/tables.rs",
                rules.name
            );
        }
    }
}

#[tokio::test]
async fn a_manifest_imports_in_dependency_order_in_one_transaction() {
    let (db, mut conn) = migrated_with_coin_rate("import3_manifest").await;
    let before = keys_and_indexes(&mut conn).await;
    let (code, report, _rejects) = run_valid_manifest(&db, &[]);
    assert_eq!(code, 0, "{report}");
    let order: Vec<&str> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["table"].as_str().unwrap())
        .collect();
    assert_eq!(order, MANIFEST_TABLES);
    assert_eq!(report["order"], serde_json::json!(MANIFEST_TABLES));
    // Validated before the commit: the payments pay the paid orders, the
    // merchants' counters are their reviews'.
    assert_eq!(report["validation"]["errors"], 0, "{report}");
    let loaded: Vec<u64> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["loaded"].as_u64().unwrap())
        .collect();
    assert_eq!(loaded, [2, 2, 3, 2, 3, 2, 2]);
    // Orders and reviews referenced users, merchants and orders of earlier
    // files of the same, uncommitted transaction.
    assert_eq!(count(&mut conn, "SELECT count(*) FROM reviews").await, 2);
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM orders_default").await,
        0
    );
    // Every table was empty: each file set its indexes aside and built them
    // again (the keys other tables reference stay, in a manifest); all back.
    for f in report["files"].as_array().unwrap() {
        let rebuilt = f["indexes_rebuilt"].as_array();
        assert!(rebuilt.is_some_and(|r| !r.is_empty()), "{f}");
    }
    assert_eq!(keys_and_indexes(&mut conn).await, before);

    // All or nothing: a manifest whose last file exceeds --max-errors loads
    // no file (its merchants count reviews it lacks: not validated).
    let (db, mut conn) = migrated_with_coin_rate("import3_manifest_abort").await;
    let dir = tempfile::tempdir().unwrap();
    for name in ["users.csv", "merchants.csv", "products.csv"] {
        std::fs::copy(valid(name), dir.path().join(name)).unwrap();
    }
    std::fs::copy(invalid("offers.csv"), dir.path().join("offers.csv")).unwrap();
    let manifest = dir.path().join("m.yaml");
    std::fs::write(
        &manifest,
        "files:\n  - {table: offers, path: offers.csv}\n  - {table: products, path: products.csv}\n  - {table: merchants, path: merchants.csv}\n  - {table: users, path: users.csv}\n",
    )
    .unwrap();
    let (code, report) = run(
        &db,
        &[
            "--manifest",
            manifest.to_str().unwrap(),
            "--max-errors",
            "1",
            "--no-validate",
        ],
    );
    assert_eq!(code, 1, "{report}");
    assert!(report["files"][3]["aborted"].is_string(), "{report}");
    for table in ["users", "merchants", "products", "offers"] {
        assert_eq!(
            count(&mut conn, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    // Without the maximum the good rows of every file load, the bad ones are
    // rejected into each file's own reject file.
    let (code, report) = run(
        &db,
        &["--manifest", manifest.to_str().unwrap(), "--no-validate"],
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["files"][3]["loaded"], 1, "{report}");
    assert!(dir.path().join("offers.csv.rejects.csv").exists());
    assert_eq!(count(&mut conn, "SELECT count(*) FROM offers").await, 1);
}

#[tokio::test]
async fn a_bad_manifest_exits_2_naming_manifest_line_and_key() {
    let db = TestDb::migrated("import3_bad_manifest").await;
    for (name, message) in [
        ("manifest_unknown_key.yaml", "manifest_unknown_key.yaml:4"),
        (
            "manifest_unknown_table.yaml",
            "manifest_unknown_table.yaml:4: table: import-csv cannot load `colleges`",
        ),
        (
            "manifest_missing_file.yaml",
            "manifest_missing_file.yaml:3: path:",
        ),
    ] {
        let (code, report) = run(&db, &["--manifest", &invalid(name)]);
        assert_eq!(code, 2, "{name}: {report}");
        let text = report["error"]["message"].as_str().unwrap();
        assert!(text.contains(message), "{name}: {text}");
    }
    let (code, report) = run(&db, &["--manifest", &invalid("manifest_unknown_key.yaml")]);
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .contains("tabel"),
        "{code} {report}"
    );
    let mut conn = db.conn().await;
    assert_eq!(count(&mut conn, "SELECT count(*) FROM users").await, 0);
}

#[tokio::test]
async fn a_dry_run_checks_everything_and_loads_nothing() {
    let (db, mut conn) = migrated_with_coin_rate("import3_dry").await;
    let (code, report, rejects_dir) = run_valid_manifest(&db, &["--dry-run"]);
    // One (empty) reject file per file, named after its place in the run.
    assert!(rejects_dir.path().join("5-orders.csv.rejects.csv").exists());
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["dry_run"], true);
    assert_eq!(report["files"][4]["loaded"], 3, "{report}");
    assert_eq!(
        report["files"][4]["partitions_created"],
        serde_json::json!(["orders_2024_01", "orders_2024_02"])
    );
    for table in MANIFEST_TABLES {
        assert_eq!(
            count(&mut conn, &format!("SELECT count(*) FROM {table}")).await,
            0,
            "{table}"
        );
    }
    // No partition was created, and the run is no operation in the log.
    assert!(!partition_exists(&mut conn, "orders_2024_01").await);
    let logged = "SELECT count(*) FROM rez_meta.operations WHERE command = 'import-csv'";
    assert_eq!(count(&mut conn, logged).await, 0);

    // A dry run with rejects: the reject file, exit 1, still nothing loaded.
    let dir = tempfile::tempdir().unwrap();
    let (code, report) = import(&db, dir.path(), "users", &valid("users.csv"), &[]);
    assert_eq!(code, 0, "{report}");
    let (code, report) = import(
        &db,
        dir.path(),
        "merchants",
        &invalid("merchants.csv"),
        &["--dry-run"],
    );
    assert_eq!(code, 1, "{report}");
    // Nothing in the table to collide with, so line 6 loads here.
    assert_eq!(report["loaded"], 2);
    assert_eq!(
        rejects(dir.path()),
        [
            "3|latitude|out_of_range",
            "4|id|duplicate_in_file",
            "5|verified_by|foreign_key"
        ]
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM merchants").await, 0);
    // Only the real run (users) is in the operations log.
    assert_eq!(count(&mut conn, logged).await, 1);
}

/// Upserts `file` into orders; [inserted, updated, unchanged] (the exit code
/// is 1 exactly when rows were rejected).
fn upsert_orders(db: &TestDb, dir: &Path, file: &str) -> [u64; 3] {
    let (code, report) = import(db, dir, "orders", file, &["--mode", "upsert"]);
    let rejected = report["rejected"].as_u64().unwrap();
    assert_eq!(code, i32::from(rejected > 0), "{report}");
    ["inserted", "updated", "unchanged"].map(|k| report[k].as_u64().unwrap())
}

#[tokio::test]
async fn orders_upsert_by_id_and_instant_and_default_rows_move_to_their_new_partition() {
    let db = TestDb::migrated("import3_upsert").await;
    let dir = tempfile::tempdir().unwrap();
    load_valid(&db, dir.path()).await;
    let mut conn = db.conn().await;
    // A rerun changes nothing, whatever the offset the instants are written in.
    assert_eq!(
        upsert_orders(&db, dir.path(), &valid("orders.csv")),
        [0, 0, 3]
    );
    let text = std::fs::read_to_string(valid("orders.csv")).unwrap();
    let changed = text
        .replace("2024-02-03T08:15:00+05:30", "2024-02-03T02:45:00Z")
        .replace("cod,pending,pending", "cod,paid,completed");
    let file = dir.path().join("orders_changed.csv");
    std::fs::write(&file, changed).unwrap();
    assert_eq!(
        upsert_orders(&db, dir.path(), file.to_str().unwrap()),
        [0, 1, 2]
    );
    let status: String =
        sqlx::query_scalar("SELECT status FROM orders WHERE order_number = 'ORD-20240203-C3'")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert_eq!(status, "completed");
    // The same id at another instant is another row of the partitioned table:
    // refused, never a second copy of the order.
    let moved = text.replace("2024-02-03T08:15:00+05:30", "2024-02-04T08:15:00+05:30");
    std::fs::write(&file, moved).unwrap();
    assert_eq!(
        upsert_orders(&db, dir.path(), file.to_str().unwrap()),
        [0, 0, 2]
    );
    assert_eq!(
        rejects(dir.path()),
        [
            "4|id|duplicate_in_table",
            "4|order_number|duplicate_in_table"
        ]
    );
    assert_eq!(count(&mut conn, "SELECT count(*) FROM orders").await, 3);

    // Rows of a month already sitting in DEFAULT move into the partition the
    // import creates for that month (partition-rotate's move), none stay behind.
    sqlx::query(
        "INSERT INTO orders (order_number, user_id, merchant_id, items, subtotal, total_amount, created_at) \
         VALUES ('OLD-1', '11111111-0000-4000-8000-000000000001', '22222222-0000-4000-8000-000000000001', \
                 '[]', 0, 0, '2024-03-02T00:00:00Z')",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM orders_default").await,
        1
    );
    assert_eq!(import_march_orders(&db, dir.path(), &mut conn).await, 2);
}

/// Issue 12, defect 8: an order older than `partitions.orders.retain` is a
/// row partition-rotate would detach at its next run (and may have archived
/// and dropped already): it is rejected, and no partition is made for it,
/// unless --allow-past-retention.
#[tokio::test]
async fn orders_older_than_retention_are_rejected_unless_allowed() {
    let (db, mut conn) = migrated_with_coin_rate("import3_retention").await;
    let dir = tempfile::tempdir().unwrap();
    for table in ["users", "merchants"] {
        let (code, report) = import(&db, dir.path(), table, &valid(&format!("{table}.csv")), &[]);
        assert_eq!(code, 0, "{report}");
    }
    let config = dir.path().join("rez-db.yaml");
    std::fs::write(&config, "partitions:\n  orders: { retain: 3 }\n").unwrap();
    let config = config.to_str().unwrap();
    // The fixture's orders are of January and February 2024; one more of today.
    let file = dir.path().join("orders.csv");
    let mut text = std::fs::read_to_string(valid("orders.csv")).unwrap();
    text.push_str(&format!(
        "55555555-0000-4000-8000-000000000004,ORD-TODAY-D4,11111111-0000-4000-8000-000000000002,\
         22222222-0000-4000-8000-000000000001,\"[{{\"\"name\"\":\"\"Masala Chai\"\",\"\"qty\"\":1,\"\"price\"\":4.50,\"\"total\"\":4.50}}]\",\
         4.50,0,0,0,0,0,4.50,cod,pending,pending,{}\n",
        chrono::Utc::now().to_rfc3339()
    ));
    std::fs::write(&file, text).unwrap();

    let (code, report) = import(
        &db,
        dir.path(),
        "orders",
        file.to_str().unwrap(),
        &["--config", config],
    );
    assert_eq!(code, 1, "{report}");
    assert_eq!(
        (report["loaded"].as_u64(), report["rejected"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(
        report["reasons"],
        serde_json::json!({"past_retention": 3}),
        "{report}"
    );
    assert_eq!(
        rejects(dir.path()),
        [
            "2|created_at|past_retention",
            "3|created_at|past_retention",
            "4|created_at|past_retention"
        ]
    );
    for month in ["2024_01", "2024_02"] {
        assert!(
            !partition_exists(&mut conn, &format!("orders_{month}")).await,
            "{report}"
        );
    }
    assert_eq!(
        count(&mut conn, "SELECT count(*) FROM orders_default").await,
        0
    );

    let (code, report) = import(
        &db,
        dir.path(),
        "orders",
        &valid("orders.csv"),
        &["--config", config, "--allow-past-retention"],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["loaded"], 3, "{report}");
    assert_eq!(
        report["partitions_created"],
        serde_json::json!(["orders_2024_01", "orders_2024_02"])
    );
}
