//! `seed --synthetic` derives the Redis structures of the layout from what it
//! loaded: a geo set per city of the outlets and the lifetime ReZ-coin
//! leaderboard, exactly, and `validate` finds them conforming.

use ::redis::AsyncCommands;
use sqlx::Row;

use crate::common::TestDb;
use crate::redis_tests;
use crate::support::{redis_del, redis_keys, RedisKind, Stores};

// The read-only-user case below runs on the standalone server only (its
// ACL user would have to be created on every node of a cluster).
redis_tests!(
    synthetic_seed_fills_geo_sets_and_the_leaderboard,
    a_seed_whose_redis_part_did_not_happen_is_found_by_validate_and_finished_by_redis_only
);

async fn synthetic_seed_fills_geo_sets_and_the_leaderboard(kind: RedisKind) {
    let mut s = Stores::on("seed_redis", kind).await;
    s.db = Some(TestDb::migrated("seed_redis").await);
    let report = s.json(
        &["seed", "--synthetic", "--scale", "120", "--rng-seed", "5"],
        0,
    );
    let filled = report["redis"]
        .as_array()
        .expect("seed reports what it filled in Redis");
    let mut pg = s.db.as_ref().unwrap().conn().await;
    let mut r = s.redis().await;
    let p = &s.redis_prefix;

    // The leaderboard: every wallet that earned rez coins, scored by what it earned.
    let earners: Vec<(String, i64)> = sqlx::query_as(
        "SELECT user_id::text, rez_coins_lifetime_earned::bigint FROM wallets WHERE rez_coins_lifetime_earned > 0 ORDER BY 1",
    )
    .fetch_all(&mut pg)
    .await
    .unwrap();
    assert!(!earners.is_empty());
    let board = format!("{p}leaderboard:{{rez_coins}}:lifetime");
    let size: usize = r.zcard(&board).await.unwrap();
    assert_eq!(size, earners.len());
    for (user, coins) in earners.iter().step_by(7) {
        let score: f64 = r.zscore(&board, user).await.unwrap();
        assert_eq!(score as i64, *coins, "{user}");
    }

    // One geo set per city holding its active outlets.
    let cities = sqlx::query("SELECT lower(trim(city)) AS city, count(*) AS n FROM merchant_outlets WHERE coalesce(is_active, true) GROUP BY 1")
        .fetch_all(&mut pg)
        .await
        .unwrap();
    assert!(cities.len() > 1);
    for row in &cities {
        let city: String = row.get("city");
        let n: i64 = row.get("n");
        let key = format!("{p}geo:stores:{{{city}}}");
        let members: i64 = r.zcard(&key).await.unwrap();
        assert_eq!(members, n, "{key}");
        assert!(
            filled
                .iter()
                .any(|f| f["key"] == key.as_str() && f["members"] == n),
            "{key} in the report"
        );
    }
    let (id, lon, lat): (String, f64, f64) = sqlx::query_as(
        "SELECT id::text, longitude::float8, latitude::float8 FROM merchant_outlets LIMIT 1",
    )
    .fetch_one(&mut pg)
    .await
    .unwrap();
    let city: String =
        sqlx::query_scalar("SELECT lower(trim(city)) FROM merchant_outlets WHERE id::text = $1")
            .bind(&id)
            .fetch_one(&mut pg)
            .await
            .unwrap();
    let pos: Vec<Option<(f64, f64)>> = ::redis::cmd("GEOPOS")
        .arg(format!("{p}geo:stores:{{{city}}}"))
        .arg(&id)
        .query_async(&mut r)
        .await
        .unwrap();
    let (glon, glat) = pos[0].expect("the outlet is in its city's geo set");
    assert!(
        (glon - lon).abs() < 1e-4 && (glat - lat).abs() < 1e-4,
        "{glon},{glat} vs {lon},{lat}"
    );

    // The keys conform to redis-layout.toml.
    let checked = s.json(&["validate", "--only", "pg,redis"], 0);
    assert_eq!(
        (checked["errors"].as_u64(), checked["warnings"].as_u64()),
        (Some(0), Some(0)),
        "{checked:#}"
    );
}

