//! PostgreSQL: connections, the run lock, the migration history and the
//! provisioning of the database itself.
//!
//! Every connection is made through [`connect`], so that timeouts and error
//! messages are the same everywhere and no message ever shows a password.

pub mod archive;
pub mod audit;
pub mod bulk;
pub mod catalog;
pub mod copy;
pub mod copy_out;
pub mod history;
pub mod lock;
pub mod migrator;
pub mod oplog;
pub mod partitions;
pub mod promo;
pub mod provision;
pub mod reference;
pub mod rotate;
pub mod settings;
pub mod shadow;
pub mod snapshot;
pub mod tools;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{ConnectOptions, Connection};

use crate::config::StoreKind;
use crate::error::{CommandError, ErrorKind, Remedy};
use crate::secret::RedactedUrl;

/// SQLSTATEs we give a meaning to.
pub mod sqlstate {
    pub const INVALID_CATALOG_NAME: &str = "3D000";
    pub const INVALID_PASSWORD: &str = "28P01";
    pub const INVALID_AUTHORIZATION: &str = "28000";
    pub const LOCK_NOT_AVAILABLE: &str = "55P03";
    pub const QUERY_CANCELED: &str = "57014";
    pub const DUPLICATE_OBJECT: &str = "42710";
    pub const DUPLICATE_DATABASE: &str = "42P04";
    pub const UNIQUE_VIOLATION: &str = "23505";
}

/// Where a PostgreSQL database is and how its sessions run: the handle an
/// operation gets, from which it opens the connections it needs (a lock, a
/// snapshot, a COPY stream each hold a session of their own).
#[derive(Debug, Clone)]
pub struct Pg {
    pub url: RedactedUrl,
    /// How long to wait for the server to answer before exit 3.
    pub connect_timeout: Duration,
    /// `lock_timeout` for DDL (`set_ddl_timeouts`).
    pub lock_timeout: Duration,
    /// `statement_timeout` for DDL and maintenance statements.
    pub statement_timeout: Duration,
}

impl Pg {
    /// A new session on the database.
    pub async fn connect(&self) -> Result<PgConnection, CommandError> {
        connect(&self.url, self.connect_timeout).await
    }

    /// The same server's maintenance database (`postgres`), for creating and
    /// dropping this one.
    pub fn maintenance(&self) -> Pg {
        Pg {
            url: self.url.with_path("/postgres"),
            ..self.clone()
        }
    }

    /// A driver error on this database as a command error.
    pub fn error(&self, e: sqlx::Error) -> CommandError {
        error(&self.url, e)
    }
}

/// Opens one connection to `url`, giving up after `timeout` (exit 3).
pub async fn connect(url: &RedactedUrl, timeout: Duration) -> Result<PgConnection, CommandError> {
    let options = PgConnectOptions::from_str(url.expose())
        .map_err(|e| CommandError::usage(url.scrub(&format!("invalid PostgreSQL URL {url}: {e}"))))?
        .application_name("rez-db")
        // Our statements are few and DDL-heavy: a statement cache buys nothing.
        .statement_cache_capacity(0)
        .log_statements(log::LevelFilter::Debug)
        // DDL is slow by nature; sqlx's slow-statement warnings would be noise.
        .log_slow_statements(log::LevelFilter::Off, Duration::ZERO);
    match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
        Ok(result) => result.map_err(|e| error(url, e)),
        Err(_) => Err(CommandError::new(
            ErrorKind::Unreachable,
            format!(
                "PostgreSQL at {url} did not answer within {}s",
                timeout.as_secs()
            ),
        )
        .with_hint(UNREACHABLE_HINT)
        .with_remedy(Remedy::Relocate(StoreKind::Postgres))),
    }
}

const UNREACHABLE_HINT: &str = "is the server running? `scripts/stack up` starts the local stack";

/// The SQLSTATE of a database error, if `e` is one.
pub fn code(e: &sqlx::Error) -> Option<String> {
    e.as_database_error()
        .and_then(|d| d.code())
        .map(|c| c.into_owned())
}

/// Turns a driver error into a command error with the right exit code.
pub fn error(url: &RedactedUrl, e: sqlx::Error) -> CommandError {
    let database = url.database_name().unwrap_or_default();
    let err = match (&e, code(&e).as_deref()) {
        (sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolTimedOut, _) => {
            CommandError::new(
                ErrorKind::Unreachable,
                format!("cannot reach PostgreSQL at {url}: {e}"),
            )
            .with_hint(UNREACHABLE_HINT)
            .with_remedy(Remedy::Relocate(StoreKind::Postgres))
        }
        (_, Some(sqlstate::INVALID_CATALOG_NAME)) => {
            CommandError::usage(format!("database `{database}` does not exist on {url}"))
                .with_hint("create it with `rez-db create`")
        }
        (_, Some(sqlstate::INVALID_PASSWORD | sqlstate::INVALID_AUTHORIZATION)) => {
            CommandError::usage(format!("PostgreSQL refused the credentials for {url}: {e}"))
                .with_hint("check the user and password in the URL")
        }
        (_, Some(sqlstate::LOCK_NOT_AVAILABLE)) => CommandError::new(
            ErrorKind::LockHeld,
            format!("a table lock on {url} was not granted within lock_timeout: {e}"),
        )
        .with_hint(
            "another session holds a conflicting lock; retry later, or raise lock_timeout_ms",
        ),
        (_, Some(sqlstate::QUERY_CANCELED)) => CommandError::new(
            ErrorKind::Unreachable,
            format!("a statement on {url} ran past statement_timeout: {e}"),
        )
        .with_hint("raise statement_timeout_ms in rez-db.yaml if the work is legitimately long"),
        _ => CommandError::failed(format!("PostgreSQL error on {url}: {e}")),
    };
    CommandError {
        message: url.scrub(&err.message),
        ..err
    }
}

/// Sets the timeouts every DDL session runs under. `lock_timeout` matters most:
/// an ALTER waiting for a lock queues every later query on that table behind it,
/// so it must give up quickly rather than stall the application.
pub async fn set_ddl_timeouts(
    conn: &mut PgConnection,
    lock_timeout: Duration,
    statement_timeout: Duration,
) -> Result<(), sqlx::Error> {
    let sql = format!(
        "SET lock_timeout = {}; SET statement_timeout = {}",
        lock_timeout.as_millis(),
        statement_timeout.as_millis()
    );
    sqlx::raw_sql(&sql).execute(conn).await.map(|_| ())
}

/// Sets `name` to `value` until the transaction ends (`SET LOCAL`) and
/// returns the value it had, to put back with the same call where the new
/// value must not last that long.
pub async fn set_local(
    conn: &mut PgConnection,
    name: &str,
    value: &str,
) -> Result<String, sqlx::Error> {
    let previous: String = sqlx::query_scalar("SELECT current_setting($1)")
        .bind(name)
        .fetch_one(&mut *conn)
        .await?;
    sqlx::query("SELECT set_config($1, $2, true)")
        .bind(name)
        .bind(value)
        .execute(conn)
        .await?;
    Ok(previous)
}

/// Quotes an identifier for PostgreSQL (`"a""b"`), for names that come from users.
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_identifiers() {
        assert_eq!(quote_ident("rez"), "\"rez\"");
        assert_eq!(
            quote_ident("a\"; DROP TABLE x; --"),
            "\"a\"\"; DROP TABLE x; --\""
        );
    }
}
