//! What `rez-db seed` writes: the reference data of `seeds/*.yaml`
//! ([`files`], [`reference`]) and a synthetic, internally consistent dataset
//! ([`synthetic`]).
//!
//! Everything here but [`apply`] and [`synthetic::load`] is pure: files become typed
//! records, a (seed, clock) pair becomes rows. The business rules are never
//! restated here: every amount, balance, discount, tier and rating comes from
//! `crate::domain`. The SQL lives in `crate::store::pg`.

pub mod apply;
pub mod derived;
pub mod files;
pub mod synthetic;
