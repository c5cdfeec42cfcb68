//! Coin kinds and ledger transaction types, with their names in the database.
//!
//! Units: rez, branded, prive and promo amounts are whole coins; `cash` ledger
//! amounts are PAISE (wallets.cash_balance is rupees, NUMERIC(10,2)), so that
//! every ledger amount is an integer and no conversion ever rounds.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoinType {
    Rez,
    /// Per merchant: the ledger row carries merchant_id.
    Branded,
    Prive,
    Promo,
    /// Ledger unit: paise.
    Cash,
}

impl CoinType {
    pub const ALL: [CoinType; 5] = [
        CoinType::Rez,
        CoinType::Branded,
        CoinType::Prive,
        CoinType::Promo,
        CoinType::Cash,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CoinType::Rez => "rez",
            CoinType::Branded => "branded",
            CoinType::Prive => "prive",
            CoinType::Promo => "promo",
            CoinType::Cash => "cash",
        }
    }

    /// LEDGER-OWNER (check `ledger.owner`): branded rows, and only they, name
    /// the merchant whose coins they move.
    pub fn names_merchant(self) -> bool {
        self == CoinType::Branded
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxType {
    Earn,
    Spend,
    /// Between wallets: either sign.
    Transfer,
    Refund,
    Expire,
    AdminCredit,
    AdminDebit,
}

impl TxType {
    pub const ALL: [TxType; 7] = [
        TxType::Earn,
        TxType::Spend,
        TxType::Transfer,
        TxType::Refund,
        TxType::Expire,
        TxType::AdminCredit,
        TxType::AdminDebit,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TxType::Earn => "earn",
            TxType::Spend => "spend",
            TxType::Transfer => "transfer",
            TxType::Refund => "refund",
            TxType::Expire => "expire",
            TxType::AdminCredit => "admin_credit",
            TxType::AdminDebit => "admin_debit",
        }
    }

    /// Whether `amount` has the sign this type requires (rule LEDGER-SIGN):
    /// credits are positive, debits negative, transfers non-zero, never zero.
    pub fn allows(self, amount: i64) -> bool {
        match self {
            TxType::Earn | TxType::Refund | TxType::AdminCredit => amount > 0,
            TxType::Spend | TxType::Expire | TxType::AdminDebit => amount < 0,
            TxType::Transfer => amount != 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} `{value}` (expected one of: {expected})")]
pub struct UnknownName {
    pub what: &'static str,
    pub value: String,
    pub expected: String,
}

macro_rules! named {
    ($ty:ty, $what:literal) => {
        impl std::str::FromStr for $ty {
            type Err = $crate::domain::coins::UnknownName;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                <$ty>::ALL
                    .into_iter()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::domain::coins::UnknownName {
                        what: $what,
                        value: s.to_string(),
                        expected: <$ty>::ALL.map(|v| v.as_str()).join(", "),
                    })
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use named;

named!(CoinType, "coin type");
named!(TxType, "transaction type");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for c in CoinType::ALL {
            assert_eq!(c.as_str().parse::<CoinType>().unwrap(), c);
        }
        for t in TxType::ALL {
            assert_eq!(t.to_string().parse::<TxType>().unwrap(), t);
        }
        let err = "gold".parse::<CoinType>().unwrap_err();
        assert!(err.to_string().contains("rez, branded, prive, promo, cash"));
    }

    #[test]
    fn signs_follow_the_type() {
        assert!(TxType::Earn.allows(5) && !TxType::Earn.allows(-5) && !TxType::Earn.allows(0));
        assert!(TxType::Expire.allows(-1) && !TxType::Expire.allows(1));
        assert!(
            TxType::Transfer.allows(-3)
                && TxType::Transfer.allows(3)
                && !TxType::Transfer.allows(0)
        );
    }
}
