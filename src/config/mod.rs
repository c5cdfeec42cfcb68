//! Configuration: flags > environment > `rez-db.yaml` (optionally a named
//! profile in it) > defaults that point at the local stack (`scripts/stack`).
//!
//! This is the only module that reads the environment. Every URL is held in a
//! [`RedactedUrl`] (`crate::secret`), whose `Display` and `Debug` print the
//! password as `***`, so a URL can be put in any message or log line without
//! leaking a secret.
//!
//! Architecture invariant: configuration sits at the bottom with `secret`
//! and `error`. It reads flags (as [`Overrides`], never clap types: the face
//! converts its flags), the environment and files, and never connects to a
//! store; it imports nothing but `secret` and `error`. What it must know of
//! the schema (the partitioned tables) the caller passes in.

pub mod names;
mod policy;
pub mod redis_url;
mod stores;
pub mod targets;
pub mod yaml;

pub use policy::Policy;
pub use stores::StoreKind;
pub use targets::Target;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use url::Url;

use crate::error::CommandError;
pub use crate::secret::RedactedUrl;

/// The file read when `--config` is not given, if it exists in the working directory.
pub const DEFAULT_CONFIG_FILE: &str = "rez-db.yaml";

/// The four datastore settings, by their environment variable names.
const ENV_DATABASE_URL: &str = "DATABASE_URL";
const ENV_REDIS_URL: &str = "REDIS_URL";
const ENV_MONGODB_URI: &str = "MONGODB_URI";
const ENV_ELASTICSEARCH_URL: &str = "ELASTICSEARCH_URL";
const ENV_PROFILE: &str = "REZ_DB_PROFILE";
const ENV_STORES: &str = "REZ_DB_STORES";
const ENV_MIGRATIONS: &str = "REZ_DB_MIGRATIONS";
const ENV_CACHE_DIR: &str = "REZ_DB_CACHE_DIR";

/// Defaults: the local stack that `scripts/stack up` starts.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/rez";
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379/0";
const DEFAULT_MONGODB_URI: &str = "mongodb://127.0.0.1:27017/rez_logs";
const DEFAULT_ELASTICSEARCH_URL: &str = "http://127.0.0.1:9200";

/// Everything a command needs to know about where and how to connect.
#[derive(Debug, Clone)]
pub struct Config {
    pub database_url: RedactedUrl,
    pub redis_url: RedactedUrl,
    pub mongodb_uri: RedactedUrl,
    /// The database `mongodb_uri` names, checked against MongoDB's naming rules.
    pub mongodb_database: String,
    pub elasticsearch_url: RedactedUrl,
    /// How long a mutating command waits for another run's lock before exit 4.
    pub lock_wait: Duration,
    /// `lock_timeout` for DDL: a blocked ALTER must not queue every query behind it.
    pub lock_timeout: Duration,
    /// `statement_timeout` for DDL and maintenance statements.
    pub statement_timeout: Duration,
    /// How long to wait for a datastore to answer before exit 3.
    pub connect_timeout: Duration,
    /// Partition retention policies by table (`partitions:` in rez-db.yaml).
    pub partitions: BTreeMap<String, Policy>,
    /// Tables that must be audited (`audit: { tables: [...] }`), for `audit status`.
    pub audited_tables: Vec<String>,
    /// Who runs this command, for the operations log: REZ_DB_ACTOR, else the OS user.
    pub actor: String,
    /// The stores multi-store commands visit (`--only` > REZ_DB_STORES > `stores:`; default all).
    pub stores: Vec<StoreKind>,
    /// Prepended to every Redis key rez-db reads or writes (a shared Redis, tests).
    pub redis_key_prefix: String,
    /// Prepended to every Elasticsearch index and alias name (a shared cluster, tests).
    pub es_index_prefix: String,
    /// Old versioned indices `reindex-es` keeps per alias after a swap (rollback targets).
    pub es_keep_indices: usize,
    /// Where the MongoDB, Redis and Elasticsearch definitions are read from
    /// (`--definitions`, `definitions_dir:`); `None`: the built-in copies.
    pub definitions_dir: Option<PathBuf>,
    /// The Prometheus textfile every run records itself in
    /// (`--metrics-file`, `metrics_file:`); `None`: no metrics.
    pub metrics_file: Option<PathBuf>,
    /// Where the PostgreSQL migrations are read from (`--migrations`,
    /// `REZ_DB_MIGRATIONS`, `migrations_dir:`); `None`: the built-in set.
    pub migrations_dir: Option<PathBuf>,
    /// Where `migrate baseline` creates its shadow database (`--shadow-url`);
    /// `None`: the same server's `postgres` database.
    pub shadow_url: Option<RedactedUrl>,
    /// Named groups of PostgreSQL databases (`targets:`), for `--targets GROUP`.
    pub targets: BTreeMap<String, Vec<Target>>,
    /// Where the expected schemas of `migrate baseline` and `migrate diff`
    /// are cached ([`cache_dir`]); `None`: nowhere to keep them, no cache.
    pub cache_dir: Option<PathBuf>,
    /// The file the configuration came from, if any (for messages).
    pub file: Option<PathBuf>,
    pub profile: Option<String>,
}

