//! `rez-db status`: the flags, the store handles it reaches, and the report
//! as a table. The probes are `crate::status`'s. Read-only. Exit 3 if a
//! selected store is unreachable, 1 if a Redis Cluster is not whole, 0
//! otherwise.

use std::io::{self, Write};

use clap::Args;

use crate::cli::{PgArgs, StoreArgs, TargetArgs};
use crate::config::StoreKind;
use crate::error::{ErrorKind, Result};
use crate::output::{table, Render};
use crate::status::{self, StatusReport, Target};
use crate::Ctx;

/// Show every datastore: reachable or not, server version, schema state.
///
/// PostgreSQL: applied and pending migrations. MongoDB: collections recorded in
/// rez_schema_history. Redis: keys and the recorded layout version; on a Redis
/// Cluster its state, nodes, slots and keys per master. Elasticsearch: each
/// alias and the versioned index behind it. Exit 1 if a Redis Cluster is not
/// whole (slots without a master, a failed node), exit 3 if a store is
/// unreachable (leave it out with --only).
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    #[command(flatten)]
    pub targets: TargetArgs,
}

impl Render for StatusReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["store", "url", "reachable", "server", "state"]);
        for s in &self.stores {
            t.add_row([
                s.store.as_str().to_string(),
                s.url.clone(),
                if s.reachable {
                    "yes".into()
                } else {
                    "NO".into()
                },
                match (&s.server, &s.version) {
                    (Some(p), Some(v)) => format!("{p} {v}"),
                    _ => String::new(),
                },
                s.state.clone(),
            ]);
        }
        writeln!(out, "{t}")?;
        for s in &self.stores {
            for d in &s.details {
                writeln!(out, "{}: {d}", s.store)?;
            }
            for f in &s.findings {
                writeln!(out, "{}: problem: {f}", s.store)?;
            }
            if let Some(e) = &s.error {
                writeln!(out, "{}: {e}", s.store)?;
            }
        }
        Ok(())
    }

    fn failure(&self) -> Option<ErrorKind> {
        StatusReport::failure(self)
    }

    fn has_problems(&self) -> bool {
        self.has_findings()
    }
}

pub async fn run(ctx: &Ctx, _args: &StatusArgs) -> Result<StatusReport> {
    let defs = ctx.definitions()?;
    let c = &ctx.config;
    let pg = ctx.pg();
    let migrations = match ctx.wants(StoreKind::Postgres) {
        true => ctx.migrations()?,
        false => Default::default(),
    };
    let mut targets = Vec::new();
    for kind in &c.stores {
        targets.push(match kind {
            StoreKind::Postgres => Target::Postgres(&pg, &migrations),
            StoreKind::Mongodb => Target::Mongodb(&c.mongodb_uri, ctx.mongo().await),
            StoreKind::Redis => Target::Redis(&c.redis_url, ctx.redis().await),
            StoreKind::Elasticsearch => Target::Elasticsearch(&c.elasticsearch_url, ctx.es().await),
        });
    }
    Ok(status::run(targets, defs).await)
}
