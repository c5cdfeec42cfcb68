//! The Elasticsearch documents, one builder per index: the SQL that joins what a
//! document needs, and the typed document it becomes.
//!
//! Money (`products.price`, `offers.discount_value`: NUMERIC(10,2)) never passes
//! through a float: it is read as `rust_decimal::Decimal` and written into the
//! JSON as the exact decimal text (`12.50`) of a JSON number, through
//! `serde_json`'s `RawValue`. The mappings declare those fields `scaled_float`
//! with `scaling_factor: 100`, which stores paise as a long: exact to the paisa
//! in sorting and aggregations. Coordinates and ratings go the same way.
//!
//! Which rows become documents (`eligible`): active products of active, not
//! deleted merchants; active, not deleted merchants; offers of not deleted
//! merchants (the offers index carries `status` and the validity window, so
//! searches filter on them). In an update (`since`) a row that changed and is no
//! longer eligible becomes a delete.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Serialize, Serializer};
use serde_json::value::RawValue;
use sqlx::postgres::PgRow;
use sqlx::Row;
use uuid::Uuid;

/// A NUMERIC written as an exact JSON number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Exact(pub Decimal);

impl Serialize for Exact {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // Decimal's Display never uses an exponent and keeps the column's scale
        // (`12.50`), so its text is a valid, exact JSON number.
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(s)
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct GeoPoint {
    pub lat: Exact,
    pub lon: Exact,
}

/// The three indices rez-db builds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Products,
    Merchants,
    Offers,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Products, Source::Merchants, Source::Offers];

    pub fn from_name(name: &str) -> Option<Source> {
        match name {
            "products" => Some(Source::Products),
            "merchants" => Some(Source::Merchants),
            "offers" => Some(Source::Offers),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Source::Products => "products",
            Source::Merchants => "merchants",
            Source::Offers => "offers",
        }
    }

    /// The table whose rows are the documents: a hard-deleted row leaves
    /// nothing to read but its absence from this table.
    pub fn table(self) -> &'static str {
        self.name()
    }

    /// The query producing one row per document candidate with an `eligible`
    /// column; `$1` (timestamptz or NULL) restricts it to rows changed since.
    pub fn sql(self) -> String {
        format!(
            "{} WHERE $1::timestamptz IS NULL OR {}",
            self.select(),
            self.since_filter()
        )
    }

    /// The same rows restricted to those whose document may differ from what a
    /// snapshot saw: a row of the document's table, or of a table it joins,
    /// written by a transaction with a 64-bit id in `[$1 - $2, $1)` (see
    /// `search::catch_up`, which binds both). The ids are found first, each
    /// table scanned alone with nothing but the transaction id to test, and
    /// only their rows are joined and built: a pass costs a scan of the
    /// tables' row headers plus its changes, not a full build's query.
    pub fn written_sql(self) -> String {
        let w = written;
        let ids = match self {
            Source::Products => [
                format!("SELECT p.id FROM products p WHERE {}", w("p")),
                format!(
                    "SELECT p.id FROM products p JOIN merchants m ON m.id = p.merchant_id WHERE {}",
                    w("m")
                ),
                format!(
                    "SELECT p.id FROM products p JOIN categories c ON c.id = p.category_id WHERE {}",
                    w("c")
                ),
            ]
            .join(" UNION "),
            Source::Merchants => [
                format!("SELECT m.id FROM merchants m WHERE {}", w("m")),
                format!("SELECT o.merchant_id FROM offers o WHERE {}", w("o")),
                format!("SELECT p.merchant_id FROM products p WHERE {}", w("p")),
                format!(
                    "SELECT pm.merchant_id FROM prive_merchants pm WHERE {}",
                    w("pm")
                ),
            ]
            .join(" UNION "),
            Source::Offers => [
                format!("SELECT o.id FROM offers o WHERE {}", w("o")),
                format!(
                    "SELECT o.id FROM offers o JOIN merchants m ON m.id = o.merchant_id WHERE {}",
                    w("m")
                ),
                format!(
                    "SELECT o.id FROM offers o JOIN merchant_outlets ot ON ot.id = o.outlet_id WHERE {}",
                    w("ot")
                ),
            ]
            .join(" UNION "),
        };
        format!(
            "{} WHERE {}.id = ANY (ARRAY({ids}))",
            self.select(),
            self.alias()
        )
    }

    /// The alias of the document's table in [`Self::select`].
    fn alias(self) -> &'static str {
        match self {
            Source::Products => "p",
            Source::Merchants => "m",
            Source::Offers => "o",
        }
    }

    /// Columns and joins of one row per document candidate, without a filter.
    fn select(self) -> &'static str {
        match self {
            Source::Products => {
                "SELECT p.id, p.merchant_id, p.name, p.description, c.name AS category, p.price, \
                        CASE WHEN jsonb_typeof(p.attributes -> 'tags') = 'array' THEN p.attributes -> 'tags' END AS tags, \
                        m.business_name AS merchant_name, m.latitude, m.longitude, m.average_rating AS rating, \
                        p.in_stock, p.created_at, \
                        (coalesce(p.is_active, false) AND m.deleted_at IS NULL AND m.status = 'active') AS eligible \
                 FROM products p \
                 JOIN merchants m ON m.id = p.merchant_id \
                 LEFT JOIN categories c ON c.id = p.category_id"
            }
            Source::Merchants => {
                "SELECT m.id, m.business_name, m.business_type, \
                        ARRAY(SELECT DISTINCT p.category_id::text FROM products p \
                              WHERE p.merchant_id = m.id AND p.is_active AND p.category_id IS NOT NULL \
                              ORDER BY 1) AS categories, \
                        m.latitude, m.longitude, m.city, m.average_rating, m.total_reviews, \
                        (SELECT count(*) FROM offers o WHERE o.merchant_id = m.id AND o.status = 'active' \
                           AND now() >= o.valid_from AND now() < o.valid_until) AS active_offers_count, \
                        EXISTS (SELECT 1 FROM prive_merchants pm WHERE pm.merchant_id = m.id AND pm.is_prive_partner) \
                          AS is_prive_partner, \
                        m.verified AS is_verified, \
                        (m.deleted_at IS NULL AND m.status = 'active') AS eligible \
                 FROM merchants m"
            }
            Source::Offers => {
                "SELECT o.id, o.merchant_id, o.title, o.description, o.offer_type, o.discount_value, \
                        CASE WHEN jsonb_typeof(o.tags) = 'array' THEN o.tags END AS tags, \
                        CASE WHEN jsonb_typeof(o.categories_applicable) = 'array' THEN o.categories_applicable END AS categories, \
                        o.valid_from, o.valid_until, \
                        coalesce(ot.latitude, m.latitude) AS latitude, coalesce(ot.longitude, m.longitude) AS longitude, \
                        coalesce(ot.city, m.city) AS city, o.user_segment, o.rez_coins_required, o.is_featured, o.status, \
                        (m.deleted_at IS NULL) AS eligible \
                 FROM offers o \
                 JOIN merchants m ON m.id = o.merchant_id \
                 LEFT JOIN merchant_outlets ot ON ot.id = o.outlet_id"
            }
        }
    }

    /// Rows changed at or after `$1` by `updated_at` (of the row or of what it joins).
    fn since_filter(self) -> &'static str {
        match self {
            Source::Products => "p.updated_at >= $1 OR m.updated_at >= $1 OR c.updated_at >= $1",
            Source::Merchants => {
                "m.updated_at >= $1 \
                 OR EXISTS (SELECT 1 FROM offers o WHERE o.merchant_id = m.id AND o.updated_at >= $1) \
                 OR EXISTS (SELECT 1 FROM products p WHERE p.merchant_id = m.id AND p.updated_at >= $1)"
            }
            Source::Offers => "o.updated_at >= $1 OR m.updated_at >= $1 OR ot.updated_at >= $1",
        }
    }

    /// How many documents a full build must produce (PostgreSQL's side of `es.doc_count`).
    pub fn count_sql(self) -> String {
        format!("SELECT count(*) FROM ({}) d WHERE d.eligible", self.sql())
    }

    /// Appends the document of one row to `out` as JSON, serialized straight
    /// from the typed document (no intermediate `serde_json::Value`):
    /// `(id, true)`, or `(id, false)` and nothing written for a row that is
    /// not (or no longer) eligible.
    pub fn document(self, row: &PgRow, out: &mut Vec<u8>) -> Result<(Uuid, bool), sqlx::Error> {
        let id: Uuid = row.try_get("id")?;
        if !row.try_get::<Option<bool>, _>("eligible")?.unwrap_or(false) {
            return Ok((id, false));
        }
        match self {
            Source::Products => write(out, &ProductDoc::from_row(row)?),
            Source::Merchants => write(out, &MerchantDoc::from_row(row)?),
            Source::Offers => write(out, &OfferDoc::from_row(row)?),
        }
        Ok((id, true))
    }
}

