//! The command-line contract, through the real binary, with no datastore:
//! every `--help` (snapshots), exit codes, configuration errors, redaction.

#[path = "../common/mod.rs"]
mod common;

use common::{repo_path, rez, stderr, stdout};

mod lint;

fn help(args: &[&str]) -> String {
    let out = rez(args).output().unwrap();
    assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    stdout(&out)
}

#[test]
fn every_help_is_snapshotted() {
    insta::assert_snapshot!("help", help(&["--help"]));
    insta::assert_snapshot!("help_create", help(&["create", "--help"]));
    insta::assert_snapshot!("help_migrate", help(&["migrate", "--help"]));
    insta::assert_snapshot!("help_seed", help(&["seed", "--help"]));
    insta::assert_snapshot!("help_import_csv", help(&["import-csv", "--help"]));
    insta::assert_snapshot!("help_validate", help(&["validate", "--help"]));
    insta::assert_snapshot!("help_reindex_es", help(&["reindex-es", "--help"]));
    insta::assert_snapshot!("help_status", help(&["status", "--help"]));
    insta::assert_snapshot!("help_backup", help(&["backup", "--help"]));
    insta::assert_snapshot!("help_backup_prune", help(&["backup", "prune", "--help"]));
    insta::assert_snapshot!("help_restore", help(&["restore", "--help"]));
    insta::assert_snapshot!("help_expire_coins", help(&["expire-coins", "--help"]));
    insta::assert_snapshot!(
        "help_partition_rotate",
        help(&["partition-rotate", "--help"])
    );
    insta::assert_snapshot!("help_audit", help(&["audit", "--help"]));
    for sub in ["enable", "disable", "status", "log"] {
        insta::assert_snapshot!(format!("help_audit_{sub}"), help(&["audit", sub, "--help"]));
    }
    insta::assert_snapshot!("help_lint", help(&["lint", "--help"]));
    insta::assert_snapshot!(
        "help_migrate_status",
        help(&["migrate", "status", "--help"])
    );
    for sub in ["new", "revert", "baseline", "diff"] {
        insta::assert_snapshot!(
            format!("help_migrate_{sub}"),
            help(&["migrate", sub, "--help"])
        );
    }
}

#[test]
fn help_lists_only_working_commands() {
    let text = help(&["--help"]);
    let commands: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        // A command starts at column 2; wrapped descriptions are indented further.
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(
        commands,
        [
            "create",
            "migrate",
            "seed",
            "import-csv",
            "expire-coins",
            "partition-rotate",
            "audit",
            "validate",
            "reindex-es",
            "backup",
            "restore",
            "status",
            "lint",
            "help"
        ]
    );
}

