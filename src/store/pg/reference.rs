//! The reference tables (app_settings, categories, loyalty_tiers, colleges):
//! idempotent upserts by natural key, and reading them back for the synthetic
//! generator.
//!
//! An upsert writes a row only when a value differs
//! (`ON CONFLICT ... DO UPDATE ... WHERE (cols) IS DISTINCT FROM (EXCLUDED cols)`),
//! so a second run with the same files changes nothing, not even `updated_at`
//! (the `set_updated_at` trigger only fires on a real UPDATE). It never
//! deletes a row the files no longer mention: reference rows are referenced
//! by orders, products and users, and removing them is a decision for a person.

use std::collections::BTreeMap;

use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::definitions::reference::ReferenceData;

/// What one upsert did to one table.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct UpsertCounts {
    pub table: String,
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl UpsertCounts {
    fn new(table: &str) -> UpsertCounts {
        UpsertCounts {
            table: table.to_string(),
            ..Default::default()
        }
    }

    /// Counts one statement's outcome: no row back means the WHERE found nothing to change.
    fn record(&mut self, inserted: Option<bool>) {
        match inserted {
            Some(true) => self.inserted += 1,
            Some(false) => self.updated += 1,
            None => self.unchanged += 1,
        }
    }
}

/// `INSERT ... ON CONFLICT ON CONSTRAINT .. DO UPDATE ... WHERE changed RETURNING inserted`.
/// `values` are the SQL expressions for `columns` (placeholders or sub-selects);
/// every column but `id` and the conflict key is updated.
fn upsert_sql(
    table: &str,
    constraint: &str,
    key: &str,
    columns: &[&str],
    values: &[&str],
) -> String {
    let updated: Vec<&str> = columns
        .iter()
        .copied()
        .filter(|c| *c != "id" && *c != key)
        .collect();
    let set: Vec<String> = updated
        .iter()
        .map(|c| format!("{c} = EXCLUDED.{c}"))
        .collect();
    let current: Vec<String> = updated.iter().map(|c| format!("{table}.{c}")).collect();
    let excluded: Vec<String> = updated.iter().map(|c| format!("EXCLUDED.{c}")).collect();
    // xmax = 0 on the returned row version means it was inserted, not updated.
    format!(
        "INSERT INTO {table} ({}) VALUES ({}) \
         ON CONFLICT ON CONSTRAINT {constraint} DO UPDATE SET {} \
         WHERE ({}) IS DISTINCT FROM ({}) \
         RETURNING (xmax = 0) AS inserted",
        columns.join(", "),
        values.join(", "),
        set.join(", "),
        current.join(", "),
        excluded.join(", ")
    )
}

type Upsert<'a> = sqlx::query::QueryScalar<'a, sqlx::Postgres, bool, sqlx::postgres::PgArguments>;

/// Runs `sql` once per item, with `bind` supplying the item's values, and counts.
async fn upsert_each<'a, T>(
    conn: &mut PgConnection,
    table: &str,
    sql: &'a str,
    items: &'a [T],
    bind: impl Fn(Upsert<'a>, &'a T) -> Upsert<'a>,
) -> Result<UpsertCounts, sqlx::Error> {
    let mut counts = UpsertCounts::new(table);
    for item in items {
        let inserted = bind(sqlx::query_scalar(sql), item)
            .fetch_optional(&mut *conn)
            .await?;
        counts.record(inserted);
    }
    Ok(counts)
}

pub async fn upsert_settings(
    conn: &mut PgConnection,
    data: &ReferenceData,
) -> Result<UpsertCounts, sqlx::Error> {
    let sql = upsert_sql(
        "app_settings",
        "idx_app_settings_key",
        "setting_key",
        &[
            "id",
            "setting_key",
            "setting_value",
            "setting_type",
            "description",
        ],
        &["$1", "$2", "$3::jsonb", "$4", "$5"],
    );
    upsert_each(conn, "app_settings", &sql, &data.settings, |q, s| {
        q.bind(stable_id("app_settings", &s.key))
            .bind(&s.key)
            .bind(&s.value_json)
            .bind(&s.setting_type)
            .bind(&s.description)
    })
    .await
}

