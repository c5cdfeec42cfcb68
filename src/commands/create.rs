//! `rez-db create`: the PostgreSQL database, its extensions and roles; the
//! MongoDB collections and indexes, the Redis layout marker and the
//! Elasticsearch indices and aliases (`crate::provision`), for the stores
//! `--only` selects. Idempotent: a second run reports what exists and changes nothing.

use std::io::{self, BufRead, IsTerminal, Write};

use clap::Args;
use serde::Serialize;

use crate::cli::{PgArgs, StoreArgs};
use crate::config::StoreKind;
use crate::error::{CommandError, Result};
use crate::output::{table, Render};
use crate::provision::{Connections, Options};
use crate::secret::RedactedUrl;
use crate::store::pg::{self, provision, provision::Action};
use crate::Ctx;

/// Create the databases, collections, indexes and aliases of every datastore.
///
/// PostgreSQL: the database (UTF8, from template0), its extensions and roles.
/// MongoDB: the collections of mongo-indexes/ with their validators and indexes.
/// Redis: the layout version marker. Elasticsearch: <name>_v1 from es-mappings/
/// behind the alias <name>.
///
/// Safe to run again: what exists is reported and left alone; an index that
/// differs from its file is reported as drift (exit 1; `migrate --fix-drift`
/// fixes it). With --drop, drops the PostgreSQL database instead (asks first
/// unless --yes).
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    /// Drop the database instead of creating it (roles are cluster-wide and kept)
    #[arg(long)]
    pub drop: bool,

    /// Do not ask before dropping
    #[arg(long, short = 'y')]
    pub yes: bool,

    /// Report what would be done and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct CreateReport {
    pub server: String,
    pub dry_run: bool,
    pub objects: Vec<ObjectRow>,
}

pub use crate::provision::ObjectRow;

impl Render for CreateReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["store", "kind", "name", "action"]);
        for row in &self.objects {
            t.add_row([row.store, row.kind, &row.name, row.action.as_str()]);
        }
        writeln!(out, "{t}")?;
        crate::provision::render_details(&self.objects, out)?;
        let changed = self
            .objects
            .iter()
            .filter(|r| {
                matches!(
                    r.action,
                    Action::Created | Action::Dropped | Action::Updated | Action::Recreated
                )
            })
            .count();
        match (self.dry_run, changed) {
            (true, _) => writeln!(out, "dry run: nothing was changed on {}", self.server),
            (false, 0) => writeln!(out, "nothing to do: everything exists on {}", self.server),
            (false, n) => writeln!(out, "{n} object(s) changed on {}", self.server),
        }
    }

    fn has_problems(&self) -> bool {
        self.objects.iter().any(|r| r.is_problem(false))
    }
}

pub async fn run(ctx: &Ctx, args: &CreateArgs) -> Result<CreateReport> {
    let stores = &ctx.config.stores;
    let others = !args.drop && stores.iter().any(|s| *s != StoreKind::Postgres);
    // Files first (exit 2), then every connection (exit 3): nothing changes before both pass.
    let defs = if others {
        Some(ctx.definitions()?.clone())
    } else {
        None
    };
    let mut conns = if others {
        ctx.connections().await?
    } else {
        Connections::default()
    };
    let c = &ctx.config;
    let servers: Vec<String> = stores
        .iter()
        .filter(|s| !args.drop || **s == StoreKind::Postgres)
        .map(|s| match s {
            StoreKind::Postgres => c.database_url.to_string(),
            StoreKind::Mongodb => c.mongodb_uri.to_string(),
            StoreKind::Redis => c.redis_url.to_string(),
            StoreKind::Elasticsearch => c.elasticsearch_url.to_string(),
        })
        .collect();
    let mut report = CreateReport {
        server: servers.join(", "),
        dry_run: args.dry_run,
        objects: Vec::new(),
    };
    if stores.contains(&StoreKind::Postgres) {
        run_pg(ctx, args, &mut report).await?;
    }
    if let Some(defs) = defs {
        let options = Options {
            dry_run: args.dry_run,
            fix_drift: false,
            command: "create",
            lock_wait: ctx.config.lock_wait,
        };
        report
            .objects
            .extend(crate::provision::apply(&mut conns, &defs, options).await?);
    }
    Ok(report)
}

async fn run_pg(ctx: &Ctx, args: &CreateArgs, report: &mut CreateReport) -> Result<()> {
    let url = &ctx.config.database_url;
    let name = url.database_name().ok_or_else(|| {
        CommandError::usage(format!("the PostgreSQL URL {url} names no database"))
            .with_hint("add the database name as the URL's path, e.g. postgres://host:5432/rez")
    })?;
    if args.drop && !args.dry_run && !args.yes {
        confirm(
            &format!("Drop database `{name}` on {url}? This deletes all its data."),
            "drop",
        )?;
    }
    let mut admin = connect_maintenance(ctx, url).await?;
    let err = |e| pg::error(url, e);

    if args.drop {
        let action = provision::drop_database(&mut admin, &name, args.dry_run)
            .await
            .map_err(err)?;
        report.objects.push(row("database", &name, action));
        return Ok(());
    }

    let action = provision::create_database(&mut admin, &name, args.dry_run)
        .await
        .map_err(err)?;
    report.objects.push(row("database", &name, action));

    if action == Action::WouldCreate {
        // The database is not there to look into: everything inside would be created.
        for ext in provision::EXTENSIONS {
            report
                .objects
                .push(row("extension", ext, Action::WouldCreate));
        }
        for role in provision::ROLES {
            let action = provision::create_role(&mut admin, role, true)
                .await
                .map_err(err)?;
            report.objects.push(row("role", role, action));
        }
        return Ok(());
    }

    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
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
        let action = provision::create_extension(&mut conn, ext, args.dry_run)
            .await
            .map_err(err)?;
        report.objects.push(row("extension", ext, action));
    }
    for role in provision::ROLES {
        let action = provision::create_role(&mut conn, role, args.dry_run)
            .await
            .map_err(err)?;
        report.objects.push(row("role", role, action));
    }
    Ok(())
}

fn row(kind: &'static str, name: &str, action: Action) -> ObjectRow {
    ObjectRow {
        store: "postgres",
        kind,
        name: name.to_string(),
        action,
        detail: None,
    }
}

/// A connection to the server's maintenance database `postgres`, to create or drop ours.
async fn connect_maintenance(ctx: &Ctx, url: &RedactedUrl) -> Result<sqlx::PgConnection> {
    pg::connect(&url.with_path("/postgres"), ctx.config.connect_timeout).await
}

/// Asks on the terminal before `action` (e.g. "drop"); without one, refuses
/// (CI must pass --yes). Also used by `restore`.
pub(crate) fn confirm(question: &str, action: &str) -> Result<()> {
    let refuse = || {
        CommandError::usage(format!("refusing to {action} without confirmation"))
            .with_hint(format!("pass --yes to {action} without asking"))
    };
    if !io::stdin().is_terminal() {
        return Err(refuse().with_hint("stdin is not a terminal, so rez-db cannot ask"));
    }
    eprint!("{question} [y/N] ");
    let _ = io::stderr().flush();
    let mut answer = String::new();
    io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|_| refuse())?;
    match answer.trim() {
        "y" | "Y" | "yes" => Ok(()),
        _ => Err(refuse()),
    }
}
