//! The Elasticsearch part of a backup: per index under the configured prefix,
//! `elasticsearch/<index>.json` (settings, mappings, aliases) and
//! `elasticsearch/<index>.ndjson` (every document, `{"_id", "_source"}` a
//! line), exported with a scroll over `_doc` order, one page in memory at a
//! time. Names are stored without the prefix, so a backup can be restored
//! under another `--es-index-prefix`.
//!
//! Settings the server assigns itself (uuid, creation date, version,
//! provided name) are dropped: a create that sets them is refused.
//!
//! With `--compress` the documents go to `<index>.ndjson.gz`; the small
//! definitions stay plain JSON.

use std::io::{BufRead, Write};
use std::path::Path;

use elasticsearch::http::Method;
use serde_json::{json, Value};

use super::stream::{Compression, Sink, Stored};
use super::{io_err, write_json};
use crate::error::{CommandError, Result};
use crate::store::es::Es;
use crate::store::lease::ES_INDEX;

/// Documents per scroll page and per bulk request.
const BATCH: usize = 1000;
/// Index settings that belong to one live index, never to a definition.
const SERVER_SETTINGS: &[&str] = &["creation_date", "provided_name", "uuid", "version"];

/// The concrete indices under the prefix (no hidden ones, not rez-db's
/// leases: a restore must neither count, copy nor delete them), sorted.
pub async fn indices(es: &Es) -> Result<Vec<String>> {
    let leases = es.name(ES_INDEX);
    let path = format!("/_cat/indices/{}*?format=json&h=index", es.prefix());
    let list = es
        .call_opt(Method::Get, &path, None)
        .await
        .map_err(|e| es.error(e))?
        .unwrap_or(Value::Null);
    let mut names: Vec<String> = list
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|i| i["index"].as_str())
        .filter(|n| !n.starts_with('.') && n.starts_with(es.prefix()) && **n != leases)
        .map(str::to_string)
        .collect();
    names.sort();
    Ok(names)
}

/// Indices under the prefix that hold documents.
pub async fn occupied(es: &Es) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for index in indices(es).await? {
        if es.count(&index).await? > 0 {
            found.push(index);
        }
    }
    Ok(found)
}

/// Dumps every index under the prefix into `folder`; returns how many documents.
pub async fn dump(es: &Es, folder: &Path, compression: Compression) -> Result<u64> {
    std::fs::create_dir_all(folder).map_err(|e| io_err(folder, e))?;
    let err = |e| es.error(e);
    let mut total = 0;
    for index in indices(es).await? {
        let bare = &index[es.prefix().len()..];
        let live = es
            .call(Method::Get, &format!("/{index}"), None)
            .await
            .map_err(err)?;
        let live = &live[&index];
        let mut settings = live["settings"]["index"].clone();
        if let Some(o) = settings.as_object_mut() {
            for key in SERVER_SETTINGS {
                o.remove(*key);
            }
        }
        let aliases: serde_json::Map<String, Value> = live["aliases"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(a, body)| {
                a.strip_prefix(es.prefix())
                    .map(|bare| (bare.to_string(), body.clone()))
            })
            .collect();
        let definition = json!({"settings": {"index": settings}, "mappings": live["mappings"], "aliases": aliases});
        let def_path = folder.join(format!("{bare}.json"));
        write_json(&def_path, &definition)?;

        let path = folder.join(compression.file_name(&format!("{bare}.ndjson")));
        let mut out = Sink::create(&path, compression)?;
        let mut page = es
            .call(
                Method::Post,
                &format!("/{index}/_search?scroll=2m"),
                Some(&json!({"size": BATCH, "sort": ["_doc"]})),
            )
            .await
            .map_err(err)?;
        loop {
            let hits = page["hits"]["hits"].as_array().cloned().unwrap_or_default();
            for hit in &hits {
                let line = json!({"_id": hit["_id"], "_source": hit["_source"]});
                serde_json::to_writer(&mut out, &line).map_err(|e| io_err(&path, e))?;
                out.write_all(b"\n").map_err(|e| io_err(&path, e))?;
            }
            total += hits.len() as u64;
            let scroll_id = page["_scroll_id"].as_str().map(str::to_string);
            match scroll_id {
                Some(id) if !hits.is_empty() => {
                    page = es
                        .call(
                            Method::Post,
                            "/_search/scroll",
                            Some(&json!({"scroll": "2m", "scroll_id": id})),
                        )
                        .await
                        .map_err(err)?;
                }
                Some(id) => {
                    // Best effort: the server frees it at the timeout anyway.
                    let _ = es
                        .call(
                            Method::Delete,
                            "/_search/scroll",
                            Some(&json!({"scroll_id": id})),
                        )
                        .await;
                    break;
                }
                None => break,
            }
        }
        out.close(&path)?;
    }
    Ok(total)
}

