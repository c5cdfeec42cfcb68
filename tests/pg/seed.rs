//! `rez-db seed`: reference upserts (idempotent, one changed value updates one
//! row, bad files are named), and the synthetic dataset (deterministic,
//! refused on a non-empty database, consistent with docs/invariants.md).

use std::path::Path;

use sqlx::PgConnection;

use super::common::{keys_and_indexes, repo_path, stderr, stdout, TestDb};

/// A fixed present, in the past on purpose: the loader must create the
/// partitions that the migrations (made for the real today) do not have.
const NOW: &str = "2026-01-15T10:00:00Z";

const REFERENCE_TABLES: [&str; 4] = ["app_settings", "categories", "loyalty_tiers", "colleges"];

const SYNTHETIC_TABLES: [&str; 23] = [
    "admin_users",
    "merchants",
    "merchant_outlets",
    "merchant_users",
    "merchant_bank_accounts",
    "products",
    "offers",
    "prive_merchants",
    "campaigns",
    "events",
    "users",
    "user_addresses",
    "user_colleges",
    "wallets",
    "promo_coins",
    "wallet_transactions",
    "orders",
    "payments",
    "offer_redemptions",
    "referrals",
    "user_loyalty",
    "reviews",
    "notifications",
];

/// A digest of every row of `table`, all columns (timestamps included).
async fn fingerprint(conn: &mut PgConnection, table: &str, filter: &str) -> String {
    sqlx::query_scalar(&format!(
        "SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) FROM {table} t {filter}"
    ))
    .fetch_one(conn)
    .await
    .unwrap()
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(out.status.success(), "{}\n{}", stdout(out), stderr(out));
    serde_json::from_slice(&out.stdout).expect("one JSON document")
}

/// (inserted, updated, unchanged) of `table` in a seed report.
fn counts(report: &serde_json::Value, table: &str) -> (u64, u64, u64) {
    let row = report["reference"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["table"] == table)
        .unwrap_or_else(|| panic!("{table} missing from {report}"));
    let n = |k: &str| row[k].as_u64().unwrap();
    (n("inserted"), n("updated"), n("unchanged"))
}

fn copy_seeds(to: &Path) {
    for name in [
        "app_settings.yaml",
        "categories.yaml",
        "loyalty_tiers.yaml",
        "colleges.yaml",
    ] {
        std::fs::copy(repo_path(&format!("seeds/{name}")), to.join(name)).unwrap();
    }
}

