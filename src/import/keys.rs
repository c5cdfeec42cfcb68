//! Unique keys: what identifies a row (one column, or several), how the
//! file's values are remembered (by fingerprint, in bounded memory) and how
//! a batch of them is looked up in the table.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use sqlx::postgres::PgConnection;

use super::check::{canonical_sql, SqlType};
use crate::store::pg::quote_ident;

/// Separates the parts of a composite key in its text form (SQL: `chr(31)`).
pub(super) const KEY_SEP: char = '\u{1f}';

/// 128 bits of two independently keyed SipHashes: the file's unique values
/// are remembered by fingerprint (24 bytes an entry with its line, whatever
/// the value's length), so millions of rows stay within a bounded footprint;
/// a false "duplicate" would need a 128-bit collision.
#[derive(Default)]
pub(crate) struct Fingerprint(RandomState, RandomState);

impl Fingerprint {
    pub(crate) fn of(&self, value: &str) -> u128 {
        (u128::from(self.0.hash_one(value)) << 64) | u128::from(self.1.hash_one(value))
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
