//! The MongoDB documents of a synthetic dataset, derived from its PostgreSQL
//! rows (`seed::mongo` reads the rows and inserts what this returns). Pure:
//! rows in, BSON documents out, each drawn from the random stream of its
//! row's position, so a (seed, now) pair gives the same documents.
//!
//! - `user_activity_logs`: per order, the session that led to it: `app_open`,
//!   sometimes a `search`, a `screen_view` of the merchant, a `product_view`,
//!   then `order_placed` at the order's `created_at` (never before the user
//!   signed up); per redemption, `offer_redeemed` at its `redeemed_at`.
//! - `search_queries`: the session's search: its query is a word of the name
//!   of a product the user then viewed; `results_count` is the number of
//!   searchable products (active, of an active merchant) in the merchant's
//!   city with that word in their name, and `results_clicked` are ids among
//!   those results, the viewed product first ([`Catalog::search`]).
//! - `notification_logs`: one per `notifications` row, its channel the row's
//!   `delivery_method` and its status from `delivered` and `is_read`.
//! - `ab_test_results`: each user in each of [`EXPERIMENTS`] with some
//!   probability, converted at their first order after the assignment.
//! - `fraud_detection_logs`: a few users get a signal; the action follows
//!   the risk score.
//!
//! Ids are the PostgreSQL ids as text (the validators accept a string), and
//! `_id` is a UUID drawn from the stream, so a rerun writes the same `_id`s.
//! Money goes into `properties` as the exact decimal text, never a double.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use mongodb::bson::{doc, Bson, Document};
use rand::Rng;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::rng::{self, chance, choose, weighted, Kind};

/// The collections a synthetic dataset fills.
pub const COLLECTIONS: [&str; 5] = [
    "user_activity_logs",
    "search_queries",
    "notification_logs",
    "ab_test_results",
    "fraud_detection_logs",
];

/// The experiments users are assigned to: (name, variants).
pub const EXPERIMENTS: [(&str, &[&str]); 2] = [
    ("checkout_button_colour", &["control", "variant_a"]),
    ("offer_ranking", &["control", "variant_a", "variant_b"]),
];

const DEVICES: [&str; 3] = ["android", "ios", "web"];
const CONTEXTS: [&str; 3] = ["home", "explore", "merchant_page"];
const FRAUD_TYPES: [&str; 4] = [
    "suspicious_login",
    "multiple_accounts",
    "unusual_transaction",
    "bot_behavior",
];

/// A product, as searches see it.
#[derive(Debug, Clone)]
pub struct ProductRow {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub name: String,
    pub city: String,
    /// Active, of an active merchant that is not deleted.
    pub searchable: bool,
}

/// What searches can find: products by (city, lower-cased name word).
#[derive(Debug, Default)]
pub struct Catalog {
    products: Vec<ProductRow>,
    by_merchant: HashMap<Uuid, Vec<usize>>,
    by_word: HashMap<(String, String), Vec<usize>>,
}

/// The lower-cased words of a product name.
pub fn words(name: &str) -> impl Iterator<Item = String> + '_ {
    name.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

impl Catalog {
    /// `products` in a fixed order (by id).
    pub fn new(products: Vec<ProductRow>) -> Catalog {
        let mut c = Catalog::default();
        for (i, p) in products.iter().enumerate() {
            c.by_merchant.entry(p.merchant_id).or_default().push(i);
            if p.searchable {
                let mut seen: Vec<String> = words(&p.name).collect();
                seen.sort();
                seen.dedup();
                for w in seen {
                    c.by_word.entry((p.city.clone(), w)).or_default().push(i);
                }
            }
        }
        c.products = products;
        c
    }

    /// The searchable products of `city` with `word` in their name, by id order.
    pub fn search(&self, city: &str, word: &str) -> Vec<&ProductRow> {
        self.by_word
            .get(&(city.to_string(), word.to_string()))
            .map(|v| v.iter().map(|&i| &self.products[i]).collect())
            .unwrap_or_default()
    }

    fn of_merchant(&self, merchant: Uuid) -> Vec<&ProductRow> {
        self.by_merchant
            .get(&merchant)
            .map(|v| v.iter().map(|&i| &self.products[i]).collect())
            .unwrap_or_default()
    }
}

