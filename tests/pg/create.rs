//! `rez-db create`: creates, is idempotent, drops only when told.

use super::common::{stdout, TestDb};

#[tokio::test]
async fn create_is_idempotent_and_drop_removes_the_database() {
    let db = TestDb::unborn("create");
    let dry = db.rez(&["create", "--dry-run", "--json"]).output().unwrap();
    assert!(dry.status.success());
    let report: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    assert_eq!(report["objects"][0]["action"], "would_create");

    let first = db.rez(&["--json", "create"]).output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&first.stdout).unwrap();
    let actions: Vec<(String, String)> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (
                o["name"].as_str().unwrap().to_string(),
                o["action"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(actions[0], (db.name.clone(), "created".to_string()));
    for ext in ["postgis", "pg_trgm", "pgcrypto", "uuid-ossp"] {
        assert!(
            actions.contains(&(ext.to_string(), "created".to_string())),
            "{actions:?}"
        );
    }

    let second = db.rez(&["create"]).output().unwrap();
    assert!(second.status.success());
    let text = stdout(&second);
    assert!(text.contains("nothing to do"), "{text}");
    assert!(!text.contains("created"), "{text}");

    let encoding: String = sqlx::query_scalar(
        "SELECT pg_encoding_to_char(encoding) FROM pg_database WHERE datname = current_database()",
    )
    .fetch_one(&mut db.conn().await)
    .await
    .unwrap();
    assert_eq!(encoding, "UTF8");

    db.rez(&["create", "--drop", "--yes"]).assert().success();
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&db.name)
            .fetch_one(&mut super::common::connect(&super::common::server_url()).await)
            .await
            .unwrap();
    assert!(!exists, "create --drop --yes must drop {}", db.name);
}
