//! What `seed --synthetic` writes to MongoDB once its PostgreSQL dataset is
//! committed: the five collections of `synthetic::activity`, built from the
//! committed rows (read in a fixed order, so the documents are the same for
//! the same `--rng-seed` and `--now`) and sent with unordered `insertMany`
//! calls of [`BATCH`] documents. It fills empty collections only
//! ([`ensure_empty`], checked before anything is loaded): the documents'
//! `_id`s are the dataset's, and a second copy would only collide.
//!
//! `validate` (`mongo.notification_logs`, `mongo.references`) checks the
//! result against PostgreSQL.

use chrono::{DateTime, Utc};
use futures_util::TryStreamExt;
use mongodb::bson::Document;
use rust_decimal::Decimal;
use serde::Serialize;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use super::synthetic::activity::{self, Catalog, NotificationRow, OrderRow, ProductRow};
use super::synthetic::activity::{RedemptionRow, UserRow, COLLECTIONS};
use crate::error::{CommandError, Result};
use crate::progress::{Progress, Unit};
use crate::store::mongo::Mongo;

/// Documents per `insertMany`.
pub const BATCH: usize = 1_000;

/// One collection seed filled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FilledCollection {
    pub collection: &'static str,
    pub documents: u64,
}

/// Refuses (exit 2) when a collection seed fills already holds documents.
pub async fn ensure_empty(mongo: &Mongo) -> Result<()> {
    for c in COLLECTIONS {
        let n = mongo.count(c).await?;
        if n > 0 {
            return Err(CommandError::usage(format!(
                "MongoDB collection {c} of {} already holds {n} documents; \
                 a synthetic dataset fills empty collections only",
                mongo.database_name()
            ))
            .with_hint("empty those collections, or point MONGODB_URI at another database"));
        }
    }
    Ok(())
}

const PRODUCTS: &str = "SELECT p.id, p.merchant_id, p.name, m.city, \
     (coalesce(p.is_active, false) AND m.deleted_at IS NULL AND m.status = 'active') \
     FROM products p JOIN merchants m ON m.id = p.merchant_id ORDER BY p.id";

const ORDERS: &str =
    "SELECT o.id, o.user_id, coalesce(u.created_at, o.created_at), o.merchant_id, \
     m.city, o.total_amount, o.created_at \
     FROM orders o JOIN users u ON u.id = o.user_id JOIN merchants m ON m.id = o.merchant_id \
     ORDER BY o.created_at, o.id";

const REDEMPTIONS: &str = "SELECT id, user_id, offer_id, merchant_id, order_id, \
     coalesce(redeemed_at, created_at) FROM offer_redemptions \
     WHERE coalesce(redeemed_at, created_at) IS NOT NULL ORDER BY id";

const NOTIFICATIONS: &str = "SELECT id, user_id, delivery_method, delivered, is_read, \
     coalesce(created_at, $1) FROM notifications ORDER BY id";

/// Users with their orders that were not cancelled, oldest first.
const USERS: &str = "SELECT u.id, coalesce(u.created_at, $1), \
     coalesce(array_agg(o.created_at ORDER BY o.created_at, o.id) FILTER (WHERE o.id IS NOT NULL), '{}'), \
     coalesce(array_agg(o.total_amount ORDER BY o.created_at, o.id) FILTER (WHERE o.id IS NOT NULL), '{}') \
     FROM users u LEFT JOIN orders o ON o.user_id = u.id AND o.status IS DISTINCT FROM 'cancelled' \
     GROUP BY u.id ORDER BY u.id";

/// The documents waiting to be sent, per collection.
struct Outbox<'a> {
    mongo: &'a Mongo,
    progress: &'a dyn Progress,
    pending: Vec<(&'static str, Vec<Document>)>,
    sent: Vec<FilledCollection>,
}

impl<'a> Outbox<'a> {
    fn new(mongo: &'a Mongo, progress: &'a dyn Progress) -> Outbox<'a> {
        Outbox {
            mongo,
            progress,
            pending: COLLECTIONS.iter().map(|c| (*c, Vec::new())).collect(),
            sent: COLLECTIONS
                .iter()
                .map(|c| FilledCollection {
                    collection: c,
                    documents: 0,
                })
                .collect(),
        }
    }

    async fn add(&mut self, collection: &'static str, doc: Document) -> Result<()> {
        let i = COLLECTIONS
            .iter()
            .position(|c| *c == collection)
            .expect("a collection of COLLECTIONS");
        self.pending[i].1.push(doc);
        if self.pending[i].1.len() >= BATCH {
            self.flush(i).await?;
        }
        Ok(())
    }

    async fn flush(&mut self, i: usize) -> Result<()> {
        let docs = std::mem::take(&mut self.pending[i].1);
        let n = self.mongo.insert_many(self.pending[i].0, docs).await?;
        self.sent[i].documents += n;
        self.progress.advance(n);
        Ok(())
    }

    async fn finish(mut self) -> Result<Vec<FilledCollection>> {
        for i in 0..self.pending.len() {
            self.flush(i).await?;
        }
        Ok(self.sent)
    }
}