#[tokio::test]
async fn a_second_reference_seed_changes_nothing() {
    let db = TestDb::migrated("seed_idem").await;
    let first = json(&db.rez(&["--json", "seed"]).output().unwrap());
    assert_eq!(first["mode"], "reference");
    let (inserted, updated, _) = counts(&first, "categories");
    assert!(inserted >= 10 && updated == 0, "{first}");
    let mut conn = db.conn().await;
    let mut before = Vec::new();
    for t in REFERENCE_TABLES {
        before.push(fingerprint(&mut conn, t, "").await);
    }

    let second = json(&db.rez(&["--json", "seed"]).output().unwrap());
    for t in REFERENCE_TABLES {
        let (inserted, updated, unchanged) = counts(&second, t);
        assert_eq!((inserted, updated), (0, 0), "{t}: {second}");
        assert!(unchanged > 0, "{t}");
    }
    for (t, digest) in REFERENCE_TABLES.iter().zip(&before) {
        assert_eq!(
            &fingerprint(&mut conn, t, "").await,
            digest,
            "{t} changed (updated_at included)"
        );
    }
    let human = db.rez(&["seed"]).output().unwrap();
    assert!(
        stdout(&human).contains("(nothing changed)"),
        "{}",
        stdout(&human)
    );

    // The tree and its natural keys, as the files say.
    let (rate, depth, gold): (String, i32, String) = sqlx::query_as(
        "SELECT (SELECT setting_value #>> '{}' FROM app_settings WHERE setting_key = 'coin_to_inr_rate'), \
                (SELECT max(level) FROM categories), \
                (SELECT name FROM loyalty_tiers WHERE level = 3)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((rate.as_str(), depth, gold.as_str()), ("0.5", 2, "Gold"));
    let orphans: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM categories c WHERE (c.level > 0) <> (c.parent_id IS NOT NULL) \
            OR EXISTS (SELECT 1 FROM categories p WHERE p.id = c.parent_id AND p.level <> c.level - 1)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(orphans, 0);
}

#[tokio::test]
async fn a_changed_value_updates_that_row_only() {
    let db = TestDb::migrated("seed_change").await;
    let dir = tempfile::tempdir().unwrap();
    copy_seeds(dir.path());
    let seeds = dir.path().to_str().unwrap();
    json(
        &db.rez(&["--json", "seed", "--seeds-dir", seeds])
            .output()
            .unwrap(),
    );
    let mut conn = db.conn().await;
    let others = "WHERE t.setting_key <> 'coin_to_inr_rate'";
    let settings_before = fingerprint(&mut conn, "app_settings", others).await;
    let mut rest_before = Vec::new();
    for t in &REFERENCE_TABLES[1..] {
        rest_before.push(fingerprint(&mut conn, t, "").await);
    }

    let path = dir.path().join("app_settings.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("  value: 0.5\n"));
    std::fs::write(&path, text.replace("  value: 0.5\n", "  value: 0.75\n")).unwrap();
    let report = json(
        &db.rez(&["--json", "seed", "--seeds-dir", seeds])
            .output()
            .unwrap(),
    );
    let (inserted, updated, unchanged) = counts(&report, "app_settings");
    assert_eq!((inserted, updated), (0, 1), "{report}");
    assert!(unchanged > 5);
    for t in &REFERENCE_TABLES[1..] {
        assert_eq!(counts(&report, t).1, 0, "{t}");
    }

    let rate: String = sqlx::query_scalar(
        "SELECT setting_value #>> '{}' FROM app_settings WHERE setting_key = 'coin_to_inr_rate'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(rate, "0.75");
    assert_eq!(
        fingerprint(&mut conn, "app_settings", others).await,
        settings_before
    );
    for (t, digest) in REFERENCE_TABLES[1..].iter().zip(&rest_before) {
        assert_eq!(&fingerprint(&mut conn, t, "").await, digest, "{t}");
    }
}

#[tokio::test]
async fn a_bad_file_names_file_line_and_key_and_changes_nothing() {
    let db = TestDb::migrated("seed_bad").await;
    let dir = tempfile::tempdir().unwrap();
    copy_seeds(dir.path());
    let path = dir.path().join("loyalty_tiers.yaml");
    let text = std::fs::read_to_string(&path).unwrap();
    let line = text
        .lines()
        .position(|l| l.trim() == "min_spend: 7500.00")
        .unwrap()
        + 1;
    std::fs::write(&path, text.replace("min_spend: 7500.00", "min_spend: lots")).unwrap();
    let out = db
        .rez(&["seed", "--seeds-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "loyalty_tiers.yaml:{line}: level 3: min_spend `lots`"
        )),
        "{err}"
    );

    // A syntax error: serde's own location.
    std::fs::write(&path, "- level: 1\n  name: [unclosed\n").unwrap();
    let out = db
        .rez(&["seed", "--seeds-dir", dir.path().to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("loyalty_tiers.yaml:"),
        "{}",
        stderr(&out)
    );

    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM app_settings) + (SELECT count(*) FROM categories) \
              + (SELECT count(*) FROM loyalty_tiers) + (SELECT count(*) FROM colleges)",
    )
    .fetch_one(&mut db.conn().await)
    .await
    .unwrap();
    assert_eq!(rows, 0, "a bad file loads nothing");
}

#[tokio::test]
async fn dry_runs_report_and_change_nothing() {
    let db = TestDb::migrated("seed_dry").await;
    let report = json(&db.rez(&["--json", "seed", "--dry-run"]).output().unwrap());
    assert!(counts(&report, "app_settings").0 > 0);
    let report = json(
        &db.rez(&[
            "--json",
            "seed",
            "--synthetic",
            "--scale",
            "50",
            "--rng-seed",
            "1",
            "--now",
            NOW,
            "--dry-run",
        ])
        .output()
        .unwrap(),
    );
    assert_eq!(report["synthetic"]["tables"][10]["table"], "users");
    assert_eq!(report["synthetic"]["tables"][10]["rows"], 50);
    let rows: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM app_settings) + (SELECT count(*) FROM users) \
              + (SELECT count(*) FROM wallet_transactions) \
              + (SELECT count(*) FROM pg_class WHERE relname = 'orders_2026_01')",
    )
    .fetch_one(&mut db.conn().await)
    .await
    .unwrap();
    assert_eq!(rows, 0);
}

