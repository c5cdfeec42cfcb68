//! Loyalty tiers, ratings and referral rewards.
//!
//! Rules (docs/invariants.md):
//! - LOYALTY-TOTALS: user_loyalty.lifetime_spend = the sum of total_amount, and
//!   total_orders = the count, of the user's completed orders.
//! - LOYALTY-TIER: current_tier is the highest active tier whose min_spend and
//!   min_orders are both met (none when no tier is met).
//! - MERCHANT-RATING: total_reviews = the count of the merchant's published
//!   reviews; average_rating = their mean rating rounded by [`Money::round`]'s
//!   rule (half away from zero, two places), 0.00 without reviews.
//! - REFERRAL-REWARD: a referral marked referrer_rewarded has a rez `earn` row
//!   of referrer_reward_coins in the referrer's ledger with reference_type
//!   `referral` and reference_id = the referral's id (the same for the referee).

use rust_decimal::{Decimal, RoundingStrategy};

use super::money::Money;

/// The order status that counts toward loyalty.
pub const COUNTED_ORDER_STATUS: &str = "completed";
/// The review status that counts toward a merchant's rating.
pub const COUNTED_REVIEW_STATUS: &str = "published";
/// RATING-RANGE (check `dq.rating`): a rating (reviews' overall and category ratings, orders.rating)
/// is a whole number of stars from 1 to 5.
pub const RATINGS: std::ops::RangeInclusive<i64> = 1..=5;
/// wallet_transactions.reference_type of referral rewards.
pub const REFERRAL_REFERENCE_TYPE: &str = "referral";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    pub level: i32,
    pub min_spend: Money,
    pub min_orders: i64,
}

/// LOYALTY-TIER: the highest tier met by `spend` and `orders`.
pub fn tier_for(tiers: &[Tier], spend: Money, orders: i64) -> Option<&Tier> {
    tiers
        .iter()
        .filter(|t| spend >= t.min_spend && orders >= t.min_orders)
        .max_by_key(|t| t.level)
}

/// The tier after `level`, if any.
pub fn next_tier(tiers: &[Tier], level: Option<i32>) -> Option<&Tier> {
    tiers
        .iter()
        .filter(|t| level.is_none_or(|l| t.level > l))
        .min_by_key(|t| t.level)
}

/// MERCHANT-RATING: the mean of `count` ratings summing to `sum`, to two places.
pub fn average_rating(sum: i64, count: i64) -> Decimal {
    if count == 0 {
        return Decimal::new(0, 2);
    }
    let mut avg = (Decimal::from(sum) / Decimal::from(count))
        .round_dp_with_strategy(2, RoundingStrategy::MidpointAwayFromZero);
    avg.rescale(2);
    avg
}

/// COINS-REWARD (setting `coin_reward_percent`): the ReZ coins credited for a
/// completed order of `total`: `reward_percent` % of it, times the user's tier
/// `multiplier`, converted at `coin_to_inr_rate`, rounded down to whole coins.
pub fn reward_coins(
    total: Money,
    reward_percent: Decimal,
    multiplier: Decimal,
    coin_to_inr_rate: Decimal,
) -> i64 {
    if total.is_negative() || coin_to_inr_rate <= Decimal::ZERO {
        return 0;
    }
    let value = total.amount() * reward_percent / Decimal::ONE_HUNDRED * multiplier;
    i64::try_from((value / coin_to_inr_rate).floor())
        .unwrap_or(0)
        .max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiers() -> Vec<Tier> {
        [
            (1, 0, 0),
            (2, 5_000_00, 10),
            (3, 20_000_00, 40),
            (4, 50_000_00, 100),
        ]
        .map(|(level, spend, orders)| Tier {
            level,
            min_spend: Money::from_paise(spend),
            min_orders: orders,
        })
        .to_vec()
    }

    #[test]
    fn both_thresholds_must_be_met() {
        let t = tiers();
        assert_eq!(
            tier_for(&t, Money::from_paise(25_000_00), 12).map(|t| t.level),
            Some(2)
        );
        assert_eq!(
            tier_for(&t, Money::from_paise(25_000_00), 40).map(|t| t.level),
            Some(3)
        );
        assert_eq!(next_tier(&t, Some(3)).map(|t| t.level), Some(4));
        assert_eq!(next_tier(&t, Some(4)), None);
    }

    #[test]
    fn order_rewards_round_down_to_whole_coins() {
        let half = Decimal::new(5, 1);
        let two = Decimal::from(2);
        // 2% of ₹500 = ₹10, x1.5 = ₹15 = 30 coins at ₹0.50.
        assert_eq!(
            reward_coins(Money::from_paise(500_00), two, Decimal::new(15, 1), half),
            30
        );
        // 2% of ₹99.99 = ₹1.9998 = 3.9996 coins: 3.
        assert_eq!(
            reward_coins(Money::from_paise(99_99), two, Decimal::ONE, half),
            3
        );
        assert_eq!(reward_coins(Money::ZERO, two, Decimal::ONE, half), 0);
    }

    #[test]
    fn ratings_round_half_away_from_zero() {
        assert_eq!(average_rating(0, 0).to_string(), "0.00");
        assert_eq!(average_rating(14, 3).to_string(), "4.67");
        assert_eq!(average_rating(9, 2).to_string(), "4.50");
        assert_eq!(average_rating(1, 8).to_string(), "0.13"); // 0.125
    }
}
