//! The `restore` operation: verify a backup whole, then put it back. Nothing
//! is touched before the manifest, every size and SHA-256, the files' types,
//! pg_restore's reading of the archive and the target's emptiness have been
//! checked; replacing data needs the caller's leave (`Options::force`) and
//! its confirmation.
//!
//! PostgreSQL's database is dropped and created by the provision operation
//! (`crate::provision::postgres`), as `create` makes one; the restored stores
//! are checked by the validate operation (`crate::validate::run`) last.
//!
//! An operation: it never sees the command line or the context and never
//! asks on a terminal itself. The question before data is replaced goes to
//! the `confirm` callback its caller hands it, asked at the one moment it
//! can be: after the targets were found occupied, under the locks and leases
//! taken before they were looked at, which a two-step "plan, then apply"
//! would have to hand back to the caller and keep alive in between.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgConnection;

use super::crypt::{self, Decrypt, Identities, PrivateDir};
use super::stream::Stored;
use super::versions::{self, Versions};
use super::{connected, manifest::StoreEntry, postgres};
use crate::config::StoreKind;
use crate::definitions::Definitions;
use crate::error::{CommandError, Remedy, Result};
use crate::progress::Progress;
use crate::provision::postgres::{database_name, PgOptions};
use crate::provision::Confirm;
use crate::store::es::Es;
use crate::store::lease::{self, Lease, Scope};
use crate::store::mongo::Mongo;
use crate::store::pg::oplog::{self, Operation};
use crate::store::pg::provision::database_exists;
use crate::store::pg::{lock, Pg};
use crate::store::redis::Redis;
use crate::store::Connections;
use crate::validate;

/// What `restore` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The backup directory (holding manifest.json).
    pub from: PathBuf,
    /// The stores to restore; the backup must hold each.
    pub stores: Vec<StoreKind>,
    /// Verify the backup and report the plan; change nothing.
    pub dry_run: bool,
    /// Replace a target that holds data (after `confirm`).
    pub force: bool,
    /// How long to wait for another run's lock or lease before exit 4.
    pub lock_wait: Duration,
    /// Restore onto an older server or pg_restore, or another product, than
    /// the manifest records (see [`super::versions`]).
    pub allow_version_change: bool,
    /// The keys that decrypt an encrypted backup (`super::crypt`).
    pub identities: Option<Identities>,
    /// This run, as the restored database's operations log records it.
    pub record: Operation,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub directory: PathBuf,
    pub dry_run: bool,
    /// When the backup finished, from its manifest.
    pub backup_finished_at: DateTime<Utc>,
    pub stores: Vec<Row>,
    /// `validate` on the restored database; absent on a dry run.
    pub validation: Option<validate::Report>,
    /// How long each phase took.
    pub timings: Timings,
}

/// How long each phase of a restore took, in milliseconds of wall clock,
/// so that the restore and its validate can be told apart (a benchmark
/// compares the first with pg_restore alone). Each store's own restore is
/// in its [`Row::restore_ms`].
#[derive(Debug, Default, Serialize)]
pub struct Timings {
    /// The manifest, every file's size and SHA-256, and the identities.
    pub verify_ms: u64,
    /// Each store's checks before anything changes: locks and leases,
    /// versions, pg_restore's reading of the archive (after its
    /// decryption), the targets' contents.
    pub prepare_ms: u64,
    /// From the start until every store's data was back: verify, prepare
    /// and the stores' restores; the restore without its validate.
    pub restore_ms: u64,
    /// `validate`'s own time: PostgreSQL's checks (which may overlap the
    /// other stores' restores) plus the checks that read the other stores.
    pub validate_ms: u64,
    /// The whole run.
    pub total_ms: u64,
}

/// Milliseconds since `since`.
fn ms(since: Instant) -> u64 {
    u64::try_from(since.elapsed().as_millis()).unwrap_or(u64::MAX)
}

#[derive(Debug, Serialize)]
pub struct Row {
    pub store: String,
    /// The database restored into (a name, never a URL).
    pub target: String,
    pub schema_version: Option<i64>,
    pub files: usize,
    pub bytes: u64,
    /// What was (or, on a dry run, would be) done.
    pub action: String,
    /// How long this store's restore took (PostgreSQL: the database's
    /// re-creation and pg_restore); absent on a dry run.
    pub restore_ms: Option<u64>,
}

/// What the target database holds before the restore.
enum Target {
    Missing,
    Empty,
    Occupied(Vec<String>),
}

