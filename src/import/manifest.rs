//! Manifest mode: several files, imported in dependency order whatever
//! order the manifest lists them in, in ONE transaction: all files or
//! nothing. The order is the references' ([`dependency_order`]): the
//! foreign keys the catalog declares between the manifest's tables, and the
//! checked references of docs/schema.md (into the partitioned tables), so a
//! parent's file always loads before its children's; the report says which
//! order it chose. References are satisfied by earlier files through the
//! run's [`Memory`], since the lookup connection cannot see rows before the
//! commit.
//!
//! ```yaml
//! files:
//!   - { table: users, path: users.csv, map: { mobile: phone } }
//!   - { table: orders, path: 2024/orders.csv, delimiter: ";" }
//! ```
//!
//! Paths are relative to the manifest, and must stay inside its folder once
//! symbolic links and `..` are resolved, unless `--allow-outside`: a manifest
//! someone else wrote must not make rez-db read (and quote in an error) a file
//! elsewhere, such as `/proc/self/environ`. A path that is not a regular file
//! (a device, a fifo, a folder, a /proc file) is refused whatever its place.
//! A bad manifest (YAML, an unknown key or table, a missing or refused file)
//! is exit 2 naming manifest:line:key, before anything is read or loaded.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::engine::{want_parents, Memory};
use super::options::{FileJob, Options, VALIDATE_LIMIT};
use super::outcome::FileOutcome;
use super::reader::irregular;
use super::rejects::RejectFormat;
use super::{foreign, load, partitions, tables};
use crate::error::{CommandError, Remedy, Result};
use crate::progress::Progress;
use crate::store::pg::Pg;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Document {
    files: Vec<Entry>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    table: String,
    path: PathBuf,
    /// csv column -> table column
    #[serde(default)]
    map: BTreeMap<String, String>,
    #[serde(default)]
    delimiter: Option<char>,
    #[serde(default)]
    quote: Option<char>,
    /// The file's encoding, when it differs from the run's.
    #[serde(default)]
    encoding: Option<String>,
}

/// One file of a manifest, checked.
#[derive(Debug, Clone)]
pub struct ManifestFile {
    pub table: String,
    pub path: PathBuf,
    pub maps: Vec<(String, String)>,
    pub delimiter: Option<u8>,
    pub quote: Option<u8>,
    pub encoding: Option<&'static encoding_rs::Encoding>,
}

/// The line of the `n`-th (0-based) `key:` in `text`, block or flow style.
fn line_of_nth(text: &str, key: &str, n: usize) -> Option<usize> {
    let mut seen = 0;
    for (i, line) in text.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut from = 0;
        while let Some(at) = line[from..].find(key).map(|a| a + from) {
            let before = at.checked_sub(1).map(|b| bytes[b]);
            let starts = before.is_none_or(|b| matches!(b, b' ' | b'{' | b',' | b'-' | b'\t'));
            let after = line[at + key.len()..].trim_start();
            if starts && after.starts_with(':') {
                if seen == n {
                    return Some(i + 1);
                }
                seen += 1;
            }
            from = at + key.len();
        }
    }
    None
}

/// `message` about `key` of `manifest`, on `line` if known.
fn at(manifest: &Path, line: Option<usize>, key: &str, message: &str) -> String {
    let at = line.map_or(String::new(), |l| format!(":{l}"));
    format!("{}{at}: {key}: {message}", manifest.display())
}

fn bad(manifest: &Path, line: Option<usize>, key: &str, message: String) -> CommandError {
    CommandError::usage(at(manifest, line, key, &message))
}

fn one_byte(
    c: Option<char>,
    manifest: &Path,
    line: Option<usize>,
    key: &str,
) -> Result<Option<u8>> {
    match c {
        None => Ok(None),
        Some(c) if c.is_ascii() && c != '\n' && c != '\r' => Ok(Some(c as u8)),
        Some(c) => Err(bad(
            manifest,
            line,
            key,
            format!("`{c}` is not one ASCII character"),
        )),
    }
}

