//! `seed --synthetic` fills MongoDB's five collections from the rows it
//! committed: documents that pass the collections' validators, the same for
//! the same (`--rng-seed`, `--now`), consistent with PostgreSQL, which
//! `validate` checks (and finds broken when a row they name goes away).

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

use crate::common::TestDb;
use crate::support::Stores;

const COLLECTIONS: [&str; 5] = [
    "user_activity_logs",
    "search_queries",
    "notification_logs",
    "ab_test_results",
    "fraud_detection_logs",
];

const SEED: [&str; 8] = [
    "seed",
    "--synthetic",
    "--scale",
    "120",
    "--rng-seed",
    "5",
    "--now",
    "2026-11-30T12:00:00Z",
];

async fn seeded(label: &str) -> (Stores, serde_json::Value) {
    let mut s = Stores::new(label).await;
    s.db = Some(TestDb::migrated(label).await);
    // The collections with their validators: every document must pass them.
    s.json(&["create", "--only", "mongo"], 0);
    let report = s.json(&SEED, 0);
    (s, report)
}

async fn all(s: &Stores, collection: &str) -> Vec<Document> {
    s.mongo()
        .await
        .collection::<Document>(collection)
        .find(doc! {})
        .sort(doc! {"_id": 1})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap()
}

#[tokio::test]
async fn synthetic_seed_fills_mongodb_consistently_and_deterministically() {
    let (s, report) = seeded("seed_mongo").await;
    let filled = report["mongodb"].as_array().expect("seed reports MongoDB");
    assert_eq!(filled.len(), 5, "{report:#}");
    let mut pg = s.db.as_ref().unwrap().conn().await;
    let db = s.mongo().await;
    for f in filled {
        let c = f["collection"].as_str().unwrap();
        let n = db
            .collection::<Document>(c)
            .count_documents(doc! {})
            .await
            .unwrap();
        assert_eq!(f["documents"], n, "{c}");
        assert!(n > 0, "{c} is empty");
    }
    // The validators are in force: what seed wrote passed them.
    let refused = db
        .collection::<Document>("notification_logs")
        .insert_one(doc! {"notification_id": "x", "user_id": "y", "channel": "pigeon", "status": "sent", "sent_at": mongodb::bson::DateTime::now()})
        .await;
    assert!(refused.is_err(), "the validator refuses an unknown channel");
    let pending = report["synthetic"]["other_stores"].as_array().unwrap();
    assert!(
        pending.iter().all(|p| p["store"] != "mongodb"),
        "{report:#}"
    );

    // One order_placed per order, at the order's time; one log per notification.
    let orders: Vec<(String, chrono::DateTime<chrono::Utc>)> =
        sqlx::query_as("SELECT id::text, created_at FROM orders ORDER BY 1")
            .fetch_all(&mut pg)
            .await
            .unwrap();
    let placed = all(&s, "user_activity_logs").await;
    let mut placed: Vec<(String, i64)> = placed
        .iter()
        .filter(|d| d.get_str("event_name").unwrap() == "order_placed")
        .map(|d| {
            (
                d.get_document("properties")
                    .unwrap()
                    .get_str("order_id")
                    .unwrap()
                    .to_string(),
                d.get_datetime("timestamp").unwrap().timestamp_millis(),
            )
        })
        .collect();
    placed.sort();
    let want: Vec<(String, i64)> = orders
        .iter()
        .map(|(id, at)| (id.clone(), at.timestamp_millis()))
        .collect();
    assert_eq!(placed, want);
    let notifications: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(
        db.collection::<Document>("notification_logs")
            .count_documents(doc! {})
            .await
            .unwrap(),
        notifications as u64
    );

    let checks = [
        "validate",
        "--only",
        "mongo,pg",
        "--check",
        "mongo.notification_logs",
        "--check",
        "mongo.references",
    ];
    let v = s.json(&checks, 0);
    assert_eq!(v["warnings"], 0, "{v:#}");

    // The same seed and clock: the same documents, _id included.
    let (again, _) = seeded("seed_mongo_again").await;
    for c in COLLECTIONS {
        assert_eq!(all(&s, c).await, all(&again, c).await, "{c}");
    }

    // A row the documents name goes away: both checks see it.
    sqlx::raw_sql(
        "DELETE FROM notifications WHERE id = (SELECT id FROM notifications ORDER BY id LIMIT 1)",
    )
    .execute(&mut pg)
    .await
    .unwrap();
    // Warnings: exit 0.
    let v = s.json(&checks, 0);
    assert_eq!(v["warnings"], 2, "{v:#}");
    let found = |id: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()["violations"]
            .clone()
    };
    assert_eq!(found("mongo.notification_logs"), 1, "{v:#}");
    assert_eq!(found("mongo.references"), 1, "{v:#}");
}

#[tokio::test]
async fn a_synthetic_seed_refuses_collections_that_hold_documents() {
    let (mut s, _) = seeded("seed_mongo_full").await;
    // A fresh PostgreSQL database, the same MongoDB database.
    s.db = Some(TestDb::migrated("seed_mongo_full_2").await);
    let out = s.rez(&SEED).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user_activity_logs") && err.contains("already holds"),
        "{err}"
    );
    let mut pg = s.db.as_ref().unwrap().conn().await;
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut pg)
        .await
        .unwrap();
    assert_eq!(users, 0, "nothing was loaded");
}