/// One store, checked and ready; nothing has changed yet.
enum Prepared {
    Pg {
        entry: StoreEntry,
        name: String,
        target: Target,
        /// An encrypted archive, decrypted for pg_restore; removed when dropped.
        decrypted: Option<PrivateDir>,
    },
    Redis {
        entry: StoreEntry,
        redis: Redis,
        keys: usize,
    },
    Es {
        entry: StoreEntry,
        es: Es,
        with_documents: Vec<String>,
    },
    Mongo {
        entry: StoreEntry,
        mongo: Mongo,
        /// Collections the target has at all, and those holding documents.
        existing: usize,
        with_documents: Vec<String>,
    },
}

impl Prepared {
    /// What already sits in the target, when it is not empty.
    fn occupied(&self, pg: &Pg) -> Option<String> {
        match self {
            Prepared::Pg {
                name,
                target: Target::Occupied(found),
                ..
            } => Some(format!(
                "database `{name}` on {} ({})",
                pg.url,
                found.join(", ")
            )),
            Prepared::Redis { redis, keys, .. } if *keys > 0 => Some(format!(
                "Redis {} under prefix `{}` ({keys} key(s))",
                redis.url,
                redis.prefix()
            )),
            Prepared::Mongo {
                mongo,
                with_documents,
                ..
            } if !with_documents.is_empty() => Some(format!(
                "MongoDB database `{}` ({} collection(s) with documents: {})",
                mongo.database_name(),
                with_documents.len(),
                with_documents.join(", ")
            )),
            Prepared::Es {
                es, with_documents, ..
            } if !with_documents.is_empty() => Some(format!(
                "Elasticsearch indices under prefix `{}` ({})",
                es.prefix(),
                with_documents.join(", ")
            )),
            _ => None,
        }
    }

    fn row(&self, dry_run: bool) -> Row {
        let (entry, target, action) = match self {
            Prepared::Pg {
                entry,
                name,
                target,
                ..
            } => (
                entry,
                name.clone(),
                match target {
                    Target::Missing => "create the database, pg_restore",
                    Target::Empty => "recreate the empty database, pg_restore",
                    Target::Occupied(_) => "REPLACE the database, pg_restore",
                },
            ),
            Prepared::Redis { entry, redis, keys } => (
                entry,
                format!("prefix `{}`", redis.prefix()),
                if *keys > 0 {
                    "REPLACE every key under the prefix, RESTORE with TTLs"
                } else {
                    "RESTORE every key with its TTL"
                },
            ),
            Prepared::Mongo {
                entry,
                mongo,
                existing,
                with_documents,
            } => (
                entry,
                mongo.database_name().to_string(),
                match (*existing, with_documents.is_empty()) {
                    (0, _) => "create collections, insert documents, build indexes",
                    (_, true) => "drop the empty collections, restore collections and indexes",
                    (_, false) => "REPLACE the collections, restore collections and indexes",
                },
            ),
            Prepared::Es {
                entry,
                es,
                with_documents,
            } => (
                entry,
                format!("prefix `{}`", es.prefix()),
                if with_documents.is_empty() {
                    "create indices and aliases, bulk-load documents"
                } else {
                    "REPLACE the indices under the prefix, bulk-load documents"
                },
            ),
        };
        Row {
            store: entry.store.clone(),
            target,
            schema_version: entry.schema_version,
            files: entry.files.len(),
            bytes: super::bytes(&entry.files),
            action: if dry_run {
                format!("would {action}")
            } else {
                action.to_string()
            },
            restore_ms: None,
        }
    }

    fn is_postgres(&self) -> bool {
        matches!(self, Prepared::Pg { .. })
    }
}

