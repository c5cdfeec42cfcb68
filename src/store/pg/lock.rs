//! The run lock: one mutating rez-db command per database at a time.
//!
//! A session-level advisory lock, so it is released when the connection ends
//! however the process ends (even `kill -9`): there is never a stale lock file
//! to clean up. We poll `pg_try_advisory_lock` instead of blocking in
//! `pg_advisory_lock`, so that the wait is bounded by `--lock-wait` and the
//! holder can be named in the message.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;

use crate::config::{Config, RedactedUrl};
use crate::error::{CommandError, ErrorKind};

/// First half of every rez-db advisory lock key: "REZD" in ASCII.
const LOCK_CLASS: i32 = 0x5245_5a44;

/// What a lock protects. Commands that must not overlap share a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockScope {
    /// Schema changes: migrate, partition maintenance.
    Schema = 1,
    /// Bulk data loads: seed (and later import-csv).
    Data = 2,
    /// Promo-coin expiry: one run at a time, alongside schema work.
    Expiry = 3,
    /// `reindex-es`: one rebuild of the search indices at a time.
    Search = 4,
}

impl LockScope {
    fn name(self) -> &'static str {
        match self {
            LockScope::Schema => "schema",
            LockScope::Data => "data",
            LockScope::Expiry => "expiry",
            LockScope::Search => "search",
        }
    }
}

const POLL: Duration = Duration::from_millis(200);

/// Takes the `scope` lock on the connection's database, waiting up to `wait`.
/// Another holder past that gives exit 4, naming its backend pid.
pub async fn acquire(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    scope: LockScope,
    wait: Duration,
) -> Result<(), CommandError> {
    let deadline = Instant::now() + wait;
    let mut announced = false;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_CLASS)
            .bind(scope as i32)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| super::error(url, e))?;
        if got {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let holder = holder(conn, scope).await.unwrap_or(None);
            let who = holder
                .map(|(pid, app)| format!(" (backend pid {pid}, application `{app}`)"))
                .unwrap_or_default();
            return Err(CommandError::new(
                ErrorKind::LockHeld,
                format!(
                    "another rez-db run holds the {} lock on {url}{who}",
                    scope.name()
                ),
            )
            .with_hint("wait for it to finish, or pass --lock-wait SECONDS to wait for it"));
        }
        if !announced {
            tracing::info!(
                "waiting up to {}s for another rez-db run to release the {} lock",
                wait.as_secs(),
                scope.name()
            );
            announced = true;
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The way a mutating command starts work on `conn`: take the `scope` lock
/// (waiting up to `lock_wait`, else exit 4), then set the DDL timeouts.
pub async fn hold(
    conn: &mut PgConnection,
    config: &Config,
    scope: LockScope,
) -> Result<(), CommandError> {
    let url = &config.database_url;
    acquire(conn, url, scope, config.lock_wait).await?;
    super::set_ddl_timeouts(conn, config.lock_timeout, config.statement_timeout)
        .await
        .map_err(|e| super::error(url, e))
}

/// Releases the lock early; closing the connection releases it too.
pub async fn release(conn: &mut PgConnection, scope: LockScope) -> Result<(), sqlx::Error> {
    sqlx::query("SELECT pg_advisory_unlock($1, $2)")
        .bind(LOCK_CLASS)
        .bind(scope as i32)
        .execute(conn)
        .await
        .map(|_| ())
}

async fn holder(
    conn: &mut PgConnection,
    scope: LockScope,
) -> Result<Option<(i32, String)>, sqlx::Error> {
    // For the two-key form, classid holds the first key and objid the second.
    sqlx::query_as(
        "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l \
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 2 LIMIT 1",
    )
    .bind(LOCK_CLASS as i64)
    .bind(scope as i64)
    .fetch_optional(conn)
    .await
}
