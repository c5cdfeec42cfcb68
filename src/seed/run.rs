//! The seed operation: under the data lock (and, when it writes Redis, the
//! Redis data lease), load the reference data, or a synthetic dataset and
//! then its derived Redis structures, or only those structures rebuilt from
//! the committed database.
//!
//! It never sees the command line or the context, and never prints: options
//! and store handles in, a [`Report`] out. A Redis failure once a synthetic
//! dataset is committed keeps the store's exit code and says how to finish.

use std::time::{Duration, Instant};

use chrono::{DateTime, SubsecRound, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection};

use super::apply;
use super::derived::{self, Filled};
use super::files::SeedSource;
use super::mongo::{self as mongo_docs, FilledCollection};
use super::synthetic::{self, load::Loaded};
use crate::error::{CommandError, Remedy, Result};
use crate::progress::Progress;
use crate::store::lease;
use crate::store::mongo::Mongo;
use crate::store::pg::{lock, reference::UpsertCounts, Pg};
use crate::store::redis::Redis;

/// What to seed.
#[derive(Debug, Clone)]
pub enum Job {
    /// Upsert the reference data.
    Reference,
    /// Generate and load a synthetic dataset, then its Redis structures.
    Synthetic {
        scale: u64,
        rng_seed: u64,
        /// The dataset's present; None: now, to the second, read once the
        /// locks are held.
        now: Option<DateTime<Utc>>,
    },
    /// Rebuild only the Redis structures derived from the committed database.
    RedisOnly,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub job: Job,
    /// Where the reference data comes from (for a synthetic dataset: if the
    /// reference tables are empty).
    pub seeds: SeedSource,
    /// Do everything inside a transaction, report it, then roll back.
    pub dry_run: bool,
    /// How long to wait for another run's lock or lease.
    pub lock_wait: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    Reference,
    Synthetic,
    /// The derived Redis structures, rebuilt from the database.
    RedisOnly,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub database: String,
    pub mode: Mode,
    pub dry_run: bool,
    /// `embedded` or the directory the seed files were read from.
    pub seeds: String,
    /// Reference tables upserted (for a synthetic dataset: only those that were empty).
    pub reference: Vec<UpsertCounts>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub synthetic: Option<Loaded>,
    /// Redis structures derived from the synthetic data (when Redis is among the stores).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redis: Vec<Filled>,
    /// MongoDB collections filled from the synthetic data (when MongoDB is among the stores).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mongodb: Vec<FilledCollection>,
    pub elapsed_ms: u64,
}

/// Seeds the database of `pg`. `redis` is the store the derived structures
/// go to, connected before anything is loaded (so an unreachable Redis stops
/// the run with nothing changed); None when Redis is not among the stores.
/// `mongo` likewise receives a synthetic dataset's documents; its
/// collections must be empty, which is checked before anything is loaded.
pub async fn run(
    opts: &Options,
    pg: &Pg,
    mut redis: Option<Redis>,
    mongo: Option<&Mongo>,
    progress: &dyn Progress,
) -> Result<Report> {
    let started = Instant::now();
    if matches!(opts.job, Job::RedisOnly) && redis.is_none() {
        return Err(CommandError::bug(
            "the Redis structures were to be rebuilt without a Redis connection",
        ));
    }
    let url = &pg.url;
    let mut conn = pg.connect().await?;
    lock::acquire(&mut conn, url, lock::LockScope::Data, opts.lock_wait).await?;
    // The synthetic dataset fills orders, wallet_transactions and audit_log
    // through partitions it creates first: partition rotation waits.
    if matches!(opts.job, Job::Synthetic { .. }) {
        let (scope, shared) = (lock::LockScope::Partitions, lock::Mode::Shared);
        lock::acquire_in(&mut conn, url, scope, shared, opts.lock_wait).await?;
    }
    // Every store this seed will write answers, and a cluster serves every
    // slot from a live master, before PostgreSQL commits anything.
    if let Some(r) = redis
        .as_mut()
        .filter(|_| !matches!(opts.job, Job::Reference))
    {
        r.check_writable().await?;
    }
    let lease = match redis.as_ref().filter(|_| !opts.dry_run) {
        Some(r) => Some(lease::redis(r, lease::Scope::Data, "seed", opts.lock_wait).await?),
        None => None,
    };
    let mongo = mongo.filter(|_| !opts.dry_run && matches!(opts.job, Job::Synthetic { .. }));
    // A lease left behind by `?` is given back by `crate::run` on the way out.
    let mongo_lease = match mongo {
        Some(m) => Some(lease::mongo(m, lease::Scope::Data, "seed", opts.lock_wait).await?),
        None => None,
    };
    let redis_store = redis.as_mut().filter(|_| !opts.dry_run);
    let report = match mongo {
        Some(m) => match mongo_docs::ensure_empty(m).await {
            Ok(()) => seed(opts, pg, &mut conn, redis_store, mongo, progress).await,
            Err(e) => Err(e),
        },
        None => seed(opts, pg, &mut conn, redis_store, None, progress).await,
    };
    // Released whatever the outcome; a lost lease is reported after the
    // run's own error, which says more.
    let released = match lease {
        Some(l) => l.release().await,
        None => Ok(()),
    };
    let mongo_released = match mongo_lease {
        Some(l) => l.release().await,
        None => Ok(()),
    };
    let report = report?;
    released?;
    mongo_released?;
    lock::release(&mut conn, lock::LockScope::Data)
        .await
        .map_err(|e| pg.error(e))?;
    Ok(Report {
        elapsed_ms: started.elapsed().as_millis() as u64,
        ..report
    })
}

