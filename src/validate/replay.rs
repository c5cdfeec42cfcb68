//! The rule-based checks: rows stream from PostgreSQL in a useful order and
//! the rules of `crate::domain` judge them, one row at a time. Nothing here
//! restates a business rule; it only fetches, decodes and reports.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::{Pass, Sink, Snapshot, Violation};
use crate::domain::loyalty::{self, Tier, COUNTED_REVIEW_STATUS};
use crate::domain::money::Money;
use crate::domain::offer::{self, Discount, OfferKind, Terms, Window};
use crate::domain::order::{self, Charges, Item};
use crate::store::pg::quote_ident;

pub async fn run(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    pass: Pass,
    wallet_rows: usize,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    match pass {
        Pass::Ledger => super::ledger::run(conn, snapshot, wallet_rows, sink).await,
        Pass::Orders => orders(conn, sink).await,
        Pass::Redemptions => redemptions(conn, sink).await,
        Pass::MerchantRating => merchant_rating(conn, sink).await,
        Pass::LoyaltyTier => loyalty_tier(conn, sink).await,
        Pass::DefaultPartitions => default_partitions(conn, sink).await,
    }
}

fn violation(
    table: &str,
    entity: impl Into<String>,
    expected: impl Into<String>,
    actual: impl Into<String>,
) -> Violation {
    Violation {
        table: table.to_string(),
        entity: entity.into(),
        expected: expected.into(),
        actual: actual.into(),
        remedy: None,
    }
}

/// The platform's coin_to_inr_rate setting, if it is a number.
async fn coin_rate(conn: &mut PgConnection) -> Result<Option<Decimal>, sqlx::Error> {
    let raw: Option<String> = sqlx::query_scalar(
        "SELECT setting_value #>> '{}' FROM app_settings WHERE setting_key = 'coin_to_inr_rate'",
    )
    .fetch_optional(&mut *conn)
    .await?
    .flatten();
    Ok(raw.and_then(|r| Decimal::from_str_exact(r.trim()).ok()))
}

fn money(value: Option<Decimal>) -> Result<Money, String> {
    match value {
        None => Err("missing".into()),
        Some(d) => Money::new(d).map_err(|e| e.to_string()),
    }
}

async fn orders(conn: &mut PgConnection, sink: &mut Sink) -> Result<(), sqlx::Error> {
    let rate = coin_rate(conn).await?;
    type Row = (
        String,
        Decimal,
        Option<Decimal>,
        Option<Decimal>,
        Option<Decimal>,
        Decimal,
        Option<i64>,
        Option<Decimal>,
        Vec<Option<i64>>,
        Vec<Option<Decimal>>,
        Vec<Option<Decimal>>,
    );
    let elements = "jsonb_array_elements(CASE WHEN jsonb_typeof(o.items) = 'array' THEN o.items ELSE '[]' END) WITH ORDINALITY x(e, n)";
    let integer =
        |f: &str| format!("CASE WHEN e->>'{f}' ~ '^-?[0-9]+$' THEN (e->>'{f}')::bigint END");
    let numeric = |f: &str| super::catalogue::safe_numeric(&format!("e->>'{f}'"));
    let sql = format!(
        "SELECT o.id::text, o.subtotal, o.discount_amount, o.tax_amount, o.delivery_fee, o.total_amount, \
                o.coins_used::bigint, o.coins_value, \
                ARRAY(SELECT {} FROM {elements} ORDER BY n), \
                ARRAY(SELECT {} FROM {elements} ORDER BY n), \
                ARRAY(SELECT {} FROM {elements} ORDER BY n) \
         FROM orders o",
        integer("qty"),
        numeric("price"),
        numeric("total"),
    );
    let mut rows = sqlx::query_as::<_, Row>(&sql).fetch(conn);
    while let Some(row) = rows.try_next().await? {
        let (
            id,
            subtotal,
            discount,
            tax,
            fee,
            total,
            coins_used,
            coins_value,
            qtys,
            prices,
            totals,
        ) = row;
        let mut items = Vec::with_capacity(qtys.len());
        for (n, ((qty, price), item_total)) in qtys.into_iter().zip(prices).zip(totals).enumerate()
        {
            match (qty, money(price), money(item_total)) {
                (Some(qty), Ok(price), Ok(total)) => {
                    let item = Item {
                        product_id: None,
                        name: String::new(),
                        qty,
                        price,
                        total,
                    };
                    if !item.total_ok() {
                        sink.report("order.item_total", || {
                            violation(
                                "orders",
                                format!("{id} item {}", n + 1),
                                format!("qty > 0, total = {qty} x {price} = {}", price.times(qty)),
                                format!("total = {total}"),
                            )
                        });
                    }
                    items.push(item);
                }
                (qty, price, total) => sink.report("order.item_total", || {
                    violation(
                        "orders",
                        format!("{id} item {}", n + 1),
                        "integer qty, exact price and total",
                        format!("qty {qty:?}, price {price:?}, total {total:?}"),
                    )
                }),
            }
        }
        let stated = |d: Option<Decimal>| Money::round(d.unwrap_or_default());
        let subtotal = Money::round(subtotal);
        let item_sum = order::subtotal(&items);
        if item_sum != subtotal {
            sink.report("order.subtotal", || {
                violation(
                    "orders",
                    id.clone(),
                    format!("subtotal = {item_sum}"),
                    format!("subtotal = {subtotal}"),
                )
            });
        }
        let charges = Charges {
            discount: stated(discount),
            tax: stated(tax),
            delivery_fee: stated(fee),
            coins_used: coins_used.unwrap_or(0),
        };
        let coins_value = stated(coins_value);
        match rate {
            None if charges.coins_used != 0 => sink.report("order.coins_value", || {
                violation(
                    "orders",
                    id.clone(),
                    "app_settings.coin_to_inr_rate, a number, to value the coins",
                    format!(
                        "coin_to_inr_rate missing; coins_used = {}",
                        charges.coins_used
                    ),
                )
            }),
            None => {}
            Some(rate) => {
                let expected = order::coins_value(charges.coins_used, rate);
                if expected != coins_value {
                    sink.report("order.coins_value", || {
                        violation(
                            "orders",
                            id.clone(),
                            format!("coins_value = {} x {rate} = {expected}", charges.coins_used),
                            format!("coins_value = {coins_value}"),
                        )
                    });
                }
            }
        }
        let expected = order::total(subtotal, &charges, coins_value);
        let total = Money::round(total);
        if expected != total || total.is_negative() {
            sink.report("order.total", || {
                violation(
                    "orders",
                    id.clone(),
                    format!(
                        "total = {subtotal} - {} + {} + {} - {coins_value} = {expected} (>= 0)",
                        charges.discount, charges.tax, charges.delivery_fee
                    ),
                    format!("total = {total}"),
                )
            });
        }
    }
    Ok(())
}

