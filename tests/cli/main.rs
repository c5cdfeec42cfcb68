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
    for sub in ["new", "revert", "baseline"] {
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
