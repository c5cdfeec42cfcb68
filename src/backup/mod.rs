//! The `backup` and `restore` operations: one directory per backup, one
//! folder per store, and `manifest.json` written last (see [`manifest`]).
//!
//! A backup ([`run`]) never changes a datastore. A restore ([`restore::run`])
//! verifies the whole backup (manifest, sizes, SHA-256, no stray files)
//! before it touches anything, and replaces a database only when it is
//! empty or its caller allows it.
//!
//! All four stores are implemented; each lives in its own module. An
//! operation: options and store handles in, a report out; it never sees the
//! command line or the context, never asks on a terminal and never renders.

pub mod crypt;
pub mod es;
pub mod manifest;
pub mod mongo;
pub mod postgres;
pub mod prune;
pub mod redis;
pub mod restore;
pub mod stream;
pub mod versions;

use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::config::StoreKind;
use crate::error::{CommandError, Remedy, Result};
use crate::progress::{Progress, Unit};
use crate::store::es::Es;
use crate::store::mongo::Mongo;
use crate::store::pg::lock::{self, LockScope, Mode};
use crate::store::pg::{history, Pg};
use crate::store::redis::Redis;
use crate::store::Connections;
use manifest::{FileEntry, Manifest, StoreEntry, VerifyError};
use stream::Compression;
use versions::Versions;

/// The folder of each store inside a backup directory.
pub fn folder(store: StoreKind) -> &'static str {
    match store {
        StoreKind::Postgres => "postgres",
        StoreKind::Mongodb => "mongo",
        StoreKind::Redis => "redis",
        StoreKind::Elasticsearch => "elasticsearch",
    }
}

/// What `backup` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The backup directory; it must be empty or absent unless `force`.
    pub dir: PathBuf,
    /// The stores to back up, in this order.
    pub stores: Vec<StoreKind>,
    /// Replace the backup already in `dir` (its manifest is removed first).
    pub force: bool,
    pub compression: Compression,
    /// Encrypt every file to these age recipients (see [`crypt`]); none: plain.
    pub encrypt_to: Vec<age::x25519::Recipient>,
    /// How long to wait for a conflicting PostgreSQL lock before exit 4.
    pub lock_wait: Duration,
}

/// A finished backup: where, and its manifest.
#[derive(Debug, Serialize)]
pub struct Report {
    pub directory: PathBuf,
    pub manifest: Manifest,
}

