//! `backup` / `restore` of MongoDB, Redis and Elasticsearch, each under the
//! test's own database, key prefix or index prefix: everything comes back
//! exactly (documents with every BSON type, options and indexes; keys with
//! their type-faithful value and TTL; indices with settings, mappings, aliases
//! and documents), a non-empty target needs --force and is left as it was,
//! and a freshly provisioned (empty) target is not "non-empty". The leases a
//! restore takes (`tests/stores/leases.rs`) are not data and not compared.

use ::redis::AsyncCommands;
use elasticsearch::http::Method;
use mongodb::bson::{doc, Bson, DateTime, Document};
use serde_json::{json, Value};

use crate::common::{age_key, stderr};
use crate::redis_tests;
use crate::support::{redis_del, redis_keys, RedisKind, Stores};

/// `backup --only STORE` into a directory of the test's own; returns it (kept
/// alive by the TempDir) and its path as text.
fn backup(s: &Stores, store: &str) -> (tempfile::TempDir, String) {
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("backup").to_str().unwrap().to_string();
    s.json(&["backup", "--only", store, "--to", &to], 0);
    (tmp, to)
}

/// `restore --only STORE` with `extra` flags, expecting exit `code`; returns stderr.
fn restore(s: &Stores, store: &str, to: &str, extra: &[&str], code: Option<i32>) -> String {
    let mut args = vec!["restore", "--only", store, "--from", to];
    args.extend_from_slice(extra);
    let out = s.rez(&args).output().unwrap();
    assert_eq!(out.status.code(), code, "{}", stderr(&out));
    stderr(&out)
}

/// What `validate --only STORE` exits with on the source: the restored copy must match it.
fn validate_code(s: &Stores, store: &str) -> Option<i32> {
    s.rez(&["validate", "--only", store])
        .output()
        .unwrap()
        .status
        .code()
}

/// Every key under `prefix`: (name, DUMP payload, PTTL). A set stored as a
/// hash table dumps its members in bucket order, which RESTORE may reverse
/// (Redis 7.0): for sets, the type and the sorted members stand in for DUMP.
async fn redis_snapshot(s: &Stores, prefix: &str) -> Vec<(String, Vec<u8>, i64)> {
    let mut r = s.redis().await;
    let keys = redis_keys(&mut s.redis_store().await, prefix).await;
    let mut out = Vec::new();
    for k in keys {
        let kind: String = ::redis::cmd("TYPE")
            .arg(&k)
            .query_async(&mut r)
            .await
            .unwrap();
        let dump: Vec<u8> = if kind == "set" {
            let mut members: Vec<Vec<u8>> = r.smembers(&k).await.unwrap();
            members.sort();
            [b"set:".to_vec(), members.join(&b'\n')].concat()
        } else {
            ::redis::cmd("DUMP")
                .arg(&k)
                .query_async(&mut r)
                .await
                .unwrap()
        };
        let pttl: i64 = r.pttl(&k).await.unwrap();
        out.push((k, dump, pttl));
    }
    out
}

/// Deletes every key under `prefix`, key by key.
async fn redis_clear(s: &Stores, prefix: &str) {
    let mut r = s.redis_store().await;
    let keys = redis_keys(&mut r, prefix).await;
    redis_del(&mut r, &keys).await;
}

redis_tests!(redis_keys_survive_backup_clear_and_restore_with_their_ttls);

