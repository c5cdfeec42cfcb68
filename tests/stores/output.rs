//! What users see of the four stores: snapshots of `rez-db status`, human
//! and `--json`, on this test's own MongoDB database, Redis key prefix and
//! Elasticsearch index prefix after `create`. What varies from run to run is
//! replaced by a placeholder (`common::pinned`): the servers' URLs and the
//! test's names, each server's product and version (the stores are
//! compatible servers, whose product names differ), the key count of the
//! shared Redis database and the times collections were provisioned.

use rez_db::secret::RedactedUrl;

use crate::common::pinned::pinned;
use crate::common::{self, TestDb};
use crate::support::{es_url, redis_url, Stores};

fn shown(url: &str) -> String {
    RedactedUrl::parse(url).unwrap().to_string()
}

#[tokio::test]
async fn status_of_every_store_after_create() {
    let mut s = Stores::new("out_status").await;
    s.db = Some(TestDb::migrated("out_status").await);
    s.json(&["create", "--only", "mongo,redis,es"], 0);
    let db = s.db.as_ref().unwrap();
    // URLs first: they hold the names.
    let owned = [
        (shown(&db.url), "postgres://[server]/[database]"),
        (shown(&s.mongo_uri), "mongodb://[server]/[database]"),
        (shown(&redis_url()), "redis://[server]"),
        (shown(&es_url()), "http://[server]/"),
        (db.name.clone(), "[database]"),
        (s.mongo_db.clone(), "[database]"),
        (s.es_prefix.clone(), "[prefix]"),
    ]
    .map(|(text, with)| (regex::escape(&text), with));
    let mut filters: Vec<(&str, &str)> = owned.iter().map(|(a, b)| (a.as_str(), *b)).collect();
    filters.extend([
        (r#""server": "[^"]*""#, r#""server": "[server]""#),
        (r#""version": "[^"]*""#, r#""version": "[version]""#),
        (r"\d+ key\(s\)", "[n] key(s)"),
        (r"applied \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "applied [at]"),
    ]);
    let columns = [("server", "[server] [version]")];

    let out = s.rez(&["status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    assert_eq!(common::stderr(&out), "");
    insta::assert_snapshot!("status", pinned(&common::stdout(&out), &filters, &columns));
    let out = s.rez(&["--json", "status"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    insta::assert_snapshot!(
        "status_json",
        pinned(&common::stdout(&out), &filters, &columns)
    );
}
