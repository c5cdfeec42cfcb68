//! `backup --encrypt-to` and `restore --identity`: every file of a store's
//! part of a backup encrypted to age X25519 recipients (public keys), and
//! decrypted with their identities (private keys) from a file.
//!
//! Why age: a small, audited format with one well-kept Rust implementation,
//! authenticated streaming encryption (ChaCha20-Poly1305 in 64 KiB chunks, so a
//! truncated or altered file never decrypts silently), several recipients per
//! file (two keys kept by two people: either restores), and files that `age
//! -d -i KEY` decrypts without rez-db. No passphrases: they would sit on a
//! command line or need a prompt, which cron has not.
//!
//! How a backup is encrypted. Each store is dumped as without encryption,
//! then each of its files is encrypted to `<file>.age` and the plaintext
//! removed ([`seal`]), before the next store is dumped. pg_dump writes its
//! directory-format archive itself (several files, in parallel), so there is
//! no stream of ours to encrypt on the way; the other stores go the same
//! way, so one code path writes and checks every encrypted file. The cost:
//! a store's plaintext sits in the backup directory until it is sealed, so
//! `--to` must be on storage as trusted as the database server's own disk;
//! the encryption protects the copies that leave the host.
//!
//! The manifest stays readable (so prune, the version checks and a person can
//! read it without a key) and holds no secret: per store the recipients'
//! public keys, per file the ciphertext's size and SHA-256 (checked before
//! anything is decrypted) and the plaintext's (checked while decrypting).
//!
//! How a restore decrypts. Before anything is touched, every file's header
//! must open with the identities ([`check`]): a wrong key is refused up
//! front, naming the recipients the backup was made for. MongoDB, Redis and
//! Elasticsearch files are decrypted while they stream into the store
//! ([`Decrypt::open`]), their plaintext SHA-256 checked at the end of each.
//! pg_restore reads a directory of files (in parallel, `--jobs`), so the
//! PostgreSQL part is decrypted first into a private folder ([`PrivateDir`]:
//! mode 0700 under `$TMPDIR`, removed when the restore ends, fails or is
//! interrupted), every plaintext checksum checked before the target is
//! touched; pg_restore then runs on it with its parallelism kept. A FIFO per
//! file would save the disk space but not work with `--jobs` (pg_restore
//! opens the data files in whatever order its workers need them).
//!
//! Identity material never leaves [`Identities`]: its Debug prints
//! `(redacted)`, and errors name the file and line, never their content.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use age::x25519;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{FileEntry, StoreEntry};
use crate::error::{CommandError, Remedy, Result};

/// Appended to the name of every encrypted file.
pub const SUFFIX: &str = ".age";

/// The scheme a manifest names for age X25519 recipients.
pub const SCHEME: &str = "age-x25519";

/// Parses one `--encrypt-to` value: an age X25519 recipient (`age1...`).
pub fn parse_recipient(text: &str) -> std::result::Result<x25519::Recipient, String> {
    text.trim().parse().map_err(|e: &str| {
        format!("not an age X25519 recipient (a public key `age1...`, from `age-keygen -y KEYFILE`): {e}")
    })
}

/// A store's encryption, as its manifest entry records it: public keys only.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Encryption {
    /// [`SCHEME`].
    pub scheme: String,
    /// The recipients' public keys (`age1...`): who can restore.
    pub recipients: Vec<String>,
}

/// The plaintext of an encrypted file, as its manifest entry records it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Plaintext {
    pub size: u64,
    pub sha256: String,
}

/// The identities of `restore --identity`. Never printed.
#[derive(Clone)]
pub struct Identities(Vec<x25519::Identity>);

impl std::fmt::Debug for Identities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Identities({} key(s), redacted)", self.0.len())
    }
}

impl Identities {
    /// The public keys of these identities (which a manifest lists when they fit).
    pub fn recipients(&self) -> Vec<String> {
        self.0.iter().map(|i| i.to_public().to_string()).collect()
    }