/// `restore`: verifies the backup in `options.from`, then restores each of
/// `options.stores` from it: PostgreSQL into the database of `pg`, the others
/// through the connections of `conns` (each selected store must be connected
/// there); then validates the result (`defs`: the other stores' definitions,
/// needed when one of them is restored). Data is replaced only with
/// `options.force` and after `confirm`.
pub async fn run(
    pg: &Pg,
    conns: &Connections,
    defs: Option<&Definitions>,
    options: &Options,
    confirm: Confirm<'_>,
    progress: &dyn Progress,
) -> Result<Report> {
    let (from, stores, wait) = (&options.from, &options.stores, options.lock_wait);
    let clock = Instant::now();
    let manifest = super::verify(from).await?;
    let identities = check_identities(from, &manifest, stores, options.identities.as_ref()).await?;
    let mut timings = Timings {
        verify_ms: ms(clock),
        ..Timings::default()
    };
    // Taken before the target is looked at, so the emptiness check and the
    // restore see the same database; a dry run changes nothing and takes none.
    let mut pg_locks = match stores.contains(&StoreKind::Postgres) && !options.dry_run {
        true => Some(PgLocks::take(pg, wait).await?),
        false => None,
    };
    // The other stores' leases, each taken as its store is first reached,
    // before it is looked at (see `crate::store::lease`).
    let mut leases: Vec<Lease> = Vec::new();
    let mut prepared = Vec::new();
    // Each store's versions against its target's, all of them before anything changes.
    let mut refused: Vec<String> = Vec::new();
    let mut judge = |entry: &StoreEntry, target: Versions| {
        if let Some(source) = &entry.versions {
            refused.extend(versions::refusals(&entry.store, source, &target));
        }
    };
    for store in stores {
        let entry = manifest
            .stores
            .iter()
            .find(|s| s.store == store.as_str())
            .cloned()
            .ok_or_else(|| {
                CommandError::usage(format!(
                    "the backup in {} holds no {} part",
                    from.display(),
                    store.as_str()
                ))
                .with_remedy(Remedy::OnlyStoresOfBackup)
            })?;
        prepared.push(match store {
            StoreKind::Postgres => {
                let (prepared, target) = prepare_pg(pg, from, entry, identities).await?;
                if let Prepared::Pg { entry, .. } = &prepared {
                    judge(entry, target);
                }
                prepared
            }
            StoreKind::Redis => {
                let mut redis = connected(&conns.redis)?.clone();
                if !options.dry_run {
                    leases.push(lease::redis(&redis, Scope::Data, "restore", wait).await?);
                }
                let info = redis.server_info().await?;
                judge(&entry, Versions::of_server(info.product, info.version));
                let keys = super::redis::occupied(&mut redis).await?;
                Prepared::Redis { entry, redis, keys }
            }
            StoreKind::Mongodb => {
                let mongo = connected(&conns.mongo)?.clone();
                if !options.dry_run {
                    leases.push(lease::mongo(&mongo, Scope::Data, "restore", wait).await?);
                }
                let info = mongo.server_info().await?;
                judge(
                    &entry,
                    Versions {
                        feature_compatibility: mongo.feature_compatibility_version().await?,
                        ..Versions::of_server(info.product.to_lowercase(), info.version)
                    },
                );
                let existing = super::mongo::collections(&mongo).await?.len();
                let with_documents = super::mongo::occupied(&mongo).await?;
                Prepared::Mongo {
                    entry,
                    mongo,
                    existing,
                    with_documents,
                }
            }
            StoreKind::Elasticsearch => {
                let es = connected(&conns.es)?.clone();
                if !options.dry_run {
                    leases.push(lease::es(&es, Scope::Data, "restore", wait).await?);
                }
                let info = es.server_info().await?;
                judge(&entry, Versions::of_server(info.product, info.version));
                let with_documents = super::es::occupied(&es).await?;
                Prepared::Es {
                    entry,
                    es,
                    with_documents,
                }
            }
        });
    }
    if !refused.is_empty() && !options.allow_version_change {
        return Err(
            CommandError::usage(format!("refusing to restore: {}", refused.join("; ")))
                .with_remedy(Remedy::AllowVersionChange),
        );
    }
    let occupied: Vec<String> = prepared.iter().filter_map(|p| p.occupied(pg)).collect();
    if !occupied.is_empty() && !options.force {
        return Err(CommandError::usage(format!(
            "refusing to restore: the target is not empty: {}",
            occupied.join("; ")
        ))
        .with_remedy(Remedy::ReplaceTarget));
    }
    timings.prepare_ms = ms(clock).saturating_sub(timings.verify_ms);
    let mut report = Report {
        directory: from.clone(),
        dry_run: options.dry_run,
        backup_finished_at: manifest.finished_at,
        stores: prepared.iter().map(|p| p.row(options.dry_run)).collect(),
        validation: None,
        timings,
    };
    if options.dry_run {
        report.timings.total_ms = ms(clock);
        return Ok(report);
    }
    if !occupied.is_empty() {
        confirm(&format!(
            "Replace {} with the backup in {}? The current data is deleted.",
            occupied.join(" and "),
            from.display()
        ))?;
    }
    // PostgreSQL first: its checks can then start while the other stores
    // are restored (below).
    let (postgres, others): (Vec<Prepared>, Vec<Prepared>) =
        prepared.into_iter().partition(Prepared::is_postgres);
    let mut restore_ms: Vec<(String, u64)> = Vec::new();
    let restored_pg = !postgres.is_empty();
    for p in postgres {
        let Prepared::Pg {
            entry,
            target,
            decrypted,
            ..
        } = p
        else {
            continue;
        };
        let started = Instant::now();
        let locks = pg_locks
            .as_mut()
            .ok_or_else(|| CommandError::bug("PostgreSQL is restored without its locks"))?;
        let folder = match &decrypted {
            Some(plain) => plain.path().to_path_buf(),
            None => from.join(&entry.folder),
        };
        restore_pg(pg, &folder, &target, locks, wait).await?;
        // The decrypted copy is not needed any more: removed now, not at the end.
        drop(decrypted);
        restore_ms.push((entry.store, ms(started)));
    }
    // When validate can start. PostgreSQL's checks read PostgreSQL alone,
    // on one snapshot: they start as soon as pg_restore has finished (not
    // earlier: they check what the constraints restored in pg_restore's
    // last section enforce, and adding a primary key takes a lock that
    // would queue behind them), and run while the other stores are
    // restored, which never touch PostgreSQL (under this run's data lock).
    // The checks that read another store wait until every store is back.
    let (postgres_checks, store_checks) = validate::Options::all(stores).split();
    let postgres_validation = async {
        let started = Instant::now();
        let found = validate::run(pg, conns, defs, &postgres_checks, progress).await?;
        Ok::<_, CommandError>((found, ms(started)))
    };
    let other_restores = async {
        let mut took = Vec::new();
        for p in others {
            let started = Instant::now();
            let store = restore_other(p, from, identities).await?;
            took.push((store, ms(started)));
        }
        Ok::<_, CommandError>((took, ms(clock)))
    };
    let ((postgres_found, postgres_ms), (took, all_back_ms)) =
        tokio::try_join!(postgres_validation, other_restores)?;
    restore_ms.extend(took);
    report.timings.restore_ms = all_back_ms;
    let started = Instant::now();
    let others_found = validate::run(pg, conns, defs, &store_checks, progress).await?;
    report.timings.validate_ms = postgres_ms + ms(started);
    report.validation = Some(validate::Report::joined(postgres_found, others_found));
    for row in &mut report.stores {
        row.restore_ms = restore_ms
            .iter()
            .find(|(store, _)| *store == row.store)
            .map(|(_, took)| *took);
    }
    if restored_pg {
        record(pg, &options.record).await;
    }
    drop(pg_locks);
    for held in leases {
        held.release().await?;
    }
    report.timings.total_ms = ms(clock);
    Ok(report)
}

