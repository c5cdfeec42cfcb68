//! The worked example of fixtures/csv/legacy/: an old system's export
//! (Windows-1252 users with naive times and `\N`, merchants, wallets with
//! branded coins, their ledger, orders and payments), imported by one
//! manifest in the order of its references, validated before the commit,
//! and read back exactly. A file that breaks a cross-table invariant rolls
//! everything back, naming the violation as `validate` does.

use std::path::Path;

use sqlx::PgConnection;

use super::common::{repo_path, stderr, stdout, TestDb};

const FLAGS: [&str; 6] = [
    "--encoding",
    "windows-1252",
    "--timezone",
    "Asia/Kolkata",
    "--null",
    "\\N",
];

/// Runs the manifest in `dir` with the example's flags and `extra`.
fn import(db: &TestDb, dir: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let manifest = dir.join("manifest.yaml");
    let rejects = tempfile::tempdir().unwrap();
    let mut args = vec![
        "--json",
        "import-csv",
        "--manifest",
        manifest.to_str().unwrap(),
        "--rejects",
        rejects.path().to_str().unwrap(),
    ];
    args.extend_from_slice(&FLAGS);
    args.extend_from_slice(extra);
    let out = db.rez(&args).output().unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code().unwrap(), doc)
}

async fn counts(conn: &mut PgConnection) -> Vec<i64> {
    let mut out = Vec::new();
    for table in [
        "users",
        "merchants",
        "wallets",
        "wallet_transactions",
        "orders",
        "payments",
    ] {
        let n: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM {table}"))
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        out.push(n);
    }
    out
}

/// A copy of the example, to change a file of.
fn copy_of_example() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(repo_path("fixtures/csv/legacy")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    dir
}

#[tokio::test]
async fn the_legacy_export_imports_end_to_end_and_reads_back_exactly() {
    let db = TestDb::migrated("legacy_example").await;
    let (code, report) = import(&db, &repo_path("fixtures/csv/legacy"), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        report["order"],
        serde_json::json!([
            "users",
            "merchants",
            "wallets",
            "orders",
            "payments",
            "wallet_transactions"
        ])
    );
    let validation = &report["validation"];
    assert_eq!(
        (&validation["errors"], &validation["warnings"]),
        (&0.into(), &0.into()),
        "{validation}"
    );
    let ran: Vec<&str> = validation["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    for id in [
        "wallet.balance",
        "wallet.branded",
        "wallet.lifetime",
        "ledger.chain",
        "order.paid_payment",
        "conservation.coins",
    ] {
        assert!(ran.contains(&id), "{id} did not run: {ran:?}");
    }
    let mut conn = db.conn().await;
    assert_eq!(counts(&mut conn).await, [3, 1, 3, 5, 2, 2]);
    let users: Vec<(String, Option<String>, String, Option<String>, i64)> = sqlx::query_as(
        "SELECT phone, email, full_name, date_of_birth::text, floor(extract(epoch FROM created_at))::bigint \
         FROM users ORDER BY phone",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        users,
        [
            // 2019-03-04 10:20:30 in India is 04:50:30 UTC.
            (
                "+919833300001".into(),
                Some("rohan@example.com".into()),
                "Rohan D\u{2019}Souza".into(),
                Some("1988-02-14".into()),
                1551675030
            ),
            (
                "+919833300002".into(),
                None,
                "Zo\u{eb} \u{201c}Zee\u{201d} Fernandes".into(),
                None,
                1605964500
            ),
            (
                "+919833300003".into(),
                Some("anil@example.com".into()),
                "Anil \u{2013} Kumar".into(),
                Some("1975-06-30".into()),
                1609439400
            ),
        ]
    );
    let millis: i64 = sqlx::query_scalar(
        "SELECT (extract(milliseconds FROM created_at))::bigint FROM users WHERE phone = '+919833300002'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(millis, 250);
    let merchant: String = sqlx::query_scalar("SELECT business_name FROM merchants")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(merchant, "Caf\u{e9} Mocha");
    let wallet: (i32, String, serde_json::Value) = sqlx::query_as(
        "SELECT rez_coins_balance, cash_balance::text, branded_coins FROM wallets \
         WHERE id = 'cccccccc-0000-4000-8000-000000000001'",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        wallet,
        (
            85,
            "250.00".to_string(),
            serde_json::json!({"bbbbbbbb-0000-4000-8000-000000000001": {"balance": 20, "earned": 20, "spent": 0}})
        )
    );
    let ledger: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS'), description \
         FROM wallet_transactions ORDER BY id",
    )
    .fetch_all(&mut conn)
    .await
    .unwrap();
    assert_eq!(
        ledger[0],
        (
            "2019-03-05 03:30:00".into(),
            Some("Welcome \u{2013} bonus".into())
        )
    );
    assert_eq!(ledger[3].1.as_deref(), Some("Migrated cash \u{20ac}-free"));
    assert_eq!(ledger[4].1, None);
    let completed: Vec<Option<String>> =
        sqlx::query_scalar("SELECT completed_at::text FROM payments ORDER BY id")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(completed[1], None);

    // The same export again: every row is already there, nothing changes.
    let (code, report) = import(&db, &repo_path("fixtures/csv/legacy"), &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(counts(&mut conn).await, [3, 1, 3, 5, 2, 2]);
}

#[tokio::test]
async fn a_broken_invariant_found_before_the_commit_rolls_everything_back() {
    let db = TestDb::migrated("legacy_violation").await;
    let dir = copy_of_example();
    let wallets = dir.path().join("wallets.csv");
    let text = std::fs::read(&wallets).unwrap();
    let text = String::from_utf8_lossy(&text).replacen(",85,100,15,", ",90,100,15,", 1);
    std::fs::write(&wallets, text.as_bytes()).unwrap();

    let (code, report) = import(&db, dir.path(), &[]);
    assert_eq!(code, 1, "{report}");
    let validation = &report["validation"];
    assert!(validation["errors"].as_u64().unwrap() >= 1, "{validation}");
    let balance = validation["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "wallet.balance")
        .unwrap();
    assert_eq!(balance["violations"], 1);
    assert_eq!(
        balance["shown"][0],
        serde_json::json!({
            "table": "wallets",
            "entity": "cccccccc-0000-4000-8000-000000000001",
            "expected": "rez_coins_balance = 85",
            "actual": "rez_coins_balance = 90",
        })
    );
    for file in report["files"].as_array().unwrap() {
        assert_eq!(file["loaded"], 0, "{file}");
    }
    let mut conn = db.conn().await;
    assert_eq!(counts(&mut conn).await, [0, 0, 0, 0, 0, 0]);

    // The human report lists it as validate does.
    let manifest = dir.path().join("manifest.yaml");
    let mut args = vec!["import-csv", "--manifest", manifest.to_str().unwrap()];
    args.extend_from_slice(&FLAGS);
    let out = db.rez(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("everything was rolled back, nothing was loaded"),
        "{text}"
    );
    assert!(text.contains("rez_coins_balance = 90"), "{text}");

    // --no-validate skips the checks: the rows load as they are.
    let (code, report) = import(&db, dir.path(), &["--no-validate"]);
    assert_eq!(code, 0, "{report}");
    assert!(report.get("validation").is_none(), "{report}");
    assert_eq!(counts(&mut conn).await, [3, 1, 3, 5, 2, 2]);
}

/// Imports `text` as a file of `table` (with the example's flags); (exit
/// code, the rejects as `line|column|code`).
fn import_one(db: &TestDb, table: &str, text: &str) -> (i32, Vec<String>, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(format!("{table}.csv"));
    std::fs::write(&file, text).unwrap();
    let rejects = dir.path().join("rejects.csv");
    let mut args = vec![
        "--json",
        "import-csv",
        "--table",
        table,
        file.to_str().unwrap(),
        "--rejects",
        rejects.to_str().unwrap(),
    ];
    args.extend_from_slice(&FLAGS);
    let out = db.rez(&args).output().unwrap();
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    let mut reader = csv::Reader::from_path(&rejects).unwrap();
    let found = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            format!("{}|{}|{}", &r[0], &r[1], r[2].split(':').next().unwrap())
        })
        .collect();
    (out.status.code().unwrap(), found, doc)
}

