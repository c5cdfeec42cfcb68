//! Elasticsearch: each `es-mappings/<name>.json` becomes a versioned index
//! `<name>_v<N>` behind the alias `<name>`, so a rebuild (`reindex-es`) can swap
//! the alias atomically and searches never see a half-built index.
//!
//! A live mapping or analysis that differs from the file is drift: an index's
//! mapping cannot be changed in place, so the fix is `rez-db reindex-es <name>`,
//! which builds a new version from the file.

use serde_json::{json, Value};

use crate::config::StoreKind;
use crate::definitions::es::IndexDefinition;
use crate::error::Result;
use crate::provision::{now, Action, ObjectRow, Options};
use crate::store::es::{Es, EsError};

const STORE: StoreKind = StoreKind::Elasticsearch;

pub async fn apply(es: &Es, defs: &[IndexDefinition], options: Options) -> Result<Vec<ObjectRow>> {
    let mut rows = Vec::new();
    for d in defs {
        rows.extend(one(es, d, options).await?);
    }
    Ok(rows)
}

/// The full name of version `version` of `d`'s index.
pub fn versioned_name(es: &Es, d: &IndexDefinition, version: u32) -> String {
    format!("{}_v{version}", es.name(&d.name))
}

/// The file's body plus `_meta` naming the file and its SHA-256, so `status` can
/// tell which file an index was built from.
pub fn body_with_meta(d: &IndexDefinition) -> Value {
    let mut body = d.body.clone();
    if let Some(m) = body.get_mut("mappings").and_then(Value::as_object_mut) {
        m.insert(
            "_meta".into(),
            json!({"rez_db": {"file": d.file, "sha256": d.sha256, "created_at": now(), "version": env!("CARGO_PKG_VERSION")}}),
        );
    }
    body
}

/// Creates version `version` of `d`'s index; `Ok(false)` when it already exists.
pub async fn create_version(es: &Es, d: &IndexDefinition, version: u32) -> Result<bool, EsError> {
    match es
        .create_index(&versioned_name(es, d, version), &body_with_meta(d))
        .await
    {
        Ok(()) => Ok(true),
        Err(e) if e.status == Some(400) && e.message.contains("already_exists") => Ok(false),
        Err(e) => Err(e),
    }
}

async fn one(es: &Es, d: &IndexDefinition, options: Options) -> Result<Vec<ObjectRow>> {
    let alias = es.name(&d.name);
    let row = |kind, name: &str, action| ObjectRow::new(STORE, kind, name.to_string(), action);
    let targets = es.alias_targets(&d.name).await?;
    if let Some(target) = targets.last() {
        let mut rows = vec![
            row("index", target, Action::Exists),
            row("alias", &alias, Action::Exists),
        ];
        let mut diffs = d.mapping_differences(&es.mapping(target).await?);
        diffs.extend(d.settings_differences(&es.settings(target).await?));
        if !diffs.is_empty() {
            rows.push(row("mapping", target, Action::Drift).with_detail(format!(
                "{}; a mapping cannot change in place: rebuild with `rez-db reindex-es {}`",
                diffs.join("; "),
                d.name
            )));
        }
        return Ok(rows);
    }
    if es.index_exists(&alias).await? {
        return Ok(vec![row("alias", &alias, Action::Drift).with_detail(format!(
            "a concrete index named `{alias}` stands where the alias belongs; move its data elsewhere and delete it, \
             then run `rez-db create` (searches keep using it until then)"
        ))]);
    }
    let versions = es.versions(&d.name).await?;
    let (index, index_action) = match versions.last() {
        // An interrupted run left versions but no alias: use the newest.
        Some((_, newest)) => (newest.clone(), Action::Exists),
        None if options.dry_run => (versioned_name(es, d, 1), Action::WouldCreate),
        None => match create_version(es, d, 1).await {
            Ok(true) => (versioned_name(es, d, 1), Action::Created),
            Ok(false) => (versioned_name(es, d, 1), Action::Exists),
            Err(e) => {
                let name = versioned_name(es, d, 1);
                return Ok(vec![row("index", &name, Action::Refused)
                    .with_detail(format!("the server refused {}: {e}", d.file))]);
            }
        },
    };
    let mut rows = vec![row("index", &index, index_action)];
    if options.dry_run {
        rows.push(row("alias", &alias, Action::WouldCreate).with_detail(format!("-> {index}")));
    } else {
        es.swap_alias(&d.name, &[], &index).await?;
        rows.push(row("alias", &alias, Action::Created).with_detail(format!("-> {index}")));
    }
    Ok(rows)
}
