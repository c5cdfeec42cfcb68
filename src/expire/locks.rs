//! The application's Redis wallet locks (`lock:wallet:{<user_id>}` in
//! redis-layout.toml), taken for a batch of wallets while their coins
//! expire, so that a spend in flight and the expiry never touch the same
//! coins; a wallet whose lock another holder has is left for the next run.
//!
//! Part of the expiry operation: it never decides what expires and never
//! touches a lock it did not take (each is released only while it still
//! holds this batch's token).

use std::collections::HashSet;

use uuid::Uuid;

use crate::error::Result;
use crate::store::pg::promo::LockedWallet;
use crate::store::redis::Redis;

/// How long expiry holds a wallet's Redis lock: the reference's 30 s.
const HOLD_MS: u64 = 30_000;

/// The reference's wallet lock key (redis-layout.toml `lock:wallet:{<user_id>}`).
fn wallet_key(prefix: &str, user: Uuid) -> String {
    format!("{prefix}lock:wallet:{{{user}}}")
}

/// The wallet locks one batch took, to give back once its transaction ended.
#[derive(Debug, Default)]
pub struct Held {
    keys: Vec<String>,
    token: String,
}

/// Locks every wallet of the batch in one pipelined call (one round trip
/// per wallet made the Redis path 10x the CPU of the PostgreSQL one); on a
/// Redis Cluster the pipelines are per slot, each to its master, so the
/// locks are taken and released slot by slot. Returns the locks
/// taken and the wallets whose lock was held by someone else.
pub async fn take(redis: &mut Redis, wallets: &[LockedWallet]) -> Result<(Held, HashSet<Uuid>)> {
    let token = format!("rez-db:expire-coins:{}", Uuid::new_v4());
    let keys: Vec<String> = wallets
        .iter()
        .map(|w| wallet_key(redis.prefix(), w.user_id))
        .collect();
    let taken = match redis.try_lock_all(&keys, &token, HOLD_MS).await {
        Ok(taken) => taken,
        Err(e) => {
            // Part of the pipeline may have gone through: release what holds our token.
            Held { keys, token }.release(Some(redis)).await;
            return Err(e);
        }
    };
    let mut held = Held {
        keys: Vec::new(),
        token,
    };
    let mut busy = HashSet::new();
    for ((wallet, key), took) in wallets.iter().zip(keys).zip(taken) {
        if took {
            held.keys.push(key);
        } else {
            busy.insert(wallet.id);
        }
    }
    Ok((held, busy))
}

impl Held {
    /// Releases the locks (those still holding this batch's token); a
    /// failure only logs: the locks expire by themselves.
    pub async fn release(self, redis: Option<&mut Redis>) {
        if let Some(r) = redis {
            if let Err(e) = r.unlock_all(&self.keys, &self.token).await {
                tracing::warn!(
                    "could not release {} Redis wallet locks; they expire by themselves in 30 s: {e}",
                    self.keys.len()
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_the_layouts_hashed_on_the_user() {
        let user = Uuid::nil();
        assert_eq!(
            wallet_key("t1:", user),
            "t1:lock:wallet:{00000000-0000-0000-0000-000000000000}"
        );
    }
}
