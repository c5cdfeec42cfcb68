//! Archives of detached partitions on disk, for `partition-rotate`: [`write`]
//! makes and verifies one, [`inspect`] judges what a partition's archive
//! files are worth, for the planner. Names, folders and the sidecar are
//! `crate::partition::archive`'s.
//!
//! [`write`] never lets a file look like an archive before it is one. pg_dump
//! writes to a temporary name in the archive's folder; the file is fsynced;
//! pg_restore must list the table's data in it and give back, from that data,
//! as many rows as the table holds. The table is counted under a SHARE lock,
//! taken before pg_dump starts and held until the archive is in place: it
//! keeps writers out but not pg_dump (ACCESS SHARE), whose snapshot therefore
//! sees exactly the rows counted. Only then is the sidecar written (fsynced)
//! and renamed into place, then the archive, each rename followed by an
//! fsync of the folder. The sidecar goes first: a run stopped between the two
//! renames leaves a sidecar without its archive, which holds nothing and is
//! written again, while an archive without a sidecar is never one of ours.
//!
//! Never replaces a file it did not write: only its own `.partial`
//! temporaries, and a slot that holds nothing but its own sidecar; the
//! archive itself is put in place with a hard link, which fails rather than
//! replace a file that appeared meanwhile. pg_dump and pg_restore are started
//! by [`client`] and nowhere else, through `super::tools`.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::Duration;

use chrono::Utc;
use sha2::{Digest, Sha256};
use sqlx::postgres::PgConnection;
use sqlx::Connection;

use super::quote_ident;
use crate::partition::archive::{
    partial_path, sidecar_path, slot_file, Identity, Sidecar, MAX_SLOTS,
};
use crate::partition::naming::RangePartition;
use crate::partition::plan::ArchiveState;
use crate::secret::RedactedUrl;

/// A sidecar is a few hundred bytes; a bigger file at its name is not one.
const MAX_SIDECAR_BYTES: u64 = 64 * 1024;

/// The database `conn` is connected to, as archives name it: the host and
/// port come from `url` (the server as the operator names it), the name and
/// the cluster's system identifier from the server.
pub async fn identity(conn: &mut PgConnection, url: &RedactedUrl) -> Result<Identity, sqlx::Error> {
    let (database, system_identifier): (String, i64) = sqlx::query_as(
        "SELECT current_database()::text, system_identifier FROM pg_control_system()",
    )
    .fetch_one(conn)
    .await?;
    let u = url.url();
    let param = |key: &str| {
        u.query_pairs()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.into_owned())
    };
    let host = u
        .host_str()
        .filter(|h| !h.is_empty())
        .map(str::to_string)
        .or_else(|| param("host"))
        .unwrap_or_else(|| "localhost".to_string());
    let port = u
        .port()
        .or_else(|| param("port").and_then(|p| p.parse().ok()))
        .unwrap_or(5432);
    Ok(Identity {
        database,
        host,
        port,
        // The server keeps it as a bigint; it is an unsigned 64-bit number.
        system_identifier: system_identifier as u64,
    })
}

/// What `folder` holds for `partition` of `identity`'s database: a verified
/// archive, or the slot a new one goes to (with every file found and why it
/// is not trusted), or why none can be written. Reads files and runs
/// pg_restore; counts the table's rows only when a sidecar of ours needs it.
pub async fn inspect(
    conn: &mut PgConnection,
    folder: &Path,
    identity: &Identity,
    partition: &RangePartition,
) -> Result<ArchiveState, sqlx::Error> {
    match std::fs::metadata(folder) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Ok(ArchiveState::Blocked {
                reason: format!(
                    "{} is not a folder: this database's archives go there; move the file away",
                    folder.display()
                ),
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(ArchiveState::Absent {
                path: folder.join(slot_file(&partition.name, 1)),
                untrusted: Vec::new(),
            })
        }
        Err(e) => {
            return Ok(ArchiveState::Blocked {
                reason: format!("cannot read {}: {e}", folder.display()),
            })
        }
    }
    let mut untrusted = Vec::new();
    let mut free = None;
    let mut rows = None;
    for n in 1..=MAX_SLOTS {
        let file = slot_file(&partition.name, n);
        let dump = folder.join(&file);
        let verdict = match look(&dump) {
            Err(e) => format!("cannot read: {e}"),
            Ok((false, None)) => {
                free.get_or_insert(dump);
                continue;
            }
            Ok((true, None)) => "no sidecar: not an archive rez-db wrote and verified".to_string(),
            Ok((_, Some(Err(e)))) => format!("its sidecar cannot be read: {e}"),
            Ok((has_dump, Some(Ok(sidecar)))) => match sidecar.not_of(identity, partition, &file) {
                Some(why) => why,
                // Our sidecar alone: a run stopped between the two renames.
                None if !has_dump => {
                    free.get_or_insert(dump);
                    continue;
                }
                None => match judge(conn, &dump, &sidecar, partition, &mut rows).await? {
                    None => return Ok(ArchiveState::Verified { path: dump }),
                    Some(why) => why,
                },
            },
        };
        untrusted.push(format!("{}: {verdict}", dump.display()));
    }
    Ok(match free {
        Some(path) => ArchiveState::Absent { path, untrusted },
        None => ArchiveState::Blocked {
            reason: format!(
                "all {MAX_SLOTS} archive files of {} in {} are taken and none can be trusted ({}); \
                 is something writing into the detached table? Move them away once checked",
                partition.name,
                folder.display(),
                untrusted.join("; ")
            ),
        },
    })
}

