//! `mongo-indexes/<collection>.yaml`: a collection's indexes (name, ordered keys,
//! options such as TTL and text) and its optional JSON-schema validator; and the
//! pure comparison of a declared index with the one a server lists.

use mongodb::bson::{Bson, Document};
use serde::{Deserialize, Serialize};

use super::{file_error, sha256, stem};
use crate::error::CommandError;

const FIX: &str =
    "see mongo-indexes/user_activity_logs.yaml for the format: collection, validator \
                   {level, action, json_schema}, indexes [{name, keys, unique, sparse, \
                   expire_after_seconds, partial_filter_expression, default_language}]";

/// One collection as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Collection {
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub validator: Option<Validator>,
    pub indexes: Vec<IndexSpec>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Validator {
    #[serde(default = "default_level")]
    pub level: String,
    #[serde(default = "default_action")]
    pub action: String,
    pub json_schema: serde_json::Value,
}

fn default_level() -> String {
    "strict".into()
}
fn default_action() -> String {
    "error".into()
}

/// How one field of an index is ordered or indexed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    Asc,
    Desc,
    Text,
    #[serde(rename = "2dsphere")]
    Geo2dSphere,
    Hashed,
}

impl KeyKind {
    fn parse(value: &serde_norway::Value) -> Option<KeyKind> {
        match value {
            serde_norway::Value::Number(n) if n.as_i64() == Some(1) => Some(KeyKind::Asc),
            serde_norway::Value::Number(n) if n.as_i64() == Some(-1) => Some(KeyKind::Desc),
            serde_norway::Value::String(s) => KeyKind::from_word(s),
            _ => None,
        }
    }

    fn from_word(s: &str) -> Option<KeyKind> {
        match s {
            "text" => Some(KeyKind::Text),
            "2dsphere" => Some(KeyKind::Geo2dSphere),
            "hashed" => Some(KeyKind::Hashed),
            _ => None,
        }
    }

    /// As written in a MongoDB key document: 1, -1 or the index type's name.
    pub fn describe(self) -> String {
        match self {
            KeyKind::Asc => "1".into(),
            KeyKind::Desc => "-1".into(),
            KeyKind::Text => "\"text\"".into(),
            KeyKind::Geo2dSphere => "\"2dsphere\"".into(),
            KeyKind::Hashed => "\"hashed\"".into(),
        }
    }
}

/// An index as declared in a file, or as listed by a server: the same shape, so
/// that comparing them is field by field.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct IndexSpec {
    pub name: String,
    /// In order: the order of a compound index's keys matters.
    pub keys: Vec<(String, KeyKind)>,
    pub unique: bool,
    pub sparse: bool,
    pub expire_after_seconds: Option<i64>,
    pub partial_filter_expression: Option<serde_json::Value>,
    /// Text indexes only.
    pub default_language: Option<String>,
}

impl IndexSpec {
    pub fn is_text(&self) -> bool {
        self.keys.iter().any(|(_, k)| *k == KeyKind::Text)
    }

    /// `{a: 1, b: -1}`, for messages.
    pub fn keys_text(&self) -> String {
        let parts: Vec<String> = self
            .keys
            .iter()
            .map(|(f, k)| format!("{f}: {}", k.describe()))
            .collect();
        format!("{{{}}}", parts.join(", "))
    }

    /// How `live` differs from this declaration; empty when they are the same index.
    /// Options the file leaves out take MongoDB's defaults (not unique, not sparse,
    /// no TTL); a text index's language defaults to english.
    pub fn differences(&self, live: &IndexSpec) -> Vec<String> {
        let mut out = Vec::new();
        if self.keys != live.keys {
            out.push(format!(
                "keys {} (file) vs {} (server)",
                self.keys_text(),
                live.keys_text()
            ));
        }
        if self.unique != live.unique {
            out.push(format!(
                "unique {} (file) vs {} (server)",
                self.unique, live.unique
            ));
        }
        if self.sparse != live.sparse {
            out.push(format!(
                "sparse {} (file) vs {} (server)",
                self.sparse, live.sparse
            ));
        }
        if self.expire_after_seconds != live.expire_after_seconds {
            let show = |v: Option<i64>| v.map_or("none".to_string(), |s| format!("{s}s"));
            out.push(format!(
                "expireAfterSeconds {} (file) vs {} (server)",
                show(self.expire_after_seconds),
                show(live.expire_after_seconds)
            ));
        }
        if self.partial_filter_expression != live.partial_filter_expression {
            let show = |v: &Option<serde_json::Value>| {
                v.as_ref().map_or("none".to_string(), |v| v.to_string())
            };
            out.push(format!(
                "partialFilterExpression {} (file) vs {} (server)",
                show(&self.partial_filter_expression),
                show(&live.partial_filter_expression)
            ));
        }
        if self.is_text() {
            let lang = |s: &IndexSpec| {
                s.default_language
                    .clone()
                    .unwrap_or_else(|| "english".into())
            };
            if lang(self) != lang(live) {
                out.push(format!(
                    "default_language {} (file) vs {} (server)",
                    lang(self),
                    lang(live)
                ));
            }
        }
        out
    }