async fn redis_keys_survive_backup_clear_and_restore_with_their_ttls(kind: RedisKind) {
    let s = Stores::on("backup_redis", kind).await;
    let p = s.redis_prefix.clone();
    let mut r = s.redis().await;
    let k = |key: &str| format!("{p}{key}");
    // One key of each type, with and without a TTL, and a binary value.
    let _: () = r.hset(k("h"), "user_id", "u1").await.unwrap();
    let _: () = r.expire(k("h"), 604_800).await.unwrap();
    let _: () = r.zadd(k("z"), "u1", 1500).await.unwrap();
    let _: () = r.rpush(k("l"), &["a", "b", "a"]).await.unwrap();
    let _: () = r.sadd(k("s"), &["x", "y"]).await.unwrap();
    let _: () = r.set_ex(k("str"), 95, 3600).await.unwrap();
    let _: () = r
        .set(k("bin"), vec![0u8, 159, 146, 150, 255])
        .await
        .unwrap();
    let before = redis_snapshot(&s, &p).await;
    assert_eq!(before.len(), 6);
    let code = validate_code(&s, "redis");

    let (_tmp, to) = backup(&s, "redis");
    let err = restore(&s, "redis", &to, &[], Some(2));
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(redis_snapshot(&s, &p).await.len(), before.len());

    redis_clear(&s, &p).await;
    restore(&s, "redis", &to, &[], code);
    let after = redis_snapshot(&s, &p).await;
    assert_eq!(after.len(), before.len());
    for ((k1, d1, t1), (k2, d2, t2)) in before.iter().zip(&after) {
        assert_eq!(k1, k2);
        assert_eq!(d1, d2, "{k1}: the value is type-faithful");
        assert_eq!(*t1 == -1, *t2 == -1, "{k1}: expiry kept or absent");
        assert!((t1 - t2).abs() < 30_000, "{k1}: TTL {t1} ms then {t2} ms");
    }

    // A flipped byte in the dump: refused, naming the file.
    let file = std::path::Path::new(&to).join("redis/keys.bin");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    let err = restore(&s, "redis", &to, &["--force", "--yes"], Some(1));
    assert!(err.contains("keys.bin"), "{err}");
    let values = |snap: &[(String, Vec<u8>, i64)]| -> Vec<(String, Vec<u8>)> {
        snap.iter()
            .map(|(k, d, _)| (k.clone(), d.clone()))
            .collect()
    };
    assert_eq!(values(&redis_snapshot(&s, &p).await), values(&after));
}

/// Per collection: its documents by _id, its indexes' (name, key), its options.
async fn mongo_snapshot(
    db: &mongodb::Database,
) -> Vec<(String, Vec<Document>, Vec<String>, Document)> {
    let mut names = db.list_collection_names().await.unwrap();
    // rez-db's leases are not data: a restore takes them, and keeps them.
    names.retain(|n| n != "rez_db_locks");
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let coll = db.collection::<Document>(&name);
        let mut cursor = coll.find(doc! {}).sort(doc! {"_id": 1}).await.unwrap();
        let mut docs = Vec::new();
        while cursor.advance().await.unwrap() {
            docs.push(cursor.deserialize_current().unwrap());
        }
        let reply = db.run_command(doc! {"listIndexes": &name}).await.unwrap();
        let mut indexes: Vec<String> = reply
            .get_document("cursor")
            .unwrap()
            .get_array("firstBatch")
            .unwrap()
            .iter()
            .map(|i| {
                let i = i.as_document().unwrap();
                format!(
                    "{} {}",
                    i.get_str("name").unwrap(),
                    i.get_document("key").unwrap()
                )
            })
            .collect();
        indexes.sort();
        let spec = db
            .run_command(doc! {"listCollections": 1, "filter": {"name": &name}})
            .await
            .unwrap();
        let options = spec
            .get_document("cursor")
            .unwrap()
            .get_array("firstBatch")
            .unwrap()[0]
            .as_document()
            .unwrap()
            .get_document("options")
            .cloned()
            .unwrap_or_default();
        out.push((name, docs, indexes, options));
    }
    out
}

#[tokio::test]
async fn mongo_collections_survive_backup_drop_and_restore() {
    let s = Stores::new("backup_mongo").await;
    s.json(&["create", "--only", "mongo"], 0);
    let db = s.mongo().await;
    let coll = db.collection::<Document>("ab_test_results");
    for i in 0..50i64 {
        coll.insert_one(doc! {
            "experiment_id": format!("exp{}", i % 3),
            "user_id": format!("u{i}"),
            "variant": if i % 2 == 0 { "control" } else { "variant_a" },
            "metrics": {"clicks": i, "spend": Bson::Decimal128("12.50".parse().unwrap()), "big": i * 10_000_000_000},
            "assigned_at": DateTime::from_millis(1_760_000_000_000 + i),
            "converted_at": Bson::Null,
        })
        .await
        .unwrap();
    }
    let before = mongo_snapshot(&db).await;
    assert!(before
        .iter()
        .any(|(n, d, _, _)| n == "ab_test_results" && d.len() == 50));
    let code = validate_code(&s, "mongo");

    let (_tmp, to) = backup(&s, "mongo");
    let folder = std::path::Path::new(&to).join("mongo").join(&s.mongo_db);
    assert!(folder.join("ab_test_results.bson").exists());
    assert!(folder.join("ab_test_results.metadata.json").exists());
    let err = restore(&s, "mongo", &to, &[], Some(2));
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        mongo_snapshot(&db).await,
        before,
        "a refused restore changes nothing"
    );

    db.drop().await.unwrap();
    // A freshly provisioned target (empty collections, history) is not "non-empty".
    s.json(&["create", "--only", "mongo"], 0);
    restore(&s, "mongo", &to, &[], code);
    assert_eq!(mongo_snapshot(&db).await, before);
}

