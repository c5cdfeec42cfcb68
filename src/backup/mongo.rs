//! The MongoDB part of a backup, in the layout mongodump writes, so
//! mongorestore can read it too: per collection `<db>/<coll>.bson` (the
//! documents as raw BSON, back to back) and `<db>/<coll>.metadata.json` (its
//! options, validator included, and its indexes, as canonical extended JSON).
//! With `--compress` both are gzipped with `.gz` appended, as `mongodump
//! --gzip` writes them (`mongorestore --gzip` reads them).
//!
//! Documents stream through as raw bytes: never decoded, so every BSON type
//! comes back exactly, and memory holds one batch at a time.

use std::io::{self, Read, Write};
use std::path::Path;

use mongodb::bson::{doc, Bson, Document, RawDocumentBuf};

use super::io_err;
use super::stream::{self, Compression, Sink, Stored};
use crate::error::Result;
use crate::store::lease::MONGO_COLLECTION;
use crate::store::mongo::Mongo;

/// rez-db's own history collection: written by `create`, not user data.
const HISTORY: &str = "rez_schema_history";
/// Documents per insert_many.
const BATCH: usize = 1000;

/// The collections a backup holds: not the server's `system.*`, not rez-db's
/// leases (`rez_db_locks`: the lock of the restore itself, never data).
fn user_collections(names: Vec<String>) -> Vec<String> {
    let mut names: Vec<String> = names
        .into_iter()
        .filter(|n| !n.starts_with("system.") && n != MONGO_COLLECTION)
        .collect();
    names.sort();
    names
}

/// The collections of the database that a backup holds and a restore replaces.
pub async fn collections(m: &Mongo) -> Result<Vec<String>> {
    Ok(user_collections(m.collection_names().await?))
}

/// Empties the database for a restore: drops every collection but the
/// leases'. Not `dropDatabase`, which would drop the restore's own lease and
/// let another restore in.
pub async fn clear(m: &Mongo) -> Result<()> {
    for name in collections(m).await? {
        m.database()
            .collection::<Document>(&name)
            .drop()
            .await
            .map_err(|e| crate::store::mongo::error(&m.url, e))?;
    }
    Ok(())
}

/// The collection's options as the server lists them.
async fn options_of(m: &Mongo, name: &str) -> Result<Document> {
    let reply = m
        .database()
        .run_command(doc! {"listCollections": 1, "filter": {"name": name}})
        .await
        .map_err(|e| crate::store::mongo::error(&m.url, e))?;
    Ok(reply
        .get_document("cursor")
        .ok()
        .and_then(|c| c.get_array("firstBatch").ok())
        .and_then(|b| b.first())
        .and_then(Bson::as_document)
        .and_then(|spec| spec.get_document("options").ok())
        .cloned()
        .unwrap_or_default())
}

/// Collections with documents (rez-db's history does not count).
pub async fn occupied(m: &Mongo) -> Result<Vec<String>> {
    let mut found = Vec::new();
    for name in user_collections(m.collection_names().await?) {
        if name == HISTORY {
            continue;
        }
        let n = m
            .database()
            .collection::<Document>(&name)
            .estimated_document_count()
            .await
            .map_err(|e| crate::store::mongo::error(&m.url, e))?;
        if n > 0 {
            found.push(name);
        }
    }
    Ok(found)
}

