//! The supply side, generated once per dataset as values: admin users,
//! merchants with their outlets, staff, bank accounts and products, offers,
//! and promo campaigns. Their rows are written by `merchant_rows`.
//!
//! Merchant `m` comes from its own random stream, so the world is the same
//! whatever the number of users. Offer terms and windows are built as
//! `domain::offer` types, the same ones redemptions are judged with. It never
//! encodes a row, and never changes the order of its random draws: the
//! dataset of a (seed, clock) pair must stay the same from one version to
//! the next.

use chrono::{DateTime, Duration, NaiveTime, Utc, Weekday};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::catalog::Catalog;
use super::people::{self, Person};
use super::places::{Trade, BANKS, CITIES, GENERIC_PRODUCTS, PRODUCTS, PROMO_CAMPAIGNS, TRADES};
use super::rng::{self, chance, pick, stream, weighted, Kind};
use super::Params;
use crate::domain::money::Money;
use crate::domain::offer::{OfferKind, Terms, Window};

#[derive(Debug, Clone)]
pub struct Admin {
    pub id: Uuid,
    pub person: Person,
    pub role: &'static str,
    pub city: Option<&'static str>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Outlet {
    pub id: Uuid,
    pub name: String,
    pub code: String,
    pub address: String,
    pub pincode: String,
    pub latitude: Decimal,
    pub longitude: Decimal,
    pub phone: String,
}

#[derive(Debug, Clone)]
pub struct Product {
    pub id: Uuid,
    pub category_id: Option<Uuid>,
    pub name: String,
    pub slug: String,
    pub price: Money,
    pub original_price: Option<Money>,
    pub stock: i32,
}

#[derive(Debug, Clone)]
pub struct Staff {
    pub id: Uuid,
    pub person: Person,
    pub email: String,
    pub role: &'static str,
    pub password_hash: String,
}

#[derive(Debug, Clone)]
pub struct Merchant {
    pub id: Uuid,
    pub city: usize,
    pub name: String,
    pub business_type: &'static str,
    pub gst_percent: i64,
    /// One of `vocabulary::allowed("merchants", "status")`.
    pub status: &'static str,
    pub package_tier: &'static str,
    pub contact: Person,
    pub contact_email: String,
    pub contact_phone: String,
    pub address: String,
    pub pincode: String,
    pub latitude: Decimal,
    pub longitude: Decimal,
    pub gstin: String,
    pub pan: String,
    pub fssai: Option<String>,
    pub commission_rate: Decimal,
    pub settlement_frequency: &'static str,
    pub verified_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub outlets: Vec<Outlet>,
    pub products: Vec<Product>,
    pub staff: Vec<Staff>,
    pub bank: (String, String, &'static str, &'static str),
    /// Indices into `World::offers`.
    pub offers: std::ops::Range<usize>,
    pub prive: Option<(&'static str, Decimal)>,
}

impl Merchant {
    /// Users order here: live merchants only.
    pub fn trading(&self) -> bool {
        self.status == "active"
    }
}

#[derive(Debug, Clone)]
pub struct Offer {
    pub id: Uuid,
    pub merchant: usize,
    /// Index into the merchant's outlets; None = every outlet.
    pub outlet: Option<usize>,
    pub title: String,
    pub terms: Terms,
    pub window: Window,
    pub per_user_limit: i64,
    pub total_limit: Option<i64>,
    pub rez_coins_earned: i64,
    pub branded_coins_earned: i64,
    pub status: &'static str,
    pub approval_status: &'static str,
    pub approved_by: Option<Uuid>,
    /// One of `vocabulary::allowed("offers", "user_segment")`.
    pub segment: &'static str,
    pub categories: Vec<Uuid>,
    pub tags: Vec<&'static str>,
    pub featured: bool,
    pub created_at: DateTime<Utc>,
}

impl Offer {
    /// Whether users could redeem it at some point (approved and published).
    pub fn redeemable(&self) -> bool {
        self.approval_status == "approved" && matches!(self.status, "active" | "paused" | "expired")
    }
}

#[derive(Debug, Clone)]
pub struct Campaign {
    pub id: Uuid,
    pub name: &'static str,
    /// Coins per lot and validity of this campaign's promo lots.
    pub coins: (i64, i64),
    pub validity_days: i64,
}

/// How many merchants a dataset of `users` users gets.
pub fn merchant_count(users: u64) -> u64 {
    (users / 50).max(5)
}

pub fn admins(params: &Params, start: DateTime<Utc>) -> Vec<Admin> {
    const ROLES: [(&str, Option<&str>); 6] = [
        ("super_admin", None),
        ("operations_admin", Some("Mumbai")),
        ("operations_admin", Some("Delhi")),
        ("operations_admin", Some("Bengaluru")),
        ("support_admin", None),
        ("finance_admin", None),
    ];
    ROLES
        .iter()
        .enumerate()
        .map(|(i, &(role, city))| {
            let mut rng = stream(params.rng_seed, Kind::Admin, i as u64);
            Admin {
                id: rng::uuid(&mut rng),
                person: people::person(&mut rng),
                role,
                city,
                created_at: start - Duration::days(30) + rng::minutes(&mut rng, 0, 60 * 24),
            }
        })
        .collect()
}

/// A trade for category `root`: its names, tax rate and price range. A
/// category tree of the user's own (not seeds/categories.yaml) gets shops.
fn trade_for(root: &str) -> &'static Trade {
    const SHOP: usize = 1;
    TRADES
        .iter()
        .find(|t| t.root == root)
        .unwrap_or(&TRADES[SHOP])
}

