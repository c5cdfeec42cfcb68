//! `es-mappings/<alias>.json`: an index's settings and mappings. Each file must
//! carry the analysis settings its mappings use (the reference's `merchants`
//! mapping uses an `autocomplete` analyzer only `products` defines, which a
//! strict server rejects). Also the pure comparison of a file with the live
//! mapping and settings a server returns.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{file_error, sha256, stem};
use crate::error::CommandError;

const FIX: &str = "an es-mappings file is {\"settings\": {...}, \"mappings\": {\"dynamic\": ..., \"properties\": {...}}}; \
                   see es-mappings/products.json";

/// Analyzers every Elasticsearch and OpenSearch node has.
const BUILT_IN_ANALYZERS: &[&str] = &[
    "standard",
    "simple",
    "whitespace",
    "stop",
    "keyword",
    "pattern",
    "fingerprint",
    "english",
];

#[derive(Debug, Clone, PartialEq)]
pub struct IndexDefinition {
    /// The alias (`products`); versioned indices are `<alias>_v<N>`.
    pub name: String,
    pub file: String,
    pub sha256: String,
    pub settings: Settings,
    pub mappings: Mappings,
    /// The file's body, sent as is to create an index.
    pub body: Value,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<Analysis>,
    /// Index settings such as number_of_shards, compared with the live ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Clone, PartialEq, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Analysis {
    #[serde(default)]
    pub analyzer: BTreeMap<String, Value>,
    #[serde(default)]
    pub filter: BTreeMap<String, Value>,
    #[serde(default)]
    pub tokenizer: BTreeMap<String, Value>,
    #[serde(default)]
    pub char_filter: BTreeMap<String, Value>,
    #[serde(default)]
    pub normalizer: BTreeMap<String, Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Mappings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dynamic: Option<String>,
    pub properties: BTreeMap<String, Field>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Field {
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analyzer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_analyzer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scaling_factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Field>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub properties: BTreeMap<String, Field>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    #[serde(default)]
    settings: Settings,
    mappings: Mappings,
}

impl IndexDefinition {
    pub fn parse(path: &str, text: &str) -> Result<IndexDefinition, CommandError> {
        let raw: RawFile =
            serde_json::from_str(text).map_err(|e| file_error(path, Some(e.line()), e, FIX))?;
        let body: Value =
            serde_json::from_str(text).map_err(|e| file_error(path, Some(e.line()), e, FIX))?;
        let defined: Vec<&str> = raw
            .settings
            .analysis
            .as_ref()
            .map(|a| a.analyzer.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut used = Vec::new();
        analyzers_used("", &raw.mappings.properties, &mut used);
        for (field, analyzer) in used {
            if !BUILT_IN_ANALYZERS.contains(&analyzer.as_str())
                && !defined.contains(&analyzer.as_str())
            {
                let line = text
                    .lines()
                    .position(|l| l.contains(&format!("\"{analyzer}\"")))
                    .map(|i| i + 1);
                return Err(file_error(
                    path,
                    line,
                    format!("field `{field}` uses analyzer `{analyzer}`, which this file does not define"),
                    "every index must carry the analysis settings it uses: add it under settings.analysis.analyzer",
                ));
            }
        }
        let name = stem(path);
        if name.is_empty()
            || name.contains(|c: char| c.is_ascii_uppercase() || c == '_' && name.starts_with('_'))
        {
            return Err(file_error(
                path,
                None,
                "not a valid index name",
                "name the file <alias>.json in lowercase",
            ));
        }
        Ok(IndexDefinition {
            name,
            file: path.to_string(),
            sha256: sha256(text),
            settings: raw.settings,
            mappings: raw.mappings,
            body,
        })
    }

    /// How the live mapping (`GET <index>/_mapping`'s `mappings` object) differs from the file.
    pub fn mapping_differences(&self, live: &Value) -> Vec<String> {
        let mut out = Vec::new();
        let live_dynamic = live.get("dynamic").map(scalar);
        if self.mappings.dynamic.as_deref().map(str::to_string) != live_dynamic {
            out.push(format!(
                "dynamic: {} (file) vs {} (server)",
                self.mappings.dynamic.as_deref().unwrap_or("default"),
                live.get("dynamic")
                    .map(scalar)
                    .unwrap_or_else(|| "default".into())
            ));
        }
        let empty = serde_json::Map::new();
        let props = live
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        compare_fields("", &self.mappings.properties, props, &mut out);
        out
    }

    /// How the live settings (`GET <index>/_settings`'s `settings.index` object)
    /// differ from the file, for the keys the file declares. Servers return
    /// every scalar as a string, so scalars compare as text.
    pub fn settings_differences(&self, live_index: &Value) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(analysis) = &self.settings.analysis {
            let want = serde_json::to_value(analysis).unwrap_or(Value::Null);
            let have = live_index.get("analysis").cloned().unwrap_or(Value::Null);
            for section in [
                "analyzer",
                "filter",
                "tokenizer",
                "char_filter",
                "normalizer",
            ] {
                let w = want.get(section).cloned().unwrap_or_default();
                let h = have.get(section).cloned().unwrap_or_default();
                let (w, h) = (normalise(&w), normalise(&h));
                let empty = |v: &Value| v.is_null() || v.as_object().is_some_and(|o| o.is_empty());
                if w != h && !(empty(&w) && empty(&h)) {
                    out.push(format!("analysis.{section}: {w} (file) vs {h} (server)"));
                }
            }
        }
        for (key, want) in self.settings.index.iter().flatten() {
            let have = live_index.get(key).map(normalise).unwrap_or(Value::Null);
            if normalise(want) != have {
                out.push(format!(
                    "index.{key}: {} (file) vs {have} (server)",
                    normalise(want)
                ));
            }
        }
        out
    }
}

fn analyzers_used(prefix: &str, fields: &BTreeMap<String, Field>, out: &mut Vec<(String, String)>) {
    for (name, f) in fields {
        let path = format!("{prefix}{name}");
        for a in [&f.analyzer, &f.search_analyzer].into_iter().flatten() {
            out.push((path.clone(), a.clone()));
        }
        analyzers_used(&format!("{path}."), &f.fields, out);
        analyzers_used(&format!("{path}."), &f.properties, out);
    }
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Scalars as strings, numbers in their shortest form (`100` and `100.0` agree).
fn normalise(v: &Value) -> Value {
    match v {
        Value::Object(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), normalise(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(normalise).collect()),
        Value::Number(n) => Value::String(match n.as_f64() {
            Some(x) if x.fract() == 0.0 && x.abs() < 1e15 => format!("{}", x as i64),
            _ => n.to_string(),
        }),
        Value::String(s) => match s.parse::<f64>() {
            Ok(x) if x.fract() == 0.0 && x.abs() < 1e15 && !s.is_empty() => {
                Value::String(format!("{}", x as i64))
            }
            _ => Value::String(s.clone()),
        },
        Value::Bool(b) => Value::String(b.to_string()),
        Value::Null => Value::Null,
    }
}

fn compare_fields(
    prefix: &str,
    want: &BTreeMap<String, Field>,
    have: &serde_json::Map<String, Value>,
    out: &mut Vec<String>,
) {
    for (name, w) in want {
        let path = format!("{prefix}{name}");
        let Some(h) = have.get(name) else {
            out.push(format!("{path}: missing on the server"));
            continue;
        };
        let text = |key: &str| h.get(key).map(scalar);
        let default_type = if h.get("properties").is_some() {
            Some("object".to_string())
        } else {
            None
        };
        let live_type = text("type").or(default_type);
        if live_type.as_deref() != Some(w.field_type.as_str()) {
            out.push(format!(
                "{path}: type {} (file) vs {} (server)",
                w.field_type,
                live_type.unwrap_or_default()
            ));
        }
        for (key, want) in [
            ("analyzer", &w.analyzer),
            ("search_analyzer", &w.search_analyzer),
            ("format", &w.format),
        ] {
            if want.as_deref() != text(key).as_deref() {
                out.push(format!(
                    "{path}: {key} {} (file) vs {} (server)",
                    want.as_deref().unwrap_or("default"),
                    text(key).unwrap_or_else(|| "default".into())
                ));
            }
        }
        let live_scaling = h
            .get("scaling_factor")
            .and_then(|v| v.as_f64().or_else(|| v.as_str()?.parse().ok()));
        if w.scaling_factor != live_scaling {
            out.push(format!(
                "{path}: scaling_factor {:?} (file) vs {live_scaling:?} (server)",
                w.scaling_factor
            ));
        }
        let empty = serde_json::Map::new();
        compare_fields(
            &format!("{path}."),
            &w.fields,
            h.get("fields").and_then(Value::as_object).unwrap_or(&empty),
            out,
        );
        compare_fields(
            &format!("{path}."),
            &w.properties,
            h.get("properties")
                .and_then(Value::as_object)
                .unwrap_or(&empty),
            out,
        );
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        out.push(format!("{prefix}{name}: on the server, not in the file"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn products() -> IndexDefinition {
        IndexDefinition::parse(
            "es-mappings/products.json",
            include_str!("../../es-mappings/products.json"),
        )
        .unwrap()
    }

    #[test]
    fn an_analyzer_the_file_does_not_define_is_refused() {
        // The reference's merchants mapping, as written there.
        let text = r#"{"mappings": {"properties": {
            "business_name": {"type": "text", "fields": {"autocomplete": {"type": "text", "analyzer": "autocomplete"}}}}}}"#;
        let err = IndexDefinition::parse("es-mappings/merchants.json", text).unwrap_err();
        assert!(
            err.message.contains("business_name.autocomplete"),
            "{}",
            err.message
        );
        assert!(
            err.message.starts_with("es-mappings/merchants.json:2"),
            "{}",
            err.message
        );
        assert!(
            err.hints[0].contains("settings.analysis"),
            "{:?}",
            err.hints
        );
    }

    #[test]
    fn bad_json_and_unknown_keys_name_the_line() {
        let err = IndexDefinition::parse("x.json", "{\n\"mappings\": {\"properties\": {\"a\": {\"type\": \"keyword\",\n \"analyser\": \"x\"}}}}").unwrap_err();
        assert!(err.message.starts_with("x.json:3"), "{}", err.message);
        assert!(err.message.contains("analyser"), "{}", err.message);
    }

    #[test]
    fn live_mapping_as_a_server_returns_it_is_the_same() {
        let p = products();
        let mut live =
            json!({"dynamic": "strict", "properties": p.body["mappings"]["properties"].clone()});
        live["properties"]["price"]["scaling_factor"] = json!(100.0);
        assert!(
            p.mapping_differences(&live).is_empty(),
            "{:?}",
            p.mapping_differences(&live)
        );
        live["properties"]["price"] = json!({"type": "float"});
        live["properties"]["extra"] = json!({"type": "keyword"});
        let diffs = p.mapping_differences(&live);
        assert!(
            diffs.contains(&"price: type scaled_float (file) vs float (server)".to_string()),
            "{diffs:?}"
        );
        assert!(
            diffs.contains(&"extra: on the server, not in the file".to_string()),
            "{diffs:?}"
        );
    }

    #[test]
    fn live_settings_with_string_scalars_are_the_same() {
        let p = products();
        let live = json!({"number_of_shards": "1", "analysis": {
            "analyzer": {"autocomplete": {"filter": ["lowercase", "autocomplete_filter"], "tokenizer": "standard", "type": "custom"}},
            "filter": {"autocomplete_filter": {"max_gram": "20", "min_gram": "2", "type": "edge_ngram"}}}});
        assert!(
            p.settings_differences(&live).is_empty(),
            "{:?}",
            p.settings_differences(&live)
        );
        let mut changed = live.clone();
        changed["analysis"]["filter"]["autocomplete_filter"]["max_gram"] = json!("10");
        assert_eq!(p.settings_differences(&changed).len(), 1);
    }
}