async fn redemptions(conn: &mut PgConnection, sink: &mut Sink) -> Result<(), sqlx::Error> {
    type Row = (
        String,
        Decimal,
        Decimal,
        Decimal,
        Option<DateTime<Utc>>,
        String,
        Option<Decimal>,
        Option<Decimal>,
        Option<Decimal>,
        DateTime<Utc>,
        DateTime<Utc>,
        Option<serde_json::Value>,
        Option<serde_json::Value>,
        String,
    );
    let mut rows = sqlx::query_as::<_, Row>(
        "SELECT r.id::text, r.original_amount, r.discount_amount, r.final_amount, r.redeemed_at, \
                o.offer_type, o.discount_value, o.max_discount, o.min_order_value, o.valid_from, o.valid_until, \
                o.available_days, o.available_hours, o.id::text \
         FROM offer_redemptions r JOIN offers o ON o.id = r.offer_id",
    )
    .fetch(conn);
    while let Some(row) = rows.try_next().await? {
        let (
            id,
            original,
            discount,
            final_amount,
            redeemed_at,
            kind,
            value,
            cap,
            minimum,
            from,
            until,
            days,
            hours,
            offer_id,
        ) = row;
        let (original, discount, final_amount) = (
            Money::round(original),
            Money::round(discount),
            Money::round(final_amount),
        );
        let expected_final = offer::final_amount(original, discount);
        if expected_final != final_amount {
            sink.report("redemption.arithmetic", || {
                violation(
                    "offer_redemptions",
                    id.clone(),
                    format!("final_amount = {original} - {discount} = {expected_final}"),
                    format!("final_amount = {final_amount}"),
                )
            });
        }
        // An unknown offer_type is dq.status's to report.
        if let Ok(kind) = kind.parse::<OfferKind>() {
            let terms = Terms {
                kind,
                discount_value: value,
                max_discount: cap.map(Money::round),
                min_order_value: minimum.map(Money::round),
            };
            let problem = match offer::discount(&terms, original) {
                Ok(rule) if rule.allows(discount) => None,
                // The offer compared with is named beside the redemption.
                Ok(Discount::Exact(d)) => Some(format!(
                    "discount_amount = {d} ({kind} of offer {offer_id})"
                )),
                Ok(Discount::UpTo(max)) => Some(format!(
                    "discount_amount from 0 to {max} ({kind} of offer {offer_id})"
                )),
                Err(e) => Some(format!("no redemption: {e} (offer {offer_id})")),
            };
            if let Some(expected) = problem {
                sink.report("redemption.discount", || {
                    violation(
                        "offer_redemptions",
                        id.clone(),
                        expected,
                        format!("discount_amount = {discount}"),
                    )
                });
            }
        }
        let Some(at) = redeemed_at else { continue };
        match Window::from_columns(from, until, days.as_ref(), hours.as_ref()) {
            Ok(w) if w.allows(at) => {}
            Ok(_) => sink.report("redemption.window", || {
                violation(
                    "offer_redemptions",
                    id.clone(),
                    format!(
                        "redeemed within {from} .. {until} on an available day and hour (IST) of offer {offer_id}"
                    ),
                    format!("redeemed_at = {at}"),
                )
            }),
            Err(unreadable) => sink.report("redemption.window", || {
                violation(
                    "offer_redemptions",
                    id.clone(),
                    format!("a readable window of offer {offer_id}"),
                    unreadable,
                )
            }),
        }
    }
    Ok(())
}