/// `backup`: dumps each store of `options.stores` into `options.dir`, from
/// `pg` and the connections of `conns` (each selected store must be
/// connected there), and writes the manifest last.
pub async fn run(
    pg: &Pg,
    conns: &Connections,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report> {
    let (dir, compression) = (&options.dir, options.compression);
    prepare_dir(dir, &options.stores, options.force)?;
    let started_at = Utc::now();
    progress.begin(options.stores.len() as u64, Unit::Steps);
    let mut entries = Vec::new();
    for store in &options.stores {
        progress.note(&format!("{}: dumping", store.as_str()));
        let entry = match store {
            StoreKind::Postgres => backup_postgres(pg, dir, compression, options.lock_wait).await?,
            StoreKind::Redis => backup_redis(connected(&conns.redis)?, dir, compression).await?,
            StoreKind::Mongodb => backup_mongo(connected(&conns.mongo)?, dir, compression).await?,
            StoreKind::Elasticsearch => backup_es(connected(&conns.es)?, dir, compression).await?,
        };
        // Each store sealed before the next is dumped: its plaintext lies in
        // `dir` no longer than needed (see `crypt` for why not on the way in).
        entries.push(match options.encrypt_to.is_empty() {
            true => entry,
            false => {
                progress.note(&format!("{}: encrypting", store.as_str()));
                seal(dir, entry, &options.encrypt_to).await?
            }
        });
        progress.advance(1);
    }
    progress.end();
    let manifest = finish(dir, started_at, entries)?;
    Ok(Report {
        directory: dir.clone(),
        manifest,
    })
}

/// Encrypts a store's freshly dumped files (off the runtime).
async fn seal(
    dir: &Path,
    mut entry: StoreEntry,
    recipients: &[age::x25519::Recipient],
) -> Result<StoreEntry> {
    let (dir, recipients) = (dir.to_path_buf(), recipients.to_vec());
    tokio::task::spawn_blocking(move || crypt::seal(&dir, &mut entry, &recipients).map(|()| entry))
        .await
        .map_err(|e| CommandError::bug(format!("the encryption worker panicked: {e}")))?
}

/// The handle of a selected store, which its caller connected.
pub(crate) fn connected<T>(handle: &Option<T>) -> Result<&T> {
    handle
        .as_ref()
        .ok_or_else(|| CommandError::bug("a selected store was not connected"))
}

/// Prepares `dir` for a new backup: refuses a non-empty directory unless
/// `force`; with `force`, removes the old manifest FIRST (so the old backup
/// is recognisably incomplete from then on) and the store folders we write.
/// A directory that cannot be read, cleared or created is exit 5.
pub fn prepare_dir(dir: &Path, stores: &[StoreKind], force: bool) -> Result<()> {
    let io = |what: &str, path: &Path, e: std::io::Error| {
        CommandError::failed(format!("cannot {what} {}: {e}", path.display()))
    };
    let non_empty = match std::fs::read_dir(dir) {
        Ok(mut entries) => entries.next().is_some(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(e) => return Err(io("read", dir, e)),
    };
    if non_empty && !force {
        return Err(CommandError::usage(format!(
            "{} is not empty: refusing to write a backup over it",
            dir.display()
        ))
        .with_remedy(Remedy::ReplaceBackup));
    }
    if non_empty {
        for name in [
            manifest::MANIFEST.to_string(),
            format!("{}.partial", manifest::MANIFEST),
        ] {
            let path = dir.join(name);
            if path.exists() {
                std::fs::remove_file(&path).map_err(|e| io("remove", &path, e))?;
            }
        }
        for store in stores {
            let path = dir.join(folder(*store));
            if path.exists() {
                std::fs::remove_dir_all(&path).map_err(|e| io("remove", &path, e))?;
            }
        }
    }
    std::fs::create_dir_all(dir).map_err(|e| io("create", dir, e))
}

/// Runs blocking file work (hashing a dump) off the async runtime.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, String> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CommandError::bug(format!("a backup worker panicked: {e}")))?
        .map_err(CommandError::failed)
}

/// Dumps PostgreSQL into `dir/postgres` and describes what was written.
pub async fn backup_postgres(
    pg: &Pg,
    dir: &Path,
    compression: Compression,
    wait: Duration,
) -> Result<StoreEntry> {
    let url = &pg.url;
    let started_at = Utc::now();
    let mut conn = pg.connect().await?;
    let err = |e| pg.error(e);
    let (server, major) = postgres::server_version(&mut conn).await.map_err(err)?;
    let pg_dump = postgres::check_tool("pg_dump", &server, major).map_err(CommandError::usage)?;
    // Held until pg_dump has finished (see `pg::lock`): shared with other
    // backups, exclusive for loads that set indexes aside and for rotation.
    for scope in [LockScope::Data, LockScope::Partitions] {
        lock::acquire_in(&mut conn, url, scope, Mode::Shared, wait).await?;
    }
    let migrations: Vec<i64> = history::read(&mut conn)
        .await
        .map_err(err)?
        .iter()
        .map(|a| a.version)
        .collect();
    let target = dir.join(folder(StoreKind::Postgres));
    postgres::dump(url, &target, compression)
        .await
        .map_err(CommandError::failed)?;
    drop(conn);
    let listing = postgres::list(url, &target)
        .await
        .map_err(CommandError::failed)?;
    let versions = Versions {
        product: "postgresql".to_string(),
        server: versions::numbers_text(&server),
        client: versions::tool_version(&pg_dump),
        archive_format: versions::archive_format(&listing),
        feature_compatibility: None,
    };
    describe(
        dir,
        Dumped {
            store: StoreKind::Postgres,
            source: url.database_name().unwrap_or_default(),
            server_version: server,
            versions,
            compression,
            schema_version: migrations.last().copied(),
            migrations,
            started_at,
            redis_cluster: None,
        },
    )
    .await
}

/// What is known about a store's dump besides its files.
struct Dumped {
    store: StoreKind,
    source: String,
    server_version: String,
    versions: Versions,
    compression: Compression,
    schema_version: Option<i64>,
    migrations: Vec<i64>,
    started_at: DateTime<Utc>,
    redis_cluster: Option<Vec<redis::Master>>,
}

/// Hashes the store's folder (off the runtime) and builds its manifest entry.
async fn describe(dir: &Path, dumped: Dumped) -> Result<StoreEntry> {
    let name = folder(dumped.store);
    let root = dir.to_path_buf();
    let files = blocking(move || {
        manifest::describe_folder(&root, name)
            .map_err(|e| format!("cannot hash the dump in {}: {e}", root.display()))
    })
    .await?;
    Ok(StoreEntry {
        store: dumped.store.as_str().to_string(),
        folder: name.to_string(),
        source: dumped.source,
        server_version: dumped.server_version,
        versions: Some(dumped.versions),
        compression: dumped.compression,
        encryption: None,
        schema_version: dumped.schema_version,
        migrations: dumped.migrations,
        started_at: dumped.started_at,
        finished_at: Utc::now(),
        files,
        redis_cluster: dumped.redis_cluster,
    })
}

/// Dumps every key under the Redis prefix into `dir/redis/keys.bin` (`.gz`).
pub async fn backup_redis(
    redis: &Redis,
    dir: &Path,
    compression: Compression,
) -> Result<StoreEntry> {
    let started_at = Utc::now();
    let mut r = redis.clone();
    let info = r.server_info().await?;
    let layout = r.layout_marker().await?;
    let name = folder(StoreKind::Redis);
    let target = dir.join(name);
    std::fs::create_dir_all(&target)
        .map_err(|e| CommandError::failed(format!("cannot create {}: {e}", target.display())))?;
    let dump = redis::dump(
        &mut r,
        &target.join(compression.file_name(redis::FILE)),
        compression,
    )
    .await?;
    describe(
        dir,
        Dumped {
            store: StoreKind::Redis,
            source: prefixed("key", r.prefix()),
            server_version: format!("{} {}", info.product, info.version),
            versions: Versions::of_server(&info.product, &info.version),
            compression,
            schema_version: layout.and_then(|(version, _, _)| version.parse().ok()),
            migrations: Vec::new(),
            started_at,
            redis_cluster: dump.masters,
        },
    )
    .await
}

/// Dumps every collection into `dir/mongo/<db>/`, the mongodump layout.
pub async fn backup_mongo(m: &Mongo, dir: &Path, compression: Compression) -> Result<StoreEntry> {
    let started_at = Utc::now();
    let info = m.server_info().await?;
    let feature_compatibility = m.feature_compatibility_version().await?;
    let name = folder(StoreKind::Mongodb);
    mongo::dump(m, &dir.join(name), compression).await?;
    describe(
        dir,
        Dumped {
            store: StoreKind::Mongodb,
            source: m.database_name().to_string(),
            server_version: format!("{} {}", info.product, info.version),
            versions: Versions {
                feature_compatibility,
                ..Versions::of_server(info.product.to_lowercase(), &info.version)
            },
            compression,
            schema_version: None,
            migrations: Vec::new(),
            started_at,
            redis_cluster: None,
        },
    )
    .await
}

/// Dumps every index under the prefix into `dir/elasticsearch/`.
pub async fn backup_es(e: &Es, dir: &Path, compression: Compression) -> Result<StoreEntry> {
    let started_at = Utc::now();
    let info = e.server_info().await?;
    let name = folder(StoreKind::Elasticsearch);
    es::dump(e, &dir.join(name), compression).await?;
    describe(
        dir,
        Dumped {
            store: StoreKind::Elasticsearch,
            source: prefixed("index", e.prefix()),
            server_version: format!("{} {}", info.product, info.version),
            versions: Versions::of_server(&info.product, &info.version),
            compression,
            schema_version: None,
            migrations: Vec::new(),
            started_at,
            redis_cluster: None,
        },
    )
    .await
}

/// Writes the manifest that makes `dir` a complete backup.
pub fn finish(dir: &Path, started_at: DateTime<Utc>, stores: Vec<StoreEntry>) -> Result<Manifest> {
    let manifest = Manifest {
        format: manifest::format_for(&stores),
        tool: "rez-db".to_string(),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        started_at,
        finished_at: Utc::now(),
        stores,
    };
    manifest::write(dir, &manifest).map_err(|e| {
        CommandError::failed(format!(
            "cannot write {}: {e}",
            dir.join(manifest::MANIFEST).display()
        ))
    })?;
    Ok(manifest)
}

/// Verifies a backup before anything is touched; a bad one is exit 1, naming the file.
pub async fn verify(dir: &Path) -> Result<Manifest> {
    let dir: PathBuf = dir.to_path_buf();
    tokio::task::spawn_blocking(move || manifest::verify(&dir))
        .await
        .map_err(|e| CommandError::bug(format!("the verification worker panicked: {e}")))?
        .map_err(|e| {
            let hint = match e {
                VerifyError::MissingManifest(_) => {
                    "a backup killed before it finished has no manifest: take a new backup"
                }
                _ => "restore from another backup; this one cannot be trusted",
            };
            CommandError::problems(format!("refusing to restore: {e}")).with_hint(hint)
        })
}

/// What a prefixed store's backup covers, for the manifest and reports.
fn prefixed(what: &str, prefix: &str) -> String {
    match prefix {
        "" => format!("every {what} (no prefix)"),
        p => format!("{what} prefix `{p}`"),
    }
}

/// A file that cannot be created, written or read, named.
pub(crate) fn io_err(path: &Path, e: impl std::fmt::Display) -> CommandError {
    CommandError::failed(format!("cannot use {}: {e}", path.display()))
}

/// A dump file, written through a buffer.
pub(crate) fn create_file(path: &Path) -> Result<BufWriter<File>> {
    Ok(BufWriter::new(
        File::create(path).map_err(|e| io_err(path, e))?,
    ))
}

/// Flushes and syncs a dump file, so the manifest never lists bytes still in flight.
pub(crate) fn close_file(out: BufWriter<File>, path: &Path) -> Result<()> {
    out.into_inner()
        .map_err(|e| io_err(path, e.into_error()))?
        .sync_all()
        .map_err(|e| io_err(path, e))
}

/// A small JSON file (an index or collection definition), pretty-printed.
pub(crate) fn write_json(path: &Path, value: &serde_json::Value) -> Result<()> {
    let bytes = serde_json::to_vec_pretty(value).expect("a JSON value serialises");
    std::fs::write(path, bytes).map_err(|e| io_err(path, e))
}

/// The total size of a store's files.
pub fn bytes(files: &[FileEntry]) -> u64 {
    files.iter().map(|f| f.size).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_non_empty_directory_needs_force() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("manifest.json"), "{}").unwrap();
        std::fs::create_dir(dir.path().join("postgres")).unwrap();
        std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
        let err = prepare_dir(dir.path(), &[StoreKind::Postgres], false).unwrap_err();
        assert!(err.message.contains("is not empty"), "{err}");
        prepare_dir(dir.path(), &[StoreKind::Postgres], true).unwrap();
        assert!(!dir.path().join("manifest.json").exists());
        assert!(!dir.path().join("postgres").exists());
        assert!(
            dir.path().join("notes.txt").exists(),
            "other files are left alone"
        );
    }
}