/// The seed itself, under the data lock and (with `redis`) the Redis lease.
async fn seed(
    opts: &Options,
    pg: &Pg,
    conn: &mut PgConnection,
    redis: Option<&mut Redis>,
    mongo: Option<&Mongo>,
    progress: &dyn Progress,
) -> Result<Report> {
    let url = &pg.url;
    let err = |e| pg.error(e);
    let (mode, reference, synthetic) = match opts.job {
        Job::RedisOnly => (Mode::RedisOnly, Vec::new(), None),
        Job::Synthetic {
            scale,
            rng_seed,
            now,
        } => {
            let options = synthetic::load::Options {
                params: synthetic::Params {
                    scale,
                    rng_seed,
                    now: now.unwrap_or_else(|| Utc::now().trunc_subsecs(0)),
                },
                seeds: opts.seeds.clone(),
                dry_run: opts.dry_run,
            };
            let loaded = synthetic::load::load(conn, pg, &options, progress).await?;
            (
                Mode::Synthetic,
                loaded.reference_seeded.clone(),
                Some(loaded),
            )
        }
        Job::Reference => {
            let mut tx = conn.begin().await.map_err(err)?;
            let data = apply::read(&mut tx, url, &opts.seeds).await?;
            let counts = apply::upsert(&mut tx, url, &data, None).await?;
            if opts.dry_run {
                tx.rollback().await.map_err(err)?;
            } else {
                tx.commit().await.map_err(err)?;
            }
            (Mode::Reference, counts, None)
        }
    };
    // The Redis structures derived from the data committed (now, or by an
    // earlier seed for RedisOnly).
    let mut filled = Vec::new();
    if let Some(store) = redis.filter(|_| mode != Mode::Reference) {
        let planned = derived::planned_keys(conn, store.prefix(), err).await?;
        if let Err(e) = derived::fill_redis(conn, store, err, &mut filled).await {
            let missing: Vec<String> = planned
                .into_iter()
                .filter(|k| !filled.iter().any(|f| f.key == *k))
                .collect();
            return Err(match mode {
                Mode::Synthetic => after_commit(e, &missing),
                _ => not_written(e, &missing),
            });
        }
    }
    let mut documents = Vec::new();
    if let (Some(store), Some(loaded)) = (mongo, synthetic.as_ref()) {
        documents = mongo_docs::fill_mongo(conn, store, loaded.rng_seed, loaded.now, err, progress)
            .await
            .map_err(mongo_after_commit)?;
    }
    let mut synthetic = synthetic;
    if let Some(loaded) = synthetic.as_mut().filter(|_| !documents.is_empty()) {
        loaded.other_stores.retain(|p| p.store != "mongodb");
    }
    Ok(Report {
        redis: filled,
        mongodb: documents,
        database: url.to_string(),
        mode,
        dry_run: opts.dry_run,
        seeds: match &opts.seeds {
            SeedSource::Embedded => "embedded".to_string(),
            SeedSource::Dir(dir) => dir.display().to_string(),
        },
        reference,
        synthetic,
        elapsed_ms: 0,
    })
}

/// A Redis failure once the dataset is committed: PostgreSQL keeps it (a
/// rerun would be refused), so say which keys were not written and how to
/// finish the job. The exit code is the Redis error's (3 unreachable, 5 refused).
fn after_commit(e: CommandError, missing: &[String]) -> CommandError {
    let mut out = not_written(e, missing);
    out.message = format!(
        "the synthetic dataset is committed in PostgreSQL, but building its Redis \
         structures failed: {}",
        out.message
    );
    out.with_remedy(Remedy::RebuildRedisOnceFixed)
}

/// `e`, saying which derived keys were not written (all of them named).
fn not_written(e: CommandError, missing: &[String]) -> CommandError {
    let mut out = e;
    out.message = format!(
        "{}; {} key(s) not written: {}",
        out.message,
        missing.len(),
        missing.join(", ")
    );
    out
}

/// A MongoDB failure once the dataset is committed: PostgreSQL keeps it.
fn mongo_after_commit(e: CommandError) -> CommandError {
    let mut out = CommandError::new(
        e.kind,
        format!(
            "the synthetic dataset is committed in PostgreSQL, but filling MongoDB failed: {}",
            e.message
        ),
    );
    out.hints = e.hints;
    out.remedies = e.remedies;
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn a_redis_failure_after_the_commit_keeps_its_kind_and_its_remedies() {
        let redis = CommandError::new(ErrorKind::Unreachable, "Redis at x did not answer")
            .with_hint("is the server running?")
            .with_remedy(Remedy::Relocate(crate::config::StoreKind::Redis));
        let err = after_commit(redis, &["geo:stores:{pune}".to_string()]);
        assert_eq!(err.kind, ErrorKind::Unreachable);
        assert!(err.message.contains("committed in PostgreSQL"), "{err}");
        assert!(err.message.contains("did not answer"), "{err}");
        assert!(
            err.message
                .ends_with("1 key(s) not written: geo:stores:{pune}"),
            "{err}"
        );
        assert_eq!(err.hints, ["is the server running?"]);
        assert_eq!(
            err.remedies,
            [
                Remedy::Relocate(crate::config::StoreKind::Redis),
                Remedy::RebuildRedisOnceFixed
            ]
        );
    }
}