#[derive(Debug, Clone)]
pub struct OrderRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub user_created_at: DateTime<Utc>,
    pub merchant_id: Uuid,
    pub city: String,
    pub total: Decimal,
    pub created_at: DateTime<Utc>,
}

/// The documents one order's session produces.
#[derive(Debug, Default)]
pub struct Session {
    pub activity: Vec<Document>,
    pub search: Option<Document>,
}

fn new_id(r: &mut impl Rng) -> String {
    rng::uuid(r).to_string()
}

/// Who is in the app, on what, in which session.
struct Visit {
    user: Uuid,
    session: String,
    device: &'static str,
}

impl Visit {
    fn new(r: &mut impl Rng, user: Uuid) -> Visit {
        Visit {
            user,
            session: new_id(r),
            device: choose(r, &DEVICES),
        }
    }

    fn event(
        &self,
        r: &mut impl Rng,
        (event_type, name): (&str, &str),
        at: DateTime<Utc>,
        properties: Document,
    ) -> Document {
        doc! {
            "_id": new_id(r),
            "user_id": self.user.to_string(),
            "event_type": event_type,
            "event_name": name,
            "properties": properties,
            "device_type": self.device,
            "timestamp": bson_date(at),
            "session_id": self.session.as_str(),
        }
    }
}

pub fn bson_date(at: DateTime<Utc>) -> Bson {
    Bson::DateTime(mongodb::bson::DateTime::from_millis(at.timestamp_millis()))
}

/// The session that ends with order number `k` (in `created_at`, id order).
pub fn order_session(rng_seed: u64, k: u64, o: &OrderRow, catalog: &Catalog) -> Session {
    let mut r = rng::stream(rng_seed, Kind::Activity, k);
    let visit = Visit::new(&mut r, o.user_id);
    let before = |r: &mut rand_chacha::ChaCha8Rng, lo: i64, hi: i64| {
        (o.created_at - Duration::seconds(r.random_range(lo * 60..=hi * 60))).max(o.user_created_at)
    };
    let mut out = Session::default();
    let opened = before(&mut r, 15, 40);
    out.activity
        .push(visit.event(&mut r, ("app_open", "app_open"), opened, doc! {}));

    let products = catalog.of_merchant(o.merchant_id);
    let viewed = match products.is_empty() {
        true => None,
        false => Some(products[r.random_range(0..products.len())]),
    };
    if let Some(p) = viewed.filter(|p| p.searchable) {
        if chance(&mut r, 600) {
            let words: Vec<String> = words(&p.name).collect();
            let word = words[r.random_range(0..words.len())].clone();
            // As typed: sometimes capitalised, sometimes with a stray space.
            let query = match weighted(&mut r, &[6, 3, 1]) {
                0 => word.clone(),
                1 => capitalise(&word),
                _ => format!(" {word} "),
            };
            let results = catalog.search(&o.city, &word);
            let mut clicked = vec![Bson::String(p.id.to_string())];
            for _ in 0..r.random_range(0..=2) {
                let other = results[r.random_range(0..results.len())].id.to_string();
                if !clicked.contains(&Bson::String(other.clone())) {
                    clicked.push(Bson::String(other));
                }
            }
            let at = before(&mut r, 8, 14).max(opened);
            let context = choose(&mut r, &CONTEXTS);
            out.search = Some(doc! {
                "_id": new_id(&mut r),
                "user_id": o.user_id.to_string(),
                "query": query.as_str(),
                "normalized_query": word.as_str(),
                "filters": {"city": o.city.as_str()},
                "results_count": results.len() as i64,
                "results_clicked": clicked,
                "search_context": context,
                "city": o.city.as_str(),
                "timestamp": bson_date(at),
            });
            out.activity.push(visit.event(
                &mut r,
                ("search", "search"),
                at,
                doc! {"query": query.as_str(), "results_count": results.len() as i64},
            ));
        }
    }
    let at = before(&mut r, 3, 7).max(opened);
    out.activity.push(visit.event(
        &mut r,
        ("screen_view", "merchant_page"),
        at,
        doc! {"merchant_id": o.merchant_id.to_string()},
    ));
    if let Some(p) = viewed {
        let at = before(&mut r, 1, 2).max(at);
        out.activity.push(visit.event(
            &mut r,
            ("screen_view", "product_view"),
            at,
            doc! {"product_id": p.id.to_string(), "merchant_id": o.merchant_id.to_string()},
        ));
    }
    out.activity.push(visit.event(
        &mut r,
        ("button_click", "order_placed"),
        o.created_at,
        doc! {
            "order_id": o.id.to_string(),
            "merchant_id": o.merchant_id.to_string(),
            "total_amount": o.total.to_string(),
        },
    ));
    out
}

