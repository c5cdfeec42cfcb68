//! Shadow databases: throwaway databases in which rez-db builds the schema
//! that migrations produce, to compare it with a live one (`migrate
//! baseline`, `migrate diff`).
//!
//! A shadow is created under a random name ([`PREFIX`] and a UUID) on a
//! server the caller names, and is always dropped: by [`Shadow::remove`] when
//! the work is done, whatever its outcome; and when a [`Shadow`] is dropped
//! without it (an error, Ctrl-C or SIGTERM dropping the command's future),
//! its drop is queued and sent by [`drop_abandoned`], which `crate::run`
//! calls before exiting. The guard exists before `CREATE DATABASE` is sent,
//! so an interruption in the middle of creating it still drops it (waiting
//! for the server to finish creating it first).

use std::sync::Mutex;
use std::time::Duration;

use sqlx::postgres::PgConnection;

use super::{provision, quote_ident, Pg};
use crate::error::CommandError;
use crate::migration::snapshot_key::ShadowServer;

/// Every shadow database's name starts with this.
pub const PREFIX: &str = "rez_shadow_";

/// A shadow database; dropped when this is, at the latest when rez-db exits.
pub struct Shadow {
    /// The shadow database: connect to it with `pg.connect()`.
    pub pg: Pg,
    /// The database the shadow is created and dropped from.
    admin: Pg,
    name: String,
    dropped: bool,
}

impl Shadow {
    /// Creates an empty shadow database (UTF8, from template0) from the
    /// database `admin` connects to (the server's `postgres`, or the
    /// database of `--shadow-url`), with `extensions` installed and the
    /// cluster-wide `roles` created when missing.
    pub async fn create(
        admin: &Pg,
        extensions: &[&str],
        roles: &[&str],
    ) -> Result<Shadow, CommandError> {
        let name = format!("{PREFIX}{}", uuid::Uuid::new_v4().simple());
        let shadow = Shadow {
            pg: Pg {
                url: admin.url.with_path(&format!("/{name}")),
                ..admin.clone()
            },
            admin: admin.clone(),
            name,
            dropped: false,
        };
        let mut conn = admin.connect().await?;
        let refused = |e: sqlx::Error| {
            admin
                .error(e)
                .with_hint("rez-db builds the expected schema in a throwaway database: the role needs CREATEDB")
                .with_remedy(crate::error::Remedy::ShadowServer)
        };
        provision::create_database(&mut conn, &shadow.name, false)
            .await
            .map_err(refused)?;
        let ready = async {
            let mut inside = shadow.pg.connect().await?;
            let err = |e| shadow.pg.error(e);
            for extension in extensions {
                provision::create_extension(&mut inside, extension, false)
                    .await
                    .map_err(err)?;
            }
            for role in roles {
                provision::create_role(&mut inside, role, false)
                    .await
                    .map_err(err)?;
            }
            Ok::<(), CommandError>(())
        }
        .await;
        match ready {
            Ok(()) => Ok(shadow),
            Err(e) => {
                let _ = shadow.remove().await;
                Err(e)
            }
        }
    }

    /// The shadow database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the shadow database (ending its sessions).
    pub async fn remove(mut self) -> Result<(), CommandError> {
        self.dropped = true;
        drop_named(&self.admin, &self.name).await
    }
}

impl Drop for Shadow {
    fn drop(&mut self) {
        if self.dropped {
            return;
        }
        if let Ok(mut queue) = ABANDONED.lock() {
            queue.push((self.admin.clone(), self.name.clone()));
        }
    }
}

/// What the server a shadow would be created on says about itself: its
/// version, the default version of every extension it offers (what `CREATE
/// EXTENSION` would install in a shadow) and the role connected; one query,
/// which also proves `admin` reachable before anything is decided.
pub async fn server_facts(admin: &Pg) -> Result<ShadowServer, CommandError> {
    let mut conn = admin.connect().await?;
    let (version_num, role, extensions): (i64, String, Vec<String>) = sqlx::query_as(
        "SELECT current_setting('server_version_num')::bigint, current_user::text, \
                coalesce((SELECT array_agg(name || ' ' || coalesce(default_version, '') ORDER BY name) \
                          FROM pg_available_extensions), '{}')",
    )
    .fetch_one(&mut conn)
    .await
    .map_err(|e| admin.error(e))?;
    let extensions = extensions
        .into_iter()
        .map(|e| match e.split_once(' ') {
            Some((name, version)) => (name.to_string(), version.to_string()),
            None => (e, String::new()),
        })
        .collect();
    Ok(ShadowServer {
        version_num,
        extensions,
        role,
    })
}

/// The shadows dropped without [`Shadow::remove`]: where to drop them from, and their names.
static ABANDONED: Mutex<Vec<(Pg, String)>> = Mutex::new(Vec::new());

/// Drops the shadow databases of a run that ended without dropping them
/// (an error, Ctrl-C, SIGTERM), waiting at most `within`.
pub async fn drop_abandoned(within: Duration) {
    let queued: Vec<(Pg, String)> = ABANDONED
        .lock()
        .map(|mut queue| std::mem::take(&mut *queue))
        .unwrap_or_default();
    if queued.is_empty() {
        return;
    }
    let drops = queued.iter().map(|(admin, name)| async move {
        if let Err(e) = drop_named(admin, name).await {
            tracing::warn!("could not drop the shadow database {name}: {e}");
            eprintln!("could not drop the shadow database {name}; drop it by hand: {e}");
        }
    });
    let _ = tokio::time::timeout(within, futures_util::future::join_all(drops)).await;
}

/// Drops database `name`, first waiting for a `CREATE DATABASE` of it that
/// an interrupted run left running to finish.
async fn drop_named(admin: &Pg, name: &str) -> Result<(), CommandError> {
    let mut conn = admin.connect().await?;
    while creating(&mut conn, name)
        .await
        .map_err(|e| admin.error(e))?
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    provision::drop_database(&mut conn, name, false)
        .await
        .map_err(|e| admin.error(e))?;
    Ok(())
}

/// Whether another session is running `CREATE DATABASE` of `name`.
async fn creating(conn: &mut PgConnection, name: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar::<_, bool>(
        "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE state = 'active' \
         AND query ILIKE 'CREATE DATABASE ' || $1 || '%' AND pid <> pg_backend_pid())",
    )
    .bind(quote_ident(name))
    .fetch_one(conn)
    .await
}
