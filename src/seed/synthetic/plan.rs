//! What a user buys: for each order slot, the merchant, outlet and items, the
//! offer redeemed (if any), the status and payment, and the review written.
//!
//! Plans do not depend on coins or wallets, only on the user's own stream and
//! on [`Limits`], the running count of redemptions per offer, so that a first
//! pass over all users ([`super::tally`]) can count redemptions and reviews
//! before merchants and offers are loaded, and the loading pass, replaying the
//! same users in the same order, makes exactly the same decisions. Discounts
//! come from `domain::offer::discount`, windows from `Window::allows`, limits
//! from `within_limit`: never computed here.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::people;
use super::places::{CITIES, REVIEW_TITLES};
use super::rng::{self, chance, choose, pick, stream, weighted, Kind};
use super::users::Skeleton;
use super::World;
use crate::domain::money::Money;
use crate::domain::offer::{self, Discount};
use crate::domain::order::{self, Item};
use crate::domain::vocabulary;

/// Non-cancelled redemptions per offer so far, in user order.
#[derive(Debug, Clone)]
pub struct Limits {
    pub used: Vec<i64>,
}

impl Limits {
    pub fn new(offers: usize) -> Limits {
        Limits {
            used: vec![0; offers],
        }
    }
}

#[derive(Debug, Clone)]
pub struct Payment {
    pub id: Uuid,
    pub gateway: &'static str,
    pub transaction_id: String,
    pub gateway_order_id: String,
    /// One of `vocabulary::allowed("payments", "status")`.
    pub status: &'static str,
    pub completed_at: DateTime<Utc>,
    pub details: serde_json::Value,
    pub failure_reason: Option<&'static str>,
}

#[derive(Debug, Clone)]
pub struct Redemption {
    pub id: Uuid,
    /// Index into `World::offers`.
    pub offer: usize,
    pub status: &'static str,
}

#[derive(Debug, Clone)]
pub struct Review {
    pub id: Uuid,
    pub rating: i32,
    pub title: &'static str,
    pub sub_ratings: [i32; 3],
    pub status: &'static str,
    pub created_at: DateTime<Utc>,
    pub moderated_by: Option<Uuid>,
    pub response_at: Option<DateTime<Utc>>,
    pub helpful: i64,
}

#[derive(Debug, Clone)]
pub struct OrderPlan {
    pub id: Uuid,
    pub number: String,
    pub merchant: usize,
    pub outlet: usize,
    pub items: Vec<Item>,
    pub subtotal: Money,
    pub discount: Money,
    pub tax: Money,
    pub delivery_fee: Money,
    pub delivery_address: Option<serde_json::Value>,
    pub placed_at: DateTime<Utc>,
    /// When it completed or was cancelled; None while in progress at `now`.
    pub settled_at: Option<DateTime<Utc>>,
    /// One of `vocabulary::allowed("orders", "status")`.
    pub status: &'static str,
    pub payment_method: &'static str,
    pub payment_status: &'static str,
    pub payment: Option<Payment>,
    pub cancellation_reason: Option<&'static str>,
    pub redemption: Option<Redemption>,
    pub review: Option<Review>,
    /// A refunded order's money comes back as wallet cash, not to the card.
    pub refund_to_wallet: bool,
    /// How much of the allowed coins the user wants to spend, per mille.
    pub coin_appetite: u32,
}

impl OrderPlan {
    pub fn completed(&self) -> bool {
        self.status == "completed"
    }

    pub fn cancelled(&self) -> bool {
        self.status == "cancelled"
    }

    /// What the order costs before coins: the base of the coin cap.
    pub fn payable(&self) -> Money {
        self.subtotal - self.discount + self.tax + self.delivery_fee
    }
}

/// Order numbers like `ORD-20260105-7KQ2M9X`: the date, then 7 base-36
/// characters scrambled one-to-one from (user, slot), so they never collide.
fn order_number(user: u64, slot: usize, placed_at: DateTime<Utc>) -> String {
    let n = user * 16 + slot as u64;
    format!(
        "ORD-{}-{}",
        placed_at.format("%Y%m%d"),
        rng::base36(rng::scramble(n, 2_654_435_761, 36u64.pow(7)), 7)
    )
}

/// Plans every order of `sk`, counting redemptions into `limits`.
pub fn plan_orders(world: &World, sk: &Skeleton, limits: &mut Limits) -> Vec<OrderPlan> {
    let mut rng = stream(world.params.rng_seed, Kind::Orders, sk.index);
    let mut mine: Vec<(usize, i64)> = Vec::new();
    sk.slots
        .iter()
        .enumerate()
        .filter_map(|(k, slot)| {
            let merchant = choose_merchant(world, sk, &mut rng)?;
            Some(plan_one(
                world, sk, k, slot, merchant, &mut rng, limits, &mut mine,
            ))
        })
        .collect()
}

