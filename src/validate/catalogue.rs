//! The checks, in the order they run and print. Set-based checks are SQL
//! returning `(table, entity, expected, actual)`; the constants they embed
//! (statuses that count, patterns, vocabularies) come from `crate::domain`,
//! never from literals written here twice.

use super::{Check, Pass, Severity, Source};
use crate::domain::loyalty::{COUNTED_ORDER_STATUS, REFERRAL_REFERENCE_TYPE};
use crate::domain::offer::UNCOUNTED_REDEMPTION_STATUS;
use crate::domain::vocabulary::{EMAIL_PATTERN, ENUMERATIONS, PHONE_PATTERN};

fn check(id: &'static str, severity: Severity, description: &'static str, source: Source) -> Check {
    Check {
        id,
        severity,
        description,
        source,
    }
}

fn sql(id: &'static str, description: &'static str, query: impl Into<String>) -> Check {
    check(id, Severity::Error, description, Source::Sql(query.into()))
}

fn pass(id: &'static str, description: &'static str, pass: Pass) -> Check {
    check(id, Severity::Error, description, Source::Pass(pass))
}

/// A SQL string literal.
fn lit(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `x` as numeric when it looks like a number, else NULL: bad JSON is a
/// violation to report, not a cast error that aborts the whole check.
pub(crate) fn safe_numeric(x: &str) -> String {
    format!("(CASE WHEN ({x}) ~ '^-?[0-9]+(\\.[0-9]+)?$' THEN ({x})::numeric END)")
}

/// An anti-join over ids held in a JSONB array column.
fn json_ids(table: &str, column: &str, target: &str, what: &str) -> String {
    format!(
        "SELECT '{table}' AS table, t.id::text AS entity, '{what} ' || e.value || ' exists' AS expected, \
                'no such {what}' AS actual \
         FROM {table} t CROSS JOIN LATERAL jsonb_array_elements_text( \
              CASE WHEN jsonb_typeof(t.{column}) = 'array' THEN t.{column} ELSE '[]' END) e(value) \
         WHERE NOT EXISTS (SELECT 1 FROM {target} x WHERE x.id::text = e.value)"
    )
}

fn order_reference(table: &str) -> String {
    format!(
        "SELECT '{table}' AS table, t.id::text AS entity, 'order ' || t.order_id || ' exists' AS expected, \
                'no such order' AS actual \
         FROM {table} t WHERE t.order_id IS NOT NULL \
           AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.id = t.order_id)"
    )
}

fn duplicates(table: &str, column: &str) -> String {
    format!(
        "SELECT '{table}' AS table, {column}::text AS entity, 'unique {column}' AS expected, \
                count(*) || ' rows share it' AS actual \
         FROM {table} GROUP BY {column} HAVING count(*) > 1"
    )
}

/// One scan per table: every enumerated column outside its vocabulary.
fn statuses() -> String {
    let mut tables: Vec<&str> = ENUMERATIONS.iter().map(|(t, _, _)| *t).collect();
    tables.dedup();
    tables
        .iter()
        .map(|table| {
            let values: Vec<String> = ENUMERATIONS
                .iter()
                .filter(|(t, _, _)| t == table)
                .map(|(_, column, allowed)| {
                    let list: Vec<String> = allowed.iter().map(|v| lit(v)).collect();
                    format!(
                        "({}, t.{column}::text, ARRAY[{}]::text[])",
                        lit(column),
                        list.join(", ")
                    )
                })
                .collect();
            format!(
                "SELECT '{table}' AS table, t.id::text AS entity, \
                        v.col || ' in (' || array_to_string(v.allowed, ', ') || ')' AS expected, \
                        v.col || ' = ' || quote_literal(v.val) AS actual \
                 FROM {table} t CROSS JOIN LATERAL (VALUES {}) v(col, val, allowed) \
                 WHERE v.val IS NOT NULL AND NOT v.val = ANY (v.allowed)",
                values.join(", ")
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n")
}

fn pattern_check(columns: &[(&str, &str)], pattern: &str, what: &str) -> String {
    columns
        .iter()
        .map(|(table, column)| {
            format!(
                "SELECT '{table}' AS table, t.id::text AS entity, '{column}: a valid {what}' AS expected, \
                        '{column} = ' || quote_literal(t.{column}) AS actual \
                 FROM {table} t WHERE t.{column} IS NOT NULL AND t.{column} !~* {}",
                lit(pattern)
            )
        })
        .collect::<Vec<_>>()
        .join("\nUNION ALL\n")
}

/// Compares named (expected, actual) pairs per row of `from`; reports each mismatch.
fn compare(table: &str, entity: &str, from: &str, pairs: &[(&str, &str, &str)]) -> String {
    let values: Vec<String> = pairs
        .iter()
        .map(|(name, expected, actual)| {
            format!("('{name}', ({expected})::numeric, ({actual})::numeric)")
        })
        .collect();
    format!(
        "SELECT '{table}' AS table, {entity} AS entity, v.name || ' = ' || coalesce(v.expected::text, 'NULL') AS expected, \
                v.name || ' = ' || coalesce(v.actual::text, 'NULL') AS actual \
         FROM {from} CROSS JOIN LATERAL (VALUES {}) v(name, expected, actual) \
         WHERE v.expected IS DISTINCT FROM v.actual",
        values.join(", ")
    )
}

pub fn catalogue() -> Vec<Check> {
    let branded = format!(
        "WITH l AS (SELECT wallet_id, merchant_id::text AS merchant, sum(amount) AS balance, \
                           coalesce(sum(amount) FILTER (WHERE amount > 0), 0) AS earned, \
                           coalesce(-sum(amount) FILTER (WHERE amount < 0 AND transaction_type <> 'expire'), 0) AS spent \
                    FROM wallet_transactions WHERE coin_type = 'branded' GROUP BY 1, 2), \
              j AS (SELECT w.id AS wallet_id, k.key AS merchant, k.value \
                    FROM wallets w CROSS JOIN LATERAL jsonb_each( \
                         CASE WHEN jsonb_typeof(w.branded_coins) = 'object' THEN w.branded_coins ELSE '{{}}' END) k) \
         SELECT 'wallets' AS table, coalesce(l.wallet_id, j.wallet_id)::text || ' merchant ' || coalesce(l.merchant, j.merchant) AS entity, \
                format('balance %s, earned %s, spent %s', coalesce(l.balance, 0), coalesce(l.earned, 0), coalesce(l.spent, 0)) AS expected, \
                CASE WHEN j.value IS NULL THEN 'merchant missing from branded_coins' \
                     ELSE format('balance %s, earned %s, spent %s', j.value->>'balance', j.value->>'earned', j.value->>'spent') END AS actual \
         FROM l FULL JOIN j ON j.wallet_id = l.wallet_id AND j.merchant = l.merchant \
         WHERE j.value IS NULL \
            OR {b} IS DISTINCT FROM coalesce(l.balance, 0) \
            OR {e} IS DISTINCT FROM coalesce(l.earned, 0) \
            OR {s} IS DISTINCT FROM coalesce(l.spent, 0)",
        b = safe_numeric("j.value->>'balance'"),
        e = safe_numeric("j.value->>'earned'"),
        s = safe_numeric("j.value->>'spent'"),
    );
    let counted = lit(UNCOUNTED_REDEMPTION_STATUS);
    let completed = lit(COUNTED_ORDER_STATUS);
    let referral = lit(REFERRAL_REFERENCE_TYPE);
    let reward = |side: &str| {
        format!(
            "SELECT 'referrals' AS table, r.id::text AS entity, \
                    'rez earn of ' || r.{side}_reward_coins || ' for {side} ' || r.{side}_id AS expected, \
                    'no such ledger row' AS actual \
             FROM referrals r WHERE r.{side}_rewarded AND NOT EXISTS ( \
                 SELECT 1 FROM wallet_transactions t JOIN wallets w ON w.id = t.wallet_id \
                 WHERE w.user_id = r.{side}_id AND t.coin_type = 'rez' AND t.transaction_type = 'earn' \
                   AND t.reference_type = {referral} AND t.reference_id = r.id AND t.amount = r.{side}_reward_coins)"
        )
    };

    vec![
        // References and uniqueness the database no longer enforces.
        sql("ref.payments_order", "payments.order_id names an existing order", order_reference("payments")),
        sql("ref.redemptions_order", "offer_redemptions.order_id names an existing order", order_reference("offer_redemptions")),
        sql("ref.reviews_order", "reviews.order_id names an existing order", order_reference("reviews")),
        sql("ref.offers_categories", "offers.categories_applicable ids name categories", json_ids("offers", "categories_applicable", "categories", "category")),
        sql("ref.prive_exclusive_offers", "prive_merchants.exclusive_offers ids name offers", json_ids("prive_merchants", "exclusive_offers", "offers", "offer")),
        sql("ref.events_featured_merchants", "events.featured_merchants ids name merchants", json_ids("events", "featured_merchants", "merchants", "merchant")),
        sql(
            "ref.wallets_branded_merchants",
            "wallets.branded_coins keys name merchants",
            "SELECT 'wallets' AS table, w.id::text AS entity, 'merchant ' || k || ' exists' AS expected, 'no such merchant' AS actual \
             FROM wallets w CROSS JOIN LATERAL jsonb_object_keys( \
                  CASE WHEN jsonb_typeof(w.branded_coins) = 'object' THEN w.branded_coins ELSE '{}' END) k \
             WHERE NOT EXISTS (SELECT 1 FROM merchants m WHERE m.id::text = k)",
        ),
        sql(
            "ref.orders_user",
            "every order's user exists (reference Phase 4)",
            "SELECT 'orders' AS table, o.id::text AS entity, 'user ' || o.user_id || ' exists' AS expected, 'no such user' AS actual \
             FROM orders o WHERE NOT EXISTS (SELECT 1 FROM users u WHERE u.id = o.user_id)",
        ),
        sql("uniq.order_number", "order_number is unique across partitions", duplicates("orders", "order_number")),
        sql("uniq.order_id", "orders.id is unique across partitions", duplicates("orders", "id")),
        sql("uniq.wallet_transaction_id", "wallet_transactions.id is unique across partitions", duplicates("wallet_transactions", "id")),
        // Wallets and the ledger.
        pass("ledger.chain", "balance_after = previous balance_after + amount, per balance", Pass::Ledger),
        pass("ledger.sign", "amount sign follows the transaction type", Pass::Ledger),
        pass("ledger.nonnegative", "no balance_after is negative", Pass::Ledger),
        sql(
            "ledger.owner",
            "a row's user is its wallet's; branded rows (only) name a merchant",
            "SELECT 'wallet_transactions' AS table, t.id::text AS entity, \
                    format('user_id %s (wallet %s), merchant_id %s', w.user_id, w.id, CASE WHEN t.coin_type = 'branded' THEN 'set' ELSE 'NULL' END) AS expected, \
                    format('user_id %s, merchant_id %s', t.user_id, coalesce(t.merchant_id::text, 'NULL')) AS actual \
             FROM wallet_transactions t JOIN wallets w ON w.id = t.wallet_id \
             WHERE t.user_id <> w.user_id OR (t.coin_type = 'branded') <> (t.merchant_id IS NOT NULL)",
        ),
        pass("wallet.balance", "balance columns = ledger sums (cash_balance x 100 = cash paise)", Pass::Ledger),
        sql("wallet.branded", "branded_coins JSONB = each merchant's branded ledger", branded),
        pass("wallet.lifetime", "lifetime earned/spent = ledger credits/debits (expiry excluded)", Pass::Ledger),
        sql(
            "promo.lot_bounds",
            "0 <= remaining_balance <= amount; an expired lot holds nothing",
            "SELECT 'promo_coins' AS table, p.id::text AS entity, \
                    '0 <= remaining_balance <= ' || p.amount || CASE WHEN p.is_expired THEN ', 0 once expired' ELSE '' END AS expected, \
                    'remaining_balance = ' || p.remaining_balance AS actual \
             FROM promo_coins p \
             WHERE p.remaining_balance < 0 OR p.remaining_balance > p.amount OR (p.is_expired AND p.remaining_balance <> 0)",
        ),
        sql(
            "promo.balance",
            "promo_coins_balance = remaining coins of unexpired lots",
            compare(
                "wallets",
                "w.id::text",
                "wallets w LEFT JOIN (SELECT wallet_id, sum(remaining_balance) AS remaining FROM promo_coins \
                 WHERE NOT coalesce(is_expired, false) GROUP BY wallet_id) p ON p.wallet_id = w.id",
                &[("promo_coins_balance", "coalesce(p.remaining, 0)", "w.promo_coins_balance")],
            ),
        ),
        check(
            "promo.overdue",
            Severity::Warning,
            "a lot past expires_at still holds coins (run the expiry job)",
            Source::Sql(
                "SELECT 'promo_coins' AS table, p.id::text AS entity, \
                        'expired by ' || p.expires_at AS expected, p.remaining_balance || ' coins left' AS actual \
                 FROM promo_coins p WHERE NOT coalesce(p.is_expired, false) AND p.remaining_balance > 0 AND p.expires_at <= now()"
                    .into(),
            ),
        ),
        sql(
            "conservation.coins",
            "per coin type, the sum of balances = the sum of the whole ledger",
            compare(
                "wallets",
                "c.coin",
                "(SELECT 'rez' AS coin, (SELECT sum(rez_coins_balance) FROM wallets) AS held, (SELECT sum(amount) FROM wallet_transactions WHERE coin_type = 'rez') AS issued \
                  UNION ALL SELECT 'prive', (SELECT sum(prive_coins_balance) FROM wallets), (SELECT sum(amount) FROM wallet_transactions WHERE coin_type = 'prive') \
                  UNION ALL SELECT 'promo', (SELECT sum(promo_coins_balance) FROM wallets), (SELECT sum(amount) FROM wallet_transactions WHERE coin_type = 'promo') \
                  UNION ALL SELECT 'cash (paise)', (SELECT (sum(cash_balance) * 100)::bigint FROM wallets), (SELECT sum(amount) FROM wallet_transactions WHERE coin_type = 'cash') \
                  UNION ALL SELECT 'branded', (SELECT sum(v.value) FROM wallets w CROSS JOIN LATERAL jsonb_each( \
                       CASE WHEN jsonb_typeof(w.branded_coins) = 'object' THEN w.branded_coins ELSE '{}' END) e \
                       CROSS JOIN LATERAL (SELECT CASE WHEN e.value->>'balance' ~ '^-?[0-9]+$' THEN (e.value->>'balance')::numeric END) v(value)), \
                       (SELECT sum(amount) FROM wallet_transactions WHERE coin_type = 'branded')) c",
                &[("sum", "coalesce(c.issued, 0)", "coalesce(c.held, 0)")],
            ),
        ),
        sql(
            "user.deleted_with_balance",
            "a soft-deleted user holds no coins or cash",
            "SELECT 'users' AS table, u.id::text AS entity, 'no coins or cash' AS expected, \
                    format('rez %s, prive %s, promo %s, cash %s, branded %s', w.rez_coins_balance, w.prive_coins_balance, \
                           w.promo_coins_balance, w.cash_balance, w.branded_coins) AS actual \
             FROM users u JOIN wallets w ON w.user_id = u.id \
             WHERE (u.deleted_at IS NOT NULL OR u.status = 'deleted') \
               AND (w.rez_coins_balance > 0 OR w.prive_coins_balance > 0 OR w.promo_coins_balance > 0 OR w.cash_balance > 0 \
                    OR EXISTS (SELECT 1 FROM jsonb_each(CASE WHEN jsonb_typeof(w.branded_coins) = 'object' THEN w.branded_coins ELSE '{}' END) e \
                               WHERE e.value->>'balance' ~ '^[0-9]+$' AND (e.value->>'balance')::numeric > 0))",
        ),
        // Orders.
        pass("order.item_total", "each item's total = qty x price, qty > 0", Pass::Orders),
        pass("order.subtotal", "subtotal = sum of item totals", Pass::Orders),
        pass("order.coins_value", "coins_value = coins_used x coin_to_inr_rate, rounded", Pass::Orders),
        pass("order.total", "total = subtotal - discount + tax + delivery fee - coins value >= 0", Pass::Orders),
        sql(
            "order.paid_payment",
            "a paid order has a success payment of the same amount",
            "SELECT 'orders' AS table, o.id::text AS entity, 'a success payment of ' || o.total_amount AS expected, \
                    coalesce(string_agg('payment ' || p.id || ' ' || p.status || ' ' || p.amount, ', ' ORDER BY p.id), 'no payment') AS actual \
             FROM orders o LEFT JOIN payments p ON p.order_id = o.id \
             WHERE o.payment_status = 'paid' GROUP BY o.id, o.total_amount \
             HAVING NOT coalesce(bool_or(p.status = 'success' AND p.amount = o.total_amount), false)",
        ),
        // Offers and redemptions.
        pass("redemption.arithmetic", "final_amount = original_amount - discount_amount", Pass::Redemptions),
        pass("redemption.discount", "the discount follows the offer's rule and minimum", Pass::Redemptions),
        pass("redemption.window", "redeemed within the offer's validity, days and hours (IST)", Pass::Redemptions),
        sql(
            "redemption.merchant",
            "a redemption's merchant is its offer's merchant",
            "SELECT 'offer_redemptions' AS table, r.id::text AS entity, 'merchant ' || o.merchant_id || ' (offer ' || o.id || ')' AS expected, \
                    'merchant ' || r.merchant_id AS actual \
             FROM offer_redemptions r JOIN offers o ON o.id = r.offer_id WHERE r.merchant_id <> o.merchant_id",
        ),
        sql(
            "offer.total_limit",
            "non-cancelled redemptions <= total_redemption_limit",
            format!(
                "SELECT 'offers' AS table, o.id::text AS entity, 'at most ' || o.total_redemption_limit || ' redemptions' AS expected, \
                        r.n || ' redemptions' AS actual \
                 FROM offers o JOIN (SELECT offer_id, count(*) AS n FROM offer_redemptions \
                                     WHERE status IS DISTINCT FROM {counted} GROUP BY offer_id) r ON r.offer_id = o.id \
                 WHERE o.total_redemption_limit IS NOT NULL AND r.n > o.total_redemption_limit"
            ),
        ),
        sql(
            "offer.per_user_limit",
            "per user, non-cancelled redemptions <= per_user_limit",
            format!(
                "SELECT 'offers' AS table, o.id::text || ' user ' || r.user_id AS entity, \
                        'at most ' || o.per_user_limit || ' per user' AS expected, r.n || ' redemptions' AS actual \
                 FROM offers o JOIN (SELECT offer_id, user_id, count(*) AS n FROM offer_redemptions \
                                     WHERE status IS DISTINCT FROM {counted} GROUP BY offer_id, user_id) r ON r.offer_id = o.id \
                 WHERE o.per_user_limit IS NOT NULL AND r.n > o.per_user_limit"
            ),
        ),
        sql(
            "offer.redemptions_count",
            "redemptions_count = non-cancelled redemptions",
            compare(
                "offers",
                "o.id::text",
                &format!(
                    "offers o LEFT JOIN (SELECT offer_id, count(*) AS n FROM offer_redemptions \
                     WHERE status IS DISTINCT FROM {counted} GROUP BY offer_id) r ON r.offer_id = o.id"
                ),
                &[("redemptions_count", "coalesce(r.n, 0)", "o.redemptions_count")],
            ),
        ),
        // Counters, tiers, rewards.
        pass("merchant.rating", "total_reviews and average_rating match published reviews", Pass::MerchantRating),
        sql(
            "loyalty.totals",
            "lifetime_spend and total_orders = the user's completed orders",
            compare(
                "user_loyalty",
                "ul.user_id::text",
                &format!(
                    "user_loyalty ul LEFT JOIN (SELECT user_id, sum(total_amount) AS spend, count(*) AS n FROM orders \
                     WHERE status = {completed} GROUP BY user_id) o ON o.user_id = ul.user_id"
                ),
                &[
                    ("lifetime_spend", "coalesce(o.spend, 0)", "ul.lifetime_spend"),
                    ("total_orders", "coalesce(o.n, 0)", "ul.total_orders"),
                ],
            ),
        ),
        pass("loyalty.tier", "current tier = highest active tier met", Pass::LoyaltyTier),
        sql(
            "referral.reward",
            "rewarded referrals have their earn rows in the ledger",
            format!("{}\nUNION ALL\n{}", reward("referrer"), reward("referee")),
        ),
        // Data quality.
        sql(
            "dq.email",
            "emails match the reference's pattern",
            pattern_check(
                &[
                    ("users", "email"),
                    ("merchants", "primary_contact_email"),
                    ("merchant_users", "email"),
                    ("admin_users", "email"),
                    ("colleges", "contact_email"),
                ],
                EMAIL_PATTERN,
                "email",
            ),
        ),
        sql(
            "dq.phone",
            "phones match the reference's pattern",
            pattern_check(
                &[("users", "phone"), ("merchants", "primary_contact_phone"), ("merchant_outlets", "contact_phone")],
                PHONE_PATTERN,
                "phone",
            ),
        ),
        sql("dq.status", "enumerated columns hold documented values", statuses()),
        sql(
            "dq.rating",
            "ratings are 1 to 5",
            "SELECT 'reviews' AS table, r.id::text AS entity, 'ratings 1..5' AS expected, \
                    format('rating %s, service %s, value %s, ambience %s', r.rating, coalesce(r.service_rating::text, 'NULL'), coalesce(r.value_rating::text, 'NULL'), coalesce(r.ambience_rating::text, 'NULL')) AS actual \
             FROM reviews r WHERE r.rating NOT BETWEEN 1 AND 5 OR r.service_rating NOT BETWEEN 1 AND 5 \
                OR r.value_rating NOT BETWEEN 1 AND 5 OR r.ambience_rating NOT BETWEEN 1 AND 5 \
             UNION ALL \
             SELECT 'orders', o.id::text, 'rating 1..5', 'rating ' || o.rating FROM orders o WHERE o.rating NOT BETWEEN 1 AND 5",
        ),
        check(
            "partition.default_rows",
            Severity::Warning,
            "rows sitting in a DEFAULT partition (partition-rotate moves them)",
            Source::Pass(Pass::DefaultPartitions),
        ),
    ]
    .into_iter()
    .chain(super::stores::catalogue())
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_documented() {
        let doc = include_str!("../../docs/invariants.md");
        let checks = catalogue();
        for (i, c) in checks.iter().enumerate() {
            assert!(
                doc.contains(&format!("| `{}` |", c.id)),
                "{} is not in docs/invariants.md",
                c.id
            );
            assert!(
                checks[i + 1..].iter().all(|d| d.id != c.id),
                "duplicate id {}",
                c.id
            );
        }
        let documented = doc.lines().filter(|l| l.starts_with("| `")).count();
        assert_eq!(
            documented,
            checks.len(),
            "docs/invariants.md and the catalogue differ"
        );
    }

    #[test]
    fn statuses_cover_every_enumerated_table_once() {
        let sql = statuses();
        assert_eq!(sql.matches("UNION ALL").count() + 1, {
            let mut t: Vec<&str> = ENUMERATIONS.iter().map(|e| e.0).collect();
            t.dedup();
            t.len()
        });
    }
}
