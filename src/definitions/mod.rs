//! The declared shape of the three non-relational stores: `mongo-indexes/*.yaml`,
//! `redis-layout.toml` and `es-mappings/*.json`, parsed into typed structs.
//!
//! The files are built into the binary (like the migrations), so `rez-db` always
//! provisions what it was released with; `--definitions DIR` reads them from a
//! directory instead. A bad file is a usage error (exit 2) that names the file, the
//! line or key, and the fix. Everything here is pure: the comparisons of a
//! declaration with what a live store reports are functions of two values, so they
//! are unit-tested without a server. Applying them is `crate::provision`'s job.

pub mod es;
pub mod mongo;
pub mod redis;
pub mod reference;

use std::path::Path;

use include_dir::{include_dir, Dir};
use sha2::{Digest, Sha256};

use crate::error::CommandError;

static MONGO_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/mongo-indexes");
static ES_DIR: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/es-mappings");
static REDIS_LAYOUT: &str = include_str!("../../redis-layout.toml");

pub const MONGO_DIR_NAME: &str = "mongo-indexes";
pub const ES_DIR_NAME: &str = "es-mappings";
pub const REDIS_FILE_NAME: &str = "redis-layout.toml";

/// Everything declared for MongoDB, Redis and Elasticsearch.
#[derive(Debug, Clone)]
pub struct Definitions {
    /// One per collection, in file-name order.
    pub mongo: Vec<mongo::Collection>,
    pub redis: redis::Layout,
    /// One per index alias, in file-name order.
    pub es: Vec<es::IndexDefinition>,
}

impl Definitions {
    /// The definitions built into this binary.
    pub fn embedded() -> Result<Definitions, CommandError> {
        let files = |dir: &Dir<'static>, parent: &str, ext: &str| -> Vec<(String, String)> {
            let mut files: Vec<(String, String)> = dir
                .files()
                .filter(|f| f.path().extension().is_some_and(|e| e == ext))
                .map(|f| {
                    (
                        format!("{parent}/{}", f.path().display()),
                        f.contents_utf8().unwrap_or_default().to_string(),
                    )
                })
                .collect();
            files.sort();
            files
        };
        Self::parse(
            files(&MONGO_DIR, MONGO_DIR_NAME, "yaml"),
            (REDIS_FILE_NAME.to_string(), REDIS_LAYOUT.to_string()),
            files(&ES_DIR, ES_DIR_NAME, "json"),
        )
        .map_err(|e| CommandError::bug(format!("the built-in definitions are broken: {e}")))
    }

    /// Parses definition files given as (path shown, text): the MongoDB
    /// collections, the Redis layout, the Elasticsearch indices. The caller
    /// reads them (`crate::context` for `--definitions DIR`): this module
    /// does no I/O.
    pub fn parse(
        mongo_files: Vec<(String, String)>,
        redis_file: (String, String),
        es_files: Vec<(String, String)>,
    ) -> Result<Definitions, CommandError> {
        let mongo = mongo_files
            .iter()
            .map(|(path, text)| mongo::Collection::parse(path, text))
            .collect::<Result<Vec<_>, _>>()?;
        let redis = redis::Layout::parse(&redis_file.0, &redis_file.1)?;
        let es = es_files
            .iter()
            .map(|(path, text)| es::IndexDefinition::parse(path, text))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Definitions { mongo, redis, es })
    }

    /// The Elasticsearch definition for alias `name` (without prefix).
    pub fn es_index(&self, name: &str) -> Option<&es::IndexDefinition> {
        self.es.iter().find(|d| d.name == name)
    }
}

/// SHA-256 of a definition file's bytes, hex: recorded in each store's history so
/// `status` can say which version of the file a store was provisioned from.
pub fn sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The file stem of `path` (`mongo-indexes/x.yaml` -> `x`).
fn stem(path: &str) -> String {
    Path::new(path)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A usage error about a definition file, at an optional line.
fn file_error(
    path: &str,
    line: Option<usize>,
    message: impl std::fmt::Display,
    fix: &str,
) -> CommandError {
    let at = line.map(|l| format!(":{l}")).unwrap_or_default();
    CommandError::usage(format!("{path}{at}: {message}")).with_hint(fix.to_string())
}

/// The 1-based line of byte offset `at` in `text`.
fn line_at(text: &str, at: usize) -> usize {
    text[..at.min(text.len())].matches('\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_definitions_parse() {
        let d = Definitions::embedded().unwrap();
        let names: Vec<&str> = d.mongo.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "ab_test_results",
                "fraud_detection_logs",
                "notification_logs",
                "search_queries",
                "user_activity_logs"
            ]
        );
        let es: Vec<&str> = d.es.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(es, ["merchants", "offers", "products"]);
        assert_eq!(d.redis.keys.len(), 10);
    }
}