async fn merchant_rating(conn: &mut PgConnection, sink: &mut Sink) -> Result<(), sqlx::Error> {
    type Row = (String, Option<i32>, Option<Decimal>, i64, i64);
    let mut rows = sqlx::query_as::<_, Row>(
        "SELECT m.id::text, m.total_reviews, m.average_rating, coalesce(r.n, 0), coalesce(r.s, 0) \
         FROM merchants m LEFT JOIN (SELECT merchant_id, count(*) AS n, sum(rating)::bigint AS s FROM reviews \
                                     WHERE status = $1 GROUP BY merchant_id) r ON r.merchant_id = m.id",
    )
    .bind(COUNTED_REVIEW_STATUS)
    .fetch(conn);
    while let Some((id, total, average, n, sum)) = rows.try_next().await? {
        let expected = loyalty::average_rating(sum, n);
        if total != Some(n as i32) || average != Some(expected) {
            sink.report("merchant.rating", || {
                violation(
                    "merchants",
                    id,
                    format!("total_reviews = {n}, average_rating = {expected}"),
                    format!(
                        "total_reviews = {}, average_rating = {}",
                        total.map_or("NULL".into(), |t| t.to_string()),
                        average.map_or("NULL".into(), |a| a.to_string())
                    ),
                )
            });
        }
    }
    Ok(())
}

async fn loyalty_tier(conn: &mut PgConnection, sink: &mut Sink) -> Result<(), sqlx::Error> {
    let tier_rows: Vec<(Uuid, i32, Decimal, i32)> = sqlx::query_as(
        "SELECT id, level, min_spend, min_orders FROM loyalty_tiers WHERE coalesce(is_active, true)",
    )
    .fetch_all(&mut *conn)
    .await?;
    let tiers: Vec<(Uuid, Tier)> = tier_rows
        .into_iter()
        .map(|(id, level, spend, orders)| {
            (
                id,
                Tier {
                    level,
                    min_spend: Money::round(spend),
                    min_orders: i64::from(orders),
                },
            )
        })
        .collect();
    let rules: Vec<Tier> = tiers.iter().map(|(_, t)| t.clone()).collect();
    let mut rows = sqlx::query_as::<_, (String, Option<Decimal>, Option<i32>, Option<Uuid>)>(
        "SELECT user_id::text, lifetime_spend, total_orders, current_tier_id FROM user_loyalty",
    )
    .fetch(conn);
    while let Some((user, spend, orders, current)) = rows.try_next().await? {
        let spend = Money::round(spend.unwrap_or_default());
        let expected = loyalty::tier_for(&rules, spend, i64::from(orders.unwrap_or(0)))
            .and_then(|t| tiers.iter().find(|(_, x)| x.level == t.level))
            .map(|(id, t)| (*id, t.level));
        if expected.map(|e| e.0) != current {
            let shown = |tier: Option<Uuid>| match tier {
                None => "no tier".to_string(),
                Some(id) => match tiers.iter().find(|(t, _)| *t == id) {
                    Some((_, t)) => format!("level {} ({id})", t.level),
                    None => format!("{id} (not an active tier)"),
                },
            };
            sink.report("loyalty.tier", || {
                violation(
                    "user_loyalty",
                    user,
                    format!("current tier {}", shown(expected.map(|e| e.0))),
                    format!("current tier {}", shown(current)),
                )
            });
        }
    }
    Ok(())
}

async fn default_partitions(conn: &mut PgConnection, sink: &mut Sink) -> Result<(), sqlx::Error> {
    let defaults: Vec<(String, String)> = sqlx::query_as(
        "SELECT parent.relname::text, def.relname::text FROM pg_partitioned_table p \
         JOIN pg_class parent ON parent.oid = p.partrelid JOIN pg_class def ON def.oid = p.partdefid \
         JOIN pg_namespace n ON n.oid = parent.relnamespace \
         WHERE p.partdefid <> 0 AND n.nspname = 'public' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    for (parent, default) in defaults {
        // Names come from the catalog, quoted all the same.
        let rows: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quote_ident(&default)))
                .fetch_one(&mut *conn)
                .await?;
        if rows > 0 {
            sink.report("partition.default_rows", || {
                violation(
                    &parent,
                    default,
                    "0 rows in the DEFAULT partition",
                    format!("{rows} rows"),
                )
            });
        }
    }
    Ok(())
}
