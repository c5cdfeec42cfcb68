//! The MongoDB lease: the document `{_id: <scope>, token, command, host, pid,
//! started_at, expires_at}` of the collection `rez_db_locks`, in the database
//! it protects. The unique `_id` makes an insert the atomic "take if free";
//! an expired document is taken over by an update whose filter requires the
//! expiry to have passed, so of two runs only one matches. Renewal and release
//! filter on the token.
//!
//! `restore` replaces the database's collections but keeps this one (see
//! `backup::mongo::clear`), and `backup` never copies it.

use mongodb::bson::{doc, DateTime as BsonDateTime, Document};
use mongodb::Collection;

use super::{expiry_from_now, left_until, millis, Attempt, Holder, Scope};
use crate::error::CommandError;
use crate::store::mongo::{self as store, Mongo};

/// The collection of leases, in the target database.
pub const COLLECTION: &str = "rez_db_locks";
/// MongoDB's duplicate-key error: the lease exists.
const DUPLICATE_KEY: i32 = 11000;

#[derive(Clone)]
pub struct Place {
    mongo: Mongo,
    scope: &'static str,
}

fn bson_time(t: chrono::DateTime<chrono::Utc>) -> BsonDateTime {
    BsonDateTime::from_millis(millis(t))
}

impl Place {
    pub fn new(mongo: &Mongo, scope: Scope) -> Place {
        Place {
            mongo: mongo.clone(),
            scope: scope.as_str(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "MongoDB database `{}` ({}, document `{}` of `{COLLECTION}`)",
            self.mongo.database_name(),
            self.mongo.url,
            self.scope
        )
    }

    fn collection(&self) -> Collection<Document> {
        self.mongo.database().collection(COLLECTION)
    }

    fn err(&self, e: mongodb::error::Error) -> CommandError {
        store::error(&self.mongo.url, e)
    }

    /// The holder's fields and a fresh expiry.
    fn fields(holder: &Holder) -> Document {
        doc! {
            "token": &holder.token,
            "command": &holder.command,
            "host": &holder.host,
            "pid": i64::from(holder.pid),
            "started_at": bson_time(holder.started_at),
            "expires_at": bson_time(expiry_from_now()),
        }
    }

    pub async fn try_take(&self, holder: &Holder) -> Result<Attempt, CommandError> {
        let mut lease = doc! {"_id": self.scope};
        lease.extend(Self::fields(holder));
        match self.collection().insert_one(lease).await {
            Ok(_) => return Ok(Attempt::Taken),
            Err(e) if store::code_of(&e) == Some(DUPLICATE_KEY) => {}
            Err(e) => return Err(self.err(e)),
        }
        // Held, or left by a run that stopped: take it over if it expired.
        let now = bson_time(chrono::Utc::now());
        let took = self
            .collection()
            .update_one(
                doc! {"_id": self.scope, "expires_at": {"$lt": now}},
                doc! {"$set": Self::fields(holder)},
            )
            .await
            .map_err(|e| self.err(e))?;
        if took.matched_count == 1 {
            return Ok(Attempt::Taken);
        }
        let found = self
            .collection()
            .find_one(doc! {"_id": self.scope})
            .await
            .map_err(|e| self.err(e))?;
        Ok(match found {
            Some(d) => Attempt::Held(
                holder_of(&d),
                d.get_datetime("expires_at")
                    .ok()
                    .and_then(|t| left_until(t.timestamp_millis())),
            ),
            None => Attempt::Held(None, None),
        })
    }

    pub async fn renew(&self, holder: &Holder) -> Result<bool, CommandError> {
        let renewed = self
            .collection()
            .update_one(
                doc! {"_id": self.scope, "token": &holder.token},
                doc! {"$set": {"expires_at": bson_time(expiry_from_now())}},
            )
            .await
            .map_err(|e| self.err(e))?;
        Ok(renewed.matched_count == 1)
    }

    pub async fn release(&self, holder: &Holder) -> Result<(), CommandError> {
        self.collection()
            .delete_one(doc! {"_id": self.scope, "token": &holder.token})
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }
}

/// The holder a lease document names (`None` if it is not rez-db's shape).
fn holder_of(d: &Document) -> Option<Holder> {
    Some(Holder {
        token: d.get_str("token").ok()?.to_string(),
        command: d.get_str("command").ok()?.to_string(),
        host: d.get_str("host").ok()?.to_string(),
        pid: d
            .get_i64("pid")
            .ok()
            .or_else(|| d.get_i32("pid").ok().map(i64::from))
            .and_then(|p| u32::try_from(p).ok())?,
        started_at: chrono::DateTime::from_timestamp_millis(
            d.get_datetime("started_at").ok()?.timestamp_millis(),
        )?,
    })
}
