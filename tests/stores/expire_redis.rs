//! `expire-coins` honours the application's Redis wallet lock
//! (`lock:wallet:{user_id}`): a wallet whose lock is held is left for the next
//! run, and the run's own locks are released afterwards.

use ::redis::AsyncCommands;

use crate::support::Stores;

const W1: &str = "40000000-0000-4000-8000-000000000001";
const U1: &str = "10000000-0000-4000-8000-000000000001";

#[tokio::test]
async fn a_held_redis_wallet_lock_defers_that_wallet() {
    let s = Stores::with_clean_pg("expire_redis").await;
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