/// Fills the collections from the database `pg` is connected to.
pub async fn fill_mongo(
    pg: &mut PgConnection,
    mongo: &Mongo,
    rng_seed: u64,
    now: DateTime<Utc>,
    pg_err: impl Fn(sqlx::Error) -> CommandError,
    progress: &dyn Progress,
) -> Result<Vec<FilledCollection>> {
    progress.begin(0, Unit::Items("documents"));
    progress.note("mongodb");
    let products: Vec<ProductRow> =
        sqlx::query_as::<_, (Uuid, Uuid, String, String, Option<bool>)>(PRODUCTS)
            .fetch_all(&mut *pg)
            .await
            .map_err(&pg_err)?
            .into_iter()
            .map(|(id, merchant_id, name, city, searchable)| ProductRow {
                id,
                merchant_id,
                name,
                city,
                searchable: searchable.unwrap_or(false),
            })
            .collect();
    let catalog = Catalog::new(products);
    let mut out = Outbox::new(mongo, progress);

    type Order = (
        Uuid,
        Uuid,
        DateTime<Utc>,
        Uuid,
        String,
        Decimal,
        DateTime<Utc>,
    );
    let mut orders = sqlx::query_as::<_, Order>(ORDERS).fetch(&mut *pg);
    let mut k = 0;
    while let Some((id, user_id, user_created_at, merchant_id, city, total, created_at)) =
        orders.try_next().await.map_err(&pg_err)?
    {
        let row = OrderRow {
            id,
            user_id,
            user_created_at,
            merchant_id,
            city,
            total,
            created_at,
        };
        let session = activity::order_session(rng_seed, k, &row, &catalog);
        for doc in session.activity {
            out.add("user_activity_logs", doc).await?;
        }
        if let Some(search) = session.search {
            out.add("search_queries", search).await?;
        }
        k += 1;
    }
    drop(orders);

    type Redemption = (Uuid, Uuid, Uuid, Uuid, Option<Uuid>, DateTime<Utc>);
    let mut redemptions = sqlx::query_as::<_, Redemption>(REDEMPTIONS).fetch(&mut *pg);
    let mut k = 0;
    while let Some((id, user_id, offer_id, merchant_id, order_id, redeemed_at)) =
        redemptions.try_next().await.map_err(&pg_err)?
    {
        let row = RedemptionRow {
            id,
            user_id,
            offer_id,
            merchant_id,
            order_id,
            redeemed_at,
        };
        let doc = activity::redemption_event(rng_seed, k, &row);
        out.add("user_activity_logs", doc).await?;
        k += 1;
    }
    drop(redemptions);

    type Notification = (
        Uuid,
        Uuid,
        Option<String>,
        Option<bool>,
        Option<bool>,
        DateTime<Utc>,
    );
    let mut notifications = sqlx::query_as::<_, Notification>(NOTIFICATIONS)
        .bind(now)
        .fetch(&mut *pg);
    while let Some((id, user_id, delivery_method, delivered, is_read, created_at)) =
        notifications.try_next().await.map_err(&pg_err)?
    {
        let row = NotificationRow {
            id,
            user_id,
            delivery_method,
            delivered,
            is_read,
            created_at,
        };
        out.add("notification_logs", activity::notification_log(&row))
            .await?;
    }
    drop(notifications);

    type User = (Uuid, DateTime<Utc>, Vec<DateTime<Utc>>, Vec<Decimal>);
    let mut users = sqlx::query_as::<_, User>(USERS).bind(now).fetch(&mut *pg);
    let mut k = 0;
    while let Some((id, created_at, times, totals)) = users.try_next().await.map_err(&pg_err)? {
        let row = UserRow {
            id,
            created_at,
            orders: times.into_iter().zip(totals).collect(),
        };
        let (tests, fraud) = activity::user_documents(rng_seed, now, k, &row);
        for doc in tests {
            out.add("ab_test_results", doc).await?;
        }
        for doc in fraud {
            out.add("fraud_detection_logs", doc).await?;
        }
        k += 1;
    }
    drop(users);
    out.finish().await
}
