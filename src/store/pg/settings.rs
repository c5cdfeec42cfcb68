//! `app_settings`, read one value at a time: the settings an operation's
//! checks depend on (import-csv's coin_to_inr_rate). Reads only; the seed's
//! upserts of the table are `reference`'s.

use sqlx::postgres::PgConnection;

/// The value of setting `key` as stored (JSON), if the table has it.
pub async fn value(
    conn: &mut PgConnection,
    key: &str,
) -> Result<Option<serde_json::Value>, sqlx::Error> {
    sqlx::query_scalar("SELECT setting_value FROM app_settings WHERE setting_key = $1")
        .bind(key)
        .fetch_optional(conn)
        .await
}
