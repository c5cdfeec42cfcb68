//! MongoDB: collections (with their validators) and indexes from
//! `mongo-indexes/*.yaml`, one index per command, and an entry in
//! `rez_schema_history` for every collection a run changed.
//!
//! Drift fixes, in the safest order the server allows: a TTL that differs only in
//! `expireAfterSeconds` is changed in place (collMod: no rebuild, no window
//! without the index); any other difference drops the server's index and then
//! creates the file's (MongoDB refuses two indexes on the same keys with
//! different options, so they cannot coexist). If that create fails, the row
//! says the index is now missing, and the next run creates it.

use mongodb::bson::{doc, Document};

use crate::config::StoreKind;
use crate::definitions::mongo::{compare, live_index, Collection, IndexSpec, IndexState};
use crate::error::{Remedy, Result};
use crate::provision::{now, Action, ObjectRow, Options};
use crate::store::mongo::{code, Mongo};

const STORE: StoreKind = StoreKind::Mongodb;

pub async fn apply(
    mongo: &Mongo,
    collections: &[Collection],
    options: Options,
) -> Result<Vec<ObjectRow>> {
    let existing = mongo.collection_names().await?;
    let recorded = mongo.latest_history().await?;
    let mut rows = Vec::new();
    for c in collections {
        let start = rows.len();
        let last = recorded
            .iter()
            .find(|d| d.get_str("collection") == Ok(c.name.as_str()));
        collection(
            mongo,
            c,
            existing.contains(&c.name),
            last,
            options,
            &mut rows,
        )
        .await?;
        let changed = rows[start..].iter().any(|r| {
            matches!(
                r.action,
                Action::Created | Action::Updated | Action::Recreated
            )
        });
        let recorded_sha = last.and_then(|d| d.get_str("sha256").ok());
        if !options.dry_run && (changed || recorded_sha != Some(c.sha256.as_str())) {
            let notable: Vec<&ObjectRow> = rows[start..]
                .iter()
                .filter(|r| r.action != Action::Exists)
                .collect();
            mongo.record_history(history_entry(c, &notable)).await?;
        }
    }
    Ok(rows)
}

/// An index the server refused when it was last applied, per the history entry:
/// `--check` and `--dry-run` report it as refused again rather than as pending.
fn refused_before(last: Option<&Document>, name: &str) -> Option<String> {
    let last = last?;
    let at = last.get_str("applied_at").unwrap_or("?");
    let changes = last.get_array("changes").ok()?;
    changes
        .iter()
        .filter_map(|c| c.as_document())
        .find_map(|c| {
            (c.get_str("kind") == Ok("index")
                && c.get_str("name") == Ok(name)
                && c.get_str("action") == Ok("refused"))
            .then(|| {
                format!(
                    "{} (when last applied, {at})",
                    c.get_str("detail").unwrap_or("")
                )
            })
        })
}

async fn collection(
    mongo: &Mongo,
    c: &Collection,
    exists: bool,
    last: Option<&Document>,
    options: Options,
    rows: &mut Vec<ObjectRow>,
) -> Result<()> {
    let row = |kind, name: String, action| ObjectRow::new(STORE, kind, name, action);
    if !exists {
        if options.dry_run {
            rows.push(row("collection", c.name.clone(), Action::WouldCreate));
            for i in &c.indexes {
                rows.push(row("index", index_name(c, i), Action::WouldCreate));
            }
            return Ok(());
        }
        match mongo
            .create_collection(&c.name, c.validator.as_ref())
            .await?
        {
            Ok(()) => rows.push(row("collection", c.name.clone(), Action::Created)),
            // Another run created it meanwhile: carry on as if it had existed.
            Err(r) if r.code == Some(code::NAMESPACE_EXISTS) => {
                rows.push(row("collection", c.name.clone(), Action::Exists))
            }
            Err(r) => {
                // A server without validators: create the collection bare, report the validator.
                mongo.create_collection(&c.name, None).await?.ok();
                rows.push(row("collection", c.name.clone(), Action::Created));
                rows.push(
                    row("validator", c.name.clone(), Action::Refused).with_detail(r.to_string()),
                );
            }
        }
    } else {
        rows.push(row("collection", c.name.clone(), Action::Exists));
        if let Some(v) = &c.validator {
            let want = serde_json::json!({"$jsonSchema": v.json_schema});
            let live = mongo.validator_of(&c.name).await?;
            if live.as_ref() != Some(&want) {
                if options.dry_run {
                    rows.push(row("validator", c.name.clone(), Action::WouldUpdate));
                } else {
                    // collMod replaces the validator in place; existing documents are not rewritten.
                    match mongo.set_validator(&c.name, v).await? {
                        Ok(()) => rows.push(row("validator", c.name.clone(), Action::Updated)),
                        Err(r) => rows.push(
                            row("validator", c.name.clone(), Action::Refused)
                                .with_detail(r.to_string()),
                        ),
                    }
                }
            }
        }
    }

    let live: Vec<IndexSpec> = mongo
        .list_indexes(&c.name)
        .await?
        .iter()
        .filter_map(live_index)
        .collect();
    let (states, extras) = compare(&c.indexes, &live);
    for (spec, state) in states {
        let name = index_name(c, spec);
        match state {
            IndexState::Same => rows.push(row("index", name, Action::Exists)),
            IndexState::Missing if options.dry_run => match refused_before(last, &name) {
                Some(why) => rows.push(row("index", name, Action::Refused).with_detail(why)),
                None => rows.push(row("index", name, Action::WouldCreate)),
            },
            IndexState::Missing => rows.push(create(mongo, c, spec, Action::Created).await?),
            IndexState::Drift {
                live_name,
                differences,
            } => {
                let detail = differences.join("; ");
                if !options.fix_drift {
                    rows.push(
                        row("index", name, Action::Drift)
                            .with_detail(detail)
                            .with_remedy(Remedy::FixDrift),
                    );
                } else if options.dry_run {
                    rows.push(row("index", name, Action::WouldRecreate).with_detail(detail));
                } else {
                    rows.push(fix(mongo, c, spec, &live, &live_name, detail).await?);
                }
            }
        }
    }
    for name in extras {
        rows.push(row(
            "index",
            format!("{}.{name}", c.name),
            Action::Undeclared,
        ));
    }
    Ok(())
}