fn capitalise(word: &str) -> String {
    let mut c = word.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[derive(Debug, Clone)]
pub struct RedemptionRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub offer_id: Uuid,
    pub merchant_id: Uuid,
    pub order_id: Option<Uuid>,
    pub redeemed_at: DateTime<Utc>,
}

/// The `offer_redeemed` event of redemption number `k` (in id order).
pub fn redemption_event(rng_seed: u64, k: u64, x: &RedemptionRow) -> Document {
    let mut r = rng::stream(rng_seed, Kind::RedemptionEvent, k);
    let visit = Visit::new(&mut r, x.user_id);
    let mut properties = doc! {
        "redemption_id": x.id.to_string(),
        "offer_id": x.offer_id.to_string(),
        "merchant_id": x.merchant_id.to_string(),
    };
    if let Some(order) = x.order_id {
        properties.insert("order_id", order.to_string());
    }
    visit.event(
        &mut r,
        ("button_click", "offer_redeemed"),
        x.redeemed_at,
        properties,
    )
}

#[derive(Debug, Clone)]
pub struct NotificationRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub delivery_method: Option<String>,
    pub delivered: Option<bool>,
    pub is_read: Option<bool>,
    pub created_at: DateTime<Utc>,
}

/// The log of one notification: its id is the row's, so it needs no stream.
pub fn notification_log(n: &NotificationRow) -> Document {
    let status = match (n.is_read, n.delivered) {
        (Some(true), _) => "opened",
        (_, Some(true)) => "delivered",
        _ => "sent",
    };
    doc! {
        "_id": n.id.to_string(),
        "notification_id": n.id.to_string(),
        "campaign_id": Bson::Null,
        "user_id": n.user_id.to_string(),
        "channel": n.delivery_method.as_deref().unwrap_or("push"),
        "status": status,
        "sent_at": bson_date(n.created_at),
    }
}

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// The user's orders that were not cancelled: (created_at, total), oldest first.
    pub orders: Vec<(DateTime<Utc>, Decimal)>,
}

/// The experiment's id: drawn once per (seed, experiment).
pub fn experiment_id(rng_seed: u64, e: usize) -> String {
    new_id(&mut rng::stream(rng_seed, Kind::Experiment, e as u64))
}

