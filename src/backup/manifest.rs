//! `manifest.json`: what a backup holds, written LAST (temp file + rename) so
//! a backup interrupted at any point has no manifest and is recognisably
//! incomplete. It lists every file with its size and SHA-256, and per store
//! the schema version and when its dump started and ended.
//!
//! It must never hold a secret: no URL, only the database name.
//! Verification is pure file I/O and touches no datastore.
//!
//! A backup holds regular files and folders, nothing else. Verification never
//! follows a link: a symlink to an identical copy elsewhere would pass every
//! size and checksum read through it, and then fail pg_restore ("not a
//! regular file") after the target was dropped; a FIFO would block the hash
//! for ever. So every path is examined with `symlink_metadata`, folders are
//! walked by the entries' own types, and files are opened with `O_NOFOLLOW`
//! (and `O_NONBLOCK`, so a FIFO swapped in at the last moment cannot block)
//! and checked again on the open file.

use std::collections::BTreeSet;
use std::fs::File;
use std::io::{self, BufReader, Write};
use std::path::{Component, Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::stream::Compression;

/// The manifest's file name inside a backup directory.
pub const MANIFEST: &str = "manifest.json";

/// The newest backup format, bumped when the layout changes incompatibly;
/// restore reads 1 to this and refuses others. 2: compressed files (`.gz`).
/// 3: encrypted files (`.age`, see `super::crypt`).
pub const FORMAT: u32 = 3;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Manifest {
    pub format: u32,
    pub tool: String,
    pub tool_version: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub stores: Vec<StoreEntry>,
}

/// One store's part of the backup: its folder and the files in it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoreEntry {
    /// `postgres`, `mongodb`, `redis`, `elasticsearch`.
    pub store: String,
    /// The folder under the backup directory holding this store's files.
    pub folder: String,
    /// The database (or key prefix, index prefix) that was dumped; never a URL.
    pub source: String,
    /// The server's version as it reported it.
    pub server_version: String,
    /// The versions a restore of this part depends on, which `restore`
    /// checks against its target; absent in older manifests (nothing checked).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versions: Option<super::versions::Versions>,
    /// How the files are stored (`none`, `gzip`); absent in older manifests.
    #[serde(default)]
    pub compression: Compression,
    /// The recipients every file of this part is encrypted to (public keys);
    /// absent when not encrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<super::crypt::Encryption>,
    /// The schema version: for PostgreSQL the highest applied migration.
    pub schema_version: Option<i64>,
    /// Every applied migration (PostgreSQL), in order.
    #[serde(default)]
    pub migrations: Vec<i64>,
    pub started_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub files: Vec<FileEntry>,
    /// Redis from a cluster: its masters (node, slots, replicas, keys) at
    /// backup time. For the record: a restore goes key by key to whatever
    /// shape the target has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redis_cluster: Option<Vec<super::redis::Master>>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct FileEntry {
    /// Relative to the backup directory, `/`-separated.
    pub path: String,
    /// The file as stored (the ciphertext, when encrypted).
    pub size: u64,
    pub sha256: String,
    /// The plaintext of an encrypted file: checked as it is decrypted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plaintext: Option<super::crypt::Plaintext>,
}

/// Why a backup directory cannot be restored. Each names the file and the fix.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum VerifyError {
    #[error("{0} is missing: the backup is incomplete (interrupted before it finished) or not a rez-db backup")]
    MissingManifest(PathBuf),
    #[error("{path} is not a valid manifest: {reason}")]
    BadManifest { path: PathBuf, reason: String },
    #[error(
        "{path} was written in backup format {found}; this rez-db reads formats 1 to {FORMAT}"
    )]
    Format { path: PathBuf, found: u32 },
    #[error("the manifest lists {0}, which is not a plain path inside the backup directory")]
    UnsafePath(String),
    #[error("{0} is listed in the manifest but missing from the backup")]
    MissingFile(PathBuf),
    #[error("{path} has {found} bytes; the manifest says {expected}: the file is corrupted or truncated")]
    Size {
        path: PathBuf,
        expected: u64,
        found: u64,
    },
    #[error("{path} does not match its SHA-256 in the manifest: the file is corrupted")]
    Checksum { path: PathBuf },
    #[error("{0} is not listed in the manifest: the backup was changed after it was written")]
    Unlisted(PathBuf),
    #[error(
        "{path} is {found}, not {expected}: a backup holds only regular files and folders, \
         never links or special files; put the real {expected} in its place (e.g. `cp -L`) \
         or restore from another backup"
    )]
    NotPlain {
        path: PathBuf,
        /// What is there: `a symbolic link`, `a named pipe (FIFO)`, ...
        found: &'static str,
        /// `a regular file` or `a folder`.
        expected: &'static str,
    },
    #[error("cannot read {path}: {reason}")]
    Io { path: PathBuf, reason: String },
}

