//! `reindex-es` against PostgreSQL's hand-checked dataset (fixtures/sql/clean.sql):
//! a rebuild swaps the alias and keeps the last K; a document the server refuses
//! fails the run with the document named, the alias left on the old index and
//! the half-built one removed (or kept under `<name>_failed`); `--since` upserts.

use std::time::Duration;

use elasticsearch::http::Method;
use rez_db::definitions::Definitions;
use rez_db::search::{reindex, BulkSettings, Source};
use rez_db::secret::RedactedUrl;
use serde_json::Value;

use crate::support::Stores;

const SAMOSA: &str = "22000000-0000-4000-8000-000000000002";
const CHAI: &str = "22000000-0000-4000-8000-000000000001";

async fn doc(s: &Stores, alias: &str, id: &str) -> Option<Value> {
    let es = s.es().await;
    es.call_opt(Method::Get, &format!("/{}/_doc/{id}", es.name(alias)), None)
        .await
        .unwrap()
        .map(|d| d["_source"].clone())
}

/// PostgreSQL's clock, RFC 3339.
async fn now(s: &Stores) -> String {
    let mut conn = s.db.as_ref().unwrap().conn().await;
    sqlx::query_scalar(
        "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap()
}

/// A document's `_source` exactly as the server returns it (not re-parsed).
async fn raw_source(s: &Stores, alias: &str, id: &str) -> String {
    let es = s.es().await;
    es.call_text(Method::Get, &format!("/{}/_source/{id}", es.name(alias)))
        .await
        .unwrap()
}

async fn sql(s: &Stores, statement: &str) {
    let mut conn = s.db.as_ref().unwrap().conn().await;
    sqlx::raw_sql(statement).execute(&mut conn).await.unwrap();
}

#[tokio::test]
async fn rebuilds_swap_the_alias_keep_k_and_a_refused_document_changes_nothing() {
    let s = Stores::with_clean_pg("reindex_full").await;
    s.json(&["create", "--only", "es"], 0);
    let p = s.es_prefix.clone();

    let run = s.json(&["reindex-es"], 0);
    let by_alias = |alias: &str| {
        run["indices"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["alias"] == format!("{p}{alias}"))
            .unwrap()
            .clone()
    };
    let products = by_alias("products");
    assert_eq!(products["outcome"], "swapped");
    assert_eq!(products["indexed"], 2);
    assert_eq!(products["previous"][0], format!("{p}products_v1"));
    // Every phase is timed, and the phases fit in the whole.
    let phases = [
        "prepare_ms",
        "load_ms",
        "catch_up_ms",
        "verify_ms",
        "swap_ms",
    ];
    let timed: u64 = phases
        .iter()
        .map(|k| {
            products["timings"][k]
                .as_u64()
                .unwrap_or_else(|| panic!("{k}: {products:#}"))
        })
        .sum();
    assert!(
        timed <= products["elapsed_ms"].as_u64().unwrap(),
        "{products:#}"
    );
    assert!(
        products["timings"]["load_ms"].as_u64().unwrap() > 0,
        "{products:#}"
    );
    assert_eq!(by_alias("merchants")["indexed"], 2);
    assert_eq!(by_alias("offers")["indexed"], 3);
    assert_eq!(
        s.alias_target("products").await,
        [format!("{p}products_v2")]
    );

    // Money arrives exactly as PostgreSQL holds it; the joins are there.
    let chai = doc(&s, "products", CHAI).await.unwrap();
    let raw = raw_source(&s, "products", CHAI).await;
    assert!(
        raw.contains("\"price\":40.00"),
        "money is the exact NUMERIC text: {raw}"
    );
    assert_eq!(chai["merchant_name"], "Chai Point");
    assert_eq!(chai["category"], "Cafes");
    assert!(raw.contains("\"lat\":12.97160000"), "{raw}");
    let merchant = doc(&s, "merchants", "20000000-0000-4000-8000-000000000001")
        .await
        .unwrap();
    assert_eq!(
        merchant["categories"],
        serde_json::json!(["30000000-0000-4000-8000-000000000002"])
    );
    assert_eq!(merchant["average_rating"], 4.5);

    // Two more rebuilds with --keep 1: only the newest old version stays.
    s.json(&["reindex-es", "products", "--keep", "1"], 0);
    let third = s.json(&["reindex-es", "products", "--keep", "1"], 0);
    assert_eq!(third["indices"][0]["index"], format!("{p}products_v4"));
    let versions: Vec<String> = s
        .es()
        .await
        .versions("products")
        .await
        .unwrap()
        .into_iter()
        .map(|(_, n)| n)
        .collect();
    assert_eq!(
        versions,
        [format!("{p}products_v3"), format!("{p}products_v4")]
    );

    // A document the strict server refuses: tags that are objects, not keywords.
    sql(&s, &format!("UPDATE products SET attributes = '{{\"tags\": [{{\"oops\": 1}}]}}' WHERE id = '{SAMOSA}'")).await;
    let failed = s.json(&["reindex-es", "products"], 1);
    let r = &failed["indices"][0];
    assert_eq!(r["outcome"], "failed");
    assert_eq!(r["item_errors"][0]["id"], SAMOSA, "{r:#}");
    assert_eq!(r["item_errors"][0]["status"], 400);
    assert!(r["failure"].as_str().unwrap().contains("refused"), "{r:#}");
    assert_eq!(
        s.alias_target("products").await,
        [format!("{p}products_v4")],
        "the alias stays"
    );
    assert!(
        !s.es()
            .await
            .index_exists(&format!("{p}products_v5"))
            .await
            .unwrap(),
        "the half-built index is gone"
    );
    assert!(
        doc(&s, "products", CHAI).await.is_some(),
        "searches still answer"
    );

    // --keep-failed leaves it for inspection behind <name>_failed.
    let kept = s.json(&["reindex-es", "products", "--keep-failed"], 1);
    assert!(
        kept["indices"][0]["kept_failed"]
            .as_str()
            .unwrap()
            .contains(&format!("{p}products_failed")),
        "{kept:#}"
    );
    assert_eq!(
        s.alias_target("products_failed").await,
        [format!("{p}products_v5")]
    );
    assert_eq!(
        s.alias_target("products").await,
        [format!("{p}products_v4")]
    );

    // Fixed: the next rebuild skips past the kept version and swaps.
    sql(
        &s,
        &format!(
            "UPDATE products SET attributes = '{{\"tags\": [\"snack\"]}}' WHERE id = '{SAMOSA}'"
        ),
    )
    .await;
    let ok = s.json(&["reindex-es", "products"], 0);
    assert_eq!(ok["indices"][0]["index"], format!("{p}products_v6"));
    assert_eq!(
        doc(&s, "products", SAMOSA).await.unwrap()["tags"],
        serde_json::json!(["snack"])
    );
    let v = s.json(
        &[
            "validate",
            "--only",
            "es,pg",
            "--check",
            "es.doc_count",
            "--check",
            "es.mapping",
        ],
        0,
    );
    assert_eq!(v["warnings"], 0, "{v:#}");
}

#[tokio::test]
async fn since_upserts_changed_rows_and_deletes_ineligible_ones_in_the_live_index() {
    let s = Stores::with_clean_pg("reindex_since").await;
    s.json(&["create", "--only", "es"], 0);
    s.json(&["reindex-es", "products"], 0);
    let live = s.alias_target("products").await;

    // Rows changed after a point in time (the update trigger stamps updated_at).
    let mark = now(&s).await;
    sql(
        &s,
        &format!("UPDATE products SET name = 'Masala chai (large)' WHERE id = '{CHAI}'"),
    )
    .await;
    sql(
        &s,
        &format!("UPDATE products SET is_active = false WHERE id = '{SAMOSA}'"),
    )
    .await;
    let run = s.json(&["reindex-es", "products", "--since", &mark], 0);
    let r = &run["indices"][0];
    assert_eq!(r["outcome"], "updated", "{r:#}");
    assert_eq!(r["indexed"], 1, "{r:#}");
    assert_eq!(r["deleted"], 1, "{r:#}");
    assert_eq!(
        s.alias_target("products").await,
        live,
        "no new version in --since mode"
    );
    assert_eq!(
        doc(&s, "products", CHAI).await.unwrap()["name"],
        "Masala chai (large)"
    );
    assert!(doc(&s, "products", SAMOSA).await.is_none());

    // Nothing changed since: nothing sent.
    let later = now(&s).await;
    let idle = s.json(&["reindex-es", "products", "--since", &later], 0);
    assert_eq!(idle["indices"][0]["indexed"], 0);
}

/// The generated products of the writer test: `24000000-…-<i>`.
fn product(i: usize) -> String {
    format!("24000000-0000-4000-8000-{i:012}")
}

/// The writer's bounded loop: one psql session, one transaction per step
/// (updates, deactivations, hard deletes, inserts, a savepoint, a merchant
/// and a category renamed), each followed by `\echo` so the test can count them.
fn writer_script(steps: usize) -> (String, Vec<String>, Vec<String>) {
    let mut sql = String::new();
    let (mut deleted, mut inactive) = (Vec::new(), Vec::new());
    for i in 1..=steps {
        let id = product(i);
        let step = match i % 6 {
            0 => {
                deleted.push(id.clone());
                format!("DELETE FROM products WHERE id = '{id}';")
            }
            1 => {
                inactive.push(id.clone());
                format!("UPDATE products SET is_active = false WHERE id = '{id}';")
            }
            2 => format!(
                "BEGIN; SAVEPOINT s; UPDATE products SET name = 'saved {i}' WHERE id = '{id}'; \
                 RELEASE SAVEPOINT s; COMMIT;"
            ),
            3 => format!(
                "INSERT INTO products (id, merchant_id, category_id, name, slug, price) VALUES \
                 ('{}', '20000000-0000-4000-8000-000000000001', '30000000-0000-4000-8000-000000000002', \
                  'new {i}', 'new-{i}', {i}.25);",
                product(5000 + i)
            ),
            _ => format!("UPDATE products SET name = 'renamed {i}', price = price + 1 WHERE id = '{id}';"),
        };
        sql.push_str(&step);
        sql.push_str(&revisit(i));
        if i == steps / 2 {
            sql.push_str(
                "UPDATE merchants SET business_name = 'Dosa Corner (new)' \
                 WHERE id = '20000000-0000-4000-8000-000000000002';\
                 UPDATE categories SET name = 'Cafés' WHERE id = '30000000-0000-4000-8000-000000000002';",
            );
        }
        sql.push_str(&format!(
            "\n\\echo step {i}\nSELECT pg_sleep(0.02) \\g /dev/null\n"
        ));
    }
    (sql, deleted, inactive)
}

/// Rows the writer comes back to (900, 906, 912, 918, 924: of the merchant and
/// without the category that it renames, and otherwise untouched): each in
/// the first half (while the load runs) and again in the second (while the
/// first pass runs), so that passes meet a document already overwritten, or
/// one the index holds as the row now is.
fn revisit(i: usize) -> String {
    let p = product;
    match i {
        // Deleted, then inserted again with the same id.
        10 => format!("DELETE FROM products WHERE id = '{}';", p(900)),
        80 => format!(
            "INSERT INTO products (id, merchant_id, category_id, name, slug, price) VALUES \
             ('{}', '20000000-0000-4000-8000-000000000001', NULL, 'reborn 900', 'reborn-900', 9.75);",
            p(900)
        ),
        // Unsearchable, then searchable again: the document built at the load.
        15 => format!("UPDATE products SET is_active = false WHERE id = '{}';", p(906)),
        75 => format!("UPDATE products SET is_active = true WHERE id = '{}';", p(906)),
        // Updated twice.
        20 => format!("UPDATE products SET name = 'twice a' WHERE id = '{}';", p(912)),
        90 => format!("UPDATE products SET name = 'twice b' WHERE id = '{}';", p(912)),
        // Changed, then changed back to what the load read.
        25 => format!("UPDATE products SET name = 'changed' WHERE id = '{}';", p(918)),
        85 => format!("UPDATE products SET name = 'product 918' WHERE id = '{}';", p(918)),
        // Written without a change to its document.
        30 => format!("UPDATE products SET updated_at = now() WHERE id = '{}';", p(924)),
        _ => String::new(),
    }
}

/// psql on the test's database, reading `script` from stdin, which stays
/// open (the session waits for more) until the returned handle is dropped.
fn psql(s: &Stores, script: &str) -> (std::process::Child, std::process::ChildStdin) {
    use std::io::Write;
    let url = &s.db.as_ref().unwrap().url;
    let mut child = std::process::Command::new("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .spawn()
        .expect("psql is required (Debian postgresql-client)");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(script.as_bytes()).unwrap();
    stdin.flush().unwrap();
    (child, stdin)
}

/// A `Progress` that holds the rebuild at chosen points, so the writer's
/// transactions land where the test needs them whatever the machine's speed.
struct Gate {
    url: String,
    steps: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    writer_done: std::sync::Arc<std::sync::atomic::AtomicBool>,
    /// The session holding the long transaction open, and its input.
    long: std::sync::Mutex<Option<(std::process::Child, std::process::ChildStdin)>>,
    half: usize,
    first_batch: std::sync::Once,
    before_swap: std::sync::Once,
}

impl Gate {
    fn wait(&self, what: &str, done: impl Fn() -> bool) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
        while !done() {
            assert!(
                std::time::Instant::now() < until,
                "waited too long for {what}"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
    }
}

impl rez_db::progress::Progress for Gate {
    fn advance(&self, _by: u64) {
        use std::sync::atomic::Ordering::SeqCst;
        // The first bulk batch is answered: the load's snapshot is taken. The
        // transaction that began before it commits now, and half the writer runs.
        self.first_batch.call_once(|| {
            use std::io::Write;
            let (mut child, mut stdin) = self.long.lock().unwrap().take().unwrap();
            stdin.write_all(b"COMMIT;\n").unwrap();
            drop(stdin);
            assert!(
                child.wait().unwrap().success(),
                "the long transaction failed"
            );
            self.wait("half the writer", || self.steps.load(SeqCst) >= self.half);
        });
    }

    fn note(&self, what: &str) {
        use std::sync::atomic::Ordering::SeqCst;
        // The writer keeps writing through pass 1 and ends before pass 2.
        if what.ends_with("catch-up pass 2") {
            self.wait("the writer", || self.writer_done.load(SeqCst));
        }
        // A write between the last pass and the swap.
        if what.ends_with("moving the alias") {
            self.before_swap.call_once(|| {
                let out = std::process::Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &self.url, "-c"])
                    .arg(format!(
                        "UPDATE products SET name = 'just before the swap' WHERE id = '{}'; \
                         DELETE FROM products WHERE id = '{}'",
                        product(999),
                        product(998)
                    ))
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
            });
        }
    }
}

/// Every document of `index` by id, as the server returns it.
async fn all_docs(s: &Stores, index: &str) -> std::collections::BTreeMap<String, Value> {
    let es = s.es().await;
    let found = es
        .call(
            Method::Post,
            &format!("/{index}/_search"),
            Some(&serde_json::json!({"size": 10000, "query": {"match_all": {}}})),
        )
        .await
        .unwrap();
    found["hits"]["hits"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["_id"].as_str().unwrap().to_string(), h["_source"].clone()))
        .collect()
}

