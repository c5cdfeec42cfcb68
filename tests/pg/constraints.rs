//! The schema enforces what the reference says it enforces: CHECKs, foreign
//! keys and cascades, the delete guard on users with money, and the audit and
//! updated_at triggers. References into partitioned tables are checked
//! references (docs/schema.md): the database accepts them and `validate`
//! reports dangling ones.

use sqlx::postgres::PgDatabaseError;
use sqlx::PgConnection;
use uuid::Uuid;

use super::common::{stderr, TestDb};

/// How the server refused `sql`: `SQLSTATE constraint`, None when it ran.
async fn refusal(conn: &mut PgConnection, sql: &str) -> Option<String> {
    let e = sqlx::raw_sql(sql).execute(conn).await.err()?;
    let e = pg_error(&e);
    Some(format!("{} {}", e.code(), e.constraint().unwrap_or("-")))
}

fn pg_error(e: &sqlx::Error) -> &PgDatabaseError {
    e.as_database_error()
        .unwrap_or_else(|| panic!("not a database error: {e}"))
        .downcast_ref::<PgDatabaseError>()
}

async fn new_user(conn: &mut PgConnection, phone: &str) -> Uuid {
    sqlx::query_scalar(
        "INSERT INTO users (phone, email) VALUES ($1, $1 || '@example.com') RETURNING id",
    )
    .bind(phone.trim_start_matches('+'))
    .fetch_one(conn)
    .await
    .unwrap()
}

#[tokio::test]
async fn checks_foreign_keys_and_cascades_hold() {
    let db = TestDb::migrated("constraints").await;
    let mut conn = db.conn().await;

    // CHECK valid_email, valid_phone and valid_status (23514 = check_violation).
    assert_eq!(
        refusal(
            &mut conn,
            "INSERT INTO users (phone, email) VALUES ('+919876543210', 'not-an-email')"
        )
        .await
        .as_deref(),
        Some("23514 valid_email")
    );
    assert_eq!(
        refusal(&mut conn, "INSERT INTO users (phone) VALUES ('12345')")
            .await
            .as_deref(),
        Some("23514 valid_phone")
    );
    assert_eq!(
        refusal(
            &mut conn,
            "INSERT INTO users (phone, status) VALUES ('+919876543210', 'frozen')"
        )
        .await
        .as_deref(),
        Some("23514 valid_status")
    );

    let user = new_user(&mut conn, "+919876543210").await;
    // Duplicate phone: UNIQUE (23505).
    assert_eq!(
        refusal(
            &mut conn,
            "INSERT INTO users (phone) VALUES ('919876543210')"
        )
        .await
        .as_deref(),
        Some("23505 idx_users_phone")
    );

    // FK enforced (23503), and users -> user_addresses cascades.
    let ghost = Uuid::new_v4();
    assert_eq!(
        refusal(
            &mut conn,
            &format!("INSERT INTO user_addresses (user_id, address_line1, city, state, pincode) VALUES ('{ghost}', 'x', 'Pune', 'MH', '411001')")
        )
        .await
        .as_deref(),
        Some("23503 user_addresses_user_id_fkey")
    );
    sqlx::query("INSERT INTO user_addresses (user_id, address_line1, city, state, pincode) VALUES ($1, '1 MG Road', 'Pune', 'MH', '411001')")
        .bind(user)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(&mut conn)
        .await
        .unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM user_addresses WHERE user_id = $1")
        .bind(user)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(left, 0, "users -> user_addresses must cascade");
}

