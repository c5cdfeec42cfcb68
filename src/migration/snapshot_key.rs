//! The key of a cached expected schema: a digest of everything the schema
//! that `migrate baseline` and `migrate diff` build in a shadow database
//! depends on, so that a cached [`SchemaSnapshot`] is reused exactly when a
//! new shadow build would print the same objects.
//!
//! What goes in, and why each:
//! - each versioned migration's `(version, checksum)` and each repeatable's
//!   `(name, checksum)` of the set applied (the checksum covers the text and
//!   its no-transaction directive);
//! - the managed parents (their partitions are left out of the snapshot);
//! - the shadow server's `server_version_num`: `pg_get_indexdef`,
//!   `pg_get_functiondef` and friends print differently across versions;
//! - the default version of every extension the shadow server offers (what
//!   `CREATE EXTENSION`, by rez-db or by a migration, installs there) and the
//!   extensions and roles rez-db prepares a shadow with;
//! - the role that builds the shadow: `ALTER DEFAULT PRIVILEGES` without
//!   `FOR ROLE` is recorded for it, and grants leave the owner's own out;
//! - the catalog queries that read the snapshot, the rez-db version and
//!   [`CACHE_FORMAT`], so a rez-db that reads or stores schemas differently
//!   never reuses an older one's.
//!
//! Left out on purpose: which server the shadow was built on (host, port,
//! system identifier). A snapshot is of a schema, not of data: two servers of
//! the same version, with the same extension versions, given the same files
//! print the same definitions, so a cache entry built through `--shadow-url`
//! serves the same server's live database too, and the other way round.
//!
//! Pure: the facts are read by `store::pg::shadow`, the file is
//! `store::snapshot_cache`'s.

use serde::Serialize;

use super::schema_diff::SchemaSnapshot;
use super::source::sha256_hex;
use super::{Migration, Repeatable};

/// Bumped whenever the cache file's layout or the meaning of a snapshot
/// changes in a way the other inputs would not show.
pub const CACHE_FORMAT: u32 = 1;

/// What the shadow server says about itself, read before deciding whether to
/// build (one cheap query on the connection a shadow is created from).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ShadowServer {
    /// `server_version_num`, e.g. 150004.
    pub version_num: i64,
    /// `(name, default_version)` of every extension the server offers, sorted.
    pub extensions: Vec<(String, String)>,
    /// `current_user` of the connection the shadow is built with.
    pub role: String,
}

/// Everything a shadow build depends on.
#[derive(Debug)]
pub struct ShadowInputs<'a> {
    pub versioned: &'a [&'a Migration],
    pub repeatables: &'a [&'a Repeatable],
    pub managed_parents: &'a [&'a str],
    pub server: &'a ShadowServer,
    /// The extensions and roles a shadow is created with.
    pub setup_extensions: &'a [&'a str],
    pub setup_roles: &'a [&'a str],
    /// The SQL of the catalog queries that read a snapshot.
    pub catalog_queries: &'a [String],
    /// `CARGO_PKG_VERSION` of the rez-db that builds.
    pub rez_db_version: &'a str,
}

/// The digest of what a shadow build depends on: lowercase hex SHA-256 of
/// one JSON document (unambiguous: every part is a typed field, every list
/// is in the order the build uses it).
pub fn snapshot_key(inputs: &ShadowInputs) -> String {
    #[derive(Serialize)]
    struct Keyed<'a> {
        format: u32,
        versioned: Vec<(i64, &'a str)>,
        repeatables: Vec<(&'a str, &'a str)>,
        managed_parents: &'a [&'a str],
        server: &'a ShadowServer,
        setup_extensions: &'a [&'a str],
        setup_roles: &'a [&'a str],
        catalog_queries: &'a [String],
        rez_db_version: &'a str,
    }
    let keyed = Keyed {
        format: CACHE_FORMAT,
        versioned: inputs
            .versioned
            .iter()
            .map(|m| (m.version, m.checksum.as_str()))
            .collect(),
        repeatables: inputs
            .repeatables
            .iter()
            .map(|r| (r.name.as_str(), r.checksum.as_str()))
            .collect(),
        managed_parents: inputs.managed_parents,
        server: inputs.server,
        setup_extensions: inputs.setup_extensions,
        setup_roles: inputs.setup_roles,
        catalog_queries: inputs.catalog_queries,
        rez_db_version: inputs.rez_db_version,
    };
    // Serializing plain strings, integers and tuples cannot fail.
    let json = serde_json::to_string(&keyed).unwrap_or_default();
    sha256_hex(&json)
}