    fn as_dyn(&self) -> impl Iterator<Item = &dyn age::Identity> {
        self.0.iter().map(|i| i as &dyn age::Identity)
    }
}

/// Reads an age identity file (`age-keygen` writes them: `#` comments and
/// `AGE-SECRET-KEY-1...` lines). Refused (exit 2) when the group or others
/// may read or write it, as ssh refuses such a private key: a key file others
/// can read is a key already leaked, and one they can write can be swapped.
pub fn read_identities(path: &Path) -> Result<Identities> {
    let usage = |what: String| CommandError::usage(format!("{}: {what}", path.display()));
    let meta = std::fs::metadata(path).map_err(|e| usage(format!("cannot read it: {e}")))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(usage(format!(
                "the identity file is open to others (mode {mode:03o}): refusing to use it"
            ))
            .with_hint(format!(
                "make it private with `chmod 600 {}`",
                path.display()
            )));
        }
    }
    if !meta.is_file() {
        return Err(usage("not a regular file".to_string()));
    }
    let text =
        std::fs::read_to_string(path).map_err(|e| usage(format!("cannot read it as text: {e}")))?;
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        // The line is a secret: the message names its number, never its text.
        let key = line.parse::<x25519::Identity>().map_err(|e| {
            usage(format!(
                "line {} is not an age X25519 identity (`AGE-SECRET-KEY-1...`): {e}",
                n + 1
            ))
        })?;
        keys.push(key);
    }
    if keys.is_empty() {
        return Err(usage(
            "holds no identity (`AGE-SECRET-KEY-1...` line); `age-keygen -o FILE` makes one"
                .to_string(),
        ));
    }
    Ok(Identities(keys))
}

/// A SHA-256 in lowercase hex.
fn hex(hasher: Sha256) -> String {
    format!("{:x}", hasher.finalize())
}

