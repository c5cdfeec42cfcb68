//! The wallet ledger: each balance (one wallet × coin type, and × merchant for
//! branded coins) is the running sum of its rows, in (created_at, id) order.
//!
//! Rules (docs/invariants.md):
//! - LEDGER-SIGN: the amount's sign follows the transaction type ([`TxType::allows`]).
//! - LEDGER-CHAIN: each row's balance_after = the previous row's balance_after
//!   + amount (the first row's previous is 0). Checked row by row against the
//!   *stated* previous value, so one bad row is reported once, not forever after.
//! - LEDGER-NONNEG: no balance_after is negative.
//! - WALLET-BALANCE: the wallet's balance column = the sum of the amounts.
//! - WALLET-LIFETIME: lifetime_earned = the sum of positive amounts; lifetime_spent
//!   = minus the sum of negative amounts other than `expire` (expired coins were
//!   never spent).

use serde::Serialize;

use super::coins::TxType;

/// The tables whose rows are the platform's record of money and of who did
/// what: nothing rez-db does may destroy their rows on its own initiative
/// (`migrate revert` refuses a down file that would, unless forced).
pub const LEDGER_TABLES: &[&str] = &[
    "wallet_transactions",
    "wallets",
    "payments",
    "orders",
    "promo_coins",
    "audit_log",
];

/// One ledger row, as far as the rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    pub tx_type: TxType,
    pub amount: i64,
    pub balance_after: i64,
}

/// A broken rule at one row of a replayed ledger.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum LedgerViolation {
    WrongSign {
        tx_type: TxType,
        amount: i64,
    },
    ChainBreak {
        expected_balance_after: i64,
        actual_balance_after: i64,
    },
    Negative {
        balance_after: i64,
    },
}

/// The replayed state of one balance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Replay {
    /// The previous row's stated balance_after (0 before the first row).
    stated: i64,
    /// Sum of all amounts: what the balance must be.
    sum: i64,
    earned: i64,
    spent: i64,
    expired: i64,
    rows: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PostError {
    #[error("{tx_type} cannot carry amount {amount}")]
    WrongSign { tx_type: TxType, amount: i64 },
    #[error("insufficient balance: {balance} available, {requested} requested")]
    Insufficient { balance: i64, requested: i64 },
}

impl Replay {
    pub fn new() -> Replay {
        Replay::default()
    }

    /// A ledger whose rows so far sum to `balance` (and whose last row says so):
    /// where a job that appends rows starts from. Lifetime counters start at 0.
    pub fn at(balance: i64) -> Replay {
        Replay {
            stated: balance,
            sum: balance,
            ..Replay::default()
        }
    }

    /// Checks `entry` against the rows before it and adds it to the state.
    pub fn apply(&mut self, entry: &Entry) -> Vec<LedgerViolation> {
        let mut found = Vec::new();
        if !entry.tx_type.allows(entry.amount) {
            found.push(LedgerViolation::WrongSign {
                tx_type: entry.tx_type,
                amount: entry.amount,
            });
        }
        let expected = self.stated + entry.amount;
        if entry.balance_after != expected {
            found.push(LedgerViolation::ChainBreak {
                expected_balance_after: expected,
                actual_balance_after: entry.balance_after,
            });
        }
        if entry.balance_after < 0 {
            found.push(LedgerViolation::Negative {
                balance_after: entry.balance_after,
            });
        }
        self.record(entry);
        found
    }

    /// Builds the next row for a movement of `amount`, refusing what the rules
    /// forbid (generators and the expiry job write through this).
    pub fn post(&mut self, tx_type: TxType, amount: i64) -> Result<Entry, PostError> {
        if !tx_type.allows(amount) {
            return Err(PostError::WrongSign { tx_type, amount });
        }
        if self.sum + amount < 0 {
            return Err(PostError::Insufficient {
                balance: self.sum,
                requested: -amount,
            });
        }
        let entry = Entry {
            tx_type,
            amount,
            balance_after: self.sum + amount,
        };
        self.record(&entry);
        Ok(entry)
    }

    fn record(&mut self, entry: &Entry) {
        self.stated = entry.balance_after;
        self.sum += entry.amount;
        self.rows += 1;
        match (entry.amount > 0, entry.tx_type) {
            (true, _) => self.earned += entry.amount,
            (false, TxType::Expire) => self.expired -= entry.amount,
            (false, _) => self.spent -= entry.amount,
        }
    }

