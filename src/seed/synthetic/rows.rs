//! The rows that summarise a user's history: the wallet (balances and
//! lifetime counters from the replayed ledgers), promo lots, orders with
//! their payments, redemptions and reviews, the referral that brought the
//! user in, and user_loyalty.
//!
//! Every number written here is read off `timeline::Outcome` or computed by
//! `crate::domain` (tiers, money); this module only lays values out in columns.

use std::collections::BTreeMap;

use chrono::Duration;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde_json::json;

use super::plan::OrderPlan;
use super::referrals::Referral;
use super::rng;
use super::tables::UserTables;
use super::timeline::Outcome;
use super::users::Skeleton;
use super::World;
use crate::domain::loyalty;
use crate::domain::money::Money;

pub fn wallet(world: &World, sk: &Skeleton, outcome: &Outcome, out: &mut UserTables) {
    let b = &outcome.books;
    let branded: BTreeMap<String, serde_json::Value> = b
        .branded
        .iter()
        .map(|(m, r)| {
            (
                world.merchants[*m].id.to_string(),
                json!({"balance": r.balance(), "earned": r.lifetime_earned(), "spent": r.lifetime_spent()}),
            )
        })
        .collect();
    out.wallets
        .row()
        .f(sk.wallet_id)
        .f(sk.id)
        .f(b.rez.balance())
        .f(b.rez.lifetime_earned())
        .f(b.rez.lifetime_spent())
        .f(json!(branded))
        .f(b.prive.balance())
        .f(b.prive.lifetime_earned())
        .f(b.prive.lifetime_spent())
        .f(b.promo.balance())
        // Cash ledger rows are paise; the column is rupees.
        .f(Money::from_paise(b.cash.balance()))
        .f(!sk.deleted())
        .f(sk.created_at)
        .f(sk.deleted_at.unwrap_or(sk.created_at))
        .end();
    for l in &outcome.lots {
        out.promo_coins
            .row()
            .f(l.id)
            .f(sk.wallet_id)
            .f(sk.id)
            .f(l.campaign)
            .f(l.name)
            .f(l.lot.amount)
            .f(l.lot.remaining)
            .f(l.issued_at)
            .f(l.lot.expires_at)
            .f(l.lot.is_expired)
            .f(l.issued_at)
            .end();
    }
}