/// What the command line says; `None` means "not given".
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    pub config_file: Option<PathBuf>,
    pub profile: Option<String>,
    pub database_url: Option<String>,
    pub lock_wait_secs: Option<u64>,
    /// The other stores' flags (`StoreArgs`), where the command has them.
    pub stores: Option<Vec<StoreKind>>,
    pub mongodb_uri: Option<String>,
    pub redis_url: Option<String>,
    pub elasticsearch_url: Option<String>,
    pub redis_key_prefix: Option<String>,
    pub es_index_prefix: Option<String>,
    pub es_keep_indices: Option<usize>,
    pub definitions_dir: Option<PathBuf>,
    pub metrics_file: Option<PathBuf>,
    pub migrations_dir: Option<PathBuf>,
    pub shadow_url: Option<String>,
    /// The stores visited when neither a flag, the environment nor the file
    /// chooses them; `None`: all four. (`--targets` visits PostgreSQL alone
    /// unless told otherwise: the other stores are shared by the group.)
    pub default_stores: Option<Vec<StoreKind>>,
}

/// `audit:` in rez-db.yaml: the tables whose changes must be audited.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditSettings {
    #[serde(default)]
    tables: Vec<String>,
}

/// One level of the configuration file: the top level, or one profile.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileSettings {
    database_url: Option<String>,
    redis_url: Option<String>,
    mongodb_uri: Option<String>,
    elasticsearch_url: Option<String>,
    lock_wait_secs: Option<u64>,
    lock_timeout_ms: Option<u64>,
    statement_timeout_ms: Option<u64>,
    connect_timeout_secs: Option<u64>,
    stores: Option<Vec<StoreKind>>,
    redis_key_prefix: Option<String>,
    es_index_prefix: Option<String>,
    es_keep_indices: Option<usize>,
    definitions_dir: Option<PathBuf>,
    metrics_file: Option<PathBuf>,
    migrations_dir: Option<PathBuf>,
    cache_dir: Option<PathBuf>,
    #[serde(default)]
    partitions: BTreeMap<String, Policy>,
    audit: Option<AuditSettings>,
    #[serde(default)]
    targets: targets::RawGroups,
    #[serde(default)]
    profiles: BTreeMap<String, FileSettings>,
}

impl FileSettings {
    /// Values of `profile` win over the top level's.
    fn overlay(self, profile: FileSettings) -> FileSettings {
        FileSettings {
            database_url: profile.database_url.or(self.database_url),
            redis_url: profile.redis_url.or(self.redis_url),
            mongodb_uri: profile.mongodb_uri.or(self.mongodb_uri),
            elasticsearch_url: profile.elasticsearch_url.or(self.elasticsearch_url),
            lock_wait_secs: profile.lock_wait_secs.or(self.lock_wait_secs),
            lock_timeout_ms: profile.lock_timeout_ms.or(self.lock_timeout_ms),
            statement_timeout_ms: profile.statement_timeout_ms.or(self.statement_timeout_ms),
            connect_timeout_secs: profile.connect_timeout_secs.or(self.connect_timeout_secs),
            stores: profile.stores.or(self.stores),
            redis_key_prefix: profile.redis_key_prefix.or(self.redis_key_prefix),
            es_index_prefix: profile.es_index_prefix.or(self.es_index_prefix),
            es_keep_indices: profile.es_keep_indices.or(self.es_keep_indices),
            definitions_dir: profile.definitions_dir.or(self.definitions_dir),
            metrics_file: profile.metrics_file.or(self.metrics_file),
            migrations_dir: profile.migrations_dir.or(self.migrations_dir),
            cache_dir: profile.cache_dir.or(self.cache_dir),
            // A profile's policies replace the top level's as a whole.
            partitions: if profile.partitions.is_empty() {
                self.partitions
            } else {
                profile.partitions
            },
            audit: profile.audit.or(self.audit),
            // Like policies: a profile's groups replace the top level's as a whole.
            targets: if profile.targets.is_empty() {
                self.targets
            } else {
                profile.targets
            },
            profiles: BTreeMap::new(),
        }
    }
}

