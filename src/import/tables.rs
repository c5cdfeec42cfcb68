//! What import-csv knows about each table it loads (the reference's Phase 3:
//! users, merchants, products, offers, orders, wallet_transactions, reviews;
//! and what an old system's wallets need with them: wallets with their
//! branded coins, promo_coins, payments, offer_redemptions, user_addresses,
//! merchant_outlets, referrals, user_loyalty):
//! the upsert's key, the unique keys, the CHECK constraints the migrations
//! declare, and the row-level business rules, which are `crate::domain`'s:
//! this module only gathers a row's values and calls them. Pure: no I/O.
//!
//! Order items are not a table: `orders.items` is a JSONB column
//! (`[{product_id, name, qty, price, total}]`, the reference's design), so an
//! order's items come in its own CSV row and are checked with the order
//! (ORDER-ITEM-TOTAL, ORDER-SUBTOTAL) before its total.

use std::str::FromStr;

use rust_decimal::Decimal;
use serde_json::value::RawValue;

use super::check::{Column, Problem};
use super::reader::Record;
use super::timestamps::TimeReading;
use crate::domain::ledger::{Entry, LedgerViolation, Replay};
use crate::domain::loyalty::RATINGS;
use crate::domain::money::Money;
use crate::domain::offer::{self, OfferKind, Terms, Window};
use crate::domain::order::{self, Charges, Item};
use crate::domain::{CoinType, TxType};

/// A CHECK constraint of the migrations on one column: `min <= value <= max`
/// (bounds as exact decimals). The pg test `every_check_constraint_is_covered`
/// holds this list to the catalog, so a new CHECK cannot be forgotten here.
pub struct Bound {
    pub constraint: &'static str,
    pub column: &'static str,
    pub min: Option<&'static str>,
    pub max: Option<&'static str>,
}

const fn bound(
    constraint: &'static str,
    column: &'static str,
    min: Option<&'static str>,
    max: Option<&'static str>,
) -> Bound {
    Bound {
        constraint,
        column,
        min,
        max,
    }
}

const fn nonnegative(constraint: &'static str, column: &'static str) -> Bound {
    bound(constraint, column, Some("0"), None)
}

/// The settings the row rules need, read from `app_settings` once.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    pub coin_to_inr_rate: Option<Decimal>,
}

pub struct TableRules {
    pub name: &'static str,
    /// The upsert's conflict target: a unique constraint's columns.
    pub key: &'static [&'static str],
    /// Unique keys checked against earlier rows and the table; one column, or
    /// several (NULL in any of them: not checked, as SQL's UNIQUE).
    pub unique: &'static [&'static [&'static str]],
    pub bounds: &'static [Bound],
    /// CHECK constraints enforced by [`TableRules::row`] rather than a [`Bound`].
    pub checked_by_rules: &'static [&'static str],
    /// The row-level business rules (values already checked one by one).
    pub rules: fn(&Row, &Settings) -> Vec<Problem>,
}

fn no_rules(_: &Row, _: &Settings) -> Vec<Problem> {
    Vec::new()
}