    /// Only the TTL differs: MongoDB changes that in place (collMod), no rebuild.
    pub fn only_ttl_differs(&self, live: &IndexSpec) -> bool {
        self.expire_after_seconds != live.expire_after_seconds
            && self.expire_after_seconds.is_some()
            && live.expire_after_seconds.is_some()
            && IndexSpec {
                expire_after_seconds: live.expire_after_seconds,
                ..self.clone()
            }
            .differences(live)
            .is_empty()
    }
}

/// What the server has for one declared index.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexState {
    Missing,
    Same,
    /// The server's index (by name, or one with the same keys under another name).
    Drift {
        live_name: String,
        differences: Vec<String>,
    },
}

/// Compares every declared index with the server's list. Also returns the names
/// of live indexes the file does not declare (never dropped by rez-db).
pub fn compare<'a>(
    declared: &'a [IndexSpec],
    live: &[IndexSpec],
) -> (Vec<(&'a IndexSpec, IndexState)>, Vec<String>) {
    let states = declared
        .iter()
        .map(|d| {
            let state = match live.iter().find(|l| l.name == d.name) {
                Some(l) => match d.differences(l) {
                    diffs if diffs.is_empty() => IndexState::Same,
                    diffs => IndexState::Drift {
                        live_name: l.name.clone(),
                        differences: diffs,
                    },
                },
                // The same keys under another name: creating ours would be refused
                // (IndexOptionsConflict), so it is drift, not a missing index.
                None => match live
                    .iter()
                    .find(|l| l.keys == d.keys && !declared.iter().any(|o| o.name == l.name))
                {
                    Some(l) => IndexState::Drift {
                        live_name: l.name.clone(),
                        differences: vec![format!(
                            "named `{}` on the server, `{}` in the file",
                            l.name, d.name
                        )],
                    },
                    None => IndexState::Missing,
                },
            };
            (d, state)
        })
        .collect();
    let extras = live
        .iter()
        .filter(|l| l.name != "_id_" && !declared.iter().any(|d| d.name == l.name))
        .filter(|l| !declared.iter().any(|d| d.keys == l.keys))
        .map(|l| l.name.clone())
        .collect();
    (states, extras)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    collection: String,
    validator: Option<Validator>,
    #[serde(default)]
    indexes: Vec<RawIndex>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawIndex {
    name: String,
    keys: serde_norway::Mapping,
    #[serde(default)]
    unique: bool,
    #[serde(default)]
    sparse: bool,
    expire_after_seconds: Option<i64>,
    partial_filter_expression: Option<serde_json::Value>,
    default_language: Option<String>,
}

impl Collection {
    pub fn parse(path: &str, text: &str) -> Result<Collection, CommandError> {
        let raw: RawFile = serde_norway::from_str(text)
            .map_err(|e| file_error(path, e.location().map(|l| l.line()), e, FIX))?;
        let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|i| i + 1);
        let bad = |needle: &str, message: String, fix: &str| {
            file_error(path, line_of(needle), message, fix)
        };
        if raw.collection != stem(path) {
            return Err(bad(
                "collection:",
                format!(
                    "`collection: {}` differs from the file name",
                    raw.collection
                ),
                "name the file after the collection: mongo-indexes/<collection>.yaml",
            ));
        }
        if let Some(v) = &raw.validator {
            if !["off", "strict", "moderate"].contains(&v.level.as_str()) {
                return Err(bad(
                    "level:",
                    format!("validator level `{}`", v.level),
                    "level is off, strict or moderate",
                ));
            }
            if !["error", "warn"].contains(&v.action.as_str()) {
                return Err(bad(
                    "action:",
                    format!("validator action `{}`", v.action),
                    "action is error or warn",
                ));
            }
            if !v.json_schema.is_object() {
                return Err(bad(
                    "json_schema:",
                    "json_schema is not a mapping".into(),
                    "json_schema is a $jsonSchema document",
                ));
            }
        }
        let mut indexes = Vec::new();
        for r in raw.indexes {
            let at = format!("name: {}", r.name);
            if indexes.iter().any(|i: &IndexSpec| i.name == r.name) {
                return Err(bad(
                    &at,
                    format!("index `{}` is declared twice", r.name),
                    "give every index its own name",
                ));
            }
            if r.name == "_id_" {
                return Err(bad(
                    &at,
                    "`_id_` is MongoDB's own index".into(),
                    "remove it from the file",
                ));
            }
            let mut keys = Vec::new();
            for (field, value) in &r.keys {
                let field = field.as_str().ok_or_else(|| {
                    bad(
                        &at,
                        format!("index `{}`: a key is not a field name", r.name),
                        "keys: { field: 1 | -1 | text | 2dsphere | hashed }",
                    )
                })?;
                let kind = KeyKind::parse(value).ok_or_else(|| {
                    bad(
                        &format!("{field}:"),
                        format!(
                            "index `{}`: key `{field}` has an unknown direction or type",
                            r.name
                        ),
                        "each key is 1, -1, text, 2dsphere or hashed",
                    )
                })?;
                keys.push((field.to_string(), kind));
            }
            if keys.is_empty() {
                return Err(bad(
                    &at,
                    format!("index `{}` has no keys", r.name),
                    "list at least one key",
                ));
            }
            if r.expire_after_seconds.is_some() && keys.len() != 1 {
                return Err(bad(
                    &at,
                    format!("index `{}`: a TTL index must have exactly one key", r.name),
                    "MongoDB only expires documents through single-field indexes on a date",
                ));
            }
            if r.expire_after_seconds.is_some_and(|s| s < 0) {
                return Err(bad(
                    &at,
                    format!("index `{}`: negative expire_after_seconds", r.name),
                    "use seconds >= 0",
                ));
            }
            indexes.push(IndexSpec {
                name: r.name,
                keys,
                unique: r.unique,
                sparse: r.sparse,
                expire_after_seconds: r.expire_after_seconds,
                partial_filter_expression: r.partial_filter_expression,
                default_language: r.default_language,
            });
        }
        Ok(Collection {
            name: raw.collection,
            file: path.to_string(),
            sha256: sha256(text),
            validator: raw.validator,
            indexes,
        })
    }
}

/// A server's `listIndexes` entry in the declared shape; `None` for entries
/// without a name or key document. Takes the BSON document (not JSON) because
/// the order of a compound index's keys matters.
pub fn live_index(doc: &Document) -> Option<IndexSpec> {
    let name = doc.get_str("name").ok()?.to_string();
    let key = doc.get_document("key").ok()?;
    let mut keys = Vec::new();
    for (field, value) in key {
        if field == "_fts" || field == "_ftsx" {
            continue;
        }
        keys.push((field.clone(), bson_kind(value)?));
    }
    if key.contains_key("_fts") {
        // A text index lists `{_fts: "text", _ftsx: 1}` (plus any prefix keys);
        // its text fields are the keys of `weights`.
        if let Ok(weights) = doc.get_document("weights") {
            keys.extend(weights.keys().map(|f| (f.clone(), KeyKind::Text)));
        }
    }
    let flag = |name: &str| doc.get_bool(name).unwrap_or(false);
    let number = |b: &Bson| match b {
        Bson::Int32(n) => Some(*n as i64),
        Bson::Int64(n) => Some(*n),
        Bson::Double(x) => Some(*x as i64),
        _ => None,
    };
    Some(IndexSpec {
        name,
        keys,
        unique: flag("unique"),
        sparse: flag("sparse"),
        expire_after_seconds: doc.get("expireAfterSeconds").and_then(number),
        partial_filter_expression: doc
            .get("partialFilterExpression")
            .map(|b| b.clone().into_relaxed_extjson()),
        default_language: doc.get_str("default_language").ok().map(str::to_string),
    })
}

fn bson_kind(value: &Bson) -> Option<KeyKind> {
    let n = match value {
        Bson::Int32(n) => *n as f64,
        Bson::Int64(n) => *n as f64,
        Bson::Double(x) => *x,
        Bson::String(s) => return KeyKind::from_word(s),
        _ => return None,
    };
    match n {
        x if x > 0.0 => Some(KeyKind::Asc),
        x if x < 0.0 => Some(KeyKind::Desc),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::doc;

    const GOOD: &str = "collection: c\nindexes:\n  - name: a_1_t_-1\n    keys: { a: 1, t: -1 }\n  - name: t_-1\n    keys: { t: -1 }\n    expire_after_seconds: 60\n";

    #[test]
    fn keys_keep_their_order() {
        let c = Collection::parse("mongo-indexes/c.yaml", GOOD).unwrap();
        assert_eq!(
            c.indexes[0].keys,
            [
                ("a".to_string(), KeyKind::Asc),
                ("t".to_string(), KeyKind::Desc)
            ]
        );
        assert_eq!(c.indexes[1].expire_after_seconds, Some(60));
    }

    #[test]
    fn bad_files_name_file_line_and_fix() {
        let err = Collection::parse(
            "mongo-indexes/c.yaml",
            "collection: c\nindexes:\n  - name: x\n    keys: { a: 1 }\n    uniqe: true\n",
        )
        .unwrap_err();
        assert!(
            err.message.starts_with("mongo-indexes/c.yaml:5"),
            "{}",
            err.message
        );
        assert!(err.message.contains("uniqe"), "{}", err.message);
        assert!(!err.hints.is_empty());

        let err = Collection::parse(
            "mongo-indexes/c.yaml",
            "collection: c\nindexes:\n  - name: x\n    keys: { a: 2 }\n",
        )
        .unwrap_err();
        assert!(
            err.message.starts_with("mongo-indexes/c.yaml:4"),
            "{}",
            err.message
        );
        assert!(err.message.contains("key `a`"), "{}", err.message);

        let err = Collection::parse("mongo-indexes/d.yaml", GOOD).unwrap_err();
        assert!(
            err.message.contains("differs from the file name"),
            "{}",
            err.message
        );
    }

    #[test]
    fn live_text_index_reads_as_declared() {
        let live = live_index(
            &doc! {"v": 2, "key": {"_fts": "text", "_ftsx": 1}, "name": "query_text",
            "weights": {"query": 1}, "default_language": "english", "textIndexVersion": 3},
        )
        .unwrap();
        let declared = IndexSpec {
            name: "query_text".into(),
            keys: vec![("query".into(), KeyKind::Text)],
            unique: false,
            sparse: false,
            expire_after_seconds: None,
            partial_filter_expression: None,
            default_language: None,
        };
        assert!(
            declared.differences(&live).is_empty(),
            "{:?}",
            declared.differences(&live)
        );
    }

    #[test]
    fn drift_missing_and_extras() {
        let c = Collection::parse("mongo-indexes/c.yaml", GOOD).unwrap();
        let live = vec![
            live_index(&doc! {"name": "_id_", "key": {"_id": 1}}).unwrap(),
            live_index(&doc! {"name": "t_-1", "key": {"t": -1}, "expireAfterSeconds": 120})
                .unwrap(),
            live_index(&doc! {"name": "other", "key": {"z": 1}}).unwrap(),
        ];
        let (states, extras) = compare(&c.indexes, &live);
        assert_eq!(states[0].1, IndexState::Missing);
        match &states[1].1 {
            IndexState::Drift { differences, .. } => {
                assert_eq!(
                    differences,
                    &["expireAfterSeconds 60s (file) vs 120s (server)"]
                )
            }
            other => panic!("{other:?}"),
        }
        assert!(c.indexes[1].only_ttl_differs(&live[1]));
        assert_eq!(extras, ["other"]);
    }

    #[test]
    fn same_keys_under_another_name_is_drift() {
        let c = Collection::parse("mongo-indexes/c.yaml", GOOD).unwrap();
        let live = vec![live_index(&doc! {"name": "by_a_t", "key": {"a": 1, "t": -1}}).unwrap()];
        let (states, extras) = compare(&c.indexes, &live);
        assert!(
            matches!(&states[0].1, IndexState::Drift { live_name, .. } if live_name == "by_a_t")
        );
        assert!(extras.is_empty());
    }
}
