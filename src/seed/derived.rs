//! What `seed` derives in Redis from the PostgreSQL data it just loaded:
//! `geo:stores:{<city>}` from merchant_outlets and the lifetime ReZ-coin
//! leaderboard `leaderboard:{rez_coins}:lifetime` from the wallets' ledger
//! totals, with the key names of redis-layout.toml. Written through pipelines
//! in chunks; each key is rebuilt (deleted, then filled), so a rerun leaves
//! the same keys. Coordinates go to GEOADD as floats: they are positions,
//! not money.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::postgres::PgConnection;

use crate::error::{CommandError, Result};
use crate::store::redis::Redis;

/// Members per pipeline.
const CHUNK: usize = 1_000;

/// One Redis structure that seed filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Filled {
    pub key: String,
    pub members: u64,
}

/// The geo set of a city: the city as written, lower-cased, inside the hash tag.
pub fn geo_key(prefix: &str, city: &str) -> String {
    format!("{prefix}geo:stores:{{{}}}", city.trim().to_lowercase())
}

/// The lifetime leaderboard of ReZ coins earned.
pub fn leaderboard_key(prefix: &str) -> String {
    format!("{prefix}leaderboard:{{rez_coins}}:lifetime")
}

pub async fn fill_redis(
    pg: &mut PgConnection,
    redis: &mut Redis,
    pg_err: impl Fn(sqlx::Error) -> CommandError,
) -> Result<Vec<Filled>> {
    let prefix = redis.prefix().to_string();
    let mut filled: Vec<Filled> = Vec::new();

    // Outlets, grouped by city so each geo set is rebuilt once.
    let mut outlets = sqlx::query_as::<_, (String, f64, f64, String)>(
        "SELECT city, longitude::float8, latitude::float8, id::text FROM merchant_outlets \
         WHERE coalesce(is_active, true) ORDER BY lower(trim(city)), id",
    )
    .fetch(&mut *pg);
    let mut batch = ::redis::pipe();
    let mut in_batch = 0;
    while let Some((city, longitude, latitude, id)) = outlets.try_next().await.map_err(&pg_err)? {
        let key = geo_key(&prefix, &city);
        if filled.last().map(|f| &f.key) != Some(&key) {
            batch.del(&key).ignore();
            filled.push(Filled {
                key: key.clone(),
                members: 0,
            });
        }
        batch
            .cmd("GEOADD")
            .arg(&key)
            .arg(longitude)
            .arg(latitude)
            .arg(id)
            .ignore();
        filled.last_mut().expect("pushed above").members += 1;
        in_batch += 1;
        if in_batch == CHUNK {
            redis.run(&mut batch).await?;
            batch = ::redis::pipe();
            in_batch = 0;
        }
    }
    drop(outlets);

    let board = leaderboard_key(&prefix);
    batch.del(&board).ignore();
    let mut members = 0;
    let mut earners = sqlx::query_as::<_, (String, i64)>(
        "SELECT user_id::text, rez_coins_lifetime_earned::bigint FROM wallets \
         WHERE rez_coins_lifetime_earned > 0 ORDER BY user_id",
    )
    .fetch(&mut *pg);
    while let Some((user, coins)) = earners.try_next().await.map_err(&pg_err)? {
        batch.cmd("ZADD").arg(&board).arg(coins).arg(user).ignore();
        members += 1;
        in_batch += 1;
        if in_batch == CHUNK {
            redis.run(&mut batch).await?;
            batch = ::redis::pipe();
            in_batch = 0;
        }
    }
    redis.run(&mut batch).await?;
    filled.push(Filled {
        key: board,
        members,
    });
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_layout_and_tag_by_city() {
        assert_eq!(geo_key("", " Mumbai "), "geo:stores:{mumbai}");
        assert_eq!(geo_key("t1:", "New Delhi"), "t1:geo:stores:{new delhi}");
        assert_eq!(leaderboard_key(""), "leaderboard:{rez_coins}:lifetime");
    }
}
