//! MongoDB: provisioning from empty, idempotency, a refused index reported by
//! name while the others exist, drift reported and fixed only on request.

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};

use crate::support::{rows, Stores};

async fn indexes(s: &Stores, collection: &str) -> Vec<Document> {
    let db = s.mongo().await;
    let reply = db
        .run_command(doc! {"listIndexes": collection})
        .await
        .unwrap();
    reply
        .get_document("cursor")
        .unwrap()
        .get_array("firstBatch")
        .unwrap()
        .iter()
        .map(|b| b.as_document().unwrap().clone())
        .collect()
}

fn index<'a>(list: &'a [Document], name: &str) -> Option<&'a Document> {
    list.iter().find(|d| d.get_str("name") == Ok(name))
}

#[tokio::test]
async fn provisioning_from_empty_then_again_changes_nothing() {
    let s = Stores::new("mongo_fresh").await;
    let first = s.json(&["create", "--only", "mongo"], 0);
    let mongo = rows(&first, "objects", "mongodb");
    let collections: Vec<&str> = mongo
        .iter()
        .filter(|r| r.0 == "collection")
        .map(|r| r.1.as_str())
        .collect();
    assert_eq!(
        collections,
        [
            "ab_test_results",
            "fraud_detection_logs",
            "notification_logs",
            "search_queries",
            "user_activity_logs"
        ]
    );
    assert!(
        mongo
            .iter()
            .filter(|r| r.0 == "collection")
            .all(|r| r.2 == "created"),
        "{mongo:?}"
    );
    assert_eq!(
        mongo.iter().filter(|r| r.0 == "index").count(),
        15,
        "{mongo:?}"
    );

    // The text index: created by a server that has text indexes, else refused by
    // name with the server's reason; either way every other index exists.
    let text = mongo
        .iter()
        .find(|r| r.1 == "search_queries.query_text")
        .unwrap();
    match text.2.as_str() {
        "created" => {}
        "refused" => assert!(
            text.3.contains("text index") && text.3.contains("code 67"),
            "{text:?}"
        ),
        other => panic!("query_text: {other}"),
    }
    assert!(
        mongo
            .iter()
            .filter(|r| r.0 == "index" && r.1 != "search_queries.query_text")
            .all(|r| r.2 == "created"),
        "{mongo:?}"
    );
    let live = indexes(&s, "user_activity_logs").await;
    let ttl = index(&live, "timestamp_-1").expect("the TTL index exists");
    assert_eq!(
        ttl.get("expireAfterSeconds")
            .and_then(|b| b.as_i64().or(b.as_i32().map(i64::from))),
        Some(15_552_000)
    );
    let compound = index(&live, "user_id_1_timestamp_-1").unwrap();
    let keys: Vec<&String> = compound.get_document("key").unwrap().keys().collect();
    assert_eq!(keys, ["user_id", "timestamp"], "key order is kept");
    assert!(index(&indexes(&s, "search_queries").await, "timestamp_-1").is_some());

    // The validator is live: a document without the required fields is refused.
    let refused = s
        .mongo()
        .await
        .collection::<Document>("user_activity_logs")
        .insert_one(doc! {"event_type": "x"})
        .await;
    assert!(
        refused.is_err(),
        "the $jsonSchema validator refuses a document without user_id and timestamp"
    );

    // History: one entry per collection.
    let history: Vec<Document> = s
        .mongo()
        .await
        .collection::<Document>("rez_schema_history")
        .find(doc! {})
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(history.len(), 5);
    assert!(history
        .iter()
        .all(|h| h.get_str("sha256").is_ok_and(|x| x.len() == 64)));

    let second = s.json(&["create", "--only", "mongo"], 0);
    let again = rows(&second, "objects", "mongodb");
    assert!(
        again
            .iter()
            .all(|r| r.2 == "exists" || (r.1 == "search_queries.query_text" && r.2 == "refused")),
        "{again:?}"
    );
    let history = s
        .mongo()
        .await
        .collection::<Document>("rez_schema_history")
        .count_documents(doc! {})
        .await
        .unwrap();
    assert_eq!(history, 5, "an idempotent run records nothing");
    s.json(&["migrate", "--only", "mongo", "--check"], 0);
}

