//! The target table's columns, from the catalog (information_schema), and
//! the file's header mapped onto them (`--map`): every name a user gives is
//! checked against the catalog here, so none is ever pasted into SQL unchecked.

use sqlx::postgres::PgConnection;

use super::check::{Column, SqlType};
use super::tables::{self, TableRules};
use crate::error::{CommandError, Remedy, Result};
use crate::secret::field;
use crate::secret::RedactedUrl;
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

/// The hint that lists a header's names: only the fields that look like column
/// names are quoted (a "header" may be the first line of any file, secrets
/// included), the others counted.
fn header_names(header: &[String]) -> String {
    let plausible = |h: &&String| {
        !h.is_empty()
            && h.len() <= 63
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | ' ' | '.'))
    };
    let names: Vec<&str> = header
        .iter()
        .filter(plausible)
        .map(String::as_str)
        .collect();
    let others = header.len() - names.len();
    match (names.is_empty(), others) {
        (true, _) => "the header names no column: its first line must name the columns".to_string(),
        (false, 0) => format!("the header names: {}", names.join(", ")),
        (false, n) => format!(
            "the header names: {} (and {n} fields that are no column names)",
            names.join(", ")
        ),
    }
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
            let from = field(from);
            return Err(CommandError::usage(format!(
                "--map {from}=...: the header of {file} has no column `{from}`"
            ))
            .with_hint(header_names(header)));
        }
    }
    let names: Vec<&str> = columns.iter().map(|c| c.column.name.as_str()).collect();
    let mut mapped: Vec<Column> = Vec::with_capacity(header.len());
    for h in header {
        let map = maps.iter().find(|(from, _)| from == h);
        let target = map.map_or(h.as_str(), |(_, to)| to.as_str());
        let Some(i) = names.iter().position(|n| *n == target) else {
            let columns = names.join(", ");
            // Name the value that is wrong, whole (as far as a message quotes a value).
            return Err(match map {
                Some(_) => CommandError::usage(format!(
                    "--map {}={}: `{}` is not a column of `{table}`",
                    field(h),
                    field(target),
                    field(target)
                ))
                .with_hint(format!("the columns of `{table}` are: {columns}")),
                None => CommandError::usage(format!(
                    "{file}:1: column `{}` is not a column of `{table}`",
                    field(h)
                ))
                .with_remedy(Remedy::MapColumn {
                    column: field(h),
                    table: table.to_string(),
                    columns,
                }),
            });
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
                "{file}:1: column `{target}` appears twice in the header (after mapping)"
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
        .with_remedy(Remedy::MapRequired));
    }
    Ok(mapped)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Vec<CatalogColumn> {
        ["id", "phone", "email"]
            .iter()
            .map(|name| CatalogColumn {
                column: Column::new("users", name, SqlType::Text, *name == "phone"),
                udt: "text".into(),
                required: *name == "phone",
                unsupported: None,
            })
            .collect()
    }

    fn header(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_bad_map_target_is_named_whole() {
        let bad = r#"email"); drop table x; --"#;
        let maps = [("email".to_string(), bad.to_string())];
        let err = map_header(
            "u.csv",
            "users",
            &header(&["phone", "email"]),
            &maps,
            &users(),
        )
        .unwrap_err();
        assert!(
            err.message.contains(&format!(
                "--map email={bad}: `{bad}` is not a column of `users`"
            )),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_header_field_is_quoted_alone_escaped_and_cut() {
        let line = format!("pho\0ne{}", "x".repeat(100));
        let err =
            map_header("u.csv", "users", &header(&["phone", &line]), &[], &users()).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains(&format!("column `pho\\0ne{}…`", "x".repeat(58))),
            "{text}"
        );
        assert!(
            !text.contains('\0') && !text.contains(&"x".repeat(59)),
            "{text}"
        );
        // A --map of a column the header lacks lists only the header's plausible names.
        let maps = [("mobile".to_string(), "phone".to_string())];
        let secret = "DATABASE_URL=postgres://u:pw@h/db";
        let err = map_header(
            "u.csv",
            "users",
            &header(&["phone", secret]),
            &maps,
            &users(),
        )
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("the header names: phone (and 1 fields that are no column names)"),
            "{text}"
        );
        assert!(!text.contains("DATABASE_URL"), "{text}");
    }
}