/// One cache file: the snapshot with what it was built from, so a file that
/// is foreign (another format), or another key's, is told apart from a hit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct CacheEntry {
    pub format: u32,
    pub key: String,
    pub rez_db_version: String,
    pub snapshot: SchemaSnapshot,
}

impl CacheEntry {
    pub fn new(key: &str, rez_db_version: &str, snapshot: SchemaSnapshot) -> CacheEntry {
        CacheEntry {
            format: CACHE_FORMAT,
            key: key.to_string(),
            rez_db_version: rez_db_version.to_string(),
            snapshot,
        }
    }

    /// Why this entry cannot stand for `key`'s snapshot, if it cannot.
    pub fn unusable_for(&self, key: &str) -> Option<String> {
        if self.format != CACHE_FORMAT {
            return Some(format!(
                "cache format {} (this rez-db writes {CACHE_FORMAT})",
                self.format
            ));
        }
        if self.key != key {
            return Some("it holds another key's schema".to_string());
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::source::from_files;

    fn server() -> ShadowServer {
        ShadowServer {
            version_num: 150004,
            extensions: vec![("pgcrypto".into(), "1.3".into())],
            role: "postgres".into(),
        }
    }

    fn key_of(files: &[(&str, &str)], server: &ShadowServer, parents: &[&str]) -> String {
        let set = from_files(
            files
                .iter()
                .map(|(name, text)| (name.to_string(), text.to_string())),
        )
        .unwrap();
        let versioned: Vec<&Migration> = set.iter().collect();
        snapshot_key(&ShadowInputs {
            versioned: &versioned,
            repeatables: &[],
            managed_parents: parents,
            server,
            setup_extensions: &["pgcrypto"],
            setup_roles: &["app_user"],
            catalog_queries: &["SELECT 1".to_string()],
            rez_db_version: "1.0.0",
        })
    }

    #[test]
    fn the_key_changes_with_each_input_and_only_then() {
        let files = [
            ("0001_a.sql", "CREATE TABLE a ();"),
            ("0002_b.sql", "SELECT 1;"),
        ];
        let base = key_of(&files, &server(), &["orders"]);
        assert_eq!(base.len(), 64);
        assert_eq!(base, key_of(&files, &server(), &["orders"]));
        // The same text with CRLF: the same checksum, the same key.
        let crlf = [
            ("0001_a.sql", "CREATE TABLE a ();\r\n"),
            ("0002_b.sql", "SELECT 1;"),
        ];
        let lf = [
            ("0001_a.sql", "CREATE TABLE a ();\n"),
            ("0002_b.sql", "SELECT 1;"),
        ];
        assert_eq!(
            key_of(&crlf, &server(), &["orders"]),
            key_of(&lf, &server(), &["orders"])
        );
        let edited = [
            ("0001_a.sql", "CREATE TABLE a (x int);"),
            ("0002_b.sql", "SELECT 1;"),
        ];
        assert_ne!(base, key_of(&edited, &server(), &["orders"]));
        assert_ne!(base, key_of(&files[..1], &server(), &["orders"]));
        assert_ne!(base, key_of(&files, &server(), &[]));
        let newer = ShadowServer {
            version_num: 160000,
            ..server()
        };
        assert_ne!(base, key_of(&files, &newer, &["orders"]));
        let upgraded = ShadowServer {
            extensions: vec![("pgcrypto".into(), "1.4".into())],
            ..server()
        };
        assert_ne!(base, key_of(&files, &upgraded, &["orders"]));
        let other_role = ShadowServer {
            role: "deployer".into(),
            ..server()
        };
        assert_ne!(base, key_of(&files, &other_role, &["orders"]));
    }

    #[test]
    fn an_entry_of_another_format_or_key_is_unusable() {
        let entry = CacheEntry::new("abc", "1.0.0", SchemaSnapshot::default());
        assert_eq!(entry.unusable_for("abc"), None);
        assert!(entry.unusable_for("abd").is_some());
        let old = CacheEntry {
            format: CACHE_FORMAT + 1,
            ..entry
        };
        assert!(old.unusable_for("abc").unwrap().contains("cache format"));
    }
}
