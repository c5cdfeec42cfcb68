//! The run locks: which rez-db commands may run at the same time on one
//! database, and which wait for each other (or exit 4).
//!
//! Session-level advisory locks, so a lock is released when its connection
//! ends however the process ends (even `kill -9`): there is never a stale
//! lock file to clean up. We poll `pg_try_advisory_lock` (or its `_shared`
//! form) instead of blocking, so that the wait is bounded by `--lock-wait`
//! and every holder can be named in the message.
//!
//! A scope names what a lock protects; commands that must not overlap take
//! the same scope, in conflicting modes. Shared holders exclude exclusive
//! ones but not each other (two backups run together).
//!
//! | scope | exclusive | shared |
//! |---|---|---|
//! | schema | migrate, partition-rotate, audit enable/disable | |
//! | data | seed, import-csv, restore (in the target) | backup (while pg_dump runs) |
//! | partitions | partition-rotate, restore (in the target) | import-csv of orders / wallet_transactions, seed --synthetic, backup |
//! | expiry | expire-coins | |
//! | search | reindex-es | |
//! | a database's name (in `postgres`) | restore | |
//!
//! Why these. `data`: seed and import-csv set an empty table's indexes and
//! keys aside and build them again before their commit; pg_dump, which
//! locks every table at its start and reads the catalog as of its snapshot,
//! then fails ("cache lookup failed for index", "could not obtain lock"), so
//! a backup takes `data` shared. `partitions`: rotation creates partitions,
//! moves rows out of DEFAULT, detaches and drops old ones; an import of a
//! partitioned table first creates the partitions its rows need (committed),
//! then loads them, and a rotation in between detaches what the import just
//! made, so its rows land in DEFAULT (or it re-creates what rotation just
//! archived and dropped). Both hold the lock for their whole run. It is a
//! scope of its own, not `schema`: an import may run for an hour, and a
//! `migrate` (or an import of users) has no reason to wait for it. A backup
//! takes it shared too: pg_dump holds ACCESS SHARE on every table until it
//! ends, so a rotation's DETACH would queue behind it, stalling every query
//! of the application on that table for `lock_timeout` per attempt, and
//! then fail; now it exits 4 at once (or waits with `--lock-wait`). Locks
//! are always taken in the same order (name, data, schema, partitions), so
//! two runs never wait for each other in a circle.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnection;

use crate::error::{CommandError, ErrorKind, Remedy};
use crate::secret::RedactedUrl;

use super::Pg;

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
    /// The set of partitions of orders, wallet_transactions and audit_log:
    /// changed by partition-rotate (exclusive), relied on by the loads into
    /// them and by backup (shared).
    Partitions = 5,
}

impl LockScope {
    fn name(self) -> &'static str {
        match self {
            LockScope::Schema => "schema",
            LockScope::Data => "data",
            LockScope::Expiry => "expiry",
            LockScope::Search => "search",
            LockScope::Partitions => "partitions",
        }
    }
}

/// How a lock is held: shared holders exclude exclusive ones, not each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Exclusive,
    Shared,
}

impl Mode {
    /// PostgreSQL's name of the mode in `pg_locks.mode`.
    fn pg_locks_mode(self) -> &'static str {
        match self {
            Mode::Exclusive => "ExclusiveLock",
            Mode::Shared => "ShareLock",
        }
    }

    fn suffix(self) -> &'static str {
        match self {
            Mode::Exclusive => "",
            Mode::Shared => "_shared",
        }
    }
}

/// The shortest wait for a lock, whatever `--lock-wait` says. A session
/// lock is released when its backend exits, and a backend exits a moment
/// after its client closed the connection: a command started right after
/// another one ended (a cron script's next line) could otherwise find the
/// previous run's lock still there and exit 4 for nothing.
const RELEASE_GRACE: Duration = Duration::from_secs(1);

const POLL: Duration = Duration::from_millis(200);

/// Takes the `scope` lock exclusively on the connection's database, waiting
/// up to `wait`. Another holder past that gives exit 4, naming every holder.
pub async fn acquire(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    scope: LockScope,
    wait: Duration,
) -> Result<(), CommandError> {
    acquire_in(conn, url, scope, Mode::Exclusive, wait).await
}

