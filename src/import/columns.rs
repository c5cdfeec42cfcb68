//! The target table's columns, from the catalog (information_schema), and
//! the file's header mapped onto them (`--map`): every name a user gives is
//! checked against the catalog here, so none is ever pasted into SQL unchecked.

use sqlx::postgres::PgConnection;

use super::check::{Column, SqlType};
use super::tables::{self, TableRules};
use crate::config::RedactedUrl;
use crate::error::{CommandError, Result};
use crate::store::pg;

/// (name, data_type, udt_name, char length, precision, scale, NOT NULL, has a default)
type CatalogRow = (
    String,
    String,
    String,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    bool,
    bool,
);

/// The rules of `table`; an unknown or unsupported table is exit 2.
pub fn rules_for(table: &str) -> Result<&'static TableRules> {
    tables::find(table).ok_or_else(|| {
        CommandError::usage(format!("import-csv cannot load `{table}`"))
            .with_hint(format!("import-csv loads: {}", tables::names().join(", ")))
    })
}

/// The table's columns, from the catalog; an unknown or unsupported table is exit 2.
pub(super) async fn catalog(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    table: &str,
) -> Result<(&'static TableRules, Vec<CatalogColumn>)> {
    let rows: Vec<CatalogRow> = sqlx::query_as(
        "SELECT column_name::text, data_type::text, udt_name::text, character_maximum_length::int, \
                    numeric_precision::int, numeric_scale::int, is_nullable = 'NO', \
                    column_default IS NOT NULL \
             FROM information_schema.columns \
             WHERE table_schema = 'public' AND table_name = $1 ORDER BY ordinal_position",
    )
    .bind(table)
    .fetch_all(&mut *conn)
    .await
    .map_err(|e| pg::error(url, e))?;
    if rows.is_empty() {
        return Err(CommandError::usage(format!(
            "there is no table `{table}` in the database {url}"
        ))
        .with_hint(format!("import-csv loads: {}", tables::names().join(", "))));
    }
    let rules = rules_for(table)?;
    let columns = rows
        .into_iter()
        .map(
            |(name, ty, udt, len, precision, scale, not_null, has_default)| {
                let sql_type = SqlType::from_catalog(&ty, len, precision, scale);
                CatalogColumn {
                    unsupported: sql_type.is_none().then(|| ty.clone()),
                    column: Column::new(
                        rules.name,
                        &name,
                        sql_type.unwrap_or(SqlType::Text),
                        not_null,
                    ),
                    udt,
                    required: not_null && !has_default,
                }
            },
        )
        .collect();
    Ok((rules, columns))
}

/// One column of the table as the catalog describes it.
pub(super) struct CatalogColumn {
    pub(super) column: Column,
    /// The type's name in pg_type (`uuid`, `varchar`...), for array casts.
    pub(super) udt: String,
    /// NOT NULL without a default: the file must fill it.
    pub(super) required: bool,
    /// The SQL type, when import-csv cannot check it (the column may not be mapped).
    pub(super) unsupported: Option<String>,
}

/// Maps the header onto the table's columns; every name is checked against
/// the catalog. Returns the file's columns in header order.
pub(super) fn map_header(
    file: &str,
    table: &str,
    header: &[String],
    maps: &[(String, String)],
    columns: &[CatalogColumn],
) -> Result<Vec<Column>> {
    for (from, _) in maps {
        if !header.iter().any(|h| h == from) {
            return Err(CommandError::usage(format!(
                "--map {from}=...: the header of {file} has no column `{from}`"
            ))
            .with_hint(format!("the header names: {}", header.join(", "))));
        }
    }
    let names: Vec<&str> = columns.iter().map(|c| c.column.name.as_str()).collect();
    let mut mapped: Vec<Column> = Vec::with_capacity(header.len());
    for h in header {
        let target = maps
            .iter()
            .find(|(from, _)| from == h)
            .map_or(h.as_str(), |(_, to)| to.as_str());
        let Some(i) = names.iter().position(|n| *n == target) else {
            return Err(CommandError::usage(format!(
                "{file}:1: column `{h}` is not a column of `{table}`"
            ))
            .with_hint(format!(
                "rename it with --map {h}=COLUMN; the columns of `{table}` are: {}",
                names.join(", ")
            )));
        };
        let col = &columns[i].column;
        if let Some(ty) = &columns[i].unsupported {
            return Err(CommandError::usage(format!(
                "{file}:1: column `{target}` has type {ty}, which import-csv cannot check"
            ))
            .with_hint("leave the column out of the file (it keeps its default)"));
        }
        if mapped.iter().any(|c| c.name == target) {
            return Err(CommandError::usage(format!(
                "{file}:1: column `{target}` appears twice in the header (after --map)"
            )));
        }
        mapped.push(col.clone());
    }
    let missing: Vec<&str> = columns
        .iter()
        .filter(|c| c.required && !mapped.iter().any(|m| m.name == c.column.name))
        .map(|c| c.column.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(CommandError::usage(format!(
            "{file}:1: the header lacks `{}`, NOT NULL in `{table}` without a default",
            missing.join("`, `")
        ))
        .with_hint("add the column, or --map the file's name for it"));
    }
    Ok(mapped)
}