/// The tables import-csv loads. A manifest's files are ordered by the
/// references the catalog declares (`super::manifest::dependency_order`);
/// this order only breaks ties.
pub const TABLES: &[TableRules] = &[
    TableRules {
        name: "users",
        key: &["phone"],
        unique: &[&["phone"], &["email"], &["id"]],
        bounds: &[],
        checked_by_rules: &["valid_email", "valid_phone", "valid_status"],
        rules: no_rules,
    },
    TableRules {
        name: "merchants",
        key: &["id"],
        unique: &[&["id"]],
        bounds: &[
            bound(
                "merchants_latitude_range",
                "latitude",
                Some("-90"),
                Some("90"),
            ),
            bound(
                "merchants_longitude_range",
                "longitude",
                Some("-180"),
                Some("180"),
            ),
            bound(
                "merchants_commission_rate_percent",
                "commission_rate",
                Some("0"),
                Some("100"),
            ),
            bound(
                "merchants_average_rating_range",
                "average_rating",
                Some("0"),
                Some("5"),
            ),
        ],
        checked_by_rules: &[],
        rules: no_rules,
    },
    TableRules {
        name: "merchant_outlets",
        key: &["id"],
        unique: &[&["id"]],
        bounds: &[
            bound(
                "merchant_outlets_latitude_range",
                "latitude",
                Some("-90"),
                Some("90"),
            ),
            bound(
                "merchant_outlets_longitude_range",
                "longitude",
                Some("-180"),
                Some("180"),
            ),
        ],
        checked_by_rules: &[],
        rules: no_rules,
    },
    TableRules {
        name: "user_addresses",
        key: &["id"],
        unique: &[&["id"]],
        bounds: &[],
        checked_by_rules: &[],
        rules: no_rules,
    },
    TableRules {
        name: "wallets",
        // One wallet per user (idx_wallets_user_id).
        key: &["user_id"],
        unique: &[&["id"], &["user_id"]],
        bounds: &[
            nonnegative("wallets_rez_coins_balance_nonnegative", "rez_coins_balance"),
            nonnegative(
                "wallets_prive_coins_balance_nonnegative",
                "prive_coins_balance",
            ),
            nonnegative(
                "wallets_promo_coins_balance_nonnegative",
                "promo_coins_balance",
            ),
            bound(
                "wallets_cash_balance_range",
                "cash_balance",
                Some("0"),
                Some("21474836.47"),
            ),
        ],
        checked_by_rules: &[],
        rules: wallet_rules,
    },
    TableRules {
        name: "promo_coins",
        key: &["id"],
        unique: &[&["id"]],
        bounds: &[],
        checked_by_rules: &["promo_coins_remaining_within_amount"],
        rules: promo_rules,
    },
    TableRules {
        name: "products",
        key: &["id"],
        unique: &[&["id"], &["merchant_id", "slug"]],
        bounds: &[
            nonnegative("products_price_nonnegative", "price"),
            nonnegative("products_original_price_nonnegative", "original_price"),
        ],
        checked_by_rules: &[],
        rules: no_rules,
    },
    TableRules {
        name: "offers",
        key: &["id"],
        unique: &[&["id"]],
        bounds: &[
            nonnegative("offers_discount_value_nonnegative", "discount_value"),
            nonnegative("offers_max_discount_nonnegative", "max_discount"),
            nonnegative("offers_min_order_value_nonnegative", "min_order_value"),
        ],
        checked_by_rules: &["offers_validity_window"],
        rules: offer_rules,
    },
    TableRules {
        name: "orders",
        // The primary key of a partitioned table holds its partition key.
        key: &["id", "created_at"],
        // Globally, as `validate` checks (uniq.order_id, uniq.order_number):
        // the database enforces them only together with created_at.
        unique: &[&["id"], &["order_number"]],
        bounds: &[
            nonnegative("orders_subtotal_nonnegative", "subtotal"),
            nonnegative("orders_discount_amount_nonnegative", "discount_amount"),
            nonnegative("orders_tax_amount_nonnegative", "tax_amount"),
            nonnegative("orders_delivery_fee_nonnegative", "delivery_fee"),
            nonnegative("orders_total_amount_nonnegative", "total_amount"),
            nonnegative("orders_coins_value_nonnegative", "coins_value"),
        ],
        checked_by_rules: &["orders_rating_range"],
        rules: order_rules,
    },
    TableRules {
        name: "payments",
        key: &["id"],
        unique: &[&["id"], &["gateway_transaction_id"]],
        bounds: &[nonnegative("payments_amount_nonnegative", "amount")],
        checked_by_rules: &[],
        rules: no_rules,
    },
    TableRules {
        name: "offer_redemptions",
        key: &["id"],
        unique: &[&["id"]],
        bounds: &[
            nonnegative(
                "offer_redemptions_original_amount_nonnegative",
                "original_amount",
            ),
            nonnegative(
                "offer_redemptions_discount_amount_nonnegative",
                "discount_amount",
            ),
            nonnegative("offer_redemptions_final_amount_nonnegative", "final_amount"),
        ],
        checked_by_rules: &[],
        rules: redemption_rules,
    },
    TableRules {
        name: "wallet_transactions",
        key: &["id", "created_at"],
        unique: &[&["id"]],
        bounds: &[],
        checked_by_rules: &[],
        rules: ledger_rules,
    },
    TableRules {
        name: "reviews",
        key: &["id"],
        unique: &[&["id"], &["user_id", "order_id"]],
        bounds: &[],
        checked_by_rules: &[
            "reviews_rating_check",
            "reviews_service_rating_check",
            "reviews_value_rating_check",
            "reviews_ambience_rating_check",
        ],
        rules: review_rules,
    },
    TableRules {
        name: "referrals",
        key: &["id"],
        unique: &[&["id"]],
        bounds: &[],
        checked_by_rules: &[],
        rules: no_rules,
    },
    TableRules {
        name: "user_loyalty",
        // One row per user (idx_user_loyalty_user_id).
        key: &["user_id"],
        unique: &[&["id"], &["user_id"]],
        bounds: &[nonnegative(
            "user_loyalty_lifetime_spend_nonnegative",
            "lifetime_spend",
        )],
        checked_by_rules: &[],
        rules: no_rules,
    },
];