/// Restores one store other than PostgreSQL (its target cleared first when
/// it holds anything); returns the store's name.
async fn restore_other(
    p: Prepared,
    from: &Path,
    identities: Option<&Identities>,
) -> Result<String> {
    match p {
        Prepared::Pg { .. } => Err(CommandError::bug(
            "PostgreSQL is restored on its own, before the other stores",
        )),
        Prepared::Redis {
            entry,
            mut redis,
            keys,
        } => {
            if keys > 0 {
                super::redis::clear(&mut redis).await?;
            }
            let stored = reading(from, &entry, identities);
            let file = from
                .join(&entry.folder)
                .join(stored.stream_name(super::redis::FILE));
            super::redis::restore(&mut redis, &file, &stored).await?;
            Ok(entry.store)
        }
        Prepared::Mongo {
            entry,
            mongo,
            existing,
            ..
        } => {
            // Always into an empty database: `create` leaves collections,
            // indexes and its history behind, which would collide. Its
            // collections are dropped, not the database: that would drop
            // this restore's lease with it.
            if existing > 0 {
                super::mongo::clear(&mongo).await?;
            }
            let folder = from.join(&entry.folder);
            let stored = reading(from, &entry, identities);
            super::mongo::restore(&mongo, &folder, &entry.source, &stored).await?;
            Ok(entry.store)
        }
        Prepared::Es { entry, es, .. } => {
            // `create` leaves empty `<name>_v1` indices that would collide.
            let folder = from.join(&entry.folder);
            let stored = reading(from, &entry, identities);
            super::es::clear(&es, &folder, &stored).await?;
            super::es::restore(&es, &folder, &stored).await?;
            Ok(entry.store)
        }
    }
}

