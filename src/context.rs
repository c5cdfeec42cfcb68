//! What every command gets: the resolved configuration, how to print, and
//! the store handles, each opened once, on first use.
//!
//! Part of the face: commands take their handles from here and hand them to
//! their operation, which never sees a [`Ctx`]. Every connection to a store
//! is opened here, so timeouts, prefixes and error messages are the same
//! for every command, and a store a command does not use is never contacted.
//! PostgreSQL is the exception: an operation opens the sessions it needs
//! (a lock, a snapshot, a COPY stream each hold one) from the [`Pg`] handle.

use std::path::{Path, PathBuf};

use tokio::sync::OnceCell;

use crate::config::{yaml, Config, StoreKind};
use crate::definitions::{Definitions, ES_DIR_NAME, MONGO_DIR_NAME, REDIS_FILE_NAME};
use crate::error::{CommandError, Result};
use crate::migration::source::{self as migration_source, MigrationSet, REPEATABLE_DIR};
use crate::store::es::{self, Es};
use crate::store::mongo::{self, Mongo};
use crate::store::pg::Pg;
use crate::store::redis::{self, Redis};
use crate::store::Connections;

/// The configuration of one run, how to print, and its store handles.
#[derive(Clone)]
pub struct Ctx {
    pub config: Config,
    /// `--json`: exactly one JSON document on stdout.
    pub json: bool,
    /// Draw progress bars (stderr is a terminal and not `--json`).
    pub progress: bool,
    mongo: OnceCell<Mongo>,
    redis: OnceCell<Redis>,
    es: OnceCell<Es>,
    definitions: OnceCell<Definitions>,
}

impl Ctx {
    pub fn new(config: Config, json: bool, progress: bool) -> Ctx {
        Ctx {
            config,
            json,
            progress,
            mongo: OnceCell::new(),
            redis: OnceCell::new(),
            es: OnceCell::new(),
            definitions: OnceCell::new(),
        }
    }

    /// The PostgreSQL database of this run.
    pub fn pg(&self) -> Pg {
        let c = &self.config;
        Pg {
            url: c.database_url.clone(),
            connect_timeout: c.connect_timeout,
            lock_timeout: c.lock_timeout,
            statement_timeout: c.statement_timeout,
        }
    }

    /// Where shadow databases are created and dropped from: the database of
    /// `--shadow-url`, else the maintenance database (`postgres`) of the server.
    pub fn shadow_server(&self) -> Pg {
        match &self.config.shadow_url {
            Some(url) => Pg {
                url: url.clone(),
                ..self.pg()
            },
            None => self.pg().maintenance(),
        }
    }

    /// The cache of expected schemas (`migrate baseline`, `migrate diff`),
    /// when the configuration found a directory for it.
    pub fn snapshot_cache(&self) -> Option<crate::store::snapshot_cache::SnapshotCache> {
        self.config
            .cache_dir
            .clone()
            .map(crate::store::snapshot_cache::SnapshotCache::at)
    }

    /// Whether the run selected `store` (`--only`, `REZ_DB_STORES`, `stores:`).
    pub fn wants(&self, store: StoreKind) -> bool {
        self.config.stores.contains(&store)
    }

    /// MongoDB, connected on first use (exit 3 when it does not answer).
    pub async fn mongo(&self) -> Result<&Mongo> {
        let c = &self.config;
        self.mongo
            .get_or_try_init(|| async {
                let m = mongo::connect(&c.mongodb_uri, c.connect_timeout).await?;
                m.shut_down_at_exit();
                Ok(m)
            })
            .await
    }

    /// Redis under the key prefix, connected on first use. A clone of the one
    /// multiplexed connection: cheap, and usable from several tasks.
    pub async fn redis(&self) -> Result<Redis> {
        let c = &self.config;
        self.redis
            .get_or_try_init(|| {
                redis::connect(&c.redis_url, &c.redis_key_prefix, c.connect_timeout)
            })
            .await
            .cloned()
    }

    /// Elasticsearch under the index prefix, connected on first use.
    pub async fn es(&self) -> Result<&Es> {
        let c = &self.config;
        self.es
            .get_or_try_init(|| {
                es::connect(&c.elasticsearch_url, &c.es_index_prefix, c.connect_timeout)
            })
            .await
    }

    /// Every selected store among MongoDB, Redis and Elasticsearch, connected:
    /// the first that does not answer is the error (exit 3), before a command
    /// changed anything.
    pub async fn connections(&self) -> Result<Connections> {
        let mut out = Connections::default();
        if self.wants(StoreKind::Mongodb) {
            out.mongo = Some(self.mongo().await?.clone());
        }
        if self.wants(StoreKind::Redis) {
            out.redis = Some(self.redis().await?);
        }
        if self.wants(StoreKind::Elasticsearch) {
            out.es = Some(self.es().await?.clone());
        }
        Ok(out)
    }

    /// The PostgreSQL migrations of this run (`--migrations`, `REZ_DB_MIGRATIONS`,
    /// `migrations_dir:`, else the built-in set); exit 2 naming a bad file.
    pub fn migrations(&self) -> Result<MigrationSet> {
        load_migrations(self.config.migrations_dir.as_deref())
    }