/// The file `path` of a manifest in `base`, resolved (symbolic links and `..`):
/// it exists, is a regular file, and lies inside `base` unless `allow_outside`.
/// The error's message is about the path alone; the caller places it.
fn locate(base: &Path, path: &Path, allow_outside: bool) -> Result<PathBuf> {
    let joined = base.join(path);
    let shown = joined.display();
    let real = joined.canonicalize().map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CommandError::usage(format!("{shown}: no such file"))
            .with_hint("paths are relative to the manifest's folder"),
        _ => CommandError::usage(format!("{shown}: cannot read: {e}"))
            .with_hint("check the path and its permissions"),
    })?;
    if !allow_outside {
        let inside = base.canonicalize().is_ok_and(|b| real.starts_with(b));
        if !inside {
            return Err(CommandError::usage(format!(
                "{shown} is outside the manifest's folder (it resolves to {})",
                real.display()
            ))
            .with_remedy(Remedy::AllowOutside));
        }
    }
    if let Some(what) = irregular(&real) {
        return Err(
            CommandError::usage(format!("{shown}: not a regular file ({what})")).with_hint(
                "import-csv reads files only; devices, fifos, folders and /proc files are refused",
            ),
        );
    }
    Ok(real)
}

/// Reads and checks `manifest`; returns its files in the manifest's order
/// ([`import_all`] orders them). Their paths are resolved: the files read
/// are the ones checked here.
pub fn read(manifest: &Path, allow_outside: bool) -> Result<Vec<ManifestFile>> {
    let text = crate::config::yaml::read_bounded(manifest, "manifest")?;
    let doc: Document = serde_norway::from_str(&text).map_err(|e| {
        let line = e.location().map(|l| l.line());
        bad(manifest, line, "files", e.to_string()).with_hint(
            "a manifest is `files: [{table: T, path: FILE, map: {CSV_COL: DB_COL}}, ...]`",
        )
    })?;
    let base = match manifest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let mut files = Vec::with_capacity(doc.files.len());
    for (n, entry) in doc.files.into_iter().enumerate() {
        let table_line = line_of_nth(&text, "table", n);
        if tables::find(&entry.table).is_none() {
            return Err(bad(
                manifest,
                table_line,
                "table",
                format!("import-csv cannot load `{}`", entry.table),
            )
            .with_hint(format!("import-csv loads: {}", tables::names().join(", "))));
        }
        let path = locate(base, &entry.path, allow_outside).map_err(|e| CommandError {
            message: at(manifest, line_of_nth(&text, "path", n), "path", &e.message),
            ..e
        })?;
        files.push(ManifestFile {
            table: entry.table,
            path,
            maps: entry.map.into_iter().collect(),
            delimiter: one_byte(entry.delimiter, manifest, table_line, "delimiter")?,
            quote: one_byte(entry.quote, manifest, table_line, "quote")?,
            encoding: match &entry.encoding {
                None => None,
                Some(label) => Some(
                    super::reader::encoding_for(label)
                        .map_err(|e| bad(manifest, table_line, "encoding", e))?,
                ),
            },
        });
    }
    if files.is_empty() {
        return Err(bad(manifest, None, "files", "lists no file".into()));
    }
    Ok(files)
}

/// The reject file of `file` unless told otherwise: `FILE.rejects.csv`.
pub fn default_rejects(file: &Path, jsonl: bool) -> PathBuf {
    let mut name = file.as_os_str().to_os_string();
    name.push(if jsonl {
        ".rejects.jsonl"
    } else {
        ".rejects.csv"
    });
    PathBuf::from(name)
}

/// The reject file of the `n`-th file: beside it, or in `dir` (named after
/// the file, and after its position too, so that two files of one name in
/// different folders keep apart).
fn rejects_path(file: &Path, dir: Option<&Path>, n: usize, jsonl: bool) -> PathBuf {
    match dir {
        None => default_rejects(file, jsonl),
        Some(dir) => {
            let name = file.file_name().unwrap_or_default().to_string_lossy();
            default_rejects(&dir.join(format!("{}-{name}", n + 1)), jsonl)
        }
    }
}

