//! `mongo.notification_logs` and `mongo.references`: the MongoDB documents
//! against the PostgreSQL rows they name (what `seed --synthetic` writes,
//! `crate::seed::mongo`, and what the application logs).
//!
//! - `mongo.notification_logs`: one log per `notifications` row: as many
//!   documents as rows, and each `notification_id` a row.
//! - `mongo.references`: every id a document gives for a PostgreSQL row (a
//!   user, an order, an offer, a product, a merchant, a redemption, a
//!   notification) is a UUID of an existing row.
//!
//! Memory stays bounded: documents are read with a projection, in cursor
//! batches, and their ids looked up in PostgreSQL [`BATCH`] at a time.

use std::collections::BTreeMap;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::{Tally, Violation};
use crate::error::CommandError;
use crate::secret::RedactedUrl;
use crate::store::mongo::Mongo;

pub const CHECK_NOTIFICATIONS: &str = "mongo.notification_logs";
pub const CHECK_REFERENCES: &str = "mongo.references";

/// Ids looked up per query.
const BATCH: usize = 1_000;

/// Per collection, the fields (dotted paths; an array's elements each) that
/// name a row, and the table of that row.
const REFERENCES: [(&str, &[(&str, &str)]); 5] = [
    (
        "user_activity_logs",
        &[
            ("user_id", "users"),
            ("properties.order_id", "orders"),
            ("properties.offer_id", "offers"),
            ("properties.product_id", "products"),
            ("properties.merchant_id", "merchants"),
            ("properties.redemption_id", "offer_redemptions"),
        ],
    ),
    (
        "search_queries",
        &[("user_id", "users"), ("results_clicked", "products")],
    ),
    (
        "notification_logs",
        &[("user_id", "users"), ("notification_id", "notifications")],
    ),
    ("ab_test_results", &[("user_id", "users")]),
    ("fraud_detection_logs", &[("user_id", "users")]),
];

/// Where the checks read.
pub struct Sources<'a> {
    pub pg: &'a mut PgConnection,
    pub pg_url: &'a RedactedUrl,
    pub mongo: &'a Mongo,
}

/// `mongo.notification_logs`: the counts (the references are `mongo.references`').
pub async fn notification_logs(s: &mut Sources<'_>, tally: &mut Tally) -> Result<(), CommandError> {
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM notifications")
        .fetch_one(&mut *s.pg)
        .await
        .map_err(|e| crate::store::pg::error(s.pg_url, e))?;
    let docs = s.mongo.count("notification_logs").await?;
    if docs != rows as u64 {
        tally.push(Violation {
            table: format!("mongodb:{}.notification_logs", s.mongo.database_name()),
            entity: "notification_logs".into(),
            expected: format!("{rows} documents (one per notifications row)"),
            actual: format!("{docs} documents"),
            remedy: None,
        });
    }
    Ok(())
}

/// `mongo.references`.
pub async fn references(s: &mut Sources<'_>, tally: &mut Tally) -> Result<(), CommandError> {
    for (collection, fields) in REFERENCES {
        let table = format!("mongodb:{}.{collection}", s.mongo.database_name());
        let mut projection = doc! {};
        for (path, _) in fields {
            projection.insert(*path, 1);
        }
        let mut cursor = s.mongo.scan(collection, projection).await?;
        // Per PostgreSQL table: (id, the document's `_id` and field) waiting to be looked up.
        let mut pending: BTreeMap<&str, Vec<(Uuid, String)>> = BTreeMap::new();
        while let Some(d) = cursor.try_next().await.map_err(|e| {
            CommandError::failed(format!(
                "reading MongoDB {collection}: {}",
                s.mongo.url.scrub(&e.to_string())
            ))
        })? {
            let id = d.get("_id").map(show).unwrap_or_default();
            for (path, target) in fields {
                for value in at(&d, path) {
                    let entity = format!("{id}.{path}");
                    match as_uuid(value) {
                        Some(u) => {
                            let list = pending.entry(target).or_default();
                            list.push((u, entity));
                            if list.len() >= BATCH {
                                let batch = std::mem::take(list);
                                look_up(s, &table, target, batch, tally).await?;
                            }
                        }
                        None if *value == Bson::Null => {}
                        None => tally.push(Violation {
                            table: table.clone(),
                            entity,
                            expected: format!("the UUID of a {target} row"),
                            actual: show(value),
                            remedy: None,
                        }),
                    }
                }
            }
        }
        for (target, batch) in pending {
            look_up(s, &table, target, batch, tally).await?;
        }
    }
    Ok(())
}