pub fn find(table: &str) -> Option<&'static TableRules> {
    TABLES.iter().find(|t| t.name == table)
}

/// Position of `table` in the dependency order.
pub fn rank(table: &str) -> usize {
    TABLES
        .iter()
        .position(|t| t.name == table)
        .unwrap_or(usize::MAX)
}

pub fn names() -> Vec<&'static str> {
    TABLES.iter().map(|t| t.name).collect()
}

/// One record with its columns, by name. Every present value has passed
/// [`super::check::check_value`], so the parsers below cannot fail on it.
pub struct Row<'a> {
    pub columns: &'a [Column],
    pub record: &'a Record,
    /// How the record's timestamps are read.
    pub time: &'a TimeReading,
}

impl Row<'_> {
    pub fn get(&self, name: &str) -> Option<&str> {
        let i = self.columns.iter().position(|c| c.name == name)?;
        self.record.field(i)
    }

    fn decimal(&self, name: &str) -> Option<Decimal> {
        self.get(name)
            .and_then(|v| Decimal::from_str_exact(v.trim()).ok())
    }

    /// A money column; absent or NULL counts as zero (the schema's default).
    fn money(&self, name: &str) -> Money {
        self.get(name)
            .and_then(|v| Money::from_str(v).ok())
            .unwrap_or(Money::ZERO)
    }

    fn int(&self, name: &str) -> Option<i64> {
        self.get(name).and_then(|v| v.parse().ok())
    }

    fn json(&self, name: &str) -> Option<serde_json::Value> {
        self.get(name).and_then(|v| serde_json::from_str(v).ok())
    }
}

impl TableRules {
    /// The CHECK bounds, then the business rules.
    pub fn row(&self, row: &Row, settings: &Settings) -> Vec<Problem> {
        let mut problems: Vec<Problem> = self
            .bounds
            .iter()
            .filter_map(|b| {
                let value = row.decimal(b.column)?;
                let below = b
                    .min
                    .is_some_and(|m| value < Decimal::from_str_exact(m).expect("constant"));
                let above = b
                    .max
                    .is_some_and(|m| value > Decimal::from_str_exact(m).expect("constant"));
                (below || above).then(|| {
                    Problem::new(
                        b.column,
                        "out_of_range",
                        format!(
                            "{value} is outside {}..={} (CHECK {})",
                            b.min.unwrap_or(""),
                            b.max.unwrap_or(""),
                            b.constraint
                        ),
                    )
                })
            })
            .collect();
        problems.extend((self.rules)(row, settings));
        problems
    }
}

fn rating_problems(row: &Row, columns: &[&str]) -> Vec<Problem> {
    columns
        .iter()
        .filter_map(|c| {
            let r = row.int(c)?;
            (!RATINGS.contains(&r)).then(|| {
                Problem::new(
                    c,
                    "bad_rating",
                    format!("rating {r} is not {}..={}", RATINGS.start(), RATINGS.end()),
                )
            })
        })
        .collect()
}

fn review_rules(row: &Row, _: &Settings) -> Vec<Problem> {
    rating_problems(
        row,
        &[
            "rating",
            "service_rating",
            "value_rating",
            "ambience_rating",
        ],
    )
}