/// Per index under the prefix: name, mappings, analysis, aliases, documents by id.
async fn es_snapshot(s: &Stores) -> Vec<(String, Value, Value, Vec<String>, Vec<(String, Value)>)> {
    let es = s.es().await;
    let list = es
        .call(
            Method::Get,
            &format!("/_cat/indices/{}*?format=json&h=index", s.es_prefix),
            None,
        )
        .await
        .unwrap();
    let mut names: Vec<String> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["index"].as_str().unwrap().to_string())
        .filter(|n| *n != format!("{}rez-db-locks", s.es_prefix))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for index in names {
        let live = es
            .call(Method::Get, &format!("/{index}"), None)
            .await
            .unwrap();
        let live = &live[&index];
        let mut aliases: Vec<String> = live["aliases"]
            .as_object()
            .unwrap()
            .keys()
            .cloned()
            .collect();
        aliases.sort();
        es.refresh(&index).await.unwrap();
        let hits = es
            .call(
                Method::Post,
                &format!("/{index}/_search"),
                Some(&json!({"size": 1000, "sort": [{"_id": "asc"}]})),
            )
            .await
            .unwrap();
        let docs = hits["hits"]["hits"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h["_id"].as_str().unwrap().to_string(), h["_source"].clone()))
            .collect();
        out.push((
            index,
            live["mappings"].clone(),
            live["settings"]["index"]["analysis"].clone(),
            aliases,
            docs,
        ));
    }
    out
}

#[tokio::test]
async fn es_indices_survive_backup_delete_and_restore() {
    let s = Stores::new("backup_es").await;
    s.json(&["create", "--only", "es"], 0);
    let es = s.es().await;
    let index = es.name("scratch_v1");
    es.create_index(
        &index,
        &json!({
            "settings": {"number_of_shards": 1, "analysis": {"analyzer": {"lower": {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}}}},
            "mappings": {"properties": {"title": {"type": "text", "analyzer": "lower"}, "price": {"type": "scaled_float", "scaling_factor": 100}, "tags": {"type": "keyword"}}},
            "aliases": {es.name("scratch"): {}}
        }),
    )
    .await
    .unwrap();
    let mut body = Vec::new();
    for i in 0..30 {
        body.extend(
            serde_json::to_vec(&json!({"index": {"_index": index, "_id": format!("d{i:02}")}}))
                .unwrap(),
        );
        body.push(b'\n');
        body.extend(serde_json::to_vec(&json!({"title": format!("Item {i}"), "price": 10.5 + i as f64, "tags": ["a", format!("t{i}")]})).unwrap());
        body.push(b'\n');
    }
    es.bulk(body).await.unwrap();
    es.refresh(&index).await.unwrap();
    let before = es_snapshot(&s).await;
    assert!(before
        .iter()
        .any(|(n, _, _, a, d)| *n == index && d.len() == 30 && a.len() == 1));
    let code = validate_code(&s, "es");

    let (_tmp, to) = backup(&s, "es");
    assert!(std::path::Path::new(&to)
        .join("elasticsearch/scratch_v1.ndjson")
        .exists());
    let err = restore(&s, "es", &to, &[], Some(2));
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(
        es_snapshot(&s).await,
        before,
        "a refused restore changes nothing"
    );

    for (name, ..) in &before {
        es.delete_index(name).await.unwrap();
    }
    // A freshly provisioned target (empty indices behind the same aliases) is not "non-empty".
    s.json(&["create", "--only", "es"], 0);
    restore(&s, "es", &to, &[], code);
    assert_eq!(es_snapshot(&s).await, before);
}

