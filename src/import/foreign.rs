//! Foreign keys of an imported table: every single-column foreign key the
//! catalog (`pg_constraint`) declares, plus the checked references of
//! docs/schema.md ("## Checked references": columns that point into a
//! partitioned table and are no foreign key, so PostgreSQL would take any
//! value). A value must name a row of the parent table, either already in the
//! database (batched `= ANY($1)` lookups on the second connection) or loaded
//! earlier by this import: earlier in the file, or in an earlier file of a
//! manifest, which the second connection cannot see before the commit.
//!
//! Loaded parent keys are remembered by 128-bit fingerprint, only for the
//! parent columns some imported table references, so memory stays bounded.

use std::collections::{HashMap, HashSet};

use sqlx::postgres::PgConnection;

use super::keys::{Fingerprint, FpSet};
use crate::store::pg::quote_ident;

/// docs/schema.md, read at build time: its table of checked references is the
/// one list (the schema test holds the migrations to it too).
const SCHEMA_DOC: &str = include_str!("../../docs/schema.md");

/// One reference from `column` to `parent(parent_column)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub column: String,
    pub parent: String,
    pub parent_column: String,
    /// The parent column's SQL type (`format_type`), for the lookup's cast.
    pub parent_type: String,
    /// false for a checked reference (no foreign key in the database).
    pub enforced: bool,
}

/// (table, column, parent, parent column) of each row of the "## Checked
/// references" table of `doc`: `| \`payments.order_id\` | \`orders.id\` | why |`.
pub fn checked_references(doc: &str) -> Vec<(String, String, String, String)> {
    let Some(start) = doc.find("\n## Checked references") else {
        return Vec::new();
    };
    let section = &doc[start + 1..];
    let section = section[1..]
        .find("\n## ")
        .map_or(section, |end| &section[..end + 1]);
    let dotted = |cell: &str| {
        let cell = cell.trim().trim_matches('`');
        cell.split_once('.')
            .filter(|(t, c)| !t.is_empty() && !c.is_empty() && !cell.contains(' '))
            .map(|(t, c)| (t.to_string(), c.to_string()))
    };
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            let (table, column) = dotted(cells.first()?)?;
            let (parent, parent_column) = dotted(cells.get(1)?)?;
            Some((table, column, parent, parent_column))
        })
        .collect()
}

/// The references of `table`: its foreign keys from the catalog, then its
/// checked references.
pub async fn references(
    conn: &mut PgConnection,
    table: &str,
) -> Result<Vec<Reference>, sqlx::Error> {
    let rows: Vec<(String, String, String, String)> = sqlx::query_as(
        "SELECT a.attname::text, p.relname::text, pa.attname::text, format_type(pa.atttypid, pa.atttypmod) \
         FROM pg_constraint c \
         JOIN pg_class t ON t.oid = c.conrelid JOIN pg_namespace n ON n.oid = t.relnamespace \
         JOIN pg_class p ON p.oid = c.confrelid \
         JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1] \
         JOIN pg_attribute pa ON pa.attrelid = c.confrelid AND pa.attnum = c.confkey[1] \
         WHERE c.contype = 'f' AND n.nspname = 'public' AND t.relname = $1 \
           AND cardinality(c.conkey) = 1 AND c.conparentid = 0 \
         ORDER BY c.conname",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await?;
    let mut out: Vec<Reference> = rows
        .into_iter()
        .map(|(column, parent, parent_column, parent_type)| Reference {
            column,
            parent,
            parent_column,
            parent_type,
            enforced: true,
        })
        .collect();
    for (t, column, parent, parent_column) in checked_references(SCHEMA_DOC) {
        if t != table {
            continue;
        }
        let parent_type: String = sqlx::query_scalar(
            "SELECT format_type(a.atttypid, a.atttypmod) FROM pg_attribute a \
             WHERE a.attrelid = ('public.' || quote_ident($1))::regclass AND a.attname = $2",
        )
        .bind(&parent)
        .bind(&parent_column)
        .fetch_one(&mut *conn)
        .await?;
        out.push(Reference {
            column,
            parent,
            parent_column,
            parent_type,
            enforced: false,
        });
    }
    Ok(out)
}

/// Parent keys loaded by this import, per (table, column) someone references.
#[derive(Default)]
pub struct Loaded {
    wanted: HashMap<(String, String), FpSet>,
    fingerprint: Fingerprint,
}

impl Loaded {
    /// Remember loaded values of `parent.column` from now on.
    pub fn want(&mut self, parent: &str, column: &str) {
        self.wanted
            .entry((parent.to_string(), column.to_string()))
            .or_default();
    }

    /// The columns of `table` whose loaded values are wanted.
    pub fn wanted_columns(&self, table: &str) -> Vec<String> {
        self.wanted
            .keys()
            .filter(|(t, _)| t == table)
            .map(|(_, c)| c.clone())
            .collect()
    }

    pub fn record(&mut self, table: &str, column: &str, value: &str) {
        let f = self.fingerprint.of(value);
        if let Some(set) = self
            .wanted
            .get_mut(&(table.to_string(), column.to_string()))
        {
            set.insert(f);
        }
    }

    pub fn contains(&self, table: &str, column: &str, value: &str) -> bool {
        self.wanted
            .get(&(table.to_string(), column.to_string()))
            .is_some_and(|set| set.contains(&self.fingerprint.of(value)))
    }
}

/// Which of `values` (canonical text) exist in `r.parent`.
pub async fn existing(
    conn: &mut PgConnection,
    r: &Reference,
    values: &[&str],
) -> Result<HashSet<String>, sqlx::Error> {
    if values.is_empty() {
        return Ok(HashSet::new());
    }
    // Names and type come from the catalog (and docs/schema.md, checked
    // against it above); quoted anyway.
    let sql = format!(
        "SELECT {col}::text FROM public.{parent} WHERE {col} = ANY($1::text[]::{ty}[])",
        col = quote_ident(&r.parent_column),
        parent = quote_ident(&r.parent),
        ty = r.parent_type,
    );
    let found: Vec<String> = sqlx::query_scalar(&sql)
        .bind(values)
        .fetch_all(conn)
        .await?;
    Ok(found.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_checked_references_of_the_schema_doc() {
        let refs = checked_references(SCHEMA_DOC);
        let reviews = (
            "reviews".to_string(),
            "order_id".to_string(),
            "orders".to_string(),
            "id".to_string(),
        );
        assert!(refs.contains(&reviews), "{refs:?}");
        assert!(refs.len() >= 3);
        let doc = "x\n## Checked references\n| a | b |\n|---|---|\n| `t.c` | `p.id` | why |\n## Next\n| `u.c` | `p.id` | |\n";
        assert_eq!(
            checked_references(doc),
            [("t".into(), "c".into(), "p".into(), "id".into())]
        );
    }

    #[test]
    fn remembers_only_wanted_columns() {
        let mut loaded = Loaded::default();
        loaded.want("users", "id");
        loaded.record("users", "id", "a");
        loaded.record("merchants", "id", "a");
        assert!(loaded.contains("users", "id", "a"));
        assert!(!loaded.contains("users", "id", "b"));
        assert!(!loaded.contains("merchants", "id", "a"));
    }
}