/// LEDGER-SIGN, LEDGER-NONNEG and LEDGER-OWNER, for one row: the domain's
/// replay from the balance the row itself implies (balance_after − amount), so
/// only the rules one row can break are judged; the chain is `validate`'s.
fn ledger_rules(row: &Row, _: &Settings) -> Vec<Problem> {
    let mut problems = Vec::new();
    let tx_type = row
        .get("transaction_type")
        .and_then(|t| TxType::from_str(t).ok());
    if let (Some(tx_type), Some(amount), Some(balance_after)) =
        (tx_type, row.int("amount"), row.int("balance_after"))
    {
        let entry = Entry {
            tx_type,
            amount,
            balance_after,
        };
        for v in Replay::at(balance_after - amount).apply(&entry) {
            problems.push(match v {
                LedgerViolation::WrongSign { .. } => Problem::new(
                    "amount",
                    "wrong_sign",
                    format!("a `{tx_type}` row cannot carry amount {amount}"),
                ),
                LedgerViolation::Negative { .. } => Problem::new(
                    "balance_after",
                    "negative_balance",
                    format!("balance_after {balance_after} is below zero"),
                ),
                LedgerViolation::ChainBreak { .. } => continue,
            });
        }
    }
    if let Some(coin) = row
        .get("coin_type")
        .and_then(|c| CoinType::from_str(c).ok())
    {
        let has_merchant = row.get("merchant_id").is_some();
        if coin.names_merchant() != has_merchant {
            let detail = if has_merchant {
                format!("a `{coin}` row names no merchant")
            } else {
                format!("a `{coin}` row needs the merchant whose coins it moves")
            };
            problems.push(Problem::new("merchant_id", "wrong_owner", detail));
        }
    }
    problems
}

/// The offer's terms must price a redemption (REDEMPTION-DISCOUNT: a percent
/// or fixed offer needs its value), and its window must parse and be open.
fn offer_rules(row: &Row, _: &Settings) -> Vec<Problem> {
    let mut problems = Vec::new();
    if let Some(kind) = row
        .get("offer_type")
        .and_then(|k| OfferKind::from_str(k).ok())
    {
        let terms = Terms {
            kind,
            discount_value: row.decimal("discount_value"),
            max_discount: None,
            min_order_value: None,
        };
        if let Err(e) = offer::discount(&terms, Money::ZERO) {
            problems.push(Problem::new("discount_value", "bad_terms", e.to_string()));
        }
    }
    let at = |c: &str| row.get(c).and_then(|t| row.time.instant(t).ok().flatten());
    if let (Some(from), Some(until)) = (at("valid_from"), at("valid_until")) {
        match Window::from_columns(
            from,
            until,
            row.json("available_days").as_ref(),
            row.json("available_hours").as_ref(),
        ) {
            Err(what) => {
                let column = what.split_whitespace().next().unwrap_or("available_days");
                problems.push(Problem::new(
                    column,
                    "bad_window",
                    format!("unreadable {what}"),
                ));
            }
            Ok(w) if !w.is_open() => problems.push(Problem::new(
                "valid_until",
                "bad_window",
                format!("valid_until {until} is not after valid_from {from}"),
            )),
            Ok(_) => {}
        }
    }
    problems
}

/// wallets.branded_coins: `{"<merchant uuid>": {"balance": n, "earned": n,
/// "spent": n}}` with whole coins, the balance not negative; whether each
/// balance equals its branded ledger is `validate`'s (wallet.branded).
fn wallet_rules(row: &Row, _: &Settings) -> Vec<Problem> {
    let Some(text) = row.get("branded_coins") else {
        return Vec::new();
    };
    let bad = |why: String| vec![Problem::new("branded_coins", "bad_branded_coins", why)];
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<serde_json::Value>(text) else {
        return bad("branded_coins is not an object keyed by merchant id".into());
    };
    for (merchant, coins) in &map {
        if uuid::Uuid::parse_str(merchant).is_err() {
            return bad(format!("key `{merchant}` is not a merchant id (a UUID)"));
        }
        for field in ["balance", "earned", "spent"] {
            match coins.get(field).map(|v| v.as_i64()) {
                None => {}
                Some(Some(n)) if field != "balance" || n >= 0 => {}
                Some(_) => {
                    return bad(format!(
                        "{merchant}.{field} must be a whole number of coins{}",
                        if field == "balance" {
                            ", not negative"
                        } else {
                            ""
                        }
                    ))
                }
            }
        }
    }
    Vec::new()
}

/// PROMO-LOT-BOUNDS, by the domain's lot.
fn promo_rules(row: &Row, _: &Settings) -> Vec<Problem> {
    let (Some(amount), Some(remaining)) = (row.int("amount"), row.int("remaining_balance")) else {
        return Vec::new();
    };
    let lot = crate::domain::promo::Lot {
        amount,
        remaining,
        expires_at: chrono::DateTime::<chrono::Utc>::MIN_UTC,
        is_expired: row.get("is_expired").is_some_and(|v| {
            matches!(
                v.to_ascii_lowercase().as_str(),
                "t" | "true" | "y" | "yes" | "on" | "1"
            )
        }),
    };
    if lot.bounds_ok() {
        return Vec::new();
    }
    vec![Problem::new(
        "remaining_balance",
        "promo_lot_bounds",
        format!(
            "remaining_balance {remaining} is not within 0..={amount}{} (CHECK promo_coins_remaining_within_amount)",
            if lot.is_expired { " and 0 once expired" } else { "" }
        ),
    )]
}