/// The derived keys under the test's prefix (geo sets and the lifetime
/// leaderboard) with their members and scores, sorted: what a rebuild must give back.
async fn derived_keys(s: &Stores) -> Vec<(String, Vec<(String, String)>)> {
    let mut r = s.redis().await;
    let p = &s.redis_prefix;
    let mut keys: Vec<String> = redis_keys(&mut s.redis_store().await, &format!("{p}geo:stores:"))
        .await
        .into_iter()
        .filter(|k| !k.ends_with(":rez-db-rebuild"))
        .collect();
    keys.push(format!("{p}leaderboard:{{rez_coins}}:lifetime"));
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let members: Vec<(String, String)> = ::redis::cmd("ZRANGE")
            .arg(&key)
            .arg(0)
            .arg(-1)
            .arg("WITHSCORES")
            .query_async(&mut r)
            .await
            .unwrap();
        out.push((key, members));
    }
    out
}

/// The violations of check `id` in a validate report: (count, entities shown).
fn violations(report: &serde_json::Value, id: &str) -> (u64, Vec<String>) {
    let check = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {report:#}"));
    let shown = check["shown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            format!(
                "{} | {}",
                v["entity"].as_str().unwrap(),
                v["actual"].as_str().unwrap()
            )
        })
        .collect();
    (check["violations"].as_u64().unwrap(), shown)
}

async fn a_seed_whose_redis_part_did_not_happen_is_found_by_validate_and_finished_by_redis_only(
    kind: RedisKind,
) {
    let mut s = Stores::on("seed_redis_lost", kind).await;
    s.db = Some(TestDb::migrated("seed_redis_lost").await);
    s.json(
        &["seed", "--synthetic", "--scale", "120", "--rng-seed", "5"],
        0,
    );
    let seeded = derived_keys(&s).await;
    let cities = seeded.len() - 1;
    assert!(cities > 1, "{seeded:?}");

    // A seed killed (or whose Redis failed) after the PostgreSQL commit: the
    // rows are there, none of the derived keys.
    let mut r = s.redis().await;
    let keys: Vec<String> = seeded.iter().map(|(k, _)| k.clone()).collect();
    redis_del(&mut s.redis_store().await, &keys).await;
    let lost = s.json(&["validate", "--only", "pg,redis"], 0);
    assert_eq!(lost["errors"], 0, "{lost:#}");
    let (geo, shown) = violations(&lost, "redis.geo_sets");
    assert_eq!(
        geo as usize, cities,
        "one per city without its geo set: {shown:?}"
    );
    assert!(shown.iter().all(|v| v.contains("no such key")), "{shown:?}");
    let (board, shown) = violations(&lost, "redis.leaderboard");
    assert_eq!(board, 1, "{shown:?}");
    assert_eq!(lost["warnings"].as_u64(), Some(geo + board), "{lost:#}");

    // The way back: rebuilt from the committed database, exactly as the seed wrote it.
    let rebuilt = s.json(&["seed", "--redis-only"], 0);
    let written = rebuilt["redis"].as_array().expect("the keys written");
    assert_eq!(written.len(), seeded.len(), "{rebuilt:#}");
    for (key, members) in &seeded {
        assert!(
            written
                .iter()
                .any(|w| w["key"] == key.as_str() && w["members"] == members.len()),
            "{key} with {} members in {rebuilt:#}",
            members.len()
        );
    }
    assert_eq!(derived_keys(&s).await, seeded);
    let clean = s.json(&["validate", "--only", "pg,redis"], 0);
    assert_eq!(
        (clean["errors"].as_u64(), clean["warnings"].as_u64()),
        (Some(0), Some(0)),
        "{clean:#}"
    );

    // Partial damage is named member by member: a missing and an extra outlet,
    // a wrong score and a member that is no wallet's.
    let (geo_key, outlets) = &seeded[0];
    let (board_key, earners) = seeded.last().unwrap();
    let gone = &outlets[0].0;
    let _: () = r.zrem(geo_key, gone).await.unwrap();
    let _: () = r.zadd(geo_key, "no-such-outlet", 1).await.unwrap();
    let (user, coins) = &earners[0];
    let wrong = coins.parse::<i64>().unwrap() + 1;
    let _: () = r.zadd(board_key, user, wrong).await.unwrap();
    let _: () = r.zadd(board_key, "no-such-user", 5).await.unwrap();
    let damaged = s.json(&["validate", "--only", "pg,redis"], 0);
    let (n, shown) = violations(&damaged, "redis.geo_sets");
    assert_eq!(n, 2, "{shown:?}");
    assert!(
        shown.contains(&format!("{geo_key} {gone} | missing")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|v| v.starts_with(&format!("{geo_key} no-such-outlet | extra"))),
        "{shown:?}"
    );
    let (n, shown) = violations(&damaged, "redis.leaderboard");
    assert_eq!(n, 2, "{shown:?}");
    assert!(
        shown.contains(&format!("{board_key} {user} | score {wrong}")),
        "{shown:?}"
    );
    assert!(
        shown
            .iter()
            .any(|v| v.starts_with(&format!("{board_key} no-such-user | extra"))),
        "{shown:?}"
    );

    // A second rebuild repairs it and is idempotent.
    s.json(&["seed", "--redis-only"], 0);
    s.json(&["seed", "--redis-only"], 0);
    assert_eq!(derived_keys(&s).await, seeded);
}