/// Reports the ids of `batch` that `target` does not hold.
async fn look_up(
    s: &mut Sources<'_>,
    table: &str,
    target: &str,
    batch: Vec<(Uuid, String)>,
    tally: &mut Tally,
) -> Result<(), CommandError> {
    if batch.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = batch.iter().map(|(u, _)| *u).collect();
    // `target` is one of the names of REFERENCES, never input.
    let sql = format!(
        "SELECT x FROM unnest($1::uuid[]) x WHERE NOT EXISTS (SELECT 1 FROM {target} t WHERE t.id = x)"
    );
    let missing: Vec<Uuid> = sqlx::query_scalar(&sql)
        .bind(&ids)
        .fetch_all(&mut *s.pg)
        .await
        .map_err(|e| crate::store::pg::error(s.pg_url, e))?;
    for (u, entity) in batch {
        if missing.contains(&u) {
            tally.push(Violation {
                table: table.to_string(),
                entity,
                expected: format!("a row of {target}"),
                actual: format!("{u}: no such row"),
                remedy: None,
            });
        }
    }
    Ok(())
}

/// The values at a dotted path; an array at the end gives each element.
fn at<'a>(d: &'a Document, path: &str) -> Vec<&'a Bson> {
    let mut here = d;
    let mut parts = path.split('.').peekable();
    while let Some(part) = parts.next() {
        let Some(v) = here.get(part) else {
            return Vec::new();
        };
        if parts.peek().is_none() {
            return match v {
                Bson::Array(items) => items.iter().collect(),
                v => vec![v],
            };
        }
        match v {
            Bson::Document(inner) => here = inner,
            _ => return Vec::new(),
        }
    }
    Vec::new()
}

/// A UUID as the validators allow it: text, or binary subtype 4.
fn as_uuid(v: &Bson) -> Option<Uuid> {
    match v {
        Bson::String(s) => Uuid::parse_str(s).ok(),
        Bson::Binary(b) if b.subtype == mongodb::bson::spec::BinarySubtype::Uuid => {
            Uuid::from_slice(&b.bytes).ok()
        }
        _ => None,
    }
}

fn show(v: &Bson) -> String {
    match v {
        Bson::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_reach_nested_fields_and_array_elements() {
        let d =
            doc! {"user_id": "u", "properties": {"order_id": "o"}, "results_clicked": ["a", "b"]};
        assert_eq!(at(&d, "user_id"), [&Bson::String("u".into())]);
        assert_eq!(at(&d, "properties.order_id"), [&Bson::String("o".into())]);
        assert_eq!(at(&d, "results_clicked").len(), 2);
        assert!(at(&d, "properties.offer_id").is_empty());
        assert!(at(&d, "user_id.x").is_empty());
    }

    #[test]
    fn uuids_are_read_from_text_and_binary() {
        let u = Uuid::from_u128(42);
        assert_eq!(as_uuid(&Bson::String(u.to_string())), Some(u));
        let bin = Bson::Binary(mongodb::bson::Binary {
            subtype: mongodb::bson::spec::BinarySubtype::Uuid,
            bytes: u.as_bytes().to_vec(),
        });
        assert_eq!(as_uuid(&bin), Some(u));
        assert_eq!(as_uuid(&Bson::String("nope".into())), None);
    }
}
