//! `rez-db status`: the four stores in one report; exit 3 when one is unreachable
//! unless `--only` leaves it out.

use crate::support::Stores;

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
