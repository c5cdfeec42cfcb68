//! `rez-db seed`: load the reference data of `seeds/*.yaml`, or a synthetic
//! dataset, or only the Redis structures derived from the database. A thin
//! wrapper: it parses the flags, takes Redis from the context when the seed
//! writes it, calls `crate::seed::run`, and renders the report.

use std::io::{self, Write};
use std::path::PathBuf;

use chrono::{DateTime, SubsecRound, Utc};
use clap::Args;

use crate::cli::{LockArgs, PgArgs};
use crate::config::StoreKind;
use crate::error::{CommandError, Result};
use crate::output::progress::Bars;
use crate::output::{table, Render};
use crate::seed::{self, files::SeedSource};
use crate::Ctx;

/// Load the reference data (seeds/*.yaml), or a synthetic dataset
///
/// Without --synthetic: upserts app settings, the category tree, loyalty tiers and colleges
/// from seeds/*.yaml by natural key, in one transaction. A
/// second run changes nothing; a changed value updates that row only; rows the files no
/// longer mention are left alone.
///
/// With --synthetic: generates --scale users and everything around them (merchants,
/// outlets, products, offers, orders, payments, redemptions, wallets with their ledgers,
/// promo lots, referrals, reviews, loyalty, notifications) through the business rules,
/// and loads it with COPY in one transaction. The same --rng-seed and --now give the
/// same data. Refuses a database that already has users or merchants (exit 2). Then,
/// when Redis is among the stores, builds the geo sets and the leaderboard from it.
///
/// With --redis-only: rebuilds only those Redis structures from the committed
/// database (a seed whose Redis part did not happen is finished this way).
#[derive(Debug, Args)]
pub struct SeedArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Read app_settings.yaml, categories.yaml, loyalty_tiers.yaml and colleges.yaml
    /// from DIR instead of the copies built into rez-db
    #[arg(long, value_name = "DIR")]
    pub seeds_dir: Option<PathBuf>,

    /// Generate and load a synthetic dataset (with --scale and --rng-seed)
    #[arg(long, requires_all = ["scale", "rng_seed"])]
    pub synthetic: bool,

    /// Number of users; merchants (users / 50, at least 5), orders and the rest follow
    #[arg(long, value_name = "N", requires = "synthetic",
          value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub scale: Option<u64>,

    /// Seed of the random generator: the same seed and --now give the same dataset
    #[arg(long, value_name = "S", requires = "synthetic")]
    pub rng_seed: Option<u64>,

    /// The dataset's present, RFC 3339 (2026-01-15T10:00:00Z) or a date (2026-01-15, midnight
    /// UTC); its history is the 90 days before [default: now, to the second]
    #[arg(long, value_name = "TIMESTAMP", requires = "synthetic", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Do everything inside a transaction, report it, then roll back: nothing changes
    #[arg(long)]
    pub dry_run: bool,

    /// Only rebuild geo:stores:{<city>} and leaderboard:{rez_coins}:lifetime in Redis
    /// from the committed database (each key replaced at once)
    #[arg(long, conflicts_with_all = ["synthetic", "seeds_dir", "dry_run"])]
    pub redis_only: bool,
}

/// `cli::parse_now`, to the second: the dataset is deterministic for it.
fn parse_now(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    crate::cli::parse_now(text).map(|t| t.trunc_subsecs(0))
}

impl Render for seed::Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        if !self.reference.is_empty() {
            let mut t = table(["reference table", "inserted", "updated", "unchanged"]);
            for c in &self.reference {
                t.add_row([
                    c.table.clone(),
                    c.inserted.to_string(),
                    c.updated.to_string(),
                    c.unchanged.to_string(),
                ]);
            }
            writeln!(out, "{t}")?;
        }
        if let Some(s) = &self.synthetic {
            let mut t = table(["table", "rows"]);
            for r in &s.tables {
                t.add_row([r.table.to_string(), r.rows.to_string()]);
            }
            writeln!(out, "{t}")?;
            if !s.partitions_created.is_empty() {
                writeln!(
                    out,
                    "partitions created: {}",
                    s.partitions_created.join(", ")
                )?;
            }
            for f in &self.redis {
                writeln!(out, "redis: {} filled with {} members", f.key, f.members)?;
            }
            for m in &self.mongodb {
                writeln!(
                    out,
                    "mongodb: {} filled with {} documents",
                    m.collection, m.documents
                )?;
            }
            for p in &s.other_stores {
                writeln!(
                    out,
                    "not filled by seed yet: {} {} (would get {} from {})",
                    p.store, p.target, p.would_send, p.from_table
                )?;
            }
            writeln!(
                out,
                "{}: {} rows for {} users in {:.1}s (--rng-seed {}, --now {})",
                self.database,
                s.rows,
                s.scale,
                self.elapsed_ms as f64 / 1000.0,
                s.rng_seed,
                s.now.to_rfc3339()
            )?;
        } else if self.mode == seed::Mode::RedisOnly {
            for f in &self.redis {
                writeln!(out, "redis: {} filled with {} members", f.key, f.members)?;
            }
            writeln!(
                out,
                "{}: {} Redis key(s) rebuilt in {:.1}s",
                self.database,
                self.redis.len(),
                self.elapsed_ms as f64 / 1000.0
            )?;
        } else {
            let (inserted, updated, unchanged) = self.reference.iter().fold((0, 0, 0), |acc, c| {
                (acc.0 + c.inserted, acc.1 + c.updated, acc.2 + c.unchanged)
            });
            let nothing = if inserted + updated == 0 {
                " (nothing changed)"
            } else {
                ""
            };
            writeln!(
                out,
                "{}: reference data {inserted} inserted, {updated} updated, {unchanged} unchanged{nothing}",
                self.database
            )?;
        }
        if self.dry_run {
            writeln!(out, "dry run: rolled back, nothing was changed")?;
        }
        Ok(())
    }
}

pub async fn run(ctx: &Ctx, args: &SeedArgs) -> Result<seed::Report> {
    let with_redis = ctx.wants(StoreKind::Redis);
    if args.redis_only && !with_redis {
        return Err(CommandError::usage(
            "seed --redis-only rebuilds Redis structures, but Redis is not among the stores",
        )
        .with_hint("include redis in `stores:` (rez-db.yaml) or REZ_DB_STORES"));
    }
    let job = match (args.synthetic, args.scale, args.rng_seed) {
        _ if args.redis_only => seed::Job::RedisOnly,
        (true, Some(scale), Some(rng_seed)) => seed::Job::Synthetic {
            scale,
            rng_seed,
            now: args.now,
        },
        _ => seed::Job::Reference,
    };
    let options = seed::Options {
        job,
        seeds: match &args.seeds_dir {
            Some(dir) => SeedSource::Dir(dir.clone()),
            None => SeedSource::Embedded,
        },
        dry_run: args.dry_run,
        lock_wait: ctx.config.lock_wait,
    };
    // Redis is reached before anything is loaded: an unreachable store stops
    // the run (exit 3) with nothing changed, not after PostgreSQL committed.
    let redis = match (args.synthetic || args.redis_only) && with_redis {
        true => Some(ctx.redis().await?),
        false => None,
    };
    // MongoDB too: a synthetic dataset's documents go there after the commit.
    let mongo = match args.synthetic && !args.redis_only && ctx.wants(StoreKind::Mongodb) {
        true => Some(ctx.mongo().await?),
        false => None,
    };
    seed::run(&options, &ctx.pg(), redis, mongo, &Bars::new(ctx.progress)).await
}
