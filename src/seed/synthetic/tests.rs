//! The generator without a database: determinism, vocabularies, ledgers that
//! replay cleanly, and referrals that stay within a chunk. The same data is
//! loaded and checked against PostgreSQL in tests/pg/seed.rs.

use std::collections::BTreeMap;

use chrono::TimeZone;

use super::*;
use crate::domain::coins::TxType;
use crate::domain::ledger::{Entry, Replay};
use crate::domain::vocabulary::ENUMERATIONS;
use crate::seed::files::SeedSource;
use crate::store::pg::copy::CopyTable;
use crate::store::pg::reference::{stable_id, CategoryRow, CollegeRow, StoredReference, TierRow};

/// The embedded seeds as `rez-db seed` would store them.
fn stored() -> StoredReference {
    let data = crate::seed::files::load(&SeedSource::Embedded).unwrap();
    let mut categories: Vec<CategoryRow> = data
        .categories
        .iter()
        .map(|c| CategoryRow {
            id: stable_id("categories", &c.slug),
            slug: c.slug.clone(),
            name: c.name.clone(),
            parent_id: c.parent_slug.as_deref().map(|p| stable_id("categories", p)),
        })
        .collect();
    categories.sort_by(|a, b| a.slug.cmp(&b.slug));
    StoredReference {
        settings: data
            .settings
            .iter()
            .map(|s| {
                let text = match s.setting_type.as_str() {
                    "string" => serde_json::from_str::<String>(&s.value_json).unwrap(),
                    _ => s.value_json.clone(),
                };
                (s.key.clone(), text)
            })
            .collect(),
        tiers: data
            .tiers
            .iter()
            .map(|t| TierRow {
                id: stable_id("loyalty_tiers", &t.level.to_string()),
                level: t.level,
                min_spend: t.min_spend.amount(),
                min_orders: t.min_orders,
                coin_multiplier: Some(t.coin_multiplier),
            })
            .collect(),
        categories,
        colleges: data
            .colleges
            .iter()
            .map(|c| CollegeRow {
                id: stable_id("colleges", &c.college_code),
                college_code: Some(c.college_code.clone()),
                city: c.city.clone(),
                email_domain: c.email_domain.clone(),
            })
            .collect(),
    }
}

fn world(scale: u64, rng_seed: u64) -> World {
    let now = Utc.with_ymd_and_hms(2026, 3, 15, 10, 30, 0).unwrap();
    let catalog = Catalog::from_stored(&stored()).unwrap();
    World::build(
        Params {
            scale,
            rng_seed,
            now,
        },
        catalog,
    )
}

/// Every table's COPY text, by table name (chunks concatenated).
fn dataset(scale: u64, rng_seed: u64) -> BTreeMap<&'static str, (Vec<&'static str>, String)> {
    let w = world(scale, rng_seed);
    let counted = tally(&w);
    let mut out: BTreeMap<&'static str, (Vec<&'static str>, String)> = BTreeMap::new();
    let mut keep = |t: &CopyTable| {
        let entry = out
            .entry(t.table)
            .or_insert_with(|| (t.columns.to_vec(), String::new()));
        entry.1.push_str(std::str::from_utf8(t.bytes()).unwrap());
    };
    generate_world(&w, &counted)
        .in_load_order()
        .into_iter()
        .for_each(&mut keep);
    let mut cursor = Cursor::new(&w);
    let mut rows = UserTables::new();
    while !cursor.done(&w) {
        generate_users(&w, &mut cursor, &mut rows);
        rows.in_load_order().into_iter().for_each(&mut keep);
    }
    assert_eq!(
        cursor.limits.used, counted.redemptions,
        "the two passes agree"
    );
    out
}

fn rows<'a>(
    data: &'a BTreeMap<&str, (Vec<&str>, String)>,
    table: &str,
) -> Vec<BTreeMap<&'a str, &'a str>> {
    let (columns, text) = &data[table];
    text.lines()
        .map(|line| columns.iter().copied().zip(line.split('\t')).collect())
        .collect()
}

#[test]
fn the_same_seed_gives_the_same_bytes_and_another_seed_does_not() {
    let a = dataset(120, 7);
    assert_eq!(a, dataset(120, 7));
    assert_ne!(a["users"], dataset(120, 8)["users"]);
    for table in [
        "users",
        "merchants",
        "products",
        "offers",
        "orders",
        "wallets",
        "wallet_transactions",
        "promo_coins",
    ] {
        assert!(!a[table].1.is_empty(), "{table} is empty");
    }
}

#[test]
fn every_enumerated_value_is_in_the_vocabulary() {
    let data = dataset(400, 11);
    let mut seen = 0;
    for (table, column, allowed) in ENUMERATIONS {
        if !data.contains_key(table) || !data[table].0.contains(column) {
            continue;
        }
        for row in rows(&data, table) {
            let value = row[column];
            assert!(
                value == "\\N" || allowed.contains(&value),
                "{table}.{column} = {value}"
            );
            seen += 1;
        }
    }
    assert!(seen > 1000, "{seen}");
    // Every offer type and every coin type occurs.
    for (column, table, values) in [
        (
            "offer_type",
            "offers",
            &[
                "discount_percent",
                "discount_fixed",
                "bogo",
                "freebie",
                "cashback",
            ][..],
        ),
        (
            "coin_type",
            "wallet_transactions",
            &["rez", "promo", "branded", "cash"][..],
        ),
        (
            "transaction_type",
            "wallet_transactions",
            &["earn", "spend", "expire", "refund"][..],
        ),
    ] {
        let present: Vec<&str> = rows(&data, table).iter().map(|r| r[column]).collect();
        for v in values {
            assert!(present.contains(v), "no {table}.{column} = {v}");
        }
    }
}