/// What the compressed and encrypted round trips carry: 200 OTP keys with a
/// TTL and a leaderboard under the Redis prefix, and 100 documents in
/// `activity_logs` after `create --only CREATE`. Returns the Redis snapshot,
/// the MongoDB database and its snapshot.
async fn plant_otps_and_logs(
    s: &Stores,
    create: &str,
) -> (
    Vec<(String, Vec<u8>, i64)>,
    mongodb::Database,
    Vec<(String, Vec<Document>, Vec<String>, Document)>,
) {
    let p = s.redis_prefix.clone();
    let mut r = s.redis().await;
    for i in 0..200 {
        let key = format!("{p}otp:{i}");
        let _: () = r.set_ex(key, format!("{i:06}"), 600).await.unwrap();
    }
    let _: () = r.zadd(format!("{p}board"), "u1", 1500).await.unwrap();
    let redis_before = redis_snapshot(s, &p).await;
    s.json(&["create", "--only", create], 0);
    let db = s.mongo().await;
    let coll = db.collection::<Document>("activity_logs");
    for i in 0..100i64 {
        coll.insert_one(doc! {"user_id": format!("u{i}"), "action": "login", "at": DateTime::from_millis(1_760_000_000_000 + i)})
            .await
            .unwrap();
    }
    let mongo_before = mongo_snapshot(&db).await;
    (redis_before, db, mongo_before)
}

#[tokio::test]
async fn compressed_redis_and_mongo_backups_round_trip_and_a_flipped_byte_is_refused() {
    let s = Stores::new("backup_gzip").await;
    let p = s.redis_prefix.clone();
    let (redis_before, db, mongo_before) = plant_otps_and_logs(&s, "mongo").await;
    let code = validate_code(&s, "redis,mongo");

    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("backup").to_str().unwrap().to_string();
    let manifest = s.json(
        &["backup", "--only", "redis,mongo", "--compress", "--to", &to],
        0,
    );
    for store in manifest["manifest"]["stores"].as_array().unwrap() {
        assert_eq!(store["compression"], "gzip", "{store}");
        for file in store["files"].as_array().unwrap() {
            let path = file["path"].as_str().unwrap();
            assert!(path.ends_with(".gz"), "{path} is stored gzipped");
        }
    }
    // The layout of `mongodump --gzip`.
    let folder = std::path::Path::new(&to).join("mongo").join(&s.mongo_db);
    assert!(folder.join("activity_logs.bson.gz").exists());
    assert!(folder.join("activity_logs.metadata.json.gz").exists());
    let keys = std::path::Path::new(&to).join("redis/keys.bin.gz");
    assert_eq!(&std::fs::read(&keys).unwrap()[..2], &[0x1f, 0x8b]);

    redis_clear(&s, &p).await;
    db.drop().await.unwrap();
    restore(&s, "redis,mongo", &to, &[], code);
    let redis_after = redis_snapshot(&s, &p).await;
    assert_eq!(redis_after.len(), redis_before.len());
    for ((k1, d1, t1), (k2, d2, t2)) in redis_before.iter().zip(&redis_after) {
        assert_eq!((k1, d1), (k2, d2));
        assert_eq!(*t1 == -1, *t2 == -1, "{k1}: expiry kept or absent");
        assert!((t1 - t2).abs() < 30_000, "{k1}: TTL {t1} ms then {t2} ms");
    }
    assert_eq!(mongo_snapshot(&db).await, mongo_before);

    // A flipped byte in the compressed Redis dump: refused by its checksum,
    // before anything is decompressed or changed.
    let mut bytes = std::fs::read(&keys).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&keys, bytes).unwrap();
    let err = restore(&s, "redis,mongo", &to, &["--force", "--yes"], Some(1));
    assert!(
        err.contains("keys.bin.gz") && err.contains("SHA-256"),
        "{err}"
    );
    assert_eq!(redis_snapshot(&s, &p).await.len(), redis_before.len());
    assert_eq!(mongo_snapshot(&db).await, mongo_before);
}