    /// The balance the ledger implies: the sum of its amounts.
    pub fn balance(&self) -> i64 {
        self.sum
    }

    pub fn lifetime_earned(&self) -> i64 {
        self.earned
    }

    pub fn lifetime_spent(&self) -> i64 {
        self.spent
    }

    pub fn expired(&self) -> i64 {
        self.expired
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn entry(tx_type: TxType, amount: i64, balance_after: i64) -> Entry {
        Entry {
            tx_type,
            amount,
            balance_after,
        }
    }

    #[test]
    fn a_clean_ledger_has_no_violations_and_sums_up() {
        let mut r = Replay::new();
        for e in [
            entry(TxType::Earn, 100, 100),
            entry(TxType::Spend, -30, 70),
            entry(TxType::Expire, -20, 50),
            entry(TxType::Refund, 10, 60),
        ] {
            assert!(r.apply(&e).is_empty(), "{e:?}");
        }
        assert_eq!(
            (
                r.balance(),
                r.lifetime_earned(),
                r.lifetime_spent(),
                r.expired()
            ),
            (60, 110, 30, 20)
        );
    }

    #[test]
    fn one_bad_balance_after_is_reported_where_it_breaks() {
        let mut r = Replay::new();
        assert!(r.apply(&entry(TxType::Earn, 100, 100)).is_empty());
        assert_eq!(
            r.apply(&entry(TxType::Spend, -30, 75)),
            [LedgerViolation::ChainBreak {
                expected_balance_after: 70,
                actual_balance_after: 75
            }]
        );
        // The next row is checked against the stated 75.
        assert!(r.apply(&entry(TxType::Spend, -5, 70)).is_empty());
        assert_eq!(r.balance(), 65);
    }

    #[test]
    fn wrong_signs_and_negative_balances_are_violations() {
        let mut r = Replay::new();
        let found = r.apply(&entry(TxType::Earn, -10, -10));
        assert!(found.contains(&LedgerViolation::WrongSign {
            tx_type: TxType::Earn,
            amount: -10
        }));
        assert!(found.contains(&LedgerViolation::Negative { balance_after: -10 }));
    }

    #[test]
    fn a_resumed_ledger_continues_from_its_balance() {
        let mut r = Replay::at(40);
        assert_eq!(r.post(TxType::Expire, -15).unwrap().balance_after, 25);
        assert!(matches!(
            r.post(TxType::Expire, -26),
            Err(PostError::Insufficient { .. })
        ));
        assert_eq!((r.balance(), r.expired()), (25, 15));
    }

    #[test]
    fn post_refuses_overdraft_and_wrong_sign() {
        let mut r = Replay::new();
        r.post(TxType::Earn, 10).unwrap();
        assert_eq!(
            r.post(TxType::Spend, -11),
            Err(PostError::Insufficient {
                balance: 10,
                requested: 11
            })
        );
        assert!(matches!(
            r.post(TxType::Spend, 5),
            Err(PostError::WrongSign { .. })
        ));
        assert_eq!(r.balance(), 10);
    }

    fn movement() -> impl Strategy<Value = (TxType, i64)> {
        (prop::sample::select(TxType::ALL.to_vec()), 1i64..10_000).prop_map(|(t, n)| match t {
            TxType::Earn | TxType::Refund | TxType::AdminCredit => (t, n),
            TxType::Transfer if n % 2 == 0 => (t, n),
            _ => (t, -n),
        })
    }

    proptest! {
        /// Replaying any ledger built by `post` reproduces its balances with no violation.
        #[test]
        fn replay_reproduces_posted_ledgers(moves in prop::collection::vec(movement(), 0..200)) {
            let mut writer = Replay::new();
            let rows: Vec<Entry> = moves.into_iter().filter_map(|(t, a)| writer.post(t, a).ok()).collect();
            let mut reader = Replay::new();
            for row in &rows {
                prop_assert!(reader.apply(row).is_empty());
            }
            prop_assert_eq!(reader, writer);
            prop_assert_eq!(reader.balance(), rows.last().map_or(0, |e| e.balance_after));
            prop_assert_eq!(reader.balance(), reader.lifetime_earned() - reader.lifetime_spent() - reader.expired());
            prop_assert!(rows.iter().all(|e| e.balance_after >= 0));
        }
    }
}
