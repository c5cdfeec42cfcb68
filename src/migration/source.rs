//! The migration files: the set embedded in the binary at build time, or the
//! `(path, contents)` pairs a caller read from a directory, parsed and checked.
//!
//! A set holds versioned migrations (`NNNN_name.sql`, each optionally with a
//! down file `NNNN_name.down.sql` beside it) and repeatable ones
//! (`repeatable/name.sql`, run again whenever their checksum changes). A file
//! whose first line is [`NO_TRANSACTION_DIRECTIVE`] runs outside a
//! transaction, statement by statement.
//!
//! Checksums are SHA-256, pinned on purpose: stable across Rust and crate
//! versions (unlike `std::hash`), and anyone can recompute one with
//! `sha256sum` to audit the history table. They are taken over the text
//! *normalised* ([`normalize`]: a UTF-8 BOM removed, CRLF and CR turned into
//! LF), so a checkout with `core.autocrlf` or an editor that saves a BOM does
//! not turn an applied migration into an "edited" one. For a file saved with
//! LF and no BOM (all of rez-db's own) the normalised text is the file, so
//! `sha256sum` of the file still gives the checksum. Rows written before the
//! normalisation existed say [`RAW_CHECKSUM_ALGORITHM`] and keep verifying
//! ([`Migration::matches`]).
//!
//! Pure: the reading of a directory is its caller's.

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

static MIGRATIONS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// First line of a migration that must run outside a transaction
/// (`CREATE INDEX CONCURRENTLY`). Every statement in it must be idempotent.
pub const NO_TRANSACTION_DIRECTIVE: &str = "-- rez-db:no-transaction";

/// The sub-directory of the repeatable migrations.
pub const REPEATABLE_DIR: &str = "repeatable";

/// What the checksums of this version are: SHA-256 of the normalised text.
pub const CHECKSUM_ALGORITHM: &str = "sha256-lf";

/// What history rows written before normalisation hold: SHA-256 of the bytes.
pub const RAW_CHECKSUM_ALGORITHM: &str = "sha256";

/// A versioned migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    /// The descriptive part of the file name: `create_users` in `0004_create_users.sql`.
    pub name: String,
    pub file_name: String,
    /// The text, normalised ([`normalize`]).
    pub sql: String,
    /// Lowercase hex SHA-256 of the normalised text ([`CHECKSUM_ALGORITHM`]).
    pub checksum: String,
    /// Lowercase hex SHA-256 of the file's bytes as read ([`RAW_CHECKSUM_ALGORITHM`]).
    pub raw_checksum: String,
    pub no_transaction: bool,
    /// `NNNN_name.down.sql`, when there is one.
    pub down: Option<Down>,
}

/// The file that reverses a versioned migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Down {
    pub file_name: String,
    pub sql: String,
    pub no_transaction: bool,
}

/// A repeatable migration: a definition replaced whole whenever it changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Repeatable {
    /// The file name without `.sql`: `views` for `repeatable/views.sql`.
    pub name: String,
    /// `repeatable/views.sql`.
    pub file_name: String,
    pub sql: String,
    pub checksum: String,
}

/// Every migration of a directory (or of the binary).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MigrationSet {
    /// In version order, without gaps.
    pub versioned: Vec<Migration>,
    /// In name order (the order they run in).
    pub repeatable: Vec<Repeatable>,
}

impl MigrationSet {
    /// The highest version, if any.
    pub fn newest(&self) -> Option<i64> {
        self.versioned.last().map(|m| m.version)
    }
}

impl From<Vec<Migration>> for MigrationSet {
    fn from(versioned: Vec<Migration>) -> MigrationSet {
        MigrationSet {
            versioned,
            repeatable: Vec::new(),
        }
    }
}

