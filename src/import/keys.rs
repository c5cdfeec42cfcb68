//! Unique keys: what identifies a row (one column, or several), how the
//! file's values are remembered (by fingerprint, in bounded memory) and how
//! a batch of them is looked up in the table.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};

use sqlx::postgres::PgConnection;

use super::check::{canonical_sql, SqlType};
use crate::store::pg::quote_ident;

/// Separates the parts of a composite key in its text form (SQL: `chr(31)`).
pub(super) const KEY_SEP: char = '\u{1f}';

/// 96 bits of two independently keyed SipHashes of a value. The file's
/// unique values are remembered by fingerprint, whatever their length: as
/// three `u32`s (4-byte aligned) an entry with its line takes 16 bytes, so
/// millions of rows stay within a bounded footprint; a false "duplicate"
/// would need a 96-bit collision (about 1 in 10^16 at 20 million values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fp([u32; 3]);

impl Hash for Fp {
    /// A fingerprint is already a keyed hash: its first 64 bits are the
    /// table's hash as they are.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(u64::from(self.0[0]) | (u64::from(self.0[1]) << 32));
    }
}

/// The hasher of [`Fp`] keys: passes their 64 bits through.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `Fp` is hashed with this; anything else still gets a hash.
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

pub(crate) type FpMap<V> = HashMap<Fp, V, BuildHasherDefault<PassThrough>>;
pub(crate) type FpSet = HashSet<Fp, BuildHasherDefault<PassThrough>>;

#[derive(Default)]
pub(crate) struct Fingerprint(RandomState, RandomState);

impl Fingerprint {
    pub(crate) fn of(&self, value: &str) -> Fp {
        let (a, b) = (self.0.hash_one(value), self.1.hash_one(value));
        Fp([a as u32, (a >> 32) as u32, b as u32])
    }
}

impl Fp {
    /// As a UUID (the 96 bits, then zeros): the fingerprint's type on the
    /// server when the values spill (see `seen`).
    pub(crate) fn to_uuid(self) -> uuid::Uuid {
        let [a, b, c] = self.0.map(u128::from);
        uuid::Uuid::from_u128((a << 96) | (b << 64) | (c << 32))
    }
}

/// A unique key of the table, as far as the file fills it.
pub(super) struct UniqueKey {
    /// `merchant_id, slug`
    pub(super) label: String,
    /// Per part: (index in the file's columns, column name, udt, type).
    pub(super) parts: Vec<(usize, String, String, SqlType)>,
}

/// For `key`, the rows of `table` holding one of `values` (per part of the
/// key, one list; canonical text): canonical key -> canonical upsert key
/// (`natural`: per part, its column and type) of the row holding it.
pub(super) async fn owners(
    lookup: &mut PgConnection,
    table: &str,
    key: &UniqueKey,
    natural: &[(&str, &SqlType)],
    values: &[Vec<&str>],
) -> Result<HashMap<String, Option<String>>, sqlx::Error> {
    if values.first().is_none_or(|v| v.is_empty()) {
        return Ok(HashMap::new());
    }
    let sep = "chr(31)";
    let found_expr: Vec<String> = key
        .parts
        .iter()
        .map(|(_, n, _, ty)| canonical_sql(ty, &quote_ident(n)))
        .collect();
    let natural_expr: Vec<String> = natural
        .iter()
        .map(|(n, ty)| canonical_sql(ty, &quote_ident(n)))
        .collect();
    let casts: Vec<String> = key
        .parts
        .iter()
        .enumerate()
        .map(|(i, (_, _, udt, _))| format!("${}::text[]::{}[]", i + 1, quote_ident(udt)))
        .collect();
    let names: Vec<String> = key.parts.iter().map(|(_, n, ..)| quote_ident(n)).collect();
    // Names from the catalog and TABLES, quoted anyway.
    let sql = format!(
        "SELECT concat_ws({sep}, {found}), concat_ws({sep}, {natural}) FROM {table} \
         WHERE ({names}) IN (SELECT * FROM unnest({casts}))",
        found = found_expr.join(", "),
        natural = natural_expr.join(", "),
        names = names.join(", "),
        casts = casts.join(", "),
    );
    let mut query = sqlx::query_as::<_, (String, Option<String>)>(&sql);
    for v in values {
        query = query.bind(v);
    }
    Ok(query.fetch_all(lookup).await?.into_iter().collect())
}
