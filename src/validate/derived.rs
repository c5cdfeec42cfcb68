//! `redis.geo_sets` and `redis.leaderboard`: the Redis structures rez-db
//! derives from PostgreSQL (`crate::seed::derived`, whose queries and key
//! names these checks reuse) against the database. A seed killed, or whose
//! Redis failed, after its commit leaves them missing; `seed --redis-only`
//! rebuilds them, which a violation names through `Remedy::RebuildDerived`.
//!
//! Memory stays bounded whatever the data's size: rows stream from
//! PostgreSQL and are compared in batches of [`CHUNK`] with one pipelined
//! `ZMSCORE` each; members the database does not account for are counted
//! (`ZCARD` minus the members found) and, only when there are some, found
//! with `ZSCAN` in batches looked up in PostgreSQL. Scores are compared as
//! integers, exactly: `ZMSCORE` answers a score as text, parsed as an
//! integer, never through a float. Geo members are compared, not their
//! positions (floats by nature).

use std::collections::{HashMap, HashSet};

use futures_util::TryStreamExt;
use sqlx::postgres::PgConnection;

use super::{Tally, Violation};
use crate::error::{CommandError, Remedy};
use crate::secret::RedactedUrl;
use crate::seed::derived::{
    geo_key, leaderboard_key, ACTIVE_OUTLETS_AMONG, CHUNK, EARNERS, EARNERS_AMONG, OUTLETS_BY_CITY,
};
use crate::store::redis::Redis;

pub const CHECK_GEO: &str = "redis.geo_sets";
pub const CHECK_LEADERBOARD: &str = "redis.leaderboard";

/// Where the checks read, and how they name what they find.
pub struct Sources<'a> {
    pub pg: &'a mut PgConnection,
    pub pg_url: &'a RedactedUrl,
    pub redis: &'a mut Redis,
    /// The `table` of every violation (`redis:<url>`).
    pub table: String,
}

impl Sources<'_> {
    fn pg_err(&self) -> impl Fn(sqlx::Error) -> CommandError + '_ {
        |e| crate::store::pg::error(self.pg_url, e)
    }

    fn violation(&self, entity: String, expected: String, actual: String) -> Violation {
        Violation {
            table: self.table.clone(),
            entity,
            expected,
            actual,
            remedy: None,
        }
    }
}

/// A key's TYPE and, for a sorted set, its size.
async fn shape(redis: &mut Redis, key: &str) -> Result<(String, u64), CommandError> {
    let url = redis.url.clone();
    let key_type: String = ::redis::cmd("TYPE")
        .arg(key)
        .query_async(redis.connection())
        .await
        .map_err(|e| crate::store::redis::error(&url, e))?;
    if key_type != "zset" {
        return Ok((key_type, 0));
    }
    let size: u64 = ::redis::cmd("ZCARD")
        .arg(key)
        .query_async(redis.connection())
        .await
        .map_err(|e| crate::store::redis::error(&url, e))?;
    Ok((key_type, size))
}

/// The scores of `members` in `key` (as Redis writes them), `None` where absent.
async fn scores(
    redis: &mut Redis,
    key: &str,
    members: &[String],
) -> Result<Vec<Option<String>>, CommandError> {
    let url = redis.url.clone();
    ::redis::cmd("ZMSCORE")
        .arg(key)
        .arg(members)
        .query_async(redis.connection())
        .await
        .map_err(|e| crate::store::redis::error(&url, e))
}

/// One `ZSCAN` step of `key`: the next cursor and the members with their scores.
async fn scan(
    redis: &mut Redis,
    key: &str,
    cursor: u64,
) -> Result<(u64, Vec<(String, String)>), CommandError> {
    let url = redis.url.clone();
    let (next, flat): (u64, Vec<String>) = ::redis::cmd("ZSCAN")
        .arg(key)
        .arg(cursor)
        .arg("COUNT")
        .arg(CHUNK)
        .query_async(redis.connection())
        .await
        .map_err(|e| crate::store::redis::error(&url, e))?;
    let pairs = flat
        .chunks(2)
        .filter_map(|p| Some((p.first()?.clone(), p.get(1)?.clone())))
        .collect();
    Ok((next, pairs))
}

