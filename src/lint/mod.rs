//! `rez-db lint`: the hazards of migration files, found in their parse trees
//! before they reach a database. Pure: files (name and text) in, findings
//! out; the face reads the files.
//!
//! The files are read in order, as the migrations run: each statement is
//! checked against what the earlier statements made (tables, their columns'
//! types, indexes and whether they were built concurrently, CHECK
//! constraints and whether they are valid, DEFAULT partitions), so "an
//! existing table" is one that an earlier file created, and a table created
//! by the same file is new (nobody reads it yet). The rules are
//! [`rules::ALL`]; a finding is silenced by an ignore with a reason: a
//! `-- rez-db:lint-ignore RULE: reason` comment right above the statement,
//! or an entry of the migrations' `lint-ignore.toml` ([`ignore`]), which
//! exists because a released migration is never edited: its SHA-256 is in
//! every database's history, and a comment added to it would make
//! `rez-db migrate` refuse the database.
//!
//! Down files are linted too, after the migrations and in the order `migrate
//! revert` runs them (newest first, every table existing), held to every
//! rule but those whose finding is a down's purpose ([`rules::NOT_FOR_DOWNS`]:
//! dropping and renaming back what its migration made).
//!
//! *Never*: a database connection, a file read, a regular expression over SQL.

mod check;
pub mod ignore;
mod model;
pub mod parse;
pub mod rules;
pub mod sarif;

use serde::Serialize;

pub use ignore::{ListedIgnore, IGNORE_FILE};
pub use rules::{Rule, Severity};

use crate::migration::source::NO_TRANSACTION_DIRECTIVE;

/// A migration file, in the order the files run.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// As the report names it (e.g. `migrations/0008_wallets.sql`).
    pub path: String,
    pub sql: String,
    /// Report its findings. Files read only so that later files know what
    /// they created (the rest of the directory) are not reported on.
    pub report: bool,
}

impl SourceFile {
    /// The file name without its folder: what `lint-ignore.toml` names.
    pub fn file_name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }

    /// A down file (`NNNN_name.down.sql`): held to every rule but
    /// [`rules::NOT_FOR_DOWNS`].
    pub fn is_down(&self) -> bool {
        self.file_name().ends_with(".down.sql")
    }

    fn no_transaction(&self) -> bool {
        self.sql.lines().next().map(str::trim_end) == Some(NO_TRANSACTION_DIRECTIVE)
    }
}

/// How the files will run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    /// The files run through another tool (psql, a deploy script) that does
    /// not set `lock_timeout` as `rez-db migrate` does: enables
    /// `lock-timeout-missing`.
    pub outside_rez_db: bool,
}

/// One hazard, where it is and what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub rule: &'static str,
    pub severity: Severity,
    pub file: String,
    pub line: usize,
    pub column: usize,
    /// The statement, on one line, cut to 120 characters.
    pub statement: String,
    /// What was found and why it is dangerous.
    pub message: String,
    /// The safe way to write it.
    pub fix: String,
}

/// A finding that an ignore silenced, with the ignore's reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Ignored {
    pub rule: &'static str,
    pub file: String,
    pub line: usize,
    pub reason: String,
    /// `comment` (in the file) or `lint-ignore.toml`.
    pub source: &'static str,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    pub files: usize,
    pub statements: usize,
    pub errors: usize,
    pub warnings: usize,
    pub findings: Vec<Finding>,
    pub ignored: Vec<Ignored>,
}

