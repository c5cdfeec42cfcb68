//! `rez-db seed`: load the reference data of `seeds/*.yaml`, or a synthetic
//! dataset, or only the Redis structures derived from the database. A thin
//! wrapper: it parses the flags, connects, takes the data lock (and the Redis
//! lease when it writes Redis), calls `crate::seed`, and builds the report.

use crate::config::StoreKind;
use crate::seed::derived::{self, Filled};
use crate::store::lease;
use crate::store::redis::Redis;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, SubsecRound, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use crate::cli::{LockArgs, PgArgs};
use crate::error::{CommandError, Result};
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

    /// The dataset's present, RFC 3339 (2026-01-15T10:00:00Z); its history is the 90
    /// days before [default: now, to the second]
    #[arg(long, value_name = "RFC3339", requires = "synthetic", value_parser = parse_now)]
    pub now: Option<DateTime<Utc>>,

    /// Do everything inside a transaction, report it, then roll back: nothing changes
    #[arg(long)]
    pub dry_run: bool,

    /// Only rebuild geo:stores:{<city>} and leaderboard:{rez_coins}:lifetime in Redis
    /// from the committed database (each key replaced at once)
    #[arg(long, conflicts_with_all = ["synthetic", "seeds_dir", "dry_run"])]
    pub redis_only: bool,
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
    /// `--redis-only`: the derived Redis structures, rebuilt from the database.
    RedisOnly,
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
        } else if self.mode == Mode::RedisOnly {
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

pub async fn run(ctx: &Ctx, args: &SeedArgs) -> Result<SeedReport> {
    let started = Instant::now();
    let c = &ctx.config;
    let url = &c.database_url;
    let with_redis = c.stores.contains(&StoreKind::Redis);
    if args.redis_only && !with_redis {
        return Err(CommandError::usage(
            "seed --redis-only rebuilds Redis structures, but Redis is not among the stores",
        )
        .with_hint("include redis in `stores:` (rez-db.yaml) or REZ_DB_STORES"));
    }
    let mut conn = pg::connect(url, c.connect_timeout).await?;
    // Redis is reached, and its lease taken, before anything is loaded: an
    // unreachable store stops the run (exit 3) with nothing changed, not
    // after PostgreSQL committed.
    let mut redis = match (args.synthetic || args.redis_only) && with_redis {
        true => Some(
            crate::store::redis::connect(&c.redis_url, &c.redis_key_prefix, c.connect_timeout)
                .await?,
        ),
        false => None,
    };
    lock::acquire(&mut conn, url, lock::LockScope::Data, c.lock_wait).await?;
    // The synthetic dataset fills orders, wallet_transactions and audit_log
    // through partitions it creates first: partition-rotate waits.
    if args.synthetic {
        let (scope, shared) = (lock::LockScope::Partitions, lock::Mode::Shared);
        lock::acquire_in(&mut conn, url, scope, shared, c.lock_wait).await?;
    }
    let lease = match redis.as_ref().filter(|_| !args.dry_run) {
        Some(r) => Some(lease::redis(r, lease::Scope::Data, "seed", c.lock_wait).await?),
        None => None,
    };
    let report = seed(
        ctx,
        args,
        &mut conn,
        redis.as_mut().filter(|_| !args.dry_run),
    )
    .await;
    // Released whatever the outcome; a lost lease is reported after the
    // run's own error, which says more.
    let released = match lease {
        Some(l) => l.release().await,
        None => Ok(()),
    };
    let report = report?;
    released?;
    lock::release(&mut conn, lock::LockScope::Data)
        .await
        .map_err(|e| pg::error(url, e))?;
    Ok(SeedReport {
        elapsed_ms: started.elapsed().as_millis() as u64,
        ..report
    })
}

/// The seed itself, under the data lock and (with `redis`) the Redis lease.
async fn seed(
    ctx: &Ctx,
    args: &SeedArgs,
    conn: &mut PgConnection,
    redis: Option<&mut Redis>,
) -> Result<SeedReport> {
    let url = &ctx.config.database_url;
    let err = |e| pg::error(url, e);
    let source = match &args.seeds_dir {
        Some(dir) => SeedSource::Dir(dir.clone()),
        None => SeedSource::Embedded,
    };
    let (mode, reference, synthetic) = match (args.synthetic, args.scale, args.rng_seed) {
        _ if args.redis_only => (Mode::RedisOnly, Vec::new(), None),
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
            let loaded = synthetic::load::load(conn, url, &options).await?;
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
    // The Redis structures derived from the data committed (now, or by an
    // earlier seed for --redis-only).
    let mut filled = Vec::new();
    if let Some(store) = redis.filter(|_| mode != Mode::Reference) {
        filled = derived::fill_redis(conn, store, err)
            .await
            .map_err(|e| match mode {
                Mode::Synthetic => after_commit(e),
                _ => e,
            })?;
    }
    Ok(SeedReport {
        redis: filled,
        database: url.to_string(),
        mode,
        dry_run: args.dry_run,
        seeds: match &source {
            SeedSource::Embedded => "embedded".to_string(),
            SeedSource::Dir(dir) => dir.display().to_string(),
        },
        reference,
        synthetic,
        elapsed_ms: 0,
    })
}

/// A Redis failure once the dataset is committed: PostgreSQL keeps it (a
/// rerun would be refused), so say how to finish the job.
fn after_commit(e: CommandError) -> CommandError {
    let mut out = CommandError::new(
        e.kind,
        format!(
            "the synthetic dataset is committed in PostgreSQL, but building its Redis \
             structures failed: {}",
            e.message
        ),
    );
    out.hints = e.hints;
    out.with_hint(
        "once Redis is fixed, run `rez-db seed --redis-only` (same database, Redis and \
         prefix) to rebuild geo:stores:{<city>} and leaderboard:{rez_coins}:lifetime from \
         the committed data; `rez-db validate` reports them missing until then",
    )
}
