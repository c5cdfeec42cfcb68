//! What rez-db derives in Redis from PostgreSQL: `geo:stores:{<city>}` from
//! the active merchant_outlets and the lifetime ReZ-coin leaderboard
//! `leaderboard:{rez_coins}:lifetime` from the wallets that earned coins, with
//! the key names of redis-layout.toml. Written once here, used by
//! `seed --synthetic` after its commit and by `seed --redis-only` (which
//! finishes a seed whose Redis part did not happen); `validate`
//! (`redis.geo_sets`, `redis.leaderboard`) compares Redis with the same
//! queries.
//!
//! Each pipeline holds the commands of one key and its staging key, which
//! share a hash tag: on a Redis Cluster every pipeline goes whole to the
//! slot's master.
//!
//! Each key is rebuilt under a staging key of the same hash tag
//! (`<key>:rez-db-rebuild`, expiring after an hour in case the run dies),
//! filled through pipelines in chunks, then renamed over the key in one
//! script: readers see the old set or the new one, never a half-filled one,
//! and a rerun writes the same keys. Coordinates go to GEOADD as floats: they
//! are positions, not money; scores are the integer coin counts.

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::postgres::PgConnection;

use crate::error::{CommandError, Result};
use crate::store::redis::Redis;

/// Members per pipeline (and per batch of the checks in `validate`).
pub const CHUNK: usize = 1_000;
/// A staging key left by a killed rebuild disappears after this long.
const STAGING_TTL_SECS: u64 = 3_600;

/// Active outlets by city (lowered and trimmed: the geo key's city), then id.
pub const OUTLETS_BY_CITY: &str =
    "SELECT lower(trim(city)), longitude::float8, latitude::float8, id::text \
     FROM merchant_outlets WHERE coalesce(is_active, true) ORDER BY 1, id";

/// Of the outlet ids `$1`, the active ones with their city (as above).
pub const ACTIVE_OUTLETS_AMONG: &str = "SELECT id::text, lower(trim(city)) FROM merchant_outlets \
     WHERE id = ANY($1) AND coalesce(is_active, true)";

/// The leaderboard's members and scores: every wallet that earned ReZ coins.
pub const EARNERS: &str = "SELECT user_id::text, rez_coins_lifetime_earned::bigint FROM wallets \
     WHERE rez_coins_lifetime_earned > 0 ORDER BY user_id";

/// Of the user ids `$1`, those whose wallet earned ReZ coins.
pub const EARNERS_AMONG: &str = "SELECT user_id::text FROM wallets \
     WHERE user_id = ANY($1) AND rez_coins_lifetime_earned > 0";

/// Renames the staging set over the key and drops the staging TTL, atomically.
const PUBLISH: &str = "redis.call('RENAME', KEYS[1], KEYS[2]) \
     redis.call('PERSIST', KEYS[2]) return 1";

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

/// Where a key is built before it replaces the key: same hash tag, same slot.
pub fn staging_key(key: &str) -> String {
    format!("{key}:rez-db-rebuild")
}

/// Every key [`fill_redis`] writes from the database `pg` is connected to,
/// in the order it writes them: so a failed fill can say which were not.
pub async fn planned_keys(
    pg: &mut PgConnection,
    prefix: &str,
    pg_err: impl Fn(sqlx::Error) -> CommandError,
) -> Result<Vec<String>> {
    let cities: Vec<String> = sqlx::query_scalar(CITIES)
        .fetch_all(&mut *pg)
        .await
        .map_err(pg_err)?;
    let mut keys: Vec<String> = cities.iter().map(|c| geo_key(prefix, c)).collect();
    keys.push(leaderboard_key(prefix));
    Ok(keys)
}

/// The cities of [`OUTLETS_BY_CITY`], once each, in its order.
const CITIES: &str = "SELECT DISTINCT lower(trim(city)) FROM merchant_outlets      WHERE coalesce(is_active, true) ORDER BY 1";

