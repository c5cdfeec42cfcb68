//! `reindex-es` against PostgreSQL's hand-checked dataset (fixtures/sql/clean.sql):
//! a rebuild swaps the alias and keeps the last K; a document the server refuses
//! fails the run with the document named, the alias left on the old index and
//! the half-built one removed (or kept under `<name>_failed`); `--since` upserts.

use elasticsearch::http::Method;
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
