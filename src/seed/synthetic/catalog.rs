//! The reference data the synthetic dataset is built against, as stored in
//! the target database (not as written in seeds/): the coin rate and rewards
//! that `validate` will read back, the active loyalty tiers, the category
//! tree's leaves under each top-level category, and the colleges.
//!
//! It must never invent a setting: a missing one stops the run with a hint.

use rust_decimal::Decimal;
use uuid::Uuid;

use crate::domain::loyalty::Tier;
use crate::domain::money::Money;
use crate::error::{CommandError, Remedy};
use crate::store::pg::reference::StoredReference;

/// The settings the generator obeys, by their app_settings keys.
pub const REQUIRED_SETTINGS: [&str; 6] = [
    "coin_to_inr_rate",
    "referral_reward_coins",
    "referee_reward_coins",
    "coin_reward_percent",
    "max_coins_per_order_percent",
    "promo_coin_default_validity_days",
];

#[derive(Debug, Clone)]
pub struct Catalog {
    pub coin_to_inr_rate: Decimal,
    pub referrer_reward_coins: i64,
    pub referee_reward_coins: i64,
    pub coin_reward_percent: Decimal,
    pub max_coins_percent: Decimal,
    pub promo_validity_days: i64,
    /// Active tiers, lowest level first; `rules[i]` is `tier_ids[i]`'s rule.
    pub rules: Vec<Tier>,
    pub tier_ids: Vec<Uuid>,
    pub multipliers: Vec<Decimal>,
    /// Top-level categories that have leaves, in slug order.
    pub roots: Vec<Root>,
    pub colleges: Vec<College>,
}

#[derive(Debug, Clone)]
pub struct Root {
    pub slug: String,
    pub leaves: Vec<Leaf>,
}

#[derive(Debug, Clone)]
pub struct Leaf {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
}

#[derive(Debug, Clone)]
pub struct College {
    pub id: Uuid,
    pub city: String,
    pub email_domain: Option<String>,
}

impl Catalog {
    pub fn from_stored(stored: &StoredReference) -> Result<Catalog, CommandError> {
        let missing: Vec<&str> = REQUIRED_SETTINGS
            .iter()
            .copied()
            .filter(|k| !stored.settings.contains_key(*k))
            .collect();
        if !missing.is_empty() {
            return Err(CommandError::usage(format!(
                "app_settings lacks {}, which the synthetic data is computed with",
                missing.join(", ")
            ))
            .with_remedy(Remedy::SeedReferenceFirst));
        }
        let number = |key: &str| -> Result<Decimal, CommandError> {
            let text = &stored.settings[key];
            Decimal::from_str_exact(text.trim()).map_err(|_| {
                CommandError::usage(format!("app_settings `{key}` is `{text}`, not a number"))
                    .with_hint("fix it in seeds/app_settings.yaml and run `rez-db seed`")
            })
        };
        let coins = |key: &str| -> Result<i64, CommandError> {
            let d = number(key)?;
            i64::try_from(d)
                .ok()
                .filter(|n| Decimal::from(*n) == d && *n >= 0)
                .ok_or_else(|| {
                    CommandError::usage(format!(
                        "app_settings `{key}` is {d}, not a whole number of coins"
                    ))
                })
        };
        let coin_to_inr_rate = number("coin_to_inr_rate")?;
        if coin_to_inr_rate <= Decimal::ZERO {
            return Err(CommandError::usage(format!(
                "app_settings `coin_to_inr_rate` is {coin_to_inr_rate}; a coin must be worth something"
            )));
        }
        let mut roots: Vec<Root> = Vec::new();
        for root in stored.categories.iter().filter(|c| c.parent_id.is_none()) {
            let leaves = stored
                .categories
                .iter()
                .filter(|c| {
                    !stored.categories.iter().any(|x| x.parent_id == Some(c.id))
                        && top_of(stored, c.id) == Some(root.id)
                })
                .map(|c| Leaf {
                    id: c.id,
                    slug: c.slug.clone(),
                    name: c.name.clone(),
                })
                .collect::<Vec<_>>();
            if !leaves.is_empty() {
                roots.push(Root {
                    slug: root.slug.clone(),
                    leaves,
                });
            }
        }
        Ok(Catalog {
            coin_to_inr_rate,
            referrer_reward_coins: coins("referral_reward_coins")?,
            referee_reward_coins: coins("referee_reward_coins")?,
            coin_reward_percent: number("coin_reward_percent")?,
            max_coins_percent: number("max_coins_per_order_percent")?,
            promo_validity_days: coins("promo_coin_default_validity_days")?.max(1),
            rules: stored
                .tiers
                .iter()
                .map(|t| Tier {
                    level: t.level,
                    min_spend: Money::round(t.min_spend),
                    min_orders: i64::from(t.min_orders),
                })
                .collect(),
            tier_ids: stored.tiers.iter().map(|t| t.id).collect(),
            multipliers: stored
                .tiers
                .iter()
                .map(|t| t.coin_multiplier.unwrap_or(Decimal::ONE))
                .collect(),
            roots,
            colleges: stored
                .colleges
                .iter()
                .map(|c| College {
                    id: c.id,
                    city: c.city.clone(),
                    email_domain: c.email_domain.clone(),
                })
                .collect(),
        })
    }

    /// The index in `rules` of the tier with `level`.
    pub fn tier_index(&self, level: i32) -> Option<usize> {
        self.rules.iter().position(|t| t.level == level)
    }
}

/// The top-level ancestor of category `id` (itself when it has no parent).
/// A cycle in the stored tree (never written by seed) yields None.
fn top_of(stored: &StoredReference, id: Uuid) -> Option<Uuid> {
    let mut current = id;
    for _ in 0..=stored.categories.len() {
        match stored
            .categories
            .iter()
            .find(|c| c.id == current)?
            .parent_id
        {
            Some(parent) => current = parent,
            None => return Some(current),
        }
    }
    None
}
