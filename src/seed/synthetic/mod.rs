//! `rez-db seed --synthetic`: a realistic, internally consistent dataset,
//! generated through the business rules of `crate::domain` and deterministic
//! for a given (`--rng-seed`, `--now`).
//!
//! How it stays deterministic and streaming at a million users:
//! - every entity has its own random stream ([`rng`]): merchant `m`, user
//!   `i`'s profile, orders, wallet and referral are each regenerated from
//!   (seed, kind, index) alone, in any order, on any machine;
//! - the supply side ([`World`]: admins, merchants, products, offers) is
//!   small (scale / 50 merchants) and held in memory;
//! - users are generated and loaded in chunks ([`generate_users`]); nothing
//!   about a user outlives its chunk;
//! - the only facts that cross users are counted in order: offers' total
//!   redemption limits ([`plan::Limits`]), and the counters merchants and
//!   offers carry (redemptions_count, ratings), which [`tally`] computes in a
//!   first, cheap pass over the users' plans so that merchants and offers can
//!   be loaded, already correct, before the users that point at them.
//!
//! It must never produce a row that `rez-db validate` would report: the
//! tests load it and check the invariants of docs/invariants.md.

pub mod activity;
pub mod catalog;
pub mod load;
mod merchant_rows;
mod merchants;
pub mod other_stores;
mod people;
mod places;
mod plan;
mod referrals;
mod rng;
mod rows;
pub mod tables;
mod timeline;
mod users;

use chrono::{DateTime, Duration, Utc};

use self::catalog::Catalog;
use self::merchants::{Admin, Campaign, Merchant, Offer};
use self::places::CITIES;
use self::plan::Limits;
use self::tables::{UserTables, WorldTables};
use crate::domain::loyalty::COUNTED_REVIEW_STATUS;

pub use self::merchants::merchant_count;
pub use self::referrals::BLOCK;

/// The days of history before `now` that the dataset covers.
pub const HISTORY_DAYS: i64 = 90;

/// Users generated and loaded together; a multiple of [`BLOCK`] so that a
/// referral's two users always load in the same chunk.
pub const CHUNK_USERS: u64 = 128 * BLOCK;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    /// Number of users; everything else is derived from it.
    pub scale: u64,
    pub rng_seed: u64,
    /// The dataset's present: every timestamp is before it (whole seconds).
    pub now: DateTime<Utc>,
}

/// Everything users interact with, generated once.
#[derive(Debug)]
pub struct World {
    pub params: Params,
    pub catalog: Catalog,
    /// `now` − [`HISTORY_DAYS`]: when the oldest merchant joined.
    pub start: DateTime<Utc>,
    /// Users order from merchants once their offers have started.
    pub orders_from: DateTime<Utc>,
    pub admins: Vec<Admin>,
    pub merchants: Vec<Merchant>,
    pub offers: Vec<Offer>,
    pub campaigns: Vec<Campaign>,
    /// Trading merchants by city index, and all of them.
    pub trading_by_city: Vec<Vec<usize>>,
    pub trading: Vec<usize>,
}

impl World {
    pub fn build(params: Params, catalog: Catalog) -> World {
        let start = params.now - Duration::days(HISTORY_DAYS);
        let admins = merchants::admins(&params, start);
        let built = merchants::merchants(&params, &catalog, &admins, start);
        let trading: Vec<usize> = (0..built.merchants.len())
            .filter(|&m| built.merchants[m].trading())
            .collect();
        let trading_by_city = (0..CITIES.len())
            .map(|c| {
                trading
                    .iter()
                    .copied()
                    .filter(|&m| built.merchants[m].city == c)
                    .collect()
            })
            .collect();
        World {
            campaigns: merchants::campaigns(&params),
            params,
            catalog,
            start,
            orders_from: start + Duration::days(12),
            admins,
            merchants: built.merchants,
            offers: built.offers,
            trading_by_city,
            trading,
        }
    }
}

impl Params {
    /// The earliest and latest instants any generated row carries, for the
    /// partitions that must exist before loading. It depends on `now` alone,
    /// so the partitions can be created while the world is being built.
    pub fn time_range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            self.now - Duration::days(HISTORY_DAYS + 31),
            self.now + Duration::days(1),
        )
    }
}

/// What users do to merchants and offers, counted before either is loaded.
#[derive(Debug, Clone)]
pub struct Tally {
    /// Non-cancelled redemptions per offer (offers.redemptions_count).
    pub redemptions: Vec<i64>,
    /// (sum, count) of published review ratings per merchant.
    pub reviews: Vec<(i64, i64)>,
}

/// The first pass: plans every user's orders, in user order, and counts.
pub fn tally(world: &World) -> Tally {
    let mut limits = Limits::new(world.offers.len());
    let mut reviews = vec![(0i64, 0i64); world.merchants.len()];
    for i in 0..world.params.scale {
        let (sk, _) = users::skeleton(world, i);
        for p in plan::plan_orders(world, &sk, &mut limits) {
            if let Some(r) = p.review.filter(|r| r.status == COUNTED_REVIEW_STATUS) {
                reviews[p.merchant].0 += i64::from(r.rating);
                reviews[p.merchant].1 += 1;
            }
        }
    }
    Tally {
        redemptions: limits.used,
        reviews,
    }
}

/// The supply side's rows, with the users' tally in its counters.
pub fn generate_world(world: &World, tally: &Tally) -> WorldTables {
    let mut out = WorldTables::new();
    merchant_rows::encode(world, tally, &mut out);
    out
}

/// The running state carried from one chunk of users to the next.
#[derive(Debug, Clone)]
pub struct Cursor {
    pub limits: Limits,
    pub next_user: u64,
}

impl Cursor {
    pub fn new(world: &World) -> Cursor {
        Cursor {
            limits: Limits::new(world.offers.len()),
            next_user: 0,
        }
    }

    pub fn done(&self, world: &World) -> bool {
        self.next_user >= world.params.scale
    }
}

/// Generates the next chunk of users into `out` (cleared first).
pub fn generate_users(world: &World, cursor: &mut Cursor, out: &mut UserTables) {
    out.clear();
    let end = (cursor.next_user + CHUNK_USERS).min(world.params.scale);
    for i in cursor.next_user..end {
        one_user(world, i, &mut cursor.limits, out);
    }
    cursor.next_user = end;
}

fn one_user(world: &World, i: u64, limits: &mut Limits, out: &mut UserTables) {
    let (sk, mut rng) = users::skeleton(world, i);
    users::encode(world, &sk, &mut rng, out);
    let plans = plan::plan_orders(world, &sk, limits);
    let referee = referrals::as_referee(world, &sk);
    let mut mine: Vec<(referrals::Referral, bool)> = referrals::as_referrer(world, &sk)
        .into_iter()
        .map(|r| (r, true))
        .collect();
    if let Some(r) = &referee {
        mine.push((r.clone(), false));
    }
    let outcome = timeline::run(world, &sk, &plans, &mine, out);
    rows::wallet(world, &sk, &outcome, out);
    rows::orders(world, &sk, &plans, &outcome, &mut rng, out);
    if let Some(r) = &referee {
        rows::referral(r, out);
    }
    rows::user_loyalty(world, &sk, &outcome, &mut rng, out);
}

#[cfg(test)]
mod tests;
