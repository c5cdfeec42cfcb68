//! The run lock of MongoDB, Redis and Elasticsearch (a lease in the store
//! itself, `src/store/lease`): a `restore` or `reindex-es` exits 4 naming the
//! holder while another run holds it, whatever PostgreSQL database either
//! uses; a lease left by a killed run is taken over once expired; a run
//! releases its lease at the end, also when it is refused. The other run is
//! played by the test, writing the lease as rez-db does.

use std::time::Duration;

use ::redis::AsyncCommands;
use elasticsearch::http::Method;
use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use serde_json::json;

use crate::common::stderr;
use crate::support::Stores;

const STORES: [&str; 3] = ["mongo", "redis", "es"];

/// Some data in `store` under the test's names.
async fn fill(s: &Stores, store: &str) {
    match store {
        "redis" => {
            let mut r = s.redis().await;
            let _: () = r.set(format!("{}a", s.redis_prefix), "1").await.unwrap();
            let _: () = r
                .zadd(format!("{}z", s.redis_prefix), "u1", 7)
                .await
                .unwrap();
        }
        "mongo" => {
            let things = s.mongo().await.collection::<Document>("things");
            things
                .insert_many([doc! {"_id": 1, "n": "one"}, doc! {"_id": 2, "n": "two"}])
                .await
                .unwrap();
        }
        _ => {
            // The aliases of es-mappings/, so the restore's validate is clean.
            s.json(&["create", "--only", "es"], 0);
            let es = s.es().await;
            let index = es.name("scratch_v1");
            es.create_index(&index, &json!({"settings": {"number_of_shards": 1}}))
                .await
                .unwrap();
            for id in ["d1", "d2"] {
                es.call(
                    Method::Put,
                    &format!("/{index}/_doc/{id}"),
                    Some(&json!({"title": id})),
                )
                .await
                .unwrap();
            }
            es.refresh(&index).await.unwrap();
        }
    }
}

/// How much of `fill`'s data `store` holds.
async fn data(s: &Stores, store: &str) -> u64 {
    match store {
        "redis" => {
            let mut r = s.redis().await;
            let a: bool = r.exists(format!("{}a", s.redis_prefix)).await.unwrap();
            let z: bool = r.exists(format!("{}z", s.redis_prefix)).await.unwrap();
            u64::from(a) + u64::from(z)
        }
        "mongo" => s
            .mongo()
            .await
            .collection::<Document>("things")
            .count_documents(doc! {})
            .await
            .unwrap(),
        _ => {
            let es = s.es().await;
            let index = es.name("scratch_v1");
            match es.index_exists(&index).await.unwrap() {
                true => es.count(&index).await.unwrap(),
                false => 0,
            }
        }
    }
}

/// Removes `fill`'s data, so a restore that acts shows.
async fn empty(s: &Stores, store: &str) {
    match store {
        "redis" => {
            let mut r = s.redis().await;
            let _: () = r
                .del(&[
                    format!("{}a", s.redis_prefix),
                    format!("{}z", s.redis_prefix),
                ])
                .await
                .unwrap();
        }
        "mongo" => s
            .mongo()
            .await
            .collection::<Document>("things")
            .drop()
            .await
            .unwrap(),
        _ => {
            let es = s.es().await;
            es.delete_index(&es.name("scratch_v1")).await.unwrap();
        }
    }
}

