//! `rez-db expire-coins`: the nightly promo-coin expiry.
//!
//! A command of its own rather than a mode of partition-rotate: it runs on its
//! own schedule (hourly is reasonable, rotation is nightly), it mutates money
//! rather than schema, and it takes its own lock so it can run while a
//! rotation does. The arithmetic is the domain core's (`domain::promo`,
//! `domain::ledger`); this file only batches, locks and reports.

use std::collections::{HashMap, HashSet};
use std::io::{self, Write};
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::Connection;
use uuid::Uuid;

use crate::cli::{LockArgs, PgArgs};
use crate::config::StoreKind;
use crate::domain::ledger::Replay;
use crate::domain::promo::{self, Lot};
use crate::domain::TxType;
use crate::error::{CommandError, Result};
use crate::output::{table, Render};
use crate::store::pg::promo::{self as store, Expiry, LockedWallet, OpenLot};
use crate::store::pg::{self, lock, sqlstate};
use crate::store::redis::Redis;
use crate::Ctx;

/// Expire promo coins past their expiry: per wallet, one `expire` ledger row,
/// the lots zeroed and marked expired, and the promo balance lowered.
///
/// Idempotent: a second run finds nothing to do. Safe to run while the
/// application spends: each wallet is locked (FOR UPDATE) while it is expired.
#[derive(Debug, Args)]
pub struct ExpireCoinsArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// Expire what is due at this instant instead of the current time (RFC 3339)
    #[arg(long, value_name = "TIMESTAMP")]
    pub now: Option<DateTime<Utc>>,

    /// Wallets per transaction
    #[arg(long, value_name = "N", default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=100_000))]
    pub batch_size: i64,

    /// Report what would expire and change nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Default, Serialize)]
pub struct ExpireReport {
    pub now: DateTime<Utc>,
    pub dry_run: bool,
    /// Wallets whose coins expired (or would).
    pub wallets: u64,
    /// Lots marked expired, with or without coins left.
    pub lots: u64,
    pub coins: i64,
    pub batches: u64,
    /// Wallets left alone because their data is already inconsistent.
    pub skipped: Vec<Skipped>,
    /// Wallets whose Redis `lock:wallet:{user_id}` was held by a spend in
    /// flight: left for the next run (not an error).
    pub busy: Vec<Uuid>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub wallet_id: Uuid,
    pub reason: String,
}

impl Render for ExpireReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let verb = if self.dry_run {
            "would expire"
        } else {
            "expired"
        };
        writeln!(
            out,
            "{verb} {} promo coins in {} lots of {} wallets (due at {}), {} batches",
            self.coins, self.lots, self.wallets, self.now, self.batches
        )?;
        if !self.busy.is_empty() {
            writeln!(
                out,
                "{} wallets busy (their Redis wallet lock was held): left for the next run",
                self.busy.len()
            )?;
        }
        if !self.skipped.is_empty() {
            let mut t = table(["skipped wallet", "reason"]);
            for s in &self.skipped {
                t.add_row([s.wallet_id.to_string(), s.reason.clone()]);
            }
            writeln!(out, "{t}")?;
        }
        Ok(())
    }

    fn has_problems(&self) -> bool {
        !self.skipped.is_empty()
    }
}

/// Attempts per batch when a wallet row stays locked past lock_timeout.
const ATTEMPTS: u32 = 4;

pub async fn run(ctx: &Ctx, args: &ExpireCoinsArgs) -> Result<ExpireReport> {
    let url = &ctx.config.database_url;
    let err = |e| pg::error(url, e);
    let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
    if !args.dry_run {
        lock::hold(&mut conn, &ctx.config, lock::LockScope::Expiry).await?;
    }
    let mut report = ExpireReport {
        now: args.now.unwrap_or_else(Utc::now),
        dry_run: args.dry_run,
        ..Default::default()
    };
    // The application's Redis wallet lock, honoured when Redis is among the stores.
    let c = &ctx.config;
    let mut redis = match c.stores.contains(&StoreKind::Redis) {
        true => Some(
            crate::store::redis::connect(&c.redis_url, &c.redis_key_prefix, c.connect_timeout)
                .await?,
        ),
        false => None,
    };
    let mut after = None;
    loop {
        let due = store::due_wallets(&mut conn, report.now, after, args.batch_size)
            .await
            .map_err(err)?;
        let Some(&last) = due.last() else { break };
        after = Some(last);
        let mut attempt = 0;
        let batch = loop {
            match expire_batch(&mut conn, redis.as_mut(), &due, report.now, args.dry_run).await {
                Err(BatchError::Pg(e))
                    if pg::code(&e).as_deref() == Some(sqlstate::LOCK_NOT_AVAILABLE)
                        && attempt + 1 < ATTEMPTS =>
                {
                    attempt += 1;
                    let pause = Duration::from_millis(200 << attempt);
                    tracing::warn!("a wallet of this batch is locked; retrying in {pause:?}");
                    tokio::time::sleep(pause).await;
                }
                Err(BatchError::Pg(e)) => return Err(err(e)),
                Err(BatchError::Redis(e)) => return Err(e),
                Ok(batch) => break batch,
            }
        };
        report.batches += 1;
        for e in &batch.expiries {
            report.wallets += u64::from(e.coins > 0);
            report.lots += e.lots.len() as u64;
            report.coins += e.coins;
        }
        report.skipped.extend(batch.skipped);
        report.busy.extend(batch.busy);
    }
    if !args.dry_run {
        lock::release(&mut conn, lock::LockScope::Expiry)
            .await
            .map_err(err)?;
    }
    Ok(report)
}