async fn seeded(label: &str, rng_seed: &str) -> (TestDb, serde_json::Value) {
    let db = TestDb::migrated(label).await;
    let report = json(
        &db.rez(&[
            "--json",
            "seed",
            "--synthetic",
            "--scale",
            "200",
            "--rng-seed",
            rng_seed,
            "--now",
            NOW,
        ])
        .output()
        .unwrap(),
    );
    (db, report)
}

/// The load sets every key, index and foreign key of the tables it fills
/// aside and builds them again: all come back, the same and valid.
#[tokio::test]
async fn a_synthetic_seed_gives_back_every_key_and_index() {
    let migrated = TestDb::migrated("seed_keys_ref").await;
    let (db, _) = seeded("seed_keys", "5").await;
    let expected = keys_and_indexes(&mut migrated.conn().await).await;
    assert!(expected.iter().any(
        |k| k.starts_with("wallet_transactions wallet_transactions_wallet_id_fkey FOREIGN KEY")
    ));
    assert_eq!(keys_and_indexes(&mut db.conn().await).await, expected);
}

async fn fingerprints(db: &TestDb) -> Vec<String> {
    let mut conn = db.conn().await;
    let mut out = Vec::new();
    for t in SYNTHETIC_TABLES {
        out.push(fingerprint(&mut conn, t, "").await);
    }
    out
}

#[tokio::test]
async fn synthetic_data_is_deterministic_per_seed_and_clock() {
    let (a, report) = seeded("seed_det_a", "7").await;
    let (b, _) = seeded("seed_det_b", "7").await;
    let (c, _) = seeded("seed_det_c", "8").await;
    assert_eq!(report["mode"], "synthetic");
    assert_eq!(report["synthetic"]["now"], "2026-01-15T10:00:00Z");
    // The reference tables were empty, so they were seeded first.
    assert_eq!(report["reference"].as_array().unwrap().len(), 4);
    let tables = report["synthetic"]["tables"].as_array().unwrap();
    let names: Vec<&str> = tables
        .iter()
        .map(|t| t["table"].as_str().unwrap())
        .collect();
    assert_eq!(names, SYNTHETIC_TABLES);
    assert_eq!(tables[10]["rows"], 200);
    for store in report["synthetic"]["other_stores"].as_array().unwrap() {
        assert_eq!(store["sent"], 0, "{store}");
    }

    let (fa, fb, fc) = (
        fingerprints(&a).await,
        fingerprints(&b).await,
        fingerprints(&c).await,
    );
    for (i, t) in SYNTHETIC_TABLES.iter().enumerate() {
        assert_eq!(
            fa[i], fb[i],
            "{t} differs between two runs with the same seed"
        );
    }
    assert_ne!(fa[10], fc[10], "another seed, other users");
    assert_ne!(fa[15], fc[15], "another seed, other ledgers");
}

