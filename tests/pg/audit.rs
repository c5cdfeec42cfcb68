//! `rez-db audit` (enable, disable, status against the policy, log) and the
//! operations log every mutating run writes.

use super::common::{stderr, TestDb};

fn json(db: &TestDb, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = db.rez(&all).output().unwrap();
    let doc =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.status.code(), doc)
}

#[tokio::test]
async fn audit_enable_log_status_and_disable() {
    let db = TestDb::clean("audit_cmd").await;
    let (code, enabled) = json(
        &db,
        &[
            "audit",
            "enable",
            "--table",
            "wallets",
            "--table",
            "merchants",
        ],
    );
    assert_eq!(code, Some(0));
    let actions: Vec<&str> = enabled["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["enabled", "unchanged"],
        "merchants is audited by the migrations already"
    );

    let mut conn = db.conn().await;
    sqlx::raw_sql(
        "BEGIN; SET LOCAL app.actor = 'ops:test'; \
         UPDATE wallets SET is_frozen = true, frozen_reason = 'kyc' WHERE id = '40000000-0000-4000-8000-000000000002'; COMMIT;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (code, log) = json(
        &db,
        &[
            "audit",
            "log",
            "--table",
            "wallets",
            "--id",
            "40000000-0000-4000-8000-000000000002",
        ],
    );
    assert_eq!(code, Some(0));
    let entries = log["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "{log:#}");
    assert_eq!(entries[0]["operation"], "UPDATE");
    assert_eq!(entries[0]["changed_by"], "ops:test");
    // Only what changed (updated_at is kept by its trigger, so it changes too).
    let changed = |side: &str| {
        let mut doc = entries[0][side].as_object().unwrap().clone();
        assert!(doc.remove("updated_at").is_some(), "{side}: {doc:?}");
        serde_json::Value::Object(doc)
    };
    assert_eq!(
        changed("new_data"),
        serde_json::json!({"is_frozen": true, "frozen_reason": "kyc"})
    );
    assert_eq!(
        changed("old_data"),
        serde_json::json!({"is_frozen": false, "frozen_reason": null})
    );
    let (_, by_other) = json(
        &db,
        &[
            "audit",
            "log",
            "--table",
            "wallets",
            "--actor",
            "someone-else",
        ],
    );
    assert!(by_other["entries"].as_array().unwrap().is_empty());

    // The policy asks for wallets and orders: orders is a gap (exit 1).
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "audit:\n  tables: [wallets, orders]\n").unwrap();
    let path = config.path().to_str().unwrap();
    let (code, status) = json(&db, &["--config", path, "audit", "status"]);
    assert_eq!(code, Some(1));
    assert_eq!(status["gaps"], serde_json::json!(["orders"]));

    let (code, _) = json(&db, &["audit", "enable", "--table", "orders"]);
    assert_eq!(code, Some(0));
    assert_eq!(json(&db, &["--config", path, "audit", "status"]).0, Some(0));
    let (_, disabled) = json(&db, &["audit", "disable", "--table", "wallets"]);
    assert_eq!(disabled["tables"][0]["action"], "disabled");
    assert_eq!(json(&db, &["--config", path, "audit", "status"]).0, Some(1));

    let out = db
        .rez(&[
            "audit",
            "enable",
            "--table",
            "no_such_table; DROP TABLE users",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn mutating_runs_are_in_the_operations_log_without_secrets() {
    let db = TestDb::migrated("oplog").await;
    let with_password = db.url.replacen("postgres@", "postgres:s3cret@", 1);
    let out = db
        .rez(&["partition-rotate", "--database-url", &with_password])
        .env("REZ_DB_ACTOR", "cron@db-1")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    db.rez(&["partition-rotate", "--dry-run"])
        .assert()
        .success();
    let rows: Vec<(String, Vec<String>, String, Option<i32>, bool)> = sqlx::query_as(
        "SELECT command, arguments, actor, exit_code, ended_at >= started_at FROM rez_meta.operations ORDER BY id",
    )
    .fetch_all(&mut db.conn().await)
    .await
    .unwrap();
    let commands: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
    assert_eq!(
        commands,
        ["create", "migrate", "partition-rotate"],
        "dry runs are not recorded"
    );
    let rotate = &rows[2];
    assert_eq!(
        (rotate.2.as_str(), rotate.3, rotate.4),
        ("cron@db-1", Some(0), true)
    );
    let args = rotate.1.join(" ");
    assert!(
        args.contains("postgres:***@") && !args.contains("s3cret"),
        "{args}"
    );
}
