//! `rez-db restore`: verify a backup whole, then put it back. Nothing is
//! touched before the manifest, every size and SHA-256, the files' types,
//! pg_restore's reading of the archive and the target's emptiness have been
//! checked; replacing data needs `--force` and a yes.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use clap::Args;
use serde::Serialize;
use sqlx::PgConnection;

use crate::backup::{self, manifest::StoreEntry, postgres};
use crate::cli::{LockArgs, PgArgs, StoreArgs};
use crate::commands::create::CreateArgs;
use crate::commands::validate::ValidateArgs;
use crate::config::StoreKind;
use crate::error::{CommandError, Result};
use crate::output::{table, Render};
use crate::store::es::Es;
use crate::store::lease::{self, Lease, Scope};
use crate::store::mongo::Mongo;
use crate::store::pg::{self, lock, provision};
use crate::store::redis::Redis;
use crate::Ctx;

/// Restore the datastores from a backup made by `rez-db backup`, then validate.
///
/// First, before anything changes: the manifest must exist (a backup without
/// one is incomplete), every file must have its recorded size and SHA-256, no
/// unlisted file may sit in a store folder, every file and folder must be a
/// real one (a symlink, even to an identical copy, a FIFO or a device is
/// refused, never followed), and pg_restore must read the archive's table of
/// contents (`pg_restore --list`); a bad backup is refused (exit 1) naming the
/// file. A target with data (PostgreSQL: rows in any table or
/// applied migrations; MongoDB: a collection with documents; Redis: a key
/// under the prefix; Elasticsearch: an index with documents) is refused unless
/// --force; replacing it asks first unless --yes, and without a terminal
/// refuses (exit 2).
///
/// PostgreSQL: the database is (re)created as `rez-db create` does, then
/// `pg_restore --jobs=2` loads it, partitions included. `validate` runs last;
/// exit 1 if it finds errors. MongoDB: the database's collections are dropped,
/// then each comes back with its options, documents and indexes. Redis: every key
/// restored under the key prefix with its remaining TTL. Elasticsearch: each
/// index recreated with its settings, mappings and aliases (an index of the
/// same name or holding one of its aliases is deleted first), its documents
/// bulk-loaded. Compressed backups (`backup --compress`) are read as the
/// manifest records them.
///
/// A PostgreSQL restore holds the data lock that seed and import-csv take
/// and the partitions lock of partition-rotate, exclusive (and a lock on the
/// database's name): while one of them, a backup, or another restore of the
/// same database runs, it exits 4 (after --lock-wait). In MongoDB, Redis and
/// Elasticsearch it holds the store's data lease (a lock document or key in
/// the store itself, see the README): another restore, seed or reindex-es
/// writing there, from whatever PostgreSQL database, makes it exit 4 the same
/// way.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// The backup directory (holding manifest.json)
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,

    /// Verify the backup and print the plan; change nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Replace a target that holds data (drops and recreates the database)
    #[arg(long)]
    pub force: bool,

    /// Do not ask before replacing data
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Serialize)]
pub struct RestoreReport {
    pub directory: PathBuf,
    pub dry_run: bool,
    /// When the backup finished, from its manifest.
    pub backup_finished_at: DateTime<Utc>,
    pub stores: Vec<RestoreRow>,
    /// `validate` on the restored database; absent on a dry run.
    pub validation: Option<crate::validate::Report>,
}

#[derive(Debug, Serialize)]
pub struct RestoreRow {
    pub store: String,
    /// The database restored into (a name, never a URL).
    pub target: String,
    pub schema_version: Option<i64>,
    pub files: usize,
    pub bytes: u64,
    /// What was (or, on a dry run, would be) done.
    pub action: String,
}

