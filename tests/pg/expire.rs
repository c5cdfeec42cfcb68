//! `rez-db expire-coins` on the hand-checked dataset: exact amounts, balance_after,
//! idempotency, dry runs, locks, and `validate` clean afterwards.

use sqlx::PgConnection;

use super::common::{stderr, TestDb};

const W1: &str = "40000000-0000-4000-8000-000000000001";

fn expire(db: &TestDb, extra: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut args = vec!["--json", "expire-coins"];
    args.extend_from_slice(extra);
    let out = db.rez(&args).output().unwrap();
    let report =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    (out.status.code(), report)
}

async fn promo_state(conn: &mut PgConnection) -> (i32, i64, Vec<(i32, bool)>) {
    let balance: i32 = sqlx::query_scalar(&format!(
        "SELECT promo_coins_balance FROM wallets WHERE id = '{W1}'"
    ))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let rows: i64 = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM wallet_transactions WHERE wallet_id = '{W1}' AND coin_type = 'promo'"
    ))
    .fetch_one(&mut *conn)
    .await
    .unwrap();
    let lots: Vec<(i32, bool)> = sqlx::query_as(&format!(
        "SELECT remaining_balance, is_expired FROM promo_coins WHERE wallet_id = '{W1}' ORDER BY id"
    ))
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    (balance, rows, lots)
}

fn validate_is_clean(db: &TestDb) {
    let out = db
        .rez(&["--json", "validate", "--only", "pg"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["errors"].as_u64(), report["warnings"].as_u64()),
        (Some(0), Some(0)),
        "{report:#}"
    );
}