/// REDEMPTION-ARITHMETIC: final_amount = original_amount - discount_amount.
fn redemption_rules(row: &Row, _: &Settings) -> Vec<Problem> {
    if row.get("original_amount").is_none() || row.get("discount_amount").is_none() {
        return Vec::new();
    }
    let (original, discount) = (row.money("original_amount"), row.money("discount_amount"));
    let expected = offer::final_amount(original, discount);
    let actual = row.money("final_amount");
    if row.get("final_amount").is_none() || actual == expected {
        return Vec::new();
    }
    vec![Problem::new(
        "final_amount",
        "redemption_arithmetic",
        format!("final_amount is {actual}, original_amount {original} - discount_amount {discount} = {expected}"),
    )]
}

/// An item of orders.items, its numbers read from their JSON tokens exactly
/// (never through f64).
#[derive(serde::Deserialize)]
struct RawItem<'a> {
    #[serde(default)]
    product_id: Option<uuid::Uuid>,
    #[serde(default)]
    name: String,
    #[serde(borrow)]
    qty: &'a RawValue,
    #[serde(borrow)]
    price: &'a RawValue,
    #[serde(borrow)]
    total: &'a RawValue,
}

fn token(raw: &RawValue) -> &str {
    raw.get().trim_matches('"')
}

fn items(text: &str) -> Result<Vec<Item>, String> {
    let raw: Vec<RawItem> = serde_json::from_str(text)
        .map_err(|e| format!("items is not [{{qty, price, total}}]: {e}"))?;
    raw.iter()
        .enumerate()
        .map(|(n, r)| {
            let qty = token(r.qty)
                .parse()
                .map_err(|_| format!("item {}: qty {} is not an integer", n + 1, r.qty))?;
            let money = |v: &RawValue| {
                Money::from_str(token(v)).map_err(|e| format!("item {}: {e}", n + 1))
            };
            Ok(Item {
                product_id: r.product_id,
                name: r.name.clone(),
                qty,
                price: money(r.price)?,
                total: money(r.total)?,
            })
        })
        .collect()
}

/// ORDER-ITEM-TOTAL, ORDER-SUBTOTAL, ORDER-COINS-VALUE and ORDER-TOTAL, by
/// the domain's pricing of the order's items and charges.
fn order_rules(row: &Row, settings: &Settings) -> Vec<Problem> {
    let mut problems = rating_problems(row, &["rating"]);
    let Some(text) = row.get("items") else {
        return problems;
    };
    let items = match items(text) {
        Ok(items) => items,
        Err(e) => {
            problems.push(Problem::new("items", "bad_items", e));
            return problems;
        }
    };
    for (n, item) in items.iter().enumerate() {
        if !item.total_ok() {
            problems.push(Problem::new(
                "items",
                "order_item_total",
                format!(
                    "item {}: total {} is not {} x {} = {}",
                    n + 1,
                    item.total,
                    item.qty,
                    item.price,
                    item.price.times(item.qty)
                ),
            ));
        }
    }
    let charges = Charges {
        discount: row.money("discount_amount"),
        tax: row.money("tax_amount"),
        delivery_fee: row.money("delivery_fee"),
        coins_used: row.int("coins_used").unwrap_or(0),
    };
    // Without the setting only coin-free orders can be priced; the command
    // refuses a file with coins before it starts (see `require_settings`).
    let rate = settings.coin_to_inr_rate.unwrap_or_default();
    let priced = match order::price(&items, &charges, rate) {
        Ok(p) => p,
        Err(e) => {
            problems.push(Problem::new("items", "order_total", e.to_string()));
            return problems;
        }
    };
    let stated = [
        ("subtotal", "order_subtotal", priced.subtotal),
        ("coins_value", "order_coins_value", priced.coins_value),
        ("total_amount", "order_total", priced.total),
    ];
    for (column, code, expected) in stated {
        let actual = row.money(column);
        if actual != expected {
            problems.push(Problem::new(
                column,
                code,
                format!("{column} is {actual}, the order's items and charges make it {expected}"),
            ));
        }
    }
    problems
}

