//! `rez-db validate` on real data. A hand-checked dataset (fixtures/sql/clean.sql)
//! has no violation; each fixture in fixtures/sql/violations/ plants one fault
//! on it and lists, after `-- expect:`, exactly the violations it must cause
//! (`--> check | table | entity | expected | actual`), and nothing else may be
//! reported. The Rust replays are also checked against plain SQL on the same data.

use std::collections::BTreeSet;

use futures_util::TryStreamExt;
use rez_db::domain::ledger::{Entry, Replay};
use rez_db::domain::TxType;
use rez_db::validate::{catalogue, Source};
use sqlx::PgConnection;
use uuid::Uuid;

use super::common::{connect, repo_path, server_url, stderr, TestDb};

/// Every violation validate reports, as `check | table | entity | expected | actual`.
fn violations(db: &TestDb, extra: &[&str]) -> (Option<i32>, BTreeSet<String>) {
    let out = db
        .rez(&["--json", "validate", "--only", "pg", "--limit", "1000"])
        .args(extra)
        .output()
        .unwrap();
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    let mut found = BTreeSet::new();
    for check in report["checks"].as_array().unwrap() {
        let shown = check["shown"].as_array().unwrap();
        assert_eq!(
            check["violations"].as_u64().unwrap(),
            shown.len() as u64,
            "all shown under --limit 1000"
        );
        for v in shown {
            found.insert(
                [
                    &check["id"],
                    &v["table"],
                    &v["entity"],
                    &v["expected"],
                    &v["actual"],
                ]
                .map(|s| s.as_str().unwrap().to_string())
                .join(" | "),
            );
        }
    }
    (out.status.code(), found)
}

#[tokio::test]
async fn the_clean_dataset_has_no_violation() {
    let db = TestDb::clean("vclean").await;
    let (code, found) = violations(&db, &[]);
    assert!(
        found.is_empty(),
        "false positives:\n{}",
        found.into_iter().collect::<Vec<_>>().join("\n")
    );
    assert_eq!(code, Some(0));
}

#[tokio::test]
async fn every_check_reports_exactly_its_planted_violation() {
    let template = TestDb::clean("vtpl").await;
    // PostgreSQL's checks; the other stores' checks are tested in tests/stores.
    let ids: Vec<&str> = catalogue()
        .iter()
        .filter(|c| !matches!(c.source, Source::Store(_)))
        .map(|c| c.id)
        .collect();
    let mut admin = connect(&server_url()).await;
    for id in &ids {
        let (db, expected) = plant(&mut admin, &template, id).await;
        let (code, found) = violations(&db, &[]);
        assert_eq!(found, expected, "{id}: reported (left) vs expected (right)");
        let errors = catalogue().iter().any(|c| {
            c.severity == rez_db::validate::Severity::Error
                && expected
                    .iter()
                    .any(|e| e.starts_with(&format!("{} | ", c.id)))
        });
        assert_eq!(code, Some(if errors { 1 } else { 0 }), "{id}: exit code");
    }
}