impl Config {
    /// Loads the configuration from the process environment and the file system,
    /// and hands its URLs' secrets to [`crate::secret`], which hides them in
    /// every message from then on.
    /// `partitioned_tables`: the tables `partitions:` policies may name (the
    /// schema's, which this layer does not know).
    pub fn load(
        partitioned_tables: &[&str],
        overrides: &Overrides,
    ) -> Result<Config, CommandError> {
        let env = |name: &str| std::env::var(name).ok();
        let config = Self::load_with_env(partitioned_tables, overrides, &env)?;
        for url in [
            &config.database_url,
            &config.redis_url,
            &config.mongodb_uri,
            &config.elasticsearch_url,
        ]
        .into_iter()
        .chain(config.shadow_url.as_ref())
        .chain(config.targets.values().flatten().map(|t| &t.url))
        {
            url.secrets()
                .iter()
                .for_each(|s| crate::secret::register(s));
        }
        Ok(config)
    }

    /// Loads the configuration with `env` standing in for the environment (tests).
    pub fn load_with_env(
        partitioned_tables: &[&str],
        overrides: &Overrides,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, CommandError> {
        let file = match &overrides.config_file {
            Some(path) => Some(path.clone()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let profile = overrides.profile.clone().or_else(|| env(ENV_PROFILE));
        let (text, settings) = match &file {
            Some(path) => {
                let text = yaml::read_bounded(path, "config file")?;
                let settings = parse_file(path, &text)?;
                (text, settings)
            }
            None => (String::new(), FileSettings::default()),
        };
        let settings = select_profile(file.as_deref(), settings, profile.as_deref())?;
        let source = FileSource {
            path: file.as_deref(),
            text: &text,
        };

        let pick = |env_name: &str, from_file: &Option<String>, default: &str| {
            env(env_name)
                .map(|v| (v, Origin::Env(env_name.to_string())))
                .or_else(|| from_file.clone().map(|v| (v, Origin::File)))
                .unwrap_or_else(|| (default.to_string(), Origin::Default))
        };
        let database_url = {
            let (value, origin) = if let Some(flag) = &overrides.database_url {
                (flag.clone(), Origin::Flag("--database-url"))
            } else {
                pick(
                    ENV_DATABASE_URL,
                    &settings.database_url,
                    DEFAULT_DATABASE_URL,
                )
            };
            // From the URL as written: the parsed URL's path has `..` resolved.
            names::pg_database(&value).map_err(|why| {
                CommandError::usage(format!(
                    "invalid PostgreSQL database in {}: {why}",
                    place(&origin, "database_url", &source)
                ))
                .with_hint(names::PG_RULE)
            })?;
            parse_url(
                &value,
                "database_url",
                &origin,
                &source,
                &["postgres", "postgresql"],
            )?
        };
        let flag_or =
            |flag: &Option<String>, name: &'static str, picked: (String, Origin)| match flag {
                Some(value) => (value.clone(), Origin::Flag(name)),
                None => picked,
            };
        let (v, o) = flag_or(
            &overrides.redis_url,
            "--redis-url",
            pick(ENV_REDIS_URL, &settings.redis_url, DEFAULT_REDIS_URL),
        );
        let v = redis_url::normalise(&v).map_err(|why| {
            CommandError::usage(format!(
                "invalid URL in {}: {why}",
                place(&o, "redis_url", &source)
            ))
            .with_hint("a cluster is named like redis+cluster://host:port,host:port/")
        })?;
        let redis_url = parse_url(
            &v,
            "redis_url",
            &o,
            &source,
            &["redis", "rediss", "redis+cluster", "rediss+cluster"],
        )?;
        let (v, o) = flag_or(
            &overrides.mongodb_uri,
            "--mongodb-uri",
            pick(ENV_MONGODB_URI, &settings.mongodb_uri, DEFAULT_MONGODB_URI),
        );
        let mongodb_uri = parse_url(&v, "mongodb_uri", &o, &source, &["mongodb", "mongodb+srv"])?;
        // From the URI as written: the parsed URL's path has `..` resolved.
        let mongodb_database = names::mongo_database(&v).map_err(|why| {
            CommandError::usage(format!(
                "invalid MongoDB database in {}: {why}",
                place(&o, "mongodb_uri", &source)
            ))
            .with_hint(names::MONGO_RULE)
        })?;
        let (v, o) = flag_or(
            &overrides.elasticsearch_url,
            "--elasticsearch-url",
            pick(
                ENV_ELASTICSEARCH_URL,
                &settings.elasticsearch_url,
                DEFAULT_ELASTICSEARCH_URL,
            ),
        );
        let stores = match (&overrides.stores, env(ENV_STORES)) {
            (Some(flag), _) => flag.clone(),
            (None, Some(value)) => StoreKind::parse_list(&value).map_err(|e| {
                CommandError::usage(format!("environment variable {ENV_STORES}: {e}"))
            })?,
            (None, None) => settings
                .stores
                .clone()
                .or_else(|| overrides.default_stores.clone())
                .unwrap_or_else(|| StoreKind::ALL.to_vec()),
        };
        let elasticsearch_url =
            parse_url(&v, "elasticsearch_url", &o, &source, &["http", "https"])?;

        Ok(Config {
            database_url,
            redis_url,
            mongodb_database,
            mongodb_uri,
            elasticsearch_url,
            lock_wait: Duration::from_secs(
                overrides
                    .lock_wait_secs
                    .or(settings.lock_wait_secs)
                    .unwrap_or(0),
            ),
            lock_timeout: Duration::from_millis(settings.lock_timeout_ms.unwrap_or(5_000)),
            statement_timeout: Duration::from_millis(
                settings.statement_timeout_ms.unwrap_or(600_000),
            ),
            connect_timeout: Duration::from_secs(settings.connect_timeout_secs.unwrap_or(5)),
            partitions: checked_partitions(
                file.as_deref(),
                &text,
                settings.partitions,
                partitioned_tables,
            )?,
            audited_tables: settings.audit.map(|a| a.tables).unwrap_or_default(),
            targets: targets::checked(file.as_deref(), &text, settings.targets)?,
            actor: env("REZ_DB_ACTOR")
                .or_else(|| env("USER"))
                .or_else(|| env("LOGNAME"))
                .unwrap_or_else(|| "unknown".to_string()),
            stores,
            redis_key_prefix: checked_name(
                (&overrides.redis_key_prefix, "--redis-key-prefix"),
                (&settings.redis_key_prefix, "redis_key_prefix"),
                &source,
                names::redis_key_prefix,
                "Redis key prefix",
            )?,
            es_index_prefix: checked_name(
                (&overrides.es_index_prefix, "--es-index-prefix"),
                (&settings.es_index_prefix, "es_index_prefix"),
                &source,
                names::es_index_prefix,
                "Elasticsearch index prefix",
            )
            .map_err(|e| e.with_hint(names::ES_RULE))?,
            es_keep_indices: overrides
                .es_keep_indices
                .or(settings.es_keep_indices)
                .unwrap_or(2),
            definitions_dir: overrides
                .definitions_dir
                .clone()
                .or(settings.definitions_dir),
            metrics_file: overrides.metrics_file.clone().or(settings.metrics_file),
            migrations_dir: overrides
                .migrations_dir
                .clone()
                .or_else(|| env(ENV_MIGRATIONS).map(PathBuf::from))
                .or(settings.migrations_dir),
            shadow_url: match &overrides.shadow_url {
                Some(value) => Some(parse_url(
                    value,
                    "shadow_url",
                    &Origin::Flag("--shadow-url"),
                    &source,
                    &["postgres", "postgresql"],
                )?),
                None => None,
            },
            cache_dir: cache_dir(settings.cache_dir, env),
            file,
            profile,
        })
    }
}

/// Where expected schemas are cached: `REZ_DB_CACHE_DIR` > `cache_dir:` >
/// `$XDG_CACHE_HOME/rez-db` > `$HOME/.cache/rez-db` (the XDG base directory
/// rules: a relative `XDG_CACHE_HOME` is ignored); `None` without any.
fn cache_dir(from_file: Option<PathBuf>, env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |name: &str| env(name).filter(|v| !v.is_empty()).map(PathBuf::from);
    set(ENV_CACHE_DIR).or(from_file).or_else(|| {
        set("XDG_CACHE_HOME")
            .filter(|p| p.is_absolute())
            .or_else(|| set("HOME").map(|home| home.join(".cache")))
            .map(|base| base.join("rez-db"))
    })
}

fn parse_file(path: &Path, text: &str) -> Result<FileSettings, CommandError> {
    if text.trim().is_empty() {
        return Ok(FileSettings::default());
    }
    let settings: FileSettings = serde_norway::from_str(text).map_err(|e| {
        let at = e
            .location()
            .map(|l| format!(":{}:{}", l.line(), l.column()))
            .unwrap_or_default();
        CommandError::usage(format!("{}{at}: {e}", path.display())).with_hint(
            "valid keys: database_url, redis_url, mongodb_uri, elasticsearch_url, lock_wait_secs, \
             lock_timeout_ms, statement_timeout_ms, connect_timeout_secs, stores, redis_key_prefix, \
             es_index_prefix, es_keep_indices, definitions_dir, migrations_dir, cache_dir, metrics_file, partitions, audit, targets, profiles (see README)",
        )
    })?;
    if let Some((name, _)) = settings
        .profiles
        .iter()
        .find(|(_, p)| !p.profiles.is_empty())
    {
        return Err(CommandError::usage(format!(
            "{}: profile `{name}` contains `profiles`; profiles cannot be nested",
            path.display()
        ))
        .with_hint("move the nested profile to the top-level `profiles:` map"));
    }
    Ok(settings)
}

fn select_profile(
    file: Option<&Path>,
    mut settings: FileSettings,
    profile: Option<&str>,
) -> Result<FileSettings, CommandError> {
    let Some(name) = profile else {
        return Ok(settings);
    };
    match settings.profiles.remove(name) {
        Some(chosen) => Ok(settings.overlay(chosen)),
        None => {
            let known: Vec<&str> = settings.profiles.keys().map(String::as_str).collect();
            let place = file
                .map(|p| p.display().to_string())
                .unwrap_or_else(|| "no configuration file".to_string());
            Err(CommandError::usage(format!("unknown profile `{name}` ({place})")).with_hint(
                if known.is_empty() {
                    "define it under `profiles:` in rez-db.yaml, or drop --profile / REZ_DB_PROFILE".to_string()
                } else {
                    format!("known profiles: {}", known.join(", "))
                },
            ))
        }
    }
}

/// Policies may only name the partitioned tables.
fn checked_partitions(
    file: Option<&Path>,
    text: &str,
    policies: BTreeMap<String, Policy>,
    known: &[&str],
) -> Result<BTreeMap<String, Policy>, CommandError> {
    if let Some(table) = policies.keys().find(|t| !known.contains(&t.as_str())) {
        let path = file.map(|p| p.display().to_string()).unwrap_or_default();
        let at = line_of(text, table)
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        return Err(CommandError::usage(format!(
            "{path}{at}: `partitions.{table}`: {table} is not a partitioned table"
        ))
        .with_hint(format!("partitioned tables: {}", known.join(", "))));
    }
    Ok(policies)
}

/// Where a setting's value came from, to name it in an error.
enum Origin {
    Flag(&'static str),
    Env(String),
    File,
    Default,
}

struct FileSource<'a> {
    path: Option<&'a Path>,
    text: &'a str,
}

/// A name setting (flag, else file, else empty) that `rule` accepts; the
/// error names where the value came from and the rule it breaks.
fn checked_name(
    (flag, flag_name): (&Option<String>, &'static str),
    (file, key): (&Option<String>, &str),
    source: &FileSource<'_>,
    rule: fn(&str) -> Result<(), String>,
    what: &str,
) -> Result<String, CommandError> {
    let (value, origin) = match (flag, file) {
        (Some(v), _) => (v.clone(), Origin::Flag(flag_name)),
        (None, Some(v)) => (v.clone(), Origin::File),
        (None, None) => return Ok(String::new()),
    };
    rule(&value).map_err(|why| {
        CommandError::usage(format!(
            "invalid {what} in {}: {why}",
            place(&origin, key, source)
        ))
    })?;
    Ok(value)
}

/// Where a setting came from, for a message: `flag --x`, `environment
/// variable X`, `FILE:LINE: key `k``.
fn place(origin: &Origin, key: &str, source: &FileSource<'_>) -> String {
    match origin {
        Origin::Flag(flag) => format!("flag {flag}"),
        Origin::Env(name) => format!("environment variable {name}"),
        Origin::File => {
            let path = source
                .path
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            match line_of(source.text, key) {
                Some(line) => format!("{path}:{line}: key `{key}`"),
                None => format!("{path}: key `{key}`"),
            }
        }
        Origin::Default => format!("built-in default for `{key}`"),
    }
}

fn parse_url(
    value: &str,
    key: &str,
    origin: &Origin,
    source: &FileSource<'_>,
    schemes: &[&str],
) -> Result<RedactedUrl, CommandError> {
    let problem = match Url::parse(value) {
        Ok(url) if schemes.contains(&url.scheme()) => return Ok(RedactedUrl::from(url)),
        Ok(url) => format!(
            "scheme `{}` is not one of {}",
            url.scheme(),
            schemes.join(", ")
        ),
        Err(e) => e.to_string(),
    };
    // The raw value may hold a password: never echo it.
    let place = place(origin, key, source);
    Err(
        CommandError::usage(format!("invalid URL in {place}: {problem}")).with_hint(format!(
            "expected a URL like {}://user:password@host:port/name",
            schemes[0]
        )),
    )
}

/// The 1-based line on which `key:` first appears, for error messages.
fn line_of(text: &str, key: &str) -> Option<usize> {
    let needle = format!("{key}:");
    text.lines()
        .position(|line| line.trim_start().starts_with(&needle))
        .map(|i| i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The partitioned tables of the schema, as the face passes them.
    const TABLES: &[&str] = &["orders", "wallet_transactions", "audit_log"];
    use crate::error::ErrorKind;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn defaults_point_at_the_local_stack() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("none.yaml");
        std::fs::write(&missing, "").unwrap();
        let cfg = Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some(missing),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap();
        assert_eq!(cfg.database_url.expose(), DEFAULT_DATABASE_URL);
        assert_eq!(cfg.elasticsearch_url.to_string(), "http://127.0.0.1:9200/");
    }

    #[test]
    fn precedence_is_flag_then_env_then_profile_then_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rez-db.yaml");
        std::fs::write(
            &path,
            "database_url: postgres://file@h/a\nredis_url: redis://file/0\nprofiles:\n  ci:\n    redis_url: redis://profile/1\n",
        )
        .unwrap();
        let base = Overrides {
            config_file: Some(path),
            profile: Some("ci".into()),
            ..Default::default()
        };
        let cfg = Config::load_with_env(TABLES, &base, &no_env).unwrap();
        assert_eq!(cfg.database_url.expose(), "postgres://file@h/a");
        assert_eq!(cfg.redis_url.expose(), "redis://profile/1");

        let env = |k: &str| (k == "DATABASE_URL").then(|| "postgres://env@h/b".to_string());
        let cfg = Config::load_with_env(TABLES, &base, &env).unwrap();
        assert_eq!(cfg.database_url.expose(), "postgres://env@h/b");

        let flagged = Overrides {
            database_url: Some("postgres://flag@h/c".into()),
            ..base
        };
        let cfg = Config::load_with_env(TABLES, &flagged, &env).unwrap();
        assert_eq!(cfg.database_url.expose(), "postgres://flag@h/c");
    }

    #[test]
    fn the_cache_dir_is_env_then_file_then_xdg_then_home() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rez-db.yaml");
        std::fs::write(&path, "cache_dir: /srv/cache\n").unwrap();
        let with_file = Overrides {
            config_file: Some(path),
            ..Default::default()
        };
        let without = Overrides {
            config_file: Some(dir.path().join("empty.yaml")),
            ..Default::default()
        };
        std::fs::write(dir.path().join("empty.yaml"), "").unwrap();
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let cache = |o: &Overrides, env: &dyn Fn(&str) -> Option<String>| {
            Config::load_with_env(TABLES, o, env).unwrap().cache_dir
        };
        let all = vars(&[
            ("REZ_DB_CACHE_DIR", "/tmp/mine"),
            ("XDG_CACHE_HOME", "/xdg"),
            ("HOME", "/home/u"),
        ]);
        assert_eq!(cache(&with_file, &all), Some(PathBuf::from("/tmp/mine")));
        let xdg = vars(&[("XDG_CACHE_HOME", "/xdg"), ("HOME", "/home/u")]);
        assert_eq!(cache(&with_file, &xdg), Some(PathBuf::from("/srv/cache")));
        assert_eq!(cache(&without, &xdg), Some(PathBuf::from("/xdg/rez-db")));
        // A relative XDG_CACHE_HOME is invalid by the XDG rules: HOME's is used.
        let relative = vars(&[("XDG_CACHE_HOME", "cache"), ("HOME", "/home/u")]);
        assert_eq!(
            cache(&without, &relative),
            Some(PathBuf::from("/home/u/.cache/rez-db"))
        );
        assert_eq!(cache(&without, &no_env), None);
    }

    #[test]
    fn unknown_key_names_file_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.yaml");
        std::fs::write(
            &path,
            "redis_url: redis://x/0\ndatabse_url: postgres://h/a\n",
        )
        .unwrap();
        let err = Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some(path),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(err.message.contains("bad.yaml:2:"), "{}", err.message);
        assert!(err.message.contains("databse_url"), "{}", err.message);
    }