#[tokio::test]
async fn the_tables_that_come_with_the_wallets_load_with_their_rules() {
    let db = TestDb::migrated("legacy_tables").await;
    let (code, report) = import(&db, &repo_path("fixtures/csv/legacy"), &[]);
    assert_eq!(code, 0, "{report}");
    let (u1, u2, u3) = (
        "aaaaaaaa-0000-4000-8000-000000000001",
        "aaaaaaaa-0000-4000-8000-000000000002",
        "aaaaaaaa-0000-4000-8000-000000000003",
    );
    let (m1, w1) = (
        "bbbbbbbb-0000-4000-8000-000000000001",
        "cccccccc-0000-4000-8000-000000000001",
    );
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "wallets",
            format!(
                "user_id,branded_coins\n{u1},{{}}\n\
                 aaaaaaaa-0000-4000-8000-000000000009,{{}}\n\
                 {u2},\"{{\"\"not-a-merchant\"\": {{\"\"balance\"\": 1}}}}\"\n\
                 {u3},\"{{\"\"{m1}\"\": {{\"\"balance\"\": -5}}}}\"\n"
            ),
            vec![
                "2|user_id|duplicate_in_table",
                "4|branded_coins|bad_branded_coins",
                "5|branded_coins|bad_branded_coins",
                "3|user_id|foreign_key",
            ],
        ),
        (
            "promo_coins",
            format!(
                "wallet_id,user_id,amount,remaining_balance,expires_at,is_expired\n\
                 {w1},{u1},100,40,2030-01-01 00:00:00,false\n\
                 {w1},{u1},100,150,2030-01-01 00:00:00,false\n\
                 {w1},{u1},100,10,2020-01-01 00:00:00,true\n"
            ),
            vec![
                "3|remaining_balance|promo_lot_bounds",
                "4|remaining_balance|promo_lot_bounds",
            ],
        ),
        (
            "merchant_outlets",
            format!(
                "merchant_id,outlet_name,address_line1,city,state,pincode,latitude,longitude\n\
                 {m1},Caf\u{e9} Mocha MG Road,1 MG Road,Bengaluru,Karnataka,560001,12.97,77.60\n\
                 {m1},Nowhere,2 Pole Road,North,Pole,000000,91.0,0\n"
            ),
            vec!["3|latitude|out_of_range"],
        ),
        (
            "user_addresses",
            format!(
                "user_id,label,address_line1,city,state,pincode\n\
                 {u1},home,5 Brigade Road,Bengaluru,Karnataka,560025\n\
                 {u2},holiday,1 Beach Road,Goa,Goa,403001\n"
            ),
            vec!["3|label|not_allowed"],
        ),
        (
            "referrals",
            format!(
                "referrer_id,referee_id,referral_code,status\n\
                 {u1},{u3},ROHAN10,completed\n\
                 {u1},{u2},ROHAN10,lost\n"
            ),
            vec!["3|status|not_allowed"],
        ),
        (
            "user_loyalty",
            format!("user_id,lifetime_spend,total_orders\n{u1},252.00,1\n{u1},0,0\n{u2},-1.00,0\n"),
            vec![
                "4|lifetime_spend|out_of_range",
                "3|user_id|duplicate_in_file",
            ],
        ),
    ];
    for (table, text, expected) in cases {
        let (code, mut found, report) = import_one(&db, table, &text);
        assert_eq!(code, 1, "{table}: {report}");
        found.sort();
        let mut expected: Vec<String> = expected.into_iter().map(String::from).collect();
        expected.sort();
        assert_eq!(found, expected, "{table}: {report}");
        // Every user of the example has its wallet already.
        let loaded = if table == "wallets" { 0 } else { 1 };
        assert_eq!(report["loaded"], loaded, "{table}: {report}");
    }

    // A redemption's arithmetic, and its offer, order and merchant references.
    let mut conn = db.conn().await;
    sqlx::query(
        "INSERT INTO offers (id, merchant_id, title, offer_type, discount_value, valid_from, valid_until) \
         VALUES ('44444444-0000-4000-8000-0000000000aa', $1, 'Ten off', 'discount_fixed', 10, \
                 '2019-01-01', '2030-01-01')",
    )
    .bind(uuid::Uuid::parse_str(m1).unwrap())
    .execute(&mut conn)
    .await
    .unwrap();
    let offer = "44444444-0000-4000-8000-0000000000aa";
    let (code, mut found, report) = import_one(
        &db,
        "offer_redemptions",
        &format!(
            "offer_id,user_id,merchant_id,order_id,original_amount,discount_amount,final_amount\n\
             {offer},{u1},{m1},eeeeeeee-0000-4000-8000-000000000001,252.00,10.00,242.00\n\
             {offer},{u1},{m1},,252.00,10.00,240.00\n\
             {offer},{u1},{m1},eeeeeeee-0000-4000-8000-000000000099,100.00,10.00,90.00\n"
        ),
    );
    assert_eq!(code, 1, "{report}");
    found.sort();
    assert_eq!(
        found,
        [
            "3|final_amount|redemption_arithmetic",
            "4|order_id|foreign_key"
        ]
    );
    let finals: Vec<String> =
        sqlx::query_scalar("SELECT final_amount::text FROM offer_redemptions")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(finals, ["242.00"]);
}

