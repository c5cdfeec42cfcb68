//! `seed --synthetic` derives the Redis structures of the layout from what it
//! loaded: a geo set per city of the outlets and the lifetime ReZ-coin
//! leaderboard, exactly, and `validate` finds them conforming.

use ::redis::AsyncCommands;
use sqlx::Row;

use crate::common::TestDb;
use crate::support::Stores;

#[tokio::test]
async fn synthetic_seed_fills_geo_sets_and_the_leaderboard() {
    let mut s = Stores::new("seed_redis").await;
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