#[tokio::test]
async fn synthetic_data_keeps_the_invariants() {
    let (db, _) = seeded("seed_inv", "42").await;
    let mut conn = db.conn().await;
    let count = |sql: &'static str| sql;
    let checks = [
        (
            "per wallet and coin type, the balance column = the ledger sum",
            count(
                "SELECT count(*) FROM wallets w LEFT JOIN (SELECT wallet_id, \
                    sum(amount) FILTER (WHERE coin_type = 'rez') AS rez, \
                    sum(amount) FILTER (WHERE coin_type = 'prive') AS prive, \
                    sum(amount) FILTER (WHERE coin_type = 'promo') AS promo, \
                    sum(amount) FILTER (WHERE coin_type = 'cash') AS cash \
                  FROM wallet_transactions GROUP BY wallet_id) l ON l.wallet_id = w.id \
                 WHERE w.rez_coins_balance <> coalesce(l.rez, 0) OR w.prive_coins_balance <> coalesce(l.prive, 0) \
                    OR w.promo_coins_balance <> coalesce(l.promo, 0) OR w.cash_balance * 100 <> coalesce(l.cash, 0)",
            ),
        ),
        (
            "branded balances per merchant = the branded ledger",
            count(
                "SELECT count(*) FROM (SELECT wallet_id, merchant_id, sum(amount) AS s FROM wallet_transactions \
                  WHERE coin_type = 'branded' GROUP BY 1, 2) l JOIN wallets w ON w.id = l.wallet_id \
                 WHERE (w.branded_coins -> l.merchant_id::text ->> 'balance')::bigint IS DISTINCT FROM l.s",
            ),
        ),
        (
            "each row's balance_after = the previous one + amount",
            count(
                "SELECT count(*) FROM (SELECT amount, balance_after, lag(balance_after, 1, 0::int) OVER ( \
                    PARTITION BY wallet_id, coin_type, merchant_id ORDER BY created_at, id) AS prev \
                  FROM wallet_transactions) t WHERE balance_after <> prev + amount OR balance_after < 0",
            ),
        ),
        (
            "order total = subtotal - discount + tax + fee - coins value, coins value at the coin rate",
            count(
                "SELECT count(*) FROM orders o, (SELECT (setting_value #>> '{}')::numeric AS rate FROM app_settings \
                  WHERE setting_key = 'coin_to_inr_rate') r \
                 WHERE o.total_amount <> o.subtotal - o.discount_amount + o.tax_amount + o.delivery_fee - o.coins_value \
                    OR o.coins_value <> round(o.coins_used * r.rate, 2) OR o.total_amount < 0 \
                    OR o.subtotal <> (SELECT sum((i->>'total')::numeric) FROM jsonb_array_elements(o.items) i) \
                    OR EXISTS (SELECT 1 FROM jsonb_array_elements(o.items) i \
                               WHERE (i->>'total')::numeric <> (i->>'qty')::int * (i->>'price')::numeric)",
            ),
        ),
        (
            "a paid order has a success payment of the same amount",
            count(
                "SELECT count(*) FROM orders o WHERE o.payment_status = 'paid' AND NOT EXISTS ( \
                    SELECT 1 FROM payments p WHERE p.order_id = o.id AND p.status = 'success' AND p.amount = o.total_amount \
                      AND o.paid_at >= o.created_at)",
            ),
        ),
        (
            "promo balance = the unexpired lots' remaining coins; expired lots hold nothing",
            count(
                "SELECT count(*) FROM wallets w LEFT JOIN (SELECT wallet_id, sum(remaining_balance) AS r FROM promo_coins \
                  WHERE NOT is_expired GROUP BY 1) p ON p.wallet_id = w.id \
                 WHERE w.promo_coins_balance <> coalesce(p.r, 0) \
                 UNION ALL SELECT count(*) FROM promo_coins WHERE is_expired AND remaining_balance <> 0",
            ),
        ),
        (
            "redemptions_count and limits",
            count(
                "SELECT count(*) FROM offers o LEFT JOIN (SELECT offer_id, count(*) AS n FROM offer_redemptions \
                  WHERE status <> 'cancelled' GROUP BY 1) r ON r.offer_id = o.id \
                 WHERE o.redemptions_count <> coalesce(r.n, 0) OR coalesce(r.n, 0) > coalesce(o.total_redemption_limit, 1000000)",
            ),
        ),
        (
            "referral rewards are in both ledgers",
            count(
                "SELECT count(*) FROM referrals r WHERE r.referrer_rewarded AND ( \
                    NOT EXISTS (SELECT 1 FROM wallet_transactions t WHERE t.user_id = r.referrer_id \
                                AND t.reference_type = 'referral' AND t.reference_id = r.id AND t.amount = r.referrer_reward_coins) \
                 OR NOT EXISTS (SELECT 1 FROM wallet_transactions t WHERE t.user_id = r.referee_id \
                                AND t.reference_type = 'referral' AND t.reference_id = r.id AND t.amount = r.referee_reward_coins))",
            ),
        ),
        (
            "soft-deleted users hold nothing",
            count(
                "SELECT count(*) FROM users u JOIN wallets w ON w.user_id = u.id WHERE u.status = 'deleted' \
                   AND (w.rez_coins_balance + w.prive_coins_balance + w.promo_coins_balance > 0 OR w.cash_balance > 0)",
            ),
        ),
    ];
    for (what, sql) in checks {
        let bad: Vec<i64> = sqlx::query_scalar(sql).fetch_all(&mut conn).await.unwrap();
        assert!(bad.iter().all(|n| *n == 0), "{what}: {bad:?}");
    }

    // Nothing landed in a DEFAULT partition: the partitions for January 2026 were made.
    let in_default: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM orders_default) + (SELECT count(*) FROM wallet_transactions_default) \
              + (SELECT count(*) FROM audit_log_default)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(in_default, 0);
    let made: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM pg_class WHERE relname IN ('orders_2025_10', 'orders_2026_01', 'wallet_transactions_2025_q4')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(made, 3);

    // Something of everything, and soft-deleted users among them.
    let (deleted, offer_types, tiers, expired_lots): (i64, i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM users WHERE status = 'deleted' AND deleted_at IS NOT NULL), \
                (SELECT count(DISTINCT offer_type) FROM offers), \
                (SELECT count(DISTINCT current_tier_id) FROM user_loyalty), \
                (SELECT count(*) FROM promo_coins WHERE is_expired)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(deleted > 0 && offer_types == 5 && tiers >= 2 && expired_lots > 0);
}

