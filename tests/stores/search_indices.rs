//! Elasticsearch provisioning: `<name>_v1` behind the alias `<name>` for each
//! file, idempotent; a live mapping that differs from the file is drift; a bad
//! definition file is exit 2 naming file, line and fix, before any connection.

use elasticsearch::http::Method;
use serde_json::json;

use crate::common::{repo_path, stderr};
use crate::support::{rows, Stores};

#[tokio::test]
async fn create_builds_versioned_indices_behind_aliases_and_is_idempotent() {
    let s = Stores::new("es_create").await;
    let doc = s.json(&["create", "--only", "es"], 0);
    let es_rows = rows(&doc, "objects", "elasticsearch");
    let p = &s.es_prefix;
    for name in ["merchants", "offers", "products"] {
        assert!(
            es_rows.contains(&(
                "index".into(),
                format!("{p}{name}_v1"),
                "created".into(),
                String::new()
            )),
            "{es_rows:?}"
        );
        assert_eq!(s.alias_target(name).await, [format!("{p}{name}_v1")]);
    }
    // The strict server accepted every file, analysis included.
    let es = s.es().await;
    let settings = es.settings(&format!("{p}merchants_v1")).await.unwrap();
    assert!(
        settings
            .pointer("/analysis/analyzer/autocomplete")
            .is_some(),
        "{settings:#}"
    );
    let mapping = es.mapping(&format!("{p}products_v1")).await.unwrap();
    assert_eq!(
        mapping.pointer("/properties/price/type").unwrap(),
        "scaled_float"
    );

    let again = s.json(&["create", "--only", "es"], 0);
    assert!(
        rows(&again, "objects", "elasticsearch")
            .iter()
            .all(|r| r.2 == "exists"),
        "{again:#}"
    );
    let v = s.json(
        &[
            "validate",
            "--only",
            "es",
            "--check",
            "es.mapping",
            "--check",
            "es.settings",
        ],
        0,
    );
    assert_eq!(v["errors"], 0, "{v:#}");
}

#[tokio::test]
async fn a_live_mapping_that_differs_from_the_file_is_drift() {
    let s = Stores::new("es_drift").await;
    s.json(&["create", "--only", "es"], 0);
    let es = s.es().await;
    let odd = format!("{}products_v9", s.es_prefix);
    es.call(Method::Put, &format!("/{odd}"), Some(&json!({"mappings": {"properties": {"id": {"type": "keyword"}, "price": {"type": "float"}}}})))
        .await
        .unwrap();
    es.swap_alias("products", &[format!("{}products_v1", s.es_prefix)], &odd)
        .await
        .unwrap();

    let check = s.json(&["migrate", "--only", "es", "--check"], 1);
    let drift: Vec<_> = rows(&check, "stores", "elasticsearch")
        .into_iter()
        .filter(|r| r.2 == "drift")
        .collect();
    assert_eq!(drift.len(), 1, "{check:#}");
    assert!(
        drift[0]
            .3
            .contains("price: type scaled_float (file) vs float (server)"),
        "{drift:?}"
    );
    assert!(drift[0].3.contains("reindex-es products"), "{drift:?}");

    let v = s.json(&["validate", "--only", "es", "--check", "es.mapping"], 1);
    let shown = &v["checks"][0]["shown"];
    assert!(
        shown
            .as_array()
            .unwrap()
            .iter()
            .any(|x| x["entity"] == format!("{odd}.price")),
        "{v:#}"
    );
}

#[tokio::test]
async fn a_bad_definition_file_is_exit_2_naming_file_line_and_fix() {
    let s = Stores::new("es_badfile").await;
    let dir = tempfile::tempdir().unwrap();
    for sub in ["mongo-indexes", "es-mappings"] {
        std::fs::create_dir(dir.path().join(sub)).unwrap();
        for f in std::fs::read_dir(repo_path(sub)).unwrap() {
            let f = f.unwrap().path();
            std::fs::copy(&f, dir.path().join(sub).join(f.file_name().unwrap())).unwrap();
        }
    }
    std::fs::copy(
        repo_path("redis-layout.toml"),
        dir.path().join("redis-layout.toml"),
    )
    .unwrap();
    // The reference's merchants mapping: an analyzer it does not define.
    std::fs::write(
        dir.path().join("es-mappings/merchants.json"),
        "{\n  \"mappings\": {\n    \"properties\": {\n      \"business_name\": {\"type\": \"text\", \"fields\": {\n        \"autocomplete\": {\"type\": \"text\", \"analyzer\": \"autocomplete\"}}}\n    }\n  }\n}\n",
    )
    .unwrap();
    let out = s
        .rez(&[
            "create",
            "--only",
            "es",
            "--definitions",
            dir.path().to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(
            "merchants.json:5: field `business_name.autocomplete` uses analyzer `autocomplete`"
        ),
        "{err}"
    );
    assert!(err.contains("settings.analysis"), "{err}");
    assert!(
        s.alias_target("merchants").await.is_empty(),
        "nothing was created"
    );
}
