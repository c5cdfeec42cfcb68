//! `rez-db backup`: dump the selected stores into a new directory and write
//! its manifest last. Reads the datastores, never changes them. The work is
//! `crate::backup::run`'s; this file builds its options and renders the report.
//! `rez-db backup prune`: the retention of a directory of backups
//! (`crate::backup::prune`).

use std::io::{self, Write};
use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::backup::{self, prune, stream::Compression};
use crate::cli::{self, LockArgs, PgArgs, StoreArgs, TargetArgs};
use crate::error::Result;
use crate::output::metrics::Sample;
use crate::output::progress::Bars;
use crate::output::{table, Render};
use crate::Ctx;

/// Back up the datastores into DIR, verifiably.
///
/// DIR gets one folder per store (PostgreSQL: `postgres/`, a pg_dump directory
/// archive made with 2 parallel jobs by a pg_dump of the server's major
/// version) and `manifest.json`, written last: the tool version, each store's
/// schema version, start and end times, and every file's size and SHA-256. A
/// backup interrupted at any point has no manifest, and `restore` refuses it.
/// The manifest holds no URL and no secret.
///
/// MongoDB: per collection `mongo/<db>/<coll>.bson` and `.metadata.json`
/// (options and indexes), the layout mongodump writes. Redis: every key under
/// the key prefix with its DUMP payload and remaining TTL, in
/// `redis/keys.bin`. Elasticsearch: per index under the index prefix,
/// `elasticsearch/<index>.json` (settings, mappings, aliases) and
/// `<index>.ndjson` (every document, by scroll).
///
/// With --compress, every store's data is stored gzipped: pg_dump's own
/// compression (`<oid>.dat.gz`), and `.gz` after the MongoDB, Redis and
/// Elasticsearch file names (the layout of `mongodump --gzip`). The manifest
/// records it per store, its checksums cover the compressed files, and
/// `restore` reads either kind without being told. Without it nothing is
/// compressed (pg_dump `--compress=0`): bigger, quicker to write.
///
/// With --encrypt-to RECIPIENT (an age X25519 public key `age1...`; repeat it
/// for several: any one of their keys restores), every file of every store is
/// encrypted with age to `<file>.age` once the store is dumped, and the
/// plaintext removed; until then it lies in DIR, so keep DIR on storage as
/// trusted as the server's disk. The manifest stays readable: it records the
/// recipients' public keys and each file's ciphertext and plaintext size and
/// SHA-256, never a secret. `restore --identity FILE` decrypts it; `age -d -i
/// FILE` decrypts any file of it without rez-db. A bad RECIPIENT is exit 2.
///
/// While pg_dump runs, the backup holds the data and partitions locks shared:
/// other backups run beside it, but a seed or import-csv (which set indexes
/// aside) or a partition-rotate running makes it exit 4 (after --lock-wait),
/// and they in turn wait for it or exit 4.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct BackupArgs {
    #[command(subcommand)]
    pub action: Option<BackupAction>,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum BackupAction {
    Prune(PruneArgs),
}

/// Delete the backups of a directory that no retention rule keeps
///
/// The backups are the subdirectories of --root with a valid manifest.json; a
/// backup's time is its manifest's `started_at`, in UTC. Like restic's `forget`:
/// from the newest backup to the oldest, --keep-last N keeps the N newest;
/// --keep-daily D keeps the newest backup of each of the D most recent days that
/// have one; --keep-weekly W the same per ISO week (Monday to Sunday);
/// --keep-monthly M per calendar month. A backup any rule keeps is kept; the
/// report says which rules keep it. A subdirectory without a valid manifest
/// (interrupted, still being written, not a backup) is kept unless
/// --include-incomplete: do not pass it while a backup into --root runs.
///
/// Everything is listed and decided before anything is deleted; deleting asks
/// first unless --yes (without a terminal: refused, exit 2). Each deletion
/// removes the manifest first, so a half-deleted backup is recognisably
/// incomplete. Exit 2 when every count is 0 (everything would go) or --root
/// does not exist; 5 when a backup cannot be deleted.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// The directory holding one backup per subdirectory
    #[arg(long, value_name = "DIR")]
    pub root: PathBuf,

    /// Keep the N newest backups
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_last: u32,

    /// Keep the newest backup of each of the D most recent days that have one
    #[arg(long, value_name = "D", default_value_t = 0)]
    pub keep_daily: u32,

    /// Keep the newest backup of each of the W most recent ISO weeks that have one
    #[arg(long, value_name = "W", default_value_t = 0)]
    pub keep_weekly: u32,

    /// Keep the newest backup of each of the M most recent months that have one
    #[arg(long, value_name = "M", default_value_t = 0)]
    pub keep_monthly: u32,

    /// Print what would be kept and deleted; delete nothing
    #[arg(long)]
    pub dry_run: bool,

    /// Delete subdirectories without a valid manifest too
    #[arg(long)]
    pub include_incomplete: bool,

    /// Do not ask before deleting
    #[arg(long, short = 'y')]
    pub yes: bool,
}

