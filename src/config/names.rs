//! The names rez-db puts into another store's namespace, checked against that
//! store's rules before any request: the MongoDB database name, the
//! Elasticsearch index prefix, the Redis key prefix. Pure: no I/O.
//!
//! A name that breaks a rule is not "fixed" here: a prefix `x_*` would make
//! `status` match other indices by wildcard, a prefix `../` would put path
//! segments into requests, and a database path `logs_a/../admin` (which URL
//! parsing normalises to `admin`) would make `restore --force` drop `admin`.
//! Each `Err` is the rule that was broken, for a usage error (exit 2).

use percent_encoding::percent_decode_str;

/// MongoDB's rule for database names, as the messages state it.
pub const MONGO_RULE: &str = "a MongoDB database name is one path segment of 1 to 63 bytes, \
     without / \\ . \" $ * < > : | ? space or NUL";

/// Elasticsearch's rule for index names, as the messages state it.
pub const ES_RULE: &str =
    "an Elasticsearch index name is lowercase, without \\ / * ? \" < > | , # : \
     space or control characters, and does not start with - _ + or .; the prefix may be at most \
     200 bytes, so that the names it starts stay under the 255 of an index name";

/// The longest index prefix: `<prefix>merchants_v<N>` and the like must stay
/// within Elasticsearch's 255 bytes.
const ES_PREFIX_MAX: usize = 200;

/// The database a MongoDB URI names, from the URI as written (not a parsed
/// URL: URL parsing resolves `..` and would turn `logs_a/../admin` into
/// `admin`). It must be exactly one path segment, percent-decoded, that
/// MongoDB accepts as a database name
/// (<https://www.mongodb.com/docs/manual/reference/limits/#naming-restrictions>:
/// the Unix and Windows forbidden characters both, since a database must
/// move between servers).
pub fn mongo_database(uri: &str) -> Result<String, String> {
    let segment = raw_path(uri);
    if segment.contains('/') {
        return Err(format!("`{}` is not one path segment", field(segment)));
    }
    let name = percent_decode_str(segment)
        .decode_utf8()
        .map_err(|_| "the database name is not UTF-8".to_string())?
        .into_owned();
    if name.is_empty() {
        return Err("the URI names no database (its path is empty)".into());
    }
    if name.len() > 63 {
        return Err(format!(
            "`{}` is {} bytes long; MongoDB allows fewer than 64 bytes",
            field(&name),
            name.len()
        ));
    }
    if let Some(c) = name.chars().find(|c| {
        matches!(
            c,
            '/' | '\\' | '.' | '"' | '$' | '*' | '<' | '>' | ':' | '|' | '?'
        )
    }) {
        return Err(format!("`{}` contains `{c}`", field(&name)));
    }
    if name.contains(' ') {
        return Err(format!("`{}` contains a space", field(&name)));
    }
    if name.contains('\0') {
        return Err(format!("`{}` contains a NUL", field(&name)));
    }
    Ok(name)
}

/// PostgreSQL's rule for the database of a URL, as the messages state it.
pub const PG_RULE: &str = "a PostgreSQL database URL names its database as one path segment \
     (postgres://host/NAME), without `/`, NUL, and not `.` or `..`";

/// Checks the database path of a PostgreSQL URL as written: URL parsing
/// resolves `..`, so `postgres://h/rez/../postgres` would silently act on
/// `postgres` (and `restore --force` would drop and recreate it). At most
/// one segment: an empty path (the server's default database) is allowed.
pub fn pg_database(url: &str) -> Result<(), String> {
    let segment = raw_path(url);
    if segment.contains('/') {
        return Err(format!("`{}` is not one path segment", field(segment)));
    }
    let name = percent_decode_str(segment).decode_utf8_lossy();
    if name == "." || name == ".." {
        return Err(format!("`{}` is not a database name", field(&name)));
    }
    if name.contains('\0') {
        return Err(format!("`{}` contains a NUL", field(&name)));
    }
    Ok(())
}