/// User number `k`'s (in id order) assignments and fraud signals.
pub fn user_documents(
    rng_seed: u64,
    now: DateTime<Utc>,
    k: u64,
    u: &UserRow,
) -> (Vec<Document>, Vec<Document>) {
    let mut r = rng::stream(rng_seed, Kind::UserLogs, k);
    let mut tests = Vec::new();
    for (e, (_, variants)) in EXPERIMENTS.iter().enumerate() {
        if !chance(&mut r, 400) {
            continue;
        }
        let variant = choose(&mut r, variants);
        let assigned = rng::instant(&mut r, u.created_at, now - Duration::seconds(1));
        let after: Vec<&(DateTime<Utc>, Decimal)> =
            u.orders.iter().filter(|(at, _)| *at > assigned).collect();
        let spend: Decimal = after.iter().map(|(_, total)| *total).sum();
        tests.push(doc! {
            "_id": new_id(&mut r),
            "experiment_id": experiment_id(rng_seed, e),
            "user_id": u.id.to_string(),
            "variant": variant,
            "metrics": {"orders": after.len() as i64, "spend": spend.to_string()},
            "assigned_at": bson_date(assigned),
            "converted_at": after.first().map_or(Bson::Null, |(at, _)| bson_date(*at)),
        });
    }
    let mut fraud = Vec::new();
    if chance(&mut r, 30) {
        let fraud_type = choose(&mut r, &FRAUD_TYPES);
        let risk: i32 = r.random_range(0..=100);
        let action = match risk {
            80.. => "blocked",
            60..=79 => "manual_review",
            35..=59 => "flagged",
            _ => "allowed",
        };
        let detected = rng::instant(&mut r, u.created_at, now - Duration::seconds(1));
        let reviewed = detected + Duration::hours(r.random_range(1..=48));
        fraud.push(doc! {
            "_id": new_id(&mut r),
            "event_id": new_id(&mut r),
            "user_id": u.id.to_string(),
            "fraud_type": fraud_type,
            "risk_score": risk,
            "action": action,
            "detected_at": bson_date(detected),
            "reviewed_at": match action {
                "manual_review" if reviewed < now => bson_date(reviewed),
                _ => Bson::Null,
            },
        });
    }
    (tests, fraud)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 1, h, 0, 0).unwrap()
    }

    fn catalog() -> Catalog {
        let p = |n: u128, m: u128, name: &str, city: &str, searchable| ProductRow {
            id: Uuid::from_u128(n),
            merchant_id: Uuid::from_u128(m),
            name: name.into(),
            city: city.into(),
            searchable,
        };
        Catalog::new(vec![
            p(1, 10, "Masala Chai", "Pune", true),
            p(2, 10, "Ginger chai", "Pune", true),
            p(3, 11, "Chai latte", "Goa", true),
            p(4, 10, "Old chai", "Pune", false),
        ])
    }

    #[test]
    fn a_search_counts_the_searchable_products_of_the_city_with_the_word() {
        let c = catalog();
        let ids: Vec<u128> = c
            .search("Pune", "chai")
            .iter()
            .map(|p| p.id.as_u128())
            .collect();
        assert_eq!(ids, [1, 2]);
        assert!(c.search("Pune", "latte").is_empty());
    }

    #[test]
    fn sessions_are_deterministic_consistent_and_before_the_order() {
        let c = catalog();
        let o = OrderRow {
            id: Uuid::from_u128(99),
            user_id: Uuid::from_u128(7),
            user_created_at: at(1),
            merchant_id: Uuid::from_u128(10),
            city: "Pune".into(),
            total: Decimal::new(12345, 2),
            created_at: at(12),
        };
        let mut searched = 0;
        for k in 0..50 {
            let s = order_session(42, k, &o, &c);
            assert_eq!(s.activity, order_session(42, k, &o, &c).activity);
            let last = s.activity.last().unwrap();
            assert_eq!(last.get_str("event_name").unwrap(), "order_placed");
            let props = last.get_document("properties").unwrap();
            assert_eq!(props.get_str("total_amount").unwrap(), "123.45");
            for e in &s.activity {
                let t = e.get_datetime("timestamp").unwrap().timestamp_millis();
                assert!(t <= at(12).timestamp_millis() && t >= at(1).timestamp_millis());
            }
            if let Some(q) = s.search {
                searched += 1;
                let word = q.get_str("normalized_query").unwrap();
                let results = c.search("Pune", word);
                assert_eq!(q.get_i64("results_count").unwrap(), results.len() as i64);
                for id in q.get_array("results_clicked").unwrap() {
                    let id = id.as_str().unwrap();
                    assert!(results.iter().any(|p| p.id.to_string() == id), "{q}");
                }
            }
        }
        assert!(searched > 10 && searched < 50, "{searched}");
    }

    #[test]
    fn a_conversion_is_the_first_order_after_the_assignment() {
        let u = UserRow {
            id: Uuid::from_u128(5),
            created_at: at(0),
            orders: vec![
                (at(1), Decimal::new(100, 0)),
                (at(20), Decimal::new(250, 1)),
            ],
        };
        for k in 0..40 {
            let (tests, fraud) = user_documents(1, at(23), k, &u);
            for t in tests {
                let assigned = t.get_datetime("assigned_at").unwrap().timestamp_millis();
                let metrics = t.get_document("metrics").unwrap();
                match t.get("converted_at").unwrap() {
                    Bson::Null => assert_eq!(metrics.get_i64("orders").unwrap(), 0),
                    Bson::DateTime(c) => {
                        assert!(c.timestamp_millis() > assigned);
                        assert!(metrics.get_i64("orders").unwrap() >= 1);
                    }
                    other => panic!("{other}"),
                }
            }
            for f in fraud {
                let score = f.get_i32("risk_score").unwrap();
                assert!((0..=100).contains(&score));
            }
        }
    }
}
