//! Resumable imports: `rez_meta.import_checkpoints` records, per (file, table),
//! the last line whose row is committed, in the same transaction as the rows
//! themselves, so a crash between batches loses at most the open batch and a
//! rerun with `--resume` loads nothing twice.
//!
//! A file is recognised by its canonical path, its size and the SHA-256 of its
//! first MiB: a file that was rewritten since is a new file and starts over,
//! never resumes into the wrong rows.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnection;

const CREATE: &str = "\
CREATE SCHEMA IF NOT EXISTS rez_meta;
CREATE TABLE IF NOT EXISTS rez_meta.import_checkpoints (
    file_path    text        NOT NULL,
    file_size    bigint      NOT NULL,
    head_sha256  text        NOT NULL,
    table_name   text        NOT NULL,
    last_line    bigint      NOT NULL,
    read_rows    bigint      NOT NULL,
    loaded_rows  bigint      NOT NULL,
    rejected     bigint      NOT NULL,
    reasons      jsonb       NOT NULL,
    rejects_size bigint      NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (file_path, file_size, head_sha256, table_name)
);
COMMENT ON TABLE rez_meta.import_checkpoints IS 'import-csv, resumable runs: the last committed line of each file, written with its rows.';";

/// Which file (and table) a checkpoint belongs to.
#[derive(Debug, Clone)]
pub struct FileKey {
    pub path: String,
    pub size: i64,
    pub head_sha256: String,
    pub table: String,
}

impl FileKey {
    pub fn of(path: &Path, table: &str) -> std::io::Result<FileKey> {
        let canonical = std::fs::canonicalize(path)?;
        let mut file = File::open(&canonical)?;
        let size = file.metadata()?.len() as i64;
        let mut head = Vec::with_capacity(1 << 20);
        (&mut file).take(1 << 20).read_to_end(&mut head)?;
        let digest = Sha256::digest(&head);
        Ok(FileKey {
            path: canonical.display().to_string(),
            size,
            head_sha256: digest.iter().map(|b| format!("{b:02x}")).collect(),
            table: table.to_string(),
        })
    }
}

/// How far an import got: everything up to `last_line` is committed.
#[derive(Debug, Clone, Default)]
pub struct Checkpoint {
    pub last_line: u64,
    pub read: u64,
    pub loaded: u64,
    pub rejected: u64,
    pub reasons: BTreeMap<String, u64>,
    /// Bytes of the reject file that belong to committed batches.
    pub rejects_size: u64,
}

pub async fn load(
    conn: &mut PgConnection,
    key: &FileKey,
) -> Result<Option<Checkpoint>, sqlx::Error> {
    sqlx::raw_sql(CREATE).execute(&mut *conn).await?;
    let row: Option<(i64, i64, i64, i64, serde_json::Value, i64)> = sqlx::query_as(
        "SELECT last_line, read_rows, loaded_rows, rejected, reasons, rejects_size \
         FROM rez_meta.import_checkpoints \
         WHERE file_path = $1 AND file_size = $2 AND head_sha256 = $3 AND table_name = $4",
    )
    .bind(&key.path)
    .bind(key.size)
    .bind(&key.head_sha256)
    .bind(&key.table)
    .fetch_optional(conn)
    .await?;
    Ok(row.map(
        |(last_line, read, loaded, rejected, reasons, rejects_size)| Checkpoint {
            last_line: last_line as u64,
            read: read as u64,
            loaded: loaded as u64,
            rejected: rejected as u64,
            reasons: serde_json::from_value(reasons).unwrap_or_default(),
            rejects_size: rejects_size as u64,
        },
    ))
}

/// Records `cp` for `key`; call inside the transaction that commits its rows.
pub async fn save(
    conn: &mut PgConnection,
    key: &FileKey,
    cp: &Checkpoint,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO rez_meta.import_checkpoints \
           (file_path, file_size, head_sha256, table_name, last_line, read_rows, loaded_rows, rejected, reasons, rejects_size) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
         ON CONFLICT (file_path, file_size, head_sha256, table_name) DO UPDATE SET \
           last_line = EXCLUDED.last_line, read_rows = EXCLUDED.read_rows, loaded_rows = EXCLUDED.loaded_rows, \
           rejected = EXCLUDED.rejected, reasons = EXCLUDED.reasons, rejects_size = EXCLUDED.rejects_size, \
           updated_at = now()",
    )
    .bind(&key.path)
    .bind(key.size)
    .bind(&key.head_sha256)
    .bind(&key.table)
    .bind(cp.last_line as i64)
    .bind(cp.read as i64)
    .bind(cp.loaded as i64)
    .bind(cp.rejected as i64)
    .bind(serde_json::to_value(&cp.reasons).unwrap_or_default())
    .bind(cp.rejects_size as i64)
    .execute(conn)
    .await
    .map(|_| ())
}