pub async fn upsert_categories(
    conn: &mut PgConnection,
    data: &ReferenceData,
) -> Result<UpsertCounts, sqlx::Error> {
    let sql = upsert_sql(
        "categories",
        "idx_categories_slug",
        "slug",
        &[
            "id",
            "slug",
            "name",
            "description",
            "parent_id",
            "level",
            "display_order",
            "is_featured",
            "is_active",
        ],
        &[
            "$1",
            "$2",
            "$3",
            "$4",
            // The parent by its slug: it was upserted just before (pre-order).
            "(SELECT p.id FROM categories p WHERE p.slug = $5)",
            "$6",
            "$7",
            "$8",
            "$9",
        ],
    );
    upsert_each(conn, "categories", &sql, &data.categories, |q, c| {
        q.bind(stable_id("categories", &c.slug))
            .bind(&c.slug)
            .bind(&c.name)
            .bind(&c.description)
            .bind(&c.parent_slug)
            .bind(c.level)
            .bind(c.display_order)
            .bind(c.featured)
            .bind(c.active)
    })
    .await
}

pub async fn upsert_tiers(
    conn: &mut PgConnection,
    data: &ReferenceData,
) -> Result<UpsertCounts, sqlx::Error> {
    let sql = upsert_sql(
        "loyalty_tiers",
        "idx_loyalty_tiers_level",
        "level",
        &[
            "id",
            "level",
            "name",
            "min_spend",
            "min_orders",
            "coin_multiplier",
            "exclusive_offers",
            "priority_support",
            "free_delivery",
            "color",
            "is_active",
        ],
        &[
            "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11",
        ],
    );
    upsert_each(conn, "loyalty_tiers", &sql, &data.tiers, |q, t| {
        q.bind(stable_id("loyalty_tiers", &t.level.to_string()))
            .bind(t.level)
            .bind(&t.name)
            .bind(t.min_spend.amount())
            .bind(t.min_orders)
            .bind(t.coin_multiplier)
            .bind(t.exclusive_offers)
            .bind(t.priority_support)
            .bind(t.free_delivery)
            .bind(&t.color)
            .bind(t.active)
    })
    .await
}

pub async fn upsert_colleges(
    conn: &mut PgConnection,
    data: &ReferenceData,
) -> Result<UpsertCounts, sqlx::Error> {
    let columns = [
        "id",
        "college_code",
        "name",
        "short_name",
        "address_line1",
        "city",
        "state",
        "pincode",
        "latitude",
        "longitude",
        "website",
        "contact_email",
        "total_students",
        "partnership_status",
        "partnership_start_date",
        "email_domain",
        "student_verification_required",
        "is_active",
    ];
    let values: Vec<String> = (1..=columns.len()).map(|i| format!("${i}")).collect();
    let values: Vec<&str> = values.iter().map(String::as_str).collect();
    let sql = upsert_sql(
        "colleges",
        "idx_colleges_code",
        "college_code",
        &columns,
        &values,
    );
    upsert_each(conn, "colleges", &sql, &data.colleges, |q, c| {
        q.bind(stable_id("colleges", &c.college_code))
            .bind(&c.college_code)
            .bind(&c.name)
            .bind(&c.short_name)
            .bind(&c.address_line1)
            .bind(&c.city)
            .bind(&c.state)
            .bind(&c.pincode)
            .bind(c.latitude)
            .bind(c.longitude)
            .bind(&c.website)
            .bind(&c.contact_email)
            .bind(c.total_students)
            .bind(&c.partnership_status)
            .bind(c.partnership_start_date)
            .bind(&c.email_domain)
            .bind(c.student_verification_required)
            .bind(c.active)
    })
    .await
}

