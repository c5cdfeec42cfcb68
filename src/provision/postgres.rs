//! PostgreSQL: the database itself (UTF8, from template0), its extensions and
//! the cluster-wide roles the schema grants to, or the database dropped. Shared
//! by `create` and by `restore`, which drops and recreates a database exactly
//! as `create` makes one. The statements are `store::pg::provision`'s.
//!
//! Never asks anything itself: a drop is confirmed through the callback its
//! caller hands it (the face asks on the terminal, or was told not to).

use crate::config::StoreKind;
use crate::error::{CommandError, Result};
use crate::provision::{Action, Confirm, ObjectRow};
use crate::secret::RedactedUrl;
use crate::store::pg::{provision, Pg};

/// What to do with the database.
#[derive(Debug, Clone, Copy, Default)]
pub struct PgOptions {
    /// Drop the database instead of creating it (roles are cluster-wide and kept).
    pub drop: bool,
    /// Report what would be done; change nothing.
    pub dry_run: bool,
}

/// The database name of a PostgreSQL URL (its path).
pub fn database_name(url: &RedactedUrl) -> Result<String> {
    url.database_name().ok_or_else(|| {
        CommandError::usage(format!("the PostgreSQL URL {url} names no database"))
            .with_hint("add the database name as the URL's path, e.g. postgres://host:5432/rez")
    })
}

/// Creates (or, with `drop`, drops) the database of `pg`, then its extensions
/// and roles; one row per object. A drop that changes something is first
/// put to `confirm`.
pub async fn apply(pg: &Pg, options: PgOptions, confirm: Confirm<'_>) -> Result<Vec<ObjectRow>> {
    let url = &pg.url;
    let name = database_name(url)?;
    if options.drop && !options.dry_run {
        confirm(&format!(
            "Drop database `{name}` on {url}? This deletes all its data."
        ))?;
    }
    let mut admin = pg.maintenance().connect().await?;
    let err = |e| pg.error(e);
    let mut rows = Vec::new();

    if options.drop {
        let action = provision::drop_database(&mut admin, &name, options.dry_run)
            .await
            .map_err(err)?;
        rows.push(row("database", &name, action));
        return Ok(rows);
    }

    let action = provision::create_database(&mut admin, &name, options.dry_run)
        .await
        .map_err(err)?;
    rows.push(row("database", &name, action));

    if action == Action::WouldCreate {
        // The database is not there to look into: everything inside would be created.
        for ext in provision::EXTENSIONS {
            rows.push(row("extension", ext, Action::WouldCreate));
        }
        for role in provision::ROLES {
            let action = provision::create_role(&mut admin, role, true)
                .await
                .map_err(err)?;
            rows.push(row("role", role, action));
        }
        return Ok(rows);
    }

    let mut conn = pg.connect().await?;
    for ext in provision::EXTENSIONS {
        if !provision::extension_available(&mut conn, ext)
            .await
            .map_err(err)?
        {
            return Err(CommandError::usage(format!(
                "the PostgreSQL server at {url} cannot install extension `{ext}`: its package is missing"
            ))
            .with_hint(match *ext {
                "postgis" => "install postgresql-15-postgis-3 on the server (`scripts/stack up` does it locally)",
                _ => "install the postgresql-contrib package of the server's version",
            }));
        }
        let action = provision::create_extension(&mut conn, ext, options.dry_run)
            .await
            .map_err(err)?;
        rows.push(row("extension", ext, action));
    }
    for role in provision::ROLES {
        let action = provision::create_role(&mut conn, role, options.dry_run)
            .await
            .map_err(err)?;
        rows.push(row("role", role, action));
    }
    Ok(rows)
}

fn row(kind: &'static str, name: &str, action: Action) -> ObjectRow {
    ObjectRow::new(StoreKind::Postgres, kind, name, action)
}