#[test]
fn ledgers_replay_cleanly_and_match_the_wallets() {
    let data = dataset(400, 3);
    /// (created_at, id, type, amount, balance_after) per (wallet, coin, merchant).
    type Rows<'a> = Vec<(&'a str, &'a str, TxType, i64, i64)>;
    let mut ledgers: BTreeMap<(&str, &str, &str), Rows<'_>> = BTreeMap::new();
    for r in rows(&data, "wallet_transactions") {
        ledgers
            .entry((r["wallet_id"], r["coin_type"], r["merchant_id"]))
            .or_default()
            .push((
                r["created_at"],
                r["id"],
                r["transaction_type"].parse().unwrap(),
                r["amount"].parse().unwrap(),
                r["balance_after"].parse().unwrap(),
            ));
    }
    let mut sums: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for ((wallet, coin, _), mut entries) in ledgers {
        entries.sort_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)));
        let mut replay = Replay::new();
        for (_, id, tx_type, amount, balance_after) in entries {
            let entry = Entry {
                tx_type,
                amount,
                balance_after,
            };
            assert!(replay.apply(&entry).is_empty(), "row {id}");
        }
        *sums.entry((wallet, coin)).or_default() += replay.balance();
    }
    for w in rows(&data, "wallets") {
        let sum = |coin| sums.get(&(w["id"], coin)).copied().unwrap_or(0);
        assert_eq!(w["rez_coins_balance"].parse::<i64>().unwrap(), sum("rez"));
        assert_eq!(
            w["promo_coins_balance"].parse::<i64>().unwrap(),
            sum("promo")
        );
        assert_eq!(
            w["prive_coins_balance"].parse::<i64>().unwrap(),
            sum("prive")
        );
        assert_eq!(
            crate::domain::money::Money::from_paise(sum("cash")).to_string(),
            w["cash_balance"]
        );
    }
}

#[test]
fn referrals_never_cross_a_chunk() {
    let w = world(CHUNK_USERS + 300, 5);
    let index: BTreeMap<String, u64> = (0..w.params.scale)
        .map(|i| (users::skeleton(&w, i).0.id.to_string(), i))
        .collect();
    let data = dataset(CHUNK_USERS + 300, 5);
    let referrals = rows(&data, "referrals");
    assert!(!referrals.is_empty());
    for r in referrals {
        let (a, b) = (index[r["referrer_id"]], index[r["referee_id"]]);
        assert_eq!(a / CHUNK_USERS, b / CHUNK_USERS);
        assert_eq!(a / BLOCK, b / BLOCK);
    }
}

#[test]
fn phones_and_emails_are_unique_and_well_formed() {
    let data = dataset(400, 9);
    let users = rows(&data, "users");
    let phones: std::collections::BTreeSet<&str> = users.iter().map(|u| u["phone"]).collect();
    assert_eq!(phones.len(), users.len());
    for u in &users {
        let email = u["email"];
        assert!(
            email == "\\N" || (email.contains('@') && email.is_ascii() && !email.contains(' ')),
            "{email}"
        );
    }
    let numbers: std::collections::BTreeSet<&str> = rows(&data, "orders")
        .iter()
        .map(|o| o["order_number"])
        .collect();
    assert_eq!(numbers.len(), rows(&data, "orders").len());
}

#[test]
fn nothing_happens_after_now() {
    let data = dataset(600, 13);
    let now = "2026-03-15 10:30:00.000000+00";
    for (table, columns) in [
        (
            "users",
            &["created_at", "updated_at", "deleted_at", "last_login_at"][..],
        ),
        ("wallet_transactions", &["created_at"][..]),
        ("promo_coins", &["issued_at"][..]),
        (
            "orders",
            &[
                "created_at",
                "updated_at",
                "paid_at",
                "completed_at",
                "cancelled_at",
                "reviewed_at",
            ][..],
        ),
        ("payments", &["initiated_at", "completed_at"][..]),
        (
            "offer_redemptions",
            &["redeemed_at", "completed_at", "cancelled_at"][..],
        ),
        (
            "referrals",
            &["created_at", "condition_met_at", "rewarded_at"][..],
        ),
        (
            "reviews",
            &["created_at", "updated_at", "merchant_responded_at"][..],
        ),
        (
            "notifications",
            &["created_at", "read_at", "delivered_at"][..],
        ),
        (
            "user_loyalty",
            &["last_activity_at", "tier_achieved_at"][..],
        ),
    ] {
        for row in rows(&data, table) {
            for column in columns {
                let at = row[column];
                assert!(at == "\\N" || at <= now, "{table}.{column} = {at}");
            }
        }
    }
}
