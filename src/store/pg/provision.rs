//! What must exist before migrations can run: the database, the extensions
//! and the cluster-wide roles the schema grants to. Needs a privileged user,
//! which is why it is `rez-db create` and not a migration.
//!
//! Every step is check-then-act and tolerant of a concurrent creator (CI
//! creates many databases at once on one cluster; roles are cluster-wide).

use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::{code, quote_ident, sqlstate};

/// Extensions the schema uses. Migration 0001 asserts the same list.
pub const EXTENSIONS: &[&str] = &["pgcrypto", "uuid-ossp", "pg_trgm", "postgis"];

/// NOLOGIN roles the schema grants to (reference, "Security Considerations").
pub const ROLES: &[&str] = &["app_user", "app_admin", "merchant_role"];

/// What happened (or would happen) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Exists,
    WouldCreate,
    Dropped,
    WouldDrop,
    Absent,
    /// The other stores (`crate::provision`): a changed definition applied in place.
    Updated,
    WouldUpdate,
    /// The server refused a declared object (e.g. a text index): reported, not fatal.
    Refused,
    /// The live object differs from its file; fixed only on request.
    Drift,
    /// Drift fixed by dropping and creating it again.
    Recreated,
    WouldRecreate,
    /// On the server but not in any file; left alone.
    Undeclared,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Exists => "exists",
            Action::WouldCreate => "would create",
            Action::Dropped => "dropped",
            Action::WouldDrop => "would drop",
            Action::Absent => "absent",
            Action::Updated => "updated",
            Action::WouldUpdate => "would update",
            Action::Refused => "refused",
            Action::Drift => "drift",
            Action::Recreated => "recreated",
            Action::WouldRecreate => "would recreate",
            Action::Undeclared => "not in file",
        }
    }
}

pub async fn database_exists(admin: &mut PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
        .bind(name)
        .fetch_one(admin)
        .await
}

/// Creates database `name` (UTF8, from template0) unless it exists.
pub async fn create_database(
    admin: &mut PgConnection,
    name: &str,
    dry_run: bool,
) -> Result<Action, sqlx::Error> {
    if database_exists(admin, name).await? {
        return Ok(Action::Exists);
    }
    if dry_run {
        return Ok(Action::WouldCreate);
    }
    let sql = format!(
        "CREATE DATABASE {} ENCODING 'UTF8' TEMPLATE template0",
        quote_ident(name)
    );
    match sqlx::raw_sql(&sql).execute(admin).await {
        Ok(_) => Ok(Action::Created),
        Err(e) if code(&e).as_deref() == Some(sqlstate::DUPLICATE_DATABASE) => Ok(Action::Exists),
        Err(e) => Err(e),
    }
}

/// Drops database `name`, ending its other sessions first.
pub async fn drop_database(
    admin: &mut PgConnection,
    name: &str,
    dry_run: bool,
) -> Result<Action, sqlx::Error> {
    if !database_exists(admin, name).await? {
        return Ok(Action::Absent);
    }
    if dry_run {
        return Ok(Action::WouldDrop);
    }
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", quote_ident(name));
    sqlx::raw_sql(&sql).execute(admin).await?;
    Ok(Action::Dropped)
}

/// Whether the server can install `extension` at all (its package is present).
pub async fn extension_available(
    conn: &mut PgConnection,
    extension: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)")
        .bind(extension)
        .fetch_one(conn)
        .await
}

pub async fn create_extension(
    conn: &mut PgConnection,
    extension: &str,
    dry_run: bool,
) -> Result<Action, sqlx::Error> {
    let installed: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = $1)")
            .bind(extension)
            .fetch_one(&mut *conn)
            .await?;
    if installed {
        return Ok(Action::Exists);
    }
    if dry_run {
        return Ok(Action::WouldCreate);
    }
    let sql = format!("CREATE EXTENSION IF NOT EXISTS {}", quote_ident(extension));
    match sqlx::raw_sql(&sql).execute(conn).await {
        Ok(_) => Ok(Action::Created),
        // Two creators in one database race on the catalog's unique index.
        Err(e) if code(&e).as_deref() == Some(sqlstate::UNIQUE_VIOLATION) => Ok(Action::Exists),
        Err(e) => Err(e),
    }
}

pub async fn create_role(
    conn: &mut PgConnection,
    role: &str,
    dry_run: bool,
) -> Result<Action, sqlx::Error> {
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(role)
            .fetch_one(&mut *conn)
            .await?;
    if exists {
        return Ok(Action::Exists);
    }
    if dry_run {
        return Ok(Action::WouldCreate);
    }
    let sql = format!("CREATE ROLE {} NOLOGIN", quote_ident(role));
    match sqlx::raw_sql(&sql).execute(conn).await {
        Ok(_) => Ok(Action::Created),
        Err(e)
            if matches!(
                code(&e).as_deref(),
                Some(sqlstate::DUPLICATE_OBJECT | sqlstate::UNIQUE_VIOLATION)
            ) =>
        {
            Ok(Action::Exists)
        }
        Err(e) => Err(e),
    }
}
