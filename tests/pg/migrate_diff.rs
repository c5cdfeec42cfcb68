//! `migrate diff` (issue 15): the live schema against the schema its applied
//! migrations produce in a shadow database.

use super::common::{connect, server_url, stderr, stdout, TestDb};
use super::migrate_workflow::{json, shadow_running, shadows};

/// `(kind, object_kind, object)` of every difference of a `--json` report.
pub(super) fn differences(report: &serde_json::Value) -> Vec<(String, String, String)> {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["kind"].as_str().unwrap().to_string(),
                d["object_kind"].as_str().unwrap().to_string(),
                d["object"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn difference<'a>(report: &'a serde_json::Value, object: &str) -> &'a serde_json::Value {
    report["differences"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["object"] == object)
        .unwrap_or_else(|| panic!("no difference on {object}: {report}"))
}

#[tokio::test]
async fn diff_reports_nothing_on_a_migrated_database_and_every_planted_drift_by_kind() {
    let db = TestDb::clean("mdiff").await;
    let out = db.rez(&["--json", "migrate", "diff"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let report = json(&out);
    assert_eq!(differences(&report), []);
    assert_eq!(report["expected_schema"], "shadow_build", "{report}");
    assert_eq!(report["versions"].as_array().unwrap().len(), 14);
    assert!(report["compared"].as_u64().unwrap() > 100, "{report}");
    assert_eq!(report["repeatables_not_reproduced"], serde_json::json!([]));
    let human = db.rez(&["migrate", "diff"]).output().unwrap();
    assert!(
        stdout(&human)
            .contains("the schema is what its 14 applied migration(s) (newest 0014) produce"),
        "{}",
        stdout(&human)
    );

    let mut conn = db.conn().await;
    sqlx::raw_sql(
        "CREATE INDEX idx_users_by_hand ON users (full_name); \
         ALTER TABLE users ALTER COLUMN profile_picture_url TYPE varchar(500); \
         ALTER TABLE offers DROP CONSTRAINT offers_discount_value_nonnegative; \
         ALTER TABLE offers DISABLE TRIGGER set_updated_at; \
         ALTER POLICY merchant_isolation ON merchants USING (true); \
         CREATE OR REPLACE FUNCTION set_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN NEW.updated_at := clock_timestamp(); RETURN NEW; END $$;",
    )
    .execute(&mut conn)
    .await
    .unwrap();
    // A unique index built concurrently on duplicate data fails and stays, INVALID.
    let invalid = sqlx::raw_sql(
        "CREATE UNIQUE INDEX CONCURRENTLY idx_offers_status_invalid ON offers (status)",
    )
    .execute(&mut conn)
    .await;
    assert!(
        invalid.is_err(),
        "the fixture must hold two offers of one status"
    );

    let out = db.rez(&["--json", "migrate", "diff"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report = json(&out);
    // The expected schema the clean run built was cached: the drifts are
    // found against the cached copy.
    assert_eq!(report["expected_schema"], "cache", "{report}");
    let s = |k: &str, o: &str, n: &str| (k.to_string(), o.to_string(), n.to_string());
    assert_eq!(
        differences(&report),
        [
            s("changed", "column", "public.users.profile_picture_url"),
            s(
                "missing",
                "constraint",
                "public.offers.offers_discount_value_nonnegative"
            ),
            s("extra", "index", "public.idx_offers_status_invalid"),
            s("extra", "index", "public.idx_users_by_hand"),
            s("changed", "trigger", "public.offers.set_updated_at"),
            s("changed", "policy", "public.merchants.merchant_isolation"),
            s("changed", "function", "public.set_updated_at()"),
        ],
        "exactly the planted drifts: {report}"
    );
    let column = difference(&report, "public.users.profile_picture_url");
    assert!(
        column["expected"].as_str().unwrap().starts_with("text"),
        "{column}"
    );
    assert!(
        column["actual"]
            .as_str()
            .unwrap()
            .starts_with("character varying(500)"),
        "{column}"
    );
    let check = difference(&report, "public.offers.offers_discount_value_nonnegative");
    assert!(
        check["expected"].as_str().unwrap().contains("CHECK"),
        "{check}"
    );
    assert!(check["actual"].is_null(), "{check}");
    let index = difference(&report, "public.idx_offers_status_invalid");
    assert!(
        index["actual"].as_str().unwrap().ends_with(" INVALID"),
        "{index}"
    );
    let trigger = difference(&report, "public.offers.set_updated_at");
    assert!(
        trigger["actual"].as_str().unwrap().ends_with(" DISABLED"),
        "{trigger}"
    );
    assert!(
        !trigger["expected"].as_str().unwrap().contains("DISABLED"),
        "{trigger}"
    );
    let policy = difference(&report, "public.merchants.merchant_isolation");
    assert!(
        policy["actual"].as_str().unwrap().contains("USING (true)"),
        "{policy}"
    );
    let function = difference(&report, "public.set_updated_at()");
    assert!(
        function["actual"]
            .as_str()
            .unwrap()
            .contains("clock_timestamp()"),
        "{function}"
    );
    assert!(
        function["expected"].as_str().unwrap().contains("now()"),
        "{function}"
    );

    let human = db.rez(&["migrate", "diff"]).output().unwrap();
    assert_eq!(human.status.code(), Some(1));
    assert!(
        stdout(&human).contains("extra index public.idx_users_by_hand: CREATE INDEX"),
        "{}",
        stdout(&human)
    );
    assert!(
        stdout(&human).contains("7 difference(s)"),
        "{}",
        stdout(&human)
    );
}

#[tokio::test]
async fn diff_refuses_a_database_without_history() {
    let db = TestDb::empty("mdiff_none").await;
    let out = db.rez(&["migrate", "diff"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("no migration history"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("migrate baseline"),
        "{}",
        stderr(&out)
    );
}

/// Runs `migrate diff` on a database whose one migration, in a shadow
/// database only, sleeps `sleep` seconds then fails when `fail`; sends
/// `signal` once the shadow runs it; returns the exit code and asserts the
/// shadow is gone when rez-db has exited.
async fn diff_with_a_shadow(label: &str, sleep: u32, fail: bool, signal: Option<&str>) -> i32 {
    // Made by `create`: the extensions a shadow database is given are there.
    let db = TestDb::unborn(label);
    db.rez(&["create"]).assert().success();
    let dir = tempfile::tempdir().unwrap();
    let marker = format!("rez_diff_test_{}_{label}", std::process::id());
    let raise = match fail {
        true => "RAISE EXCEPTION 'fails in the shadow';",
        false => "",
    };
    std::fs::write(
        dir.path().join("0001_shadow_only.sql"),
        format!(
            "DO $$ BEGIN /* {marker} */ IF current_database() LIKE 'rez\\_shadow\\_%' THEN \
             PERFORM pg_sleep({sleep}); {raise} END IF; END $$;\n"
        ),
    )
    .unwrap();
    let migrations = dir.path().display().to_string();
    db.rez(&["migrate", "--migrations", &migrations])
        .assert()
        .success();
    let mut child = db
        .command(&["migrate", "diff", "--migrations", &migrations])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut admin = connect(&server_url()).await;
    let shadow = shadow_running(&mut admin, &marker).await;
    if let Some(signal) = signal {
        let status = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }
    let exit = child.wait().unwrap();
    assert!(
        !shadows(&mut admin).await.contains(&shadow),
        "{label}: the shadow {shadow} must be dropped before rez-db exits"
    );
    exit.code().unwrap()
}

#[tokio::test]
async fn the_shadow_database_is_gone_after_success_failure_and_sigterm() {
    assert_eq!(diff_with_a_shadow("mdiff_ok", 2, false, None).await, 0);
    assert_eq!(diff_with_a_shadow("mdiff_fail", 2, true, None).await, 5);
    assert_eq!(
        diff_with_a_shadow("mdiff_term", 60, false, Some("-TERM")).await,
        143
    );
}