#[tokio::test]
async fn a_user_with_money_cannot_be_deleted() {
    let db = TestDb::migrated("guard").await;
    let mut conn = db.conn().await;
    let user = new_user(&mut conn, "+919800000001").await;
    sqlx::query("INSERT INTO wallets (user_id, rez_coins_balance) VALUES ($1, 10)")
        .bind(user)
        .execute(&mut conn)
        .await
        .unwrap();
    let err = sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(&mut conn)
        .await
        .unwrap_err();
    // The guard is a trigger, not a constraint: it raises 23503 itself, and
    // the error's context names it (no other trigger or key refuses this).
    let err = pg_error(&err);
    assert_eq!(err.code(), "23503", "{err}");
    assert!(
        err.r#where()
            .is_some_and(|w| w.contains("function public.refuse_user_delete_with_balance()")),
        "{:?}",
        err.r#where()
    );
    assert!(
        err.message().contains("still holds a balance"),
        "{}",
        err.message()
    );

    sqlx::query("UPDATE wallets SET rez_coins_balance = 0 WHERE user_id = $1")
        .bind(user)
        .execute(&mut conn)
        .await
        .unwrap();
    sqlx::query("DELETE FROM users WHERE id = $1")
        .bind(user)
        .execute(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn references_into_orders_are_checked_not_enforced() {
    let db = TestDb::migrated("checkedref").await;
    let mut conn = db.conn().await;
    let user = new_user(&mut conn, "+919800000002").await;
    // docs/schema.md: payments.order_id is a checked reference; the database
    // accepts a dangling one and `validate` reports it.
    let order = Uuid::new_v4();
    let payment: Uuid = sqlx::query_scalar("INSERT INTO payments (order_id, user_id, gateway, amount) VALUES ($1, $2, 'razorpay', 10.00) RETURNING id")
        .bind(order)
        .bind(user)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let indexed: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_indexes WHERE tablename = 'payments' AND indexdef LIKE '%(order_id)%')")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert!(indexed, "a checked reference still needs its index");

    let out = db.rez(&["--json", "validate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let found: Vec<String> = report["checks"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|check| {
            check["shown"].as_array().unwrap().iter().map(move |v| {
                format!(
                    "{} | {} | {} | {} | {}",
                    check["id"].as_str().unwrap(),
                    v["table"].as_str().unwrap(),
                    v["entity"].as_str().unwrap(),
                    v["expected"].as_str().unwrap(),
                    v["actual"].as_str().unwrap()
                )
            })
        })
        .collect();
    assert_eq!(
        found,
        [format!(
            "ref.payments_order | payments | {payment} | order {order} exists | no such order"
        )]
    );
}

#[tokio::test]
async fn rows_land_in_their_partition_and_unknown_periods_in_default() {
    let db = TestDb::migrated("partitions").await;
    let mut conn = db.conn().await;
    let user = new_user(&mut conn, "+919800000003").await;
    let wallet: Uuid = sqlx::query_scalar("INSERT INTO wallets (user_id) VALUES ($1) RETURNING id")
        .bind(user)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let insert = "INSERT INTO wallet_transactions (wallet_id, user_id, transaction_type, coin_type, amount, balance_after, created_at) \
                  VALUES ($1, $2, 'earn', 'rez', 5, 5, $3::timestamptz) RETURNING tableoid::regclass::text";
    let now: String = sqlx::query_scalar(insert)
        .bind(wallet)
        .bind(user)
        .bind("now")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_ne!(now, "wallet_transactions_default");
    assert!(now.starts_with("wallet_transactions_20"), "{now}");
    let old: String = sqlx::query_scalar(insert)
        .bind(wallet)
        .bind(user)
        .bind("2019-03-01")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(old, "wallet_transactions_default");
}

#[tokio::test]
async fn audit_records_only_changed_fields_with_the_actor() {
    let db = TestDb::migrated("audit").await;
    let mut conn = db.conn().await;
    sqlx::query("SET app.actor = 'dba@rez'")
        .execute(&mut conn)
        .await
        .unwrap();
    let merchant: Uuid = sqlx::query_scalar(
        "INSERT INTO merchants (business_name, primary_contact_name, primary_contact_phone, primary_contact_email, \
         address_line1, city, state, pincode, latitude, longitude) \
         VALUES ('Chai Point', 'Asha', '+919800000004', 'asha@chai.in', '1 MG Road', 'Bengaluru', 'KA', '560001', 12.9716, 77.5946) \
         RETURNING id",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    let before: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT updated_at FROM merchants WHERE id = $1")
            .bind(merchant)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    sqlx::query("UPDATE merchants SET status = 'active' WHERE id = $1")
        .bind(merchant)
        .execute(&mut conn)
        .await
        .unwrap();

    let rows: Vec<(String, Option<serde_json::Value>, Option<serde_json::Value>, Option<String>)> =
        sqlx::query_as("SELECT operation::text, old_data, new_data, changed_by::text FROM audit_log ORDER BY changed_at, operation")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let update = rows
        .iter()
        .find(|r| r.0 == "UPDATE")
        .expect("an UPDATE row");
    let new = update.2.as_ref().unwrap().as_object().unwrap();
    assert_eq!(new.get("status").and_then(|v| v.as_str()), Some("active"));
    assert_eq!(update.1.as_ref().unwrap()["status"], "pending");
    assert!(
        !new.contains_key("business_name"),
        "only changed fields: {new:?}"
    );
    assert_eq!(update.3.as_deref(), Some("dba@rez"));

    let after: chrono::DateTime<chrono::Utc> =
        sqlx::query_scalar("SELECT updated_at FROM merchants WHERE id = $1")
            .bind(merchant)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(after >= before);
    let location: bool =
        sqlx::query_scalar("SELECT location IS NOT NULL FROM merchants WHERE id = $1")
            .bind(merchant)
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(location, "the generated geography column must be filled");
}
