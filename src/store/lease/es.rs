//! The Elasticsearch lease: the document `<scope>` of the index
//! `<prefix>rez-db-locks` (`token`, `command`, `host`, `pid`, `started_at`,
//! `expires_at` in ms since the epoch). `_create` is the atomic "take if
//! free" (409 if it exists); an expired document is taken over, renewed and
//! deleted only with the `if_seq_no` + `if_primary_term` of the version just
//! read, so of two writers only one succeeds. Reads by id are real-time: no
//! refresh needed.
//!
//! The index is created on first use with one shard and a replica where the
//! cluster has a second node; `backup` skips it and `restore` never deletes it.

use elasticsearch::http::Method;
use serde_json::{json, Value};

use super::{expiry_from_now, left_until, millis, Attempt, Holder, Scope};
use crate::error::CommandError;
use crate::store::es::{Es, EsError};

/// The index of leases, under the index prefix.
pub const INDEX: &str = "rez-db-locks";

#[derive(Clone)]
pub struct Place {
    es: Es,
    index: String,
    scope: &'static str,
}

/// A lease document as read: its body and the version to write over.
struct Found {
    source: Value,
    seq_no: i64,
    primary_term: i64,
}

impl Place {
    pub fn new(es: &Es, scope: Scope) -> Place {
        Place {
            index: es.name(INDEX),
            es: es.clone(),
            scope: scope.as_str(),
        }
    }

    pub fn describe(&self) -> String {
        format!(
            "Elasticsearch {} (document `{}` of index `{}`)",
            self.es.url, self.scope, self.index
        )
    }

    fn err(&self, e: EsError) -> CommandError {
        self.es.error(e)
    }

    /// Creates the index if it does not exist (another run creating it at the same time is fine).
    pub async fn ensure_index(&self) -> Result<(), CommandError> {
        if self.es.index_exists(&self.index).await? {
            return Ok(());
        }
        let body = json!({
            "settings": {"number_of_shards": 1, "auto_expand_replicas": "0-1"},
            "mappings": {"dynamic": false, "properties": {
                "token": {"type": "keyword"},
                "command": {"type": "keyword"},
                "host": {"type": "keyword"},
                "pid": {"type": "long"},
                "started_at": {"type": "date"},
                "expires_at": {"type": "date", "format": "epoch_millis"},
            }},
        });
        match self.es.create_index(&self.index, &body).await {
            Err(e) if e.status == Some(400) && e.message.contains("already_exists") => Ok(()),
            other => other.map_err(|e| self.err(e)),
        }
    }

    fn body(holder: &Holder) -> Value {
        json!({
            "token": holder.token,
            "command": holder.command,
            "host": holder.host,
            "pid": holder.pid,
            "started_at": holder.started_at,
            "expires_at": millis(expiry_from_now()),
        })
    }

    fn doc_path(&self) -> String {
        format!("/{}/_doc/{}", self.index, self.scope)
    }

    async fn read(&self) -> Result<Option<Found>, CommandError> {
        let got = self
            .es
            .call_opt(Method::Get, &self.doc_path(), None)
            .await
            .map_err(|e| self.err(e))?;
        Ok(got.filter(|d| d["found"] == true).and_then(|d| {
            Some(Found {
                seq_no: d["_seq_no"].as_i64()?,
                primary_term: d["_primary_term"].as_i64()?,
                source: d["_source"].clone(),
            })
        }))
    }

    /// Writes `body` over the version `found`; `false` if another writer came first.
    async fn write_over(&self, found: &Found, body: &Value) -> Result<bool, CommandError> {
        let path = format!(
            "{}?if_seq_no={}&if_primary_term={}",
            self.doc_path(),
            found.seq_no,
            found.primary_term
        );
        match self.es.call(Method::Put, &path, Some(body)).await {
            Ok(_) => Ok(true),
            Err(e) if e.status == Some(409) => Ok(false),
            Err(e) => Err(self.err(e)),
        }
    }

    pub async fn try_take(&self, holder: &Holder) -> Result<Attempt, CommandError> {
        let create = format!("/{}/_create/{}", self.index, self.scope);
        match self
            .es
            .call(Method::Put, &create, Some(&Self::body(holder)))
            .await
        {
            Ok(_) => return Ok(Attempt::Taken),
            Err(e) if e.status == Some(409) => {}
            Err(e) => return Err(self.err(e)),
        }
        let Some(found) = self.read().await? else {
            // Released between the two calls: the next attempt takes it.
            return Ok(Attempt::Held(None, None));
        };
        let left = found.source["expires_at"].as_i64().and_then(left_until);
        if left.is_none() && self.write_over(&found, &Self::body(holder)).await? {
            return Ok(Attempt::Taken);
        }
        Ok(Attempt::Held(
            serde_json::from_value(found.source.clone()).ok(),
            left,
        ))
    }

    pub async fn renew(&self, holder: &Holder) -> Result<bool, CommandError> {
        match self.read().await? {
            Some(found) if found.source["token"] == holder.token.as_str() => {
                self.write_over(&found, &Self::body(holder)).await
            }
            _ => Ok(false),
        }
    }

    pub async fn release(&self, holder: &Holder) -> Result<(), CommandError> {
        let Some(found) = self.read().await? else {
            return Ok(());
        };
        if found.source["token"] != holder.token.as_str() {
            return Ok(());
        }
        let path = format!(
            "{}?if_seq_no={}&if_primary_term={}",
            self.doc_path(),
            found.seq_no,
            found.primary_term
        );
        match self.es.call_opt(Method::Delete, &path, None).await {
            Ok(_) => Ok(()),
            Err(e) if e.status == Some(409) => Ok(()),
            Err(e) => Err(self.err(e)),
        }
    }
}