#[test]
fn validate_list_needs_no_database_and_matches_the_docs() {
    let out = rez(&["--json", "validate", "--list"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids: Vec<&str> = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    let invariants = std::fs::read_to_string(repo_path("docs/invariants.md")).unwrap();
    for id in &ids {
        assert!(
            invariants.contains(&format!("| `{id}` |")),
            "{id} undocumented"
        );
    }
    assert!(ids.contains(&"ledger.chain") && ids.contains(&"order.total"));
    // A set-based check shows its query (a benchmark times it alone); a pass has none.
    let sql_of = |id: &str| {
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["id"] == id)
            .unwrap()
            .get("sql")
            .cloned()
    };
    let owner = sql_of("ledger.owner").expect("ledger.owner is SQL");
    assert!(
        owner.as_str().unwrap().contains("wallet_transactions"),
        "{owner}"
    );
    assert_eq!(sql_of("ledger.chain"), None);
    let out = rez(&["validate", "--check", "no.such.check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("validate --list"), "{}", stderr(&out));
}

#[test]
fn usage_errors_exit_2() {
    rez(&["no-such-command"]).assert().code(2);
    rez(&["migrate", "--dry-run", "--check"]).assert().code(2);
    rez(&["migrate", "--target", "abc"]).assert().code(2);
    rez(&["seed", "--synthetic", "--scale", "10"])
        .assert()
        .code(2);
    rez(&["seed", "--scale", "10", "--rng-seed", "1"])
        .assert()
        .code(2);
    rez(&["seed", "--redis-only", "--dry-run"]).assert().code(2);
    rez(&["seed", "--synthetic", "--scale", "0", "--rng-seed", "1"])
        .assert()
        .code(2);
    let out = rez(&[
        "seed",
        "--synthetic",
        "--scale",
        "1",
        "--rng-seed",
        "1",
        "--now",
        "yesterday",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("RFC 3339"), "{}", stderr(&out));
}

#[test]
fn unknown_config_key_names_file_line_and_key() {
    let file = repo_path("fixtures/config/invalid/unknown_key.yaml");
    let out = rez(&["--config", file.to_str().unwrap(), "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown_key.yaml:4:"), "{err}");
    assert!(err.contains("databse_url"), "{err}");
    assert!(err.contains("valid keys:"), "{err}");
}

#[test]
fn wrong_value_type_names_the_key_path() {
    let file = repo_path("fixtures/config/invalid/wrong_type.yaml");
    let out = rez(&["--config", file.to_str().unwrap(), "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("wrong_type.yaml:3:"), "{err}");
    assert!(err.contains("lock_wait_secs"), "{err}");
}

#[test]
fn bad_url_in_config_names_line_and_hides_password() {
    let file = repo_path("fixtures/config/invalid/bad_url.yaml");
    let out = rez(&["--config", file.to_str().unwrap(), "create"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("bad_url.yaml:3: key `database_url`"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn missing_config_file_is_a_usage_error() {
    let out = rez(&["--config", "/nonexistent/rez-db.yaml", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("/nonexistent/rez-db.yaml"));
}

#[test]
fn unreachable_server_exits_3_with_password_redacted() {
    let out = rez(&[
        "migrate",
        "status",
        "--database-url",
        "postgres://rez:hunter2@127.0.0.1:1/rez",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("postgres://rez:***@127.0.0.1:1/rez"), "{err}");
    assert!(!err.contains("hunter2"), "{err}");
}

#[test]
fn json_errors_are_one_document_on_stdout() {
    let out = rez(&[
        "--json",
        "migrate",
        "--database-url",
        "postgres://rez:hunter2@127.0.0.1:1/rez",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["error"]["exit_code"], 3);
    assert_eq!(doc["error"]["kind"], "unreachable");
    assert!(!stdout(&out).contains("hunter2"));
}

#[test]
fn argument_errors_are_exit_2_and_under_json_one_document() {
    // A value clap refuses is quoted back: the password in it must not be.
    let args = [
        "--json",
        "create",
        "--only",
        "postgres://rez:hunter2@127.0.0.1/rez",
    ];
    let out = rez(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let doc: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("stdout is one JSON document");
    assert_eq!(doc["error"]["exit_code"], 2);
    assert_eq!(doc["error"]["kind"], "usage");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(message.contains("--only"), "{message}");
    assert!(stderr(&out).contains("--only"), "{}", stderr(&out));
    for text in [stdout(&out), stderr(&out)] {
        assert!(!text.contains("hunter2"), "{text}");
    }

    // Without --json, stdout stays empty: clap's message is on stderr alone.
    let out = rez(&["migrate", "--no-such-flag"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    assert!(stderr(&out).contains("--no-such-flag"), "{}", stderr(&out));
}

#[test]
fn profile_selects_its_settings_and_env_beats_the_file() {
    let file = repo_path("fixtures/config/valid/profiles.yaml");
    let file = file.to_str().unwrap();
    let out = rez(&["--config", file, "--profile", "ci", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let err = stderr(&out);
    assert!(err.contains("ci_user:***@127.0.0.1:1/rez_ci"), "{err}");
    assert!(!err.contains("ci-secret"), "{err}");

    let out = rez(&["--config", file, "--profile", "ci", "migrate", "status"])
        .env("DATABASE_URL", "postgres://env_user@127.0.0.1:1/from_env")
        .output()
        .unwrap();
    assert!(
        stderr(&out).contains("env_user@127.0.0.1:1/from_env"),
        "{}",
        stderr(&out)
    );

    let out = rez(&["--config", file, "--profile", "nope", "migrate", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("known profiles: ci"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn drop_without_yes_and_without_a_terminal_refuses() {
    let out = rez(&[
        "create",
        "--drop",
        "--database-url",
        "postgres://postgres@127.0.0.1:1/x",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
}

#[test]
fn status_refuses_a_mongodb_database_that_is_no_single_valid_segment() {
    // Port 1: a request would end in exit 3; the refusal comes before any.
    let long = format!("mongodb://127.0.0.1:1/{}", "d".repeat(65));
    for uri in ["mongodb://127.0.0.1:1/logs_a/../admin", long.as_str()] {
        let out = rez(&["status", "--only", "mongo", "--mongodb-uri", uri])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{uri}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("a MongoDB database name is"),
            "{uri}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn a_postgres_database_path_that_is_no_single_segment_is_refused_before_any_request() {
    // `..` would be resolved by URL parsing: `restore --force` would drop
    // `postgres` while the user named `rez/../postgres`.
    for url in [
        "postgres://u:s3cret@127.0.0.1:1/rez/../postgres",
        "postgres://u:s3cret@127.0.0.1:1/..",
    ] {
        let out = rez(&["status", "--only", "pg", "--database-url", url])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{url}: {}", stderr(&out));
        assert!(
            stderr(&out)
                .contains("a PostgreSQL database URL names its database as one path segment"),
            "{url}: {}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("s3cret"), "{}", stderr(&out));
    }
}

#[test]
fn status_refuses_an_es_index_prefix_that_is_no_index_name() {
    for prefix in ["x_*", "../", "/_doc/"] {
        let out = rez(&[
            "status",
            "--only",
            "es",
            "--elasticsearch-url",
            "http://127.0.0.1:1",
            "--es-index-prefix",
            prefix,
        ])
        .output()
        .unwrap();
        assert_eq!(out.status.code(), Some(2), "{prefix}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("Elasticsearch index name"),
            "{prefix}: {}",
            stderr(&out)
        );
    }
}

#[test]
fn migrate_status_takes_the_store_flags_of_migrate() {
    let out = rez(&[
        "migrate",
        "status",
        "--only",
        "pg",
        "--database-url",
        "postgres://rez@127.0.0.1:1/rez",
    ])
    .output()
    .unwrap();
    // Unreachable (3), not an unknown flag (2).
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
}

#[test]
fn every_now_takes_a_date_or_rfc3339_and_names_both_when_bad() {
    let commands: [&[&str]; 3] = [
        &["expire-coins", "--dry-run"],
        &["partition-rotate", "--dry-run"],
        &["seed", "--synthetic", "--scale", "1", "--rng-seed", "1"],
    ];
    for command in commands {
        for (now, code) in [
            ("2031-06-15", 3),
            ("2031-06-15T10:00:00+05:30", 3),
            ("2031-13-01", 2),
            ("2031-06-15 10:00", 2),
        ] {
            let out = rez(command)
                .args([
                    "--now",
                    now,
                    "--database-url",
                    "postgres://rez@127.0.0.1:1/rez",
                ])
                .output()
                .unwrap();
            // Accepted (3: the server is unreachable) or refused as usage (2).
            assert_eq!(
                out.status.code(),
                Some(code),
                "{command:?} --now {now}: {}",
                stderr(&out)
            );
            if code == 2 {
                let err = stderr(&out);
                assert!(
                    err.contains("RFC 3339 time like 2026-01-15T10:00:00Z")
                        && err.contains("date like 2026-01-15 (midnight UTC)"),
                    "{command:?} --now {now}: {err}"
                );
            }
        }
    }
}

/// A backup directory `name` under `root` whose manifest says it started at `at`.
fn fake_backup(root: &std::path::Path, name: &str, at: &str) {
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("postgres")).unwrap();
    std::fs::write(dir.join("postgres/toc.dat"), "toc").unwrap();
    let manifest = serde_json::json!({
        "format": 1, "tool": "rez-db", "tool_version": "test",
        "started_at": at, "finished_at": at, "stores": [],
    });
    std::fs::write(dir.join("manifest.json"), manifest.to_string()).unwrap();
}

fn names_in(root: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn backup_prune_keeps_what_a_rule_keeps_asks_and_spares_incomplete_backups() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // Two a day on 1, 2 and 4 March; names that sort against time.
    for (name, at) in [
        ("f", "2026-03-01T06:00:00Z"),
        ("e", "2026-03-01T18:00:00Z"),
        ("d", "2026-03-02T06:00:00Z"),
        ("c", "2026-03-02T18:00:00Z"),
        ("b", "2026-03-04T06:00:00Z"),
        ("a", "2026-03-04T18:00:00Z"),
    ] {
        fake_backup(root, name, at);
    }
    std::fs::create_dir(root.join("interrupted")).unwrap();
    std::fs::write(root.join("interrupted/keys.bin"), "x").unwrap();
    std::fs::write(root.join("notes.txt"), "not a backup").unwrap();
    let all = names_in(root);
    let root_arg = root.to_str().unwrap();
    let prune = |extra: &[&str]| {
        let mut args = vec![
            "backup",
            "prune",
            "--root",
            root_arg,
            "--keep-last",
            "1",
            "--keep-daily",
            "2",
        ];
        args.extend(extra);
        rez(&args).output().unwrap()
    };

    let out = prune(&["--dry-run", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let row = |name: &str| {
        report["backups"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(
        row("a")["reasons"],
        serde_json::json!(["last 1 of 1", "daily 2026-03-04"])
    );
    assert_eq!(row("c")["reasons"], serde_json::json!(["daily 2026-03-02"]));
    for gone in ["b", "d", "e", "f"] {
        assert_eq!(row(gone)["keep"], false, "{gone}");
    }
    assert_eq!(row("interrupted")["keep"], true);
    assert_eq!(row("interrupted")["complete"], false);
    assert_eq!(
        (report["kept"].as_u64(), report["deleted"].as_u64()),
        (Some(3), Some(4))
    );
    assert_eq!(names_in(root), all, "a dry run deletes nothing");

    // No terminal and no --yes: refused, nothing deleted.
    let out = prune(&[]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--yes"), "{}", stderr(&out));
    assert_eq!(names_in(root), all);

    let out = prune(&["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(names_in(root), ["a", "c", "interrupted", "notes.txt"]);

    let out = prune(&["--yes", "--include-incomplete"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(names_in(root), ["a", "c", "notes.txt"]);

    // A policy that keeps nothing would delete everything: refused.
    let out = rez(&["backup", "prune", "--root", root_arg, "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(names_in(root), ["a", "c", "notes.txt"]);
}

#[test]
fn targets_name_an_unknown_group_a_bad_url_and_conflicting_flags() {
    let file = repo_path("fixtures/config/valid/targets.yaml");
    let file = file.to_str().unwrap();
    let out = rez(&["--config", file, "migrate", "--targets", "shard"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(err.contains("unknown target group `shard`"), "{err}");
    assert!(
        err.contains("known target groups: shards, tenants"),
        "{err}"
    );

    let bad = repo_path("fixtures/config/invalid/targets_bad_url.yaml");
    let out = rez(&[
        "--config",
        bad.to_str().unwrap(),
        "status",
        "--targets",
        "shards",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = stderr(&out);
    assert!(
        err.contains("targets_bad_url.yaml:2: key `targets.shards[2]`"),
        "{err}"
    );
    assert!(!err.contains("shard-secret"), "{err}");

    // One database or a group, not both; the group's companions need the group.
    for args in [
        &[
            "status",
            "--targets",
            "shards",
            "--database-url",
            "postgres://h/x",
        ][..],
        &["migrate", "--keep-going"][..],
        &["validate", "--parallel", "3"][..],
        &["migrate", "--targets", "shards", "--parallel", "0"][..],
    ] {
        let out = rez(args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
    }

    // --drop of a whole group is never asked about: --yes is required.
    let out = rez(&["--config", file, "create", "--drop", "--targets", "shards"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("pass --yes"), "{}", stderr(&out));

    // Unreachable targets: exit 3, each named, no password anywhere.
    let out = rez(&[
        "--json",
        "--config",
        file,
        "status",
        "--targets",
        "shards",
        "--keep-going",
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["targets"][1]["name"], "rez_shard_1");
    assert_eq!(doc["targets"][1]["exit_code"], 3);
    assert!(!stdout(&out).contains("shard-secret") && !stderr(&out).contains("shard-secret"));
}
