//! `--mode upsert`: the checked rows go by COPY into a temporary stage
//! table, then into the table by natural key, writing only rows that differ.

use sqlx::postgres::PgConnection;

use super::check::Column;
use super::tables::TableRules;
use crate::store::pg::quote_ident;

/// The stage table of the current transaction.
pub(super) const STAGE: &str = "pg_temp.rez_import_stage";

/// Creates the stage table for `table` (already quoted). DROP first: inside a
/// manifest's transaction a file's commit is a savepoint's release, which
/// does not fire ON COMMIT DROP.
pub(super) async fn create_stage(conn: &mut PgConnection, table: &str) -> Result<(), sqlx::Error> {
    sqlx::raw_sql(&format!(
        "DROP TABLE IF EXISTS {STAGE}; \
         CREATE TEMP TABLE rez_import_stage (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP"
    ))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Moves the staged rows into the table by natural key; (inserted, updated).
/// Rows equal to the table's are left alone, so a rerun changes nothing.
pub(super) async fn upsert(
    conn: &mut PgConnection,
    rules: &TableRules,
    table: &str,
    columns: &[Column],
) -> Result<(u64, u64), sqlx::Error> {
    let names: Vec<String> = columns.iter().map(|c| quote_ident(&c.name)).collect();
    let others: Vec<&String> = columns
        .iter()
        .zip(&names)
        .filter(|(c, _)| !rules.key.contains(&c.name.as_str()))
        .map(|(_, n)| n)
        .collect();
    let action = if others.is_empty() {
        "DO NOTHING".to_string()
    } else {
        let set: Vec<String> = others
            .iter()
            .map(|n| format!("{n} = EXCLUDED.{n}"))
            .collect();
        let old: Vec<String> = others.iter().map(|n| format!("t.{n}")).collect();
        let new: Vec<String> = others.iter().map(|n| format!("EXCLUDED.{n}")).collect();
        format!(
            "DO UPDATE SET {} WHERE ({}) IS DISTINCT FROM ({})",
            set.join(", "),
            old.join(", "),
            new.join(", ")
        )
    };
    let list = names.join(", ");
    let key: Vec<String> = rules.key.iter().map(|k| quote_ident(k)).collect();
    let on = |alias: &str| -> Vec<String> { key.iter().map(|k| format!("{alias}.{k}")).collect() };
    // New rows are counted against the table as it was before the INSERT (all
    // parts of one statement share its snapshot), not with `xmax = 0`, which
    // PostgreSQL 15 cannot return from a partitioned table. The stage holds
    // each key once: the natural key is among the unique keys checked.
    let sql = format!(
        "WITH up AS (INSERT INTO {table} AS t ({list}) SELECT {list} FROM {STAGE} \
         ON CONFLICT ({key}) {action} RETURNING 1) \
         SELECT (SELECT count(*) FROM {STAGE} s WHERE NOT EXISTS \
                   (SELECT 1 FROM {table} t WHERE ({t}) = ({s}))), \
                (SELECT count(*) FROM up)",
        key = key.join(", "),
        t = on("t").join(", "),
        s = on("s").join(", "),
    );
    let (inserted, written): (i64, i64) = sqlx::query_as(&sql).fetch_one(conn).await?;
    Ok((inserted as u64, (written - inserted) as u64))
}