    #[test]
    fn bad_url_in_file_names_line_and_hides_password() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rez-db.yaml");
        std::fs::write(&path, "# comment\ndatabase_url: mysql://u:hunter2@h/a\n").unwrap();
        let err = Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some(path),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(text.contains("rez-db.yaml:2: key `database_url`"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    fn load_flags(overrides: Overrides) -> Result<Config, CommandError> {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.yaml");
        std::fs::write(&empty, "").unwrap();
        Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some(empty),
                ..overrides
            },
            &no_env,
        )
    }

    #[test]
    fn mongodb_database_must_be_one_valid_segment() {
        let long = "d".repeat(64);
        for (uri, why) in [
            ("mongodb://h/logs_a/../admin", "one path segment"),
            ("mongodb://h/logs_a/%2e%2e/admin", "one path segment"),
            ("mongodb://h/a%2Fb", "`/`"),
            ("mongodb://h/a.b", "`.`"),
            ("mongodb://h/a$b", "`$`"),
            ("mongodb://h/a%20b", "space"),
            ("mongodb://h/a%00b", "NUL"),
            ("mongodb://h/", "empty"),
            ("mongodb://h", "empty"),
            (&format!("mongodb://h/{long}"), "64 bytes"),
        ] {
            let err = load_flags(Overrides {
                mongodb_uri: Some(uri.to_string()),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Usage, "{uri}");
            let text = err.to_string();
            assert!(
                text.contains("flag --mongodb-uri") && text.contains(why),
                "{uri}: {text}"
            );
            assert!(text.contains("a MongoDB database name is"), "{uri}: {text}");
        }
        for (uri, name) in [
            ("mongodb://u:p@h1:1/rez-logs?replicaSet=r", "rez-logs"),
            ("mongodb+srv://cluster.example/a+b", "a+b"),
            (&format!("mongodb://h/{}", &long[1..]), &long[1..]),
        ] {
            let cfg = load_flags(Overrides {
                mongodb_uri: Some(uri.to_string()),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{uri}: {e}"));
            assert_eq!(cfg.mongodb_database, name, "{uri}");
        }
    }

    #[test]
    fn es_index_prefix_follows_the_index_name_rules() {
        for (prefix, why) in [
            ("x_*", "`*`"),
            ("../", "`/`"),
            ("/_doc/", "`/`"),
            ("Rez_", "lowercase"),
            ("-a", "start with"),
            ("_a", "start with"),
            ("+a", "start with"),
            (".", "`.`"),
            ("..", "`.`"),
            ("a b", "space"),
            ("a,b", "`,`"),
            ("a#", "`#`"),
            ("a:b", "`:`"),
            ("a\\b", "`\\`"),
            ("a?b", "`?`"),
            ("a\"b", "`\"`"),
            ("a<b", "`<`"),
            ("a|b", "`|`"),
        ] {
            let err = load_flags(Overrides {
                es_index_prefix: Some(prefix.to_string()),
                ..Default::default()
            })
            .unwrap_err();
            assert_eq!(err.kind, ErrorKind::Usage, "{prefix}");
            let text = err.to_string();
            assert!(
                text.contains("flag --es-index-prefix") && text.contains(why),
                "{prefix}: {text}"
            );
        }
        for prefix in ["", "t_1_", "rez-test.", "a+b"] {
            let cfg = load_flags(Overrides {
                es_index_prefix: Some(prefix.to_string()),
                ..Default::default()
            })
            .unwrap_or_else(|e| panic!("{prefix}: {e}"));
            assert_eq!(cfg.es_index_prefix, prefix);
        }
        // In the file: named by file, line and key.
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rez-db.yaml");
        std::fs::write(&path, "lock_wait_secs: 1\nes_index_prefix: \"x_*\"\n").unwrap();
        let err = Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some(path),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        assert!(
            err.message.contains("rez-db.yaml:2: key `es_index_prefix`"),
            "{err}"
        );
    }

    #[test]
    fn redis_key_prefix_refuses_control_characters() {
        let err = load_flags(Overrides {
            redis_key_prefix: Some("t\n1:".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(
            err.to_string().contains("--redis-key-prefix")
                && err.to_string().contains("control character"),
            "{err}"
        );
        // Glob characters are fine: every SCAN MATCH escapes them.
        let cfg = load_flags(Overrides {
            redis_key_prefix: Some("t[1]*?:".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(cfg.redis_key_prefix, "t[1]*?:");
    }

    fn load_file(text: &[u8]) -> Result<Config, CommandError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rez-db.yaml");
        std::fs::write(&path, text).unwrap();
        Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some(path),
                ..Default::default()
            },
            &no_env,
        )
    }

    #[test]
    fn a_config_file_over_1_mib_is_refused() {
        let mut text = b"lock_wait_secs: 1\n".to_vec();
        while text.len() <= 1 << 20 {
            text.extend_from_slice(b"# a comment line that only makes the file larger\n");
        }
        let err = load_file(&text).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage);
        assert!(
            err.message.contains("rez-db.yaml") && err.message.contains("over 1 MiB"),
            "{err}"
        );
        // Just under the limit is still read.
        text.truncate((1 << 20) - 100);
        text.push(b'\n');
        load_file(&text).unwrap();
        // A file without an end (a device, a fifo) is cut off, not read whole.
        let err = Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some("/dev/zero".into()),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        assert!(
            err.message
                .contains("/dev/zero: the config file is over 1 MiB"),
            "{err}"
        );
    }

    #[test]
    fn a_config_file_nested_deeper_than_32_levels_is_refused() {
        let flow = format!("stores: {}{}\n", "[".repeat(1000), "]".repeat(1000));
        let mut block = String::from("partitions:\n");
        for level in 1..40 {
            block.push_str(&format!("{}k{level}:\n", "  ".repeat(level)));
        }
        let mut sequences = String::from("stores:\n");
        sequences.push_str(&"- ".repeat(40));
        sequences.push_str("pg\n");
        // Brackets the pre-scan takes for quoted text still count, up to a cap.
        let quoted = format!("audit: {{tables: ['{}']}}\n", "[".repeat(2000));
        let err = load_file(quoted.as_bytes()).unwrap_err();
        assert!(err.message.contains("2002 flow brackets"), "{err}");
        for (text, line) in [(flow, 1), (block, 33), (sequences, 2)] {
            let err = load_file(text.as_bytes()).unwrap_err();
            assert_eq!(err.kind, ErrorKind::Usage);
            assert!(
                err.message
                    .contains(&format!("rez-db.yaml:{line}: nested deeper than 32 levels")),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rez-db.yaml");
        std::fs::write(&path, "profiles:\n  ci: {}\n  prod: {}\n").unwrap();
        let err = Config::load_with_env(
            TABLES,
            &Overrides {
                config_file: Some(path),
                profile: Some("stage".into()),
                ..Default::default()
            },
            &no_env,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("known profiles: ci, prod"),
            "{err}"
        );
    }
}