fn io_error(path: &Path, e: io::Error) -> VerifyError {
    VerifyError::Io {
        path: path.to_path_buf(),
        reason: e.to_string(),
    }
}

/// What a file system entry is, in words, judged without following a link.
fn kind(file_type: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if file_type.is_fifo() {
            return "a named pipe (FIFO)";
        }
        if file_type.is_socket() {
            return "a socket";
        }
        if file_type.is_block_device() || file_type.is_char_device() {
            return "a device";
        }
    }
    if file_type.is_symlink() {
        "a symbolic link"
    } else if file_type.is_dir() {
        "a folder"
    } else if file_type.is_file() {
        "a regular file"
    } else {
        "a special file"
    }
}

const REGULAR: &str = "a regular file";
const FOLDER: &str = "a folder";

/// Opens a regular file for reading, never through a symlink (`O_NOFOLLOW`)
/// and never blocking on a FIFO (`O_NONBLOCK`, which regular files ignore);
/// anything else that opens is refused by the type of the open file.
fn open_regular(path: &Path) -> io::Result<File> {
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use rustix::fs::OFlags;
        use std::os::unix::fs::OpenOptionsExt;
        options.custom_flags((OFlags::NOFOLLOW | OFlags::NONBLOCK).bits() as i32);
    }
    let file = options.open(path)?;
    let found = file.metadata()?.file_type();
    if !found.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is {}, not a regular file", path.display(), kind(found)),
        ));
    }
    Ok(file)
}

/// The SHA-256 (lowercase hex) and size of a regular file (never read
/// through a link), streamed in constant memory.
pub fn hash_file(path: &Path) -> io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    // A large buffer: fewer reads of big dump files.
    let size = io::copy(
        &mut BufReader::with_capacity(1 << 20, open_regular(path)?),
        &mut hasher,
    )?;
    Ok((size, format!("{:x}", hasher.finalize())))
}

/// A path relative to `root`, `/`-separated, as the manifest writes it.
fn relative(root: &Path, path: &Path) -> String {
    let relative = path.strip_prefix(root).unwrap_or(path);
    let parts: Vec<_> = relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    parts.join("/")
}

/// Every entry under `folder` (recursively) that is not a folder, as paths
/// relative to `root` with the entry's kind, sorted. Links are entries, never
/// followed: the walk uses each entry's own type.
fn walk(root: &Path, folder: &str) -> io::Result<Vec<(String, &'static str)>> {
    let mut out = Vec::new();
    let mut pending = vec![root.join(folder)];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let file_type = entry.file_type()?;
            if file_type.is_dir() {
                pending.push(entry.path());
            } else {
                out.push((relative(root, &entry.path()), kind(file_type)));
            }
        }
    }
    out.sort();
    Ok(out)
}

/// Every regular file under `folder` (recursively), as paths relative to
/// `root`; a link or special file in it is an error naming it.
pub fn list_files(root: &Path, folder: &str) -> io::Result<Vec<String>> {
    walk(root, folder)?
        .into_iter()
        .map(|(path, found)| match found {
            REGULAR => Ok(path),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{path} is {found}, not a regular file"),
            )),
        })
        .collect()
}

/// Hashes every file of `folder` for the manifest.
pub fn describe_folder(root: &Path, folder: &str) -> io::Result<Vec<FileEntry>> {
    list_files(root, folder)?
        .into_iter()
        .map(|path| {
            let (size, sha256) = hash_file(&root.join(&path))?;
            Ok(FileEntry {
                path,
                size,
                sha256,
                plaintext: None,
            })
        })
        .collect()
}

/// The format a backup of `stores` is written in: 3 when any store is
/// encrypted, 2 when any is compressed (an older rez-db must refuse such a
/// backup rather than look for plain files and restore nothing), else 1,
/// which every rez-db reads.
pub fn format_for(stores: &[StoreEntry]) -> u32 {
    if stores.iter().any(|s| s.encryption.is_some()) {
        3
    } else if stores.iter().any(|s| s.compression != Compression::None) {
        2
    } else {
        1
    }
}