/// Whether the archive `dump` exists, and its sidecar if there is one.
fn look(dump: &Path) -> io::Result<(bool, Option<Result<Sidecar, String>>)> {
    let has_dump = match std::fs::symlink_metadata(dump) {
        Ok(_) => true,
        Err(e) if e.kind() == io::ErrorKind::NotFound => false,
        Err(e) => return Err(e),
    };
    let sidecar = match File::open(sidecar_path(dump)) {
        Ok(file) => {
            let mut bytes = Vec::new();
            file.take(MAX_SIDECAR_BYTES + 1).read_to_end(&mut bytes)?;
            Some(if bytes.len() as u64 > MAX_SIDECAR_BYTES {
                Err(format!("larger than {MAX_SIDECAR_BYTES} bytes"))
            } else {
                serde_json::from_slice(&bytes).map_err(|e| e.to_string())
            })
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => None,
        Err(e) => return Err(e),
    };
    Ok((has_dump, sidecar))
}

/// Why our archive `dump` (its sidecar names this partition of this
/// database) cannot stand for the table as it is now; None when it can.
/// `rows` caches the table's count across the partition's slots.
async fn judge(
    conn: &mut PgConnection,
    dump: &Path,
    sidecar: &Sidecar,
    partition: &RangePartition,
    rows: &mut Option<i64>,
) -> Result<Option<String>, sqlx::Error> {
    let now = match *rows {
        Some(n) => n,
        None => *rows.insert(count(conn, &partition.name).await?),
    };
    if sidecar.rows != now {
        return Ok(Some(format!(
            "it holds {} rows and the table {now}: an archive of another state of the partition",
            sidecar.rows
        )));
    }
    let (size, sha256) = match hash(dump).await {
        Ok(h) => h,
        Err(e) => return Ok(Some(format!("cannot read it: {e}"))),
    };
    if size != sidecar.size || sha256 != sidecar.sha256 {
        return Ok(Some(format!(
            "its size and SHA-256 ({size} bytes, {}) are not its sidecar's ({} bytes, {}): damaged since it was written",
            &sha256[..12],
            sidecar.size,
            sidecar.sha256.get(..12).unwrap_or(&sidecar.sha256)
        )));
    }
    Ok(contents(dump, &partition.name).await.err())
}

/// The rows the sidecar of the archive `dump` records: what a drop that
/// relies on this archive checks the table against.
pub fn recorded_rows(dump: &Path) -> Result<i64, String> {
    match look(dump) {
        Ok((true, Some(Ok(sidecar)))) => Ok(sidecar.rows),
        Ok(_) => Err(format!(
            "{} or its sidecar is missing or unreadable",
            dump.display()
        )),
        Err(e) => Err(format!("cannot read {}: {e}", dump.display())),
    }
}

async fn count(conn: &mut PgConnection, table: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(&format!("SELECT count(*) FROM {}", quote_ident(table)))
        .fetch_one(conn)
        .await
}

/// Writes and verifies the archive of `partition` at `path` (a slot that
/// [`inspect`] found free), with its sidecar; returns the sidecar. On any
/// failure nothing is left behind but what was there before.
pub async fn write(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    lock_timeout: Duration,
    identity: &Identity,
    partition: &RangePartition,
    path: &Path,
) -> Result<Sidecar, String> {
    let folder = path
        .parent()
        .ok_or_else(|| format!("{} has no folder", path.display()))?;
    std::fs::create_dir_all(folder)
        .map_err(|e| format!("cannot create {}: {e}", folder.display()))?;
    let written = write_verified(conn, url, lock_timeout, identity, partition, path).await;
    if written.is_err() {
        for temporary in [partial_path(path), partial_path(&sidecar_path(path))] {
            let _ = std::fs::remove_file(temporary);
        }
    }
    written
}

async fn write_verified(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    lock_timeout: Duration,
    identity: &Identity,
    partition: &RangePartition,
    path: &Path,
) -> Result<Sidecar, String> {
    let name = &partition.name;
    let folder = path.parent().unwrap_or(Path::new("."));
    let io = |what: &str, p: &Path, e: io::Error| format!("cannot {what} {}: {e}", p.display());
    let db = |e: sqlx::Error| url.scrub(&format!("{name}: {e}"));
    let dump = partial_path(path);

    let mut tx = conn.begin().await.map_err(db)?;
    sqlx::raw_sql(&format!("LOCK TABLE {} IN SHARE MODE", quote_ident(name)))
        .execute(&mut *tx)
        .await
        .map_err(db)?;
    let rows = count(&mut tx, name).await.map_err(db)?;
    let mut file_arg = OsString::from("--file=");
    file_arg.push(&dump);
    let args = [
        OsString::from("--format=custom"),
        format!("--table={}", quote_ident(name)).into(),
        // pg_dump's ACCESS SHARE lock could queue behind another session's
        // request: bounded like every lock rez-db takes.
        format!("--lock-wait-timeout={}", lock_timeout.as_millis()).into(),
        file_arg,
    ];
    client("pg_dump", Some(url), &args, (), |_, _| {}).await?;
    File::open(&dump)
        .and_then(|f| f.sync_all())
        .map_err(|e| io("fsync", &dump, e))?;
    contents(&dump, name).await?;
    let restored = rows_in(&dump, name).await?;
    if restored != rows {
        return Err(format!(
            "the archive gives back {restored} rows and the table holds {rows}: not trusted"
        ));
    }
    let (size, sha256) = hash(&dump).await.map_err(|e| io("read", &dump, e))?;
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let sidecar = Sidecar::new(identity, partition, rows, &file, size, sha256, Utc::now());
    let side = sidecar_path(path);
    let side_partial = partial_path(&side);
    let json = serde_json::to_vec_pretty(&sidecar).map_err(|e| e.to_string())?;
    File::create(&side_partial)
        .and_then(|mut f| {
            f.write_all(&json)?;
            f.write_all(b"\n")?;
            f.sync_all()
        })
        .map_err(|e| io("write", &side_partial, e))?;
    // The slot held nothing, or only our own sidecar: replacing it loses nothing.
    std::fs::rename(&side_partial, &side).map_err(|e| io("rename into", &side, e))?;
    sync_folder(folder).map_err(|e| io("fsync", folder, e))?;
    put_in_place(&dump, path).map_err(|e| io("move the archive to", path, e))?;
    sync_folder(folder).map_err(|e| io("fsync", folder, e))?;
    tx.commit().await.map_err(db)?;
    Ok(sidecar)
}

/// Renames `from` to `to` unless `to` exists: a hard link fails on an
/// existing name, where a rename would replace it. File systems without hard
/// links get a rename after a check.
fn put_in_place(from: &Path, to: &Path) -> io::Result<()> {
    match std::fs::hard_link(from, to) {
        Ok(()) => std::fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if std::fs::symlink_metadata(to).is_err() => std::fs::rename(from, to),
        Err(e) => Err(e),
    }
}

/// Makes the folder's entries (a rename) durable.
fn sync_folder(folder: &Path) -> io::Result<()> {
    File::open(folder)?.sync_all()
}

/// The size and SHA-256 (hex) of a file, read off the async runtime.
async fn hash(path: &Path) -> io::Result<(u64, String)> {
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut file = File::open(&path)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        let mut size = 0u64;
        loop {
            let n = file.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            size += n as u64;
        }
        Ok((size, format!("{:x}", hasher.finalize())))
    })
    .await
    .map_err(io::Error::other)?
}

