//! `rez-db seed`: load the reference data of `seeds/*.yaml`, or a synthetic
//! dataset. A thin wrapper: it parses the flags, connects, takes the data
//! lock, calls `crate::seed`, and builds the report.

use crate::seed::derived::{self, Filled};
use crate::store::kind::StoreKind;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::Connection;

use crate::cli::{LockArgs, PgArgs};
use crate::error::Result;
use crate::output::{table, Render};
use crate::seed::apply;
use crate::seed::files::SeedSource;
use crate::seed::synthetic::{self, load::Loaded};
use crate::store::pg::{self, lock, reference::UpsertCounts};
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
/// same data. Refuses a database that already has users or merchants (exit 2).
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

    /// The dataset's present, RFC 3339 (2026-01-15T10:00:00Z); its history is the 90
    /// days before [default: now, to the second]
    #[arg(long, value_name = "RFC3339", requires = "synthetic", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Do everything inside a transaction, report it, then roll back: nothing changes
    #[arg(long)]
    pub dry_run: bool,
}

fn parse_now(text: &str) -> std::result::Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc).trunc_subsecs(0))
        .map_err(|e| format!("`{text}` is not an RFC 3339 time like 2026-01-15T10:00:00Z: {e}"))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Reference,
    Synthetic,
}

#[derive(Debug, Serialize)]
pub struct SeedReport {
    pub database: String,
    pub mode: Mode,
    pub dry_run: bool,
    /// `embedded` or the --seeds-dir path.
    pub seeds: String,
    /// Reference tables upserted (for --synthetic: only those that were empty).
    pub reference: Vec<UpsertCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<Loaded>,
    /// Redis structures derived from the synthetic data (when Redis is among the stores).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redis: Vec<Filled>,
    pub elapsed_ms: u64,
}

impl Render for SeedReport {
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

pub async fn run(ctx: &Ctx, args: &SeedArgs) -> Result<SeedReport> {
    let started = Instant::now();
    let url = &ctx.config.database_url;
    let err = |e| pg::error(url, e);
    let source = match &args.seeds_dir {
        Some(dir) => SeedSource::Dir(dir.clone()),
        None => SeedSource::Embedded,
    };
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    // Redis is reached before anything is loaded: an unreachable store stops
    // the run (exit 3) with nothing changed, not after PostgreSQL committed.
    let c = &ctx.config;
    let mut redis_store = match args.synthetic && c.stores.contains(&StoreKind::Redis) {
        true => Some(
            crate::store::redis::connect(&c.redis_url, &c.redis_key_prefix, c.connect_timeout)
                .await?,
        ),
        false => None,
    };
    lock::acquire(&mut conn, url, lock::LockScope::Data, ctx.config.lock_wait).await?;
    // The synthetic dataset fills orders, wallet_transactions and audit_log
    // through partitions it creates first: partition-rotate waits.
    if args.synthetic {
        let (scope, shared) = (lock::LockScope::Partitions, lock::Mode::Shared);
        lock::acquire_in(&mut conn, url, scope, shared, ctx.config.lock_wait).await?;
    }
    let (mode, reference, synthetic) = match (args.synthetic, args.scale, args.rng_seed) {
        (true, Some(scale), Some(rng_seed)) => {
            let options = synthetic::load::Options {
                params: synthetic::Params {
                    scale,
                    rng_seed,
                    now: args.now.unwrap_or_else(|| Utc::now().trunc_subsecs(0)),
                },
                seeds: source.clone(),
                dry_run: args.dry_run,
                progress: ctx.progress,
                lock_timeout: ctx.config.lock_timeout,
                statement_timeout: ctx.config.statement_timeout,
            };
            let loaded = synthetic::load::load(&mut conn, url, &options).await?;
            (
                Mode::Synthetic,
                loaded.reference_seeded.clone(),
                Some(loaded),
            )
        }
        _ => {
            let mut tx = conn.begin().await.map_err(err)?;
            let data = apply::read(&mut tx, url, &source).await?;
            let counts = apply::upsert(&mut tx, url, &data, None).await?;
            if args.dry_run {
                tx.rollback().await.map_err(err)?;
            } else {
                tx.commit().await.map_err(err)?;
            }
            (Mode::Reference, counts, None)
        }
    };
    // The Redis structures derived from the data just committed.
    let mut redis = Vec::new();
    if let Some(store) = redis_store
        .as_mut()
        .filter(|_| synthetic.is_some() && !args.dry_run)
    {
        redis = derived::fill_redis(&mut conn, store, err).await?;
    }
    lock::release(&mut conn, lock::LockScope::Data)
        .await
        .map_err(err)?;
    Ok(SeedReport {
        redis,
        database: url.to_string(),
        mode,
        dry_run: args.dry_run,
        seeds: match &source {
            SeedSource::Embedded => "embedded".to_string(),
            SeedSource::Dir(dir) => dir.display().to_string(),
        },
        reference,
        synthetic,
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