/// True when the row version of `alias` was written by a transaction whose
/// 64-bit id lies in `[$1 - $2, $1)`. A row's `xmin` is the 32-bit id of the
/// transaction that wrote it, so the distance back from `$1` is taken modulo
/// 2^32: exact for every id less than 2^32 old (autovacuum never lets a
/// visible row get older than 2^31). A frozen row from an older epoch can
/// look recent by chance (odds `$2` in 2^32): it is read once more, never
/// missed.
fn written(alias: &str) -> String {
    format!(
        "((($1::bigint - {alias}.xmin::text::bigint) % 4294967296 + 4294967296) % 4294967296) \
         BETWEEN 1 AND $2::bigint"
    )
}

fn write<T: Serialize>(out: &mut Vec<u8>, doc: &T) {
    serde_json::to_writer(out, doc).expect("documents serialise");
}

fn geo(row: &PgRow) -> Result<Option<GeoPoint>, sqlx::Error> {
    let lat: Option<Decimal> = row.try_get("latitude")?;
    let lon: Option<Decimal> = row.try_get("longitude")?;
    Ok(match (lat, lon) {
        (Some(lat), Some(lon)) => Some(GeoPoint {
            lat: Exact(lat),
            lon: Exact(lon),
        }),
        _ => None,
    })
}

