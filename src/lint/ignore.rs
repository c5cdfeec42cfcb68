//! Ignores: a hazard that is intended, with the reason why it is safe there.
//!
//! In a new file, a comment on the line(s) right above the statement:
//! `-- rez-db:lint-ignore RULE_ID[, RULE_ID]: reason`. In a released file,
//! which must never change (its SHA-256 is in every database's history, and
//! `rez-db migrate` refuses a database whose applied file differs), an entry
//! of `lint-ignore.toml` beside the migrations instead, naming the file, the
//! statement's first line, the rule and the reason. Either way the reason is
//! required: an ignore without one silences nothing and is itself a finding,
//! as is one naming no rule or silencing nothing.

use serde::Deserialize;

use super::check::Raw;
use super::rules::{self, Rule};
use super::{Finding, Ignored, SourceFile};

/// The list's file name, in the migrations folder.
pub const IGNORE_FILE: &str = "lint-ignore.toml";

/// The list of the embedded migrations.
pub const EMBEDDED_LIST: &str = include_str!("../../migrations/lint-ignore.toml");

const DIRECTIVE: &str = "rez-db:lint-ignore";

/// An entry of `lint-ignore.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListedIgnore {
    /// The migration's file name, e.g. `0008_wallets.sql`.
    pub file: String,
    /// The first line of the statement.
    pub line: usize,
    pub rule: String,
    pub reason: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct List {
    #[serde(default)]
    ignore: Vec<ListedIgnore>,
}

/// Parses `lint-ignore.toml`; an unknown rule or a missing reason is an error.
pub fn parse_list(text: &str) -> Result<Vec<ListedIgnore>, String> {
    let list: List = toml::from_str(text).map_err(|e| e.to_string().trim().to_string())?;
    for (n, entry) in list.ignore.iter().enumerate() {
        let at = format!(
            "entry {} ({}:{} {})",
            n + 1,
            entry.file,
            entry.line,
            entry.rule
        );
        if rules::by_id(&entry.rule).is_none() {
            return Err(format!("{at}: there is no rule `{}`", entry.rule));
        }
        if entry.reason.trim().is_empty() {
            return Err(format!("{at}: the reason is required"));
        }
    }
    Ok(list.ignore)
}

/// A `-- rez-db:lint-ignore` comment.
#[derive(Debug)]
struct Directive {
    line: usize,
    column: usize,
    text: String,
    rules: Vec<String>,
    reason: Option<String>,
    used: bool,
}

fn directives(lines: &[&str]) -> Vec<Directive> {
    let mut out = Vec::new();
    for (n, raw) in lines.iter().enumerate() {
        let trimmed = raw.trim_start();
        let Some(comment) = trimmed.strip_prefix("--") else {
            continue;
        };
        let Some(rest) = comment.trim_start().strip_prefix(DIRECTIVE) else {
            continue;
        };
        let (ids, reason) = match rest.split_once(':') {
            Some((ids, reason)) => (ids, Some(reason.trim()).filter(|r| !r.is_empty())),
            None => (rest, None),
        };
        out.push(Directive {
            line: n + 1,
            column: raw.len() - trimmed.len() + 1,
            text: trimmed.trim_end().to_string(),
            rules: ids
                .split(',')
                .map(|id| id.trim().to_string())
                .filter(|id| !id.is_empty())
                .collect(),
            reason: reason.map(str::to_string),
            used: false,
        });
    }
    out
}

/// The lines of the `--` comments right above line `line` (1-based).
fn comment_block_above(lines: &[&str], line: usize) -> std::ops::Range<usize> {
    let mut top = line;
    while top > 1
        && lines
            .get(top - 2)
            .is_some_and(|l| l.trim_start().starts_with("--"))
    {
        top -= 1;
    }
    top..line
}