/// Why an import of `table` with `columns` cannot start without settings.
pub fn require_settings(table: &str, columns: &[Column], settings: &Settings) -> Option<String> {
    let uses_coins = table == "orders" && columns.iter().any(|c| c.name == "coins_used");
    (uses_coins && settings.coin_to_inr_rate.is_none()).then(|| {
        "orders with coins_used need the app setting `coin_to_inr_rate` to check coins_value, \
         and app_settings has none"
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::check::SqlType;

    fn row_of(table: &str, pairs: &[(&str, &str)]) -> (Vec<Column>, Record) {
        let columns = pairs
            .iter()
            .map(|(n, _)| Column::new(table, n, SqlType::Text, false))
            .collect();
        let values: Vec<&str> = pairs.iter().map(|(_, v)| *v).collect();
        let record = Record::of(2, &values);
        (columns, record)
    }

    fn codes(table: &str, pairs: &[(&str, &str)], rate: Option<i64>) -> Vec<&'static str> {
        let (columns, record) = row_of(table, pairs);
        let settings = Settings {
            coin_to_inr_rate: rate.map(|r| Decimal::new(r, 1)),
        };
        find(table)
            .unwrap()
            .row(
                &Row {
                    columns: &columns,
                    record: &record,
                    time: &TimeReading::default(),
                },
                &settings,
            )
            .into_iter()
            .map(|p| p.code)
            .collect()
    }

    #[test]
    fn orders_are_priced_by_the_domain() {
        let items = r#"[{"name":"chai","qty":3,"price":4.50,"total":13.50},{"qty":2,"price":"19.99","total":39.98}]"#;
        let good = [
            ("items", items),
            ("subtotal", "53.48"),
            ("discount_amount", "10.00"),
            ("tax_amount", "2.87"),
            ("delivery_fee", "25"),
            ("coins_used", "15"),
            ("coins_value", "7.50"),
            ("total_amount", "63.85"),
        ];
        assert!(codes("orders", &good, Some(5)).is_empty());
        let mut bad = good;
        bad[7].1 = "63.86";
        assert_eq!(codes("orders", &bad, Some(5)), ["order_total"]);
        let mut bad = good;
        bad[0].1 = r#"[{"qty":3,"price":4.50,"total":13.00}]"#;
        assert!(codes("orders", &bad, Some(5)).contains(&"order_item_total"));
        assert!(codes("orders", &bad, Some(5)).contains(&"order_subtotal"));
    }

    #[test]
    fn ledger_rows_follow_sign_and_owner_rules() {
        let row = |t: &str, c: &str, amount: &str, merchant: &str| {
            codes(
                "wallet_transactions",
                &[
                    ("transaction_type", t),
                    ("coin_type", c),
                    ("amount", amount),
                    ("balance_after", "100"),
                    ("merchant_id", merchant),
                ],
                None,
            )
        };
        assert!(row("earn", "rez", "10", "").is_empty());
        assert_eq!(row("spend", "rez", "10", ""), ["wrong_sign"]);
        assert_eq!(row("earn", "branded", "10", ""), ["wrong_owner"]);
        assert!(row(
            "earn",
            "branded",
            "10",
            "6f1c0b7e-0000-4000-8000-000000000001"
        )
        .is_empty());
    }

    #[test]
    fn offers_and_reviews() {
        let offer = |kind: &str, value: &str, until: &str| {
            codes(
                "offers",
                &[
                    ("offer_type", kind),
                    ("discount_value", value),
                    ("valid_from", "2026-01-01T00:00:00+00:00"),
                    ("valid_until", until),
                    ("available_days", r#"["mon","sun"]"#),
                ],
                None,
            )
        };
        assert!(offer("discount_percent", "10", "2026-02-01T00:00:00+00:00").is_empty());
        assert_eq!(
            offer("discount_fixed", "", "2026-02-01T00:00:00+00:00"),
            ["bad_terms"]
        );
        assert_eq!(
            offer("bogo", "", "2025-12-01T00:00:00+00:00"),
            ["bad_window"]
        );
        assert_eq!(codes("reviews", &[("rating", "6")], None), ["bad_rating"]);
        assert_eq!(
            codes("merchants", &[("latitude", "91.0")], None),
            ["out_of_range"]
        );
    }
}
