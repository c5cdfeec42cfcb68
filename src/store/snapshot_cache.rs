//! The cache of expected schemas on local disk: one JSON file per key
//! (`crate::migration::snapshot_key`), `schema-<key>.json`, in a directory of
//! the user's (`$XDG_CACHE_HOME/rez-db`, `~/.cache/rez-db`, or
//! `REZ_DB_CACHE_DIR`: the configuration decides).
//!
//! A cache is never a reason to fail: a file that is missing, unreadable,
//! truncated, corrupt or of another format is a miss (the caller rebuilds
//! and overwrites it), and a directory that cannot be written leaves the run
//! without a cache. The directory is created 0700 and each file 0600 (a
//! schema is not a secret, but it is nobody else's business); a file is
//! written to a temporary file in the same directory and renamed over, so a
//! reader sees a whole file or none. Only the newest [`KEEP`] files are
//! kept: every edit of a migration makes a new key.
//!
//! Never: decides what the key is, or what a cached schema means.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use crate::migration::schema_diff::SchemaSnapshot;
use crate::migration::snapshot_key::CacheEntry;

/// How many cache files are kept (the newest by modification time).
pub const KEEP: usize = 16;

/// A cache file larger than this is not read (a schema is well under it).
const MAX_BYTES: u64 = 64 * 1024 * 1024;

/// The cache directory, not yet created.
#[derive(Debug, Clone)]
pub struct SnapshotCache {
    dir: PathBuf,
}

/// What looking a key up found.
#[derive(Debug)]
pub enum Lookup {
    Hit(SchemaSnapshot),
    /// No file for the key.
    Miss,
    /// A file that cannot be used, and why: rebuild and overwrite it.
    Unusable(String),
}

impl SnapshotCache {
    pub fn at(dir: PathBuf) -> SnapshotCache {
        SnapshotCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file that holds `key`'s schema.
    pub fn file(&self, key: &str) -> PathBuf {
        self.dir.join(format!("schema-{key}.json"))
    }

    /// The schema cached under `key`.
    pub fn read(&self, key: &str) -> Lookup {
        let path = self.file(key);
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Lookup::Miss,
            Err(e) => return Lookup::Unusable(format!("cannot read {}: {e}", path.display())),
        };
        let mut text = Vec::new();
        if let Err(e) = file.take(MAX_BYTES).read_to_end(&mut text) {
            return Lookup::Unusable(format!("cannot read {}: {e}", path.display()));
        }
        match serde_json::from_slice::<CacheEntry>(&text) {
            Ok(entry) => match entry.unusable_for(key) {
                None => Lookup::Hit(entry.snapshot),
                Some(why) => Lookup::Unusable(format!("{}: {why}", path.display())),
            },
            Err(e) => Lookup::Unusable(format!("{} is not a cache file: {e}", path.display())),
        }
    }

    /// Writes `entry` under its key, atomically, then forgets the oldest
    /// files beyond [`KEEP`]; the file written.
    pub fn write(&self, entry: &CacheEntry) -> io::Result<PathBuf> {
        create_private_dir(&self.dir)?;
        let path = self.file(&entry.key);
        let tmp = self.dir.join(format!(
            ".schema-{}.{}.{}.tmp",
            entry.key,
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let written = (|| {
            let mut file = private_file(&tmp)?;
            serde_json::to_writer(&mut file, entry)?;
            file.flush()?;
            fs::rename(&tmp, &path)
        })();
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.prune();
        Ok(path)
    }

    /// Removes the cache files beyond the newest [`KEEP`]; a file another
    /// run removes first is no matter.
    fn prune(&self) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut files: Vec<(std::time::SystemTime, PathBuf)> = entries
            .filter_map(|e| e.ok())
            .filter(|e| {
                let name = e.file_name();
                let name = name.to_string_lossy();
                name.starts_with("schema-") && name.ends_with(".json")
            })
            .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
            .collect();
        files.sort_by_key(|f| std::cmp::Reverse(f.0));
        for (_, path) in files.into_iter().skip(KEEP) {
            let _ = fs::remove_file(path);
        }
    }
}

/// Creates `dir` (and its missing parents) readable by its owner only.
fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}

/// A new file readable and writable by its owner only.
fn private_file(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migration::schema_diff::{ObjectKind, SchemaObject};

    fn snapshot() -> SchemaSnapshot {
        SchemaSnapshot::new(vec![SchemaObject {
            kind: ObjectKind::Table,
            name: "public.users".into(),
            definition: "table".into(),
            relation: None,
        }])
    }

    fn scratch() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "rez-db-cache-unit-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        dir.join("nested")
    }

    #[test]
    fn a_written_entry_is_read_back_and_a_foreign_file_is_unusable() {
        let dir = scratch();
        let cache = SnapshotCache::at(dir.clone());
        assert!(matches!(cache.read("k1"), Lookup::Miss));
        let path = cache
            .write(&CacheEntry::new("k1", "1.0.0", snapshot()))
            .unwrap();
        assert!(matches!(cache.read("k1"), Lookup::Hit(s) if s == snapshot()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&path), 0o600);
        }
        fs::write(&path, b"{\"format\": 1, \"key\": \"k1\"").unwrap();
        assert!(matches!(cache.read("k1"), Lookup::Unusable(w) if w.contains("not a cache file")));
        // Another key's entry under this key's name is not a hit.
        let other = serde_json::to_vec(&CacheEntry::new("k2", "1.0.0", snapshot())).unwrap();
        fs::write(&path, other).unwrap();
        assert!(matches!(cache.read("k1"), Lookup::Unusable(_)));
        // Only the newest KEEP files stay, and no temporary file is left.
        for i in 0..KEEP + 3 {
            cache
                .write(&CacheEntry::new(&format!("n{i}"), "1.0.0", snapshot()))
                .unwrap();
        }
        let left: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(left.len(), KEEP, "{left:?}");
        assert!(left.iter().all(|n| n.starts_with("schema-")), "{left:?}");
        fs::remove_dir_all(dir.parent().unwrap()).unwrap();
    }
}
