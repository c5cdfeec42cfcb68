//! Redis: layout violations planted under the test's prefix are found by
//! `validate` (sampled with SCAN), and only those; on a Redis Cluster too,
//! where the keys land on all three masters.

use ::redis::AsyncCommands;

use crate::redis_tests;
use crate::support::{redis_del, RedisKind, Stores};

redis_tests!(
    planted_layout_violations_are_found_exactly,
    create_records_the_layout_version_once
);

async fn planted_layout_violations_are_found_exactly(kind: RedisKind) {
    let s = Stores::on("redis_layout", kind).await;
    let p = &s.redis_prefix;
    let mut r = s.redis().await;
    let k = |key: &str| format!("{p}{key}");
    // Clean keys: a session with its TTL, a leaderboard (no TTL declared), a geo set.
    let _: () = r.hset(k("session:aa11"), "user_id", "u1").await.unwrap();
    let _: () = r.expire(k("session:aa11"), 604_800).await.unwrap();
    let _: () = r
        .zadd(k("leaderboard:{top_earners}:weekly"), "u1", 1500)
        .await
        .unwrap();
    let _: () = ::redis::cmd("GEOADD")
        .arg(k("geo:stores:{mumbai}"))
        .arg(72.8777)
        .arg(19.0760)
        .arg("m1")
        .query_async(&mut r)
        .await
        .unwrap();
    let _: () = r
        .set_ex(k("ratelimit:{u1}:api_calls"), 95, 3600)
        .await
        .unwrap();
    // Violations: a session stored as a string (type), a wallet lock without TTL,
    // an OTP living far too long, and a key of no declared pattern.
    let _: () = r.set_ex(k("session:bb22"), "x", 600).await.unwrap();
    let _: () = r.set(k("lock:wallet:{u2}"), "tx1").await.unwrap();
    let _: () = r
        .hset(k("otp:{+919800000001}:login"), "code", "123456")
        .await
        .unwrap();
    let _: () = r
        .expire(k("otp:{+919800000001}:login"), 86_400)
        .await
        .unwrap();
    let _: () = r.set(k("tmp:debug"), "1").await.unwrap();

    let doc = s.json(&["validate", "--only", "redis"], 1);
    let checks = doc["checks"].as_array().unwrap();
    let ids: Vec<&str> = checks.iter().map(|c| c["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "redis.type",
            "redis.ttl_missing",
            "redis.ttl_max",
            "redis.unknown_prefix"
        ],
        "only Redis checks run under --only redis"
    );
    let found = |id: &str| -> Vec<(String, String)> {
        let c = checks.iter().find(|c| c["id"] == id).unwrap();
        c["shown"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["entity"].as_str().unwrap().to_string(),
                    v["actual"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    };
    assert_eq!(
        found("redis.type"),
        [(k("session:bb22"), "string".to_string())]
    );
    assert_eq!(
        found("redis.ttl_missing"),
        [(k("lock:wallet:{u2}"), "no TTL: never expires".to_string())]
    );
    let max = found("redis.ttl_max");
    assert_eq!(max.len(), 1);
    assert_eq!(max[0].0, k("otp:{+919800000001}:login"));
    assert_eq!(
        found("redis.unknown_prefix"),
        [(k("tmp:debug"), "string, no pattern".to_string())]
    );
    assert_eq!(doc["errors"], 3);
    assert_eq!(doc["warnings"], 1);

    // Once fixed, validate is clean.
    let fixed = [
        k("session:bb22"),
        k("lock:wallet:{u2}"),
        k("otp:{+919800000001}:login"),
        k("tmp:debug"),
    ];
    redis_del(&mut s.redis_store().await, &fixed).await;
    let doc = s.json(&["validate", "--only", "redis"], 0);
    assert_eq!(doc["errors"], 0);
}

async fn create_records_the_layout_version_once(kind: RedisKind) {
    let s = Stores::on("redis_marker", kind).await;
    let first = s.json(&["create", "--only", "redis"], 0);
    assert_eq!(first["objects"][0]["action"], "created", "{first:#}");
    let second = s.json(&["create", "--only", "redis"], 0);
    assert_eq!(second["objects"][0]["action"], "exists", "{second:#}");
    let mut r = s.redis().await;
    let version: String = r
        .hget(format!("{}rez-db:layout", s.redis_prefix), "version")
        .await
        .unwrap();
    assert_eq!(version, "2");
    // The marker is itself in the layout: validate finds nothing.
    s.json(&["validate", "--only", "redis"], 0);
}