/// Another run's lease: `scope` in `store`, expiring `expires_in` from now
/// (negative: expired, left by a run that was killed).
async fn plant(
    s: &Stores,
    store: &str,
    scope: &str,
    command: &str,
    expires_in: Duration,
    expired: bool,
) {
    let now = chrono::Utc::now();
    let expires_at = match expired {
        false => now + chrono::Duration::from_std(expires_in).unwrap(),
        true => now - chrono::Duration::from_std(expires_in).unwrap(),
    };
    let holder = json!({
        "token": format!("token-of-{command}"),
        "command": command,
        "host": "other-host",
        "pid": 4242,
        "started_at": now,
    });
    match store {
        "redis" => {
            let mut r = s.redis().await;
            let _: () = ::redis::cmd("SET")
                .arg(format!("{}rez-db:lock:{scope}", s.redis_prefix))
                .arg(holder.to_string())
                .arg("PX")
                .arg(expires_in.as_millis() as u64)
                .query_async(&mut r)
                .await
                .unwrap();
        }
        "mongo" => {
            s.mongo()
                .await
                .collection::<Document>("rez_db_locks")
                .insert_one(doc! {
                    "_id": scope,
                    "token": format!("token-of-{command}"),
                    "command": command,
                    "host": "other-host",
                    "pid": 4242_i64,
                    "started_at": BsonDateTime::from_millis(now.timestamp_millis()),
                    "expires_at": BsonDateTime::from_millis(expires_at.timestamp_millis()),
                })
                .await
                .unwrap();
        }
        _ => {
            let es = s.es().await;
            let mut body = holder.clone();
            body["expires_at"] = json!(expires_at.timestamp_millis());
            es.call(
                Method::Put,
                &format!("/{}/_doc/{scope}?refresh=true", es.name("rez-db-locks")),
                Some(&body),
            )
            .await
            .unwrap();
        }
    }
}

/// Whether a lease of `scope` exists in `store`.
async fn lease_exists(s: &Stores, store: &str, scope: &str) -> bool {
    match store {
        "redis" => s
            .redis()
            .await
            .exists(format!("{}rez-db:lock:{scope}", s.redis_prefix))
            .await
            .unwrap(),
        "mongo" => {
            s.mongo()
                .await
                .collection::<Document>("rez_db_locks")
                .count_documents(doc! {"_id": scope})
                .await
                .unwrap()
                > 0
        }
        _ => {
            let es = s.es().await;
            es.call_opt(
                Method::Get,
                &format!("/{}/_doc/{scope}", es.name("rez-db-locks")),
                None,
            )
            .await
            .unwrap()
            .is_some_and(|d| d["found"] == true)
        }
    }
}

async fn unplant(s: &Stores, store: &str, scope: &str) {
    match store {
        "redis" => {
            let _: () = s
                .redis()
                .await
                .del(format!("{}rez-db:lock:{scope}", s.redis_prefix))
                .await
                .unwrap();
        }
        "mongo" => {
            s.mongo()
                .await
                .collection::<Document>("rez_db_locks")
                .delete_one(doc! {"_id": scope})
                .await
                .unwrap();
        }
        _ => {
            let es = s.es().await;
            es.call(
                Method::Delete,
                &format!("/{}/_doc/{scope}?refresh=true", es.name("rez-db-locks")),
                None,
            )
            .await
            .unwrap();
        }
    }
}

/// `backup --only STORES` into a directory of the test's own.
fn backup(s: &Stores, stores: &str) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("backup").to_str().unwrap().to_string();
    s.json(&["backup", "--only", stores, "--to", &to], 0);
    (tmp, to)
}

/// The binary's exit code and stderr.
fn run(s: &Stores, args: &[&str]) -> (Option<i32>, String) {
    let out = s.rez(args).output().unwrap();
    (out.status.code(), stderr(&out))
}

/// While another run (from anywhere) holds the store's lease, a restore
/// exits 4 naming it and changes nothing; once it is gone the restore acts
/// and leaves no lease behind.
async fn a_restore_waits_for_the_lease_of(store: &str) {
    let s = Stores::new(&format!("lease_restore_{store}")).await;
    fill(&s, store).await;
    let (_tmp, to) = backup(&s, store);
    empty(&s, store).await;
    plant(&s, store, "data", "restore", Duration::from_secs(60), false).await;

    let (code, err) = run(
        &s,
        &[
            "restore",
            "--only",
            store,
            "--from",
            &to,
            "--force",
            "--yes",
            "--lock-wait",
            "1",
        ],
    );
    assert_eq!(code, Some(4), "{err}");
    for part in ["data lease", "`restore` on host other-host, pid 4242"] {
        assert!(err.contains(part), "{part}: {err}");
    }
    assert_eq!(data(&s, store).await, 0, "nothing restored: {err}");
    assert!(
        lease_exists(&s, store, "data").await,
        "the holder's lease is left alone"
    );

    unplant(&s, store, "data").await;
    let (code, err) = run(&s, &["restore", "--only", store, "--from", &to]);
    assert_eq!(code, Some(0), "{err}");
    assert_eq!(data(&s, store).await, 2);
    assert!(
        !lease_exists(&s, store, "data").await,
        "released at the end"
    );
}