/// Rebuilds every derived key from the database `pg` is connected to; each
/// key written goes into `filled` as soon as it is in place, so after an
/// error `filled` holds exactly the keys that were.
pub async fn fill_redis(
    pg: &mut PgConnection,
    redis: &mut Redis,
    pg_err: impl Fn(sqlx::Error) -> CommandError,
    filled: &mut Vec<Filled>,
) -> Result<()> {
    let prefix = redis.prefix().to_string();
    let mut out = Staging::new(redis, filled);

    // Outlets come grouped by city, so each geo set is built once.
    let mut outlets =
        sqlx::query_as::<_, (String, f64, f64, String)>(OUTLETS_BY_CITY).fetch(&mut *pg);
    while let Some((city, longitude, latitude, id)) = outlets.try_next().await.map_err(&pg_err)? {
        let key = geo_key(&prefix, &city);
        if out.building() != Some(&key) {
            out.publish().await?;
            out.begin(key);
        }
        out.add(|pipe, staging| {
            pipe.cmd("GEOADD")
                .arg(staging)
                .arg(longitude)
                .arg(latitude)
                .arg(id)
                .ignore();
        })
        .await?;
    }
    drop(outlets);
    out.publish().await?;

    out.begin(leaderboard_key(&prefix));
    let mut earners = sqlx::query_as::<_, (String, i64)>(EARNERS).fetch(&mut *pg);
    while let Some((user, coins)) = earners.try_next().await.map_err(&pg_err)? {
        out.add(|pipe, staging| {
            pipe.cmd("ZADD").arg(staging).arg(coins).arg(user).ignore();
        })
        .await?;
    }
    out.publish().await?;
    Ok(())
}

/// The key being built and the pipeline that builds it.
struct Staging<'a> {
    redis: &'a mut Redis,
    pipe: ::redis::Pipeline,
    queued: usize,
    /// The key being built, with its staging key and members so far.
    current: Option<(String, String, u64)>,
    filled: &'a mut Vec<Filled>,
}

impl<'a> Staging<'a> {
    fn new(redis: &'a mut Redis, filled: &'a mut Vec<Filled>) -> Self {
        Staging {
            redis,
            pipe: ::redis::pipe(),
            queued: 0,
            current: None,
            filled,
        }
    }

    fn building(&self) -> Option<&String> {
        self.current.as_ref().map(|(key, _, _)| key)
    }

    /// Starts `key` from an empty staging key (a killed run may have left one).
    fn begin(&mut self, key: String) {
        let staging = staging_key(&key);
        self.pipe.del(&staging).ignore();
        self.current = Some((key, staging, 0));
    }

    /// Queues one member through `write(pipeline, staging key)`; sends a full pipeline.
    async fn add(&mut self, write: impl FnOnce(&mut ::redis::Pipeline, &str)) -> Result<()> {
        let Some((_, staging, members)) = self.current.as_mut() else {
            return Err(CommandError::bug("a derived member was added to no key"));
        };
        write(&mut self.pipe, staging);
        *members += 1;
        if *members == 1 {
            self.pipe
                .cmd("EXPIRE")
                .arg(&*staging)
                .arg(STAGING_TTL_SECS)
                .ignore();
        }
        self.queued += 1;
        if self.queued >= CHUNK {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<()> {
        let mut pipe = std::mem::replace(&mut self.pipe, ::redis::pipe());
        self.queued = 0;
        self.redis.run(&mut pipe).await
    }

    /// Puts the staging set in place of its key (or deletes the key when no
    /// member is left), and sends everything queued.
    async fn publish(&mut self) -> Result<()> {
        let Some((key, staging, members)) = self.current.take() else {
            return Ok(());
        };
        if members == 0 {
            self.pipe.del(&key).ignore();
        } else {
            self.pipe
                .cmd("EVAL")
                .arg(PUBLISH)
                .arg(2)
                .arg(&staging)
                .arg(&key)
                .ignore();
        }
        self.flush().await?;
        self.filled.push(Filled { key, members });
        Ok(())
    }
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

    #[test]
    fn a_staging_key_shares_its_keys_hash_tag() {
        let tag = |k: &str| k[k.find('{').unwrap()..=k.find('}').unwrap()].to_string();
        for key in [geo_key("p:", "Pune"), leaderboard_key("p:")] {
            assert_eq!(tag(&staging_key(&key)), tag(&key), "{key}");
            assert_ne!(staging_key(&key), key);
        }
    }
}