/// Lints `files` (in run order), reporting on those marked `report`.
pub fn lint(files: &[SourceFile], listed: &[ListedIgnore], options: Options) -> Report {
    let mut schema = model::Schema::default();
    let mut report = Report::default();
    // The files after the last one reported on cannot change its findings.
    let needed = files.iter().rposition(|f| f.report).map_or(0, |i| i + 1);
    for (index, file) in files[..needed].iter().enumerate() {
        let parsed = parse::parse(&file.sql);
        let raw = check::file(
            &file.sql,
            &mut schema,
            index,
            file.no_transaction(),
            &parsed.statements,
            options,
        );
        if !file.report {
            continue;
        }
        let raw = match file.is_down() {
            true => raw
                .into_iter()
                .filter(|r| !rules::NOT_FOR_DOWNS.contains(&r.rule.id))
                .collect(),
            false => raw,
        };
        report.files += 1;
        report.statements += parsed.statements.len() + parsed.errors.len();
        let mut found: Vec<Finding> = parsed
            .errors
            .iter()
            .map(|e| Finding {
                rule: rules::PARSE_ERROR.id,
                severity: rules::PARSE_ERROR.severity,
                file: file.path.clone(),
                line: e.line,
                column: e.column,
                statement: one_line(&e.text),
                message: format!("{}: {}", e.message, rules::PARSE_ERROR.why),
                fix: rules::PARSE_ERROR.fix.to_string(),
            })
            .collect();
        let (kept, ignored) = ignore::apply(file, raw, listed);
        found.extend(kept);
        found.sort_by_key(|f| (f.line, f.column));
        report.findings.extend(found);
        report.ignored.extend(ignored);
    }
    report.errors = count(&report.findings, Severity::Error);
    report.warnings = count(&report.findings, Severity::Warning);
    report
}

fn count(findings: &[Finding], severity: Severity) -> usize {
    findings.iter().filter(|f| f.severity == severity).count()
}

/// A statement as a report shows it: one line, at most 120 characters.
pub(crate) fn one_line(text: &str) -> String {
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(117) {
        Some((cut, _)) => format!("{}...", &flat[..cut]),
        None => flat,
    }
}