#[tokio::test]
async fn a_restore_exits_4_while_another_run_holds_the_redis_lease() {
    a_restore_waits_for_the_lease_of("redis").await;
}

#[tokio::test]
async fn a_restore_exits_4_while_another_run_holds_the_mongo_lease() {
    a_restore_waits_for_the_lease_of("mongo").await;
}

#[tokio::test]
async fn a_restore_exits_4_while_another_run_holds_the_es_lease() {
    a_restore_waits_for_the_lease_of("es").await;
}

#[tokio::test]
async fn an_expired_lease_left_by_a_killed_run_is_taken_over_and_other_scopes_survive() {
    let s = Stores::new("lease_expired").await;
    for store in STORES {
        fill(&s, store).await;
        // Another scope's lease lives beside ours: neither backed up nor dropped.
        plant(&s, store, "other", "future", Duration::from_secs(60), false).await;
    }
    let (_tmp, to) = backup(&s, "mongo,redis,es");
    let listed = std::fs::read_to_string(std::path::Path::new(&to).join("manifest.json")).unwrap();
    for lease in ["rez_db_locks", "rez-db-locks"] {
        assert!(
            !listed.contains(lease),
            "{lease} is not backed up: {listed}"
        );
    }
    for store in STORES {
        empty(&s, store).await;
    }
    // Killed runs: MongoDB and Elasticsearch keep the document past its expiry;
    // Redis drops the key by itself.
    plant(&s, "mongo", "data", "restore", Duration::from_secs(5), true).await;
    plant(&s, "es", "data", "restore", Duration::from_secs(5), true).await;
    plant(
        &s,
        "redis",
        "data",
        "restore",
        Duration::from_millis(300),
        false,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(400)).await;

    let (code, err) = run(&s, &["restore", "--only", "mongo,redis,es", "--from", &to]);
    assert_eq!(code, Some(0), "{err}");
    for store in STORES {
        assert_eq!(data(&s, store).await, 2, "{store} restored");
        assert!(!lease_exists(&s, store, "data").await, "{store}: released");
        assert!(
            lease_exists(&s, store, "other").await,
            "{store}: other scope kept"
        );
    }
}

#[tokio::test]
async fn a_refused_restore_releases_its_leases_at_once() {
    let s = Stores::new("lease_refused").await;
    for store in STORES {
        fill(&s, store).await;
    }
    let (_tmp, to) = backup(&s, "mongo,redis,es");
    // Refused after the leases were taken (the target is not empty): exit 2,
    // and the next run does not wait for them to expire.
    let (code, err) = run(&s, &["restore", "--only", "mongo,redis,es", "--from", &to]);
    assert_eq!(code, Some(2), "{err}");
    for store in STORES {
        assert!(!lease_exists(&s, store, "data").await, "{store}: {err}");
    }
    let (code, err) = run(
        &s,
        &[
            "restore",
            "--only",
            "mongo,redis,es",
            "--from",
            &to,
            "--force",
            "--yes",
        ],
    );
    assert_eq!(code, Some(0), "{err}");
    for store in STORES {
        assert_eq!(data(&s, store).await, 2, "{store}");
        assert!(!lease_exists(&s, store, "data").await, "{store}");
    }
}

