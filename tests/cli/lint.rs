//! `rez-db lint` through the real binary: every snippet of the corpus
//! (fixtures/lint/) reports exactly the rules its header expects, the
//! platform's migrations lint clean, a bad file list exits 2, and the SARIF
//! output is valid against the vendored SARIF 2.1.0 schema.

use std::path::PathBuf;

use serde_json::Value;

use super::common::{repo_path, rez, stderr, stdout};

struct Snippet {
    path: PathBuf,
    expect: Vec<String>,
    outside_rez_db: bool,
}

fn corpus() -> Vec<Snippet> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(repo_path("fixtures/lint")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "sql") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let expect = text
            .lines()
            .find_map(|l| l.strip_prefix("-- expect: "))
            .unwrap_or_else(|| panic!("{}: no `-- expect:` line", path.display()));
        let mut expect: Vec<String> = match expect.trim() {
            "none" => Vec::new(),
            list => list.split(',').map(|r| r.trim().to_string()).collect(),
        };
        expect.sort();
        out.push(Snippet {
            outside_rez_db: text.contains("-- lint-options: outside-rez-db"),
            path,
            expect,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

fn lint_json(args: &[&str]) -> (Value, i32) {
    let mut all = vec!["--json", "lint"];
    all.extend_from_slice(args);
    let out = rez(&all).output().unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?}: {e}: {}{}", stdout(&out), stderr(&out)));
    (doc, out.status.code().unwrap())
}

#[test]
fn every_snippet_of_the_corpus_reports_exactly_its_expected_rules() {
    let corpus = corpus();
    assert!(corpus.len() >= 40, "{} snippets", corpus.len());
    let safe = corpus.iter().filter(|s| s.expect.is_empty()).count();
    assert!(
        safe >= 15 && corpus.len() - safe >= 25,
        "{safe} safe snippets"
    );
    let mut wrong = Vec::new();
    for snippet in &corpus {
        let path = snippet.path.to_str().unwrap();
        let mut args = vec![path];
        if snippet.outside_rez_db {
            args.insert(0, "--outside-rez-db");
        }
        let (doc, code) = lint_json(&args);
        let mut found: Vec<String> = doc["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect();
        found.sort();
        found.dedup();
        let errors = doc["errors"].as_u64().unwrap();
        let expected_code = if errors > 0 { 1 } else { 0 };
        if found != snippet.expect || code != expected_code {
            wrong.push(format!(
                "{}: expected {:?}, found {found:?} (exit {code})",
                snippet.path.file_name().unwrap().to_string_lossy(),
                snippet.expect
            ));
        }
        // Only the named file is reported on, at a line inside it.
        for f in doc["findings"].as_array().unwrap() {
            assert_eq!(f["file"], path);
            assert!(f["line"].as_u64().unwrap() >= 1);
            assert!(!f["fix"].as_str().unwrap().is_empty());
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_built_in_migrations_lint_clean() {
    let out = rez(&["lint"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(": 0 error(s), 0 warning(s)"),
        "{}",
        stdout(&out)
    );
    // The same files named on the command line, read from disk, the down
    // files included (linted after every migration, newest first).
    let mut files: Vec<String> = Vec::new();
    for dir in ["migrations", "migrations/repeatable"] {
        let mut these: Vec<String> = std::fs::read_dir(repo_path(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .map(|p| p.to_str().unwrap().to_string())
            .collect();
        these.sort();
        files.extend(these);
    }
    let args: Vec<&str> = files.iter().map(String::as_str).collect();
    let (doc, code) = lint_json(&args);
    assert_eq!(code, 0, "{doc:#}");
    assert_eq!(doc["files"].as_u64().unwrap() as usize, files.len());
    assert!(files.iter().filter(|f| f.ends_with(".down.sql")).count() >= 14);
}

#[test]
fn a_bad_file_list_exits_2_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let binary = dir.path().join("0015_bad.sql");
    std::fs::write(&binary, b"SELECT '\xff';").unwrap();
    let missing = dir.path().join("0016_missing.sql");
    for (path, why) in [
        (missing.as_path(), "No such file"),
        (dir.path(), "not a regular file"),
        (binary.as_path(), "not valid UTF-8"),
    ] {
        let out = rez(&["lint", path.to_str().unwrap()]).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(path.to_str().unwrap()),
            "{}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(why), "{}", stderr(&out));
    }
}

#[test]
fn a_file_is_linted_after_the_migrations_before_it() {
    let dir = tempfile::tempdir().unwrap();
    // 0003 creates admin_users and colleges: numbered 0002, this file runs before them.
    let early = dir.path().join("0002_early.sql");
    std::fs::write(&early, "CREATE INDEX idx_colleges_x ON colleges (name);\n").unwrap();
    let (doc, code) = lint_json(&[early.to_str().unwrap()]);
    // colleges is unknown at that point, so it counts as existing too.
    assert_eq!(code, 1);
    assert_eq!(doc["findings"][0]["rule"], "create-index-blocking");
    // A table created by the file itself is new.
    let late = dir.path().join("0099_late.sql");
    std::fs::write(
        &late,
        "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);\n",
    )
    .unwrap();
    let (doc, code) = lint_json(&[late.to_str().unwrap()]);
    assert_eq!((code, doc["errors"].as_u64()), (0, Some(0)), "{doc:#}");
}

#[test]
fn sarif_output_is_valid_sarif_2_1_0_with_a_location_for_every_result() {
    let files: Vec<String> = [
        "drop_ledger_table",
        "ignore_with_reason",
        "parse_error",
        "drop_not_null",
        "create_index_blocking",
    ]
    .iter()
    .map(|n| {
        repo_path(&format!("fixtures/lint/{n}.sql"))
            .to_str()
            .unwrap()
            .to_string()
    })
    .collect();
    let mut args = vec!["lint", "--format", "sarif"];
    args.extend(files.iter().map(String::as_str));
    let out = rez(&args).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let log: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(repo_path("fixtures/sarif/sarif-schema-2.1.0.json")).unwrap(),
    )
    .unwrap();
    let mut errors = Vec::new();
    validate(&schema, &schema, &log, "$", &mut errors);
    assert!(errors.is_empty(), "{}", errors.join("\n"));

    let results = log["runs"][0]["results"].as_array().unwrap();
    // drop-table + ledger-drop, parse-error, drop-not-null, create-index-blocking,
    // and the ignored drop-table as a suppressed result.
    assert_eq!(results.len(), 6, "{log:#}");
    for r in results {
        let region = &r["locations"][0]["physicalLocation"]["region"];
        assert!(region["startLine"].as_u64().unwrap() >= 1, "{r:#}");
        assert!(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"].is_string());
    }
    assert_eq!(
        results
            .iter()
            .filter(|r| r.get("suppressions").is_some())
            .count(),
        1
    );
}

/// A JSON Schema (draft 4) validator for the keywords the SARIF schema uses;
/// a keyword it does not know fails the test instead of being skipped. The
/// `format` annotations are not checked (draft 4 makes them optional).
fn validate(root: &Value, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Some(map) = schema.as_object() else {
        return;
    };
    for (key, rule) in map {
        match key.as_str() {
            "$ref" => {
                let pointer = rule.as_str().unwrap().trim_start_matches('#');
                let target = root.pointer(pointer).unwrap_or_else(|| panic!("{pointer}"));
                validate(root, target, value, at, errors);
            }
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::String(t) => vec![t.as_str()],
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    _ => panic!("type {rule}"),
                };
                if !types.iter().any(|t| type_matches(t, value)) {
                    errors.push(format!("{at}: not of type {types:?}: {value}"));
                }
            }
            "enum" => {
                if !rule.as_array().unwrap().contains(value) {
                    errors.push(format!("{at}: {value} not in {rule}"));
                }
            }
            "required" => {
                for name in rule.as_array().unwrap() {
                    let name = name.as_str().unwrap();
                    if value.is_object() && value.get(name).is_none() {
                        errors.push(format!("{at}: missing `{name}`"));
                    }
                }
            }
            "properties" => {
                if let Some(object) = value.as_object() {
                    for (name, sub) in rule.as_object().unwrap() {
                        if let Some(v) = object.get(name) {
                            validate(root, sub, v, &format!("{at}.{name}"), errors);
                        }
                    }
                }
            }
            "additionalProperties" => {
                if let Some(object) = value.as_object() {
                    let known = map.get("properties").and_then(Value::as_object);
                    for (name, v) in object {
                        if known.is_some_and(|k| k.contains_key(name)) {
                            continue;
                        }
                        match rule {
                            Value::Bool(false) => {
                                errors.push(format!("{at}: property `{name}` is not allowed"))
                            }
                            Value::Bool(true) => {}
                            sub => validate(root, sub, v, &format!("{at}.{name}"), errors),
                        }
                    }
                }
            }
            "items" => {
                if let Some(items) = value.as_array() {
                    for (i, v) in items.iter().enumerate() {
                        validate(root, rule, v, &format!("{at}[{i}]"), errors);
                    }
                }
            }
            "minItems" => {
                if value
                    .as_array()
                    .is_some_and(|a| (a.len() as u64) < rule.as_u64().unwrap())
                {
                    errors.push(format!("{at}: fewer than {rule} items"));
                }
            }
            "uniqueItems" => {
                if rule == &Value::Bool(true) {
                    if let Some(items) = value.as_array() {
                        for (i, a) in items.iter().enumerate() {
                            if items[..i].contains(a) {
                                errors.push(format!("{at}: items are not unique"));
                            }
                        }
                    }
                }
            }
            "minimum" | "maximum" => {
                if let (Some(v), Some(bound)) = (value.as_f64(), rule.as_f64()) {
                    let ok = if key == "minimum" {
                        v >= bound
                    } else {
                        v <= bound
                    };
                    if !ok {
                        errors.push(format!("{at}: {v} out of {key} {bound}"));
                    }
                }
            }
            "pattern" => {
                if let Some(text) = value.as_str() {
                    let re = regex::Regex::new(rule.as_str().unwrap()).unwrap();
                    if !re.is_match(text) {
                        errors.push(format!("{at}: {text:?} does not match {rule}"));
                    }
                }
            }
            "anyOf" | "oneOf" => {
                let passing = rule
                    .as_array()
                    .unwrap()
                    .iter()
                    .filter(|sub| {
                        let mut inner = Vec::new();
                        validate(root, sub, value, at, &mut inner);
                        inner.is_empty()
                    })
                    .count();
                let ok = if key == "anyOf" {
                    passing >= 1
                } else {
                    passing == 1
                };
                if !ok {
                    errors.push(format!("{at}: {passing} alternatives of {key} match"));
                }
            }
            "$schema" | "id" | "title" | "description" | "default" | "definitions" | "format" => {}
            other => panic!("the validator does not know the keyword `{other}`"),
        }
    }
}

fn type_matches(t: &str, value: &Value) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "integer" => value.is_i64() || value.is_u64(),
        "number" => value.is_number(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        other => panic!("type {other}"),
    }
}