/// Checks that pg_restore reads the table of contents of `dump` and that it
/// lists the data of `table`.
async fn contents(dump: &Path, table: &str) -> Result<(), String> {
    let (_, listed) = client(
        "pg_restore",
        None,
        &["--list".into(), dump.into()],
        (table.to_string(), false),
        |(table, listed), line| *listed |= lists_data_of(&String::from_utf8_lossy(line), table),
    )
    .await?;
    match listed {
        true => Ok(()),
        false => Err(format!("pg_restore lists no TABLE DATA of {table} in it")),
    }
}

/// A `pg_restore --list` line naming the data of `table`:
/// `4509; 0 295909 TABLE DATA public orders_2026_12 postgres`.
fn lists_data_of(line: &str, table: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words
        .windows(4)
        .any(|w| w[0] == "TABLE" && w[1] == "DATA" && w[3] == table)
}

/// The rows the archive `dump` gives back for `table`: pg_restore turns its
/// data into a `COPY ... FROM stdin;` block, one line per row (COPY's text
/// format escapes newlines in values) up to `\.`. A full read of the data:
/// what a restore would need is checked, not only the table of contents.
async fn rows_in(dump: &Path, table: &str) -> Result<i64, String> {
    client(
        "pg_restore",
        None,
        &["--data-only".into(), "--file=-".into(), dump.into()],
        CopyCounter::new(table),
        CopyCounter::line,
    )
    .await?
    .rows()
}

