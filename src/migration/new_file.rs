//! The next migration file of a set (`migrate new NAME`): its number (one
//! above the highest), its name, and its first lines. Writing it is the
//! operation's; this decides what to write.

use super::source::{snake_case, MigrationSet, NO_TRANSACTION_DIRECTIVE};

/// A migration file to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFile {
    pub version: i64,
    /// `NNNN_name.sql`.
    pub file_name: String,
    pub contents: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NewFileError {
    #[error(
        "`{0}` is not a migration name: use lowercase letters, digits and _ (e.g. add_user_index)"
    )]
    BadName(String),
    #[error("version {0} does not fit the four digits of NNNN_name.sql")]
    TooMany(i64),
}

/// The file that follows `set`, named `name`; `created` is shown in its header.
pub fn next(
    set: &MigrationSet,
    name: &str,
    no_transaction: bool,
    created: &str,
) -> Result<NewFile, NewFileError> {
    if !snake_case(name) {
        return Err(NewFileError::BadName(name.to_string()));
    }
    let version = set.newest().unwrap_or(0) + 1;
    if version > 9999 {
        return Err(NewFileError::TooMany(version));
    }
    let file_name = format!("{version:04}_{name}.sql");
    let mut contents = String::new();
    if no_transaction {
        // The directive must be the first line (`source::NO_TRANSACTION_DIRECTIVE`).
        contents.push_str(NO_TRANSACTION_DIRECTIVE);
        contents.push('\n');
    }
    contents.push_str(&format!("-- {version:04}_{name}: (describe the change)\n"));
    contents.push_str(&format!(
        "-- Created by `rez-db migrate new` on {created}.\n"
    ));
    if no_transaction {
        contents.push_str(
            "-- Runs outside a transaction, statement by statement: every statement must be\n\
             -- idempotent (CREATE INDEX CONCURRENTLY IF NOT EXISTS ...).\n",
        );
    } else {
        contents.push_str("-- Runs in one transaction with its history row.\n");
    }
    contents.push('\n');
    Ok(NewFile {
        version,
        file_name,
        contents,
    })
}

#[cfg(test)]
mod tests {
    use super::super::source::parse_set;
    use super::*;

    #[test]
    fn numbers_one_above_the_highest_and_writes_the_directive_first() {
        let set = parse_set(
            "m",
            [
                ("0001_a.sql".to_string(), String::new()),
                ("0002_b.sql".to_string(), String::new()),
            ],
        )
        .unwrap();
        let file = next(&set, "add_index", true, "2026-12-07").unwrap();
        assert_eq!(file.file_name, "0003_add_index.sql");
        assert!(file
            .contents
            .starts_with("-- rez-db:no-transaction\n-- 0003_add_index"));
        // The file it writes parses back, as a no-transaction migration.
        let mut files: Vec<(String, String)> = vec![
            ("0001_a.sql".into(), String::new()),
            ("0002_b.sql".into(), String::new()),
        ];
        files.push((file.file_name.clone(), file.contents.clone()));
        let again = parse_set("m", files).unwrap();
        assert!(again.versioned[2].no_transaction);

        let plain = next(&MigrationSet::default(), "first", false, "today").unwrap();
        assert_eq!(plain.file_name, "0001_first.sql");
        assert!(plain.contents.starts_with("-- 0001_first"));
    }

    #[test]
    fn refuses_a_name_that_would_not_parse() {
        for bad in ["", "Add", "add-index", "add index", "é"] {
            assert_eq!(
                next(&MigrationSet::default(), bad, false, "today"),
                Err(NewFileError::BadName(bad.to_string()))
            );
        }
    }
}