#[tokio::test]
async fn expiry_is_exact_idempotent_and_leaves_validate_clean() {
    let db = TestDb::clean("expire").await;
    let mut conn = db.conn().await;
    // L1 (40 coins) expires on 2099-01-01; the dataset's L2 was expired already.
    let (code, dry) = expire(&db, &["--now", "2099-06-01T00:00:00Z", "--dry-run"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        (
            dry["coins"].as_i64(),
            dry["lots"].as_u64(),
            dry["wallets"].as_u64()
        ),
        (Some(40), Some(1), Some(1))
    );
    assert_eq!(
        promo_state(&mut conn).await,
        (40, 4, vec![(40, false), (0, true)]),
        "--dry-run changed nothing"
    );

    let (code, done) = expire(&db, &["--now", "2099-06-01T00:00:00Z"]);
    assert_eq!(code, Some(0));
    assert_eq!(done["coins"], 40);
    assert_eq!(
        promo_state(&mut conn).await,
        (0, 5, vec![(0, true), (0, true)])
    );
    let (amount, after, kind): (i32, i32, String) = sqlx::query_as(&format!(
        "SELECT amount, balance_after, transaction_type FROM wallet_transactions \
         WHERE wallet_id = '{W1}' AND coin_type = 'promo' ORDER BY created_at DESC, id DESC LIMIT 1"
    ))
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!((amount, after, kind.as_str()), (-40, 0, "expire"));
    validate_is_clean(&db);

    let (code, again) = expire(&db, &["--now", "2099-06-01T00:00:00Z"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        (again["coins"].as_i64(), again["lots"].as_u64()),
        (Some(0), Some(0)),
        "a second run does nothing"
    );
    assert_eq!(promo_state(&mut conn).await.1, 5);
}

#[tokio::test]
async fn only_due_lots_expire_and_partial_lots_lose_what_is_left() {
    let db = TestDb::clean("expire_partial").await;
    let mut conn = db.conn().await;
    // Ravi earns two lots (30 due 2026-02-01, 20 due 2099) and spends 12 FIFO from the first.
    sqlx::raw_sql(include_str!("../../fixtures/sql/expire_w2_lots.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    let (code, report) = expire(&db, &["--now", "2026-03-01T00:00:00Z", "--batch-size", "1"]);
    assert_eq!(code, Some(0));
    assert_eq!(
        (report["coins"].as_i64(), report["wallets"].as_u64()),
        (Some(18), Some(1))
    );
    let balance: i32 = sqlx::query_scalar(
        "SELECT promo_coins_balance FROM wallets WHERE id = '40000000-0000-4000-8000-000000000002'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(balance, 20);
    validate_is_clean(&db);
}

#[tokio::test]
async fn an_inconsistent_wallet_is_skipped_and_reported() {
    let db = TestDb::clean("expire_skip").await;
    let mut conn = db.conn().await;
    sqlx::raw_sql(&format!(
        "UPDATE wallets SET promo_coins_balance = 41 WHERE id = '{W1}'"
    ))
    .execute(&mut conn)
    .await
    .unwrap();
    let (code, report) = expire(&db, &["--now", "2099-06-01T00:00:00Z"]);
    assert_eq!(code, Some(1));
    assert_eq!(report["skipped"][0]["wallet_id"], W1);
    assert!(report["skipped"][0]["reason"]
        .as_str()
        .unwrap()
        .contains("differs from the promo ledger's 40"));
    assert_eq!(
        promo_state(&mut conn).await.1,
        4,
        "nothing written for a skipped wallet"
    );
}

#[tokio::test]
async fn locks_keep_two_runs_and_a_spend_apart() {
    let db = TestDb::clean("expire_lock").await;
    // Another expiry run holds the expiry lock: exit 4 at once.
    let mut holder = db.conn().await;
    sqlx::query("SELECT pg_advisory_lock(1380276804, 3)")
        .execute(&mut holder)
        .await
        .unwrap();
    let (code, _) = expire(&db, &["--now", "2099-06-01T00:00:00Z"]);
    assert_eq!(code, Some(4));
    drop(holder);

    // The application holds the wallet row (a spend in flight): the run waits
    // lock_timeout, retries, then gives up with exit 4 and writes nothing.
    let config = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(config.path(), "lock_timeout_ms: 100\n").unwrap();
    let mut spend = db.conn().await;
    sqlx::raw_sql(&format!(
        "BEGIN; SELECT 1 FROM wallets WHERE id = '{W1}' FOR UPDATE;"
    ))
    .execute(&mut spend)
    .await
    .unwrap();
    let out = db
        .rez(&[
            "--config",
            config.path().to_str().unwrap(),
            "expire-coins",
            "--now",
            "2099-06-01T00:00:00Z",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    sqlx::raw_sql("ROLLBACK").execute(&mut spend).await.unwrap();
    assert_eq!(promo_state(&mut db.conn().await).await.1, 4);
}

#[tokio::test]
async fn one_large_batch_gives_each_wallet_exactly_its_own_lots() {
    let db = TestDb::clean("expire_large_batch").await;
    let mut conn = db.conn().await;
    // 300 wallets in one batch, lots interleaved by id: wallet i holds n = i % 3 + 1
    // lots of i + k coins (k = 1..n) due 2026-02-01, and one lot of 5 due in 2099;
    // its promo ledger is one earn of the total. Each wallet must lose exactly
    // n*i + n(n+1)/2 and keep 5, whatever order its lots come in.
    sqlx::raw_sql(
        "INSERT INTO users (id, phone, email) \
           SELECT ('0a000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, '+91' || (9100000000 + i), 'bulk' || i || '@example.com' \
           FROM generate_series(1, 300) i; \
         INSERT INTO wallets (id, user_id) \
           SELECT ('0b000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('0a000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid \
           FROM generate_series(1, 300) i; \
         INSERT INTO promo_coins (wallet_id, user_id, amount, remaining_balance, issued_at, expires_at) \
           SELECT ('0b000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, ('0a000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'))::uuid, \
                  CASE WHEN k = 0 THEN 5 ELSE i + k END, CASE WHEN k = 0 THEN 5 ELSE i + k END, '2026-01-02', \
                  CASE WHEN k = 0 THEN timestamptz '2099-01-01' ELSE timestamptz '2026-02-01' END \
           FROM generate_series(1, 300) i, generate_series(0, 3) k WHERE k <= i % 3 + 1 \
           ORDER BY md5(i::text || k::text); \
         INSERT INTO wallet_transactions (wallet_id, user_id, transaction_type, coin_type, amount, balance_after, created_at) \
           SELECT wallet_id, user_id, 'earn', 'promo', sum(amount), sum(amount), '2026-01-02 10:00+00' FROM promo_coins \
           WHERE wallet_id::text LIKE '0b%' GROUP BY wallet_id, user_id; \
         UPDATE wallets w SET promo_coins_balance = t.amount FROM wallet_transactions t WHERE t.wallet_id = w.id AND w.id::text LIKE '0b%';",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    let (code, report) = expire(
        &db,
        &["--now", "2026-03-01T00:00:00Z", "--batch-size", "1000"],
    );
    assert_eq!(code, Some(0), "{report:#}");
    let due: i64 = (1..=300i64)
        .map(|i| {
            let n = i % 3 + 1;
            n * i + n * (n + 1) / 2
        })
        .sum();
    assert_eq!(
        (
            report["coins"].as_i64(),
            report["wallets"].as_u64(),
            report["batches"].as_u64()
        ),
        (Some(due), Some(300), Some(1))
    );
    let wrong: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM wallets w \
         JOIN (SELECT wallet_id, sum(amount) AS due FROM promo_coins WHERE expires_at < '2099-01-01' GROUP BY wallet_id) d \
           ON d.wallet_id = w.id \
         LEFT JOIN wallet_transactions t ON t.wallet_id = w.id AND t.transaction_type = 'expire' \
         WHERE w.id::text LIKE '0b%' \
           AND (t.amount IS DISTINCT FROM -d.due OR t.balance_after IS DISTINCT FROM 5 OR w.promo_coins_balance <> 5)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(wrong, 0, "every wallet lost exactly its own due lots");
    validate_is_clean(&db);
}
