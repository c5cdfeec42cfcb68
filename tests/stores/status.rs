//! `rez-db status`: the four stores in one report; exit 3 when one is unreachable
//! unless `--only` leaves it out.

use crate::support::{rows, Stores};

#[tokio::test]
async fn status_shows_every_store_and_exit_3_only_for_a_selected_unreachable_one() {
    let s = Stores::with_clean_pg("status").await;
    s.json(&["create", "--only", "mongo,redis,es"], 0);
    let doc = s.json(&["status"], 0);
    let stores = doc["stores"].as_array().unwrap();
    let names: Vec<&str> = stores
        .iter()
        .map(|x| x["store"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["postgres", "mongodb", "redis", "elasticsearch"]);
    assert!(stores.iter().all(|x| x["reachable"] == true), "{doc:#}");
    assert!(
        stores[0]["state"].as_str().unwrap().contains("0 pending"),
        "{doc:#}"
    );
    assert!(
        stores[1]["state"]
            .as_str()
            .unwrap()
            .contains("5/5 collections current"),
        "{doc:#}"
    );
    assert!(
        stores[2]["state"]
            .as_str()
            .unwrap()
            .contains("layout v2 (current)"),
        "{doc:#}"
    );
    assert!(
        stores[3]["state"]
            .as_str()
            .unwrap()
            .contains("3/3 aliases live"),
        "{doc:#}"
    );
    assert!(
        stores
            .iter()
            .all(|x| !x["version"].as_str().unwrap_or_default().is_empty()),
        "{doc:#}"
    );

    let down = s.json(
        &[
            "status",
            "--elasticsearch-url",
            "http://elastic:hunter2@127.0.0.1:1",
        ],
        3,
    );
    let es = &down["stores"][3];
    assert_eq!(es["reachable"], false);
    assert!(
        es["url"]
            .as_str()
            .unwrap()
            .contains("elastic:***@127.0.0.1:1"),
        "{down:#}"
    );
    assert!(!down.to_string().contains("hunter2"));
    s.json(
        &[
            "status",
            "--only",
            "pg,mongo,redis",
            "--elasticsearch-url",
            "http://127.0.0.1:1",
        ],
        0,
    );
}

#[tokio::test]
async fn migrate_status_takes_the_store_flags_and_reports_what_migrate_would_do() {
    // No PostgreSQL here: `--only mongo` leaves it (and Redis, Elasticsearch) out.
    let s = Stores::new("migrate_status").await;
    let before = s.json(&["migrate", "status", "--only", "mongo"], 0);
    assert_eq!(before["database"], "", "{before:#}");
    let mongo = rows(&before, "stores", "mongodb");
    let collections: Vec<&str> = mongo
        .iter()
        .filter(|r| r.0 == "collection")
        .map(|r| r.2.as_str())
        .collect();
    assert_eq!(collections, ["would_create"; 5], "{before:#}");
    assert!(rows(&before, "stores", "redis").is_empty(), "{before:#}");
    // Nothing was created by looking.
    assert!(s
        .mongo()
        .await
        .list_collection_names()
        .await
        .unwrap()
        .is_empty());
    s.json(&["create", "--only", "mongo"], 0);
    let after = s.json(&["migrate", "status", "--only", "mongo"], 0);
    let mongo = rows(&after, "stores", "mongodb");
    assert!(
        mongo
            .iter()
            .filter(|r| r.0 == "collection")
            .all(|r| r.2 == "exists"),
        "{after:#}"
    );
}
