//! Trigger-based auditing: which tables carry the `audit_<table>` trigger
//! that calls `audit_trigger_func()` (migration 0002), turning it on and off,
//! and reading `audit_log`. Table names come from users: each is checked
//! against the catalog and quoted, never pasted.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgConnection;

use super::quote_ident;

/// The audit trigger's name on `table`.
pub fn trigger_name(table: &str) -> String {
    format!("audit_{table}")
}

/// Ordinary and partitioned tables of the public schema that can be audited.
pub async fn auditable_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND NOT c.relispartition \
           AND c.relname <> 'audit_log' AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await
}

/// Tables whose audit trigger exists.
pub async fn audited_tables(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT DISTINCT c.relname::text FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid \
         JOIN pg_proc p ON p.oid = t.tgfoid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE p.proname = 'audit_trigger_func' AND n.nspname = 'public' AND NOT c.relispartition AND NOT t.tgisinternal \
         ORDER BY 1",
    )
    .fetch_all(conn)
    .await
}

/// Adds the audit trigger to `table` (which the caller checked exists). Returns false if it was there.
pub async fn enable(conn: &mut PgConnection, table: &str) -> Result<bool, sqlx::Error> {
    if audited_tables(conn).await?.iter().any(|t| t == table) {
        return Ok(false);
    }
    let sql = format!(
        "CREATE TRIGGER {} AFTER INSERT OR UPDATE OR DELETE ON {} FOR EACH ROW EXECUTE FUNCTION audit_trigger_func()",
        quote_ident(&trigger_name(table)),
        quote_ident(table)
    );
    sqlx::raw_sql(&sql).execute(conn).await?;
    Ok(true)
}

/// Removes the audit trigger from `table`. Returns false if it was not there.
pub async fn disable(conn: &mut PgConnection, table: &str) -> Result<bool, sqlx::Error> {
    if !audited_tables(conn).await?.iter().any(|t| t == table) {
        return Ok(false);
    }
    let sql = format!(
        "DROP TRIGGER IF EXISTS {} ON {}",
        quote_ident(&trigger_name(table)),
        quote_ident(table)
    );
    sqlx::raw_sql(&sql).execute(conn).await?;
    Ok(true)
}

/// One audit_log row.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    pub changed_at: DateTime<Utc>,
    pub table_name: String,
    pub operation: String,
    pub row_id: Option<String>,
    pub changed_by: Option<String>,
    pub old_data: Option<serde_json::Value>,
    pub new_data: Option<serde_json::Value>,
}

/// What to read from audit_log.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub table: String,
    pub row_id: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub actor: Option<String>,
    pub limit: i64,
}

/// An audit_log row as read, in the columns of [`Entry`].
type Row = (
    DateTime<Utc>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<serde_json::Value>,
    Option<serde_json::Value>,
);

/// The newest entries first. All values are bound parameters.
pub async fn log(conn: &mut PgConnection, filter: &Filter) -> Result<Vec<Entry>, sqlx::Error> {
    let rows: Vec<Row> =
        sqlx::query_as(
            "SELECT changed_at, table_name::text, operation::text, row_id, changed_by, old_data, new_data FROM audit_log \
             WHERE table_name = $1 AND ($2::text IS NULL OR row_id = $2) \
               AND ($3::timestamptz IS NULL OR changed_at >= $3) AND ($4::text IS NULL OR changed_by = $4) \
             ORDER BY changed_at DESC, id LIMIT $5",
        )
        .bind(&filter.table)
        .bind(&filter.row_id)
        .bind(filter.since)
        .bind(&filter.actor)
        .bind(filter.limit)
        .fetch_all(conn)
        .await?;
    Ok(rows
        .into_iter()
        .map(
            |(changed_at, table_name, operation, row_id, changed_by, old_data, new_data)| Entry {
                changed_at,
                table_name,
                operation,
                row_id,
                changed_by,
                old_data,
                new_data,
            },
        )
        .collect())
}