/// Writes the manifest through a temporary file renamed into place, after
/// syncing it, so `manifest.json` either does not exist or is whole.
pub fn write(dir: &Path, manifest: &Manifest) -> io::Result<()> {
    let partial = dir.join(format!("{MANIFEST}.partial"));
    let mut file = File::create(&partial)?;
    serde_json::to_writer_pretty(&mut file, manifest)?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    std::fs::rename(&partial, dir.join(MANIFEST))
}

/// Refuses `meta` (of `path`, not followed) unless it is `expected`.
fn expect(
    path: &Path,
    meta: &std::fs::Metadata,
    expected: &'static str,
) -> Result<(), VerifyError> {
    match kind(meta.file_type()) {
        found if found == expected => Ok(()),
        found => Err(VerifyError::NotPlain {
            path: path.to_path_buf(),
            found,
            expected,
        }),
    }
}

/// Checks that `relative` (a safe, `/`-separated path) and each folder on
/// the way to it are real folders inside `dir`, not links to elsewhere. A
/// missing one is left to the checks that name what is missing.
fn plain_folders(dir: &Path, relative: &str) -> Result<(), VerifyError> {
    let mut path = dir.to_path_buf();
    for part in relative.split('/') {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) => expect(&path, &meta, FOLDER)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_error(&path, e)),
        }
    }
    Ok(())
}

/// A manifest path must stay inside the backup: relative, no `..`.
fn safe(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

/// Reads `dir/manifest.json` and checks every listed file's size and
/// SHA-256, and that the store folders hold no file the manifest does not
/// list. Sizes are checked for all files before any hash is computed, so a
/// truncated file is reported without reading gigabytes first.
pub fn verify(dir: &Path) -> Result<Manifest, VerifyError> {
    let path = dir.join(MANIFEST);
    match std::fs::symlink_metadata(&path) {
        Ok(meta) => expect(&path, &meta, REGULAR)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(VerifyError::MissingManifest(path))
        }
        Err(e) => return Err(io_error(&path, e)),
    }
    let mut text = Vec::new();
    open_regular(&path)
        .and_then(|mut f| io::Read::read_to_end(&mut f, &mut text))
        .map_err(|e| io_error(&path, e))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| VerifyError::BadManifest {
            path: path.clone(),
            reason: e.to_string(),
        })?;
    if !(1..=FORMAT).contains(&manifest.format) {
        return Err(VerifyError::Format {
            path,
            found: manifest.format,
        });
    }
    let files: Vec<&FileEntry> = manifest.stores.iter().flat_map(|s| &s.files).collect();
    for store in &manifest.stores {
        if !safe(&store.folder) {
            return Err(VerifyError::UnsafePath(store.folder.clone()));
        }
        plain_folders(dir, &store.folder)?;
    }
    for f in &files {
        if !safe(&f.path) {
            return Err(VerifyError::UnsafePath(f.path.clone()));
        }
        let full = dir.join(&f.path);
        if let Some((parent, _)) = f.path.rsplit_once('/') {
            plain_folders(dir, parent)?;
        }
        let found = match std::fs::symlink_metadata(&full) {
            Ok(meta) => {
                expect(&full, &meta, REGULAR)?;
                meta.len()
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(VerifyError::MissingFile(full))
            }
            Err(e) => return Err(io_error(&full, e)),
        };
        if found != f.size {
            return Err(VerifyError::Size {
                path: full,
                expected: f.size,
                found,
            });
        }
    }
    let listed: BTreeSet<&str> = files.iter().map(|f| f.path.as_str()).collect();
    for store in &manifest.stores {
        let present = walk(dir, &store.folder).map_err(|e| io_error(dir, e))?;
        if let Some((path, found)) = present.iter().find(|(_, found)| *found != REGULAR) {
            return Err(VerifyError::NotPlain {
                path: dir.join(path),
                found,
                expected: REGULAR,
            });
        }
        if let Some((extra, _)) = present.iter().find(|(p, _)| !listed.contains(p.as_str())) {
            return Err(VerifyError::Unlisted(dir.join(extra)));
        }
    }
    verify_checksums(dir, &files)?;
    Ok(manifest)
}

/// Threads that hash a backup's files. Two: a pg_dump archive holds a file
/// per table, and pg_restore, which runs next, uses two workers too.
const HASH_THREADS: usize = 2;

