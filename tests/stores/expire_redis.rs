//! `expire-coins` honours the application's Redis wallet lock
//! (`lock:wallet:{user_id}`): a wallet whose lock is held is left for the next
//! run, and the run's own locks are released afterwards; on a Redis Cluster
//! the locks are taken and released slot by slot.

use ::redis::AsyncCommands;

use crate::redis_tests;
use crate::support::{RedisKind, Stores};

redis_tests!(
    a_held_redis_wallet_lock_defers_that_wallet,
    in_one_batch_only_the_wallet_whose_lock_is_held_waits
);

const W1: &str = "40000000-0000-4000-8000-000000000001";
const U1: &str = "10000000-0000-4000-8000-000000000001";

async fn a_held_redis_wallet_lock_defers_that_wallet(kind: RedisKind) {
    let s = Stores::with_clean_pg_on("expire_redis", kind).await;
    let mut r = s.redis().await;
    let lock = format!("{}lock:wallet:{{{U1}}}", s.redis_prefix);
    let _: () = r.set_ex(&lock, "tx-in-flight", 30).await.unwrap();

    let busy = s.json(&["expire-coins", "--now", "2099-06-01T00:00:00Z"], 0);
    assert_eq!(busy["busy"], serde_json::json!([W1]));
    assert_eq!(busy["coins"], 0);
    let held: String = r.get(&lock).await.unwrap();
    assert_eq!(
        held, "tx-in-flight",
        "another holder's lock is never touched"
    );

    let _: () = r.del(&lock).await.unwrap();
    let done = s.json(&["expire-coins", "--now", "2099-06-01T00:00:00Z"], 0);
    assert_eq!(
        (
            done["coins"].as_i64(),
            done["busy"].as_array().map(Vec::len)
        ),
        (Some(40), Some(0))
    );
    let left: bool = r.exists(&lock).await.unwrap();
    assert!(!left, "the run releases the locks it took");
}

async fn in_one_batch_only_the_wallet_whose_lock_is_held_waits(kind: RedisKind) {
    let s = Stores::with_clean_pg_on("expire_redis_batch", kind).await;
    // Ravi's wallet also holds due coins: 18 left of a lot due 2026-02-01 and 20 due 2099.
    let mut conn = s.db.as_ref().unwrap().conn().await;
    sqlx::raw_sql(include_str!("../../fixtures/sql/expire_w2_lots.sql"))
        .execute(&mut conn)
        .await
        .unwrap();
    let mut r = s.redis().await;
    let ravi = format!(
        "{}lock:wallet:{{10000000-0000-4000-8000-000000000002}}",
        s.redis_prefix
    );
    let asha = format!("{}lock:wallet:{{{U1}}}", s.redis_prefix);
    let _: () = r.set_ex(&ravi, "tx-in-flight", 30).await.unwrap();

    let first = s.json(&["expire-coins", "--now", "2099-06-01T00:00:00Z"], 0);
    assert_eq!(
        first["busy"],
        serde_json::json!(["40000000-0000-4000-8000-000000000002"])
    );
    assert_eq!(
        (first["coins"].as_i64(), first["batches"].as_u64()),
        (Some(40), Some(1))
    );
    let held: String = r.get(&ravi).await.unwrap();
    assert_eq!(held, "tx-in-flight");
    let left: bool = r.exists(&asha).await.unwrap();
    assert!(!left, "the lock the run took is released");

    let _: () = r.del(&ravi).await.unwrap();
    let second = s.json(&["expire-coins", "--now", "2099-06-01T00:00:00Z"], 0);
    assert_eq!(
        (second["coins"].as_i64(), second["wallets"].as_u64()),
        (Some(38), Some(1))
    );
}