#[tokio::test]
async fn encrypted_redis_mongo_and_es_backups_stream_back_with_the_second_recipients_key() {
    let s = Stores::new("backup_age").await;
    let p = s.redis_prefix.clone();
    let (redis_before, db, mongo_before) = plant_otps_and_logs(&s, "mongo,es").await;
    let es = s.es().await;
    let index = es.name("scratch_v1");
    es.create_index(&index, &json!({"mappings": {"properties": {"title": {"type": "keyword"}}}, "aliases": {es.name("scratch"): {}}}))
        .await
        .unwrap();
    let mut body = Vec::new();
    for i in 0..20 {
        body.extend(
            serde_json::to_vec(&json!({"index": {"_index": index, "_id": format!("d{i}")}}))
                .unwrap(),
        );
        body.push(b'\n');
        body.extend(serde_json::to_vec(&json!({"title": format!("t{i}")})).unwrap());
        body.push(b'\n');
    }
    es.bulk(body).await.unwrap();
    es.refresh(&index).await.unwrap();
    let es_before = es_snapshot(&s).await;
    let code = validate_code(&s, "redis,mongo,es");

    let keys = tempfile::tempdir().unwrap();
    let (_, a) = age_key(keys.path(), "a.txt");
    let (key_b, b) = age_key(keys.path(), "b.txt");
    let key_b = key_b.to_str().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("backup").to_str().unwrap().to_string();
    let report = s.json(
        &[
            "backup",
            "--only",
            "redis,mongo,es",
            "--compress",
            "--to",
            &to,
            "--encrypt-to",
            &a,
            "--encrypt-to",
            &b,
        ],
        0,
    );
    for store in report["manifest"]["stores"].as_array().unwrap() {
        assert_eq!(store["encryption"]["recipients"], json!([a, b]), "{store}");
        for file in store["files"].as_array().unwrap() {
            let path = file["path"].as_str().unwrap();
            assert!(path.ends_with(".age"), "{path} is stored encrypted");
            assert!(file["plaintext"]["size"].as_u64().is_some(), "{file}");
        }
    }
    let folder = std::path::Path::new(&to);
    assert!(folder.join("redis/keys.bin.gz.age").exists());
    assert!(folder
        .join(format!("mongo/{}/activity_logs.bson.gz.age", s.mongo_db))
        .exists());
    assert!(folder.join("elasticsearch/scratch_v1.json.age").exists());
    assert!(
        !folder.join("redis/keys.bin.gz").exists(),
        "no plaintext left"
    );

    redis_clear(&s, &p).await;
    db.drop().await.unwrap();
    for (name, ..) in &es_before {
        es.delete_index(name).await.unwrap();
    }
    // Without a key: refused before anything changes, naming the flag.
    let err = restore(&s, "redis,mongo,es", &to, &[], Some(2));
    assert!(err.contains("--identity"), "{err}");
    assert!(redis_snapshot(&s, &p).await.is_empty());

    restore(&s, "redis,mongo,es", &to, &["--identity", key_b], code);
    let redis_after = redis_snapshot(&s, &p).await;
    assert_eq!(redis_after.len(), redis_before.len());
    for ((k1, d1, _), (k2, d2, _)) in redis_before.iter().zip(&redis_after) {
        assert_eq!((k1, d1), (k2, d2));
    }
    assert_eq!(mongo_snapshot(&db).await, mongo_before);
    assert_eq!(es_snapshot(&s).await, es_before);
}

/// The manifest records each store's versions, and a restore onto a target
/// older than (or another product than) its source is refused before
/// anything is touched, naming both, unless --allow-version-change.
#[tokio::test]
async fn restore_checks_each_stores_versions_against_the_manifest() {
    let s = Stores::new("backup_versions").await;
    let mut r = s.redis().await;
    let _: () = r.set(format!("{}k", s.redis_prefix), "v").await.unwrap();
    s.json(&["create", "--only", "mongo,es"], 0);
    let tmp = tempfile::tempdir().unwrap();
    let to = tmp.path().join("backup").to_str().unwrap().to_string();
    let report = s.json(&["backup", "--only", "redis,mongo,es", "--to", &to], 0);
    let manifest_path = std::path::Path::new(&to).join("manifest.json");
    let manifest: Value = serde_json::from_slice(&std::fs::read(&manifest_path).unwrap()).unwrap();
    assert_eq!(manifest, report["manifest"]);
    let mut older = manifest.clone();
    for store in older["stores"].as_array_mut().unwrap() {
        let versions = &mut store["versions"];
        let product = versions["product"].as_str().unwrap().to_string();
        let server = versions["server"].as_str().unwrap().to_string();
        assert!(!product.is_empty() && !server.is_empty(), "{store}");
        assert!(
            rez_db::backup::versions::numbers(&server).len() >= 2,
            "{product} {server}"
        );
        // As if the backup came from a newer server than the target.
        versions["server"] = "999.0".into();
    }
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&older).unwrap()).unwrap();
    let err = restore(&s, "redis,mongo,es", &to, &["--force", "--yes"], Some(2));
    for store in ["redis", "mongodb", "elasticsearch"] {
        assert!(
            err.contains(&format!("{store}: the target runs")) && err.contains("999.0"),
            "{store}: {err}"
        );
    }
    assert!(err.contains("--allow-version-change"), "{err}");
    // Nothing was touched: the key is still there.
    let value: String = r.get(format!("{}k", s.redis_prefix)).await.unwrap();
    assert_eq!(value, "v");
    // Another product is refused the same way.
    let mut other = manifest.clone();
    for store in other["stores"].as_array_mut().unwrap() {
        if store["store"] == "redis" {
            store["versions"]["product"] = "keydb".into();
        }
    }
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&other).unwrap()).unwrap();
    let err = restore(
        &s,
        "redis",
        &to,
        &["--force", "--yes", "--dry-run"],
        Some(2),
    );
    assert!(err.contains("taken from keydb"), "{err}");
    // Allowed: the restore runs.
    std::fs::write(&manifest_path, serde_json::to_vec_pretty(&older).unwrap()).unwrap();
    restore(
        &s,
        "redis",
        &to,
        &["--force", "--yes", "--allow-version-change"],
        Some(0),
    );
}

