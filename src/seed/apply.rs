//! Applies the reference seed files to a database: read and check the files,
//! check what only PostgreSQL can judge (emails, with the same regex engine
//! `validate` uses), then upsert. The caller owns the transaction: this
//! function never commits.

use sqlx::postgres::PgConnection;

use super::files::{self, SeedSource};
use crate::definitions::reference::{self, ReferenceData};
use crate::domain::vocabulary::EMAIL_PATTERN;
use crate::error::{CommandError, Result};
use crate::secret::RedactedUrl;
use crate::store::pg::{self, reference as store, reference::UpsertCounts};

/// The reference tables, in upsert order.
pub const TABLES: [&str; 4] = ["app_settings", "categories", "loyalty_tiers", "colleges"];

/// Reads and checks the seed files from `source`.
pub async fn read(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    source: &SeedSource,
) -> Result<ReferenceData> {
    let data = files::load(source)?;
    let emails: Vec<String> = data
        .colleges
        .iter()
        .filter_map(|c| c.contact_email.clone())
        .collect();
    let bad = store::invalid_emails(conn, &emails, EMAIL_PATTERN)
        .await
        .map_err(|e| pg::error(url, e))?;
    if let Some(email) = bad.first() {
        let file = source.read(files::COLLEGES)?;
        let college = data
            .colleges
            .iter()
            .find(|c| c.contact_email.as_deref() == Some(email.as_str()))
            .ok_or_else(|| CommandError::bug("an invalid email matched no college"))?;
        let at = reference::college_email_line(&file, &college.college_code)
            .map(|l| format!(":{l}"))
            .unwrap_or_default();
        return Err(CommandError::usage(format!(
            "{}{at}: college_code `{}`: contact_email `{email}` is not a valid email address",
            file.shown, college.college_code
        ))
        .with_hint("an address looks like name@domain.tld"));
    }
    Ok(data)
}

/// Upserts `data` into the tables named in `only` (all four when None).
pub async fn upsert(
    conn: &mut PgConnection,
    url: &RedactedUrl,
    data: &ReferenceData,
    only: Option<&[&str]>,
) -> Result<Vec<UpsertCounts>> {
    let wanted = |t: &str| only.is_none_or(|o| o.contains(&t));
    let err = |e| pg::error(url, e);
    let mut counts = Vec::new();
    if wanted("app_settings") {
        counts.push(store::upsert_settings(conn, data).await.map_err(err)?);
    }
    if wanted("categories") {
        counts.push(store::upsert_categories(conn, data).await.map_err(err)?);
    }
    if wanted("loyalty_tiers") {
        counts.push(store::upsert_tiers(conn, data).await.map_err(err)?);
    }
    if wanted("colleges") {
        counts.push(store::upsert_colleges(conn, data).await.map_err(err)?);
    }
    Ok(counts)
}