/// The id a reference row gets when it is first inserted: a version-8 UUID
/// from the SHA-256 of its table and natural key. The same category has the
/// same id in every database seeded from the same files, so synthetic data
/// and fixtures that point at it are portable (an existing row keeps its id).
pub fn stable_id(table: &str, key: &str) -> Uuid {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("rez-db seed/{table}/{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

/// Values that break the reference's email rule, as PostgreSQL's own `~*`
/// judges them (the engine `validate` uses), from `candidates`.
pub async fn invalid_emails(
    conn: &mut PgConnection,
    candidates: &[String],
    pattern: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar("SELECT e FROM unnest($1::text[]) e WHERE NOT e ~* $2")
        .bind(candidates)
        .bind(pattern)
        .fetch_all(conn)
        .await
}

/// Row counts of the four reference tables.
pub async fn counts(conn: &mut PgConnection) -> Result<BTreeMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> = sqlx::query_as(
        "SELECT 'app_settings', count(*) FROM app_settings UNION ALL \
         SELECT 'categories', count(*) FROM categories UNION ALL \
         SELECT 'loyalty_tiers', count(*) FROM loyalty_tiers UNION ALL \
         SELECT 'colleges', count(*) FROM colleges",
    )
    .fetch_all(conn)
    .await?;
    Ok(rows.into_iter().collect())
}

/// A loyalty tier as the generator needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TierRow {
    pub id: Uuid,
    pub level: i32,
    pub min_spend: Decimal,
    pub min_orders: i32,
    pub coin_multiplier: Option<Decimal>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CategoryRow {
    pub id: Uuid,
    pub slug: String,
    pub name: String,
    pub parent_id: Option<Uuid>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollegeRow {
    pub id: Uuid,
    pub college_code: Option<String>,
    pub city: String,
    pub email_domain: Option<String>,
}

/// Reference data as stored, in a stable order (the generator's input).
#[derive(Debug, Clone, Default)]
pub struct StoredReference {
    /// setting_key -> setting_value as text (`#>> '{}'`).
    pub settings: BTreeMap<String, String>,
    /// Active tiers by level.
    pub tiers: Vec<TierRow>,
    /// Active categories by slug.
    pub categories: Vec<CategoryRow>,
    /// Active colleges by code.
    pub colleges: Vec<CollegeRow>,
}

pub async fn read(conn: &mut PgConnection) -> Result<StoredReference, sqlx::Error> {
    let settings: Vec<(String, Option<String>)> =
        sqlx::query_as("SELECT setting_key, setting_value #>> '{}' FROM app_settings")
            .fetch_all(&mut *conn)
            .await?;
    let tiers: Vec<(Uuid, i32, Decimal, i32, Option<Decimal>)> = sqlx::query_as(
        "SELECT id, level, min_spend, min_orders, coin_multiplier FROM loyalty_tiers \
         WHERE coalesce(is_active, true) ORDER BY level",
    )
    .fetch_all(&mut *conn)
    .await?;
    let categories: Vec<(Uuid, String, String, Option<Uuid>)> = sqlx::query_as(
        "SELECT id, slug, name, parent_id FROM categories WHERE coalesce(is_active, true) ORDER BY slug",
    )
    .fetch_all(&mut *conn)
    .await?;
    let colleges: Vec<(Uuid, Option<String>, String, Option<String>)> = sqlx::query_as(
        "SELECT id, college_code, city, email_domain FROM colleges \
         WHERE coalesce(is_active, true) ORDER BY college_code, id",
    )
    .fetch_all(&mut *conn)
    .await?;
    Ok(StoredReference {
        settings: settings
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect(),
        tiers: tiers
            .into_iter()
            .map(
                |(id, level, min_spend, min_orders, coin_multiplier)| TierRow {
                    id,
                    level,
                    min_spend,
                    min_orders,
                    coin_multiplier,
                },
            )
            .collect(),
        categories: categories
            .into_iter()
            .map(|(id, slug, name, parent_id)| CategoryRow {
                id,
                slug,
                name,
                parent_id,
            })
            .collect(),
        colleges: colleges
            .into_iter()
            .map(|(id, college_code, city, email_domain)| CollegeRow {
                id,
                college_code,
                city,
                email_domain,
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_update_only_changed_rows() {
        let sql = upsert_sql(
            "t",
            "t_key",
            "k",
            &["id", "k", "a", "b"],
            &["$1", "$2", "$3", "$4"],
        );
        assert_eq!(
            sql,
            "INSERT INTO t (id, k, a, b) VALUES ($1, $2, $3, $4) \
             ON CONFLICT ON CONSTRAINT t_key DO UPDATE SET a = EXCLUDED.a, b = EXCLUDED.b \
             WHERE (t.a, t.b) IS DISTINCT FROM (EXCLUDED.a, EXCLUDED.b) \
             RETURNING (xmax = 0) AS inserted"
        );
    }

    #[test]
    fn stable_ids_are_stable_and_distinct() {
        let a = stable_id("categories", "food");
        assert_eq!(a, stable_id("categories", "food"));
        assert_ne!(a, stable_id("categories", "grocery"));
        assert_ne!(a, stable_id("colleges", "food"));
        assert_eq!(a.get_version_num(), 8);
    }
}