pub struct Built {
    pub merchants: Vec<Merchant>,
    pub offers: Vec<Offer>,
}

pub fn merchants(
    params: &Params,
    catalog: &Catalog,
    admins: &[Admin],
    start: DateTime<Utc>,
) -> Built {
    let mut merchants = Vec::new();
    let mut offers = Vec::new();
    let weights: Vec<u32> = CITIES.iter().map(|c| c.weight).collect();
    for m in 0..merchant_count(params.scale) {
        let mut rng = stream(params.rng_seed, Kind::Merchant, m);
        let city = weighted(&mut rng, &weights);
        let root = (!catalog.roots.is_empty()).then(|| {
            let w: Vec<u32> = catalog
                .roots
                .iter()
                .map(|r| if r.slug == "food" { 5 } else { 1 })
                .collect();
            weighted(&mut rng, &w)
        });
        let trade = trade_for(root.map_or("", |r| catalog.roots[r].slug.as_str()));
        // The first merchants always trade, so even the smallest dataset has orders.
        let status = if m < 5 {
            "active"
        } else {
            ["active", "pending", "suspended", "rejected"][weighted(&mut rng, &[90, 4, 3, 3])]
        };
        let merchant = merchant(&mut rng, m, city, trade, status, admins, start);
        let mut merchant = Merchant {
            products: products(&mut rng, catalog, root, trade),
            ..merchant
        };
        let first = offers.len();
        let count = rng.random_range(2..=5);
        for k in 0..count {
            let kind = OfferKind::ALL[(m as usize + k) % OfferKind::ALL.len()];
            offers.push(offer(
                &mut rng,
                params,
                &merchant,
                merchants.len(),
                kind,
                admins,
            ));
        }
        merchant.offers = first..offers.len();
        if merchant.trading() && chance(&mut rng, 100) {
            let tier = *pick(&mut rng, &["lite", "plus", "premium"]);
            merchant.prive = Some((tier, Decimal::from(rng.random_range(5..=20))));
        }
        merchants.push(merchant);
    }
    Built { merchants, offers }
}