/// The flags of `backup` itself.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// The backup directory; it must be empty or absent
    // An Option only so that `backup prune` can leave it out: clap requires it otherwise.
    #[arg(long, value_name = "DIR", required = true)]
    pub to: Option<PathBuf>,

    /// Replace the backup already in DIR (its manifest is removed first)
    #[arg(long)]
    pub force: bool,

    /// Store every store's data gzipped (level 6); without it nothing is compressed
    #[arg(long)]
    pub compress: bool,

    /// Encrypt every file to this age recipient (public key `age1...`); repeatable
    #[arg(long, value_name = "RECIPIENT", value_parser = backup::crypt::parse_recipient)]
    pub encrypt_to: Vec<age::x25519::Recipient>,
    #[command(flatten)]
    pub targets: TargetArgs,
}

impl Render for backup::Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table([
            "store",
            "source",
            "schema version",
            "files",
            "bytes",
            "seconds",
        ]);
        for s in &self.manifest.stores {
            let secs = (s.finished_at - s.started_at).num_milliseconds() as f64 / 1000.0;
            t.add_row([
                s.store.clone(),
                s.source.clone(),
                s.schema_version.map_or("-".to_string(), |v| v.to_string()),
                s.files.len().to_string(),
                backup::bytes(&s.files).to_string(),
                format!("{secs:.1}"),
            ]);
        }
        writeln!(out, "{t}")?;
        writeln!(
            out,
            "backup complete: {}",
            self.directory.join(backup::manifest::MANIFEST).display()
        )
    }

    fn metrics(&self) -> Vec<Sample> {
        self.manifest
            .stores
            .iter()
            .flat_map(|s| {
                [
                    Sample::count(
                        "backup_bytes",
                        "Bytes the last backup wrote, per store (as stored: compressed or encrypted).",
                        backup::bytes(&s.files) as i64,
                    )
                    .with("store", s.store.clone()),
                    Sample::count(
                        "backup_files",
                        "Files the last backup wrote, per store.",
                        s.files.len() as i64,
                    )
                    .with("store", s.store.clone()),
                ]
            })
            .collect()
    }
}

impl Render for prune::Report {
    fn human(&self, out: &mut dyn Write) -> io::Result<()> {
        let mut t = table(["backup", "started at", "action", "why"]);
        for b in &self.backups {
            let action = match (b.keep, self.dry_run) {
                (true, _) => "keep",
                (false, true) => "would delete",
                (false, false) => "deleted",
            };
            let mut why = b.reasons.join(", ");
            if !b.complete && b.keep {
                why.push_str(" (kept; --include-incomplete deletes it)");
            }
            t.add_row([
                b.name.clone(),
                b.started_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                action.to_string(),
                why,
            ]);
        }
        writeln!(out, "{t}")?;
        let verb = if self.dry_run {
            "would delete"
        } else {
            "deleted"
        };
        writeln!(
            out,
            "{}: kept {}, {verb} {}",
            self.root.display(),
            self.kept,
            self.deleted
        )
    }

    fn metrics(&self) -> Vec<Sample> {
        vec![
            Sample::count(
                "backups_kept",
                "Backups the last prune kept.",
                self.kept as i64,
            ),
            Sample::count(
                "backups_deleted",
                "Backups the last prune deleted (or would have, under --dry-run).",
                self.deleted as i64,
            ),
        ]
    }
}

/// `backup prune`: builds the policy, hands the operation the question to
/// ask before deleting, renders what it kept and deleted.
pub fn prune(args: &PruneArgs) -> Result<prune::Report> {
    let options = prune::Options {
        root: args.root.clone(),
        policy: prune::Policy {
            last: args.keep_last,
            daily: args.keep_daily,
            weekly: args.keep_weekly,
            monthly: args.keep_monthly,
        },
        dry_run: args.dry_run,
        include_incomplete: args.include_incomplete,
    };
    let confirm = |question: &str| match args.yes {
        true => Ok(()),
        false => cli::confirm(question, "delete backups"),
    };
    prune::run(&options, &confirm)
}

pub async fn run(ctx: &Ctx, args: &RunArgs) -> Result<backup::Report> {
    run_into(ctx, args, backup_dir(args)?).await
}

/// `--to DIR`.
pub fn backup_dir(args: &RunArgs) -> Result<PathBuf> {
    args.to
        .clone()
        .ok_or_else(|| crate::error::CommandError::usage("backup needs --to DIR"))
}

/// The backup of `rez-db backup` into `dir` (under `--targets`, the
/// target's folder of `--to DIR`).
pub async fn run_into(ctx: &Ctx, args: &RunArgs, dir: PathBuf) -> Result<backup::Report> {
    let options = backup::Options {
        dir,
        stores: ctx.config.stores.clone(),
        force: args.force,
        compression: Compression::from_flag(args.compress),
        encrypt_to: args.encrypt_to.clone(),
        lock_wait: ctx.config.lock_wait,
    };
    let conns = ctx.connections().await?;
    backup::run(&ctx.pg(), &conns, &options, &Bars::new(ctx.progress)).await
}
