//! Archives of detached partitions, decided purely: the folder that holds
//! one database's archives, the names of a partition's archive files, and
//! the sidecar that says what an archive holds. No I/O here:
//! `store::pg::archive` writes, verifies and inspects the files.
//!
//! A folder per database (issue 12): two databases with the same policy and
//! `archive_dir` (staging and production on one backup host, shards) have
//! partitions of the same names, and archives named after the partition
//! alone overwrote each other. The folder is
//! `<database>@<host>_<port>_<system identifier>`: the database's name, the
//! server as the URL names it, and the cluster's `system_identifier` (set by
//! initdb, so a rebuilt server or another cluster never shares a folder; a
//! physical copy shares it, and is told apart by its host or port). Every
//! byte outside `[A-Za-z0-9._-]` is percent-encoded, so no name can hold a
//! path separator and two different identities never share a folder.
//!
//! A sidecar per archive (`<archive>.json`): a file at the right name proves
//! nothing (a crash, a copy, `echo garbage >`). The sidecar is written only
//! after the archive was verified, and records the database, the partition,
//! its bounds and row count, and the archive's size and SHA-256; an archive
//! is trusted only while all of that still holds.
//!
//! Slots: the first archive of `orders_2026_11` is `orders_2026_11.dump`; a
//! file there that cannot be trusted is never replaced (it may be someone's
//! only copy of something), so the next archive goes beside it, in
//! `orders_2026_11.2.dump`, and so on up to [`MAX_SLOTS`].

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::naming::RangePartition;

/// The sidecar format this version writes and trusts.
pub const SIDECAR_FORMAT: u32 = 1;

/// Archive files one partition may have in its folder. Past that, every new
/// archive went stale before its drop (something keeps writing into the
/// detached table): the drop is refused rather than the folder filled.
pub const MAX_SLOTS: u32 = 10;

/// Folder names longer than this are cut and end with a digest of the whole
/// name: a file name has at most 255 bytes.
const MAX_FOLDER_NAME: usize = 200;

/// Which database a partition was archived from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub database: String,
    /// The server's host as the URL names it (or its `host=` parameter).
    pub host: String,
    pub port: u16,
    /// `SELECT system_identifier FROM pg_control_system()`, as unsigned.
    pub system_identifier: u64,
}

impl Identity {
    /// The folder under `archive_dir` that holds this database's archives.
    pub fn folder_name(&self) -> String {
        let name = format!(
            "{}@{}_{}_{}",
            encode(&self.database),
            encode(&self.host),
            self.port,
            self.system_identifier
        );
        if name.len() <= MAX_FOLDER_NAME {
            return name;
        }
        let digest = format!("{:x}", Sha256::digest(name.as_bytes()));
        // Encoded names are ASCII: any byte offset is a character boundary.
        format!("{}~{}", &name[..MAX_FOLDER_NAME - 17], &digest[..16])
    }
}

/// Percent-encodes every byte outside `[A-Za-z0-9._-]`: injective, readable
/// for ordinary names, and never a path separator.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => out.push(b as char),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// The archive file of slot `n` (from 1) of `partition`.
pub fn slot_file(partition: &str, n: u32) -> String {
    match n {
        1 => format!("{partition}.dump"),
        n => format!("{partition}.{n}.dump"),
    }
}

/// `path` with `suffix` appended to its file name (`a.dump` -> `a.dump.json`).
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// The sidecar of the archive at `dump`.
pub fn sidecar_path(dump: &Path) -> PathBuf {
    with_suffix(dump, ".json")
}

/// The temporary name `path` is written under before its rename. Only
/// rez-db writes these, so a leftover one is a stopped run's, and rewritten.
pub fn partial_path(path: &Path) -> PathBuf {
    with_suffix(path, ".partial")
}

/// What an archive holds, written beside it once it was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sidecar {
    pub format: u32,
    pub database: String,
    pub host: String,
    pub port: u16,
    /// A string: JSON readers that hold numbers as doubles would round it.
    pub system_identifier: String,
    pub table: String,
    pub partition: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    /// Rows of the table when it was archived; the archive gave back as many.
    pub rows: i64,
    /// The archive's file name (in the same folder).
    pub file: String,
    pub size: u64,
    pub sha256: String,
    pub written_at: DateTime<Utc>,
    pub written_by: String,
}

impl Sidecar {
    /// The sidecar of a verified archive `file` of `partition` of `identity`.
    pub fn new(
        identity: &Identity,
        partition: &RangePartition,
        rows: i64,
        file: &str,
        size: u64,
        sha256: String,
        written_at: DateTime<Utc>,
    ) -> Sidecar {
        Sidecar {
            format: SIDECAR_FORMAT,
            database: identity.database.clone(),
            host: identity.host.clone(),
            port: identity.port,
            system_identifier: identity.system_identifier.to_string(),
            table: partition.parent.to_string(),
            partition: partition.name.clone(),
            from: partition.from,
            to: partition.to,
            rows,
            file: file.to_string(),
            size,
            sha256,
            written_at,
            written_by: concat!("rez-db ", env!("CARGO_PKG_VERSION")).to_string(),
        }
    }