struct Batch {
    expiries: Vec<Expiry>,
    skipped: Vec<Skipped>,
    /// Wallets whose Redis lock was held: left for the next run.
    busy: Vec<Uuid>,
}

/// Why a batch failed: PostgreSQL (a lock timeout is retried) or Redis.
enum BatchError {
    Pg(sqlx::Error),
    Redis(CommandError),
}

/// How long expiry holds a wallet's Redis lock: the reference's 30 s.
const REDIS_LOCK_MS: u64 = 30_000;

/// The reference's wallet lock key (redis-layout.toml `lock:wallet:{<user_id>}`).
fn wallet_lock_key(prefix: &str, user: Uuid) -> String {
    format!("{prefix}lock:wallet:{{{user}}}")
}

/// Expires one batch of wallets in one transaction (rolled back under --dry-run).
/// With Redis, each wallet is also locked with the application's
/// `lock:wallet:{user_id}` key; a wallet whose key is held (a spend in flight)
/// is left for the next run and reported busy.
async fn expire_batch(
    conn: &mut sqlx::PgConnection,
    mut redis: Option<&mut Redis>,
    due: &[Uuid],
    now: DateTime<Utc>,
    dry_run: bool,
) -> std::result::Result<Batch, BatchError> {
    let mut tx = conn.begin().await.map_err(BatchError::Pg)?;
    let wallets = store::lock_wallets(&mut tx, due)
        .await
        .map_err(BatchError::Pg)?;
    let lots = store::open_lots(&mut tx, due)
        .await
        .map_err(BatchError::Pg)?;
    let mut batch = Batch {
        expiries: Vec::new(),
        skipped: Vec::new(),
        busy: Vec::new(),
    };
    let token = format!("rez-db:expire-coins:{}", Uuid::new_v4());
    // The application's wallet locks, for the whole batch in one round trip
    // (one per wallet made the Redis path 10x the CPU of the PostgreSQL one).
    let mut held = Vec::new();
    let mut busy = HashSet::new();
    if let Some(r) = redis.as_deref_mut() {
        let keys: Vec<String> = wallets
            .iter()
            .map(|w| wallet_lock_key(r.prefix(), w.user_id))
            .collect();
        match r.try_lock_all(&keys, &token, REDIS_LOCK_MS).await {
            Ok(taken) => {
                for ((wallet, key), took) in wallets.iter().zip(keys).zip(taken) {
                    if took {
                        held.push(key);
                    } else {
                        busy.insert(wallet.id);
                    }
                }
            }
            Err(e) => {
                // Part of the pipeline may have gone through: release what holds our token.
                release(Some(r), &keys, &token).await;
                return Err(BatchError::Redis(e));
            }
        }
    }
    // Each wallet's lots by id: a batch may hold 100,000 wallets and 400,000
    // lots, too many to scan the whole list once per wallet.
    let mut lots_of: HashMap<Uuid, Vec<&OpenLot>> = HashMap::new();
    for lot in &lots {
        lots_of.entry(lot.wallet_id).or_default().push(lot);
    }
    for wallet in &wallets {
        if busy.contains(&wallet.id) {
            batch.busy.push(wallet.id);
            continue;
        }
        let mine = lots_of.get(&wallet.id).map_or(&[][..], Vec::as_slice);
        match decide(wallet, mine, now) {
            Ok(expiry) => batch.expiries.push(expiry),
            Err(reason) => batch.skipped.push(Skipped {
                wallet_id: wallet.id,
                reason,
            }),
        }
    }
    let written = if dry_run {
        tx.rollback().await
    } else {
        match store::write(&mut tx, &batch.expiries).await {
            Ok(()) => tx.commit().await,
            Err(e) => Err(e),
        }
    };
    release(redis, &held, &token).await;
    written.map_err(BatchError::Pg)?;
    Ok(batch)
}

/// Releases the Redis wallet locks this batch took (those still holding its token).
async fn release(redis: Option<&mut Redis>, keys: &[String], token: &str) {
    if let Some(r) = redis {
        if let Err(e) = r.unlock_all(keys, token).await {
            tracing::warn!(
                "could not release {} Redis wallet locks; they expire by themselves in 30 s: {e}",
                keys.len()
            );
        }
    }
}

/// What expires in one wallet, by the domain's rules; Err when the wallet's
/// promo data is already inconsistent (expiring on top would hide it).
fn decide(
    wallet: &LockedWallet,
    open: &[&OpenLot],
    now: DateTime<Utc>,
) -> std::result::Result<Expiry, String> {
    if wallet.promo_balance != wallet.ledger_balance {
        return Err(format!(
            "promo_coins_balance {} differs from the promo ledger's {}; run `rez-db validate`",
            wallet.promo_balance, wallet.ledger_balance
        ));
    }
    let mut lots: Vec<Lot> = open
        .iter()
        .map(|l| Lot {
            amount: l.amount,
            remaining: l.remaining,
            expires_at: l.expires_at,
            is_expired: false,
        })
        .collect();
    let coins: i64 = promo::expire_due(&mut lots, now)
        .iter()
        .map(|(_, c)| c)
        .sum();
    let marked = open
        .iter()
        .zip(&lots)
        .filter(|(_, lot)| lot.is_expired)
        .map(|(l, _)| l.id)
        .collect();
    let mut ledger = Replay::at(wallet.ledger_balance);
    let balance_after = if coins > 0 {
        ledger
            .post(TxType::Expire, -coins)
            .map_err(|e| format!("cannot expire {coins} coins: {e}; run `rez-db validate`"))?
            .balance_after
    } else {
        wallet.ledger_balance
    };
    Ok(Expiry {
        wallet_id: wallet.id,
        user_id: wallet.user_id,
        lots: marked,
        coins,
        balance_after,
    })
}