/// Orders `tables` so that each comes after every table it references
/// (`edges`: (child, parent)); among tables free to go, the one first in
/// `tables::TABLES` goes first. A reference of a table to itself orders
/// nothing. A cycle is an error naming its tables.
pub fn dependency_order(
    tables: &[&str],
    edges: &[(String, String)],
) -> std::result::Result<Vec<String>, String> {
    let mut left: Vec<&str> = tables.to_vec();
    left.sort_by_key(|t| tables::rank(t));
    left.dedup();
    let mut order = Vec::with_capacity(left.len());
    while !left.is_empty() {
        let free = left.iter().position(|t| {
            !edges
                .iter()
                .any(|(child, parent)| child == t && parent != t && left.contains(&parent.as_str()))
        });
        match free {
            Some(i) => order.push(left.remove(i).to_string()),
            None => return Err(left.join(", ")),
        }
    }
    Ok(order)
}

/// The references between `tables`: (child, parent), from the catalog's
/// foreign keys and docs/schema.md's checked references.
async fn references_between(
    lookup: &mut PgConnection,
    pg: &Pg,
    tables: &[&str],
) -> Result<Vec<(String, String)>> {
    let mut edges = Vec::new();
    for table in tables {
        for r in foreign::references(lookup, table)
            .await
            .map_err(|e| pg.error(e))?
        {
            if tables.contains(&r.parent.as_str()) {
                edges.push((table.to_string(), r.parent));
            }
        }
    }
    Ok(edges)
}

/// What a manifest's import did: the order it chose, and each file's outcome.
pub struct Imported {
    pub order: Vec<String>,
    pub files: Vec<FileOutcome>,
    pub validation: Option<crate::validate::Report>,
}

