//! `rez-db reindex-es [INDEX...]`: the flags, the options they make, and the
//! report as a table. The rebuild (or, with `--since`, the upsert of what
//! changed into the live indices, for cron), its lock and its lease are
//! `crate::search`'s.

use std::io::{self, Write};

use chrono::{DateTime, Utc};
use clap::Args;

use crate::cli::{LockArgs, PgArgs, StoreArgs};
use crate::error::{CommandError, Result};
use crate::output::{metrics::Sample, progress::Bars, table, Render};
use crate::search::reindex::{self, Options, Outcome, ReindexReport};
use crate::search::{tuning, BulkSettings, Concurrency};
use crate::Ctx;

/// Rebuild Elasticsearch indices from PostgreSQL and swap their aliases atomically.
///
/// Builds <name>_v<N+1> from es-mappings/<name>.json, streams the rows into it in
/// bulk batches, catches up with the rows written meanwhile (passes until one finds
/// fewer than --catch-up-threshold documents to change, or no fewer than the one before), verifies the count, then moves the alias <name>
/// in one call, catches up once more, and deletes versions older than the last --keep. On any failure the alias stays on
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

    /// A rebuild moves the alias once a catch-up pass finds fewer documents to change than N
    /// (or no fewer than the pass before: the writers outpace the server)
    #[arg(long, value_name = "N", default_value_t = 500)]
    pub catch_up_threshold: u64,

    /// Documents per bulk request
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_size: usize,

    /// Bulk requests in flight: a number, or auto (from 2, raised while the server's docs/s
    /// rises, lowered on 429s or slower answers, at most 8; docs/benchmarks.md#reindex-es)
    #[arg(long, value_name = "N|auto", default_value = "auto", value_parser = concurrency)]
    pub concurrency: Concurrency,

    /// Report what would be built and deleted; change nothing
    #[arg(long)]
    pub dry_run: bool,
}

impl Render for ReindexReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table([
            "alias",
            "outcome",
            "index",
            "previous",
            "docs",
            "deleted",
            "docs/s",
            "caught up",
            "removed",
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
                r.catch_up.as_ref().map_or(String::new(), |c| {
                    let docs: u64 = c.passes.iter().map(|p| p.found()).sum();
                    format!("{docs} documents, {} passes", c.passes.len())
                }),
                r.removed.join(", "),
            ]);
        }
        writeln!(out, "{t}")?;
        for r in &self.indices {
            if let Some(t) = &r.timings {
                let s = super::render::seconds;
                writeln!(
                    out,
                    "{}: took {}: prepare {}, load {}, catch-up {}, verify {}, swap {}",
                    r.alias,
                    s(r.elapsed_ms),
                    s(t.prepare_ms),
                    s(t.load_ms),
                    s(t.catch_up_ms),
                    s(t.verify_ms),
                    s(t.swap_ms)
                )?;
            }
        }
        for r in &self.indices {
            if let (Some(f), Outcome::Swapped) = (&r.failure, r.outcome) {
                writeln!(
                    out,
                    "INCOMPLETE {}: {f}; the alias points at {}, which may miss writes made \
                     during the rebuild: run `rez-db reindex-es --since <this run's start>`",
                    r.alias,
                    r.index.as_deref().unwrap_or_default()
                )?;
            } else if let Some(f) = &r.failure {
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
        ReindexReport::has_problems(self)
    }

    fn metrics(&self) -> Vec<Sample> {
        self.indices
            .iter()
            .flat_map(|r| {
                [
                    Sample::count(
                        "documents_indexed",
                        "Documents the last run indexed, per alias.",
                        r.indexed as i64,
                    )
                    .with("alias", r.alias.clone()),
                    Sample::count(
                        "documents_deleted",
                        "Documents the last run deleted, per alias.",
                        r.deleted as i64,
                    )
                    .with("alias", r.alias.clone()),
                ]
            })
            .collect()
    }
}

/// `auto`, or a fixed number of requests in flight.
fn concurrency(text: &str) -> std::result::Result<Concurrency, String> {
    match text {
        "auto" => Ok(Concurrency::Auto {
            ceiling: tuning::CEILING,
        }),
        n => n
            .parse()
            .map(Concurrency::Fixed)
            .map_err(|_| format!("`{n}` is neither a number nor `auto`")),
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
    let sources = reindex::sources(&args.indices)?;
    if args.batch_size == 0 || args.concurrency == Concurrency::Fixed(0) {
        return Err(CommandError::usage(
            "--batch-size and --concurrency must be at least 1",
        ));
    }
    let defs = ctx.definitions()?;
    let c = &ctx.config;
    let options = Options {
        sources,
        since: args.since,
        dry_run: args.dry_run,
        keep: args.keep.unwrap_or(c.es_keep_indices),
        keep_failed: args.keep_failed,
        catch_up_threshold: args.catch_up_threshold,
        bulk: BulkSettings {
            batch_docs: args.batch_size,
            concurrency: args.concurrency,
            ..BulkSettings::default()
        },
        lock_wait: c.lock_wait,
    };
    let es = ctx.es().await?;
    reindex::run(&ctx.pg(), es, defs, &options, &Bars::new(ctx.progress)).await
}
