//! Who referred whom, and when the rewards were paid.
//!
//! Users are grouped in blocks of [`BLOCK`] consecutive indices; one member of
//! each block (the "leader", chosen by the block's stream) may have referred
//! the others. A referral involves two users, and both ledgers must carry its
//! reward, so everything about it is a pure function of the two users'
//! skeletons and the referee's stream: the referrer computes the same
//! referral as the referee without generating the referee. Blocks never span
//! two loading chunks (chunks are a multiple of [`BLOCK`]), so both users are
//! loaded before the referral row that points at them.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use uuid::Uuid;

use super::rng::{self, chance, stream, weighted, Kind};
use super::users::{skeleton, Skeleton};
use super::World;

pub const BLOCK: u64 = 8;

#[derive(Debug, Clone)]
pub struct Referral {
    pub id: Uuid,
    pub referrer: Uuid,
    pub referee: Uuid,
    pub code: String,
    pub referrer_coins: i64,
    pub referee_coins: i64,
    /// One of `vocabulary::allowed("referrals", "status")`.
    pub status: &'static str,
    pub condition_type: &'static str,
    pub condition_met_at: Option<DateTime<Utc>>,
    /// Both rewards are paid together, when the condition is met.
    pub rewarded_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// The block leader of user `i`.
pub fn leader_of(world: &World, i: u64) -> u64 {
    let start = i / BLOCK * BLOCK;
    let size = BLOCK.min(world.params.scale - start);
    let mut rng = stream(world.params.rng_seed, Kind::ReferralBlock, i / BLOCK);
    start + rng.random_range(0..size)
}

/// The referral that brought `referee` in, made by `referrer`, if any.
pub fn between(world: &World, referrer: &Skeleton, referee: &Skeleton) -> Option<Referral> {
    let now = world.params.now;
    let mut rng = stream(world.params.rng_seed, Kind::Referral, referee.index);
    if referrer.index == referee.index
        || referrer.deleted()
        || referee.deleted()
        || referee.created_at <= referrer.created_at
        || !chance(&mut rng, 350)
    {
        return None;
    }
    let condition_type =
        ["signup", "first_purchase", "spend_threshold"][weighted(&mut rng, &[35, 55, 10])];
    let condition_met_at = match condition_type {
        "signup" => Some(referee.created_at),
        "first_purchase" => referee.first_completed_at(now),
        _ => None,
    };
    let rewarded_at = condition_met_at
        .map(|t| t + rng::minutes(&mut rng, 1, 10))
        .filter(|t| *t <= now);
    let status = match rewarded_at {
        Some(_) => "completed",
        None if now - referee.created_at > Duration::days(30) => "expired",
        None => "pending",
    };
    Some(Referral {
        id: rng::uuid(&mut rng),
        referrer: referrer.id,
        referee: referee.id,
        code: referrer.referral_code(),
        referrer_coins: world.catalog.referrer_reward_coins,
        referee_coins: world.catalog.referee_reward_coins,
        status,
        condition_type,
        condition_met_at: condition_met_at.filter(|_| rewarded_at.is_some()),
        rewarded_at,
        created_at: referee.created_at,
    })
}

/// The referral `sk` signed up with, if any.
pub fn as_referee(world: &World, sk: &Skeleton) -> Option<Referral> {
    let leader = leader_of(world, sk.index);
    if leader == sk.index {
        return None;
    }
    between(world, &skeleton(world, leader).0, sk)
}

/// The referrals `sk` made (only a block leader makes any).
pub fn as_referrer(world: &World, sk: &Skeleton) -> Vec<Referral> {
    if leader_of(world, sk.index) != sk.index {
        return Vec::new();
    }
    let start = sk.index / BLOCK * BLOCK;
    let end = (start + BLOCK).min(world.params.scale);
    (start..end)
        .filter(|&j| j != sk.index)
        .filter_map(|j| between(world, sk, &skeleton(world, j).0))
        .collect()
}
