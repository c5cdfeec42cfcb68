//! `rez-db create`: the PostgreSQL database, its extensions and roles.
//! Idempotent: a second run reports what exists and changes nothing.

use std::io::{self, BufRead, IsTerminal, Write};

use clap::Args;
use serde::Serialize;

use crate::cli::PgArgs;
use crate::config::RedactedUrl;
use crate::error::{CommandError, Result};
use crate::output::{table, Render};
use crate::store::pg::{self, provision, provision::Action};
use crate::Ctx;

/// Create the PostgreSQL database (UTF8, from template0), its extensions and roles.
///
/// Safe to run again: what exists is reported and left alone. With --drop,
/// drops the database instead (asks first unless --yes).
#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub pg: PgArgs,

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

#[derive(Debug, Serialize)]
pub struct ObjectRow {
    pub store: &'static str,
    pub kind: &'static str,
    pub name: String,
    pub action: Action,
}

impl Render for CreateReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["store", "kind", "name", "action"]);
        for row in &self.objects {
            t.add_row([row.store, row.kind, &row.name, row.action.as_str()]);
        }
        writeln!(out, "{t}")?;
        let changed = self
            .objects
            .iter()
            .filter(|r| matches!(r.action, Action::Created | Action::Dropped))
            .count();
        match (self.dry_run, changed) {
            (true, _) => writeln!(out, "dry run: nothing was changed on {}", self.server),
            (false, 0) => writeln!(out, "nothing to do: everything exists on {}", self.server),
            (false, n) => writeln!(out, "{n} object(s) changed on {}", self.server),
        }
    }
}

pub async fn run(ctx: &Ctx, args: &CreateArgs) -> Result<CreateReport> {
    let url = &ctx.config.database_url;
    let name = url.database_name().ok_or_else(|| {
        CommandError::usage(format!("the PostgreSQL URL {url} names no database"))
            .with_hint("add the database name as the URL's path, e.g. postgres://host:5432/rez")
    })?;
    let mut report = CreateReport {
        server: url.to_string(),
        dry_run: args.dry_run,
        objects: Vec::new(),
    };
    if args.drop && !args.dry_run && !args.yes {
        confirm(&format!(
            "Drop database `{name}` on {url}? This deletes all its data."
        ))?;
    }
    let mut admin = connect_maintenance(ctx, url).await?;
    let err = |e| pg::error(url, e);

    if args.drop {
        let action = provision::drop_database(&mut admin, &name, args.dry_run)
            .await
            .map_err(err)?;
        report.objects.push(row("database", &name, action));
        return Ok(report);
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
        return Ok(report);
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
    Ok(report)
}

fn row(kind: &'static str, name: &str, action: Action) -> ObjectRow {
    ObjectRow {
        store: "postgres",
        kind,
        name: name.to_string(),
        action,
    }
}

/// A connection to the server's maintenance database `postgres`, to create or drop ours.
async fn connect_maintenance(ctx: &Ctx, url: &RedactedUrl) -> Result<sqlx::PgConnection> {
    pg::connect(&url.with_path("/postgres"), ctx.config.connect_timeout).await
}

/// Asks on the terminal; without one, refuses (CI must pass --yes).
fn confirm(question: &str) -> Result<()> {
    let refuse = || {
        CommandError::usage("refusing to drop without confirmation")
            .with_hint("pass --yes to drop without asking")
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