#[tokio::test]
async fn an_interrupted_restore_releases_the_leases_it_took() {
    let s = Stores::new("lease_sigterm").await;
    for store in ["mongo", "redis"] {
        fill(&s, store).await;
    }
    let (_tmp, to) = backup(&s, "mongo,redis");
    // MongoDB's lease is taken first; Redis's is held by another run, so the
    // restore waits there, holding MongoDB's, until it is stopped.
    plant(
        &s,
        "redis",
        "data",
        "restore",
        Duration::from_secs(60),
        false,
    )
    .await;
    let child = s.spawn(&[
        "restore",
        "--only",
        "mongo,redis",
        "--from",
        &to,
        "--force",
        "--yes",
        "--lock-wait",
        "60",
    ]);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !lease_exists(&s, "mongo", "data").await {
        assert!(
            std::time::Instant::now() < deadline,
            "the restore never took MongoDB's lease"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(143), "{}", stderr(&out));
    assert!(
        !lease_exists(&s, "mongo", "data").await,
        "released before exit, not left to expire"
    );
    assert!(
        lease_exists(&s, "redis", "data").await,
        "the other run's lease is left alone"
    );
    assert_eq!(data(&s, "mongo").await, 2, "nothing changed");
}

#[tokio::test]
async fn reindex_es_exits_4_while_a_run_from_another_database_holds_the_index_prefix() {
    let s = Stores::with_clean_pg("lease_reindex").await;
    let first = s.json(&["reindex-es", "products"], 0);
    let live = first["indices"][0]["index"].clone();
    // A reindex-es from another PostgreSQL database into the same prefix: its
    // search lock lives in that database, its lease in Elasticsearch.
    plant(
        &s,
        "es",
        "data",
        "reindex-es",
        Duration::from_secs(60),
        false,
    )
    .await;
    let (code, err) = run(&s, &["reindex-es", "products"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("`reindex-es` on host other-host, pid 4242"),
        "{err}"
    );
    assert_eq!(
        s.alias_target("products").await,
        [live.as_str().unwrap().to_string()],
        "the alias did not move"
    );

    unplant(&s, "es", "data").await;
    let second = s.json(&["reindex-es", "products"], 0);
    assert_ne!(second["indices"][0]["index"], live);
    assert!(!lease_exists(&s, "es", "data").await, "released at the end");
}

/// The lease's expiry as the store holds it, in ms since the epoch (Redis: now + PTTL).
async fn expiry(s: &Stores, store: &str) -> i64 {
    let now = chrono::Utc::now().timestamp_millis();
    match store {
        "redis" => {
            let pttl: i64 = s
                .redis()
                .await
                .pttl(format!("{}rez-db:lock:data", s.redis_prefix))
                .await
                .unwrap();
            now + pttl
        }
        "mongo" => s
            .mongo()
            .await
            .collection::<Document>("rez_db_locks")
            .find_one(doc! {"_id": "data"})
            .await
            .unwrap()
            .unwrap()
            .get_datetime("expires_at")
            .unwrap()
            .timestamp_millis(),
        _ => {
            let es = s.es().await;
            es.call(
                Method::Get,
                &format!("/{}/_doc/data", es.name("rez-db-locks")),
                None,
            )
            .await
            .unwrap()["_source"]["expires_at"]
                .as_i64()
                .unwrap()
        }
    }
}

#[tokio::test]
async fn a_lease_is_renewed_by_its_holder_and_never_touches_another_runs() {
    use rez_db::secret::RedactedUrl;
    use rez_db::store::lease::{self, Scope};
    let s = Stores::new("lease_renew").await;
    let timeout = Duration::from_secs(5);
    let redis = rez_db::store::redis::connect(
        &RedactedUrl::parse(&crate::support::redis_url()).unwrap(),
        &s.redis_prefix,
        timeout,
    )
    .await
    .unwrap();
    let mongo = rez_db::store::mongo::connect(&RedactedUrl::parse(&s.mongo_uri).unwrap(), timeout)
        .await
        .unwrap();
    let es = s.es().await;
    for store in STORES {
        let wait = Duration::ZERO;
        let held = match store {
            "redis" => lease::redis(&redis, Scope::Data, "test", wait).await,
            "mongo" => lease::mongo(&mongo, Scope::Data, "test", wait).await,
            _ => lease::es(&es, Scope::Data, "test", wait).await,
        }
        .unwrap();
        let first = expiry(&s, store).await;
        assert!(
            (first - chrono::Utc::now().timestamp_millis() - 60_000).abs() < 5_000,
            "{store}: 60 s ahead"
        );
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert!(held.renew_now().await.unwrap(), "{store}");
        let renewed = expiry(&s, store).await;
        assert!(
            renewed - first >= 900,
            "{store}: pushed ahead, {first} -> {renewed}"
        );

        // Taken over by another run (as after an expiry): not renewed, not deleted.
        unplant(&s, store, "data").await;
        plant(&s, store, "data", "restore", Duration::from_secs(60), false).await;
        assert!(!held.renew_now().await.unwrap(), "{store}: no longer ours");
        held.release().await.unwrap();
        assert!(
            lease_exists(&s, store, "data").await,
            "{store}: the other run's lease stays"
        );
        unplant(&s, store, "data").await;
    }
}

#[tokio::test]
async fn seed_redis_only_exits_4_while_a_restore_holds_the_redis_lease() {
    let mut s = Stores::new("lease_seed").await;
    s.db = Some(crate::common::TestDb::migrated("lease_seed").await);
    plant(
        &s,
        "redis",
        "data",
        "restore",
        Duration::from_secs(60),
        false,
    )
    .await;
    let (code, err) = run(&s, &["seed", "--redis-only"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(err.contains("`restore` on host other-host"), "{err}");
    unplant(&s, "redis", "data").await;
    let (code, err) = run(&s, &["seed", "--redis-only"]);
    assert_eq!(code, Some(0), "{err}");
    assert!(!lease_exists(&s, "redis", "data").await);
}

/// Two `migrate` runs provisioning the same stores at once (two PostgreSQL
/// databases sharing a MongoDB database and index prefix, or a CI retry):
/// before provisioning took the lease, both found the objects missing and
/// the second failed creating one the first had just made. Now the second
/// waits for the first's lease and finds everything there.
#[tokio::test]
async fn two_migrates_provisioning_one_set_of_stores_at_once_both_succeed() {
    let s = Stores::new("lease_migrate_pair").await;
    let spawn = || {
        let mut child = s.spawn(&["--json", "migrate", "--lock-wait", "120"]);
        // stdout is discarded by spawn(); the exit code and stderr say it all.
        let stderr = child.stderr.take();
        (child, stderr)
    };
    let runs = [spawn(), spawn()];
    for (mut child, stderr) in runs {
        let status = child.wait().unwrap();
        let mut text = String::new();
        if let Some(mut e) = stderr {
            std::io::Read::read_to_string(&mut e, &mut text).unwrap();
        }
        assert!(status.success(), "{status}: {text}");
    }
    for store in STORES {
        assert!(
            !lease_exists(&s, store, "data").await,
            "{store}: released at the end"
        );
    }
    // Everything is there once: a third run creates nothing.
    let doc = s.json(&["migrate", "--check"], 0);
    assert!(
        doc["stores"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["action"] != "would_create"),
        "{doc:#}"
    );
}

/// While a restore holds a store's lease, `migrate` provisioning that store
/// exits 4 naming it and changes nothing.
#[tokio::test]
async fn migrate_exits_4_while_a_restore_holds_the_lease_of_a_store_it_provisions() {
    let s = Stores::new("lease_migrate_held").await;
    plant(&s, "es", "data", "restore", Duration::from_secs(60), false).await;
    let (code, err) = run(&s, &["migrate", "--only", "es"]);
    assert_eq!(code, Some(4), "{err}");
    assert!(
        err.contains("`restore` on host other-host, pid 4242"),
        "{err}"
    );
    let aliases = s.alias_target("products").await;
    assert!(aliases.is_empty(), "nothing provisioned: {aliases:?}");
}