/// The path of a URI as written, without its leading `/`, query or fragment:
/// what follows the first `/` after `scheme://` (user info and hosts hold no
/// unencoded `/`).
fn raw_path(uri: &str) -> &str {
    let rest = uri.split_once("://").map_or(uri, |(_, r)| r);
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    rest.split_once('/').map_or("", |(_, path)| path)
}

/// Checks an Elasticsearch index prefix: every index and alias name rez-db
/// uses starts with it, so it must obey the index-name rules itself
/// (<https://www.elastic.co/guide/en/elasticsearch/reference/current/indices-create-index.html>,
/// path parameters).
/// An empty prefix is no prefix.
pub fn es_index_prefix(prefix: &str) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    let quoted = field(prefix);
    if let Some(c) = prefix.chars().find(|c| {
        matches!(
            c,
            '\\' | '/' | '*' | '?' | '"' | '<' | '>' | '|' | ',' | '#' | ':'
        )
    }) {
        return Err(format!("`{quoted}` contains `{c}`"));
    }
    if prefix.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "`{quoted}` contains a space or a control character"
        ));
    }
    if prefix.chars().any(char::is_uppercase) {
        return Err(format!("`{quoted}` is not lowercase"));
    }
    if let Some(c) = prefix
        .chars()
        .next()
        .filter(|c| matches!(c, '-' | '_' | '+' | '.'))
    {
        // `.` and `..` are forbidden names; other leading dots are hidden or
        // system indices, deprecated for anything else.
        return Err(format!("`{quoted}` may not start with `{c}`"));
    }
    if prefix.len() > ES_PREFIX_MAX {
        return Err(format!(
            "the prefix is {} bytes long; at most {ES_PREFIX_MAX}",
            prefix.len()
        ));
    }
    Ok(())
}

/// Checks a Redis key prefix. Keys are binary-safe and glob characters are
/// escaped in every SCAN MATCH ([`glob_literal`]); a control character would
/// make keys that no terminal shows as typed, so it is refused.
pub fn redis_key_prefix(prefix: &str) -> Result<(), String> {
    match prefix.chars().find(|c| c.is_control()) {
        Some(c) => Err(format!(
            "`{}` contains the control character {c:?}; a Redis key prefix is printable text",
            field(prefix)
        )),
        None => Ok(()),
    }
}

/// `s` as a SCAN MATCH pattern that matches itself only: glob characters
/// (`*`, `?`, `[`, `]`, `\`) escaped. Every SCAN under the key prefix uses it.
pub fn glob_literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn field(value: &str) -> String {
    crate::secret::field(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_postgres_database_is_one_segment_as_written() {
        assert!(pg_database("postgres://u:p@h:5432/rez").is_ok());
        assert!(pg_database("postgres://h/rez?sslmode=disable").is_ok());
        assert!(pg_database("postgres://h").is_ok());
        assert!(pg_database("postgres://h/rez/../postgres").is_err());
        assert!(pg_database("postgres://h/..").is_err());
        assert!(pg_database("postgres://h/%2E%2E").is_err());
        assert!(pg_database("postgres://h/a%00b").is_err());
    }

    #[test]
    fn the_database_comes_from_the_raw_path() {
        assert_eq!(raw_path("mongodb://u:p@h:1,h2/db?x=1"), "db");
        assert_eq!(raw_path("mongodb://h/a/../b"), "a/../b");
        assert_eq!(raw_path("mongodb://h?x=/y"), "");
        assert_eq!(raw_path("mongodb://h"), "");
        assert_eq!(
            mongo_database("mongodb://h/rez%5Flogs").as_deref(),
            Ok("rez_logs")
        );
        assert!(mongo_database("mongodb://h/a%2e%2e").is_err());
    }

    #[test]
    fn prefixes_are_matched_literally() {
        assert_eq!(glob_literal("t[1]*:"), "t\\[1\\]\\*:");
        assert_eq!(glob_literal("a?\\"), "a\\?\\\\");
    }
}
