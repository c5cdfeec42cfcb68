//! The rule-based checks: rows stream from PostgreSQL in a useful order and
//! the rules of `crate::domain` judge them, one row at a time. Nothing here
//! restates a business rule; it only fetches, decodes and reports.

use chrono::{DateTime, NaiveTime, Utc};
use futures_util::TryStreamExt;
use rust_decimal::Decimal;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::{Pass, Sink, Snapshot, Violation};
use crate::domain::ledger::{Entry, LedgerViolation, Replay};
use crate::domain::loyalty::{self, Tier, COUNTED_REVIEW_STATUS};
use crate::domain::money::Money;
use crate::domain::offer::{self, Discount, OfferKind, Terms, Window};
use crate::domain::order::{self, Charges, Item};
use crate::domain::TxType;
use crate::store::pg::quote_ident;

pub async fn run(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    pass: Pass,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    match pass {
        Pass::Ledger => ledger(conn, snapshot, sink).await,
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
    }
}

/// Shards of the ledger pass: the server has this many cores to sort with.
const LEDGER_SHARDS: usize = 2;

/// Replays every ledger and compares each wallet with it, in wallet-id shards
/// that run in parallel on connections sharing the snapshot.
async fn ledger(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    // Approximate split points from a sample of about 20k wallets (all of a
    // small table): cheap, and balanced enough. No sample means one shard.
    let percent: f64 = sqlx::query_scalar(
        "SELECT least(100, greatest(1, 100 * 20000 / greatest(reltuples, 1)))::float8 FROM pg_class WHERE oid = 'wallets'::regclass",
    )
    .fetch_one(&mut *conn)
    .await?;
    let splits: Vec<Uuid> = sqlx::query_scalar(&format!(
        "SELECT q FROM unnest((SELECT percentile_disc(ARRAY(SELECT generate_series(1, {n}) / {LEDGER_SHARDS}::float8)) \
                                      WITHIN GROUP (ORDER BY id) FROM wallets TABLESAMPLE SYSTEM ({percent}))) q \
         WHERE q IS NOT NULL ORDER BY q",
        n = LEDGER_SHARDS - 1
    ))
    .fetch_all(conn)
    .await?;
    let mut bounds: Vec<Option<Uuid>> = vec![None];
    bounds.extend(splits.into_iter().map(Some));
    bounds.dedup();
    bounds.push(None);
    // Concurrent, not spawned: the sorting happens in the server backends, one
    // per shard, while this task decodes whichever stream has rows ready.
    let shards = bounds.windows(2).map(|range| {
        let mut shard = sink.shard();
        async move {
            ledger_shard(snapshot, (range[0], range[1]), &mut shard)
                .await
                .map(|()| shard)
        }
    });
    for shard in futures_util::future::try_join_all(shards).await? {
        sink.absorb(shard);
    }
    Ok(())
}

/// `AND col >= lo AND col < hi` for a shard (UUIDs print as safe literals).
fn range_filter(column: &str, (lo, hi): (Option<Uuid>, Option<Uuid>)) -> String {
    let mut sql = String::new();
    if let Some(lo) = lo {
        sql.push_str(&format!(" AND {column} >= '{lo}'"));
    }
    if let Some(hi) = hi {
        sql.push_str(&format!(" AND {column} < '{hi}'"));
    }
    sql
}

/// A wallet's stored balances and lifetime counters.
type WalletRow = (
    Uuid,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<Decimal>,
);

/// The replayed balances of one wallet, by coin type (branded is `wallet.branded`'s, in SQL).
#[derive(Default)]
struct WalletLedger {
    rez: Replay,
    prive: Replay,
    promo: Replay,
    cash: Replay,
}

impl WalletLedger {
    fn slot(&mut self, coin: &str) -> Option<&mut Replay> {
        match coin {
            "rez" => Some(&mut self.rez),
            "prive" => Some(&mut self.prive),
            "promo" => Some(&mut self.promo),
            "cash" => Some(&mut self.cash),
            _ => None,
        }
    }
}