/// Counts the rows of `table`'s COPY blocks in pg_restore's SQL output.
struct CopyCounter {
    table: String,
    inside: bool,
    blocks: u32,
    rows: i64,
    /// The target of a COPY block of another table, if any.
    other: Option<String>,
}

impl CopyCounter {
    fn new(table: &str) -> Self {
        CopyCounter {
            table: table.to_string(),
            inside: false,
            blocks: 0,
            rows: 0,
            other: None,
        }
    }

    fn line(&mut self, line: &[u8]) {
        if self.inside {
            match line {
                b"\\.\n" | b"\\." => self.inside = false,
                _ => self.rows += 1,
            }
        } else if let Some(rest) = line.strip_prefix(b"COPY ") {
            self.inside = true;
            let target = String::from_utf8_lossy(rest);
            let target = target.split_whitespace().next().unwrap_or_default();
            let ours =
                target.rsplit('.').next().map(|t| t.trim_matches('"')) == Some(self.table.as_str());
            match ours {
                true => self.blocks += 1,
                false => self.other = Some(target.to_string()),
            }
        }
    }

    fn rows(self) -> Result<i64, String> {
        if let Some(other) = self.other {
            return Err(format!(
                "it holds the data of {other}, not only of {}",
                self.table
            ));
        }
        if self.inside {
            return Err("its data ends inside a COPY block".to_string());
        }
        match self.blocks {
            1 => Ok(self.rows),
            n => Err(format!(
                "it holds {n} blocks of data of {}, not 1",
                self.table
            )),
        }
    }
}

/// Runs `tool` (pg_dump or pg_restore, against `url`'s database or offline)
/// to its end, handing each line of its standard output to `on_line` with
/// `state`, and gives `state` back; a failure's message is its standard
/// error, with `url`'s password scrubbed. The one place rotation starts a
/// process, through `super::tools`: the password in PGPASSWORD, never on the
/// command line, and the child stopped with rez-db however it ends.
async fn client<S: Send + 'static>(
    tool: &str,
    url: Option<&RedactedUrl>,
    args: &[OsString],
    state: S,
    on_line: fn(&mut S, &[u8]),
) -> Result<S, String> {
    let mut cmd = super::tools::command(tool, url);
    cmd.args(args);
    let (output, state) = super::tools::run_lines(cmd, state, on_line)
        .await
        .map_err(|e| {
            format!(
                "cannot run {tool}: {e} (install the PostgreSQL client of the server's major version)"
            )
        })?;
    if output.status.success() {
        return Ok(state);
    }
    let message = format!(
        "{tool} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr).trim()
    );
    Err(url.map_or_else(|| message.clone(), |u| u.scrub(&message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_table_data_entry_of_a_listing() {
        let line = "4509; 0 295909 TABLE DATA public orders_2026_12 postgres\n";
        assert!(lists_data_of(line, "orders_2026_12"));
        assert!(!lists_data_of(line, "orders_2026_1"));
        assert!(!lists_data_of(
            "250; 1259 295909 TABLE public orders_2026_12 postgres",
            "orders_2026_12"
        ));
    }

    #[test]
    fn counts_the_rows_of_the_table_copy_block() {
        let count = |text: &str| {
            let mut c = CopyCounter::new("t");
            for line in text.split_inclusive('\n') {
                c.line(line.as_bytes());
            }
            c.rows()
        };
        let dump = "SET x = 1;\nCOPY public.t (a, b) FROM stdin;\n1\tx\\ny\n2\t\\N\n\\.\n\n";
        assert_eq!(count(dump), Ok(2));
        assert_eq!(count("COPY public.t (a) FROM stdin;\n\\.\n"), Ok(0));
        assert!(
            count("COPY public.t (a) FROM stdin;\n1\n").is_err(),
            "cut short"
        );
        assert!(count("SET x = 1;\n").is_err(), "no data");
        assert!(count("COPY public.u (a) FROM stdin;\n1\n\\.\n").is_err());
    }
}