/// The members that parse as uuids (the ids of the tables derived from); the
/// others cannot be any row's.
fn uuids(members: &[(String, String)]) -> Vec<uuid::Uuid> {
    members
        .iter()
        .filter_map(|(m, _)| uuid::Uuid::parse_str(m).ok())
        .collect()
}

/// One city's geo set, as the outlets stream past.
struct City {
    name: String,
    key: String,
    key_type: String,
    size: u64,
    outlets: u64,
    found: u64,
    batch: Vec<String>,
}

/// Every city with active outlets has `geo:stores:{<city>}` holding exactly their ids.
pub async fn geo_sets(src: &mut Sources<'_>, tally: &mut Tally) -> Result<(), CommandError> {
    let prefix = src.redis.prefix().to_string();
    // Cities whose set holds members no outlet accounts for: (city, key, how many).
    let mut extras: Vec<(String, String, u64)> = Vec::new();
    let mut city: Option<City> = None;
    {
        let mut outlets =
            sqlx::query_as::<_, (String, f64, f64, String)>(OUTLETS_BY_CITY).fetch(&mut *src.pg);
        while let Some((name, _, _, id)) = outlets
            .try_next()
            .await
            .map_err(|e| crate::store::pg::error(src.pg_url, e))?
        {
            if city.as_ref().map(|c| &c.name) != Some(&name) {
                if let Some(done) = city.take() {
                    finish_city(src.redis, &src.table, done, tally, &mut extras).await?;
                }
                let key = geo_key(&prefix, &name);
                let (key_type, size) = shape(src.redis, &key).await?;
                city = Some(City {
                    name,
                    key,
                    key_type,
                    size,
                    outlets: 0,
                    found: 0,
                    batch: Vec::new(),
                });
            }
            let Some(c) = city.as_mut() else { continue };
            c.outlets += 1;
            if c.key_type == "zset" {
                c.batch.push(id);
                if c.batch.len() >= CHUNK {
                    compare_members(src.redis, &src.table, c, tally).await?;
                }
            }
        }
    }
    if let Some(done) = city.take() {
        finish_city(src.redis, &src.table, done, tally, &mut extras).await?;
    }
    for (name, key, count) in extras {
        let mut cursor = 0;
        let mut named = 0;
        loop {
            let (next, members) = scan(src.redis, &key, cursor).await?;
            let known: HashMap<String, String> =
                sqlx::query_as::<_, (String, String)>(ACTIVE_OUTLETS_AMONG)
                    .bind(uuids(&members))
                    .fetch_all(&mut *src.pg)
                    .await
                    .map_err(src.pg_err())?
                    .into_iter()
                    .collect();
            for (member, _) in members {
                let theirs = known.get(&member);
                if theirs == Some(&name) {
                    continue;
                }
                let actual = match theirs {
                    Some(elsewhere) => format!("extra: an outlet of {elsewhere}"),
                    None => "extra: no active outlet".to_string(),
                };
                tally.push(src.violation(
                    format!("{key} {member}"),
                    format!("only the active outlets of {name}"),
                    actual,
                ));
                named += 1;
            }
            cursor = next;
            if cursor == 0 || named >= count {
                break;
            }
        }
    }
    Ok(())
}

/// Looks up the batch of outlet ids in the city's set; absent ones are violations.
async fn compare_members(
    redis: &mut Redis,
    table: &str,
    city: &mut City,
    tally: &mut Tally,
) -> Result<(), CommandError> {
    if city.batch.is_empty() {
        return Ok(());
    }
    let batch = std::mem::take(&mut city.batch);
    for (id, score) in batch.iter().zip(scores(redis, &city.key, &batch).await?) {
        match score {
            Some(_) => city.found += 1,
            None => tally.push(Violation {
                table: table.to_string(),
                entity: format!("{} {id}", city.key),
                expected: format!("an active outlet of {}", city.name),
                actual: "missing".to_string(),
                remedy: None,
            }),
        }
    }
    Ok(())
}