#[allow(clippy::too_many_arguments)]
fn merchant(
    rng: &mut ChaCha8Rng,
    m: u64,
    city: usize,
    trade: &'static Trade,
    status: &'static str,
    admins: &[Admin],
    start: DateTime<Utc>,
) -> Merchant {
    let place = &CITIES[city];
    let name = format!("{} {}", pick(rng, trade.first), pick(rng, trade.second));
    let contact = people::person(rng);
    let (address, _) = people::street(rng, place);
    let pincode = people::pincode(rng, place);
    let (latitude, longitude) = people::coordinates(rng, place);
    let created_at = start + rng::minutes(rng, 0, 7 * 24 * 60);
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    let pan = format!(
        "{}{}{}",
        rng::token(rng, UPPER, 5),
        rng::token(rng, rng::DIGITS, 4),
        rng::token(rng, UPPER, 1)
    );
    let gstin = format!(
        "{}{pan}1Z{}",
        place.gst_state,
        rng::token(rng, rng::BASE36, 1)
    );
    let outlets = (0..rng.random_range(1..=3))
        .map(|k| {
            let (street, locality) = people::street(rng, place);
            let (lat, lon) = people::near(rng, latitude, longitude, place.spread_micro / 2);
            Outlet {
                id: rng::uuid(rng),
                name: format!("{name} - {locality}"),
                code: format!("{}-{m:06}-{k:02}", &place.name[..3].to_ascii_uppercase()),
                address: street,
                pincode: people::pincode(rng, place),
                latitude: lat,
                longitude: lon,
                phone: people::mobile(rng),
            }
        })
        .collect();
    let staff = (0..rng.random_range(1..=3))
        .map(|k| {
            let person = people::person(rng);
            Staff {
                id: rng::uuid(rng),
                email: person.email(&format!(".m{m}.{k}"), people::email_domain(rng)),
                person,
                role: match k {
                    0 => "owner",
                    1 => "manager",
                    _ => "staff",
                },
                password_hash: people::password_hash(rng),
            }
        })
        .collect();
    let (bank, ifsc) = *pick(rng, BANKS);
    let digits = rng.random_range(11..=16);
    let account = rng::token(rng, rng::DIGITS, digits);
    let branch = format!("{ifsc}0{}", rng::token(rng, rng::DIGITS, 6));
    let live = matches!(status, "active" | "suspended");
    Merchant {
        id: rng::uuid(rng),
        city,
        business_type: trade.business_type,
        gst_percent: trade.gst_percent,
        status,
        package_tier: ["basic", "plus", "premium", "enterprise"][weighted(rng, &[50, 25, 15, 10])],
        contact_email: contact.email(&format!(".m{m}"), people::email_domain(rng)),
        contact_phone: people::unique_mobile(97, m),
        contact,
        address,
        pincode,
        latitude,
        longitude,
        gstin,
        pan,
        fssai: (trade.root == "food").then(|| rng::token(rng, rng::DIGITS, 14)),
        commission_rate: Decimal::new(rng.random_range(10..=40) * 50, 2),
        settlement_frequency: ["daily", "weekly", "monthly"][weighted(rng, &[20, 65, 15])],
        verified_by: live.then(|| pick(rng, admins).id),
        created_at,
        outlets,
        products: Vec::new(),
        staff,
        bank: (account, branch, bank, ifsc),
        offers: 0..0,
        prive: None,
        name,
    }
}

fn products(
    rng: &mut ChaCha8Rng,
    catalog: &Catalog,
    root: Option<usize>,
    trade: &Trade,
) -> Vec<Product> {
    let count = rng.random_range(5..=20);
    (0..count)
        .map(|k| {
            let leaf = root.map(|r| pick(rng, &catalog.roots[r].leaves).clone());
            let line = leaf
                .as_ref()
                .and_then(|l| PRODUCTS.iter().find(|(slug, _)| *slug == l.slug))
                .map(|(_, names)| *names);
            let name = match (line, &leaf) {
                (Some(names), _) => pick(rng, names).to_string(),
                (None, Some(l)) => format!("{} {}", l.name, pick(rng, GENERIC_PRODUCTS)),
                (None, None) => format!("{} Item", pick(rng, GENERIC_PRODUCTS)),
            };
            // Prices end in 0 or 9 rupees, as shops price them.
            let (lo, hi) = trade.price_rupees;
            let rupees = rng.random_range(lo..=hi) / 10 * 10 + [0, 9][rng.random_range(0..2)];
            let price = Money::from_paise(rupees.max(1) * 100);
            let original_price =
                chance(rng, 300).then(|| Money::from_paise(rupees * rng.random_range(110..=140)));
            Product {
                id: rng::uuid(rng),
                category_id: leaf.map(|l| l.id),
                slug: format!("{}-{k}", people::slug(&name)),
                name,
                price,
                original_price,
                stock: rng.random_range(0..=500),
            }
        })
        .collect()
}