#[tokio::test]
async fn drift_is_reported_and_fixed_only_with_fix_drift() {
    let s = Stores::new("mongo_drift").await;
    s.json(&["create", "--only", "mongo"], 0);
    let db = s.mongo().await;
    // A TTL changed by hand, and an index rebuilt with another option.
    db.run_command(doc! {"dropIndexes": "user_activity_logs", "index": "timestamp_-1"})
        .await
        .unwrap();
    db.run_command(doc! {"createIndexes": "user_activity_logs", "indexes": [{"key": {"timestamp": -1}, "name": "timestamp_-1", "expireAfterSeconds": 60}]})
        .await
        .unwrap();
    db.run_command(doc! {"dropIndexes": "ab_test_results", "index": "user_id_1"})
        .await
        .unwrap();
    db.run_command(doc! {"createIndexes": "ab_test_results", "indexes": [{"key": {"user_id": 1}, "name": "user_id_1", "sparse": true}]})
        .await
        .unwrap();

    let check = s.json(&["migrate", "--only", "mongo", "--check"], 1);
    let drift: Vec<_> = rows(&check, "stores", "mongodb")
        .into_iter()
        .filter(|r| r.2 == "drift")
        .collect();
    assert_eq!(drift.len(), 2, "{drift:?}");
    assert!(
        drift
            .iter()
            .any(|r| r.1 == "user_activity_logs.timestamp_-1"
                && r.3
                    .contains("expireAfterSeconds 15552000s (file) vs 60s (server)")),
        "{drift:?}"
    );
    assert!(
        drift.iter().any(|r| r.1 == "ab_test_results.user_id_1"
            && r.3.contains("sparse false (file) vs true (server)")),
        "{drift:?}"
    );
    assert!(
        drift
            .iter()
            .all(|r| r.3.ends_with(" (fix with --fix-drift)")),
        "{drift:?}"
    );

    // validate sees the same drift.
    let v = s.json(&["validate", "--only", "mongo"], 1);
    let found = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "mongo.index_drift")
        .unwrap();
    assert_eq!(found["violations"], 2, "{found:#}");
    assert!(
        found["shown"]
            .as_array()
            .unwrap()
            .iter()
            .all(|v| v["actual"]
                .as_str()
                .unwrap()
                .ends_with("; fix with `rez-db migrate --fix-drift`")),
        "{found:#}"
    );

    // A plain migrate reports but does not touch it.
    s.json(&["migrate", "--only", "mongo"], 1);
    assert_eq!(
        index(&indexes(&s, "ab_test_results").await, "user_id_1")
            .unwrap()
            .get_bool("sparse"),
        Ok(true)
    );

    let fixed = s.json(&["migrate", "--only", "mongo", "--fix-drift"], 0);
    let changed: Vec<_> = rows(&fixed, "stores", "mongodb")
        .into_iter()
        .filter(|r| r.2 == "updated" || r.2 == "recreated")
        .collect();
    assert_eq!(changed.len(), 2, "{changed:?}");
    let live = indexes(&s, "ab_test_results").await;
    assert!(
        index(&live, "user_id_1")
            .unwrap()
            .get_bool("sparse")
            .is_err(),
        "recreated without sparse"
    );
    let ttl = index(&indexes(&s, "user_activity_logs").await, "timestamp_-1")
        .unwrap()
        .clone();
    assert_eq!(
        ttl.get("expireAfterSeconds")
            .and_then(|b| b.as_i64().or(b.as_i32().map(i64::from))),
        Some(15_552_000)
    );
    s.json(&["migrate", "--only", "mongo", "--check"], 0);
}

#[tokio::test]
async fn an_unreachable_store_is_exit_3_with_the_password_hidden_unless_left_out() {
    let s = Stores::new("mongo_down").await;
    let out = s
        .rez(&[
            "create",
            "--only",
            "mongo",
            "--mongodb-uri",
            "mongodb://rez:hunter2@127.0.0.1:1/x?connectTimeoutMS=500",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        crate::common::stderr(&out)
    );
    let err = crate::common::stderr(&out);
    assert!(
        err.contains("rez:***@127.0.0.1:1") && !err.contains("hunter2"),
        "{err}"
    );
    assert!(
        err.contains("scripts/stack up") && err.contains("--only"),
        "{err}"
    );
    // Left out, the same broken URI does not matter.
    let doc = s.json(
        &[
            "create",
            "--only",
            "redis",
            "--mongodb-uri",
            "mongodb://rez:hunter2@127.0.0.1:1/x",
        ],
        0,
    );
    assert!(rows(&doc, "objects", "mongodb").is_empty());
}
