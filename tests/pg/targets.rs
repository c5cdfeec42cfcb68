//! `--targets GROUP`: one command on every database of a `targets:` group,
//! through the real binary. The group is four databases of the test's own:
//! two good ones, one whose migration history was tampered with (a checksum
//! that no file has, so `migrate` refuses it, exit 1), and one that does not
//! answer (a port nothing listens on, exit 3), whose URL carries a password
//! that must never be printed.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::common::{rez, stderr, stdout, TestDb};

/// A port on which nothing listens.
const NOWHERE: &str = "postgres://postgres:sekrit@127.0.0.1:1/rez_unreachable";

/// The databases of a group, and rez-db.yaml naming them as groups.
struct Group {
    good: Vec<TestDb>,
    broken: TestDb,
    dir: tempfile::TempDir,
}

impl Group {
    /// Two good databases (created, not migrated), one migrated and then
    /// tampered with.
    async fn new(label: &str) -> Group {
        let good = vec![
            TestDb::unborn(&format!("{label}_a")),
            TestDb::unborn(&format!("{label}_b")),
        ];
        for db in &good {
            db.rez(&["create"]).assert().success();
        }
        let broken = TestDb::migrated(&format!("{label}_x")).await;
        sqlx::raw_sql(
            "UPDATE rez_meta.schema_history SET checksum = repeat('0', 64) WHERE version = 3",
        )
        .execute(&mut broken.conn().await)
        .await
        .unwrap();
        Group {
            good,
            broken,
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// Writes rez-db.yaml with `groups` (name, the URLs in order) and returns its path.
    fn config(&self, groups: &[(&str, Vec<String>)]) -> PathBuf {
        let mut text = String::from("targets:\n");
        for (name, urls) in groups {
            text.push_str(&format!("  {name}:\n"));
            for url in urls {
                if url == NOWHERE {
                    // The named form, for the target whose URL names a database
                    // of no one.
                    text.push_str(&format!("    - name: nowhere\n      url: {url}\n"));
                } else {
                    text.push_str(&format!("    - {url}\n"));
                }
            }
        }
        let path = self.dir.path().join("rez-db.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn urls(&self, order: &str) -> Vec<String> {
        order
            .chars()
            .map(|c| match c {
                'a' => self.good[0].url.clone(),
                'b' => self.good[1].url.clone(),
                'x' => self.broken.url.clone(),
                'n' => NOWHERE.to_string(),
                _ => unreachable!(),
            })
            .collect()
    }
}

/// `rez-db --json ARGS --config CONFIG`: the exit code and the one document.
fn run_json(config: &Path, args: &[&str]) -> (Option<i32>, Value, String) {
    let mut all = vec!["--json", "--config", config.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = rez(&all).output().unwrap();
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}):\n{}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        )
    });
    let printed = format!("{}{}", stdout(&out), stderr(&out));
    (out.status.code(), doc, printed)
}

/// (name, state, exit code) of every row.
fn rows(doc: &Value) -> Vec<(String, String, Option<i64>)> {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["name"].as_str().unwrap().to_string(),
                r["state"].as_str().unwrap().to_string(),
                r["exit_code"].as_i64(),
            )
        })
        .collect()
}

/// How many migrations the database's history holds (0 without a history).
async fn applied(db: &TestDb) -> i64 {
    let mut conn = db.conn().await;
    let exists: bool =
        sqlx::query_scalar("SELECT to_regclass('rez_meta.schema_history') IS NOT NULL")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    if !exists {
        return 0;
    }
    sqlx::query_scalar("SELECT count(*) FROM rez_meta.schema_history")
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

fn row<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == name)
        .unwrap_or_else(|| panic!("no row {name}: {doc:#}"))
}

