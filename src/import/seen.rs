//! The unique values an import has loaded, to find a file's duplicates: in
//! memory, 16 bytes a value ([`Fp`] and its line), up to a limit; past it
//! they spill into a temporary table of the lookup connection, so that
//! memory stays bounded whatever the file's size. Only loaded rows' values
//! are remembered: a row refused for another reason does not make a later
//! row with the same value a duplicate.

use std::collections::HashMap;

use sqlx::postgres::PgConnection;
use sqlx::Connection;
use uuid::Uuid;

use super::keys::{Fp, FpMap};

/// Values kept in memory before they spill: 16 bytes each plus the hash
/// tables' slack (up to 2x), about 200 MB at most.
pub const IN_MEMORY_VALUES: usize = 6_000_000;

/// The values one file gave one unique key of a table: fingerprint -> the
/// line of its first row (saturated at `u32::MAX`, past any real file's
/// 4 billionth line).
pub(super) struct Seen {
    pub(super) table: &'static str,
    pub(super) label: String,
    pub(super) file_no: usize,
    lines: FpMap<u32>,
}

impl Seen {
    pub(super) fn new(table: &'static str, label: &str, file_no: usize) -> Self {
        Seen {
            table,
            label: label.to_string(),
            file_no,
            lines: FpMap::default(),
        }
    }

    pub(super) fn line(&self, f: &Fp) -> Option<u64> {
        self.lines.get(f).map(|&l| u64::from(l))
    }

    pub(super) fn insert(&mut self, f: Fp, line: u64) {
        self.lines
            .entry(f)
            .or_insert(u32::try_from(line).unwrap_or(u32::MAX));
    }

    pub(super) fn len(&self) -> usize {
        self.lines.len()
    }

    /// Makes room for `values` at once: growing a hash table doubles it,
    /// and the old and the new table live side by side while it copies.
    pub(super) fn expect(&mut self, values: usize) {
        self.lines.reserve(values.saturating_sub(self.lines.len()));
    }
}

/// The temporary table the values spill into (the lookup connection's own:
/// it goes with the connection).
const TABLE: &str = "pg_temp.rez_import_seen";

/// Moves every value of `seen` (slot = index in it) into a new temporary
/// table on `lookup`, and empties the maps.
pub(super) async fn spill(lookup: &mut PgConnection, seen: &mut [Seen]) -> Result<(), sqlx::Error> {
    // Before the session's first temporary table: the probes below read
    // its index from these buffers.
    sqlx::raw_sql(
        "SET temp_buffers = '64MB'; \
         CREATE TEMP TABLE rez_import_seen (fp uuid, slot integer, line bigint, PRIMARY KEY (fp, slot))",
    )
    .execute(&mut *lookup)
    .await?;
    for (slot, s) in seen.iter_mut().enumerate() {
        let entries = std::mem::take(&mut s.lines);
        let (fps, lines): (Vec<Fp>, Vec<u32>) = entries.into_iter().unzip();
        record(
            lookup,
            slot,
            &fps,
            &lines.into_iter().map(u64::from).collect::<Vec<_>>(),
        )
        .await?;
    }
    Ok(())
}

/// Remembers `fps` (with their lines) of `slot` in the spilled table.
pub(super) async fn record(
    lookup: &mut PgConnection,
    slot: usize,
    fps: &[Fp],
    lines: &[u64],
) -> Result<(), sqlx::Error> {
    // In pieces: one statement's arrays stay small whatever was in memory.
    for (fps, lines) in fps.chunks(100_000).zip(lines.chunks(100_000)) {
        let uuids: Vec<Uuid> = fps.iter().map(|f| f.to_uuid()).collect();
        let lines: Vec<i64> = lines.iter().map(|&l| l as i64).collect();
        sqlx::query(&format!(
            "INSERT INTO {TABLE} SELECT fp, $1, line FROM unnest($2::uuid[], $3::bigint[]) AS t(fp, line)"
        ))
        .bind(slot as i32)
        .bind(&uuids)
        .bind(&lines)
        .execute(&mut *lookup)
        .await?;
    }
    Ok(())
}

/// Which of `fps` are in the spilled table under one of `slots`: fingerprint
/// -> (slot, line).
pub(super) async fn probe(
    lookup: &mut PgConnection,
    slots: &[usize],
    fps: &[Fp],
) -> Result<HashMap<Uuid, (usize, u64)>, sqlx::Error> {
    if fps.is_empty() {
        return Ok(HashMap::new());
    }
    let slots: Vec<i32> = slots.iter().map(|&s| s as i32).collect();
    let uuids: Vec<Uuid> = fps.iter().map(|f| f.to_uuid()).collect();
    // Each value one probe of the index, whose leading column is the
    // fingerprint (led by the slot, the index was read whole for the slot:
    // 2M rows took 173 s). No sequential scan either, whatever the planner
    // guesses: nothing analyzes a temporary table, it has no statistics.
    let mut tx = Connection::begin(&mut *lookup).await?;
    sqlx::raw_sql("SET LOCAL enable_seqscan = off")
        .execute(&mut *tx)
        .await?;
    let found: Vec<(Uuid, i32, i64)> = sqlx::query_as(&format!(
        "SELECT fp, slot, line FROM {TABLE} WHERE fp = ANY($2) AND slot = ANY($1)"
    ))
    .bind(&slots)
    .bind(&uuids)
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(found
        .into_iter()
        .map(|(fp, slot, line)| (fp, (slot as usize, line as u64)))
        .collect())
}
