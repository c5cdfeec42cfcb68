//! The supply side's rows: the admins, merchants, outlets, staff, bank
//! accounts, products, Privé partners, offers, campaigns and events of the
//! [`World`], encoded for COPY in the columns of [`WorldTables`].
//!
//! The counters that summarise users' activity (redemptions_count, ratings)
//! are not invented here: [`encode`] takes them from the tally of the users.
//! The few values that exist only as rows (passwords, view counts, events)
//! come from one random stream of their own, drawn in row order: it never
//! draws from a merchant's stream, so the world it encodes stays the same.

use chrono::{Duration, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use serde_json::json;
use uuid::Uuid;

use super::merchants::{Merchant, Offer};
use super::people;
use super::places::CITIES;
use super::rng::{self, pick, stream, Kind};
use super::tables::WorldTables;
use super::{Tally, World};
use crate::domain::loyalty;
use crate::domain::offer::{OfferKind, Window};

fn weekday_name(day: Weekday) -> &'static str {
    ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][day.num_days_from_monday() as usize]
}

/// `available_days` / `available_hours` as the schema stores them (and
/// `validate` parses them): ["mon", ...] and [{"start": "HH:MM", "end": "HH:MM"}].
fn window_json(w: &Window) -> (serde_json::Value, Option<serde_json::Value>) {
    let days: Vec<&str> = if w.days.is_empty() {
        vec!["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    } else {
        w.days.iter().map(|d| weekday_name(*d)).collect()
    };
    let hours = (!w.hours.is_empty()).then(|| {
        serde_json::Value::Array(
            w.hours
                .iter()
                .map(|(s, e)| json!({"start": s.format("%H:%M").to_string(), "end": e.format("%H:%M").to_string()}))
                .collect(),
        )
    });
    (json!(days), hours)
}

/// Writes the world's rows; `tally` supplies what the users' activity adds up to.
pub fn encode(world: &World, tally: &Tally, out: &mut WorldTables) {
    let start = world.start;
    let mut rng = stream(world.params.rng_seed, Kind::Global, 0);
    for a in &world.admins {
        out.admin_users
            .row()
            .f(a.id)
            .f(a.person.email("", "rez.money"))
            .f(people::password_hash(&mut rng))
            .f(a.person.full_name())
            .f(people::mobile(&mut rng))
            .f(a.role)
            .f(json!({"merchants": ["view", "edit"], "offers": ["approve"]}))
            .f(a.city)
            .f(true)
            .f(true)
            .f(world.params.now - rng::minutes(&mut rng, 10, 3 * 24 * 60))
            .f(a.created_at)
            .f(a.created_at)
            .end();
    }
    for (m, merchant) in world.merchants.iter().enumerate() {
        encode_merchant(world, tally, m, merchant, &mut rng, out);
    }
    for (i, o) in world.offers.iter().enumerate() {
        encode_offer(world, o, tally.redemptions[i], &mut rng, out);
    }
    for c in &world.campaigns {
        let admin = pick(&mut rng, &world.admins).id;
        let sent = rng.random_range(1_000..=50_000i64);
        let scheduled = start + rng::minutes(&mut rng, 0, 20 * 24 * 60);
        out.campaigns
            .row()
            .f(c.id)
            .f(c.name)
            .f("in_app")
            .f("active_users")
            .f(c.name)
            .f(format!(
                "Collect up to {} bonus coins before they expire!",
                c.coins.1
            ))
            .f("scheduled")
            .f(scheduled)
            .f("sent")
            .f(sent)
            .f(sent * 97 / 100)
            .f(sent * 35 / 100)
            .f(sent * 8 / 100)
            .f(admin)
            .f(scheduled - Duration::days(2))
            .f(scheduled)
            .f(scheduled)
            .end();
    }
    encode_events(world, &mut rng, out);
}

fn encode_merchant(
    world: &World,
    tally: &Tally,
    m: usize,
    merchant: &Merchant,
    rng: &mut ChaCha8Rng,
    out: &mut WorldTables,
) {
    let place = &CITIES[merchant.city];
    let created = merchant.created_at;
    let live = matches!(merchant.status, "active" | "suspended");
    let verified_at = live.then(|| created + Duration::days(1));
    let (sum, count) = tally.reviews[m];
    out.merchants
        .row()
        .f(merchant.id)
        .f(&merchant.name)
        .f(merchant.business_type)
        .f(format!("{} Private Limited", merchant.name))
        .f(merchant.contact.full_name())
        .f(&merchant.contact_phone)
        .f(&merchant.contact_email)
        .f(&merchant.address)
        .f(None::<&str>)
        .f(place.name)
        .f(place.state)
        .f(&merchant.pincode)
        .f(merchant.latitude)
        .f(merchant.longitude)
        .f(&merchant.gstin)
        .f(&merchant.pan)
        .f(&merchant.fssai)
        .f(format!(
            "https://cdn.rez.money/merchants/{}/logo.png",
            merchant.id
        ))
        .f(merchant.package_tier)
        .f(merchant.status)
        .f(live)
        .f(verified_at)
        .f(merchant.verified_by)
        .f(match merchant.status {
            "active" | "suspended" => "live",
            "pending" => "documents_submitted",
            _ => "pending",
        })
        .f(merchant.verified_by)
        .f(place.name)
        .f(merchant.commission_rate)
        .f(merchant.settlement_frequency)
        .f(loyalty::average_rating(sum, count))
        .f(count)
        .f(created)
        .f(verified_at.unwrap_or(created))
        .end();
    for o in &merchant.outlets {
        out.merchant_outlets
            .row()
            .f(o.id)
            .f(merchant.id)
            .f(&o.name)
            .f(&o.code)
            .f(&o.address)
            .f(place.name)
            .f(place.state)
            .f(&o.pincode)
            .f(o.latitude)
            .f(o.longitude)
            .f(&o.phone)
            .f(None::<&str>)
            .f(json!({
                "mon": [{"open": "09:00", "close": "22:00"}], "tue": [{"open": "09:00", "close": "22:00"}],
                "wed": [{"open": "09:00", "close": "22:00"}], "thu": [{"open": "09:00", "close": "22:00"}],
                "fri": [{"open": "09:00", "close": "23:00"}], "sat": [{"open": "10:00", "close": "23:00"}],
                "sun": [{"open": "10:00", "close": "22:00"}]
            }))
            .f(true)
            .f(json!(["wifi", "parking", "ac"][..rng.random_range(0..=3)]))
            .f(merchant.trading())
            .f(created)
            .f(created)
            .end();
    }
    for s in &merchant.staff {
        out.merchant_users
            .row()
            .f(s.id)
            .f(merchant.id)
            .f(&s.email)
            .f(&s.password_hash)
            .f(s.person.full_name())
            .f(people::mobile(rng))
            .f(s.role)
            .f(json!({"offers": ["create", "edit"], "transactions": ["view"]}))
            .f(true)
            .f(true)
            .f(live.then(|| world.params.now - rng::minutes(rng, 30, 14 * 24 * 60)))
            .f(created)
            .f(created)
            .end();
    }
    let (account, branch, bank, _) = &merchant.bank;
    out.merchant_bank_accounts
        .row()
        .f(rng::uuid(rng))
        .f(merchant.id)
        .f(format!("{} Private Limited", merchant.name))
        .f(account)
        .f(branch)
        .f(*bank)
        .f(format!("{} Branch", CITIES[merchant.city].name))
        .f("current")
        .f(live)
        .f(live.then(|| created + Duration::hours(6)))
        .f(live.then_some("penny_drop"))
        .f(true)
        .f(true)
        .f(created)
        .f(created)
        .end();
    for p in &merchant.products {
        out.products
            .row()
            .f(p.id)
            .f(merchant.id)
            .f(p.category_id)
            .f(&p.name)
            .f(&p.slug)
            .f(format!("{} from {}", p.name, merchant.name))
            .f(p.price)
            .f(p.original_price)
            .f(p.stock)
            .f(p.stock > 0)
            .f(if merchant.business_type == "restaurant" {
                json!({"veg": rng.random_bool(0.6)})
            } else {
                json!({"brand": merchant.name})
            })
            .f(true)
            .f(created)
            .f(created)
            .end();
    }
    if let Some((tier, discount)) = merchant.prive {
        let exclusive: Vec<String> = world.offers[merchant.offers.clone()]
            .iter()
            .filter(|o| o.redeemable())
            .take(1)
            .map(|o| o.id.to_string())
            .collect();
        out.prive_merchants
            .row()
            .f(rng::uuid(rng))
            .f(merchant.id)
            .f(true)
            .f(tier)
            .f(discount)
            .f(Decimal::new(125, 2))
            .f(json!(exclusive))
            .f(created.date_naive() + Duration::days(10))
            .f(created.date_naive() + Duration::days(375))
            .f(true)
            .f(created + Duration::days(10))
            .f(created + Duration::days(10))
            .end();
    }
}

fn encode_offer(
    world: &World,
    o: &Offer,
    redemptions: i64,
    rng: &mut ChaCha8Rng,
    out: &mut WorldTables,
) {
    let merchant = &world.merchants[o.merchant];
    let (days, hours) = window_json(&o.window);
    let approved_at = (o.approval_status != "pending").then(|| o.created_at + Duration::hours(2));
    out.offers
        .row()
        .f(o.id)
        .f(merchant.id)
        .f(o.outlet.map(|k| merchant.outlets[k].id))
        .f(&o.title)
        .f(format!("{} at {}", o.title, merchant.name))
        .f("Valid once per order. Cannot be combined with other offers.")
        .f(o.terms.kind.as_str())
        .f(o.terms.discount_value)
        .f(o.terms.max_discount)
        .f(o.terms.min_order_value)
        .f(
            (o.terms.kind == OfferKind::Bogo)
                .then(|| json!({"buy": 1, "get": 1, "on": "cheapest"})),
        )
        .f(0i32)
        .f(o.rez_coins_earned)
        .f(o.branded_coins_earned)
        .f(o.window.valid_from)
        .f(o.window.valid_until)
        .f(days)
        .f(hours)
        .f(o.total_limit)
        .f(o.per_user_limit)
        .f(redemptions)
        .f(o.segment)
        .f(json!(o.tags))
        .f(json!(o
            .categories
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()))
        .f(o.status)
        .f(o.approval_status)
        .f(o.approved_by)
        .f(approved_at)
        .f((o.status == "rejected")
            .then_some("Terms are unclear; please state the minimum order value."))
        .f(rng.random_range(0..5_000i64))
        .f(rng.random_range(0..500i64))
        .f(o.featured)
        .f(if o.featured {
            rng.random_range(1..=10)
        } else {
            0i64
        })
        .f(o.created_at)
        .f(approved_at.unwrap_or(o.created_at))
        .end();
}

fn encode_events(world: &World, rng: &mut ChaCha8Rng, out: &mut WorldTables) {
    let now = world.params.now;
    let trading: Vec<String> = world
        .merchants
        .iter()
        .filter(|m| m.trading())
        .take(5)
        .map(|m| m.id.to_string())
        .collect();
    let events = [
        (
            "Monsoon Munchies",
            "seasonal",
            now - Duration::days(60),
            Duration::days(10),
            "ended",
        ),
        (
            "Weekend Flash Sale",
            "flash_sale",
            now - Duration::days(2),
            Duration::days(4),
            "live",
        ),
        (
            "Festive Bonanza",
            "festival",
            now + Duration::days(20),
            Duration::days(7),
            "scheduled",
        ),
    ];
    for (i, (name, kind, start, length, status)) in events.into_iter().enumerate() {
        let admin = pick(rng, &world.admins).id;
        out.events
            .row()
            .f(rng::uuid(rng))
            .f(name)
            .f(format!("{}-{}", people::slug(name), start.format("%Y-%m")))
            .f(format!(
                "{name}: the best offers of the season across ReZ merchants"
            ))
            .f(kind)
            .f(start)
            .f(start + length)
            .f(["#FF6F00", "#6A1B9A", "#00897B"][i])
            .f(json!(trading))
            .f(trading.len() as i64)
            .f(json!([]))
            .f(status)
            .f(i == 1)
            .f(admin)
            .f(world.start)
            .f(world.start)
            .end();
    }
}