/// A writer that hashes and counts what goes through it.
struct Hashing<W> {
    inner: W,
    hasher: Sha256,
    size: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Encrypts `plain` to `sealed` for `recipients`; returns the (plaintext,
/// ciphertext) size and SHA-256. The ciphertext is synced before it counts.
fn encrypt_file(
    plain: &Path,
    sealed: &Path,
    recipients: &[x25519::Recipient],
) -> io::Result<(Plaintext, Plaintext)> {
    let encryptor =
        age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
            .map_err(io::Error::other)?;
    let file = File::create(sealed)?;
    let mut cipher = Hashing {
        inner: BufWriter::with_capacity(1 << 16, file),
        hasher: Sha256::new(),
        size: 0,
    };
    let mut writer = encryptor.wrap_output(&mut cipher)?;
    let mut plain_hash = Hashing {
        inner: &mut writer,
        hasher: Sha256::new(),
        size: 0,
    };
    io::copy(
        &mut BufReader::with_capacity(1 << 16, File::open(plain)?),
        &mut plain_hash,
    )?;
    let plaintext = Plaintext {
        size: plain_hash.size,
        sha256: hex(plain_hash.hasher),
    };
    writer.finish()?;
    let Hashing {
        inner,
        hasher,
        size,
    } = cipher;
    inner.into_inner().map_err(|e| e.into_error())?.sync_all()?;
    Ok((
        plaintext,
        Plaintext {
            size,
            sha256: hex(hasher),
        },
    ))
}

/// Encrypts every file of a store's freshly written part (`entry`, whose
/// files `describe` just hashed) in `dir` to `recipients`: `<file>.age`
/// written and synced, then the plaintext removed. A file whose plaintext no
/// longer matches the hash taken a moment before (something else writes in
/// the backup directory) fails the backup. Blocking: call off the runtime.
pub fn seal(dir: &Path, entry: &mut StoreEntry, recipients: &[x25519::Recipient]) -> Result<()> {
    for file in &mut entry.files {
        let plain = dir.join(&file.path);
        let sealed_name = format!("{}{SUFFIX}", file.path);
        let sealed = dir.join(&sealed_name);
        let (plaintext, cipher) = encrypt_file(&plain, &sealed, recipients).map_err(|e| {
            CommandError::failed(format!("cannot encrypt {}: {e}", plain.display()))
        })?;
        if plaintext.sha256 != file.sha256 || plaintext.size != file.size {
            return Err(CommandError::failed(format!(
                "{} changed while the backup was being encrypted: is something else writing in {}?",
                plain.display(),
                dir.display()
            )));
        }
        std::fs::remove_file(&plain).map_err(|e| super::io_err(&plain, e))?;
        *file = FileEntry {
            path: sealed_name,
            size: cipher.size,
            sha256: cipher.sha256,
            plaintext: Some(plaintext),
        };
    }
    entry.encryption = Some(Encryption {
        scheme: SCHEME.to_string(),
        recipients: recipients.iter().map(|r| r.to_string()).collect(),
    });
    Ok(())
}

/// Checks, before anything is touched, that `identities` open every file of
/// each encrypted store of `entries` (the age header's file key unwraps and
/// its MAC holds): a wrong key is refused (exit 2) naming whom the backup was
/// encrypted to. Also refuses a manifest whose encrypted store lists a file
/// without its plaintext checksum or `.age` name (exit 1). Reads only the
/// headers; the ciphertext checksums were verified before. Blocking.
pub fn check(dir: &Path, entries: &[&StoreEntry], identities: &Identities) -> Result<()> {
    for entry in entries {
        let Some(encryption) = &entry.encryption else {
            continue;
        };
        for file in &entry.files {
            let path = dir.join(&file.path);
            if file.plaintext.is_none() || !file.path.ends_with(SUFFIX) {
                return Err(CommandError::problems(format!(
                    "refusing to restore: the manifest lists {} in the encrypted {} part \
                     without its plaintext checksum or `{SUFFIX}` name",
                    path.display(),
                    entry.store
                ))
                .with_hint("restore from another backup; this one cannot be trusted"));
            }
            let input = BufReader::new(File::open(&path).map_err(|e| super::io_err(&path, e))?);
            let opened = age::Decryptor::new_buffered(input)
                .and_then(|d| d.decrypt(identities.as_dyn()).map(drop));
            match opened {
                Ok(()) => {}
                Err(age::DecryptError::NoMatchingKeys) => {
                    return Err(CommandError::usage(format!(
                        "refusing to restore: the identity file holds no key for {} (the {} part \
                         is encrypted to {}; the file's key(s): {})",
                        path.display(),
                        entry.store,
                        encryption.recipients.join(", "),
                        identities.recipients().join(", ")
                    ))
                    .with_hint("pass the identity file of one of the backup's recipients"));
                }
                Err(e) => {
                    return Err(CommandError::problems(format!(
                        "refusing to restore: {} cannot be decrypted: {e}",
                        path.display()
                    ))
                    .with_hint("restore from another backup; this one cannot be trusted"))
                }
            }
        }
    }
    Ok(())
}

/// The stores of `entries` that are encrypted, to refuse a restore without
/// identities (exit 2, naming the flag through [`Remedy::Identity`]).
pub fn require_identities<'a>(
    dir: &Path,
    entries: &[&StoreEntry],
    identities: Option<&'a Identities>,
) -> Result<Option<&'a Identities>> {
    let encrypted: Vec<&str> = entries
        .iter()
        .filter(|e| e.encryption.is_some())
        .map(|e| e.store.as_str())
        .collect();
    match (encrypted.is_empty(), identities) {
        (true, _) => Ok(None),
        (false, Some(ids)) => Ok(Some(ids)),
        (false, None) => Err(CommandError::usage(format!(
            "the backup in {} is encrypted ({}): restoring it needs one of its recipients' identities",
            dir.display(),
            encrypted.join(", ")
        ))
        .with_remedy(Remedy::Identity)),
    }
}