#[tokio::test]
async fn synthetic_data_passes_validate_without_a_warning() {
    // At the real present (no --now): `validate` judges overdue promo lots by
    // the real clock, and a dataset is only "as of" its --now.
    let db = TestDb::migrated("seed_valid").await;
    json(
        &db.rez(&[
            "--json",
            "seed",
            "--synthetic",
            "--scale",
            "300",
            "--rng-seed",
            "3",
        ])
        .output()
        .unwrap(),
    );
    // PostgreSQL only: the other stores are filled by their own commands.
    let out = db
        .rez(&["--json", "validate", "--only", "pg"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{}\n{}", stdout(&out), stderr(&out)));
    let found: Vec<&serde_json::Value> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["violations"] != 0)
        .collect();
    assert!(found.is_empty(), "{found:#?}");
    assert_eq!(
        (report["errors"].as_u64(), report["warnings"].as_u64()),
        (Some(0), Some(0))
    );
    assert_eq!(out.status.code(), Some(0));
}

#[tokio::test]
async fn a_database_with_users_is_refused() {
    let (db, _) = seeded("seed_refuse", "1").await;
    let out = db
        .rez(&["seed", "--synthetic", "--scale", "10", "--rng-seed", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("users has rows"), "{err}");
    assert!(err.contains("rez-db create --drop --yes"), "{err}");
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&mut db.conn().await)
        .await
        .unwrap();
    assert_eq!(users, 200);
}

#[tokio::test]
async fn a_held_data_lock_gives_exit_4() {
    let db = TestDb::migrated("seed_lock").await;
    let mut holder = db.conn().await;
    // "REZD", scope 2 (data): what another seed run holds.
    sqlx::query("SELECT pg_advisory_lock(1380276804, 2)")
        .execute(&mut holder)
        .await
        .unwrap();
    let out = db.rez(&["seed", "--lock-wait", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("data lock"), "{}", stderr(&out));
}
