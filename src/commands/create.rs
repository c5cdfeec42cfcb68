//! `rez-db create`: the PostgreSQL database, its extensions and roles; the
//! MongoDB collections and indexes, the Redis layout marker and the
//! Elasticsearch indices and aliases, for the stores `--only` selects.
//! Idempotent: a second run reports what exists and changes nothing. The
//! work is `crate::provision::create`'s; this file asks before a drop and
//! renders the report.

use std::io::{self, Write};

use clap::Args;

use crate::cli::{self, PgArgs, StoreArgs, TargetArgs};
use crate::commands::render;
use crate::config::StoreKind;
use crate::error::Result;
use crate::output::{table, Render};
use crate::provision::{self, Action, Connections, CreateOptions};
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

    #[command(flatten)]
    pub targets: TargetArgs,
}

impl Render for provision::Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["store", "kind", "name", "action"]);
        for row in &self.objects {
            t.add_row([row.store, row.kind, &row.name, row.action.as_str()]);
        }
        writeln!(out, "{t}")?;
        render::objects_details(&self.objects, out)?;
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

pub async fn run(ctx: &Ctx, args: &CreateArgs) -> Result<provision::Report> {
    let stores = &ctx.config.stores;
    let others = !args.drop && stores.iter().any(|s| *s != StoreKind::Postgres);
    // Files first (exit 2), then every connection (exit 3): nothing changes before both pass.
    let defs = match others {
        true => Some(ctx.definitions()?),
        false => None,
    };
    let mut conns = match others {
        true => ctx.connections().await?,
        false => Connections::default(),
    };
    let options = CreateOptions {
        stores: stores.clone(),
        drop: args.drop,
        dry_run: args.dry_run,
        lock_wait: ctx.config.lock_wait,
    };
    let confirm = |question: &str| match args.yes {
        true => Ok(()),
        false => cli::confirm(question, "drop"),
    };
    let mut report = provision::create(&ctx.pg(), &mut conns, defs, &options, &confirm).await?;
    cli::word_object_remedies(&mut report.objects);
    Ok(report)
}