impl Render for RestoreReport {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table([
            "store",
            "target",
            "schema version",
            "files",
            "bytes",
            "action",
        ]);
        for s in &self.stores {
            t.add_row([
                s.store.clone(),
                s.target.clone(),
                s.schema_version.map_or("-".to_string(), |v| v.to_string()),
                s.files.to_string(),
                s.bytes.to_string(),
                s.action.clone(),
            ]);
        }
        writeln!(out, "{t}")?;
        writeln!(
            out,
            "backup of {} verified: every file matches its SHA-256",
            self.backup_finished_at.to_rfc3339()
        )?;
        match &self.validation {
            None => writeln!(out, "dry run: nothing was changed"),
            Some(v) => {
                writeln!(out, "\nvalidate on the restored database:")?;
                v.human(out)
            }
        }
    }

    fn has_problems(&self) -> bool {
        self.validation.as_ref().is_some_and(|v| v.has_problems())
    }
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
    fn occupied(&self, ctx: &Ctx) -> Option<String> {
        match self {
            Prepared::Pg {
                name,
                target: Target::Occupied(found),
                ..
            } => Some(format!(
                "database `{name}` on {} ({})",
                ctx.config.database_url,
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

    fn row(&self, dry_run: bool) -> RestoreRow {
        let (entry, target, action) = match self {
            Prepared::Pg {
                entry,
                name,
                target,
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
        RestoreRow {
            store: entry.store.clone(),
            target,
            schema_version: entry.schema_version,
            files: entry.files.len(),
            bytes: backup::bytes(&entry.files),
            action: if dry_run {
                format!("would {action}")
            } else {
                action.to_string()
            },
        }
    }
}

pub async fn run(ctx: &Ctx, args: &RestoreArgs) -> Result<RestoreReport> {
    let stores = &ctx.config.stores;
    let manifest = backup::verify(&args.from).await?;
    // Taken before the target is looked at, so the emptiness check and the
    // restore see the same database; a dry run changes nothing and takes none.
    let mut pg_locks = match stores.contains(&StoreKind::Postgres) && !args.dry_run {
        true => Some(PgLocks::take(ctx).await?),
        false => None,
    };
    // The other stores' leases, each taken as its store is first reached,
    // before it is looked at (see `crate::store::lease`).
    let wait = ctx.config.lock_wait;
    let mut leases: Vec<Lease> = Vec::new();
    let mut prepared = Vec::new();
    for store in stores {
        let entry = manifest
            .stores
            .iter()
            .find(|s| s.store == store.as_str())
            .cloned()
            .ok_or_else(|| {
                CommandError::usage(format!(
                    "the backup in {} holds no {} part",
                    args.from.display(),
                    store.as_str()
                ))
                .with_hint("pass --only with the stores the backup holds")
            })?;
        prepared.push(match store {
            StoreKind::Postgres => prepare_pg(ctx, &args.from, entry).await?,
            StoreKind::Redis => {
                let mut redis = backup::connect_redis(ctx).await?;
                if !args.dry_run {
                    leases.push(lease::redis(&redis, Scope::Data, "restore", wait).await?);
                }
                let keys = backup::redis::occupied(&mut redis).await?;
                Prepared::Redis { entry, redis, keys }
            }
            StoreKind::Mongodb => {
                let mongo = backup::connect_mongo(ctx).await?;
                if !args.dry_run {
                    leases.push(lease::mongo(&mongo, Scope::Data, "restore", wait).await?);
                }
                let existing = backup::mongo::collections(&mongo).await?.len();
                let with_documents = backup::mongo::occupied(&mongo).await?;
                Prepared::Mongo {
                    entry,
                    mongo,
                    existing,
                    with_documents,
                }
            }
            StoreKind::Elasticsearch => {
                let es = backup::connect_es(ctx).await?;
                if !args.dry_run {
                    leases.push(lease::es(&es, Scope::Data, "restore", wait).await?);
                }
                let with_documents = backup::es::occupied(&es).await?;
                Prepared::Es {
                    entry,
                    es,
                    with_documents,
                }
            }
        });
    }
    let occupied: Vec<String> = prepared.iter().filter_map(|p| p.occupied(ctx)).collect();
    if !occupied.is_empty() && !args.force {
        return Err(CommandError::usage(format!(
            "refusing to restore: the target is not empty: {}",
            occupied.join("; ")
        ))
        .with_hint(
            "restore into a new database (--database-url) or prefix, or pass --force to replace it",
        ));
    }
    let mut report = RestoreReport {
        directory: args.from.clone(),
        dry_run: args.dry_run,
        backup_finished_at: manifest.finished_at,
        stores: prepared.iter().map(|p| p.row(args.dry_run)).collect(),
        validation: None,
    };
    if args.dry_run {
        return Ok(report);
    }
    if !occupied.is_empty() && !args.yes {
        let question = format!(
            "Replace {} with the backup in {}? The current data is deleted.",
            occupied.join(" and "),
            args.from.display()
        );
        crate::cli::confirm(&question, "replace data")?;
    }
    let mut restored_pg = false;
    for p in prepared {
        match p {
            Prepared::Pg {
                entry,
                name,
                target,
            } => {
                let locks = pg_locks
                    .as_mut()
                    .expect("taken when PostgreSQL is restored");
                restore_pg(ctx, &args.from.join(&entry.folder), &name, &target, locks).await?;
                restored_pg = true;
            }
            Prepared::Redis {
                entry,
                mut redis,
                keys,
            } => {
                if keys > 0 {
                    backup::redis::clear(&mut redis).await?;
                }
                let name = entry.compression.file_name(backup::redis::FILE);
                let file = args.from.join(&entry.folder).join(name);
                backup::redis::restore(&mut redis, &file, entry.compression).await?;
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
                    backup::mongo::clear(&mongo).await?;
                }
                let folder = args.from.join(&entry.folder);
                backup::mongo::restore(&mongo, &folder, &entry.source, entry.compression).await?;
            }
            Prepared::Es { entry, es, .. } => {
                // `create` leaves empty `<name>_v1` indices that would collide.
                let folder = args.from.join(&entry.folder);
                backup::es::clear(&es, &folder).await?;
                backup::es::restore(&es, &folder, entry.compression).await?;
            }
        }
    }
    let validate = ValidateArgs {
        pg: PgArgs::default(),
        stores: args.stores.clone(),
        list: false,
        checks: Vec::new(),
        skips: Vec::new(),
        limit: 10,
        wallet_rows: crate::validate::WALLET_ROWS,
    };
    report.validation = Some(crate::commands::validate::run(ctx, &validate).await?);
    if restored_pg {
        record(ctx, args).await;
    }
    drop(pg_locks);
    for held in leases {
        held.release().await?;
    }
    Ok(report)
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
    async fn take(ctx: &Ctx) -> Result<PgLocks> {
        let c = &ctx.config;
        let url = &c.database_url;
        let name = target_name(url)?;
        let mut admin = pg::connect(&url.with_path("/postgres"), c.connect_timeout).await?;
        lock::acquire_database_name(&mut admin, url, &name, c.lock_wait).await?;
        let exists = provision::database_exists(&mut admin, &name)
            .await
            .map_err(|e| pg::error(url, e))?;
        let data = match exists {
            true => Some(Self::data_lock(ctx).await?),
            false => None,
        };
        Ok(PgLocks { _name: admin, data })
    }

    /// The data and partitions locks inside the target database, exclusive,
    /// on a connection of their own: no seed, import, backup or rotation runs
    /// in it meanwhile.
    async fn data_lock(ctx: &Ctx) -> Result<PgConnection> {
        let c = &ctx.config;
        let mut conn = pg::connect(&c.database_url, c.connect_timeout).await?;
        for scope in [lock::LockScope::Data, lock::LockScope::Partitions] {
            lock::acquire(&mut conn, &c.database_url, scope, c.lock_wait).await?;
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

/// The database name of the PostgreSQL URL.
fn target_name(url: &crate::secret::RedactedUrl) -> Result<String> {
    url.database_name().ok_or_else(|| {
        CommandError::usage(format!("the PostgreSQL URL {url} names no database"))
            .with_hint("add the database name as the URL's path, e.g. postgres://host:5432/rez")
    })
}

/// Checks pg_restore's version, that it can read the archive (`--list`),
/// and what the target database holds.
async fn prepare_pg(ctx: &Ctx, from: &Path, entry: StoreEntry) -> Result<Prepared> {
    let url = &ctx.config.database_url;
    let name = target_name(url)?;
    let err = |e| pg::error(url, e);
    let mut admin = pg::connect(&url.with_path("/postgres"), ctx.config.connect_timeout).await?;
    let (server, major) = postgres::server_version(&mut admin).await.map_err(err)?;
    postgres::check_tool("pg_restore", &server, major).map_err(CommandError::usage)?;
    // The last check of the backup, by the tool that will read it, before
    // the target is looked at (let alone dropped).
    let folder = from.join(&entry.folder);
    postgres::list(url, &folder).await.map_err(|e| {
        CommandError::problems(format!("refusing to restore: {e}"))
            .with_hint("restore from another backup; this one cannot be trusted")
    })?;
    let target = if provision::database_exists(&mut admin, &name)
        .await
        .map_err(err)?
    {
        let mut conn = pg::connect(url, ctx.config.connect_timeout).await?;
        match postgres::occupied(&mut conn).await.map_err(err)? {
            found if found.is_empty() => Target::Empty,
            found => Target::Occupied(found),
        }
    } else {
        Target::Missing
    };
    Ok(Prepared::Pg {
        entry,
        name,
        target,
    })
}

/// (Re)creates the database as `rez-db create` does and runs pg_restore into
/// it, under `locks` (see [`PgLocks`]).
async fn restore_pg(
    ctx: &Ctx,
    folder: &Path,
    name: &str,
    target: &Target,
    locks: &mut PgLocks,
) -> Result<()> {
    let url = &ctx.config.database_url;
    // Always restore into a fresh database: an "empty" one may still hold
    // rez_meta (the operations log of `create`), which pg_restore would collide with.
    if !matches!(target, Target::Missing) {
        locks.release_data().await;
        let mut admin =
            pg::connect(&url.with_path("/postgres"), ctx.config.connect_timeout).await?;
        provision::drop_database(&mut admin, name, false)
            .await
            .map_err(|e| pg::error(url, e))?;
    }
    let mut pg_ctx = ctx.clone();
    pg_ctx.config.stores = vec![StoreKind::Postgres];
    let create = CreateArgs {
        pg: PgArgs::default(),
        stores: StoreArgs::default(),
        drop: false,
        yes: false,
        dry_run: false,
    };
    crate::commands::create::run(&pg_ctx, &create).await?;
    locks.data = Some(PgLocks::data_lock(ctx).await?);
    postgres::restore(url, folder).await.map_err(|e| {
        CommandError::failed(e).with_hint(
            "the database is partly restored: fix the cause and run restore again with --force",
        )
    })
}

/// Records the restore in the restored database's operations log. The usual
/// record (`crate::oplog`, written before the command runs) cannot be used:
/// the database it would write to is the one being replaced.
async fn record(ctx: &Ctx, _args: &RestoreArgs) {
    let url = &ctx.config.database_url;
    let op = pg::oplog::Operation {
        command: "restore".to_string(),
        arguments: crate::secret::redact_args(std::env::args()),
        actor: ctx.config.actor.clone(),
        started_at: Utc::now(),
    };
    let result = async {
        let mut conn = pg::connect(url, ctx.config.connect_timeout)
            .await
            .map_err(|e| e.message)?;
        let id = pg::oplog::start(&mut conn, &op)
            .await
            .map_err(|e| e.to_string())?;
        pg::oplog::finish(&mut conn, id, 0, None)
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    if let Err(e) = result {
        tracing::warn!(
            "could not record this restore in rez_meta.operations: {}",
            url.scrub(&e)
        );
    }
}
