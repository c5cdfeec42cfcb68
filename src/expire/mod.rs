//! Promo-coin expiry: per wallet with lots past their expiry, one `expire`
//! ledger row, the lots zeroed and marked expired, and the promo balance
//! lowered, in batches of wallets, one transaction each.
//!
//! An operation of its own rather than a part of partition rotation: it runs
//! on its own schedule (hourly is reasonable, rotation is nightly), it
//! mutates money rather than schema, and it takes its own lock so it can run
//! while a rotation does. The arithmetic is the domain core's
//! (`domain::promo`, `domain::ledger`); this module only batches, locks and
//! reports. The SQL is `store::pg::promo`'s; the Redis wallet locks are
//! [`locks`].
//!
//! It never sees the command line or the context, and never prints: options
//! and store handles in, a [`Report`] out.

mod locks;

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Connection, PgConnection};
use uuid::Uuid;

use crate::domain::ledger::Replay;
use crate::domain::promo::{self, Lot};
use crate::domain::TxType;
use crate::error::{CommandError, Result};
use crate::store::pg::promo::{self as store, Expiry, LockedWallet, OpenLot};
use crate::store::pg::{self, lock, sqlstate, Pg};
use crate::store::redis::Redis;

/// What to expire, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// Expire what is due at this instant; None: the current time, read once
    /// the lock is held.
    pub now: Option<DateTime<Utc>>,
    /// Wallets per transaction.
    pub batch_size: i64,
    /// Decide and report, then roll every batch back (no lock is taken).
    pub dry_run: bool,
    /// How long to wait for another expiry run's lock.
    pub lock_wait: Duration,
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
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

/// Attempts per batch when a wallet row stays locked past lock_timeout.
const ATTEMPTS: u32 = 4;

/// Expires what is due in the database of `pg`. With `redis`, each wallet is
/// also locked with the application's Redis wallet lock while it expires.
pub async fn run(opts: &Options, pg: &Pg, mut redis: Option<Redis>) -> Result<Report> {
    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    if !opts.dry_run {
        lock::hold(&mut conn, pg, lock::LockScope::Expiry, opts.lock_wait).await?;
    }
    let mut report = Report {
        now: opts.now.unwrap_or_else(Utc::now),
        dry_run: opts.dry_run,
        ..Default::default()
    };
    let mut after = None;
    loop {
        let due = store::due_wallets(&mut conn, report.now, after, opts.batch_size)
            .await
            .map_err(err)?;
        let Some(&last) = due.last() else { break };
        after = Some(last);
        let mut attempt = 0;
        let batch = loop {
            match expire_batch(&mut conn, redis.as_mut(), &due, report.now, opts.dry_run).await {
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
    if !opts.dry_run {
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

/// Expires one batch of wallets in one transaction (rolled back on a dry run).
/// With Redis, each wallet is also locked with the application's
/// `lock:wallet:{user_id}` key; a wallet whose key is held (a spend in flight)
/// is left for the next run and reported busy.
async fn expire_batch(
    conn: &mut PgConnection,
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
    let mut held = locks::Held::default();
    let mut busy = HashSet::new();
    if let Some(r) = redis.as_deref_mut() {
        (held, busy) = locks::take(r, &wallets).await.map_err(BatchError::Redis)?;
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
    held.release(redis).await;
    written.map_err(BatchError::Pg)?;
    Ok(batch)
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