/// Refuses, before anything is touched, to restore an encrypted part of the
/// backup without identities (exit 2) or with identities that open none of
/// its files' headers (exit 2, naming the recipients); returns the
/// identities when a selected part is encrypted.
async fn check_identities<'a>(
    from: &Path,
    manifest: &super::manifest::Manifest,
    stores: &[StoreKind],
    identities: Option<&'a Identities>,
) -> Result<Option<&'a Identities>> {
    let selected: Vec<StoreEntry> = manifest
        .stores
        .iter()
        .filter(|s| stores.iter().any(|k| k.as_str() == s.store))
        .cloned()
        .collect();
    let entries: Vec<&StoreEntry> = selected.iter().collect();
    let Some(ids) = crypt::require_identities(from, &entries, identities)? else {
        return Ok(None);
    };
    let (dir, keys) = (from.to_path_buf(), ids.clone());
    tokio::task::spawn_blocking(move || {
        crypt::check(&dir, &selected.iter().collect::<Vec<_>>(), &keys)
    })
    .await
    .map_err(|e| CommandError::bug(format!("the key check panicked: {e}")))??;
    Ok(Some(ids))
}

/// How the files of `entry` are read: decompressed, and decrypted as they
/// stream when the part is encrypted (its identities were checked).
fn reading(from: &Path, entry: &StoreEntry, identities: Option<&Identities>) -> Stored {
    Stored {
        compression: entry.compression,
        decrypt: match (&entry.encryption, identities) {
            (Some(_), Some(ids)) => Some(Decrypt::new(from, entry, ids)),
            _ => None,
        },
    }
}

/// Decrypts an encrypted PostgreSQL archive into a private folder for
/// pg_restore (see `super::crypt` for why not a stream), every plaintext
/// checksum checked, before the target is looked at. One file at a time off
/// the runtime, so an interruption leaves at most one file being written
/// into the folder that [`PrivateDir`]'s drop removes.
async fn decrypt_pg(from: &Path, entry: &StoreEntry, ids: &Identities) -> Result<PrivateDir> {
    let plain = PrivateDir::create()?;
    let decrypt = std::sync::Arc::new(Decrypt::new(from, entry, ids));
    for file in &entry.files {
        let (d, dir, file) = (decrypt.clone(), from.to_path_buf(), file.clone());
        let (folder, into) = (entry.folder.clone(), plain.path().to_path_buf());
        tokio::task::spawn_blocking(move || d.decrypt_file(&dir, &file, &folder, &into))
            .await
            .map_err(|e| CommandError::bug(format!("the decryption worker panicked: {e}")))??;
    }
    Ok(plain)
}

/// The PostgreSQL locks of a restore, held until dropped (closing a
/// connection releases its session locks, however the process ends).
///
/// Why two. The data lock that `seed` and `import-csv` take lives INSIDE the
/// database, and a restore drops and recreates that database, which would
/// take such a lock with it. So a restore first locks the database's NAME in
/// the maintenance database (`postgres`), which no drop touches: two restores
/// of one database never overlap, even when it does not exist yet. Then,
/// when the target exists, it takes the data lock inside it (and the
/// partitions lock: see `pg::lock` for who takes what): a running seed,
/// import, backup or rotation makes the restore exit 4 before anything is
/// checked or dropped, and none can start while the target is checked. That session is closed
/// just before the drop (which would end it anyway); the recreated
/// database's data lock is taken right after `create`, before pg_restore,
/// and held through `validate`. Only a seed or import started in the moment
/// between the re-creation and that lock can come first: the restore then
/// exits 4 and the (new, partly created) database is left to `--force`.
struct PgLocks {
    _name: PgConnection,
    data: Option<PgConnection>,
}

impl PgLocks {
    async fn take(pg: &Pg, wait: Duration) -> Result<PgLocks> {
        let url = &pg.url;
        let name = database_name(url)?;
        let mut admin = pg.maintenance().connect().await?;
        lock::acquire_database_name(&mut admin, url, &name, wait).await?;
        let exists = database_exists(&mut admin, &name)
            .await
            .map_err(|e| pg.error(e))?;
        let data = match exists {
            true => Some(Self::data_lock(pg, wait).await?),
            false => None,
        };
        Ok(PgLocks { _name: admin, data })
    }

