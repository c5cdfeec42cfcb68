//! Promo-coin expiry, the database side: find the wallets with lots past
//! their expiry, lock them, and write what the domain core decided.
//!
//! Locking: every wallet of a batch is locked `FOR UPDATE` (in id order, so two
//! writers never deadlock) before its lots are read, so a spend that locks the
//! wallet row first cannot interleave with the expiry of the same coins.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;
use uuid::Uuid;

/// Up to `limit` wallets, after `after`, holding a lot due at `now` that is not
/// yet marked expired.
pub async fn due_wallets(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    after: Option<Uuid>,
    limit: i64,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT wallet_id FROM promo_coins \
         WHERE NOT coalesce(is_expired, false) AND expires_at <= $1 AND ($2::uuid IS NULL OR wallet_id > $2) \
         ORDER BY wallet_id LIMIT $3",
    )
    .bind(now)
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await
}

/// A locked wallet: its id, user and stored promo balance.
#[derive(Debug, Clone)]
pub struct LockedWallet {
    pub id: Uuid,
    pub user_id: Uuid,
    pub promo_balance: i64,
    /// balance_after of the wallet's last promo ledger row (0 without rows).
    pub ledger_balance: i64,
}

/// Locks `wallets` (in id order) and reads what the expiry needs.
pub async fn lock_wallets(
    conn: &mut PgConnection,
    wallets: &[Uuid],
) -> Result<Vec<LockedWallet>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, Option<i32>)> = sqlx::query_as(
        "SELECT id, user_id, promo_coins_balance FROM wallets WHERE id = ANY($1) ORDER BY id FOR UPDATE",
    )
    .bind(wallets)
    .fetch_all(&mut *conn)
    .await?;
    let last: HashMap<Uuid, i64> = sqlx::query_as::<_, (Uuid, i64)>(
        "SELECT DISTINCT ON (wallet_id) wallet_id, balance_after::bigint FROM wallet_transactions \
         WHERE wallet_id = ANY($1) AND coin_type = 'promo' ORDER BY wallet_id, created_at DESC, id DESC",
    )
    .bind(wallets)
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .collect();
    Ok(rows
        .into_iter()
        .map(|(id, user_id, promo)| LockedWallet {
            id,
            user_id,
            promo_balance: i64::from(promo.unwrap_or(0)),
            ledger_balance: last.get(&id).copied().unwrap_or(0),
        })
        .collect())
}

/// A lot of a locked wallet that is not yet marked expired.
#[derive(Debug, Clone)]
pub struct OpenLot {
    pub id: Uuid,
    pub wallet_id: Uuid,
    pub amount: i64,
    pub remaining: i64,
    pub expires_at: DateTime<Utc>,
}

pub async fn open_lots(
    conn: &mut PgConnection,
    wallets: &[Uuid],
) -> Result<Vec<OpenLot>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, i32, i32, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, wallet_id, amount, remaining_balance, expires_at FROM promo_coins \
         WHERE wallet_id = ANY($1) AND NOT coalesce(is_expired, false) ORDER BY wallet_id, expires_at, id FOR UPDATE",
    )
    .bind(wallets)
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, wallet_id, amount, remaining, expires_at)| OpenLot {
            id,
            wallet_id,
            amount: i64::from(amount),
            remaining: i64::from(remaining),
            expires_at,
        })
        .collect())
}

/// One wallet's expiry, as decided by the domain core.
#[derive(Debug, Clone)]
pub struct Expiry {
    pub wallet_id: Uuid,
    pub user_id: Uuid,
    /// The lots to zero and mark expired (some may have had nothing left).
    pub lots: Vec<Uuid>,
    /// Coins expired: the ledger row's amount is minus this.
    pub coins: i64,
    pub balance_after: i64,
}

/// Writes a batch of expiries: one `expire` ledger row per wallet with coins
/// to expire, the lots zeroed and marked, the wallets' promo balances lowered.
pub async fn write(conn: &mut PgConnection, expiries: &[Expiry]) -> Result<(), sqlx::Error> {
    let with_coins: Vec<&Expiry> = expiries.iter().filter(|e| e.coins > 0).collect();
    let wallet_ids: Vec<Uuid> = with_coins.iter().map(|e| e.wallet_id).collect();
    let user_ids: Vec<Uuid> = with_coins.iter().map(|e| e.user_id).collect();
    let amounts: Vec<i32> = with_coins.iter().map(|e| -(e.coins as i32)).collect();
    let balances: Vec<i32> = with_coins.iter().map(|e| e.balance_after as i32).collect();
    // clock_timestamp(): the row is written now, after every row already in the
    // wallet's ledger, whatever --now the run decides expiry with.
    sqlx::query(
        "INSERT INTO wallet_transactions (wallet_id, user_id, transaction_type, coin_type, amount, balance_after, \
                                          reference_type, description, created_at) \
         SELECT w, u, 'expire', 'promo', a, b, 'promo_expiry', 'promo coins expired', clock_timestamp() \
         FROM unnest($1::uuid[], $2::uuid[], $3::int[], $4::int[]) AS t(w, u, a, b)",
    )
    .bind(&wallet_ids)
    .bind(&user_ids)
    .bind(&amounts)
    .bind(&balances)
    .execute(&mut *conn)
    .await?;
    sqlx::query(
        "UPDATE wallets w SET promo_coins_balance = t.b \
         FROM unnest($1::uuid[], $2::int[]) AS t(id, b) WHERE w.id = t.id",
    )
    .bind(&wallet_ids)
    .bind(&balances)
    .execute(&mut *conn)
    .await?;
    let lots: Vec<Uuid> = expiries
        .iter()
        .flat_map(|e| e.lots.iter().copied())
        .collect();
    sqlx::query(
        "UPDATE promo_coins SET remaining_balance = 0, is_expired = true WHERE id = ANY($1)",
    )
    .bind(&lots)
    .execute(conn)
    .await?;
    Ok(())
}