/// A reader of plaintext that checks, at its end, the size and SHA-256 the
/// manifest recorded: a file that decrypts to something else fails the
/// restore (age authenticates every chunk, so this guards the manifest's
/// promise rather than the cipher).
struct Verified<R> {
    inner: R,
    hasher: Sha256,
    size: u64,
    expected: Plaintext,
    path: PathBuf,
}

impl<R: Read> Read for Verified<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        if n == 0 && !buf.is_empty() {
            let found = hex(std::mem::take(&mut self.hasher));
            if self.size != self.expected.size || found != self.expected.sha256 {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "{} decrypts to data that does not match its plaintext SHA-256 in the manifest",
                        self.path.display()
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// What decrypting one store's files needs: the identities and the
/// manifest's plaintext checksums by path.
#[derive(Clone)]
pub struct Decrypt {
    identities: Identities,
    plaintext: HashMap<PathBuf, Plaintext>,
}

impl Decrypt {
    /// For the files of `entry`, stored under `dir`.
    pub fn new(dir: &Path, entry: &StoreEntry, identities: &Identities) -> Decrypt {
        let plaintext = entry
            .files
            .iter()
            .filter_map(|f| Some((dir.join(&f.path), f.plaintext.clone()?)))
            .collect();
        Decrypt {
            identities: identities.clone(),
            plaintext,
        }
    }

    /// Opens the encrypted file `path` (a file of the manifest) as a stream
    /// of its plaintext, checked against its manifest entry at the end.
    pub fn open(&self, path: &Path) -> io::Result<Box<dyn Read + Send>> {
        let expected = self.plaintext.get(path).cloned().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::NotFound,
                format!(
                    "{} is not an encrypted file of the manifest",
                    path.display()
                ),
            )
        })?;
        let input = BufReader::with_capacity(1 << 16, File::open(path)?);
        let reader = age::Decryptor::new_buffered(input)
            .and_then(|d| d.decrypt(self.identities.as_dyn()))
            .map_err(io::Error::other)?;
        Ok(Box::new(Verified {
            inner: reader,
            hasher: Sha256::new(),
            size: 0,
            expected,
            path: path.to_path_buf(),
        }))
    }

    /// Decrypts one file of a store's folder into `into` (its path inside
    /// `folder`, without `.age`), checking its plaintext checksum. Blocking.
    pub fn decrypt_file(
        &self,
        dir: &Path,
        file: &FileEntry,
        folder: &str,
        into: &Path,
    ) -> Result<()> {
        let path = dir.join(&file.path);
        let inside = file
            .path
            .strip_prefix(folder)
            .and_then(|p| p.strip_prefix('/'))
            .and_then(|p| p.strip_suffix(SUFFIX))
            .ok_or_else(|| {
                CommandError::problems(format!(
                    "refusing to restore: {} is not an encrypted file of the folder {folder}",
                    path.display()
                ))
            })?;
        let target = into.join(inside);
        create_folders_inside(into, inside)?;
        let result = self.open(&path).and_then(|mut plain| {
            let mut out = BufWriter::with_capacity(1 << 16, File::create(&target)?);
            io::copy(&mut plain, &mut out)?;
            out.flush()
        });
        result.map_err(|e| match e.kind() {
            io::ErrorKind::InvalidData => {
                CommandError::problems(format!("refusing to restore: {e}"))
                    .with_hint("restore from another backup; this one cannot be trusted")
            }
            _ => CommandError::failed(format!(
                "cannot decrypt {} into {}: {e}",
                path.display(),
                target.display()
            )),
        })
    }
}

