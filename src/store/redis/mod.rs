//! Redis through the `redis` crate on tokio: connect (bounded by the configured
//! timeout), identify the server, and read keys for `validate` without ever
//! blocking the server: SCAN in small steps with a pause between them (never
//! KEYS, which walks the whole keyspace in one go), TYPE and TTL pipelined.
//!
//! Every key rez-db reads or writes carries the configured prefix; callers deal
//! in unprefixed names.

use std::time::Duration;

use ::redis::aio::MultiplexedConnection;
use ::redis::{AsyncCommands, ErrorKind as DriverKind, RedisError};
use serde::Serialize;

use crate::config::StoreKind;
use crate::error::{CommandError, ErrorKind, Remedy};
use crate::secret::RedactedUrl;

/// The hash that records which layout file a Redis was provisioned against.
pub const LAYOUT_KEY: &str = "rez-db:layout";

const UNREACHABLE_HINT: &str = "is the server running? `scripts/stack up` starts the local stack";

/// A connected Redis; a clone shares the multiplexed connection.
#[derive(Clone)]
pub struct Redis {
    pub url: RedactedUrl,
    prefix: String,
    conn: MultiplexedConnection,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub product: String,
    pub version: String,
    /// Keys in the selected database (all prefixes).
    pub keys: u64,
}

/// One sampled key: its name without the prefix, TYPE, and TTL in seconds (`None`: no expiry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyInfo {
    pub key: String,
    pub key_type: String,
    pub ttl: Option<u64>,
}

/// How hard a sample may press on the server.
#[derive(Debug, Clone, Copy)]
pub struct ScanBudget {
    /// Stop after this many keys.
    pub max_keys: usize,
    /// SCAN's COUNT hint per call.
    pub per_call: usize,
    /// Sleep between SCAN calls.
    pub pause: Duration,
}

impl Default for ScanBudget {
    fn default() -> Self {
        ScanBudget {
            max_keys: 10_000,
            per_call: 500,
            pause: Duration::from_millis(2),
        }
    }
}

pub async fn connect(
    url: &RedactedUrl,
    prefix: &str,
    timeout: Duration,
) -> Result<Redis, CommandError> {
    let client = ::redis::Client::open(url.expose()).map_err(|e| {
        CommandError::usage(url.scrub(&format!("invalid Redis URL {url}: {e}")))
            .with_hint("expected a URL like redis://:password@host:6379/0")
    })?;
    let conn = tokio::time::timeout(timeout, client.get_multiplexed_async_connection())
        .await
        .map_err(|_| {
            CommandError::new(
                ErrorKind::Unreachable,
                format!(
                    "Redis at {url} did not answer within {}s",
                    timeout.as_secs()
                ),
            )
            .with_hint(UNREACHABLE_HINT)
            .with_remedy(Remedy::Relocate(StoreKind::Redis))
        })?
        .map_err(|e| error(url, e))?;
    Ok(Redis {
        url: url.clone(),
        prefix: prefix.to_string(),
        conn,
    })
}

/// Turns a driver error into a command error with the right exit code.
pub fn error(url: &RedactedUrl, e: RedisError) -> CommandError {
    let text = shorten(url.scrub(&e.to_string()));
    if e.is_io_error() || e.is_connection_refusal() || e.is_timeout() || e.is_connection_dropped() {
        return CommandError::new(
            ErrorKind::Unreachable,
            format!("cannot reach Redis at {url}: {text}"),
        )
        .with_hint(UNREACHABLE_HINT)
        .with_remedy(Remedy::Relocate(StoreKind::Redis));
    }
    match e.kind() {
        DriverKind::AuthenticationFailed => {
            CommandError::usage(format!("Redis refused the credentials for {url}: {text}"))
                .with_hint("check the password in the URL (redis://:password@host:6379/0)")
        }
        _ => CommandError::failed(format!("Redis error on {url}: {text}")),
    }
}