pub fn orders(
    world: &World,
    sk: &Skeleton,
    plans: &[OrderPlan],
    outcome: &Outcome,
    rng: &mut ChaCha8Rng,
    out: &mut UserTables,
) {
    for (p, settled) in plans.iter().zip(&outcome.settled) {
        let s = settled.expect("every planned order is placed");
        let merchant = &world.merchants[p.merchant];
        let outlet = &merchant.outlets[p.outlet];
        let confirmed_at = (p.status != "pending").then(|| p.placed_at + Duration::minutes(2));
        let paid = p.payment.as_ref().filter(|x| x.status != "failed");
        let review = p.review.as_ref();
        let offers_applied = match &p.redemption {
            Some(r) => json!([{"offer_id": world.offers[r.offer].id, "discount": p.discount}]),
            None => json!([]),
        };
        out.orders
            .row()
            .f(p.id)
            .f(&p.number)
            .f(sk.id)
            .f(merchant.id)
            .f(outlet.id)
            .f(serde_json::to_value(&p.items).expect("items serialize"))
            .f(s.priced.subtotal)
            .f(p.discount)
            .f(p.tax)
            .f(p.delivery_fee)
            .f(s.priced.total)
            .f(offers_applied)
            .f(s.coins_used)
            .f(s.priced.coins_value)
            .f(s.coins_earned)
            .f(p.payment_method)
            .f(p.payment_status)
            .f(paid.map(|x| x.transaction_id.as_str()))
            .f(paid.map(|x| x.completed_at))
            .f(p.status)
            .f(&p.delivery_address)
            .f(if p.delivery_address.is_some() {
                "delivery"
            } else {
                "pickup"
            })
            .f(confirmed_at)
            .f(p.settled_at.filter(|_| p.completed()))
            .f(p.settled_at.filter(|_| p.cancelled()))
            .f(p.cancellation_reason)
            .f(review.map(|r| r.rating))
            .f(review.map(|r| r.title))
            .f(review.map(|r| r.created_at))
            .f(p.placed_at)
            .f(review
                .map(|r| r.created_at)
                .or(p.settled_at)
                .unwrap_or(p.placed_at))
            .end();
        if let Some(x) = &p.payment {
            out.payments
                .row()
                .f(x.id)
                .f(p.id)
                .f(sk.id)
                .f(x.gateway)
                .f(&x.transaction_id)
                .f(&x.gateway_order_id)
                .f(s.priced.total)
                .f(p.payment_method)
                .f(&x.details)
                .f(x.status)
                .f(x.failure_reason)
                .f(p.placed_at)
                .f(x.completed_at)
                .f(p.placed_at)
                .end();
        }
        if let Some(r) = &p.redemption {
            let offer = &world.offers[r.offer];
            let done = r.status == "completed";
            out.offer_redemptions
                .row()
                .f(r.id)
                .f(offer.id)
                .f(sk.id)
                .f(merchant.id)
                .f(outlet.id)
                .f(p.id)
                .f(p.subtotal)
                .f(p.discount)
                .f(crate::domain::offer::final_amount(p.subtotal, p.discount))
                .f(0i64)
                .f(if done { offer.rez_coins_earned } else { 0 })
                .f(if done { offer.branded_coins_earned } else { 0 })
                .f(r.status)
                .f(p.placed_at)
                .f(p.settled_at.filter(|_| done))
                .f(p.settled_at.filter(|_| p.cancelled()))
                .f(p.placed_at)
                .end();
        }
        if let Some(r) = review {
            out.reviews
                .row()
                .f(r.id)
                .f(sk.id)
                .f(merchant.id)
                .f(p.id)
                .f(r.rating)
                .f(r.title)
                .f(format!(
                    "{} The {} was just as described.",
                    r.title, p.items[0].name
                ))
                .f(r.sub_ratings[0])
                .f(r.sub_ratings[1])
                .f(r.sub_ratings[2])
                .f(r.status)
                .f(true)
                .f(r.response_at
                    .map(|_| "Thank you for your feedback! We hope to serve you again soon."))
                .f(r.response_at)
                .f(r.helpful)
                .f(if r.status == "published" {
                    0i64
                } else {
                    rng.random_range(1..=5)
                })
                .f(r.moderated_by)
                .f(r.created_at)
                .f(r.response_at.unwrap_or(r.created_at))
                .end();
        }
    }
}

pub fn referral(r: &Referral, out: &mut UserTables) {
    let rewarded = r.rewarded_at.is_some();
    out.referrals
        .row()
        .f(r.id)
        .f(r.referrer)
        .f(r.referee)
        .f(&r.code)
        .f(r.referrer_coins)
        .f(r.referee_coins)
        .f(r.status)
        .f(r.condition_type)
        .f(r.condition_met_at.is_some())
        .f(r.condition_met_at)
        .f(rewarded)
        .f(rewarded)
        .f(r.rewarded_at)
        .f(r.created_at)
        .end();
}

pub fn user_loyalty(
    world: &World,
    sk: &Skeleton,
    outcome: &Outcome,
    rng: &mut ChaCha8Rng,
    out: &mut UserTables,
) {
    let catalog = &world.catalog;
    let l = &outcome.loyalty;
    let current = loyalty::tier_for(&catalog.rules, l.spend, l.orders);
    let next = loyalty::next_tier(&catalog.rules, current.map(|t| t.level));
    let id_of = |level: i32| catalog.tier_index(level).map(|i| catalog.tier_ids[i]);
    out.user_loyalty
        .row()
        .f(rng::uuid(rng))
        .f(sk.id)
        .f(current.and_then(|t| id_of(t.level)))
        .f(l.spend)
        .f(l.orders)
        .f(next.and_then(|t| id_of(t.level)))
        .f(next.map(|t| {
            if t.min_spend > l.spend {
                t.min_spend - l.spend
            } else {
                Money::ZERO
            }
        }))
        .f(next.map(|t| (t.min_orders - l.orders).max(0)))
        .f(l.last_activity.unwrap_or(sk.created_at))
        .f(l.tier_since)
        .f(sk.created_at)
        .f(l.last_activity.unwrap_or(sk.created_at))
        .end();
}
