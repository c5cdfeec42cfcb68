//! The Redis part of a backup: every key under the configured prefix, with
//! its DUMP payload (Redis's own serialisation: type, encoding and value,
//! exactly) and its remaining time to live, in `redis/keys.bin`; restored with
//! RESTORE and the same remaining TTL.
//!
//! Keys are found with SCAN (never KEYS, which blocks the server) and each
//! SCAN page is read with one pipeline of DUMP and PTTL; the file is written
//! as the pages come, so memory holds a few pages and a fingerprint per key,
//! never the keyspace. Key names are stored without the prefix, so a
//! backup can be restored under another `--redis-key-prefix`.
//!
//! On a Redis Cluster, every master that serves slots is scanned (so the
//! backup holds every key, or the run fails naming the node that did not
//! answer: never a backup of part of the keyspace), each master's pages are
//! read from that master (a key whose slot moved meanwhile is asked of its
//! new owner), keys are restored in single-slot pipelines routed to each
//! slot's owner, and the
//! cluster's shape at backup time goes into the manifest. `keys.bin` holds
//! key names, not nodes, so a backup restores into a cluster of any shape or
//! into a single server, and the other way round.
//!
//! `keys.bin` layout, all integers big-endian: the magic line `REZRDB1\n`, then
//! per key: u32 name length, name, i64 PTTL in milliseconds (-1: no expiry),
//! u32 payload length, payload. With `--compress` the same bytes are gzipped
//! into `keys.bin.gz`.

use std::io::{self, Read, Write};
use std::path::Path;

use super::io_err;
use super::stream::{Compression, Sink, Stored};
use crate::config::names::glob_literal;
use crate::error::{CommandError, Result};
use crate::store::lease::REDIS_KEY_STEM;
use crate::store::redis::{cluster, Redis, ScanBudget, LAYOUT_KEY};

pub const FILE: &str = "keys.bin";
const MAGIC: &[u8] = b"REZRDB1\n";
/// Keys per pipelined round trip.
const BATCH: usize = 500;

/// The SCAN pattern of every key under the prefix, and the stem of rez-db's
/// leases (`rez-db:lock:*`) under it: not data, never backed up, counted or
/// cleared.
fn keyspace(r: &Redis) -> (String, Vec<u8>) {
    let pattern = format!("{}*", glob_literal(r.prefix()));
    (
        pattern,
        format!("{}{REDIS_KEY_STEM}", r.prefix()).into_bytes(),
    )
}

/// Every data key under the prefix (full names, leases left out), by SCAN of
/// every master.
async fn scan_all(r: &mut Redis) -> Result<Vec<Vec<u8>>> {
    let (pattern, leases) = keyspace(r);
    let budget = ScanBudget {
        max_keys: usize::MAX,
        per_call: BATCH,
        pause: std::time::Duration::ZERO,
    };
    let mut keys = r.scan(&pattern, budget).await?;
    keys.retain(|k| !k.starts_with(&leases));
    Ok(keys)
}

/// How many data keys sit under the prefix (rez-db's layout marker does not count).
pub async fn occupied(r: &mut Redis) -> Result<usize> {
    let marker = format!("{}{LAYOUT_KEY}", r.prefix()).into_bytes();
    Ok(scan_all(r).await?.iter().filter(|k| **k != marker).count())
}

/// What a dump wrote: how many keys, and on a cluster its masters with the
/// keys each held.
pub struct Dump {
    pub keys: u64,
    pub masters: Option<Vec<Master>>,
}

/// A master of the cluster a backup was taken from, for the manifest.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Master {
    /// `host:port` at backup time.
    pub node: String,
    /// Its slot ranges (`0-5460`).
    pub slots: String,
    /// Its replicas (`host:port`).
    #[serde(default)]
    pub replicas: Vec<String>,
    /// The keys of the backup that lived on it.
    pub keys: u64,
}

/// Writes every data key under the prefix (leases left out) into `path` as
/// the pages of SCAN come.
pub async fn dump(r: &mut Redis, path: &Path, compression: Compression) -> Result<Dump> {
    let topology = r.topology().await?;
    let (pattern, leases) = keyspace(r);
    let prefix_len = r.prefix().len();
    let mut out = Sink::create(path, compression)?;
    out.write_all(MAGIC).map_err(|e| io_err(path, e))?;
    let mut written = 0;
    let mut per_master: std::collections::BTreeMap<String, u64> = Default::default();
    r.dump_each(&pattern, BATCH, |key| {
        if key.key.starts_with(&leases) {
            return Ok(());
        }
        let name = &key.key[prefix_len..];
        let record = [
            &(name.len() as u32).to_be_bytes()[..],
            name,
            &key.pttl.to_be_bytes(),
            &(key.payload.len() as u32).to_be_bytes(),
            &key.payload,
        ];
        for part in record {
            out.write_all(part).map_err(|e| io_err(path, e))?;
        }
        written += 1;
        if let Some(owner) = topology
            .as_ref()
            .and_then(|t| t.owner(cluster::slot(&key.key)))
        {
            *per_master.entry(owner.addr.clone()).or_default() += 1;
        }
        Ok(())
    })
    .await?;
    out.close(path)?;
    let masters = topology.map(|t| {
        t.serving()
            .map(|m| Master {
                node: m.addr.clone(),
                slots: m.slot_ranges(),
                replicas: t.replicas_of(m).map(|n| n.addr.clone()).collect(),
                keys: per_master.get(&m.addr).copied().unwrap_or(0),
            })
            .collect()
    });
    Ok(Dump {
        keys: written,
        masters,
    })
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

/// Deletes every key under the prefix (the target of `restore --force`),
/// one UNLINK per key (a multi-key UNLINK would span slots on a cluster).
pub async fn clear(r: &mut Redis) -> Result<()> {
    let keys = scan_all(r).await?;
    r.per_key(&keys, 1, |pipe, _, k| {
        pipe.cmd("UNLINK").arg(k);
    })
    .await?;
    Ok(())
}

/// Restores `path` under the prefix: RESTORE with the remaining TTL, REPLACE
/// (the target was checked empty, or cleared under --force; only the layout
/// marker can already exist), each key to its slot's master. Returns how
/// many keys.
pub async fn restore(r: &mut Redis, path: &Path, stored: &Stored) -> Result<u64> {
    let bad = |e: io::Error| CommandError::failed(format!("cannot read {}: {e}", path.display()));
    let mut input = stored.open(path)?;
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
        let mut batch = Vec::new();
        while batch.len() < BATCH * 8 {
            let Some(rec) = read_record(&mut input).map_err(bad)? else {
                break;
            };
            batch.push(rec);
        }
        if batch.is_empty() {
            break;
        }
        let keys: Vec<Vec<u8>> = batch
            .iter()
            .map(|rec| [prefix.as_slice(), &rec.name].concat())
            .collect();
        r.per_key(&keys, 1, |pipe, i, key| {
            pipe.cmd("RESTORE")
                .arg(key)
                .arg(batch[i].pttl.max(0))
                .arg(&batch[i].payload)
                .arg("REPLACE");
        })
        .await?;
        restored += batch.len() as u64;
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