/// Imports `files` in dependency order in one transaction on `conn`, with
/// the run's `opts` (mode, maxima, dry run); reject files go beside each
/// file, or into `rejects_dir`. A file that exceeds a maximum rolls back
/// everything and ends the run: its outcome is the last one.
pub async fn import_all(
    conn: &mut PgConnection,
    lookup: &mut PgConnection,
    pg: &Pg,
    files: &[ManifestFile],
    opts: &Options,
    rejects_dir: Option<&Path>,
    progress: &dyn Progress,
) -> Result<Imported> {
    let mut memory = Memory::with_limit(opts.memory_values);
    memory.more_files = true;
    let tables: Vec<&str> = files.iter().map(|f| f.table.as_str()).collect();
    let edges = references_between(lookup, pg, &tables).await?;
    let order = dependency_order(&tables, &edges).map_err(|cycle| {
        CommandError::usage(format!(
            "the manifest's tables reference each other in a cycle ({cycle}): no order loads \
             every parent before its children"
        ))
        .with_hint("import those tables in separate runs, parents first")
    })?;
    // Files of one table keep the manifest's order (a stable sort).
    let mut files = files.to_vec();
    files.sort_by_key(|f| order.iter().position(|t| *t == f.table));
    let files = files.as_slice();
    want_parents(lookup, pg, &tables, &mut memory).await?;
    let err = |e| pg.error(e);
    let jsonl = opts.reject_format == RejectFormat::Jsonl;
    let jobs: Vec<FileJob> = files
        .iter()
        .enumerate()
        .map(|(n, f)| FileJob {
            path: f.path.clone(),
            table: f.table.clone(),
            maps: f.maps.clone(),
            dialect: super::reader::Dialect {
                delimiter: f.delimiter.unwrap_or(opts.dialect.delimiter),
                quote: f.quote.unwrap_or(opts.dialect.quote),
                encoding: f.encoding.unwrap_or(opts.dialect.encoding),
                ..opts.dialect.clone()
            },
            rejects: rejects_path(&f.path, rejects_dir, n, jsonl),
        })
        .collect();
    // The whole manifest is rolled back at the end of a dry run; each file
    // must stay loaded until then, for the next files' keys.
    // And validated once, all files together, before the commit.
    let each = Options {
        dry_run: false,
        validate: false,
        ..opts.clone()
    };
    // Before the transaction: see `partitions` for why.
    let mut made = Vec::with_capacity(files.len());
    for job in &jobs {
        made.push(partitions::prepare(conn, pg, opts, job, progress).await?);
    }
    let mut tx = conn.begin().await.map_err(err)?;
    let mut outcomes = Vec::with_capacity(files.len());
    for (job, created) in jobs.iter().zip(made) {
        let mut outcome =
            load::file(&mut tx, lookup, pg, &each, job, &mut memory, progress).await?;
        outcome.partitions_created = created;
        let aborted = outcome.aborted.is_some();
        outcomes.push(FileOutcome {
            file: job.path.display().to_string(),
            table: job.table.clone(),
            rejects_file: job.rejects.display().to_string(),
            outcome,
        });
        if aborted {
            tx.rollback().await.map_err(err)?;
            for o in &mut outcomes {
                o.outcome.loaded = 0;
            }
            return Ok(Imported {
                order,
                files: outcomes,
                validation: None,
            });
        }
    }
    let validation = match opts.validate {
        true => Some(crate::validate::within(&mut tx, pg, &tables, VALIDATE_LIMIT).await?),
        false => None,
    };
    if opts.dry_run || validation.as_ref().is_some_and(|v| v.errors > 0) {
        tx.rollback().await.map_err(err)?;
        if !opts.dry_run {
            for o in &mut outcomes {
                o.outcome.loaded = 0;
            }
        }
    } else {
        tx.commit().await.map_err(err)?;
    }
    Ok(Imported {
        order,
        files: outcomes,
        validation,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_line_of_each_entry_key() {
        let text = "files:\n  - table: users\n    path: u.csv\n  - {table: orders, path: o.csv}\n";
        assert_eq!(line_of_nth(text, "table", 0), Some(2));
        assert_eq!(line_of_nth(text, "table", 1), Some(4));
        assert_eq!(line_of_nth(text, "path", 1), Some(4));
        assert_eq!(line_of_nth(text, "table", 2), None);
    }

    #[test]
    fn bad_manifests_name_line_and_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("u.csv"), "phone\n").unwrap();
        let write = |text: &str| {
            let p = dir.path().join("m.yaml");
            std::fs::write(&p, text).unwrap();
            read(&p, false).unwrap_err().message
        };
        let e = write("files:\n  - table: users\n    path: u.csv\n    tabel: x\n");
        assert!(e.contains("m.yaml:4") && e.contains("tabel"), "{e}");
        let e = write(
            "files:\n  - table: users\n    path: u.csv\n  - table: colleges\n    path: u.csv\n",
        );
        assert!(
            e.contains("m.yaml:4: table:") && e.contains("colleges"),
            "{e}"
        );
        let e = write("files:\n  - table: users\n    path: nope.csv\n");
        assert!(
            e.contains("m.yaml:3: path:") && e.contains("nope.csv"),
            "{e}"
        );
    }

    #[test]
    fn parents_come_first_and_ties_keep_the_tables_order() {
        let edge = |c: &str, p: &str| (c.to_string(), p.to_string());
        let edges = [
            edge("wallets", "users"),
            edge("wallet_transactions", "wallets"),
            edge("wallet_transactions", "merchants"),
            edge("payments", "orders"),
            edge("orders", "users"),
            edge("users", "users"),
        ];
        let order = dependency_order(
            &[
                "payments",
                "wallet_transactions",
                "orders",
                "wallets",
                "users",
                "merchants",
            ],
            &edges,
        )
        .unwrap();
        assert_eq!(
            order,
            [
                "users",
                "merchants",
                "wallets",
                "orders",
                "payments",
                "wallet_transactions"
            ]
        );
        let cycle = [edge("users", "wallets"), edge("wallets", "users")];
        assert_eq!(
            dependency_order(&["wallets", "users"], &cycle).unwrap_err(),
            "users, wallets"
        );
    }
}
