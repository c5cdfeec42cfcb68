//! `rez-db restore`: verify a backup whole, then put it back. Nothing is
//! touched before the manifest, every size and SHA-256, the files' types,
//! pg_restore's reading of the archive and the target's emptiness have been
//! checked; replacing data needs `--force` and a yes. The work is
//! `crate::backup::restore::run`'s; this file asks the question on the
//! terminal and renders the report.

use std::io::{self, Write};
use std::path::PathBuf;

use chrono::Utc;
use clap::Args;

use crate::backup::restore;
use crate::cli::{self, LockArgs, PgArgs, StoreArgs};
use crate::config::StoreKind;
use crate::error::Result;
use crate::oplog::Operation;
use crate::output::progress::Bars;
use crate::output::{table, Render};
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
/// Encrypted backups (`backup --encrypt-to`) need --identity FILE: an age
/// identity file (`age-keygen -o FILE`) holding the key of one of the
/// recipients; refused (exit 2) when the group or others may read or write
/// it, and never printed. Without --identity, or when its keys open no file's
/// header, the restore is refused before anything is touched (exit 2, naming
/// the recipients). MongoDB, Redis and Elasticsearch files are decrypted as
/// they stream in; the PostgreSQL archive is first decrypted into a private
/// folder (mode 0700, under $TMPDIR: it needs room for the dump) for
/// `pg_restore --jobs=2`, removed when the restore ends, fails or is
/// interrupted. Every file's plaintext SHA-256 is checked as it is decrypted.
///
/// Versions: the manifest records each source's server version (and
/// pg_dump's, the archive format, MongoDB's feature compatibility version);
/// a target older than its source, a pg_restore older than the pg_dump that
/// wrote the archive, or another product (OpenSearch for Elasticsearch) is
/// refused before anything changes (exit 2, naming both versions) unless
/// --allow-version-change.
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

    /// Restore even onto an older server (or with an older pg_restore), or another
    /// product, than the backup's manifest records
    #[arg(long)]
    pub allow_version_change: bool,

    /// Decrypt an encrypted backup with the age identity file FILE (mode 600)
    #[arg(long, value_name = "FILE")]
    pub identity: Option<PathBuf>,
}

impl Render for restore::Report {
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
                writeln!(out, "{}", timings_line(self))?;
                writeln!(out, "\nvalidate on the restored database:")?;
                v.human(out)
            }
        }
    }

    fn has_problems(&self) -> bool {
        self.validation.as_ref().is_some_and(|v| v.has_problems())
    }
}

/// The summary of where the time went: `took 21.4 s: verify 0.3 s,
/// prepare 0.5 s, postgres 20.6 s (restore 21.4 s without validate),
/// validate 5.1 s`.
fn timings_line(report: &restore::Report) -> String {
    let s = super::render::seconds;
    let t = &report.timings;
    let mut parts = vec![
        format!("verify {}", s(t.verify_ms)),
        format!("prepare {}", s(t.prepare_ms)),
    ];
    for row in &report.stores {
        if let Some(ms) = row.restore_ms {
            parts.push(format!("{} {}", row.store, s(ms)));
        }
    }
    format!(
        "took {}: {} (restore {} without validate), validate {}",
        s(t.total_ms),
        parts.join(", "),
        s(t.restore_ms),
        s(t.validate_ms)
    )
}

pub async fn run(ctx: &Ctx, args: &RestoreArgs) -> Result<restore::Report> {
    let stores = &ctx.config.stores;
    // A bad identity file is a usage error before any store is reached.
    let identities = match &args.identity {
        Some(path) => Some(crate::backup::crypt::read_identities(path)?),
        None => None,
    };
    // Every selected store is reached (exit 3) and the definitions read
    // (exit 2) before the backup is even verified.
    let conns = ctx.connections().await?;
    let defs = match stores.iter().any(|s| *s != StoreKind::Postgres) {
        true => Some(ctx.definitions()?),
        false => None,
    };
    let options = restore::Options {
        from: args.from.clone(),
        stores: stores.clone(),
        dry_run: args.dry_run,
        force: args.force,
        lock_wait: ctx.config.lock_wait,
        allow_version_change: args.allow_version_change,
        identities,
        record: Operation {
            command: "restore".to_string(),
            arguments: crate::secret::redact_args(std::env::args()),
            actor: ctx.config.actor.clone(),
            started_at: Utc::now(),
        },
    };
    let confirm = |question: &str| match args.yes {
        true => Ok(()),
        false => cli::confirm(question, "replace data"),
    };
    let progress = Bars::new(ctx.progress);
    let mut report = restore::run(&ctx.pg(), &conns, defs, &options, &confirm, &progress).await?;
    if let Some(validation) = report.validation.as_mut() {
        cli::word_violation_remedies(&mut validation.checks);
    }
    Ok(report)
}