/// Dumps every collection into `folder/<db>/`; returns how many documents.
pub async fn dump(m: &Mongo, folder: &Path, compression: Compression) -> Result<u64> {
    let dir = folder.join(m.database_name());
    std::fs::create_dir_all(&dir).map_err(|e| io_err(&dir, e))?;
    let mut total = 0;
    for name in user_collections(m.collection_names().await?) {
        let metadata = serde_json::json!({
            "collectionName": name,
            "type": "collection",
            "options": Bson::Document(options_of(m, &name).await?).into_canonical_extjson(),
            "indexes": m
                .list_indexes(&name)
                .await?
                .into_iter()
                .map(|i| Bson::Document(i).into_canonical_extjson())
                .collect::<Vec<_>>(),
        });
        let meta_path = dir.join(compression.file_name(&format!("{name}.metadata.json")));
        stream::write_json(&meta_path, &metadata, compression)?;
        let path = dir.join(compression.file_name(&format!("{name}.bson")));
        let mut out = Sink::create(&path, compression)?;
        let mut cursor = m
            .database()
            .collection::<RawDocumentBuf>(&name)
            .find(doc! {})
            .await
            .map_err(|e| crate::store::mongo::error(&m.url, e))?;
        while cursor
            .advance()
            .await
            .map_err(|e| crate::store::mongo::error(&m.url, e))?
        {
            out.write_all(cursor.current().as_bytes())
                .map_err(|e| io_err(&path, e))?;
            total += 1;
        }
        out.close(&path)?;
    }
    Ok(total)
}

/// The next document of a `.bson` file (little-endian i32 length first).
fn read_document(input: &mut impl Read) -> io::Result<Option<RawDocumentBuf>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let size = i32::from_le_bytes(len);
    if size < 5 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad BSON length",
        ));
    }
    let mut bytes = vec![0u8; size as usize];
    bytes[..4].copy_from_slice(&len);
    input.read_exact(&mut bytes[4..])?;
    RawDocumentBuf::from_bytes(bytes)
        .map(Some)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))
}

/// Restores `folder/<source>/` into the (cleared, so empty) database: each
/// collection created with its options, its documents inserted in batches,
/// then its indexes built one at a time. Returns how many documents.
pub async fn restore(m: &Mongo, folder: &Path, source: &str, stored: &Stored) -> Result<u64> {
    let dir = folder.join(source);
    let err = |e| crate::store::mongo::error(&m.url, e);
    let meta_suffix = stored.stream_name(".metadata.json");
    let mut metas: Vec<_> = std::fs::read_dir(&dir)
        .map_err(|e| io_err(&dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(&meta_suffix))
        .collect();
    metas.sort();
    let mut total = 0;
    for meta_path in metas {
        let text = stored.read_all(&meta_path)?;
        let meta: serde_json::Value =
            serde_json::from_slice(&text).map_err(|e| io_err(&meta_path, e))?;
        let name = meta["collectionName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let from_json = |v: &serde_json::Value| -> Result<Document> {
            match Bson::try_from(v.clone()) {
                Ok(Bson::Document(d)) => Ok(d),
                _ => Err(io_err(&meta_path, "not an extended-JSON document")),
            }
        };
        let mut create = doc! {"create": &name};
        create.extend(from_json(&meta["options"])?);
        m.database().run_command(create).await.map_err(err)?;
        let path = dir.join(stored.stream_name(&format!("{name}.bson")));
        let mut input = stored.open(&path)?;
        let coll = m.database().collection::<RawDocumentBuf>(&name);
        loop {
            let mut batch = Vec::with_capacity(BATCH);
            while batch.len() < BATCH {
                match read_document(&mut input).map_err(|e| io_err(&path, e))? {
                    Some(d) => batch.push(d),
                    None => break,
                }
            }
            if batch.is_empty() {
                break;
            }
            total += batch.len() as u64;
            coll.insert_many(batch).await.map_err(err)?;
        }
        for index in meta["indexes"].as_array().into_iter().flatten() {
            let index = from_json(index)?;
            if index.get_str("name") == Ok("_id_") {
                continue;
            }
            m.database()
                .run_command(doc! {"createIndexes": &name, "indexes": [index]})
                .await
                .map_err(err)?;
        }
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bson_files_read_back_document_by_document() {
        let a = RawDocumentBuf::from_document(&doc! {"_id": 1, "n": 1.5}).unwrap();
        let b = RawDocumentBuf::from_document(&doc! {"_id": 2, "s": "x"}).unwrap();
        let bytes = [a.as_bytes(), b.as_bytes()].concat();
        let mut input = bytes.as_slice();
        assert_eq!(read_document(&mut input).unwrap().unwrap(), a);
        assert_eq!(read_document(&mut input).unwrap().unwrap(), b);
        assert!(read_document(&mut input).unwrap().is_none());
    }
}
