//! `rez-db reindex-es [INDEX...]`: rebuild the search indices from PostgreSQL
//! with zero downtime (`crate::search`), or with `--since` upsert what changed
//! into the live indices (for cron). One run at a time per database (the
//! `search` advisory lock) and per index prefix (the Elasticsearch data
//! lease, `crate::store::lease`, whatever database the other run reads):
//! exit 4.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;

use crate::cli::{LockArgs, PgArgs, StoreArgs};
use crate::error::{CommandError, Result};
use crate::output::{progress, table, Render};
use crate::search::reindex::{self, IndexRun, Outcome};
use crate::search::{BulkSettings, Source};
use crate::store::lease;
use crate::store::pg::{self, lock};
use crate::Ctx;

/// Rebuild Elasticsearch indices from PostgreSQL and swap their aliases atomically.
///
/// Builds <name>_v<N+1> from es-mappings/<name>.json, streams the rows into it in
/// bulk batches, verifies the count, then moves the alias <name> in one call and
/// deletes versions older than the last --keep. On any failure the alias stays on
/// the old index and the new one is deleted (or kept with --keep-failed).
/// With --since, upserts the rows changed since TIMESTAMP into the live index.
///
/// One run at a time per PostgreSQL database (the search lock) and per
/// Elasticsearch index prefix (a lease document in <prefix>rez-db-locks, so a
/// run from another database waits too): exit 4 after --lock-wait.
#[derive(Debug, Args)]
pub struct ReindexEsArgs {
    /// Indices to build: products, merchants, offers [default: all three]
    #[arg(value_name = "INDEX")]
    pub indices: Vec<String>,

    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    /// Upsert rows changed at or after TIMESTAMP (RFC 3339) into the live index; delete those no longer eligible
    #[arg(long, value_name = "TIMESTAMP")]
    pub since: Option<DateTime<Utc>>,

    /// Old versions to keep after a swap [default: es_keep_indices, or 2]
    #[arg(long, value_name = "K")]
    pub keep: Option<usize>,

    /// On failure, keep the half-built index behind the alias <name>_failed instead of deleting it
    #[arg(long)]
    pub keep_failed: bool,

    /// Documents per bulk request
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_size: usize,

    /// Bulk requests in flight
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub concurrency: usize,

    /// Report what would be built and deleted; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Serialize)]
pub struct ReindexReport {
    pub elasticsearch: String,
    pub database: String,
    pub indices: Vec<IndexRun>,
}

impl Render for ReindexReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table([
            "alias", "outcome", "index", "previous", "docs", "deleted", "docs/s", "removed",
        ]);
        for r in &self.indices {
            t.add_row([
                r.alias.clone(),
                format!("{:?}", r.outcome).to_lowercase(),
                r.index.clone().unwrap_or_default(),
                r.previous.join(", "),
                match r.source_rows {
                    Some(n) if r.outcome == Outcome::WouldBuild => format!("{n} to index"),
                    _ => r.indexed.to_string(),
                },
                r.deleted.to_string(),
                r.docs_per_sec.to_string(),
                r.removed.join(", "),
            ]);
        }
        writeln!(out, "{t}")?;
        for r in &self.indices {
            if let Some(f) = &r.failure {
                writeln!(
                    out,
                    "FAILED {}: {f}; the alias still points at {}",
                    r.alias,
                    or_none(&r.previous)
                )?;
                for e in &r.item_errors {
                    writeln!(
                        out,
                        "  document {}: HTTP {} {}: {}",
                        e.id, e.status, e.error_type, e.reason
                    )?;
                }
                if let Some(k) = &r.kept_failed {
                    writeln!(out, "  kept for inspection: {k}")?;
                }
            }
        }
        Ok(())
    }

    fn has_problems(&self) -> bool {
        self.indices.iter().any(|r| r.outcome == Outcome::Failed)
    }
}

fn or_none(list: &[String]) -> String {
    if list.is_empty() {
        "nothing".into()
    } else {
        list.join(", ")
    }
}

pub async fn run(ctx: &Ctx, args: &ReindexEsArgs) -> Result<ReindexReport> {
    let defs = ctx.definitions()?.clone();
    let names: Vec<String> = if args.indices.is_empty() {
        Source::ALL.iter().map(|s| s.name().to_string()).collect()
    } else {
        args.indices.clone()
    };
    let mut plan = Vec::new();
    for name in &names {
        let (Some(source), Some(def)) = (Source::from_name(name), defs.es_index(name)) else {
            return Err(
                CommandError::usage(format!("there is no index `{name}` to build")).with_hint(
                    "rez-db builds products, merchants and offers (es-mappings/<name>.json)",
                ),
            );
        };
        plan.push((source, def));
    }
    if args.batch_size == 0 || args.concurrency == 0 {
        return Err(CommandError::usage(
            "--batch-size and --concurrency must be at least 1",
        ));
    }
    let c = &ctx.config;
    let es = crate::store::es::connect(&c.elasticsearch_url, &c.es_index_prefix, c.connect_timeout)
        .await?;
    let url = &c.database_url;
    // One connection holds the lock, the other streams: a lock taken on the
    // streaming connection would be released by nothing else if it broke.
    let mut guard = pg::connect(url, c.connect_timeout).await?;
    // The search lock excludes runs on this database; the lease in
    // Elasticsearch, runs from any database into this index prefix.
    let lease = match args.dry_run {
        true => None,
        false => {
            lock::acquire(&mut guard, url, lock::LockScope::Search, c.lock_wait).await?;
            Some(lease::es(&es, lease::Scope::Data, "reindex-es", c.lock_wait).await?)
        }
    };
    let mut conn = pg::connect(url, c.connect_timeout).await?;
    let options = reindex::Options {
        since: args.since,
        dry_run: args.dry_run,
        keep: args.keep.unwrap_or(c.es_keep_indices),
        keep_failed: args.keep_failed,
        bulk: BulkSettings {
            batch_docs: args.batch_size,
            concurrency: args.concurrency,
            ..BulkSettings::default()
        },
    };
    let mut report = ReindexReport {
        elasticsearch: c.elasticsearch_url.to_string(),
        database: url.to_string(),
        indices: Vec::new(),
    };
    for (source, def) in plan {
        let bar = progress::throughput(0, "docs", ctx.progress);
        let done = reindex::run(&es, &mut conn, url, def, source, options, &bar).await;
        bar.finish_and_clear();
        report.indices.push(done?);
    }
    if let Some(held) = lease {
        held.release().await?;
        lock::release(&mut guard, lock::LockScope::Search)
            .await
            .map_err(|e| pg::error(url, e))?;
    }
    Ok(report)
}
