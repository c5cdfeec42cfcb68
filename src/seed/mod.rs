//! The seed operation ([`run()`]): the reference data of `seeds/*.yaml`
//! ([`files`], [`apply`]), a synthetic, internally consistent dataset
//! ([`synthetic`]), and the Redis structures derived from the database
//! ([`derived`]).
//!
//! Everything here but `run`, [`apply`], [`derived`] and
//! [`synthetic::load`] is pure: files become typed records, a (seed, clock)
//! pair becomes rows. The business rules are never restated here: every
//! amount, balance, discount, tier and rating comes from `crate::domain`.
//! Most SQL lives in `crate::store::pg`. It never sees the command line or
//! the context, and never prints.

pub mod apply;
pub mod derived;
pub mod files;
pub mod mongo;
mod run;
pub mod synthetic;

pub use self::run::{run, Job, Mode, Options, Report};
