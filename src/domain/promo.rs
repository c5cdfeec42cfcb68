//! Promo coins come in lots that expire. Spending takes from the lot that
//! expires first (FIFO by expiry, then by issue order); the expiry job zeroes
//! what is left of every lot past its expires_at.
//!
//! Rules (docs/invariants.md):
//! - PROMO-LOT-BOUNDS: 0 <= remaining_balance <= amount; an expired lot has 0 left.
//! - PROMO-BALANCE: wallets.promo_coins_balance = the sum of remaining_balance
//!   over the wallet's lots not marked expired.

use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub amount: i64,
    pub remaining: i64,
    pub expires_at: DateTime<Utc>,
    pub is_expired: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("only {available} unexpired promo coins, {requested} requested")]
pub struct Insufficient {
    pub available: i64,
    pub requested: i64,
}

impl Lot {
    pub fn new(amount: i64, expires_at: DateTime<Utc>) -> Lot {
        Lot {
            amount,
            remaining: amount,
            expires_at,
            is_expired: false,
        }
    }

    /// Still spendable at `now`.
    pub fn live_at(&self, now: DateTime<Utc>) -> bool {
        !self.is_expired && self.expires_at > now && self.remaining > 0
    }

    /// PROMO-LOT-BOUNDS.
    pub fn bounds_ok(&self) -> bool {
        (0..=self.amount).contains(&self.remaining) && !(self.is_expired && self.remaining > 0)
    }
}

/// Takes `coins` from the lots live at `now`, earliest expiry first; returns
/// (lot index, coins taken) per lot touched. Nothing changes when there is not enough.
pub fn consume_fifo(
    lots: &mut [Lot],
    coins: i64,
    now: DateTime<Utc>,
) -> Result<Vec<(usize, i64)>, Insufficient> {
    let mut order: Vec<usize> = (0..lots.len()).filter(|&i| lots[i].live_at(now)).collect();
    let available: i64 = order.iter().map(|&i| lots[i].remaining).sum();
    if available < coins {
        return Err(Insufficient {
            available,
            requested: coins,
        });
    }
    order.sort_by_key(|&i| (lots[i].expires_at, i));
    let mut left = coins;
    let mut taken = Vec::new();
    for i in order {
        if left == 0 {
            break;
        }
        let take = left.min(lots[i].remaining);
        lots[i].remaining -= take;
        left -= take;
        taken.push((i, take));
    }
    Ok(taken)
}

/// Expires every lot past its expires_at at `now`: returns (lot index, coins
/// expired) for each lot that still had coins, and marks all of them expired.
pub fn expire_due(lots: &mut [Lot], now: DateTime<Utc>) -> Vec<(usize, i64)> {
    let mut expired = Vec::new();
    for (i, lot) in lots.iter_mut().enumerate() {
        if !lot.is_expired && lot.expires_at <= now {
            if lot.remaining > 0 {
                expired.push((i, lot.remaining));
            }
            lot.remaining = 0;
            lot.is_expired = true;
        }
    }
    expired
}

/// PROMO-BALANCE: what wallets.promo_coins_balance must be.
pub fn balance(lots: &[Lot]) -> i64 {
    lots.iter()
        .filter(|l| !l.is_expired)
        .map(|l| l.remaining)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use proptest::prelude::*;

    fn day(d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn spends_the_earliest_expiring_lot_first() {
        let mut lots = vec![
            Lot::new(50, day(20)),
            Lot::new(30, day(10)),
            Lot::new(40, day(15)),
        ];
        let taken = consume_fifo(&mut lots, 60, day(1)).unwrap();
        assert_eq!(taken, [(1, 30), (2, 30)]);
        assert_eq!(
            lots.iter().map(|l| l.remaining).collect::<Vec<_>>(),
            [50, 0, 10]
        );
        assert_eq!(balance(&lots), 60);
    }

    #[test]
    fn refuses_to_overspend_and_ignores_expired_lots() {
        let mut lots = vec![Lot::new(50, day(5)), Lot::new(30, day(10))];
        assert_eq!(
            consume_fifo(&mut lots, 40, day(6)),
            Err(Insufficient {
                available: 30,
                requested: 40
            })
        );
        assert_eq!(lots[1].remaining, 30, "a refused spend changes nothing");
    }

    #[test]
    fn expiry_zeroes_due_lots_once() {
        let mut lots = vec![Lot::new(50, day(5)), Lot::new(30, day(10))];
        consume_fifo(&mut lots, 20, day(1)).unwrap();
        assert_eq!(expire_due(&mut lots, day(6)), [(0, 30)]);
        assert_eq!(balance(&lots), 30);
        assert!(lots.iter().all(Lot::bounds_ok));
        assert!(expire_due(&mut lots, day(6)).is_empty(), "idempotent");
    }

    proptest! {
        /// Whatever is spent and expired, coins are conserved and bounds hold.
        #[test]
        fn coins_are_conserved(amounts in prop::collection::vec((1i64..500, 1u32..28), 1..20),
                               spends in prop::collection::vec(1i64..300, 0..20),
                               expire_day in 1u32..28) {
            let mut lots: Vec<Lot> = amounts.iter().map(|&(a, d)| Lot::new(a, day(d))).collect();
            let issued: i64 = amounts.iter().map(|a| a.0).sum();
            let mut spent = 0;
            for s in spends {
                if let Ok(taken) = consume_fifo(&mut lots, s, day(1)) {
                    prop_assert_eq!(taken.iter().map(|t| t.1).sum::<i64>(), s);
                    spent += s;
                }
            }
            let expired: i64 = expire_due(&mut lots, day(expire_day)).iter().map(|e| e.1).sum();
            prop_assert_eq!(balance(&lots) + spent + expired, issued);
            prop_assert!(lots.iter().all(Lot::bounds_ok));
        }
    }
}