/// Creates the folders of `inside` (a file's path in `into`) under `into`,
/// never `into` itself: once an interruption has removed the private folder
/// ([`PrivateDir`]'s drop), a worker still finishing its file must fail here,
/// or at its `File::create`, rather than recreate the folder (with the
/// default mode) and leave plaintext behind. (pg_dump's archive is flat,
/// so there is usually nothing to create.)
fn create_folders_inside(into: &Path, inside: &str) -> Result<()> {
    let mut folder = into.to_path_buf();
    let parents: Vec<&str> = inside.split('/').collect();
    for part in &parents[..parents.len() - 1] {
        folder.push(part);
        match std::fs::DirBuilder::new().create(&folder) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(super::io_err(&folder, e)),
        }
    }
    Ok(())
}

/// A folder only this user can enter (mode 0700) under `$TMPDIR`, removed
/// with everything in it when dropped: when the restore ends, fails, or its
/// future is dropped on Ctrl-C or SIGTERM. Only a SIGKILL leaves it behind
/// (its name starts with `rez-db-restore-`).
#[derive(Debug)]
pub struct PrivateDir {
    path: PathBuf,
}

impl PrivateDir {
    pub fn create() -> Result<PrivateDir> {
        let base = std::env::temp_dir();
        let path = base.join(format!(
            "rez-db-restore-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let mut builder = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&path).map_err(|e| {
            CommandError::failed(format!(
                "cannot create a private folder in {} to decrypt into: {e} (set TMPDIR to a folder with room for the PostgreSQL dump)",
                base.display()
            ))
        })?;
        Ok(PrivateDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PrivateDir {
    /// Removes the folder, trying again while it is still there: an
    /// interruption drops this while a decryption worker may still be
    /// creating its file, and a file created between `remove_dir_all`'s
    /// listing and its final `rmdir` leaves the folder "not empty" (seen in
    /// `a_terminated_encrypted_restore_removes_its_decrypted_copy`). A worker
    /// creates one file and no folder once this one is gone, so a second try
    /// ends it; the bound only keeps a stuck disk from hanging the exit.
    fn drop(&mut self) {
        let mut last = None;
        for _ in 0..50 {
            match std::fs::remove_dir_all(&self.path) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => last = Some(e),
                _ if self.path.exists() => last = None,
                _ => return,
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        tracing::warn!(
            "could not remove the decrypted copy in {}: {}; delete it by hand",
            self.path.display(),
            last.map_or("it keeps coming back".to_string(), |e| e.to_string())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry_of(dir: &Path, files: &[(&str, &[u8])]) -> StoreEntry {
        std::fs::create_dir_all(dir.join("redis")).unwrap();
        let mut listed = Vec::new();
        for (name, bytes) in files {
            let path = format!("redis/{name}");
            std::fs::write(dir.join(&path), bytes).unwrap();
            let (size, sha256) = super::super::manifest::hash_file(&dir.join(&path)).unwrap();
            listed.push(FileEntry {
                path,
                size,
                sha256,
                plaintext: None,
            });
        }
        let now = chrono::Utc::now();
        StoreEntry {
            store: "redis".to_string(),
            folder: "redis".to_string(),
            source: "x".to_string(),
            server_version: "7".to_string(),
            versions: None,
            compression: Default::default(),
            encryption: None,
            schema_version: None,
            migrations: vec![],
            started_at: now,
            finished_at: now,
            files: listed,
            redis_cluster: None,
        }
    }

    fn key_file(dir: &Path, name: &str, identity: &x25519::Identity, mode: u32) -> PathBuf {
        use age::secrecy::ExposeSecret;
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join(name);
        let text = format!(
            "# created: now\n# public key: {}\n{}\n",
            identity.to_public(),
            identity.to_string().expose_secret()
        );
        std::fs::write(&path, text).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    #[test]
    fn each_recipient_alone_decrypts_and_a_stranger_is_refused_by_the_header() {
        let tmp = tempfile::tempdir().unwrap();
        let data = b"payload ".repeat(20_000);
        let mut entry = entry_of(tmp.path(), &[("keys.bin", &data), ("empty", b"")]);
        let (a, b, stranger) = (
            x25519::Identity::generate(),
            x25519::Identity::generate(),
            x25519::Identity::generate(),
        );
        seal(tmp.path(), &mut entry, &[a.to_public(), b.to_public()]).unwrap();
        assert!(
            !tmp.path().join("redis/keys.bin").exists(),
            "plaintext removed"
        );
        assert_eq!(entry.files[0].path, "redis/keys.bin.age");
        assert_eq!(
            entry.files[0].plaintext.as_ref().unwrap().size,
            data.len() as u64
        );
        let text = serde_json::to_string(&entry).unwrap();
        assert!(text.contains(&a.to_public().to_string()));
        assert!(
            !text.contains("AGE-SECRET-KEY"),
            "no secret in the manifest"
        );

        for who in [&a, &b] {
            let ids = Identities(vec![who.clone()]);
            check(tmp.path(), &[&entry], &ids).unwrap();
            let mut plain = Vec::new();
            Decrypt::new(tmp.path(), &entry, &ids)
                .open(&tmp.path().join("redis/keys.bin.age"))
                .unwrap()
                .read_to_end(&mut plain)
                .unwrap();
            assert_eq!(plain, data);
        }
        let wrong = Identities(vec![stranger]);
        let err = check(tmp.path(), &[&entry], &wrong).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Usage, "{err}");
        assert!(err.message.contains(&a.to_public().to_string()), "{err}");
        assert!(
            !format!("{wrong:?}").contains("AGE-SECRET"),
            "Debug redacts"
        );
    }

    #[test]
    fn a_plaintext_checksum_mismatch_fails_at_the_end_of_the_stream() {
        let tmp = tempfile::tempdir().unwrap();
        let mut entry = entry_of(tmp.path(), &[("keys.bin", b"abc")]);
        let id = x25519::Identity::generate();
        seal(tmp.path(), &mut entry, &[id.to_public()]).unwrap();
        entry.files[0].plaintext.as_mut().unwrap().sha256 = "0".repeat(64);
        let into = tempfile::tempdir().unwrap();
        let err = Decrypt::new(tmp.path(), &entry, &Identities(vec![id]))
            .decrypt_file(tmp.path(), &entry.files[0], "redis", into.path())
            .unwrap_err();
        assert!(err.message.contains("plaintext SHA-256"), "{err}");
    }

    #[test]
    fn an_identity_file_open_to_others_or_without_a_key_is_refused_without_echoing_it() {
        let tmp = tempfile::tempdir().unwrap();
        let id = x25519::Identity::generate();
        let open = key_file(tmp.path(), "open.txt", &id, 0o644);
        let err = read_identities(&open).unwrap_err();
        assert!(err.message.contains("mode 644"), "{err}");
        assert!(err.hints.iter().any(|h| h.contains("chmod 600")), "{err:?}");
        let private = key_file(tmp.path(), "key.txt", &id, 0o600);
        let ids = read_identities(&private).unwrap();
        assert_eq!(ids.recipients(), vec![id.to_public().to_string()]);

        let bad = tmp.path().join("bad.txt");
        std::fs::write(&bad, "# comment\nAGE-SECRET-KEY-1NOTAKEY\n").unwrap();
        std::fs::set_permissions(&bad, std::os::unix::fs::PermissionsExt::from_mode(0o600))
            .unwrap();
        let err = read_identities(&bad).unwrap_err();
        assert!(err.message.contains("line 2"), "{err}");
        assert!(
            !err.message.contains("NOTAKEY"),
            "the line is not echoed: {err}"
        );
    }

    #[test]
    fn a_bad_recipient_is_named_as_such() {
        assert!(parse_recipient("age1nope").unwrap_err().contains("age1..."));
        let id = x25519::Identity::generate();
        let text = id.to_public().to_string();
        assert_eq!(parse_recipient(&text).unwrap().to_string(), text);
    }
}
