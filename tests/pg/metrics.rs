//! `--metrics-file` and `metrics_file:` (README, "Metrics for cron"): every
//! run rewrites the file in the Prometheus text format, which a real parser
//! (the `prometheus-parse` crate) reads back after a success, a run that found
//! problems (1), a run refused for a held lock (4), an unreachable server (3)
//! and a file that cannot be written (5); each run replaces only its own series.

use std::path::Path;

use prometheus_parse::{Scrape, Value};

use super::common::{rez, stderr, stdout, TestDb};

/// "REZD" and the expiry scope of src/store/pg/lock.rs.
const REZD: i32 = 1_380_276_804;
const EXPIRY: i32 = 3;

/// The file parsed by a real Prometheus text-format parser, after checking the
/// rules that parser does not: every family's HELP and TYPE come once, before
/// its samples, which are all together.
fn scrape(path: &Path) -> Scrape {
    let text = std::fs::read_to_string(path).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut current = String::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let name = rest.split(' ').next().unwrap().to_string();
            assert_eq!(rest, format!("{name} gauge"), "{text}");
            assert!(seen.insert(name.clone()), "{name} typed twice:\n{text}");
            current = name;
        } else if let Some(rest) = line.strip_prefix("# HELP ") {
            let name = rest.split(' ').next().unwrap();
            assert!(
                !seen.contains(name),
                "HELP of {name} after its TYPE:\n{text}"
            );
        } else {
            let name = line.split(['{', ' ']).next().unwrap();
            assert_eq!(name, current, "sample outside its family:\n{text}");
        }
    }
    let scrape = Scrape::parse(text.lines().map(|l| Ok(l.to_string()))).unwrap();
    assert_eq!(
        scrape.samples.len(),
        text.lines().filter(|l| !l.starts_with('#')).count(),
        "every sample line parsed:\n{text}"
    );
    scrape
}

/// The value of `metric` for `command` (and the extra labels), if present.
fn value(scrape: &Scrape, metric: &str, command: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && s.labels.get("command") == Some(command))
        .filter(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match s.value {
            Value::Gauge(v) => v,
            ref other => panic!("{metric} is not a gauge: {other:?}"),
        })
        .collect();
    assert!(found.len() <= 1, "{metric} {command} {labels:?}: {found:?}");
    found.first().copied()
}

fn run(db: &TestDb, args: &[&str]) -> std::process::Output {
    db.rez(args).output().unwrap()
}