fn offer(
    rng: &mut ChaCha8Rng,
    params: &Params,
    merchant: &Merchant,
    merchant_index: usize,
    kind: OfferKind,
    admins: &[Admin],
) -> Offer {
    let now = params.now;
    let rupees = |r: i64| Money::from_paise(r * 100);
    let (terms, title) = match kind {
        OfferKind::DiscountPercent => {
            let pct = rng.random_range(2..=10) * 5;
            let cap = chance(rng, 700).then(|| rupees(rng.random_range(5..=30) * 10));
            let title = match cap {
                Some(c) => format!("{pct}% off up to ₹{}", c.amount().trunc()),
                None => format!("{pct}% off"),
            };
            (
                Terms {
                    kind,
                    discount_value: Some(Decimal::from(pct)),
                    max_discount: cap,
                    min_order_value: chance(rng, 600)
                        .then(|| rupees(rng.random_range(10..=50) * 10 - 1)),
                },
                title,
            )
        }
        OfferKind::DiscountFixed => {
            let value = rng.random_range(5..=30) * 5;
            let minimum = rupees(rng.random_range(2..=10) * 100 - 1);
            (
                Terms {
                    kind,
                    discount_value: Some(Decimal::from(value)),
                    max_discount: None,
                    min_order_value: Some(minimum),
                },
                format!(
                    "Flat ₹{value} off on orders above ₹{}",
                    minimum.amount().trunc()
                ),
            )
        }
        OfferKind::Bogo => (
            Terms {
                kind,
                discount_value: None,
                max_discount: None,
                min_order_value: None,
            },
            "Buy 1 Get 1 Free".to_string(),
        ),
        OfferKind::Freebie => {
            let minimum = rupees(rng.random_range(2..=6) * 100 - 1);
            (
                Terms {
                    kind,
                    discount_value: None,
                    max_discount: None,
                    min_order_value: Some(minimum),
                },
                format!("A free item on orders above ₹{}", minimum.amount().trunc()),
            )
        }
        OfferKind::Cashback => (
            Terms {
                kind,
                discount_value: None,
                max_discount: None,
                min_order_value: chance(rng, 500)
                    .then(|| rupees(rng.random_range(1..=5) * 100 - 1)),
            },
            String::new(),
        ),
    };
    let rez_coins_earned = match kind {
        OfferKind::Cashback => rng.random_range(2..=15) * 10,
        _ if chance(rng, 200) => rng.random_range(1..=3) * 10,
        _ => 0,
    };
    let title = if kind == OfferKind::Cashback {
        format!("Get {rez_coins_earned} ReZ coins back")
    } else {
        title
    };
    let status = match merchant.status {
        "active" => {
            ["active", "expired", "paused", "draft", "rejected"][weighted(rng, &[70, 12, 8, 5, 5])]
        }
        "suspended" => ["paused", "expired"][rng.random_range(0..2)],
        _ => "draft",
    };
    let approval_status = match status {
        "draft" => "pending",
        "rejected" => "rejected",
        _ => "approved",
    };
    let valid_from = merchant.created_at + rng::minutes(rng, 24 * 60, 5 * 24 * 60);
    let valid_until = if status == "expired" {
        now - Duration::days(rng.random_range(2..=40))
    } else {
        now + Duration::days(rng.random_range(7..=120))
    };
    let days = match weighted(rng, &[70, 20, 10]) {
        0 => Vec::new(),
        1 => vec![
            Weekday::Mon,
            Weekday::Tue,
            Weekday::Wed,
            Weekday::Thu,
            Weekday::Fri,
        ],
        _ => vec![Weekday::Sat, Weekday::Sun],
    };
    let hm = |h: u32, m: u32| NaiveTime::from_hms_opt(h, m, 0).expect("valid time");
    let hours = if chance(rng, 300) {
        vec![(hm(11, 0), hm(15, 0)), (hm(18, 0), hm(22, 30))]
    } else {
        Vec::new()
    };
    let categories: Vec<Uuid> = merchant
        .products
        .iter()
        .filter_map(|p| p.category_id)
        .take(rng.random_range(1..=2))
        .collect();
    Offer {
        id: rng::uuid(rng),
        merchant: merchant_index,
        outlet: chance(rng, 200).then(|| rng.random_range(0..merchant.outlets.len())),
        title,
        terms,
        window: Window {
            valid_from,
            valid_until,
            days,
            hours,
        },
        per_user_limit: [1, 2, 3][weighted(rng, &[50, 30, 20])],
        total_limit: chance(rng, 400).then(|| rng.random_range(5..=60)),
        rez_coins_earned,
        branded_coins_earned: if chance(rng, 300) {
            rng.random_range(1..=5) * 10
        } else {
            0
        },
        status,
        approval_status,
        approved_by: (approval_status != "pending").then(|| pick(rng, admins).id),
        segment: ["all", "student", "new_users"][weighted(rng, &[80, 10, 10])],
        categories,
        tags: vec![*pick(
            rng,
            &[
                "lunch",
                "dinner",
                "weekend",
                "festive",
                "flash_deal",
                "combo",
            ],
        )],
        featured: chance(rng, 100),
        created_at: valid_from - rng::minutes(rng, 60, 24 * 60),
    }
}

pub fn campaigns(params: &Params) -> Vec<Campaign> {
    PROMO_CAMPAIGNS
        .iter()
        .enumerate()
        .map(|(i, &name)| {
            let mut rng = stream(params.rng_seed, Kind::Global, 100 + i as u64);
            Campaign {
                id: rng::uuid(&mut rng),
                name,
                coins: (rng.random_range(2..=5) * 10, rng.random_range(10..=20) * 10),
                validity_days: [7, 14, 30][rng.random_range(0..3)],
            }
        })
        .collect()
}