impl Report {
    pub fn has_errors(&self) -> bool {
        self.errors > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn files(set: &[(&str, &str)]) -> Vec<SourceFile> {
        set.iter()
            .map(|(path, sql)| SourceFile {
                path: path.to_string(),
                sql: sql.to_string(),
                report: true,
            })
            .collect()
    }

    fn rule_ids(report: &Report) -> Vec<&'static str> {
        report.findings.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn the_platform_migrations_lint_clean() {
        let embedded = crate::migration::embedded().unwrap();
        let set: Vec<SourceFile> = embedded
            .versioned
            .iter()
            .map(|m| (&m.file_name, &m.sql))
            .chain(embedded.repeatable.iter().map(|r| (&r.file_name, &r.sql)))
            .chain(
                embedded
                    .versioned
                    .iter()
                    .rev()
                    .filter_map(|m| m.down.as_ref())
                    .map(|d| (&d.file_name, &d.sql)),
            )
            .map(|(name, sql)| SourceFile {
                path: format!("migrations/{name}"),
                sql: sql.clone(),
                report: true,
            })
            .collect();
        let listed = ignore::parse_list(ignore::EMBEDDED_LIST).unwrap();
        let report = lint(&set, &listed, Options::default());
        assert!(report.findings.is_empty(), "{:#?}", report.findings);
        assert_eq!(report.files, set.len());
        assert!(set.iter().filter(|f| f.is_down()).count() >= 14);
        // Every entry of the list silenced something (an unused one would be
        // an `ignore-unused` finding above).
        for entry in &listed {
            assert!(
                report
                    .ignored
                    .iter()
                    .any(|i| i.rule == entry.rule && i.line == entry.line),
                "{entry:?}"
            );
        }
    }

    #[test]
    fn an_existing_table_is_one_an_earlier_file_created() {
        let set = files(&[
            (
                "0001_a.sql",
                "CREATE TABLE t (a int);\nCREATE INDEX t_a ON t (a);",
            ),
            ("0002_b.sql", "CREATE INDEX t_a2 ON t (a);"),
        ]);
        let report = lint(&set, &[], Options::default());
        assert_eq!(rule_ids(&report), ["create-index-blocking"]);
        assert_eq!(report.findings[0].file, "0002_b.sql");
        assert_eq!((report.findings[0].line, report.findings[0].column), (1, 1));
        assert_eq!(report.errors, 1);
    }

    #[test]
    fn set_not_null_is_safe_once_an_earlier_migration_validated_the_check() {
        let set = files(&[
            ("0001_a.sql", "CREATE TABLE t (a int);"),
            (
                "0002_b.sql",
                "ALTER TABLE t ADD CONSTRAINT t_a_nn CHECK (a IS NOT NULL) NOT VALID;",
            ),
            ("0003_c.sql", "ALTER TABLE t VALIDATE CONSTRAINT t_a_nn;"),
            ("0004_d.sql", "ALTER TABLE t ALTER COLUMN a SET NOT NULL;"),
        ]);
        let report = lint(&set, &[], Options::default());
        assert!(report.findings.is_empty(), "{:#?}", report.findings);
        // Without the VALIDATE, the check proves nothing.
        let unvalidated = [set[0].clone(), set[1].clone(), set[3].clone()];
        let report = lint(&unvalidated, &[], Options::default());
        assert_eq!(rule_ids(&report), ["set-not-null"]);
    }

    #[test]
    fn money_findings_point_at_the_column() {
        let set = files(&[(
            "0001_a.sql",
            "CREATE TABLE r (\n  id int,\n  amount float8,\n  coins_value numeric(10,2),\n  coin_multiplier numeric(3,2),\n  bonus_coins numeric(6,1)\n);",
        )]);
        let report = lint(&set, &[], Options::default());
        let at: Vec<(&str, usize, usize)> = report
            .findings
            .iter()
            .map(|f| (f.rule, f.line, f.column))
            .collect();
        assert_eq!(at, [("money-float", 3, 3), ("coin-not-integer", 6, 3)]);
    }

    #[test]
    fn a_down_may_drop_what_its_migration_made_but_not_lock_a_live_table() {
        let set = files(&[
            ("0001_a.sql", "CREATE TABLE t (a int);\nCREATE TABLE wallets (id int);"),
            ("0002_b.sql", "ALTER TABLE t ADD COLUMN b int;"),
            (
                "0002_b.down.sql",
                "ALTER TABLE t DROP COLUMN b;\nALTER TABLE t RENAME TO t_old;\nALTER TABLE t_old RENAME TO t;\nCREATE INDEX t_a ON t (a);\nTRUNCATE t;",
            ),
            ("0001_a.down.sql", "DROP TABLE t;\nDROP TABLE wallets;"),
        ]);
        let report = lint(&set, &[], Options::default());
        let at: Vec<(&str, &str, usize)> = report
            .findings
            .iter()
            .map(|f| (f.rule, f.file.as_str(), f.line))
            .collect();
        assert_eq!(
            at,
            [
                ("create-index-blocking", "0002_b.down.sql", 4),
                ("truncate", "0002_b.down.sql", 5)
            ]
        );
        // The same statements in an up file are findings.
        let up = files(&[
            (
                "0001_a.sql",
                "CREATE TABLE t (a int);\nCREATE TABLE wallets (id int);",
            ),
            (
                "0002_b.sql",
                "ALTER TABLE t DROP COLUMN a;\nDROP TABLE wallets;",
            ),
        ]);
        let ids = rule_ids(&lint(&up, &[], Options::default()));
        assert!(ids.contains(&"drop-column"), "{ids:?}");
        assert!(ids.contains(&"ledger-drop"), "{ids:?}");
    }

    #[test]
    fn files_not_reported_on_still_tell_what_exists() {
        let mut set = files(&[
            ("0001_a.sql", "CREATE TABLE t (a int);\nDROP TABLE t;"),
            ("0002_b.sql", "DROP TABLE t;"),
        ]);
        set[0].report = false;
        let report = lint(&set, &[], Options::default());
        assert_eq!(rule_ids(&report), ["drop-table"]);
        assert_eq!(report.files, 1);
    }
}
