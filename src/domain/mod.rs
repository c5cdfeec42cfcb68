//! The business rules of the ReZ platform, once. PURE and SYNC: no I/O, no
//! clock, no randomness, no floats. Money is [`money::Money`] (rupees,
//! `rust_decimal`, two places, one rounding rule); coins are `i64`.
//!
//! Every command uses these rules: `seed` generates data that obeys them,
//! `import-csv` refuses rows that break them, `validate` checks the database
//! against them. docs/invariants.md lists each rule with its check id.

pub mod coins;
pub mod ledger;
pub mod loyalty;
pub mod money;
pub mod offer;
pub mod order;
pub mod promo;
pub mod vocabulary;

pub use coins::{CoinType, TxType};
pub use money::Money;