async fn ledger_shard(
    snapshot: &Snapshot,
    range: (Option<Uuid>, Option<Uuid>),
    sink: &mut Sink,
) -> Result<(), sqlx::Error> {
    let mut wallet_conn = snapshot.join().await?;
    let mut ledger_conn = snapshot.join().await?;
    let wallet_sql = format!(
        "SELECT id, rez_coins_balance, rez_coins_lifetime_earned, rez_coins_lifetime_spent, prive_coins_balance, \
                prive_coins_lifetime_earned, prive_coins_lifetime_spent, promo_coins_balance, cash_balance \
         FROM wallets WHERE true{} ORDER BY id",
        range_filter("id", range)
    );
    let mut wallets = sqlx::query_as::<_, WalletRow>(&wallet_sql).fetch(&mut wallet_conn);
    type Row = (Uuid, String, Option<Uuid>, String, i64, i64, Uuid);
    let ledger_sql = format!(
        "SELECT wallet_id, coin_type, merchant_id, transaction_type, amount::bigint, balance_after::bigint, id \
         FROM wallet_transactions WHERE true{} ORDER BY wallet_id, coin_type, merchant_id NULLS FIRST, created_at, id",
        range_filter("wallet_id", range)
    );
    let mut rows = sqlx::query_as::<_, Row>(&ledger_sql).fetch(&mut ledger_conn);

    let mut wallet: Option<WalletRow> = wallets.try_next().await?;
    let mut totals = WalletLedger::default();
    let mut current: Option<(Uuid, String, Option<Uuid>)> = None;
    let mut replay = Replay::new();
    while let Some((wallet_id, coin, merchant, tx_type, amount, balance_after, id)) =
        rows.try_next().await?
    {
        let key = (wallet_id, coin, merchant);
        if current.as_ref() != Some(&key) {
            if let Some((_, coin, _)) = current.take() {
                if let Some(slot) = totals.slot(&coin) {
                    *slot = replay;
                }
            }
            // Wallets before this row's wallet are complete: judge them.
            while let Some(w) = wallet.as_ref().filter(|w| w.0 <= wallet_id) {
                if w.0 == wallet_id {
                    break;
                }
                judge_wallet(w, &std::mem::take(&mut totals), sink);
                wallet = wallets.try_next().await?;
            }
            if wallet.as_ref().map(|w| w.0) != Some(wallet_id) {
                // A ledger row of a wallet that moved past: totals belong to the next wallet.
                totals = WalletLedger::default();
            }
            replay = Replay::new();
            current = Some(key);
        }
        // An unknown type is reported by dq.status; here it only must not be zero.
        let tx_type = tx_type.parse().unwrap_or(TxType::Transfer);
        let entry = Entry {
            tx_type,
            amount,
            balance_after,
        };
        for found in replay.apply(&entry) {
            let (wallet_id, coin, merchant) = current.as_ref().expect("set above");
            let entity = match merchant {
                Some(m) => format!("{id} (wallet {wallet_id}, {coin} of merchant {m})"),
                None => format!("{id} (wallet {wallet_id}, {coin})"),
            };
            let (check, expected, actual) = match found {
                LedgerViolation::ChainBreak {
                    expected_balance_after,
                    actual_balance_after,
                } => (
                    "ledger.chain",
                    format!("balance_after = {expected_balance_after}"),
                    format!("balance_after = {actual_balance_after}"),
                ),
                LedgerViolation::WrongSign { tx_type, amount } => (
                    "ledger.sign",
                    format!(
                        "{tx_type} with a {} amount",
                        if tx_type.allows(1) {
                            "positive"
                        } else {
                            "negative"
                        }
                    ),
                    format!("amount = {amount}"),
                ),
                LedgerViolation::Negative { balance_after } => (
                    "ledger.nonnegative",
                    "balance_after >= 0".to_string(),
                    format!("balance_after = {balance_after}"),
                ),
            };
            sink.report(check, || {
                violation("wallet_transactions", entity, expected, actual)
            });
        }
    }
    if let Some((_, coin, _)) = current.take() {
        if let Some(slot) = totals.slot(&coin) {
            *slot = replay;
        }
    }
    while let Some(w) = wallet {
        judge_wallet(&w, &std::mem::take(&mut totals), sink);
        wallet = wallets.try_next().await?;
    }
    Ok(())
}