fn choose_merchant(world: &World, sk: &Skeleton, rng: &mut ChaCha8Rng) -> Option<usize> {
    let local = &world.trading_by_city[sk.city];
    // Mostly in the user's own city; sometimes while travelling.
    if !local.is_empty() && chance(rng, 920) {
        return Some(*pick(rng, local));
    }
    (!world.trading.is_empty()).then(|| *pick(rng, &world.trading))
}

#[allow(clippy::too_many_arguments)]
fn plan_one(
    world: &World,
    sk: &Skeleton,
    k: usize,
    slot: &super::users::Slot,
    m: usize,
    rng: &mut ChaCha8Rng,
    limits: &mut Limits,
    mine: &mut Vec<(usize, i64)>,
) -> OrderPlan {
    let now = world.params.now;
    let merchant = &world.merchants[m];
    let outlet = rng.random_range(0..merchant.outlets.len());
    let mut items: Vec<Item> = Vec::new();
    for _ in 0..rng.random_range(1..=4) {
        let p = pick(rng, &merchant.products);
        if items.iter().any(|i| i.product_id == Some(p.id)) {
            continue;
        }
        let qty = [1, 2, 3][weighted(rng, &[70, 22, 8])];
        items.push(Item::new(Some(p.id), &p.name, qty, p.price));
    }
    let subtotal = order::subtotal(&items);
    let cheapest = items.iter().map(|i| i.price).min().unwrap_or(Money::ZERO);
    let settled_at = Some(slot.settle_at).filter(|t| *t <= now);
    let status = match settled_at {
        None => {
            let elapsed = (now - slot.placed_at).num_minutes();
            match elapsed {
                ..=4 => "pending",
                5..=14 => "confirmed",
                15..=29 => "preparing",
                _ => "ready",
            }
        }
        Some(_) if k == 0 || chance(rng, 880) => "completed",
        Some(_) => "cancelled",
    };
    let cod = settled_at.is_none() && chance(rng, 300);
    let payment_method = if cod {
        "cod"
    } else {
        *pick(
            rng,
            vocabulary::allowed("payments", "payment_method").unwrap_or(&["upi"]),
        )
    };
    let payment_status = match (status, cod) {
        (_, true) => "pending",
        ("cancelled", _) if chance(rng, 500) => "failed",
        ("cancelled", _) => "refunded",
        _ => "paid",
    };
    let payment = (!cod).then(|| payment(rng, payment_method, payment_status, slot.placed_at));
    let prices = (subtotal, cheapest);
    let redemption = redeem(
        world,
        sk,
        m,
        outlet,
        slot.placed_at,
        prices,
        status,
        rng,
        limits,
        mine,
    );
    let discount = match &redemption {
        None => Money::ZERO,
        Some((_, d)) => *d,
    };
    let base = subtotal - discount;
    // GST on what is charged for the goods, rounded by the platform's one rule.
    let tax =
        Money::round(base.amount() * Decimal::from(merchant.gst_percent) / Decimal::ONE_HUNDRED);
    let delivery = merchant.business_type != "service" && chance(rng, 550);
    let delivery_fee = if delivery && subtotal < Money::from_paise(49_900) {
        Money::from_paise(rng.random_range(2..=5) * 10_00 - 100)
    } else {
        Money::ZERO
    };
    let delivery_address = delivery.then(|| {
        let city = &CITIES[sk.city];
        let (line1, _) = people::street(rng, city);
        serde_json::json!({"line1": line1, "city": city.name, "state": city.state, "pincode": people::pincode(rng, city)})
    });
    let review = (status == "completed")
        .then(|| review(world, slot.settle_at, rng))
        .flatten();
    OrderPlan {
        id: rng::uuid(rng),
        number: order_number(sk.index, k, slot.placed_at),
        merchant: m,
        outlet,
        items,
        subtotal,
        discount,
        tax,
        delivery_fee,
        delivery_address,
        placed_at: slot.placed_at,
        settled_at,
        status,
        payment_method,
        payment_status,
        payment,
        cancellation_reason: (status == "cancelled").then(|| {
            *pick(
                rng,
                &[
                    "Merchant could not fulfil the order",
                    "Ordered by mistake",
                    "Delivery was taking too long",
                    "Payment failed",
                ],
            )
        }),
        redemption: redemption.map(|(r, _)| r),
        review,
        refund_to_wallet: payment_status == "refunded" && chance(rng, 500),
        coin_appetite: if chance(rng, 550) {
            rng.random_range(300..=1000)
        } else {
            0
        },
    }
}