fn exact(row: &PgRow, column: &str) -> Result<Option<Exact>, sqlx::Error> {
    Ok(row.try_get::<Option<Decimal>, _>(column)?.map(Exact))
}

#[derive(Debug, Serialize)]
pub struct ProductDoc {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub price: Exact,
    /// As stored in `attributes.tags`: a document whose tags are not strings is
    /// refused by the server, and reported as an item error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Value>,
    pub merchant_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rating: Option<Exact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub in_stock: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
}

impl ProductDoc {
    fn from_row(row: &PgRow) -> Result<ProductDoc, sqlx::Error> {
        Ok(ProductDoc {
            id: row.try_get("id")?,
            merchant_id: row.try_get("merchant_id")?,
            name: row.try_get("name")?,
            description: row.try_get("description")?,
            category: row.try_get("category")?,
            price: Exact(row.try_get("price")?),
            tags: row.try_get("tags")?,
            merchant_name: row.try_get("merchant_name")?,
            location: geo(row)?,
            rating: exact(row, "rating")?,
            in_stock: row.try_get("in_stock")?,
            created_at: row.try_get("created_at")?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct MerchantDoc {
    pub id: Uuid,
    pub business_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub business_type: Option<String>,
    /// Category ids of the merchant's active products.
    pub categories: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub average_rating: Option<Exact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_reviews: Option<i32>,
    pub active_offers_count: i64,
    pub is_prive_partner: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_verified: Option<bool>,
}

impl MerchantDoc {
    fn from_row(row: &PgRow) -> Result<MerchantDoc, sqlx::Error> {
        Ok(MerchantDoc {
            id: row.try_get("id")?,
            business_name: row.try_get("business_name")?,
            business_type: row.try_get("business_type")?,
            categories: row.try_get("categories")?,
            location: geo(row)?,
            city: row.try_get("city")?,
            average_rating: exact(row, "average_rating")?,
            total_reviews: row.try_get("total_reviews")?,
            active_offers_count: row.try_get("active_offers_count")?,
            is_prive_partner: row.try_get("is_prive_partner")?,
            is_verified: row.try_get("is_verified")?,
        })
    }
}

#[derive(Debug, Serialize)]
pub struct OfferDoc {
    pub id: Uuid,
    pub merchant_id: Uuid,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub offer_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discount_value: Option<Exact>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<serde_json::Value>,
    pub valid_from: DateTime<Utc>,
    pub valid_until: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<GeoPoint>,
    pub city: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_segment: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rez_coins_required: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub is_featured: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
}

impl OfferDoc {
    fn from_row(row: &PgRow) -> Result<OfferDoc, sqlx::Error> {
        Ok(OfferDoc {
            id: row.try_get("id")?,
            merchant_id: row.try_get("merchant_id")?,
            title: row.try_get("title")?,
            description: row.try_get("description")?,
            offer_type: row.try_get("offer_type")?,
            discount_value: exact(row, "discount_value")?,
            tags: row.try_get("tags")?,
            categories: row.try_get("categories")?,
            valid_from: row.try_get("valid_from")?,
            valid_until: row.try_get("valid_until")?,
            location: geo(row)?,
            city: row.try_get("city")?,
            user_segment: row.try_get("user_segment")?,
            rez_coins_required: row.try_get("rez_coins_required")?,
            is_featured: row.try_get("is_featured")?,
            status: row.try_get("status")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn money_is_an_exact_json_number() {
        let v = serde_json::to_string(&Exact(Decimal::from_str("12345678.90").unwrap())).unwrap();
        assert_eq!(v, "12345678.90");
        let p = GeoPoint {
            lat: Exact(Decimal::from_str("19.07600000").unwrap()),
            lon: Exact(Decimal::from_str("-72.87770000").unwrap()),
        };
        assert_eq!(
            serde_json::to_string(&p).unwrap(),
            r#"{"lat":19.07600000,"lon":-72.87770000}"#
        );
        // The text parses back as the same number, so the server reads what PostgreSQL holds.
        let back: serde_json::Value = serde_json::from_str(&v).unwrap();
        assert!(back.is_number());
    }

    #[test]
    fn every_source_has_an_eligible_column_and_a_since_parameter() {
        for s in Source::ALL {
            assert!(s.sql().contains("AS eligible"), "{}", s.name());
            assert!(s.sql().contains("$1::timestamptz IS NULL"), "{}", s.name());
            assert!(s.written_sql().contains("AS eligible"), "{}", s.name());
            assert!(s.written_sql().contains("$2::bigint"), "{}", s.name());
            assert_eq!(Source::from_name(s.name()), Some(s));
        }
    }
}