#[tokio::test]
async fn one_file_with_validate_is_checked_against_the_tables_before_its_commit() {
    let db = TestDb::migrated("legacy_validate_one").await;
    let (code, report) = import(&db, &repo_path("fixtures/csv/legacy"), &[]);
    assert_eq!(code, 0, "{report}");
    // A coin credited to wallet 3 in the ledger alone: its balance stays 50.
    let row = "id,wallet_id,user_id,transaction_type,coin_type,amount,balance_after,created_at\n\
               dddddddd-0000-4000-8000-000000000009,cccccccc-0000-4000-8000-000000000003,\
               aaaaaaaa-0000-4000-8000-000000000003,earn,rez,10,60,2021-01-03 08:00:00\n";
    let mut with = vec!["--validate"];
    with.extend_from_slice(&FLAGS);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ledger.csv");
    std::fs::write(&file, row).unwrap();
    let file = file.to_str().unwrap();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "--json",
            "import-csv",
            "--table",
            "wallet_transactions",
            file,
        ];
        args.extend_from_slice(extra);
        let out = db.rez(&args).output().unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        (out.status.code().unwrap(), doc)
    };
    let (code, report) = run(&with);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["loaded"], 0, "{report}");
    let balance = report["validation"]["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == "wallet.balance")
        .unwrap();
    assert_eq!(
        balance["shown"][0]["entity"],
        "cccccccc-0000-4000-8000-000000000003"
    );
    assert_eq!(balance["shown"][0]["expected"], "rez_coins_balance = 60");
    let mut conn = db.conn().await;
    assert_eq!(counts(&mut conn).await[3], 5);
    // Without it, one file is loaded as it is (validate finds it later).
    let (code, report) = run(&FLAGS);
    assert_eq!(code, 0, "{report}");
    assert_eq!(counts(&mut conn).await[3], 6);
}
