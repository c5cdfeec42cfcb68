//! The versions a restore depends on: `backup` records them per store in the
//! manifest, `restore` compares them with the target's before it touches
//! anything. Restoring onto an older server than the source (a Redis DUMP
//! payload, a MongoDB feature, a PostgreSQL catalog that an older release
//! does not know), or with a pg_restore older than the pg_dump that wrote the
//! archive, is refused unless the caller allows it; so is another product
//! (Elasticsearch and OpenSearch, Redis and Valkey). The comparison is pure.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// What a store's backup was taken from (and, for a restore, what its
/// target offers). Versions are dotted numbers as the servers report them.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Versions {
    /// `postgresql`, `mongodb`, `redis` (or `valkey`), `elasticsearch` (or `opensearch`).
    pub product: String,
    pub server: String,
    /// PostgreSQL: the pg_dump that wrote the archive (restore: the pg_restore that reads it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// PostgreSQL: the archive's format version (`Dump Version` of `pg_restore --list`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archive_format: Option<String>,
    /// MongoDB: the feature compatibility version, when the server tells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feature_compatibility: Option<String>,
}

impl Versions {
    /// A server's product and version, nothing else known.
    pub fn of_server(product: impl Into<String>, server: impl Into<String>) -> Versions {
        Versions {
            product: product.into(),
            server: server.into(),
            ..Versions::default()
        }
    }
}

/// The leading dotted number of a version text: `15.10 (Debian 15.10-1)` ->
/// [15, 10]; `8.13.0-SNAPSHOT` -> [8, 13, 0]; trailing zeros dropped, so
/// `8.13` and `8.13.0` are the same version.
pub fn numbers(text: &str) -> Vec<u64> {
    let token = text.trim().split([' ', '-', '+', '(']).next().unwrap_or("");
    let mut out: Vec<u64> = token
        .split('.')
        .map_while(|part| {
            let digits: String = part.chars().take_while(char::is_ascii_digit).collect();
            digits.parse().ok()
        })
        .collect();
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

/// The version at the start of a server's version text, as written
/// (`15.10 (Debian 15.10-1)` -> `15.10`).
pub fn numbers_text(text: &str) -> String {
    text.split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// `a` against `b` as versions; None when either is not a version.
fn compare(a: &str, b: &str) -> Option<Ordering> {
    let (a, b) = (numbers(a), numbers(b));
    (!a.is_empty() && !b.is_empty()).then(|| a.cmp(&b))
}

/// Why restoring a backup of `store` taken from `source` onto `target` is
/// unsafe, each naming both versions; empty when nothing is older or different.
pub fn refusals(store: &str, source: &Versions, target: &Versions) -> Vec<String> {
    let mut out = Vec::new();
    if !source.product.eq_ignore_ascii_case(&target.product) {
        out.push(format!(
            "{store}: the backup was taken from {} {}, the target runs {} {}",
            source.product, source.server, target.product, target.server
        ));
        return out;
    }
    if compare(&target.server, &source.server) == Some(Ordering::Less) {
        out.push(format!(
            "{store}: the target runs {} {}, older than the {} {} the backup was taken from",
            target.product, target.server, source.product, source.server
        ));
    }
    if let (Some(dumped_by), Some(reader)) = (&source.client, &target.client) {
        if compare(reader, dumped_by) == Some(Ordering::Less) {
            let format = source
                .archive_format
                .as_ref()
                .map(|f| format!(", archive format {f}"))
                .unwrap_or_default();
            out.push(format!(
                "{store}: pg_restore {reader} is older than the pg_dump {dumped_by} that wrote the archive{format}"
            ));
        }
    }
    if let (Some(was), Some(is)) = (&source.feature_compatibility, &target.feature_compatibility) {
        if compare(is, was) == Some(Ordering::Less) {
            out.push(format!(
                "{store}: the target's feature compatibility version is {is}, older than the backup's {was}"
            ));
        }
    }
    out
}

/// `Dump Version` from the header that `pg_restore --list` prints (`1.14-0`).
pub fn archive_format(listing: &str) -> Option<String> {
    listing.lines().find_map(|line| {
        line.trim_start_matches(';')
            .trim()
            .strip_prefix("Dump Version:")
            .map(|v| v.trim().to_string())
    })
}

/// The version in a client tool's `--version` line
/// (`pg_dump (PostgreSQL) 15.10 (Debian 15.10-1)` -> `15.10`).
pub fn tool_version(line: &str) -> Option<String> {
    let after = line.split(')').nth(1)?.split_whitespace().next()?;
    Some(after.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(product: &str, server: &str) -> Versions {
        Versions {
            product: product.into(),
            server: server.into(),
            ..Versions::default()
        }
    }

    #[test]
    fn versions_are_compared_as_numbers() {
        assert_eq!(numbers("15.10 (Debian 15.10-1.pgdg120+1)"), [15, 10]);
        assert_eq!(numbers("8.13.0-SNAPSHOT"), [8, 13]);
        assert_eq!(numbers("7.0.12"), [7, 0, 12]);
        assert_eq!(numbers("unknown"), Vec::<u64>::new());
        assert_eq!(compare("15.9", "15.10"), Some(Ordering::Less));
        assert_eq!(compare("8.13", "8.13.0"), Some(Ordering::Equal));
        assert_eq!(compare("unknown", "1"), None);
    }

    #[test]
    fn an_older_target_or_reader_or_another_product_is_refused_naming_both() {
        assert!(refusals(
            "postgres",
            &v("postgresql", "15.10"),
            &v("postgresql", "15.10")
        )
        .is_empty());
        assert!(refusals(
            "postgres",
            &v("postgresql", "15.9"),
            &v("postgresql", "16.1")
        )
        .is_empty());
        let older = refusals("redis", &v("redis", "7.2.4"), &v("redis", "7.0.15"));
        assert_eq!(
            older,
            ["redis: the target runs redis 7.0.15, older than the redis 7.2.4 the backup was taken from"]
        );
        let other = refusals(
            "elasticsearch",
            &v("elasticsearch", "8.13.0"),
            &v("opensearch", "2.11.0"),
        );
        assert!(
            other[0].contains("elasticsearch 8.13.0") && other[0].contains("opensearch 2.11.0")
        );
        let source = Versions {
            client: Some("15.10".into()),
            archive_format: Some("1.15-0".into()),
            ..v("postgresql", "15.10")
        };
        let target = Versions {
            client: Some("15.8".into()),
            ..v("postgresql", "15.10")
        };
        assert_eq!(
            refusals("postgres", &source, &target),
            ["postgres: pg_restore 15.8 is older than the pg_dump 15.10 that wrote the archive, archive format 1.15-0"]
        );
        let fcv = |f: &str| Versions {
            feature_compatibility: Some(f.into()),
            ..v("mongodb", "7.0.5")
        };
        assert_eq!(refusals("mongodb", &fcv("7.0"), &fcv("6.0")).len(), 1);
        // Unknown versions are not judged.
        assert!(refusals("redis", &v("redis", "unknown"), &v("redis", "7.0")).is_empty());
    }

    #[test]
    fn reads_the_archive_format_and_tool_versions() {
        let listing = ";\n; Archive created at 2026-12-07\n;     dbname: rez\n;     Dump Version: 1.14-0\n;     Format: DIRECTORY\n";
        assert_eq!(archive_format(listing).as_deref(), Some("1.14-0"));
        assert_eq!(archive_format("nothing"), None);
        assert_eq!(
            tool_version("pg_dump (PostgreSQL) 15.10 (Debian 15.10-0+deb12u1)").as_deref(),
            Some("15.10")
        );
    }
}