/// A Redis user that may take rez-db's lease but only read the derived keys:
/// Redis fails for the seed only once PostgreSQL has committed.
struct ReadOnlyRedisUser {
    name: String,
}

impl ReadOnlyRedisUser {
    async fn create(s: &Stores) -> ReadOnlyRedisUser {
        let name = format!("rez_test_{}", s.redis_prefix.trim_end_matches(':'));
        let mut r = s.redis().await;
        let _: () = ::redis::cmd("ACL")
            .arg("SETUSER")
            .arg(&name)
            .arg("reset")
            .arg("on")
            .arg(">s3cret-pw")
            .arg(format!("~{}rez-db:lock:*", s.redis_prefix))
            .arg(format!("%R~{}*", s.redis_prefix))
            .arg("+@all")
            .query_async(&mut r)
            .await
            .unwrap();
        ReadOnlyRedisUser { name }
    }

    fn url(&self) -> String {
        let mut url = url::Url::parse(&crate::support::redis_url()).unwrap();
        url.set_username(&self.name).unwrap();
        url.set_password(Some("s3cret-pw")).unwrap();
        url.to_string()
    }
}

impl Drop for ReadOnlyRedisUser {
    fn drop(&mut self) {
        let name = self.name.clone();
        std::thread::spawn(move || {
            if let Ok(client) = ::redis::Client::open(crate::support::redis_url()) {
                if let Ok(mut conn) = client.get_connection() {
                    let _: Result<(), _> = ::redis::cmd("ACL")
                        .arg("DELUSER")
                        .arg(&name)
                        .query(&mut conn);
                }
            }
        })
        .join()
        .unwrap();
    }
}

#[tokio::test]
async fn a_seed_whose_redis_fails_after_the_commit_says_to_run_seed_redis_only() {
    let mut s = Stores::new("seed_redis_fail").await;
    s.db = Some(TestDb::migrated("seed_redis_fail").await);
    let user = ReadOnlyRedisUser::create(&s).await;
    let out = s
        .rez(&["seed", "--synthetic", "--scale", "60", "--rng-seed", "3"])
        .env("REDIS_URL", user.url())
        .output()
        .unwrap();
    drop(user);
    let err = crate::common::stderr(&out);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("rez-db seed --redis-only"), "{err}");
    assert!(err.contains("committed"), "{err}");
    // Every derived key is named as not written (the first pipeline failed).
    assert!(err.contains("key(s) not written: "), "{err}");
    assert!(
        err.contains(&format!(
            "{}leaderboard:{{rez_coins}}:lifetime",
            s.redis_prefix
        )),
        "{err}"
    );
    assert!(!err.contains("s3cret-pw"), "{err}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut s.db.as_ref().unwrap().conn().await)
        .await
        .unwrap();
    assert_eq!(users, 60, "PostgreSQL kept the committed dataset");

    // What the message says to run finishes the job.
    s.json(&["seed", "--redis-only"], 0);
    let checked = s.json(&["validate", "--only", "pg,redis"], 0);
    assert_eq!(
        (checked["errors"].as_u64(), checked["warnings"].as_u64()),
        (Some(0), Some(0)),
        "{checked:#}"
    );
}