impl Migration {
    /// Whether a history row's checksum, taken with `algorithm`, is this file's.
    /// A row of [`RAW_CHECKSUM_ALGORITHM`] matches the file's bytes, or its
    /// normalised text (the file was LF when applied and is CRLF now).
    pub fn matches(&self, checksum: &str, algorithm: &str) -> bool {
        match algorithm {
            CHECKSUM_ALGORITHM => self.checksum == checksum,
            RAW_CHECKSUM_ALGORITHM => self.raw_checksum == checksum || self.checksum == checksum,
            _ => false,
        }
    }
}

/// Why a set of files is not a migration set. Each message names the file
/// (under the directory label the caller gave) and says the fix.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error("{file}: the name must look like NNNN_snake_case.sql (e.g. 0015_add_index.sql), or NNNN_snake_case.down.sql for its down file")]
    BadName { file: String },
    #[error(
        "{file}: a repeatable migration's name must look like snake_case.sql (e.g. views.sql)"
    )]
    BadRepeatableName { file: String },
    #[error("{first} and {second} have the same version {version}; renumber one of them")]
    DuplicateVersion {
        version: i64,
        first: String,
        second: String,
    },
    #[error(
        "{after} follows {before}: version {missing} is missing; number migrations without gaps"
    )]
    Gap {
        before: String,
        after: String,
        missing: i64,
    },
    #[error("{file} has no migration to reverse: name it after its migration (NNNN_name.down.sql beside NNNN_name.sql)")]
    OrphanDown { file: String },
    #[error("{file} is not valid UTF-8")]
    NotUtf8 { file: String },
}

impl SourceError {
    /// The file the error is about (the first, for a pair).
    pub fn file(&self) -> &str {
        match self {
            SourceError::BadName { file }
            | SourceError::BadRepeatableName { file }
            | SourceError::OrphanDown { file }
            | SourceError::NotUtf8 { file } => file,
            SourceError::DuplicateVersion { first, .. } => first,
            SourceError::Gap { after, .. } => after,
        }
    }
}

/// The migrations compiled into this binary.
pub fn embedded() -> Result<MigrationSet, SourceError> {
    let nested = MIGRATIONS_DIR
        .get_dir(REPEATABLE_DIR)
        .map(|d| d.files())
        .into_iter()
        .flatten();
    let mut files = Vec::new();
    for file in MIGRATIONS_DIR.files().chain(nested) {
        let name = file.path().to_string_lossy().replace('\\', "/");
        if !name.ends_with(".sql") {
            continue;
        }
        let sql = file.contents_utf8().ok_or_else(|| SourceError::NotUtf8 {
            file: format!("migrations/{name}"),
        })?;
        files.push((name, sql.to_string()));
    }
    parse_set("migrations", files)
}

