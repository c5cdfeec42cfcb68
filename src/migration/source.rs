//! The migration files, embedded in the binary at build time.
//!
//! A file is `NNNN_name.sql`; its checksum is the SHA-256 of its bytes. SHA-256
//! is pinned on purpose: it is stable across Rust and crate versions (unlike
//! `std::hash`) and anyone can recompute it with `sha256sum` to audit the
//! history table. A file whose first line is [`NO_TRANSACTION_DIRECTIVE`] runs
//! outside a transaction, statement by statement.

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

static MIGRATIONS_DIR: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/migrations");

/// First line of a migration that must run outside a transaction
/// (`CREATE INDEX CONCURRENTLY`). Every statement in it must be idempotent.
pub const NO_TRANSACTION_DIRECTIVE: &str = "-- rez-db:no-transaction";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    /// The descriptive part of the file name: `create_users` in `0004_create_users.sql`.
    pub name: String,
    pub file_name: String,
    pub sql: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub checksum: String,
    pub no_transaction: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SourceError {
    #[error(
        "migrations/{file}: the name must look like NNNN_snake_case.sql (e.g. 0015_add_index.sql)"
    )]
    BadName { file: String },
    #[error("migrations/{first} and migrations/{second} have the same version {version}")]
    DuplicateVersion {
        version: i64,
        first: String,
        second: String,
    },
    #[error("migrations/{file} is not valid UTF-8")]
    NotUtf8 { file: String },
}

/// The migrations compiled into this binary, in version order.
pub fn embedded() -> Result<Vec<Migration>, SourceError> {
    let mut files = Vec::new();
    for file in MIGRATIONS_DIR.files() {
        let name = file.path().to_string_lossy().into_owned();
        if !name.ends_with(".sql") {
            continue;
        }
        let sql = file
            .contents_utf8()
            .ok_or_else(|| SourceError::NotUtf8 { file: name.clone() })?;
        files.push((name, sql.to_string()));
    }
    from_files(files)
}

/// Builds the ordered, checked migration set from `(file name, contents)` pairs.
pub fn from_files(
    files: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<Migration>, SourceError> {
    let mut migrations = files
        .into_iter()
        .map(|(file_name, sql)| parse(file_name, sql))
        .collect::<Result<Vec<_>, _>>()?;
    migrations.sort_by_key(|m| m.version);
    for pair in migrations.windows(2) {
        if pair[0].version == pair[1].version {
            return Err(SourceError::DuplicateVersion {
                version: pair[0].version,
                first: pair[0].file_name.clone(),
                second: pair[1].file_name.clone(),
            });
        }
    }
    Ok(migrations)
}

fn parse(file_name: String, sql: String) -> Result<Migration, SourceError> {
    let bad = || SourceError::BadName {
        file: file_name.clone(),
    };
    let stem = file_name.strip_suffix(".sql").ok_or_else(bad)?;
    let (digits, name) = stem.split_once('_').ok_or_else(bad)?;
    let name_ok = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) || !name_ok {
        return Err(bad());
    }
    let version = digits.parse().map_err(|_| bad())?;
    let checksum = hex(&Sha256::digest(sql.as_bytes()));
    let no_transaction = sql.lines().next().map(str::trim_end) == Some(NO_TRANSACTION_DIRECTIVE);
    Ok(Migration {
        version,
        name: name.to_string(),
        file_name,
        sql,
        checksum,
        no_transaction,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    }

    #[test]
    fn rejects_bad_names_and_duplicate_versions() {
        for bad in [
            "1_a.sql",
            "0001-a.sql",
            "0001_.sql",
            "0001_Add.sql",
            "abcd_x.sql",
        ] {
            assert!(
                matches!(
                    from_files([file(bad, "")]),
                    Err(SourceError::BadName { .. })
                ),
                "{bad}"
            );
        }
        let dup = from_files([file("0001_a.sql", ""), file("0001_b.sql", "")]);
        assert!(matches!(
            dup,
            Err(SourceError::DuplicateVersion { version: 1, .. })
        ));
    }

    #[test]
    fn the_embedded_set_is_well_formed() {
        let set = embedded().expect("migrations/ must parse");
        assert!(!set.is_empty());
        assert_eq!(set[0].version, 1);
    }
}