/// WALLET-BALANCE and WALLET-LIFETIME: the stored columns against the replay.
fn judge_wallet(w: &WalletRow, ledger: &WalletLedger, sink: &mut Sink) {
    let (id, rez, rez_earned, rez_spent, prive, prive_earned, prive_spent, promo, cash) = w;
    let shown = |v: Option<String>| v.unwrap_or_else(|| "NULL".into());
    let mut compare =
        |check: &'static str, column: &str, expected: String, actual: Option<String>| {
            if actual.as_deref() != Some(expected.as_str()) {
                sink.report(check, || {
                    violation(
                        "wallets",
                        id.to_string(),
                        format!("{column} = {expected}"),
                        format!("{column} = {}", shown(actual)),
                    )
                });
            }
        };
    let int = |v: &Option<i32>| v.map(|v| v.to_string());
    compare(
        "wallet.balance",
        "rez_coins_balance",
        ledger.rez.balance().to_string(),
        int(rez),
    );
    compare(
        "wallet.balance",
        "prive_coins_balance",
        ledger.prive.balance().to_string(),
        int(prive),
    );
    compare(
        "wallet.balance",
        "promo_coins_balance",
        ledger.promo.balance().to_string(),
        int(promo),
    );
    compare(
        "wallet.balance",
        "cash_balance",
        Money::from_paise(ledger.cash.balance()).to_string(),
        cash.map(|c| Money::round(c).to_string()),
    );
    compare(
        "wallet.lifetime",
        "rez_coins_lifetime_earned",
        ledger.rez.lifetime_earned().to_string(),
        int(rez_earned),
    );
    compare(
        "wallet.lifetime",
        "rez_coins_lifetime_spent",
        ledger.rez.lifetime_spent().to_string(),
        int(rez_spent),
    );
    compare(
        "wallet.lifetime",
        "prive_coins_lifetime_earned",
        ledger.prive.lifetime_earned().to_string(),
        int(prive_earned),
    );
    compare(
        "wallet.lifetime",
        "prive_coins_lifetime_spent",
        ledger.prive.lifetime_spent().to_string(),
        int(prive_spent),
    );
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

/// An offer's redemption window from its columns; Err names what is unreadable.
fn window(
    valid_from: DateTime<Utc>,
    valid_until: DateTime<Utc>,
    days: Option<serde_json::Value>,
    hours: Option<serde_json::Value>,
) -> Result<Window, String> {
    let days = match days {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(names)) => names
            .iter()
            .map(|n| {
                n.as_str()
                    .and_then(offer::weekday)
                    .ok_or_else(|| format!("available_days entry {n}"))
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("available_days = {other}")),
    };
    let time = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|s| NaiveTime::parse_from_str(s, "%H:%M").ok())
    };
    let hours = match hours {
        None | Some(serde_json::Value::Null) => Vec::new(),
        Some(serde_json::Value::Array(ranges)) => ranges
            .iter()
            .map(|r| match (time(&r["start"]), time(&r["end"])) {
                (Some(s), Some(e)) => Ok((s, e)),
                _ => Err(format!("available_hours entry {r}")),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => return Err(format!("available_hours = {other}")),
    };
    Ok(Window {
        valid_from,
        valid_until,
        days,
        hours,
    })
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
    );
    let mut rows = sqlx::query_as::<_, Row>(
        "SELECT r.id::text, r.original_amount, r.discount_amount, r.final_amount, r.redeemed_at, \
                o.offer_type, o.discount_value, o.max_discount, o.min_order_value, o.valid_from, o.valid_until, \
                o.available_days, o.available_hours \
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
                Ok(Discount::Exact(d)) => Some(format!("discount_amount = {d} ({kind})")),
                Ok(Discount::UpTo(max)) => {
                    Some(format!("discount_amount from 0 to {max} ({kind})"))
                }
                Err(e) => Some(format!("no redemption: {e}")),
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
        match window(from, until, days, hours) {
            Ok(w) if w.allows(at) => {}
            Ok(_) => sink.report("redemption.window", || {
                violation(
                    "offer_redemptions",
                    id.clone(),
                    format!("redeemed within {from} .. {until} on an available day and hour (IST)"),
                    format!("redeemed_at = {at}"),
                )
            }),
            Err(unreadable) => sink.report("redemption.window", || {
                violation(
                    "offer_redemptions",
                    id.clone(),
                    "a readable offer window",
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