/// The product the long transaction updates: of the merchant and without the
/// category the writer renames, so only its own row's change finds it.
const LONG: usize = 996;

#[tokio::test(flavor = "multi_thread", worker_threads = 3)]
async fn a_rebuild_under_a_writer_loses_no_write() {
    use std::io::BufRead;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    let s = Stores::with_clean_pg("reindex_writer").await;
    s.json(&["create", "--only", "es"], 0);
    sql(
        &s,
        "INSERT INTO products (id, merchant_id, category_id, name, slug, price, attributes) \
         SELECT ('24000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, \
                ('20000000-0000-4000-8000-00000000000' || (1 + i % 2))::uuid, \
                CASE WHEN i % 3 > 0 THEN '30000000-0000-4000-8000-000000000002'::uuid END, \
                'product ' || i, 'product-' || i, i + 0.50, \
                jsonb_build_object('tags', jsonb_build_array('t' || (i % 7))) \
         FROM generate_series(1, 1000) i",
    )
    .await;
    s.json(&["reindex-es", "products"], 0);

    // A transaction that begins before the rebuild's snapshot and commits after
    // it (in the gate): its updated_at (now(), its start) is older than the snapshot.
    let long = psql(
        &s,
        &format!(
            "BEGIN; UPDATE products SET name = 'long transaction' WHERE id = '{}';\n",
            product(LONG)
        ),
    );
    let mut watch = s.db.as_ref().unwrap().conn().await;
    let mut waited = 0;
    loop {
        let open: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE datname = current_database() \
             AND state = 'idle in transaction' AND query LIKE 'UPDATE products SET name = ''long%')",
        )
        .fetch_one(&mut watch)
        .await
        .unwrap();
        if open {
            break;
        }
        waited += 1;
        assert!(waited < 3000, "the long transaction did not start");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // A later transaction that completes first: the snapshot lists the long one
    // among those in progress, below its xmax.
    sql(
        &s,
        &format!(
            "UPDATE products SET price = price + 1 WHERE id = '{}'",
            product(995)
        ),
    )
    .await;

    let steps = 120;
    let (script, deleted, inactive) = writer_script(steps);
    let (mut writer, input) = psql(&s, &script);
    drop(input);
    let counted = Arc::new(AtomicUsize::new(0));
    let writer_done = Arc::new(AtomicBool::new(false));
    let (count, done) = (counted.clone(), writer_done.clone());
    let stdout = writer.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if line.unwrap().starts_with("step ") {
                count.fetch_add(1, SeqCst);
            }
        }
        let ok = writer.wait().unwrap().success();
        done.store(true, SeqCst);
        ok
    });

    let gate = Gate {
        url: s.db.as_ref().unwrap().url.clone(),
        steps: counted.clone(),
        writer_done: writer_done.clone(),
        long: std::sync::Mutex::new(Some(long)),
        half: steps / 2,
        first_batch: std::sync::Once::new(),
        before_swap: std::sync::Once::new(),
    };
    let es = s.es().await;
    let pg = rez_db::store::pg::Pg {
        url: RedactedUrl::parse(&s.db.as_ref().unwrap().url).unwrap(),
        connect_timeout: Duration::from_secs(5),
        lock_timeout: Duration::from_secs(5),
        statement_timeout: Duration::from_secs(60),
    };
    let options = reindex::Options {
        sources: vec![Source::Products],
        since: None,
        dry_run: false,
        keep: 5,
        keep_failed: false,
        catch_up_threshold: 1,
        bulk: BulkSettings {
            batch_docs: 100,
            concurrency: rez_db::search::Concurrency::Fixed(1),
            ..BulkSettings::default()
        },
        lock_wait: Duration::from_secs(5),
    };
    let defs = Definitions::embedded().unwrap();
    let report = reindex::run(&pg, &es, &defs, &options, &gate)
        .await
        .unwrap();
    assert!(reader.join().unwrap(), "the writer failed");
    assert!(
        gate.long.lock().unwrap().is_none(),
        "the long transaction committed"
    );

    let run = serde_json::to_value(&report.indices[0]).unwrap();
    assert_eq!(run["outcome"], "swapped", "{run:#}");
    let passes = run["catch_up"]["passes"].as_array().unwrap();
    assert!(passes.len() >= 3, "{run:#}");
    assert!(passes[0]["rows"].as_u64().unwrap() > 0, "{run:#}");
    let after = passes.last().unwrap();
    assert_eq!(after["after_swap"], true, "{run:#}");
    assert!(
        after["rows"].as_u64().unwrap() >= 1,
        "the write just before the swap: {run:#}"
    );
    assert!(
        after["vanished"].as_u64().unwrap() >= 1,
        "the delete just before the swap: {run:#}"
    );
    let built = run["index"].as_str().unwrap().to_string();
    assert_eq!(
        s.alias_target("products").await,
        std::slice::from_ref(&built)
    );

    // What reindex-es builds from the final rows, with nobody writing.
    let quiet = s.json(&["reindex-es", "products", "--keep", "5"], 0);
    let reference = quiet["indices"][0]["index"].as_str().unwrap().to_string();
    let got = all_docs(&s, &built).await;
    let want = all_docs(&s, &reference).await;
    assert!(want.len() > 900, "{}", want.len());
    for (id, doc) in &want {
        assert_eq!(got.get(id), Some(doc), "document {id}");
    }
    assert_eq!(
        got.len(),
        want.len(),
        "documents of rows no longer searchable remain"
    );
    for id in deleted.iter().chain(&inactive).chain([&product(998)]) {
        assert!(!got.contains_key(id), "{id} is deleted or unsearchable");
    }
    assert_eq!(got[&product(LONG)]["name"], "long transaction");
    assert_eq!(got[&product(999)]["name"], "just before the swap");
    assert_eq!(got[&product(2)]["name"], "saved 2");
    assert_eq!(got[&product(5003)]["name"], "new 3");
    assert_eq!(got[&product(11)]["merchant_name"], "Dosa Corner (new)");
    assert_eq!(got[&product(4)]["category"], "Cafés");
    assert_eq!(got[&product(900)]["name"], "reborn 900");
    assert_eq!(got[&product(906)]["name"], "product 906");
    assert_eq!(got[&product(912)]["name"], "twice b");
    assert_eq!(got[&product(918)]["name"], "product 918");
    assert_eq!(got[&product(924)]["name"], "product 924");
    // A row written without a change to its document (924; 906 and 918 too
    // when a pass reads them after their second write) is read, not sent.
    let unchanged: u64 = passes
        .iter()
        .filter(|p| p["after_swap"] == false)
        .map(|p| p["unchanged"].as_u64().unwrap())
        .sum();
    assert!(unchanged >= 1, "{run:#}");
}