#[tokio::test]
async fn every_run_records_itself_and_keeps_the_other_commands_series() {
    let db = TestDb::clean("metrics").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("rez-db.prom");
    let metrics = file.to_str().unwrap();
    let target = db.url.split_once('@').unwrap().1;

    // Success: expire-coins with what it did.
    let out = run(
        &db,
        &[
            "--json",
            "--metrics-file",
            metrics,
            "expire-coins",
            "--now",
            "2099-06-01",
        ],
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let s = scrape(&file);
    let expired = report["coins"].as_i64().unwrap();
    assert!(
        expired > 0,
        "the clean dataset has a lot due by 2099: {report}"
    );
    assert_eq!(
        value(&s, "rez_db_coins_expired", "expire-coins", &[]),
        Some(expired as f64)
    );
    assert_eq!(
        value(&s, "rez_db_last_exit_code", "expire-coins", &[]),
        Some(0.0)
    );
    let success = value(
        &s,
        "rez_db_last_success_timestamp_seconds",
        "expire-coins",
        &[],
    )
    .unwrap();
    let ran = value(&s, "rez_db_last_run_timestamp_seconds", "expire-coins", &[]).unwrap();
    assert_eq!(success, ran);
    assert!(value(&s, "rez_db_duration_seconds", "expire-coins", &[]).unwrap() > 0.0);
    assert!(
        s.samples
            .iter()
            .all(|x| x.labels.get("target") == Some(target)),
        "{target}"
    );

    // Found problems (exit 1), the file named in rez-db.yaml this time.
    sqlx::raw_sql(
        "UPDATE payments SET amount = 145.00 WHERE id = '51000000-0000-4000-8000-000000000002'",
    )
    .execute(&mut db.conn().await)
    .await
    .unwrap();
    let config = dir.path().join("rez-db.yaml");
    std::fs::write(&config, format!("metrics_file: {metrics}\n")).unwrap();
    let out = run(
        &db,
        &[
            "--config",
            config.to_str().unwrap(),
            "validate",
            "--only",
            "pg",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let s = scrape(&file);
    assert_eq!(
        value(&s, "rez_db_last_exit_code", "validate", &[]),
        Some(1.0)
    );
    assert_eq!(
        value(&s, "rez_db_last_success_timestamp_seconds", "validate", &[]),
        None
    );
    let paid = [("check", "order.paid_payment"), ("severity", "error")];
    assert_eq!(value(&s, "rez_db_violations", "validate", &paid), Some(1.0));
    let chain = [("check", "ledger.chain"), ("severity", "error")];
    assert_eq!(
        value(&s, "rez_db_violations", "validate", &chain),
        Some(0.0)
    );
    // The other command's series are still there.
    assert_eq!(
        value(&s, "rez_db_coins_expired", "expire-coins", &[]),
        Some(expired as f64)
    );

    // Lock held (exit 4): the run replaces its series, keeps its last success.
    let mut holder = db.conn().await;
    sqlx::query("SELECT pg_advisory_lock($1, $2)")
        .bind(REZD)
        .bind(EXPIRY)
        .execute(&mut holder)
        .await
        .unwrap();
    let out = run(&db, &["--metrics-file", metrics, "expire-coins"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    let s = scrape(&file);
    assert_eq!(
        value(&s, "rez_db_last_exit_code", "expire-coins", &[]),
        Some(4.0)
    );
    assert_eq!(
        value(
            &s,
            "rez_db_last_success_timestamp_seconds",
            "expire-coins",
            &[]
        ),
        Some(success)
    );
    assert!(value(&s, "rez_db_last_run_timestamp_seconds", "expire-coins", &[]).unwrap() >= ran);
    assert_eq!(
        value(&s, "rez_db_coins_expired", "expire-coins", &[]),
        None,
        "no report"
    );
    assert_eq!(
        value(&s, "rez_db_last_exit_code", "validate", &[]),
        Some(1.0)
    );
    drop(holder);

    // Unreachable (exit 3): a series of its own target.
    let out = rez(&[
        "--metrics-file",
        metrics,
        "status",
        "--only",
        "pg",
        "--database-url",
        "postgres://rez:hunter2@127.0.0.1:1/rez",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let s = scrape(&file);
    let unreachable = s
        .samples
        .iter()
        .find(|x| x.metric == "rez_db_last_exit_code" && x.labels.get("command") == Some("status"))
        .unwrap();
    assert_eq!(unreachable.labels.get("target"), Some("127.0.0.1:1/rez"));
    assert_eq!(unreachable.value, Value::Gauge(3.0));
    assert!(!std::fs::read_to_string(&file).unwrap().contains("hunter2"));
    assert_eq!(
        value(&s, "rez_db_last_exit_code", "validate", &[]),
        Some(1.0)
    );
}

#[tokio::test]
async fn a_metrics_file_that_cannot_be_written_fails_a_run_that_succeeded() {
    let db = TestDb::migrated("metricsro").await;
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("no-such-folder").join("rez-db.prom");
    let out = run(
        &db,
        &[
            "--metrics-file",
            file.to_str().unwrap(),
            "migrate",
            "status",
        ],
    );
    assert_eq!(out.status.code(), Some(5), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write the metrics file"),
        "{}",
        stderr(&out)
    );
    // The command's own output is there all the same.
    assert!(!stdout(&out).is_empty());
}
