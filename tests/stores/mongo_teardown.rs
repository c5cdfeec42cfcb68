//! The end of a MongoDB client against the end of the runtime, as `main`
//! ends a run: the driver's drop of a client's last handle spawns a task that
//! ends its server sessions, and a runtime torn down right after may drop the
//! connection pool under that task, which then panics in the driver
//! (`connection_requester.rs`, "SendError"): exit 255 after a command that
//! succeeded. rez-db shuts every client down first (`store::mongo::close_all`).

use std::collections::HashMap;
use std::sync::{Mutex, Once};
use std::time::Duration;

use mongodb::bson::doc;
use rez_db::secret::RedactedUrl;

use crate::support::mongo_server;

/// The driver's pool panics seen in this test binary, by the name of the
/// thread they happened on (each test names its runtime's threads: the tests
/// run at the same time).
static POOL_PANICS: Mutex<Option<HashMap<String, usize>>> = Mutex::new(None);

/// The threads of the test that expects the driver's panics.
const EXPECTED: &str = "teardown-driver";

fn pool_panics(thread: &str) -> usize {
    let seen = POOL_PANICS.lock().unwrap_or_else(|p| p.into_inner());
    seen.as_ref()
        .and_then(|m| m.get(thread))
        .copied()
        .unwrap_or(0)
}

fn count_pool_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if info.to_string().contains("SendError") {
                let thread = std::thread::current().name().unwrap_or("").to_string();
                let expected = thread == EXPECTED;
                let mut seen = POOL_PANICS.lock().unwrap_or_else(|p| p.into_inner());
                *seen
                    .get_or_insert_with(HashMap::new)
                    .entry(thread)
                    .or_default() += 1;
                // The first test's panics are its point: counted, not printed.
                if expected {
                    return;
                }
            }
            previous(info);
        }));
    });
}

/// Sessions for the driver to end: commands run on a client.
async fn use_client(db: &mongodb::Database) {
    for _ in 0..4 {
        db.run_command(doc! {"ping": 1}).await.unwrap();
        db.collection::<mongodb::bson::Document>("teardown")
            .count_documents(doc! {})
            .await
            .unwrap();
    }
}

/// `runs` lives of a run, each on its own runtime (threads named `thread`)
/// torn down as `main` does; the pool panics they caused.
fn runs(
    thread: &str,
    runs: usize,
    life: impl Fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()>>>,
) -> usize {
    count_pool_panics();
    for _ in 0..runs {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .thread_name(thread)
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(life());
        runtime.shutdown_timeout(Duration::from_secs(1));
    }
    pool_panics(thread)
}

fn uri() -> String {
    format!("{}/rez_test_teardown", mongo_server().trim_end_matches('/'))
}

/// Runs, and clients per run: the race is rare (about 1 run in 200 with one
/// client on this 2-core machine), so each run ends several clients at once;
/// 60 runs of 8 clients met it 4 to 6 times, so 100 runs make a miss of the
/// first test (and a pass of the second without the fix) unlikely, while
/// keeping the load they put on the other store tests short.
const RUNS: usize = 100;
const CLIENTS: usize = 8;

/// What happened before the fix: the driver's own end of a client, then the
/// runtime's. This shows the race exists, so that the next test can fail.
#[test]
fn clients_dropped_just_before_the_runtime_make_the_driver_panic() {
    let panics = runs(EXPECTED, RUNS, || {
        Box::pin(async {
            let mut clients = Vec::new();
            for _ in 0..CLIENTS {
                let client = mongodb::Client::with_uri_str(uri()).await.unwrap();
                use_client(&client.database("rez_test_teardown")).await;
                clients.push(client);
            }
        })
    });
    assert!(
        panics > 0,
        "no pool panic in {RUNS} runs of {CLIENTS} clients"
    );
}

#[test]
fn close_all_leaves_the_driver_nothing_to_panic_in() {
    let panics = runs("teardown-close-all", RUNS, || {
        Box::pin(async {
            let url = RedactedUrl::parse(&uri()).unwrap();
            let mut handles = Vec::new();
            for _ in 0..CLIENTS {
                let mongo = rez_db::store::mongo::connect(&url, Duration::from_secs(5))
                    .await
                    .unwrap();
                mongo.shut_down_at_exit();
                use_client(mongo.database()).await;
                handles.push(mongo);
            }
            drop(handles);
            rez_db::store::mongo::close_all(Duration::from_secs(3)).await;
        })
    });
    assert_eq!(panics, 0, "pool panics in {RUNS} runs of {CLIENTS} clients");
}