/// The versioned migrations of `(file name, contents)` pairs (tests, tools);
/// errors name the files under `migrations/`.
pub fn from_files(
    files: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Migration>, SourceError> {
    parse_set("migrations", files).map(|set| set.versioned)
}

/// Builds the checked set from `(path relative to the directory, contents)`
/// pairs: `NNNN_name.sql`, `NNNN_name.down.sql` and `repeatable/name.sql`.
/// `dir` is how errors name the directory.
pub fn parse_set(
    dir: &str,
    files: impl IntoIterator<Item = (String, String)>,
) -> Result<MigrationSet, SourceError> {
    let shown = |file: &str| format!("{dir}/{file}");
    let mut versioned = Vec::new();
    let mut downs = Vec::new();
    let mut repeatable = Vec::new();
    for (path, text) in files {
        if let Some(file) = path.strip_prefix(&format!("{REPEATABLE_DIR}/")) {
            let name = file
                .strip_suffix(".sql")
                .filter(|n| snake_case(n))
                .ok_or_else(|| SourceError::BadRepeatableName { file: shown(&path) })?;
            let sql = normalize(&text);
            repeatable.push(Repeatable {
                name: name.to_string(),
                checksum: sha256_hex(&sql),
                file_name: path.clone(),
                sql,
            });
        } else if let Some(stem) = path.strip_suffix(".down.sql") {
            let (version, name) = version_and_name(stem)
                .ok_or_else(|| SourceError::BadName { file: shown(&path) })?;
            let sql = normalize(&text);
            downs.push((
                version,
                name,
                Down {
                    no_transaction: no_transaction(&sql),
                    file_name: path,
                    sql,
                },
            ));
        } else {
            versioned.push(
                parse(&path, text).ok_or_else(|| SourceError::BadName { file: shown(&path) })?,
            );
        }
    }
    versioned.sort_by_key(|m| m.version);
    for pair in versioned.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if a.version == b.version {
            return Err(SourceError::DuplicateVersion {
                version: a.version,
                first: shown(&a.file_name),
                second: shown(&b.file_name),
            });
        }
        if b.version != a.version + 1 {
            return Err(SourceError::Gap {
                before: shown(&a.file_name),
                after: shown(&b.file_name),
                missing: a.version + 1,
            });
        }
    }
    for (version, name, down) in downs {
        match versioned
            .iter_mut()
            .find(|m| m.version == version && m.name == name)
        {
            Some(m) if m.down.is_none() => m.down = Some(down),
            _ => {
                return Err(SourceError::OrphanDown {
                    file: shown(&down.file_name),
                })
            }
        }
    }
    repeatable.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(MigrationSet {
        versioned,
        repeatable,
    })
}

/// `text` as it is hashed and run: without a UTF-8 byte order mark, with
/// every CRLF and lone CR turned into LF.
pub fn normalize(text: &str) -> String {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if !text.contains('\r') {
        return text.to_string();
    }
    text.replace("\r\n", "\n").replace('\r', "\n")
}

