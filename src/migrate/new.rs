//! `migrate new NAME`: writes the next numbered migration file of a
//! directory (`crate::migration::new_file` decides its name and first lines)
//! and never overwrites one. Touches no database.

use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::error::{CommandError, Result};
use crate::migration::new_file;
use crate::migration::MigrationSet;

#[derive(Debug, Serialize)]
pub struct NewReport {
    /// The file written.
    pub path: String,
    pub version: i64,
    pub name: String,
    pub no_transaction: bool,
}

/// Writes the migration that follows `set` (the files of `dir`) as `dir/NNNN_name.sql`;
/// `created` is the date its header shows.
pub fn new_migration(
    dir: &Path,
    set: &MigrationSet,
    name: &str,
    no_transaction: bool,
    created: &str,
) -> Result<NewReport> {
    let file = new_file::next(set, name, no_transaction, created)
        .map_err(|e| CommandError::usage(e.to_string()))?;
    let path = dir.join(&file.file_name);
    // create_new: an existing file (a concurrent `migrate new`) is never overwritten.
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CommandError::usage(format!(
                "{} exists; refusing to overwrite it",
                path.display()
            ))
            .with_hint("run the command again: it numbers the file after the highest one"),
            _ => CommandError::failed(format!("cannot create {}: {e}", path.display())),
        })?;
    out.write_all(file.contents.as_bytes())
        .map_err(|e| CommandError::failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(NewReport {
        path: path.display().to_string(),
        version: file.version,
        name: name.to_string(),
        no_transaction,
    })
}