/// The findings of `file` with the ignored ones taken out, plus the
/// findings about the ignores themselves.
pub fn apply(
    file: &SourceFile,
    raw: Vec<Raw>,
    listed: &[ListedIgnore],
) -> (Vec<Finding>, Vec<Ignored>) {
    let lines: Vec<&str> = file.sql.lines().collect();
    let mut comments = directives(&lines);
    let name = file.file_name();
    let mut listed: Vec<(&ListedIgnore, bool)> = listed
        .iter()
        .filter(|e| e.file == name)
        .map(|e| (e, false))
        .collect();
    let mut findings = Vec::new();
    let mut ignored = Vec::new();
    for r in raw {
        let block = comment_block_above(&lines, r.statement_line);
        let comment = comments.iter_mut().find(|d| {
            block.contains(&d.line)
                && d.reason.is_some()
                && d.rules.iter().any(|id| id == r.rule.id)
        });
        if let Some(d) = comment {
            d.used = true;
            ignored.push(Ignored {
                rule: r.rule.id,
                file: file.path.clone(),
                line: r.statement_line,
                reason: d.reason.clone().unwrap_or_default(),
                source: "comment",
            });
            continue;
        }
        let entry = listed
            .iter_mut()
            .find(|(e, _)| e.line == r.statement_line && e.rule == r.rule.id);
        if let Some((e, used)) = entry {
            *used = true;
            ignored.push(Ignored {
                rule: r.rule.id,
                file: file.path.clone(),
                line: r.statement_line,
                reason: e.reason.clone(),
                source: IGNORE_FILE,
            });
            continue;
        }
        findings.push(finding(
            file,
            r.rule,
            r.line,
            r.column,
            r.statement,
            r.detail,
        ));
    }
    for d in &comments {
        let at = |rule: &'static Rule, detail: String| {
            finding(file, rule, d.line, d.column, d.text.clone(), detail)
        };
        if d.reason.is_none() {
            findings.push(at(
                &rules::IGNORE_WITHOUT_REASON,
                "this lint-ignore has no `: reason`, so it silences nothing".into(),
            ));
            continue;
        }
        for id in d.rules.iter().filter(|id| rules::by_id(id).is_none()) {
            findings.push(at(
                &rules::IGNORE_UNKNOWN_RULE,
                format!("there is no rule `{id}`"),
            ));
        }
        if !d.used && d.rules.iter().all(|id| rules::by_id(id).is_some()) {
            findings.push(at(
                &rules::IGNORE_UNUSED,
                format!(
                    "no finding of {} on the statement below",
                    d.rules.join(", ")
                ),
            ));
        }
    }
    for (e, _) in listed.iter().filter(|(_, used)| !used) {
        findings.push(finding(
            file,
            &rules::IGNORE_UNUSED,
            e.line,
            1,
            String::new(),
            format!(
                "the {IGNORE_FILE} entry for {} on line {} silences nothing",
                e.rule, e.line
            ),
        ));
    }
    (findings, ignored)
}

fn finding(
    file: &SourceFile,
    rule: &'static Rule,
    line: usize,
    column: usize,
    statement: String,
    detail: String,
) -> Finding {
    Finding {
        rule: rule.id,
        severity: rule.severity,
        file: file.path.clone(),
        line,
        column,
        statement,
        message: format!("{detail}: {}", rule.why),
        fix: rule.fix.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{lint, tests::files, Options};

    fn rules_of(sql: &str) -> Vec<&'static str> {
        let report = lint(&files(&[("0002_x.sql", sql)]), &[], Options::default());
        report.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn an_ignore_with_a_reason_silences_its_rule_on_the_next_statement() {
        let sql = "-- rez-db:lint-ignore create-index-blocking: users is empty before launch\n\
                   CREATE INDEX i ON users (a);";
        assert!(rules_of(sql).is_empty());
        let report = lint(&files(&[("0002_x.sql", sql)]), &[], Options::default());
        assert_eq!(report.ignored.len(), 1);
        assert_eq!(report.ignored[0].reason, "users is empty before launch");
    }

    #[test]
    fn an_ignore_without_reason_is_a_finding_and_silences_nothing() {
        let sql = "-- rez-db:lint-ignore create-index-blocking\nCREATE INDEX i ON users (a);";
        assert_eq!(
            rules_of(sql),
            ["ignore-without-reason", "create-index-blocking"]
        );
        let empty = "-- rez-db:lint-ignore create-index-blocking:  \nCREATE INDEX i ON users (a);";
        assert_eq!(
            rules_of(empty),
            ["ignore-without-reason", "create-index-blocking"]
        );
    }

    #[test]
    fn unknown_and_unused_ignores_are_findings() {
        let sql = "-- rez-db:lint-ignore no-such-rule: x\nCREATE INDEX i ON users (a);";
        assert_eq!(
            rules_of(sql),
            ["ignore-unknown-rule", "create-index-blocking"]
        );
        let unused = "-- rez-db:lint-ignore drop-table: x\nCREATE TABLE t (a int);";
        assert_eq!(rules_of(unused), ["ignore-unused"]);
    }

    #[test]
    fn a_listed_ignore_names_file_line_and_rule() {
        let list = parse_list(
            "[[ignore]]\nfile = \"0002_x.sql\"\nline = 2\nrule = \"create-index-blocking\"\nreason = \"empty table\"\n",
        )
        .unwrap();
        let sql = "SELECT 1;\nCREATE INDEX i ON users (a);\nCREATE INDEX j ON users (b);";
        let report = lint(&files(&[("0002_x.sql", sql)]), &list, Options::default());
        let at: Vec<(usize, &str)> = report.findings.iter().map(|f| (f.line, f.rule)).collect();
        assert_eq!(at, [(3, "create-index-blocking")]);
        assert_eq!(report.ignored[0].source, IGNORE_FILE);
    }

    #[test]
    fn the_list_refuses_unknown_rules_and_missing_reasons() {
        let entry = |rule: &str, reason: &str| {
            format!("[[ignore]]\nfile = \"a.sql\"\nline = 1\nrule = \"{rule}\"\nreason = \"{reason}\"\n")
        };
        assert!(parse_list(&entry("nope", "x"))
            .unwrap_err()
            .contains("no rule `nope`"));
        assert!(parse_list(&entry("drop-table", " "))
            .unwrap_err()
            .contains("reason is required"));
        assert!(parse_list("[[ignore]]\nfile = \"a.sql\"\n").is_err());
        assert_eq!(parse_list(&entry("drop-table", "x")).unwrap().len(), 1);
    }
}