/// Reads every file of `files` once and checks its SHA-256, on up to
/// [`HASH_THREADS`] threads, the largest files first (so one big table does
/// not come last and run alone). The first failure stops the other threads
/// at their next file; when two threads failed meanwhile, the file earlier
/// in the manifest is named.
fn verify_checksums(dir: &Path, files: &[&FileEntry]) -> Result<(), VerifyError> {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].size));
    let (next, failed) = (AtomicUsize::new(0), AtomicBool::new(false));
    let failures = std::sync::Mutex::new(Vec::new());
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(HASH_THREADS)
        .min(files.len());
    let work = || loop {
        let Some(&index) = order.get(next.fetch_add(1, Ordering::Relaxed)) else {
            return;
        };
        if failed.load(Ordering::Relaxed) {
            return;
        }
        let full = dir.join(&files[index].path);
        let problem = match hash_file(&full) {
            Ok((_, sha256)) if sha256 == files[index].sha256 => continue,
            Ok(_) => VerifyError::Checksum { path: full },
            Err(e) => io_error(&full, e),
        };
        failed.store(true, Ordering::Relaxed);
        failures
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((index, problem));
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            scope.spawn(work);
        }
        work();
    });
    let failures = failures.into_inner().unwrap_or_else(|e| e.into_inner());
    match failures.into_iter().min_by_key(|(index, _)| *index) {
        Some((_, problem)) => Err(problem),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn backup_with(files: &[(&str, &[u8])]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (path, bytes) in files {
            let full = dir.path().join(path);
            std::fs::create_dir_all(full.parent().unwrap()).unwrap();
            std::fs::write(full, bytes).unwrap();
        }
        let now = Utc::now();
        let manifest = Manifest {
            format: FORMAT,
            tool: "rez-db".into(),
            tool_version: "test".into(),
            started_at: now,
            finished_at: now,
            stores: vec![StoreEntry {
                store: "postgres".into(),
                folder: "postgres".into(),
                source: "rez".into(),
                server_version: "15".into(),
                versions: None,
                compression: Compression::None,
                encryption: None,
                schema_version: Some(1),
                migrations: vec![1],
                started_at: now,
                finished_at: now,
                files: describe_folder(dir.path(), "postgres").unwrap(),
                redis_cluster: None,
            }],
        };
        write(dir.path(), &manifest).unwrap();
        dir
    }

    #[test]
    fn a_whole_backup_verifies() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc"), ("postgres/3.dat.gz", b"rows")]);
        let m = verify(dir.path()).unwrap();
        assert_eq!(m.stores[0].files.len(), 2);
        // Files are listed sorted; the digest is the one `sha256sum` prints.
        assert_eq!(m.stores[0].files[0].path, "postgres/3.dat.gz");
        assert_eq!(
            m.stores[0].files[0].sha256,
            format!("{:x}", Sha256::digest(b"rows"))
        );
        assert_eq!(m.stores[0].files[0].size, 4);
        assert!(!dir.path().join("manifest.json.partial").exists());
    }

    #[test]
    fn a_missing_manifest_means_incomplete() {
        let dir = tempfile::tempdir().unwrap();
        let err = verify(dir.path()).unwrap_err();
        assert!(matches!(err, VerifyError::MissingManifest(_)));
        assert!(err.to_string().contains("manifest.json is missing"));
    }

    #[test]
    fn a_flipped_byte_is_named() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc"), ("postgres/3.dat.gz", b"rows")]);
        std::fs::write(dir.path().join("postgres/3.dat.gz"), b"rowz").unwrap();
        let err = verify(dir.path()).unwrap_err();
        assert_eq!(
            err,
            VerifyError::Checksum {
                path: dir.path().join("postgres/3.dat.gz")
            }
        );
    }

    #[test]
    fn truncated_missing_and_extra_files_are_named() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc")]);
        std::fs::write(dir.path().join("postgres/toc.dat"), b"to").unwrap();
        assert!(matches!(verify(dir.path()), Err(VerifyError::Size { .. })));
        std::fs::remove_file(dir.path().join("postgres/toc.dat")).unwrap();
        assert!(matches!(
            verify(dir.path()),
            Err(VerifyError::MissingFile(_))
        ));
        std::fs::write(dir.path().join("postgres/toc.dat"), b"toc").unwrap();
        std::fs::write(dir.path().join("postgres/extra.dat"), b"x").unwrap();
        assert_eq!(
            verify(dir.path()).unwrap_err(),
            VerifyError::Unlisted(dir.path().join("postgres/extra.dat"))
        );
    }

    #[test]
    fn compressed_backups_are_format_2_encrypted_3_and_an_unknown_format_is_refused() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc")]);
        let mut m = verify(dir.path()).unwrap();
        assert_eq!(format_for(&m.stores), 1);
        m.stores[0].compression = Compression::Gzip;
        assert_eq!(format_for(&m.stores), 2);
        m.stores[0].encryption = Some(super::super::crypt::Encryption {
            scheme: "age-x25519".into(),
            recipients: vec!["age1...".into()],
        });
        assert_eq!(format_for(&m.stores), 3);
        m.format = 4;
        write(dir.path(), &m).unwrap();
        assert!(matches!(
            verify(dir.path()),
            Err(VerifyError::Format { found: 4, .. })
        ));
    }

    /// Moves `path` (inside the backup) out to `outside` and puts a symlink
    /// to the moved copy in its place: same bytes, same size, same SHA-256.
    #[cfg(unix)]
    fn replace_by_a_symlink(dir: &Path, path: &str, outside: &Path) {
        let moved = outside.join(path.replace('/', "_"));
        std::fs::rename(dir.join(path), &moved).unwrap();
        std::os::unix::fs::symlink(&moved, dir.join(path)).unwrap();
    }

    /// The error of `verify`, as the user reads it.
    fn refusal(dir: &Path) -> String {
        verify(dir).unwrap_err().to_string()
    }

    #[cfg(unix)]
    #[test]
    fn a_file_replaced_by_a_symlink_to_an_identical_copy_is_refused() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc"), ("postgres/3.dat", b"rows")]);
        let outside = tempfile::tempdir().unwrap();
        replace_by_a_symlink(dir.path(), "postgres/3.dat", outside.path());
        let err = refusal(dir.path());
        assert!(err.contains("postgres/3.dat"), "{err}");
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_store_folder_or_a_folder_inside_it_that_is_a_symlink_is_refused() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc")]);
        let outside = tempfile::tempdir().unwrap();
        replace_by_a_symlink(dir.path(), "postgres", outside.path());
        let err = refusal(dir.path());
        assert!(err.contains("postgres"), "{err}");
        assert!(err.contains("symbolic link"), "{err}");

        // A nested folder (the MongoDB layout, `mongo/<db>/`), linked.
        let dir = backup_with(&[("postgres/db/toc.dat", b"toc")]);
        replace_by_a_symlink(dir.path(), "postgres/db", outside.path());
        let err = refusal(dir.path());
        assert!(err.contains("postgres/db"), "{err}");
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_manifest_that_is_a_symlink_is_refused() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc")]);
        let outside = tempfile::tempdir().unwrap();
        replace_by_a_symlink(dir.path(), MANIFEST, outside.path());
        let err = refusal(dir.path());
        assert!(err.contains(MANIFEST), "{err}");
        assert!(err.contains("symbolic link"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_unlisted_symlink_to_a_folder_is_named_and_never_followed() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc")]);
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(elsewhere.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(elsewhere.path(), dir.path().join("postgres/more")).unwrap();
        let err = refusal(dir.path());
        assert!(err.contains("postgres/more"), "{err}");
        assert!(err.contains("symbolic link"), "{err}");
        assert!(!err.contains("secret"), "the link is not followed: {err}");
    }

    #[cfg(unix)]
    #[test]
    fn an_empty_file_replaced_by_a_fifo_is_refused_without_blocking() {
        let dir = backup_with(&[("postgres/toc.dat", b"toc"), ("postgres/4.dat", b"")]);
        let fifo = dir.path().join("postgres/4.dat");
        std::fs::remove_file(&fifo).unwrap();
        // Same size as the file it replaces (0), so only its type gives it away;
        // opening it to hash it would wait for a writer for ever.
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let err = refusal(dir.path());
        assert!(err.contains("postgres/4.dat"), "{err}");
        assert!(err.contains("named pipe"), "{err}");
    }

    #[test]
    fn paths_must_stay_inside_the_backup() {
        assert!(safe("postgres/toc.dat"));
        assert!(!safe("../etc/passwd"));
        assert!(!safe("/etc/passwd"));
        assert!(!safe("postgres/../../x"));
        assert!(!safe(""));
    }
}