/// Takes the `scope` lock in `mode` on the connection's database, waiting up
/// to `wait` for conflicting holders; exit 4 past that, naming them.
pub async fn acquire_in(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    scope: LockScope,
    mode: Mode,
    wait: Duration,
) -> Result<(), CommandError> {
    let what = format!("the {} lock on {url}", scope.name());
    poll(conn, url, (LOCK_CLASS, scope as i32), mode, &what, wait).await
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
    let key = (NAME_CLASS, name_key(name));
    poll(conn, url, key, Mode::Exclusive, &what, wait).await
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
    mode: Mode,
    what: &str,
    wait: Duration,
) -> Result<(), CommandError> {
    let deadline = Instant::now() + wait.max(RELEASE_GRACE);
    let mut announced = false;
    let sql = format!("SELECT pg_try_advisory_lock{}($1, $2)", mode.suffix());
    loop {
        let got: bool = sqlx::query_scalar(&sql)
            .bind(key.0)
            .bind(key.1)
            .fetch_one(&mut *conn)
            .await
            .map_err(|e| super::error(url, e))?;
        if got {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let holders = holders(conn, key).await.unwrap_or_default();
            return Err(CommandError::new(
                ErrorKind::LockHeld,
                format!("another rez-db run holds {what}{}", describe(&holders)),
            )
            .with_hint("wait for it to finish")
            .with_remedy(Remedy::LockWait));
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

/// The way a mutating operation starts work on `conn`, a session of `pg`:
/// take the `scope` lock (waiting up to `wait`, else exit 4), then set the
/// DDL timeouts of `pg`.
pub async fn hold(
    conn: &mut PgConnection,
    pg: &Pg,
    scope: LockScope,
    wait: Duration,
) -> Result<(), CommandError> {
    acquire(conn, &pg.url, scope, wait).await?;
    super::set_ddl_timeouts(conn, pg.lock_timeout, pg.statement_timeout)
        .await
        .map_err(|e| pg.error(e))
}

/// Releases the exclusive lock early; closing the connection releases it too.
pub async fn release(conn: &mut PgConnection, scope: LockScope) -> Result<(), sqlx::Error> {
    release_in(conn, scope, Mode::Exclusive).await
}

/// Releases the lock held in `mode` early.
pub async fn release_in(
    conn: &mut PgConnection,
    scope: LockScope,
    mode: Mode,
) -> Result<(), sqlx::Error> {
    sqlx::query(&format!(
        "SELECT pg_advisory_unlock{}($1, $2)",
        mode.suffix()
    ))
    .bind(LOCK_CLASS)
    .bind(scope as i32)
    .execute(conn)
    .await
    .map(|_| ())
}

/// One session holding a lock: backend pid, application name, mode.
#[derive(Debug, Clone, PartialEq)]
struct Holder {
    pid: i32,
    application: String,
    mode: Mode,
}

/// ` (backend pid 1, application `rez-db`, shared; backend pid 2, ...)`.
fn describe(holders: &[Holder]) -> String {
    if holders.is_empty() {
        return String::new();
    }
    let each: Vec<String> = holders
        .iter()
        .map(|h| {
            let mode = match h.mode {
                Mode::Exclusive => "exclusive",
                Mode::Shared => "shared",
            };
            format!(
                "backend pid {}, application `{}`, {mode}",
                h.pid, h.application
            )
        })
        .collect();
    format!(" ({})", each.join("; "))
}

/// Every session holding the lock `key` (shared locks have several), by pid.
async fn holders(conn: &mut PgConnection, key: (i32, i32)) -> Result<Vec<Holder>, sqlx::Error> {
    // For the two-key form, classid holds the first key and objid the second.
    let rows: Vec<(i32, String, String)> = sqlx::query_as(
        "SELECT l.pid, coalesce(a.application_name, ''), l.mode FROM pg_locks l \
         LEFT JOIN pg_stat_activity a ON a.pid = l.pid \
         WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
           AND l.classid::bigint = $1 AND l.objid::bigint = $2 AND l.objsubid = 2 \
           AND l.pid <> pg_backend_pid() ORDER BY l.pid",
    )
    // oids are unsigned: a negative key half shows as its u32 value.
    .bind(key.0 as u32 as i64)
    .bind(key.1 as u32 as i64)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(pid, application, mode)| Holder {
            pid,
            application,
            mode: match mode == Mode::Shared.pg_locks_mode() {
                true => Mode::Shared,
                false => Mode::Exclusive,
            },
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_holder_is_named_with_its_mode() {
        assert_eq!(describe(&[]), "");
        let holders = [
            Holder {
                pid: 17,
                application: "rez-db".into(),
                mode: Mode::Shared,
            },
            Holder {
                pid: 18,
                application: String::new(),
                mode: Mode::Shared,
            },
        ];
        assert_eq!(
            describe(&holders),
            " (backend pid 17, application `rez-db`, shared; backend pid 18, application ``, shared)"
        );
    }
}