#[tokio::test]
async fn keep_going_migrates_the_good_targets_and_names_the_bad_ones() {
    let g = Group::new("tg_keep").await;
    let config = g.config(&[("shards", g.urls("axnb"))]);
    let metrics = g.dir.path().join("rez.prom");
    let (code, doc, printed) = run_json(
        &config,
        &[
            "migrate",
            "--targets",
            "shards",
            "--keep-going",
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    // The worst of 0, 1 (the tampered history) and 3 (unreachable).
    assert_eq!(code, Some(3), "{doc:#}");
    let (a, b, x) = (&g.good[0].name, &g.good[1].name, &g.broken.name);
    assert_eq!(
        rows(&doc),
        [
            (a.clone(), "ok".into(), Some(0)),
            (x.clone(), "problems".into(), Some(1)),
            ("nowhere".into(), "failed".into(), Some(3)),
            (b.clone(), "ok".into(), Some(0)),
        ]
    );
    for db in &g.good {
        assert!(applied(db).await > 0, "{} was not migrated", db.name);
        let done = &row(&doc, &db.name)["report"]["applied"];
        assert!(done.as_array().is_some_and(|a| !a.is_empty()), "{doc:#}");
    }
    let broken = row(&doc, x);
    assert!(
        broken["error"]["message"]
            .as_str()
            .unwrap()
            .contains("was edited after it was applied"),
        "{broken:#}"
    );
    let nowhere = row(&doc, "nowhere");
    assert_eq!(
        nowhere["url"],
        "postgres://postgres:***@127.0.0.1:1/rez_unreachable"
    );
    assert_eq!(nowhere["error"]["kind"], "unreachable");
    assert!(!printed.contains("sekrit"), "{printed}");
    // The document's shape.
    assert_eq!(doc["command"], "migrate");
    assert_eq!(doc["group"], "shards");
    assert_eq!(doc["options"]["parallel"], 2);
    assert_eq!(doc["options"]["keep_going"], true);
    assert_eq!(
        doc["total"],
        serde_json::json!({"targets": 4, "ok": 2, "problems": 1, "failed": 1, "skipped": 0, "exit_code": 3})
    );
    for r in doc["targets"].as_array().unwrap() {
        assert!(
            r["started_at"].is_string() && r["finished_at"].is_string(),
            "{r:#}"
        );
        assert!(!r["summary"].as_str().unwrap().is_empty(), "{r:#}");
    }
    // Each target keeps its own operations log: the good ones record a
    // successful migrate.
    for db in &g.good {
        let code: i32 = sqlx::query_scalar(
            "SELECT exit_code FROM rez_meta.operations WHERE command = 'migrate'",
        )
        .fetch_one(&mut db.conn().await)
        .await
        .unwrap();
        assert_eq!(code, 0);
    }
    // One set of series per target, labelled by server and database.
    let prom = std::fs::read_to_string(&metrics).unwrap();
    for name in [a, b, x] {
        assert!(
            prom.contains(&format!("target=\"127.0.0.1:5432/{name}\"")),
            "{name}: {prom}"
        );
    }
    assert!(
        prom.contains("target=\"127.0.0.1:1/rez_unreachable\""),
        "{prom}"
    );
    assert!(!prom.contains("sekrit"));

    // The human form: a row per target and the total.
    let out = rez(&[
        "--config",
        config.to_str().unwrap(),
        "migrate",
        "--check",
        "--targets",
        "shards",
        "--keep-going",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let text = stdout(&out);
    assert!(text.contains(&format!("== {a} (")), "{text}");
    assert!(
        text.contains("migrate on `shards`: 4 target(s), 2 ok, 1 found problems, 1 failed, 0 not started; exit 3 (the worst)"),
        "{text}"
    );
    assert!(!text.contains("sekrit") && !stderr(&out).contains("sekrit"));
}

#[tokio::test]
async fn without_keep_going_the_first_failure_starts_no_new_target() {
    let g = Group::new("tg_stop").await;
    let config = g.config(&[("shards", g.urls("axbn"))]);
    let (code, doc, _) = run_json(
        &config,
        &["migrate", "--targets", "shards", "--parallel", "1"],
    );
    assert_eq!(code, Some(1), "{doc:#}");
    let states: Vec<String> = rows(&doc).into_iter().map(|r| r.1).collect();
    assert_eq!(states, ["ok", "problems", "skipped", "skipped"]);
    assert_eq!(row(&doc, "nowhere")["exit_code"], Value::Null);
    assert!(applied(&g.good[0]).await > 0);
    assert_eq!(applied(&g.good[1]).await, 0, "b must not have been started");
    assert_eq!(doc["total"]["skipped"], 2);
}

#[tokio::test]
async fn a_failing_canary_migrates_nothing_else() {
    let g = Group::new("tg_canary").await;
    let config = g.config(&[("shards", g.urls("xab"))]);
    let (code, doc, _) = run_json(
        &config,
        &[
            "migrate",
            "--targets",
            "shards",
            "--canary",
            "1",
            "--keep-going",
        ],
    );
    assert_eq!(code, Some(1), "{doc:#}");
    let states: Vec<String> = rows(&doc).into_iter().map(|r| r.1).collect();
    assert_eq!(states, ["problems", "skipped", "skipped"]);
    assert_eq!(row(&doc, &g.broken.name)["canary"], true);
    for db in &g.good {
        assert_eq!(
            applied(db).await,
            0,
            "{} must not have been migrated",
            db.name
        );
    }
    // A canary that passes lets the rest go.
    let config = g.config(&[("good", g.urls("ab"))]);
    let (code, doc, _) = run_json(&config, &["migrate", "--targets", "good", "--canary", "1"]);
    assert_eq!(code, Some(0), "{doc:#}");
    for db in &g.good {
        assert!(applied(db).await > 0);
    }
}

/// The most rows whose [started, finished] intervals overlap at one instant.
fn most_at_once(doc: &Value) -> usize {
    let spans: Vec<(String, String)> = doc["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["started_at"].as_str().unwrap().to_string(),
                r["finished_at"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let time = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
    spans
        .iter()
        .map(|(start, _)| {
            spans
                .iter()
                .filter(|(s, f)| time(s) <= time(start) && time(start) < time(f))
                .count()
        })
        .max()
        .unwrap()
}

#[tokio::test]
async fn parallel_bounds_the_targets_at_once_and_status_and_validate_cover_the_group() {
    let g = Group::new("tg_par").await;
    for db in &g.good {
        db.rez(&["migrate"]).assert().success();
    }
    let config = g.config(&[("all", g.urls("axbn"))]);
    for parallel in ["1", "2"] {
        let (code, doc, _) = run_json(
            &config,
            &[
                "migrate",
                "status",
                "--targets",
                "all",
                "--parallel",
                parallel,
                "--keep-going",
            ],
        );
        assert_eq!(code, Some(3), "{doc:#}");
        let most = most_at_once(&doc);
        assert!(
            most <= parallel.parse().unwrap(),
            "--parallel {parallel}: {most} at once: {doc:#}"
        );
    }
    // status: each database's own state; the unreachable one by name.
    let (code, doc, printed) = run_json(&config, &["status", "--targets", "all", "--keep-going"]);
    assert_eq!(code, Some(3), "{doc:#}");
    assert_eq!(row(&doc, &g.good[0].name)["state"], "ok");
    assert_eq!(row(&doc, "nowhere")["exit_code"], 3);
    assert!(!printed.contains("sekrit"));
    // validate: read-only, so without --keep-going only a failure to look
    // (exit 3) stops new targets, and findings would not.
    let config = g.config(&[("good", g.urls("ab")), ("all", g.urls("anb"))]);
    let (code, doc, _) = run_json(&config, &["validate", "--targets", "good"]);
    assert_eq!(
        code.map(i64::from),
        doc["total"]["exit_code"].as_i64(),
        "{doc:#}"
    );
    assert_eq!(doc["total"]["failed"], 0, "{doc:#}");
    assert_eq!(doc["total"]["targets"], 2);
    let (code, doc, _) = run_json(
        &config,
        &["validate", "--targets", "all", "--parallel", "1"],
    );
    assert_eq!(code, Some(3), "{doc:#}");
    let states: Vec<String> = rows(&doc).into_iter().map(|r| r.1).collect();
    assert_eq!(states[1..], ["failed", "skipped"]);

    // The nightly jobs run on each database of the group, and a backup puts
    // each into its own folder.
    for args in [
        &["partition-rotate", "--targets", "good"][..],
        &["expire-coins", "--targets", "good"][..],
    ] {
        let (code, doc, _) = run_json(&config, args);
        assert_eq!(code, Some(0), "{args:?}: {doc:#}");
        assert_eq!(doc["total"]["ok"], 2, "{args:?}: {doc:#}");
    }
    let to = g.dir.path().join("backups");
    let (code, doc, _) = run_json(
        &config,
        &["backup", "--targets", "good", "--to", to.to_str().unwrap()],
    );
    assert_eq!(code, Some(0), "{doc:#}");
    for db in &g.good {
        assert!(
            to.join(&db.name).join("manifest.json").is_file(),
            "no backup of {}: {doc:#}",
            db.name
        );
    }
}