/// Before a restore, deletes the indices under the prefix that the backup
/// replaces: those of the same names, and those holding one of its aliases
/// (`create` leaves empty `<name>_v1` behind `<name>`; --force replaces full
/// ones). Other indices are left alone, even under an empty prefix.
pub async fn clear(es: &Es, folder: &Path, stored: &Stored) -> Result<()> {
    let mut names = Vec::new();
    let mut aliases = Vec::new();
    for (bare, path) in definitions(folder, stored)? {
        names.push(es.name(&bare));
        let body: Value = serde_json::from_slice(&stored.read_uncompressed(&path)?)
            .map_err(|e| io_err(&path, e))?;
        aliases.extend(
            body["aliases"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(a, _)| a.clone()),
        );
    }
    for alias in &aliases {
        names.extend(es.alias_targets(alias).await?);
    }
    for index in indices(es).await? {
        if names.contains(&index) {
            es.delete_index(&index).await?;
        }
    }
    Ok(())
}

/// The `<index>.json` definition files of a backup (`.json.age` when
/// encrypted), sorted, with the index's name without the prefix.
fn definitions(folder: &Path, stored: &Stored) -> Result<Vec<(String, std::path::PathBuf)>> {
    let suffix = stored.name(".json");
    let mut defs: Vec<_> = std::fs::read_dir(folder)
        .map_err(|e| io_err(folder, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            Some((name.strip_suffix(&suffix)?.to_string(), p.clone()))
        })
        .collect();
    defs.sort();
    Ok(defs)
}

/// Sends one bulk request, failing on the first refused document.
async fn send(es: &Es, body: Vec<u8>, index: &str) -> Result<()> {
    let reply = es.bulk(body).await.map_err(|e| es.error(e))?;
    let reply: Value = serde_json::from_str(&reply).unwrap_or(Value::Null);
    if reply["errors"].as_bool() == Some(true) {
        let first = reply["items"]
            .as_array()
            .into_iter()
            .flatten()
            .find_map(|i| {
                i["index"]["error"]
                    .as_object()
                    .map(|e| Value::Object(e.clone()))
            })
            .unwrap_or(Value::Null);
        return Err(CommandError::failed(format!(
            "Elasticsearch refused a document of {index}: {first}"
        )));
    }
    Ok(())
}

/// Restores every index of `folder` under the prefix; returns how many documents.
pub async fn restore(es: &Es, folder: &Path, stored: &Stored) -> Result<u64> {
    let mut total = 0;
    for (bare, def_path) in definitions(folder, stored)? {
        let index = es.name(&bare);
        let text = stored.read_uncompressed(&def_path)?;
        let mut body: Value = serde_json::from_slice(&text).map_err(|e| io_err(&def_path, e))?;
        let aliases: serde_json::Map<String, Value> = body["aliases"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(a, v)| (es.name(a), v.clone()))
            .collect();
        body["aliases"] = Value::Object(aliases);
        es.create_index(&index, &body)
            .await
            .map_err(|e| es.error(e))?;
        let path = folder.join(stored.stream_name(&format!("{bare}.ndjson")));
        let input = stored.open(&path)?;
        let mut batch = Vec::new();
        let mut n: u64 = 0;
        for line in input.lines() {
            let line = line.map_err(|e| io_err(&path, e))?;
            let doc: Value = serde_json::from_str(&line).map_err(|e| io_err(&path, e))?;
            let action = json!({"index": {"_index": index, "_id": doc["_id"]}});
            serde_json::to_writer(&mut batch, &action).expect("JSON");
            batch.push(b'\n');
            serde_json::to_writer(&mut batch, &doc["_source"]).expect("JSON");
            batch.push(b'\n');
            n += 1;
            if n.is_multiple_of(BATCH as u64) {
                send(es, std::mem::take(&mut batch), &index).await?;
            }
        }
        if !batch.is_empty() {
            send(es, batch, &index).await?;
        }
        es.refresh(&index).await?;
        total += n;
    }
    Ok(total)
}