impl Redis {
    fn err(&self, e: RedisError) -> CommandError {
        error(&self.url, e)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    pub async fn server_info(&mut self) -> Result<ServerInfo, CommandError> {
        let info: String = ::redis::cmd("INFO")
            .arg("server")
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.err(e))?;
        let field = |name: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("{name}:")))
                .map(|v| v.trim().to_string())
        };
        let keys: u64 = ::redis::cmd("DBSIZE")
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(ServerInfo {
            // Valkey answers with `server_name:valkey` beside a Redis-compatible version.
            product: field("server_name").unwrap_or_else(|| "redis".into()),
            version: field("valkey_version")
                .or_else(|| field("redis_version"))
                .unwrap_or_else(|| "unknown".into()),
            keys,
        })
    }

    /// Samples up to `budget.max_keys` keys under the prefix with SCAN, with their TYPE and TTL.
    pub async fn sample(&mut self, budget: ScanBudget) -> Result<Vec<KeyInfo>, CommandError> {
        let pattern = format!("{}*", crate::config::names::glob_literal(&self.prefix));
        let mut cursor: u64 = 0;
        let mut keys: Vec<String> = Vec::new();
        loop {
            let (next, batch): (u64, Vec<String>) = ::redis::cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(budget.per_call)
                .query_async(&mut self.conn)
                .await
                .map_err(|e| self.err(e))?;
            keys.extend(batch);
            cursor = next;
            if cursor == 0 || keys.len() >= budget.max_keys {
                break;
            }
            tokio::time::sleep(budget.pause).await;
        }
        keys.truncate(budget.max_keys);
        keys.sort();
        keys.dedup();
        let mut out = Vec::with_capacity(keys.len());
        for chunk in keys.chunks(budget.per_call.max(1)) {
            let mut pipe = ::redis::pipe();
            for k in chunk {
                pipe.cmd("TYPE").arg(k).cmd("TTL").arg(k);
            }
            let replies: Vec<::redis::Value> = pipe
                .query_async(&mut self.conn)
                .await
                .map_err(|e| self.err(e))?;
            for (k, pair) in chunk.iter().zip(replies.chunks(2)) {
                let key_type = match &pair[0] {
                    ::redis::Value::SimpleString(s) => s.clone(),
                    ::redis::Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                    other => format!("{other:?}"),
                };
                let ttl = match &pair[1] {
                    ::redis::Value::Int(n) if *n >= 0 => Some(*n as u64),
                    _ => None,
                };
                // A key that expired between SCAN and TYPE reads as "none": skip it.
                if key_type == "none" {
                    continue;
                }
                out.push(KeyInfo {
                    key: k[self.prefix.len()..].to_string(),
                    key_type,
                    ttl,
                });
            }
            tokio::time::sleep(budget.pause).await;
        }
        Ok(out)
    }

    /// Records the layout version (a hash at `rez-db:layout` under the prefix).
    pub async fn write_layout_marker(
        &mut self,
        version: u32,
        sha256: &str,
        applied_at: &str,
    ) -> Result<(), CommandError> {
        let key = format!("{}{LAYOUT_KEY}", self.prefix);
        let _: () = self
            .conn
            .hset_multiple(
                &key,
                &[
                    ("version", version.to_string()),
                    ("sha256", sha256.to_string()),
                    ("applied_at", applied_at.to_string()),
                ],
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// The recorded layout (version, sha256, applied_at), if any.
    pub async fn layout_marker(
        &mut self,
    ) -> Result<Option<(String, String, String)>, CommandError> {
        let key = format!("{}{LAYOUT_KEY}", self.prefix);
        let map: std::collections::HashMap<String, String> =
            self.conn.hgetall(&key).await.map_err(|e| self.err(e))?;
        Ok((!map.is_empty()).then(|| {
            let get = |k: &str| map.get(k).cloned().unwrap_or_default();
            (get("version"), get("sha256"), get("applied_at"))
        }))
    }

    /// Takes each of `keys` for `ttl_ms` if nobody holds it (`SET key token NX
    /// PX ttl`), all in one pipeline: one round trip for a whole batch. Returns,
    /// key by key, whether this call took it.
    pub async fn try_lock_all(
        &mut self,
        keys: &[String],
        token: &str,
        ttl_ms: u64,
    ) -> Result<Vec<bool>, CommandError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut pipe = ::redis::pipe();
        for key in keys {
            pipe.cmd("SET")
                .arg(key)
                .arg(token)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms);
        }
        let replies: Vec<Option<String>> = pipe
            .query_async(&mut self.conn)
            .await
            .map_err(|e| self.err(e))?;
        Ok(replies.into_iter().map(|r| r.is_some()).collect())
    }

    /// Releases each of `keys` only if it still holds `token` (a lock that
    /// expired and was taken by someone else is left alone), in one pipeline.
    pub async fn unlock_all(&mut self, keys: &[String], token: &str) -> Result<(), CommandError> {
        const COMPARE_AND_DELETE: &str =
            "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";
        if keys.is_empty() {
            return Ok(());
        }
        let mut pipe = ::redis::pipe();
        for key in keys {
            pipe.cmd("EVAL")
                .arg(COMPARE_AND_DELETE)
                .arg(1)
                .arg(key)
                .arg(token)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.conn)
            .await
            .map_err(|e| self.err(e))
    }

    /// Sends a pipeline of writes (seed's derived structures).
    pub async fn run(&mut self, pipeline: &mut ::redis::Pipeline) -> Result<(), CommandError> {
        pipeline
            .query_async::<()>(&mut self.conn)
            .await
            .map_err(|e| self.err(e))
    }

    /// The raw connection, for writers (seed) and tests.
    pub fn connection(&mut self) -> &mut MultiplexedConnection {
        &mut self.conn
    }
}

/// A failed pipeline lists every failed command (a thousand alike for one
/// cause): the first few say it.
fn shorten(text: String) -> String {
    const MAX: usize = 400;
    if text.len() <= MAX {
        return text;
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{} ... ({} more bytes)", &text[..end], text.len() - end)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_long_pipeline_failure_is_cut_on_a_character_boundary() {
        let text = format!("{}é{}", "x".repeat(399), "y".repeat(1000));
        let short = super::shorten(text);
        assert!(short.starts_with(&"x".repeat(399)), "{short}");
        assert!(short.ends_with("(1002 more bytes)"), "{short}");
        assert_eq!(super::shorten("short".into()), "short");
    }
}
