//! The PostgreSQL part of a backup: `pg_dump --format=directory --jobs=2`
//! into `postgres/`, and `pg_restore --jobs=2` back.
//!
//! pg_dump and pg_restore are the floor we measure against and the format a
//! DBA can read without us, so we run them rather than reimplement them. The
//! password goes to them through PGPASSWORD, never on the command line
//! (where `ps` would show it), and their messages are scrubbed before they
//! reach the user.
//!
//! They never outlive rez-db, however it ends: see `store::pg::tools`, which
//! runs them.

use std::path::Path;
use std::process::Command;

use sqlx::postgres::PgConnection;

use super::stream::Compression;
use crate::secret::RedactedUrl;
use crate::store::pg::{quote_ident, tools};

/// Parallel jobs for pg_dump and pg_restore. Two keeps the load on a
/// production server modest; the benchmark compares against the same -j2.
pub const JOBS: u32 = 2;

/// The major version of a client tool (`pg_dump (PostgreSQL) 15.20 (Debian ...)` -> 15).
pub fn parse_major(version_line: &str) -> Option<u32> {
    let after = version_line.split(')').nth(1)?.trim();
    after
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|s| s.parse().ok())
}

/// The full `--version` line of `tool`, or why it cannot run.
pub fn tool_version(tool: &str) -> Result<String, String> {
    let out = Command::new(tool).arg("--version").output().map_err(|e| {
        format!("cannot run {tool}: {e}; install the PostgreSQL client of the server's major version (Debian: postgresql-client-15)")
    })?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

/// The server's version string and major version.
pub async fn server_version(conn: &mut PgConnection) -> Result<(String, u32), sqlx::Error> {
    let (text, num): (String, String) = sqlx::query_as(
        "SELECT current_setting('server_version'), current_setting('server_version_num')",
    )
    .fetch_one(conn)
    .await?;
    let major = num.parse::<u32>().unwrap_or(0) / 10000;
    Ok((text, major))
}

/// Checks that `tool`'s major version equals the server's: an older pg_dump
/// refuses a newer server, and a newer one writes archives an older
/// pg_restore cannot read. Returns the tool's version line.
pub fn check_tool(tool: &str, server: &str, server_major: u32) -> Result<String, String> {
    let line = tool_version(tool)?;
    match parse_major(&line) {
        Some(major) if major == server_major => Ok(line),
        Some(major) => Err(format!(
            "{tool} is version {major} (`{line}`) but the server runs PostgreSQL {server}: their major versions must match; \
             install postgresql-client-{server_major} and put its bin directory first on PATH"
        )),
        None => Err(format!("cannot read the version of {tool} from `{line}`")),
    }
}

/// What the target database holds, to refuse restoring over data: the
/// tables in `public` that have rows, and whether migrations were applied.
pub async fn occupied(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut with_rows = Vec::new();
    for table in tables {
        let sql = format!(
            "SELECT EXISTS (SELECT 1 FROM public.{})",
            quote_ident(&table)
        );
        if sqlx::query_scalar::<_, bool>(&sql)
            .fetch_one(&mut *conn)
            .await?
        {
            with_rows.push(table);
        }
    }
    let mut found = Vec::new();
    let applied = crate::store::pg::history::read(conn).await?;
    if !applied.is_empty() {
        found.push(format!("{} migration(s) applied", applied.len()));
    }
    if !with_rows.is_empty() {
        let shown = with_rows
            .iter()
            .take(3)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ");
        let more = if with_rows.len() > 3 { ", ..." } else { "" };
        found.push(format!(
            "{} table(s) with rows: {shown}{more}",
            with_rows.len()
        ));
    }
    Ok(found)
}

/// Runs `cmd` (see `pg::tools`) and returns its stdout; a failure is
/// `tool` and its exit status with its stderr, scrubbed of secrets.
async fn run(url: &RedactedUrl, tool: &str, cmd: Command) -> Result<Vec<u8>, String> {
    let out = tools::run(cmd)
        .await
        .map_err(|e| format!("cannot run {tool}: {e} (install the PostgreSQL client)"))?;
    if out.status.success() {
        return Ok(out.stdout);
    }
    Err(url.scrub(&format!(
        "{tool} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// Dumps the database of `url` into `folder`, which must not exist yet
/// (pg_dump's directory format creates it). One consistent snapshot: the
/// parallel workers share the leader's exported snapshot. pg_dump compresses
/// the table data itself (`<oid>.dat.gz`) or, with `--compress=0`, writes it
/// plain; pg_restore reads either without being told.
pub async fn dump(
    url: &RedactedUrl,
    folder: &Path,
    compression: Compression,
) -> Result<(), String> {
    let mut cmd = tools::command("pg_dump", Some(url));
    cmd.arg("--format=directory")
        .arg(format!("--jobs={JOBS}"))
        .arg(format!("--compress={}", compression.pg_dump_level()))
        .arg(format!("--file={}", folder.display()));
    run(url, "pg_dump", cmd).await.map(drop)
}

/// Restores `folder` into the (freshly created) database of `url`, stopping
/// at the first error so a failed restore is never reported as a success.
///
/// pg_restore's sessions commit asynchronously (`synchronous_commit=off`):
/// it commits every table, index, constraint and grant of the archive on its
/// own, and waiting for a WAL flush at each of those hundreds of commits is
/// time spent on nothing. Nothing is lost by it: the database is new and
/// nobody else's until the restore ends; a server crash in the middle fails
/// the restore, which is then run again (`--force`); and the caller
/// commits synchronously once pg_restore has ended ([`flush_wal`]), which
/// flushes every commit before it.
pub async fn restore(url: &RedactedUrl, folder: &Path) -> Result<(), String> {
    let mut cmd = tools::command("pg_restore", Some(url));
    let options = std::env::var("PGOPTIONS").unwrap_or_default();
    cmd.env("PGOPTIONS", format!("{options} -c synchronous_commit=off"))
        .arg(format!("--jobs={JOBS}"))
        .arg("--exit-on-error")
        .arg(folder);
    run(url, "pg_restore", cmd).await.map(drop)
}

/// Commits a transaction with an id, synchronously, on `conn`: its commit
/// record's WAL flush covers every earlier commit, the asynchronous ones of
/// [`restore`] included. Once it returns, the restored data is durable.
pub async fn flush_wal(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(
        "BEGIN; SET LOCAL synchronous_commit = on; SELECT pg_catalog.pg_current_xact_id(); COMMIT",
    )
    .execute(conn)
    .await
    .map(drop)
}

/// The archive's file that `pg_restore --list` reads: its table of contents.
pub const TOC: &str = "toc.dat";

/// Reads the archive's table of contents with `pg_restore --list`, which
/// connects to no database: an archive that pg_restore cannot read is
/// refused here, during verification, before anything is dropped.
/// Returns the listing, whose header names the archive's format version.
pub async fn list(url: &RedactedUrl, folder: &Path) -> Result<String, String> {
    let mut cmd = tools::command("pg_restore", None);
    cmd.arg("--list").arg(folder);
    run(url, "pg_restore --list", cmd)
        .await
        .map(|out| String::from_utf8_lossy(&out).into_owned())
        .map_err(|e| {
            format!(
                "pg_restore cannot read the archive {}: {e}",
                folder.join(TOC).display()
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_client_major_versions() {
        assert_eq!(
            parse_major("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some(15)
        );
        assert_eq!(parse_major("pg_restore (PostgreSQL) 9.6.24"), Some(9));
        assert_eq!(parse_major("pg_dump (PostgreSQL) 17beta1"), Some(17));
        assert_eq!(parse_major("nonsense"), None);
    }
}