/// A copy of `template` with the fault of fixtures/sql/violations/ID.sql
/// planted, and the violations the fixture expects.
async fn plant(
    admin: &mut PgConnection,
    template: &TestDb,
    id: &str,
) -> (TestDb, BTreeSet<String>) {
    let path = repo_path(&format!("fixtures/sql/violations/{id}.sql"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|_| panic!("check {id} has no fixture {}", path.display()));
    let expected: BTreeSet<String> = text
        .lines()
        .filter_map(|l| l.strip_prefix("--> "))
        .map(str::to_string)
        .collect();
    assert!(
        expected.iter().any(|e| e.starts_with(&format!("{id} | "))),
        "{id}: the fixture must expect a violation of {id}"
    );
    let db = TestDb::unborn("vplant");
    sqlx::raw_sql(&format!(
        "CREATE DATABASE \"{}\" TEMPLATE \"{}\"",
        db.name, template.name
    ))
    .execute(&mut *admin)
    .await
    .unwrap();
    sqlx::raw_sql(&text)
        .execute(&mut db.conn().await)
        .await
        .unwrap_or_else(|e| panic!("{id}: {e}"));
    (db, expected)
}

/// The ledger pass holds one wallet's rows at a time; a wallet with more than
/// --wallet-rows is read again, ordered by the server. With a limit of 1 every
/// wallet takes that second path, and must be judged exactly the same.
#[tokio::test]
async fn wallets_too_large_to_hold_are_judged_the_same() {
    let template = TestDb::clean("vheavy").await;
    let mut admin = connect(&server_url()).await;
    for id in [
        "ledger.chain",
        "ledger.sign",
        "ledger.nonnegative",
        "wallet.balance",
        "wallet.lifetime",
    ] {
        let (db, expected) = plant(&mut admin, &template, id).await;
        let (code, found) = violations(&db, &["--wallet-rows", "1"]);
        assert_eq!(found, expected, "{id} with --wallet-rows 1");
        assert_eq!(code, Some(1), "{id}: exit code");
    }
    let (code, found) = violations(&template, &["--wallet-rows", "1"]);
    assert!(
        found.is_empty(),
        "clean data with --wallet-rows 1: {found:?}"
    );
    assert_eq!(code, Some(0));
}

/// The replay order within a balance is (created_at, id), whatever order the
/// rows sit in on disk: rewritten newest first, with two rows sharing a
/// timestamp (the id decides), the chains are still whole.
#[tokio::test]
async fn the_replay_order_is_time_then_id_not_storage_order() {
    let db = TestDb::clean("vorder").await;
    sqlx::raw_sql(
        "UPDATE wallet_transactions SET created_at = '2026-01-10 10:00:00+00' \
           WHERE id = '41000000-0000-4000-8000-000000000003'; \
         CREATE TEMP TABLE newest_first AS SELECT * FROM wallet_transactions ORDER BY created_at DESC, id DESC; \
         DELETE FROM wallet_transactions; \
         INSERT INTO wallet_transactions SELECT * FROM newest_first ORDER BY created_at DESC, id DESC;",
    )
    .execute(&mut db.conn().await)
    .await
    .unwrap();
    for extra in [&[][..], &["--wallet-rows", "1"][..]] {
        let (code, found) = violations(&db, extra);
        assert!(found.is_empty(), "{extra:?}: {found:?}");
        assert_eq!(code, Some(0), "{extra:?}");
    }
    // The same rows with the tie broken the other way round do break the chain:
    // the test above could fail.
    sqlx::raw_sql(
        "UPDATE wallet_transactions SET id = '41000000-0000-4000-8000-0000000000ff' \
           WHERE id = '41000000-0000-4000-8000-000000000002'",
    )
    .execute(&mut db.conn().await)
    .await
    .unwrap();
    let (_, found) = violations(&db, &["--check", "ledger.chain"]);
    assert_eq!(found.len(), 2, "{found:?}");
}

#[tokio::test]
async fn checks_can_be_selected_and_skipped() {
    let db = TestDb::clean("vselect").await;
    sqlx::raw_sql("UPDATE wallets SET rez_coins_lifetime_spent = 35 WHERE id = '40000000-0000-4000-8000-000000000001'")
        .execute(&mut db.conn().await)
        .await
        .unwrap();
    db.rez(&["validate", "--only", "pg", "--skip", "wallet.lifetime"])
        .assert()
        .code(0);
    let out = db
        .rez(&[
            "--json",
            "validate",
            "--check",
            "wallet.lifetime",
            "--check",
            "ledger.chain",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["ledger.chain", "wallet.lifetime"]);
    assert_eq!(report["errors"], 1);
}

#[tokio::test]
async fn limit_shows_n_and_counts_all() {
    let db = TestDb::clean("vlimit").await;
    sqlx::raw_sql("UPDATE merchants SET primary_contact_email = 'broken'")
        .execute(&mut db.conn().await)
        .await
        .unwrap();
    let out = db
        .rez(&["--json", "validate", "--check", "dq.email", "--limit", "1"])
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["checks"][0]["violations"], 2);
    assert_eq!(report["checks"][0]["shown"].as_array().unwrap().len(), 1);
}

/// The ledger replay (domain core, in Rust) and plain SQL agree on every balance
/// and on where a chain breaks.
#[tokio::test]
async fn rust_replay_and_sql_agree_on_the_ledger() {
    let db = TestDb::clean("vagree").await;
    let mut conn = db.conn().await;
    // Break one chain, so the comparison covers a failing row too.
    sqlx::raw_sql("UPDATE wallet_transactions SET balance_after = 97 WHERE id = '41000000-0000-4000-8000-000000000003'")
        .execute(&mut conn)
        .await
        .unwrap();
    let (balances, breaks) = replay_in_rust(&mut conn).await;
    let sql_balances: BTreeSet<(Uuid, String, Option<Uuid>, i64)> = sqlx::query_as(
        "SELECT wallet_id, coin_type, merchant_id, sum(amount)::bigint FROM wallet_transactions GROUP BY 1, 2, 3",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(balances, sql_balances);
    let sql_breaks: BTreeSet<Uuid> = sqlx::query_scalar(
        "SELECT id FROM (SELECT id, balance_after - amount AS before, \
                coalesce(lag(balance_after) OVER (PARTITION BY wallet_id, coin_type, merchant_id ORDER BY created_at, id), 0) AS previous \
         FROM wallet_transactions) t WHERE before <> previous",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap()
    .into_iter()
    .collect();
    assert_eq!(breaks, sql_breaks);
    assert_eq!(breaks.len(), 1);
}

type Balances = BTreeSet<(Uuid, String, Option<Uuid>, i64)>;

async fn replay_in_rust(conn: &mut PgConnection) -> (Balances, BTreeSet<Uuid>) {
    let mut rows = sqlx::query_as::<_, (Uuid, String, Option<Uuid>, String, i64, i64, Uuid)>(
        "SELECT wallet_id, coin_type, merchant_id, transaction_type, amount::bigint, balance_after::bigint, id \
         FROM wallet_transactions ORDER BY wallet_id, coin_type, merchant_id NULLS FIRST, created_at, id",
    )
    .fetch(conn);
    let mut balances = BTreeSet::new();
    let mut breaks = BTreeSet::new();
    let mut current: Option<(Uuid, String, Option<Uuid>)> = None;
    let mut replay = Replay::new();
    while let Some((wallet, coin, merchant, tx_type, amount, balance_after, id)) =
        rows.try_next().await.unwrap()
    {
        let key = (wallet, coin, merchant);
        if current.as_ref() != Some(&key) {
            if let Some((w, c, m)) = current.take() {
                balances.insert((w, c, m, replay.balance()));
            }
            replay = Replay::new();
            current = Some(key);
        }
        let tx_type: TxType = tx_type.parse().unwrap();
        let found = replay.apply(&Entry {
            tx_type,
            amount,
            balance_after,
        });
        if found.iter().any(|v| {
            matches!(
                v,
                rez_db::domain::ledger::LedgerViolation::ChainBreak { .. }
            )
        }) {
            breaks.insert(id);
        }
    }
    if let Some((w, c, m)) = current {
        balances.insert((w, c, m, replay.balance()));
    }
    (balances, breaks)
}
