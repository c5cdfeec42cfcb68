//! `rez-db backup`: dump the selected stores into a new directory and write
//! its manifest last. Reads the datastores, never changes them. The work is
//! `crate::backup::run`'s; this file builds its options and renders the report.

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Args;

use crate::backup::{self, stream::Compression};
use crate::cli::{LockArgs, PgArgs, StoreArgs};
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
/// While pg_dump runs, the backup holds the data and partitions locks shared:
/// other backups run beside it, but a seed or import-csv (which set indexes
/// aside) or a partition-rotate running makes it exit 4 (after --lock-wait),
/// and they in turn wait for it or exit 4.
#[derive(Debug, Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub pg: PgArgs,

    #[command(flatten)]
    pub stores: StoreArgs,

    #[command(flatten)]
    pub lock: LockArgs,

    /// The backup directory; it must be empty or absent
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,

    /// Replace the backup already in DIR (its manifest is removed first)
    #[arg(long)]
    pub force: bool,

    /// Store every store's data gzipped (level 6); without it nothing is compressed
    #[arg(long)]
    pub compress: bool,
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

pub async fn run(ctx: &Ctx, args: &BackupArgs) -> Result<backup::Report> {
    let options = backup::Options {
        dir: args.to.clone(),
        stores: ctx.config.stores.clone(),
        force: args.force,
        compression: Compression::from_flag(args.compress),
        lock_wait: ctx.config.lock_wait,
    };
    let conns = ctx.connections().await?;
    backup::run(&ctx.pg(), &conns, &options, &Bars::new(ctx.progress)).await
}