    /// The definitions of the other stores: `--definitions DIR` (or
    /// `definitions_dir:`) when given, else the copies built into the binary.
    pub fn definitions(&self) -> Result<&Definitions> {
        if let Some(d) = self.definitions.get() {
            return Ok(d);
        }
        let loaded = match &self.config.definitions_dir {
            Some(dir) => read_definitions(dir)?,
            None => Definitions::embedded()?,
        };
        // A concurrent first use may have set it meanwhile: either copy is the same.
        let _ = self.definitions.set(loaded);
        self.definitions
            .get()
            .ok_or_else(|| CommandError::bug("the definitions were loaded and then lost"))
    }
}

/// The PostgreSQL migrations: the files of `dir` (`--migrations`,
/// `REZ_DB_MIGRATIONS`, `migrations_dir:`) when given, else the set built
/// into the binary. A directory that cannot be read or does not parse is a
/// usage error (exit 2) naming the file.
pub fn load_migrations(dir: Option<&Path>) -> Result<MigrationSet> {
    match dir {
        Some(dir) => read_migrations(dir),
        None => migration_source::embedded()
            .map_err(|e| CommandError::bug(format!("the embedded migrations are broken: {e}"))),
    }
}

/// Reads `dir/*.sql` and `dir/repeatable/*.sql` (other files are not
/// migrations and are left alone) and parses them (`crate::migration::source`).
fn read_migrations(dir: &Path) -> Result<MigrationSet> {
    const HINT: &str = "a migrations directory holds NNNN_name.sql files (and their                         NNNN_name.down.sql), and repeatable/name.sql; `rez-db migrate new NAME` makes one";
    let list = |path: &Path, required: bool| -> Result<Vec<PathBuf>> {
        let entries = match std::fs::read_dir(path) {
            Ok(entries) => entries,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Vec::new())
            }
            Err(e) => {
                return Err(CommandError::usage(format!(
                    "cannot read the migrations directory {}: {e}",
                    path.display()
                ))
                .with_hint(HINT))
            }
        };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        Ok(files)
    };
    let mut files = Vec::new();
    let nested = list(&dir.join(REPEATABLE_DIR), false)?;
    for (path, prefix) in list(dir, true)?
        .into_iter()
        .map(|p| (p, ""))
        .chain(nested.into_iter().map(|p| (p, "repeatable/")))
    {
        let bytes = std::fs::read(&path).map_err(|e| {
            CommandError::usage(format!("cannot read {}: {e}", path.display())).with_hint(HINT)
        })?;
        let text = String::from_utf8(bytes).map_err(|_| {
            CommandError::usage(format!("{} is not valid UTF-8", path.display()))
                .with_hint("save the migration as UTF-8")
        })?;
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        files.push((format!("{prefix}{name}"), text));
    }
    let label = dir.display().to_string();
    migration_source::parse_set(label.trim_end_matches('/'), files)
        .map_err(|e| CommandError::usage(e.to_string()).with_hint(HINT))
}

/// Reads the definition files under `dir` (`mongo-indexes/*.yaml`,
/// `redis-layout.toml`, `es-mappings/*.json`), each within the bounds of
/// `config::yaml`: a definition is a few kilobytes nested a few levels.
fn read_definitions(dir: &Path) -> Result<Definitions> {
    const HINT: &str =
        "--definitions DIR must hold mongo-indexes/, redis-layout.toml and es-mappings/";
    let read =
        |path: &Path| yaml::read_bounded(path, "definition file").map_err(|e| e.with_hint(HINT));
    let read_dir = |sub: &str, ext: &str| -> Result<Vec<(String, String)>> {
        let path = dir.join(sub);
        let entries = std::fs::read_dir(&path).map_err(|e| {
            CommandError::usage(format!("cannot read {}: {e}", path.display())).with_hint(HINT)
        })?;
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let p: PathBuf = entry.path();
            if p.extension().is_some_and(|e| e == ext) {
                files.push((p.display().to_string(), read(&p)?));
            }
        }
        files.sort();
        Ok(files)
    };
    let layout = dir.join(REDIS_FILE_NAME);
    Definitions::parse(
        read_dir(MONGO_DIR_NAME, "yaml")?,
        (layout.display().to_string(), read(&layout)?),
        read_dir(ES_DIR_NAME, "json")?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_copies_are_the_built_in_ones() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
        let from_dir = read_definitions(dir).unwrap();
        let embedded = Definitions::embedded().unwrap();
        assert_eq!(from_dir.redis.sha256, embedded.redis.sha256);
        assert_eq!(from_dir.es.len(), embedded.es.len());
    }

    #[test]
    fn a_definition_file_over_the_bound_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        for sub in [MONGO_DIR_NAME, ES_DIR_NAME] {
            std::fs::create_dir(dir.path().join(sub)).unwrap();
        }
        let layout = std::fs::File::create(dir.path().join(REDIS_FILE_NAME)).unwrap();
        layout.set_len(yaml::MAX_BYTES + 1).unwrap();
        let err = read_definitions(dir.path()).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Usage);
        assert!(err.message.contains("over 1 MiB"), "{err}");
        assert!(err.to_string().contains("--definitions DIR"), "{err}");
    }
}