/// Lowercase hex SHA-256 of `text`'s bytes.
pub fn sha256_hex(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Whether `name` is a valid migration name part (`[a-z0-9_]+`).
pub fn snake_case(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `(version, name)` of a stem `NNNN_name`.
fn version_and_name(stem: &str) -> Option<(i64, String)> {
    let (digits, name) = stem.split_once('_')?;
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || !snake_case(name) {
        return None;
    }
    Some((digits.parse().ok()?, name.to_string()))
}

fn no_transaction(sql: &str) -> bool {
    sql.lines().next().map(str::trim_end) == Some(NO_TRANSACTION_DIRECTIVE)
}

fn parse(file_name: &str, raw: String) -> Option<Migration> {
    let (version, name) = version_and_name(file_name.strip_suffix(".sql")?)?;
    let sql = normalize(&raw);
    Some(Migration {
        version,
        name,
        file_name: file_name.to_string(),
        checksum: sha256_hex(&sql),
        raw_checksum: sha256_hex(&raw),
        no_transaction: no_transaction(&sql),
        sql,
        down: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, sql: &str) -> (String, String) {
        (name.to_string(), sql.to_string())
    }

    #[test]
    fn orders_by_version_and_reads_the_directive() {
        let set = from_files([
            file(
                "0002_b.sql",
                "-- rez-db:no-transaction\nCREATE INDEX CONCURRENTLY x ON t(a);",
            ),
            file("0001_a.sql", "CREATE TABLE t(a int);"),
        ])
        .unwrap();
        assert_eq!(set.iter().map(|m| m.version).collect::<Vec<_>>(), [1, 2]);
        assert!(!set[0].no_transaction && set[1].no_transaction);
        assert_eq!(set[0].name, "a");
    }

    #[test]
    fn checksum_is_sha256_of_the_bytes() {
        let m = &from_files([file("0001_a.sql", "abc")]).unwrap()[0];
        // sha256("abc"), the FIPS 180-2 test vector.
        assert_eq!(
            m.checksum,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(m.raw_checksum, m.checksum);
    }

    #[test]
    fn crlf_cr_and_a_bom_do_not_change_the_checksum() {
        let lf =
            &from_files([file("0001_a.sql", "-- rez-db:no-transaction\nA;\nB;\n")]).unwrap()[0];
        for variant in [
            "\u{feff}-- rez-db:no-transaction\r\nA;\r\nB;\r\n",
            "-- rez-db:no-transaction\rA;\rB;\r",
        ] {
            let m = &from_files([file("0001_a.sql", variant)]).unwrap()[0];
            assert_eq!(m.checksum, lf.checksum, "{variant:?}");
            assert_eq!(m.sql, lf.sql);
            assert!(m.no_transaction);
            assert_ne!(m.raw_checksum, lf.raw_checksum);
            // A row of the old algorithm, written when the file was LF, still matches.
            assert!(m.matches(&lf.raw_checksum, RAW_CHECKSUM_ALGORITHM));
            assert!(m.matches(&lf.checksum, CHECKSUM_ALGORITHM));
        }
        let edited =
            &from_files([file("0001_a.sql", "-- rez-db:no-transaction\nA;\nC;\n")]).unwrap()[0];
        assert!(!edited.matches(&lf.checksum, CHECKSUM_ALGORITHM));
        assert!(!edited.matches(&lf.raw_checksum, RAW_CHECKSUM_ALGORITHM));
        assert!(
            !lf.matches(&lf.checksum, "md5"),
            "an unknown algorithm never matches"
        );
    }

    #[test]
    fn rejects_bad_names_duplicates_and_gaps() {
        for bad in [
            "1_a.sql",
            "0001-a.sql",
            "0001_.sql",
            "0001_Add.sql",
            "abcd_x.sql",
        ] {
            assert_eq!(
                from_files([file(bad, "")]),
                Err(SourceError::BadName {
                    file: format!("migrations/{bad}")
                }),
                "{bad}"
            );
        }
        let dup = from_files([file("0001_a.sql", ""), file("0001_b.sql", "")]);
        assert!(matches!(
            dup,
            Err(SourceError::DuplicateVersion { version: 1, .. })
        ));
        let gap = parse_set("/d", [file("0001_a.sql", ""), file("0003_c.sql", "")]);
        assert_eq!(
            gap.unwrap_err().to_string(),
            "/d/0003_c.sql follows /d/0001_a.sql: version 2 is missing; number migrations without gaps"
        );
    }

    #[test]
    fn downs_attach_to_their_migration_and_repeatables_sort_by_name() {
        let set = parse_set(
            "m",
            [
                file("0001_a.sql", "CREATE TABLE a();"),
                file("0001_a.down.sql", "\u{feff}DROP TABLE a;\r\n"),
                file(
                    "repeatable/views.sql",
                    "CREATE OR REPLACE VIEW v AS SELECT 1;",
                ),
                file("repeatable/functions.sql", "SELECT 1;"),
            ],
        )
        .unwrap();
        let down = set.versioned[0].down.as_ref().unwrap();
        assert_eq!(down.sql, "DROP TABLE a;\n");
        assert_eq!(
            set.repeatable
                .iter()
                .map(|r| r.name.as_str())
                .collect::<Vec<_>>(),
            ["functions", "views"]
        );
        for (files, culprit) in [
            (vec![file("0002_b.down.sql", "")], "m/0002_b.down.sql"),
            (
                vec![file("0001_a.sql", ""), file("0001_x.down.sql", "")],
                "m/0001_x.down.sql",
            ),
            (
                vec![file("repeatable/Views.sql", "")],
                "m/repeatable/Views.sql",
            ),
        ] {
            assert_eq!(parse_set("m", files).unwrap_err().file(), culprit);
        }
    }

    #[test]
    fn the_embedded_set_is_well_formed() {
        let set = embedded().expect("migrations/ must parse");
        assert!(!set.versioned.is_empty());
        assert_eq!(set.versioned[0].version, 1);
        for m in &set.versioned {
            assert_eq!(
                m.raw_checksum, m.checksum,
                "{} must be LF without a BOM",
                m.file_name
            );
        }
    }
}