async fn create(
    mongo: &Mongo,
    c: &Collection,
    spec: &IndexSpec,
    done: Action,
) -> Result<ObjectRow> {
    let name = index_name(c, spec);
    Ok(match mongo.create_index(&c.name, spec).await? {
        Ok(()) => ObjectRow::new(STORE, "index", name, done),
        Err(r) => ObjectRow::new(STORE, "index", name, Action::Refused).with_detail(format!(
            "the server refused {} {}: {r}",
            kind_of(spec),
            spec.keys_text()
        )),
    })
}

async fn fix(
    mongo: &Mongo,
    c: &Collection,
    spec: &IndexSpec,
    live: &[IndexSpec],
    live_name: &str,
    detail: String,
) -> Result<ObjectRow> {
    let name = index_name(c, spec);
    if live
        .iter()
        .any(|l| l.name == live_name && spec.only_ttl_differs(l))
    {
        if let (Ok(()), Some(s)) = (
            mongo
                .set_ttl(
                    &c.name,
                    live_name,
                    spec.expire_after_seconds.unwrap_or_default(),
                )
                .await?,
            spec.expire_after_seconds,
        ) {
            return Ok(ObjectRow::new(STORE, "index", name, Action::Updated)
                .with_detail(format!("{detail}; expireAfterSeconds set to {s}s in place")));
        }
    }
    if let Err(r) = mongo.drop_index(&c.name, live_name).await? {
        if r.code != Some(code::INDEX_NOT_FOUND) {
            return Ok(ObjectRow::new(STORE, "index", name, Action::Drift)
                .with_detail(format!("{detail}; dropping `{live_name}` failed: {r}")));
        }
    }
    let row = create(mongo, c, spec, Action::Recreated).await?;
    Ok(match row.action {
        Action::Recreated => row.with_detail(format!("{detail}; dropped `{live_name}` and created it from the file")),
        _ => row.with_detail(format!("{detail}; dropped `{live_name}`, but creating the file's index failed, so it is now missing")),
    })
}

fn index_name(c: &Collection, spec: &IndexSpec) -> String {
    format!("{}.{}", c.name, spec.name)
}

fn kind_of(spec: &IndexSpec) -> &'static str {
    match (spec.is_text(), spec.expire_after_seconds.is_some()) {
        (true, _) => "the text index",
        (_, true) => "the TTL index",
        _ => "the index",
    }
}

fn history_entry(c: &Collection, changed: &[&ObjectRow]) -> Document {
    let changes: Vec<Document> = changed
        .iter()
        .map(|r| doc! {"kind": r.kind, "name": r.name.as_str(), "action": r.action.as_str(), "detail": r.detail.clone().unwrap_or_default()})
        .collect();
    doc! {
        "collection": c.name.as_str(),
        "file": c.file.as_str(),
        "sha256": c.sha256.as_str(),
        "applied_at": now(),
        "rez_db_version": env!("CARGO_PKG_VERSION"),
        "changes": changes,
    }
}
