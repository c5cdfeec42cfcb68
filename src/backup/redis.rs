//! The Redis part of a backup: every key under the configured prefix, with
//! its DUMP payload (Redis's own serialisation: type, encoding and value,
//! exactly) and its remaining time to live, in `redis/keys.bin`; restored with
//! RESTORE and the same remaining TTL.
//!
//! Keys are found with SCAN (never KEYS, which blocks the server) and read in
//! pipelined batches; the file is written as it goes, so memory holds one
//! batch of values at a time. Key names are stored without the prefix, so a
//! backup can be restored under another `--redis-key-prefix`.
//!
//! `keys.bin` layout, all integers big-endian: the magic line `REZRDB1\n`, then
//! per key: u32 name length, name, i64 PTTL in milliseconds (-1: no expiry),
//! u32 payload length, payload. With `--compress` the same bytes are gzipped
//! into `keys.bin.gz`.

use std::io::{self, Read, Write};
use std::path::Path;

use super::io_err;
use super::stream::{self, Compression, Sink};
use crate::config::names::glob_literal;
use crate::error::{CommandError, Result};
use crate::store::lease::REDIS_KEY_STEM;
use crate::store::redis::{Redis, LAYOUT_KEY};

pub const FILE: &str = "keys.bin";
const MAGIC: &[u8] = b"REZRDB1\n";
/// Keys per pipelined round trip.
const BATCH: usize = 500;

/// Every key under the prefix (full names), by SCAN; rez-db's leases
/// (`rez-db:lock:*`) are not data: never backed up, counted or cleared.
async fn scan_all(r: &mut Redis) -> Result<Vec<Vec<u8>>> {
    let leases = format!("{}{REDIS_KEY_STEM}", r.prefix()).into_bytes();
    let pattern = format!("{}*", glob_literal(r.prefix()));
    let url = r.url.clone();
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<Vec<u8>>) = ::redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(BATCH)
            .query_async(r.connection())
            .await
            .map_err(|e| crate::store::redis::error(&url, e))?;
        keys.extend(batch);
        cursor = next;
        if cursor == 0 {
            break;
        }
    }
    keys.retain(|k| !k.starts_with(&leases));
    keys.sort();
    keys.dedup();
    Ok(keys)
}

/// How many data keys sit under the prefix (rez-db's layout marker does not count).
pub async fn occupied(r: &mut Redis) -> Result<usize> {
    let marker = format!("{}{LAYOUT_KEY}", r.prefix()).into_bytes();
    Ok(scan_all(r).await?.iter().filter(|k| **k != marker).count())
}

/// Writes every key under the prefix into `path`; returns how many.
pub async fn dump(r: &mut Redis, path: &Path, compression: Compression) -> Result<u64> {
    let keys = scan_all(r).await?;
    let url = r.url.clone();
    let prefix_len = r.prefix().len();
    let mut out = Sink::create(path, compression)?;
    out.write_all(MAGIC).map_err(|e| io_err(path, e))?;
    let mut written = 0;
    for chunk in keys.chunks(BATCH) {
        let mut pipe = ::redis::pipe();
        for k in chunk {
            pipe.cmd("DUMP").arg(k).cmd("PTTL").arg(k);
        }
        let replies: Vec<(Option<Vec<u8>>, i64)> = pipe
            .query_async(r.connection())
            .await
            .map_err(|e| crate::store::redis::error(&url, e))?;
        for (key, (payload, pttl)) in chunk.iter().zip(replies) {
            // Gone (expired or deleted) between SCAN and DUMP: not part of the backup.
            let Some(payload) = payload else { continue };
            if pttl == -2 {
                continue;
            }
            let name = &key[prefix_len..];
            let record = [
                &(name.len() as u32).to_be_bytes()[..],
                name,
                &pttl.to_be_bytes(),
                &(payload.len() as u32).to_be_bytes(),
                &payload,
            ];
            for part in record {
                out.write_all(part).map_err(|e| io_err(path, e))?;
            }
            written += 1;
        }
    }
    out.close(path)?;
    Ok(written)
}

/// One key of `keys.bin`.
struct Record {
    name: Vec<u8>,
    pttl: i64,
    payload: Vec<u8>,
}

fn read_record(input: &mut impl Read) -> io::Result<Option<Record>> {
    let mut len = [0u8; 4];
    match input.read_exact(&mut len) {
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        other => other?,
    }
    let mut name = vec![0u8; u32::from_be_bytes(len) as usize];
    input.read_exact(&mut name)?;
    let mut ttl = [0u8; 8];
    input.read_exact(&mut ttl)?;
    input.read_exact(&mut len)?;
    let mut payload = vec![0u8; u32::from_be_bytes(len) as usize];
    input.read_exact(&mut payload)?;
    Ok(Some(Record {
        name,
        pttl: i64::from_be_bytes(ttl),
        payload,
    }))
}

/// Deletes every key under the prefix (the target of `restore --force`).
pub async fn clear(r: &mut Redis) -> Result<()> {
    let url = r.url.clone();
    for chunk in scan_all(r).await?.chunks(BATCH) {
        let _: () = ::redis::cmd("UNLINK")
            .arg(chunk)
            .query_async(r.connection())
            .await
            .map_err(|e| crate::store::redis::error(&url, e))?;
    }
    Ok(())
}

/// Restores `path` under the prefix: RESTORE with the remaining TTL, REPLACE
/// (the target was checked empty, or cleared under --force; only the layout
/// marker can already exist). Returns how many keys.
pub async fn restore(r: &mut Redis, path: &Path, compression: Compression) -> Result<u64> {
    let url = r.url.clone();
    let bad = |e: io::Error| CommandError::failed(format!("cannot read {}: {e}", path.display()));
    let mut input = stream::open(path, compression)?;
    let mut magic = [0u8; 8];
    input.read_exact(&mut magic).map_err(bad)?;
    if magic != MAGIC {
        return Err(CommandError::failed(format!(
            "{} is not a rez-db Redis dump",
            path.display()
        )));
    }
    let prefix = r.prefix().as_bytes().to_vec();
    let mut restored = 0;
    loop {
        let mut pipe = ::redis::pipe();
        let mut n = 0;
        while n < BATCH {
            let Some(rec) = read_record(&mut input).map_err(bad)? else {
                break;
            };
            let key = [prefix.as_slice(), &rec.name].concat();
            pipe.cmd("RESTORE")
                .arg(key)
                .arg(rec.pttl.max(0))
                .arg(rec.payload)
                .arg("REPLACE")
                .ignore();
            n += 1;
        }
        if n == 0 {
            break;
        }
        pipe.query_async::<()>(r.connection())
            .await
            .map_err(|e| crate::store::redis::error(&url, e))?;
        restored += n as u64;
    }
    Ok(restored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_back_as_written() {
        let mut bytes = Vec::new();
        for part in [
            &3u32.to_be_bytes()[..],
            b"a:b",
            &1500i64.to_be_bytes(),
            &2u32.to_be_bytes(),
            b"xy",
        ] {
            bytes.extend_from_slice(part);
        }
        let mut input = bytes.as_slice();
        let rec = read_record(&mut input).unwrap().unwrap();
        assert_eq!(
            (rec.name.as_slice(), rec.pttl, rec.payload.as_slice()),
            (&b"a:b"[..], 1500, &b"xy"[..])
        );
        assert!(read_record(&mut input).unwrap().is_none());
    }
}