    /// Why this sidecar does not describe archive `file` of `partition` of
    /// the database `identity` (None: it does; then the archive is ours).
    pub fn not_of(
        &self,
        identity: &Identity,
        partition: &RangePartition,
        file: &str,
    ) -> Option<String> {
        if self.format != SIDECAR_FORMAT {
            return Some(format!(
                "its sidecar is of format {}, this rez-db reads {SIDECAR_FORMAT}",
                self.format
            ));
        }
        let database = (
            &self.database,
            &self.host,
            self.port,
            &self.system_identifier,
        );
        let ours = (
            &identity.database,
            &identity.host,
            identity.port,
            &identity.system_identifier.to_string(),
        );
        if database != ours {
            return Some(format!(
                "its sidecar names database {} at {}:{} (system identifier {})",
                self.database, self.host, self.port, self.system_identifier
            ));
        }
        let bounds = (&self.table, &self.partition, self.from, self.to);
        if bounds
            != (
                &partition.parent.to_string(),
                &partition.name,
                partition.from,
                partition.to,
            )
        {
            return Some(format!(
                "its sidecar names {} [{}, {})",
                self.partition, self.from, self.to
            ));
        }
        (self.file != file).then(|| format!("its sidecar describes the file {}", self.file))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::naming::{partition_for, Period};
    use chrono::TimeZone;

    fn identity(database: &str, host: &str) -> Identity {
        Identity {
            database: database.into(),
            host: host.into(),
            port: 5432,
            system_identifier: 7_316_425_286_817_129_000,
        }
    }

    #[test]
    fn each_database_has_a_folder_of_its_own_that_is_one_path_segment() {
        assert_eq!(
            identity("rez", "db.internal").folder_name(),
            "rez@db.internal_5432_7316425286817129000"
        );
        let tricky = identity("../a/b c", "/run/postgresql").folder_name();
        assert_eq!(
            tricky,
            "..%2Fa%2Fb%20c@%2Frun%2Fpostgresql_5432_7316425286817129000"
        );
        assert!(!tricky.contains('/'));
        // Encoding is injective: names that a replacement character would merge stay apart.
        assert_ne!(
            identity("a/b", "h").folder_name(),
            identity("a_b", "h").folder_name()
        );
        assert_ne!(
            identity("rez", "staging").folder_name(),
            identity("rez", "production").folder_name()
        );
        let long = identity(&"é".repeat(63), &"h".repeat(200)).folder_name();
        assert_eq!(long.len(), MAX_FOLDER_NAME);
        assert_ne!(
            long,
            identity(&"é".repeat(63), &"h".repeat(201)).folder_name()
        );
    }

    #[test]
    fn slots_and_companion_files() {
        assert_eq!(slot_file("orders_2026_11", 1), "orders_2026_11.dump");
        assert_eq!(slot_file("orders_2026_11", 2), "orders_2026_11.2.dump");
        let dump = Path::new("/a/orders_2026_11.dump");
        assert_eq!(sidecar_path(dump), Path::new("/a/orders_2026_11.dump.json"));
        assert_eq!(
            partial_path(&sidecar_path(dump)),
            Path::new("/a/orders_2026_11.dump.json.partial")
        );
    }

    #[test]
    fn a_sidecar_is_ours_only_for_the_same_database_partition_and_file() {
        let at = Utc.with_ymd_and_hms(2026, 11, 3, 0, 0, 0).unwrap();
        let nov = partition_for("orders", Period::Month, at);
        let me = identity("rez", "db.internal");
        let file = "orders_2026_11.dump";
        let sidecar = Sidecar::new(&me, &nov, 37, file, 100, "ab".into(), at);
        assert_eq!(sidecar.not_of(&me, &nov, file), None);
        let staging = identity("rez", "staging.internal");
        assert!(sidecar
            .not_of(&staging, &nov, file)
            .is_some_and(|why| why.contains("db.internal:5432")));
        let dec = partition_for("orders", Period::Month, nov.to);
        assert!(sidecar.not_of(&me, &dec, file).is_some());
        assert!(sidecar.not_of(&me, &nov, "orders_2026_11.2.dump").is_some());
        let future = Sidecar {
            format: SIDECAR_FORMAT + 1,
            ..sidecar.clone()
        };
        assert!(future.not_of(&me, &nov, file).is_some());
        let json = serde_json::to_string(&sidecar).unwrap();
        assert!(json.contains("\"system_identifier\":\"7316425286817129000\""));
        assert_eq!(serde_json::from_str::<Sidecar>(&json).unwrap(), sidecar);
    }
}