async fn finish_city(
    redis: &mut Redis,
    table: &str,
    mut city: City,
    tally: &mut Tally,
    extras: &mut Vec<(String, String, u64)>,
) -> Result<(), CommandError> {
    if city.key_type != "zset" {
        let actual = match city.key_type.as_str() {
            "none" => "no such key".to_string(),
            other => format!("a {other}, not a geo set"),
        };
        tally.push(Violation {
            table: table.to_string(),
            entity: city.key.clone(),
            expected: format!(
                "a geo set of the {} active outlets of {}",
                city.outlets, city.name
            ),
            actual,
            remedy: Some(Remedy::RebuildDerived),
        });
        return Ok(());
    }
    compare_members(redis, table, &mut city, tally).await?;
    if city.size > city.found {
        extras.push((city.name, city.key, city.size - city.found));
    }
    Ok(())
}

/// `leaderboard:{rez_coins}:lifetime` holds every wallet that earned ReZ
/// coins, scored exactly by its lifetime earnings, and nothing else.
pub async fn leaderboard(src: &mut Sources<'_>, tally: &mut Tally) -> Result<(), CommandError> {
    let key = leaderboard_key(src.redis.prefix());
    let (key_type, size) = shape(src.redis, &key).await?;
    let mut earners = 0u64;
    let mut found = 0u64;
    {
        let mut rows = sqlx::query_as::<_, (String, i64)>(EARNERS).fetch(&mut *src.pg);
        let mut batch: Vec<(String, i64)> = Vec::with_capacity(CHUNK);
        loop {
            let row = rows
                .try_next()
                .await
                .map_err(|e| crate::store::pg::error(src.pg_url, e))?;
            let end = row.is_none();
            if let Some(r) = row {
                earners += 1;
                if key_type == "zset" {
                    batch.push(r);
                }
            }
            if batch.len() >= CHUNK || (end && !batch.is_empty()) {
                let members: Vec<String> = batch.iter().map(|(u, _)| u.clone()).collect();
                let got = scores(src.redis, &key, &members).await?;
                for ((user, coins), score) in batch.drain(..).zip(got) {
                    let actual = match score {
                        None => "missing".to_string(),
                        Some(s) if s.parse::<i64>() == Ok(coins) => {
                            found += 1;
                            continue;
                        }
                        Some(s) => {
                            found += 1;
                            format!("score {s}")
                        }
                    };
                    tally.push(Violation {
                        table: src.table.clone(),
                        entity: format!("{key} {user}"),
                        expected: format!("score {coins} (rez_coins_lifetime_earned)"),
                        actual,
                        remedy: None,
                    });
                }
            }
            if end {
                break;
            }
        }
    }
    if key_type != "zset" {
        if earners > 0 {
            let actual = match key_type.as_str() {
                "none" => "no such key".to_string(),
                other => format!("a {other}, not a sorted set"),
            };
            let mut found = src.violation(
                key.clone(),
                format!("{earners} members: every wallet that earned ReZ coins"),
                actual,
            );
            found.remedy = Some(Remedy::RebuildDerived);
            tally.push(found);
        }
        return Ok(());
    }
    let count = size.saturating_sub(found);
    let (mut cursor, mut named) = (0, 0);
    while named < count {
        let (next, members) = scan(src.redis, &key, cursor).await?;
        let known: HashSet<String> = sqlx::query_scalar::<_, String>(EARNERS_AMONG)
            .bind(uuids(&members))
            .fetch_all(&mut *src.pg)
            .await
            .map_err(src.pg_err())?
            .into_iter()
            .collect();
        for (member, score) in members {
            if known.contains(&member) {
                continue;
            }
            tally.push(src.violation(
                format!("{key} {member}"),
                "only wallets that earned ReZ coins".to_string(),
                format!("extra (score {score}): no such wallet"),
            ));
            named += 1;
        }
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    Ok(())
}
