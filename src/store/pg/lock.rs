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
/// First half of the key of a lock on a database's NAME ("REZN"), taken in
/// the maintenance database by work that drops and recreates that database
/// (`restore`): a lock inside the database would go with it.
const NAME_CLASS: i32 = 0x5245_5a4e;

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
    let what = format!("the {} lock on {url}", scope.name());
    poll(conn, url, (LOCK_CLASS, scope as i32), &what, wait).await
}

/// Takes the lock on the NAME of database `name`, on a connection to the
/// maintenance database (any database but `name`), waiting up to `wait`;
/// exit 4 past that. Released like the others, with the connection.
pub async fn acquire_database_name(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    name: &str,
    wait: Duration,
) -> Result<(), CommandError> {
    let what = format!("the restore lock on database `{name}` ({url})");
    poll(conn, url, (NAME_CLASS, name_key(name)), &what, wait).await
}

/// A database name's half of the key: the first four bytes of its SHA-256,
/// stable across PostgreSQL versions (unlike `hashtext`). Two names sharing
/// it only ever make one run wait for the other.
fn name_key(name: &str) -> i32 {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(name.as_bytes());
    i32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

async fn poll(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    key: (i32, i32),
    what: &str,
    wait: Duration,
) -> Result<(), CommandError> {
    let deadline = Instant::now() + wait;
    let mut announced = false;
    loop {
        let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(key.0)
            .bind(key.1)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| super::error(url, e))?;
        if got {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let holder = holder(conn, key).await.unwrap_or(None);
            let who = holder
                .map(|(pid, app)| format!(" (backend pid {pid}, application `{app}`)"))
                .unwrap_or_default();
            return Err(CommandError::new(
                ErrorKind::LockHeld,
                format!("another rez-db run holds {what}{who}"),
            )
            .with_hint("wait for it to finish, or pass --lock-wait SECONDS to wait for it"));
        }
        if !announced {
            tracing::info!(
                "waiting up to {}s for another rez-db run to release {what}",
                wait.as_secs(),
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
    key: (i32, i32),
) -> Result<Option<(i32, String)>, sqlx::Error> {
    // For the two-key form, classid holds the first key and objid the second.
    sqlx::query_as(
        "SELECT l.pid, coalesce(a.application_name, '') FROM pg_locks l \
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 2 LIMIT 1",
    )
    // oids are unsigned: a negative key half shows as its u32 value.
    .bind(key.0 as u32 as i64)
    .bind(key.1 as u32 as i64)
    .fetch_optional(conn)
    .await
}