    /// The data and partitions locks inside the target database, exclusive,
    /// on a connection of their own: no seed, import, backup or rotation runs
    /// in it meanwhile.
    async fn data_lock(pg: &Pg, wait: Duration) -> Result<PgConnection> {
        let mut conn = pg.connect().await?;
        for scope in [lock::LockScope::Data, lock::LockScope::Partitions] {
            lock::acquire(&mut conn, &pg.url, scope, wait).await?;
        }
        Ok(conn)
    }

    /// Before the drop: close the data lock's session, which would block it.
    async fn release_data(&mut self) {
        if let Some(conn) = self.data.take() {
            let _ = sqlx::Connection::close(conn).await;
        }
    }
}

/// Checks pg_restore's version, that it can read the archive (`--list`),
/// and what the target database holds; with the target's versions (the
/// server's and pg_restore's).
async fn prepare_pg(
    pg: &Pg,
    from: &Path,
    entry: StoreEntry,
    identities: Option<&Identities>,
) -> Result<(Prepared, Versions)> {
    let url = &pg.url;
    let name = database_name(url)?;
    let err = |e| pg.error(e);
    let mut admin = pg.maintenance().connect().await?;
    let (server, major) = postgres::server_version(&mut admin).await.map_err(err)?;
    let pg_restore =
        postgres::check_tool("pg_restore", &server, major).map_err(CommandError::usage)?;
    let versions = Versions {
        product: "postgresql".to_string(),
        server: versions::numbers_text(&server),
        client: versions::tool_version(&pg_restore),
        ..Versions::default()
    };
    // The last check of the backup, by the tool that will read it, before
    // the target is looked at (let alone dropped).
    let decrypted = match (&entry.encryption, identities) {
        (Some(_), Some(ids)) => Some(decrypt_pg(from, &entry, ids).await?),
        _ => None,
    };
    let folder = match &decrypted {
        Some(plain) => plain.path().to_path_buf(),
        None => from.join(&entry.folder),
    };
    postgres::list(url, &folder).await.map_err(|e| {
        CommandError::problems(format!("refusing to restore: {e}"))
            .with_hint("restore from another backup; this one cannot be trusted")
    })?;
    let target = if database_exists(&mut admin, &name).await.map_err(err)? {
        let mut conn = pg.connect().await?;
        match postgres::occupied(&mut conn).await.map_err(err)? {
            found if found.is_empty() => Target::Empty,
            found => Target::Occupied(found),
        }
    } else {
        Target::Missing
    };
    Ok((
        Prepared::Pg {
            entry,
            name,
            target,
            decrypted,
        },
        versions,
    ))
}

/// (Re)creates the database through the provision operation, as `create`
/// does, and runs pg_restore into it, under `locks` (see [`PgLocks`]).
async fn restore_pg(
    pg: &Pg,
    folder: &Path,
    target: &Target,
    locks: &mut PgLocks,
    wait: Duration,
) -> Result<()> {
    // Replacing data was confirmed already (or the target holds none): the
    // drop asks nothing more.
    let confirmed: Confirm<'_> = &|_| Ok(());
    // Always restore into a fresh database: an "empty" one may still hold
    // rez_meta (the operations log of `create`), which pg_restore would collide with.
    if !matches!(target, Target::Missing) {
        locks.release_data().await;
        let drop = PgOptions {
            drop: true,
            dry_run: false,
        };
        crate::provision::postgres::apply(pg, drop, confirmed).await?;
    }
    crate::provision::postgres::apply(pg, PgOptions::default(), confirmed).await?;
    let data = locks.data.insert(PgLocks::data_lock(pg, wait).await?);
    postgres::restore(&pg.url, folder)
        .await
        .map_err(|e| CommandError::failed(e).with_remedy(Remedy::RestoreAgain))?;
    // pg_restore committed asynchronously (see `postgres::restore`).
    postgres::flush_wal(data).await.map_err(|e| pg.error(e))
}

/// Records the restore in the restored database's operations log. The usual
/// record (`crate::oplog`, written by the face before the command runs)
/// cannot be used: the database it would write to is the one being replaced.
async fn record(pg: &Pg, op: &Operation) {
    let result = async {
        let mut conn = pg.connect().await.map_err(|e| e.message)?;
        let id = oplog::start(&mut conn, op)
            .await
            .map_err(|e| e.to_string())?;
        oplog::finish(&mut conn, id, 0, None)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(
            "could not record this restore in rez_meta.operations: {}",
            pg.url.scrub(&e)
        );
    }
}