fn payment(
    rng: &mut ChaCha8Rng,
    method: &'static str,
    order_payment: &str,
    placed_at: DateTime<Utc>,
) -> Payment {
    let gateway = *pick(
        rng,
        vocabulary::allowed("payments", "gateway").unwrap_or(&["razorpay"]),
    );
    let details = match method {
        "upi" => {
            serde_json::json!({"upi_id": format!("{}@okaxis", rng::token(rng, rng::DIGITS, 10))})
        }
        "card" => {
            serde_json::json!({"card_last4": rng::token(rng, rng::DIGITS, 4), "card_network": *pick(rng, &["visa", "mastercard", "rupay"])})
        }
        "netbanking" => serde_json::json!({"bank_name": pick(rng, super::places::BANKS).0}),
        _ => serde_json::json!({"wallet": gateway}),
    };
    let (status, failure_reason) = match order_payment {
        "failed" => ("failed", Some("Transaction declined by the bank")),
        "refunded" => ("refunded", None),
        _ => ("success", None),
    };
    Payment {
        id: rng::uuid(rng),
        gateway,
        transaction_id: format!("pay_{}", rng::token(rng, rng::BASE62, 18)),
        gateway_order_id: format!("order_{}", rng::token(rng, rng::BASE62, 14)),
        status,
        completed_at: placed_at + Duration::seconds(rng.random_range(15..=120)),
        details,
        failure_reason,
    }
}

/// Picks an offer this order may redeem, if the user wants one, and its discount.
#[allow(clippy::too_many_arguments)]
fn redeem(
    world: &World,
    sk: &Skeleton,
    m: usize,
    outlet: usize,
    at: DateTime<Utc>,
    (subtotal, cheapest): (Money, Money),
    status: &str,
    rng: &mut ChaCha8Rng,
    limits: &mut Limits,
    mine: &mut Vec<(usize, i64)>,
) -> Option<(Redemption, Money)> {
    if !chance(rng, 450) {
        return None;
    }
    let used_by_me =
        |mine: &[(usize, i64)], o: usize| mine.iter().find(|e| e.0 == o).map_or(0, |e| e.1);
    let eligible: Vec<(usize, Discount)> = world.merchants[m]
        .offers
        .clone()
        .filter_map(|o| {
            let offer = &world.offers[o];
            let segment_ok = match offer.segment {
                "student" => sk.account_type == "student",
                "new_users" => at - sk.created_at <= Duration::days(30),
                _ => true,
            };
            let fits = offer.redeemable()
                && segment_ok
                && offer.outlet.is_none_or(|k| k == outlet)
                && offer.window.allows(at)
                && offer::within_limit(limits.used[o] + 1, offer.total_limit)
                && offer::within_limit(used_by_me(mine, o) + 1, Some(offer.per_user_limit));
            if !fits {
                return None;
            }
            offer::discount(&offer.terms, subtotal).ok().map(|d| (o, d))
        })
        .collect();
    if eligible.is_empty() {
        return None;
    }
    let (o, rule) = eligible[rng.random_range(0..eligible.len())];
    let discount = match rule {
        Discount::Exact(d) => d,
        // Buy-one-get-one and freebies give away one unit of the order's cheapest item.
        Discount::UpTo(max) => cheapest.min(max),
    };
    let redemption_status = match status {
        "completed" => "completed",
        "cancelled" => offer::UNCOUNTED_REDEMPTION_STATUS,
        _ => "pending",
    };
    if redemption_status != offer::UNCOUNTED_REDEMPTION_STATUS {
        limits.used[o] += 1;
        match mine.iter_mut().find(|e| e.0 == o) {
            Some(e) => e.1 += 1,
            None => mine.push((o, 1)),
        }
    }
    Some((
        Redemption {
            id: rng::uuid(rng),
            offer: o,
            status: redemption_status,
        },
        discount,
    ))
}

fn review(world: &World, completed_at: DateTime<Utc>, rng: &mut ChaCha8Rng) -> Option<Review> {
    if !chance(rng, 300) {
        return None;
    }
    let created_at = completed_at + rng::minutes(rng, 30, 48 * 60);
    if created_at > world.params.now {
        return None;
    }
    let rating = [5, 4, 3, 2, 1][weighted(rng, &[40, 35, 13, 7, 5])];
    let titles: Vec<&'static str> = REVIEW_TITLES
        .iter()
        .filter(|(r, _)| *r == rating)
        .map(|(_, t)| *t)
        .collect();
    let status = ["published", "flagged", "removed"][weighted(rng, &[85, 10, 5])];
    let near = |rng: &mut ChaCha8Rng| (rating + rng.random_range(-1..=1)).clamp(1, 5);
    let response_at = Some(created_at + rng::minutes(rng, 60, 72 * 60))
        .filter(|t| *t <= world.params.now && chance(rng, 300));
    Some(Review {
        id: rng::uuid(rng),
        rating,
        title: choose(rng, &titles),
        sub_ratings: [near(rng), near(rng), near(rng)],
        status,
        created_at,
        moderated_by: (status != "published").then(|| pick(rng, &world.admins).id),
        response_at,
        helpful: rng.random_range(0..=25),
    })
}