/// Fills `s`'s prefix with `n` strings and a sorted set, spread over every
/// slot range; returns the snapshot.
async fn plant(s: &Stores, n: usize) -> Vec<(String, Vec<u8>, i64)> {
    let mut r = s.redis().await;
    for i in 0..n {
        let _: () = r
            .set_ex(format!("{}otp:{i}", s.redis_prefix), i, 600)
            .await
            .unwrap();
    }
    let _: () = r
        .zadd(format!("{}board", s.redis_prefix), "u1", 1500)
        .await
        .unwrap();
    redis_snapshot(s, &s.redis_prefix).await
}

fn same_keys(a: &[(String, Vec<u8>, i64)], b: &[(String, Vec<u8>, i64)], pa: &str, pb: &str) {
    let names = |v: &[(String, Vec<u8>, i64)], p: &str| -> Vec<(String, Vec<u8>)> {
        v.iter()
            .map(|(k, d, _)| (k[p.len()..].to_string(), d.clone()))
            .collect()
    };
    assert_eq!(names(a, pa), names(b, pb));
}

#[tokio::test]
async fn a_cluster_backup_holds_every_master_and_restores_into_a_single_server_and_back() {
    let cluster = Stores::on("backup_shape_c", RedisKind::Cluster).await;
    let before = plant(&cluster, 60).await;
    // What validate says of the source: each restored copy must say the same.
    let code = validate_code(&cluster, "redis");
    let (_tmp, to) = backup(&cluster, "redis");
    let manifest: Value = serde_json::from_str(
        &std::fs::read_to_string(std::path::Path::new(&to).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let masters = manifest["stores"][0]["redis_cluster"]
        .as_array()
        .unwrap_or_else(|| panic!("the cluster's shape in {manifest:#}"));
    assert_eq!(masters.len(), 3, "{masters:#?}");
    let per_master: Vec<u64> = masters
        .iter()
        .map(|m| m["keys"].as_u64().unwrap())
        .collect();
    assert!(
        per_master.iter().all(|k| *k > 0),
        "keys on every master: {per_master:?}"
    );
    assert_eq!(
        per_master.iter().sum::<u64>(),
        61,
        "every key: {per_master:?}"
    );
    assert!(masters
        .iter()
        .all(|m| m["replicas"].as_array().unwrap().len() == 1));

    // Into a single server (same test names, another Redis).
    let single = Stores::on("backup_shape_s", RedisKind::Standalone).await;
    restore(&single, "redis", &to, &[], code);
    let restored = redis_snapshot(&single, &single.redis_prefix).await;
    same_keys(
        &before,
        &restored,
        &cluster.redis_prefix,
        &single.redis_prefix,
    );
    let single_manifest = single.json(
        &["backup", "--only", "redis", "--to", &format!("{to}-single")],
        0,
    );
    assert!(
        single_manifest["manifest"]["stores"][0]
            .get("redis_cluster")
            .is_none(),
        "a single server's backup has no cluster shape"
    );

    // And from the single server back into an empty prefix of the cluster:
    // its emptiness is checked on every master, then each key goes to its slot's master.
    let back = Stores::on("backup_shape_b", RedisKind::Cluster).await;
    let mut r = back.redis().await;
    let _: () = r
        .set(format!("{}stray", back.redis_prefix), 1)
        .await
        .unwrap();
    let err = restore(&back, "redis", &format!("{to}-single"), &[], Some(2));
    assert!(err.contains("not empty"), "{err}");
    restore(
        &back,
        "redis",
        &format!("{to}-single"),
        &["--force", "--yes"],
        code,
    );
    let round = redis_snapshot(&back, &back.redis_prefix).await;
    same_keys(&before, &round, &cluster.redis_prefix, &back.redis_prefix);
}
