//! The Redis lease: the key `<prefix>rez-db:lock:<scope>`, whose value is the
//! holder as JSON, and whose expiry is Redis's own (`PX`): a killed holder's
//! key disappears by itself. Renewal and release compare the whole value
//! first, in one script each, so they never touch another run's lease.

use std::time::Duration;

use super::{Attempt, Holder, Scope, TTL};
use crate::error::CommandError;
use crate::store::redis::Redis;

/// Under the prefix, beside `rez-db:layout`; declared in redis-layout.toml.
pub const KEY_STEM: &str = "rez-db:lock:";

const RENEW: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end";
const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then \
     return redis.call('DEL', KEYS[1]) else return 0 end";

#[derive(Clone)]
pub struct Place {
    redis: Redis,
    key: String,
}

impl Place {
    pub fn new(redis: &Redis, scope: Scope) -> Place {
        Place {
            key: format!("{}{KEY_STEM}{}", redis.prefix(), scope.as_str()),
            redis: redis.clone(),
        }
    }

    pub fn describe(&self) -> String {
        format!("Redis {} (key `{}`)", self.redis.url, self.key)
    }

    fn value(holder: &Holder) -> String {
        serde_json::to_string(holder).unwrap_or_else(|_| holder.token.clone())
    }

    fn err(&self, e: ::redis::RedisError) -> CommandError {
        crate::store::redis::error(&self.redis.url, e)
    }

    pub async fn try_take(&self, holder: &Holder) -> Result<Attempt, CommandError> {
        let mut conn = self.redis.clone();
        let set: Option<String> = ::redis::cmd("SET")
            .arg(&self.key)
            .arg(Self::value(holder))
            .arg("NX")
            .arg("PX")
            .arg(TTL.as_millis() as u64)
            .query_async(conn.connection())
            .await
            .map_err(|e| self.err(e))?;
        if set.is_some() {
            return Ok(Attempt::Taken);
        }
        let (value, pttl): (Option<String>, i64) = ::redis::pipe()
            .cmd("GET")
            .arg(&self.key)
            .cmd("PTTL")
            .arg(&self.key)
            .query_async(conn.connection())
            .await
            .map_err(|e| self.err(e))?;
        Ok(Attempt::Held(
            value.and_then(|v| serde_json::from_str(&v).ok()),
            u64::try_from(pttl).ok().map(Duration::from_millis),
        ))
    }

    pub async fn renew(&self, holder: &Holder) -> Result<bool, CommandError> {
        let mut conn = self.redis.clone();
        let renewed: i64 = ::redis::cmd("EVAL")
            .arg(RENEW)
            .arg(1)
            .arg(&self.key)
            .arg(Self::value(holder))
            .arg(TTL.as_millis() as u64)
            .query_async(conn.connection())
            .await
            .map_err(|e| self.err(e))?;
        Ok(renewed == 1)
    }

    pub async fn release(&self, holder: &Holder) -> Result<(), CommandError> {
        let mut conn = self.redis.clone();
        let _: i64 = ::redis::cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(&self.key)
            .arg(Self::value(holder))
            .query_async(conn.connection())
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }
}
