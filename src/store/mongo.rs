//! MongoDB through the official driver: connect (bounded by the configured
//! timeout), identify the server, and the few commands provisioning needs —
//! collections with validators, indexes one at a time, and the history
//! collection `rez_schema_history`.
//!
//! Indexes are created with one `createIndexes` call each: a server that refuses
//! one (e.g. a MongoDB-compatible server without text indexes, code 67) fails that
//! call only, so the refusal can be reported by name while the others are built.
//! Errors never show the URI's password.

use std::sync::Mutex;
use std::time::Duration;

use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, Document};
use mongodb::error::{Error as DriverError, ErrorKind as DriverKind};
use mongodb::options::ClientOptions;
use mongodb::{Client, Database};
use serde::Serialize;

use crate::config::names;
use crate::config::StoreKind;
use crate::definitions::mongo::{IndexSpec, KeyKind, Validator};
use crate::error::{CommandError, ErrorKind, Remedy};
use crate::secret::RedactedUrl;

/// The collection that records what `create`/`migrate` applied, per collection file.
pub const HISTORY_COLLECTION: &str = "rez_schema_history";

const UNREACHABLE_HINT: &str = "is the server running? `scripts/stack up` starts the local stack";

/// Server error codes we give a meaning to.
pub mod code {
    /// CannotCreateIndex: e.g. a server without text indexes.
    pub const CANNOT_CREATE_INDEX: i32 = 67;
    pub const NAMESPACE_EXISTS: i32 = 48;
    pub const INDEX_NOT_FOUND: i32 = 27;
    pub const NAMESPACE_NOT_FOUND: i32 = 26;
}

/// A connected database; a clone shares the client's pool.
#[derive(Clone)]
pub struct Mongo {
    pub url: RedactedUrl,
    client: Client,
    db: Database,
}

/// What the server says it is.
#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    pub product: String,
    pub version: String,
    pub database: String,
}

/// A failed server command: its code (if the server gave one) and message.
#[derive(Debug, Clone, Serialize)]
pub struct Refusal {
    pub code: Option<i32>,
    pub message: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.code {
            Some(c) => write!(f, "code {c}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The clients a run's commands use ([`Mongo::shut_down_at_exit`]), for [`close_all`].
static OPENED: Mutex<Vec<Client>> = Mutex::new(Vec::new());

/// Shuts down every client handed to [`Mongo::shut_down_at_exit`], each
/// within `within`; called once the command is done. Without it, the driver's drop of the last handle to a
/// client spawns a task that ends its server sessions, and the runtime's
/// teardown right after can drop the connection pool under that task: the
/// driver then panics (`connection_requester.rs`: "SendError"), which exits
/// 255 after a command that succeeded (seen once in the stores tests, after
/// `seed --synthetic` had printed its report).
pub async fn close_all(within: Duration) {
    let clients = std::mem::take(
        &mut *OPENED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    );
    for client in clients {
        // Immediate: nothing of this run waits on a cursor or session now.
        let _ = tokio::time::timeout(within, client.shutdown().immediate(true)).await;
    }
}

/// Connects to the database the URI names and checks that the server answers
/// within `timeout` (exit 3 otherwise).
pub async fn connect(url: &RedactedUrl, timeout: Duration) -> Result<Mongo, CommandError> {
    // `Config` checked the name in the URI as written (before URL parsing
    // resolved any `..`); checked again here for callers that build a URL
    // themselves, by the same rule.
    let name = names::mongo_database(url.expose()).map_err(|why| {
        CommandError::usage(format!("invalid MongoDB database in {url}: {why}"))
            .with_hint(names::MONGO_RULE)
    })?;
    let mut options = tokio::time::timeout(timeout, ClientOptions::parse(url.expose()))
        .await
        .map_err(|_| {
            unreachable(
                url,
                format!("resolving {url} took longer than {}s", timeout.as_secs()),
            )
        })?
        .map_err(|e| error(url, e))?;
    options.app_name = Some("rez-db".into());
    options.server_selection_timeout = Some(timeout);
    options.connect_timeout = Some(timeout);
    let client = Client::with_options(options).map_err(|e| error(url, e))?;
    let db = client.database(&name);
    db.run_command(doc! {"ping": 1})
        .await
        .map_err(|e| error(url, e))?;
    Ok(Mongo {
        url: url.clone(),
        client,
        db,
    })
}

fn unreachable(url: &RedactedUrl, message: String) -> CommandError {
    CommandError::new(ErrorKind::Unreachable, url.scrub(&message))
        .with_hint(UNREACHABLE_HINT)
        .with_remedy(Remedy::Relocate(StoreKind::Mongodb))
}

/// The server's error code, for command errors.
pub fn code_of(e: &DriverError) -> Option<i32> {
    match e.kind.as_ref() {
        DriverKind::Command(c) => Some(c.code),
        DriverKind::Write(mongodb::error::WriteFailure::WriteError(w)) => Some(w.code),
        _ => None,
    }
}

/// Turns a driver error into a command error with the right exit code.
pub fn error(url: &RedactedUrl, e: DriverError) -> CommandError {
    let text = url.scrub(&e.to_string());
    match e.kind.as_ref() {
        DriverKind::ServerSelection { .. }
        | DriverKind::Io(_)
        | DriverKind::DnsResolve { .. }
        | DriverKind::ConnectionPoolCleared { .. } => {
            unreachable(url, format!("cannot reach MongoDB at {url}: {text}"))
        }
        DriverKind::Authentication { .. } => {
            CommandError::usage(format!("MongoDB refused the credentials for {url}: {text}"))
                .with_hint("check the user and password in the URI (and authSource)")
        }
        DriverKind::InvalidArgument { .. } | DriverKind::InvalidTlsConfig { .. } => {
            CommandError::usage(format!("invalid MongoDB URI {url}: {text}"))
                .with_hint("expected a URI like mongodb://user:password@host:27017/rez_logs")
        }
        _ => CommandError::failed(format!("MongoDB error on {url}: {text}")),
    }
}

impl Mongo {
    pub fn database_name(&self) -> &str {
        self.db.name()
    }

    fn err(&self, e: DriverError) -> CommandError {
        error(&self.url, e)
    }

    /// Runs `command`; a server refusal comes back as `Ok(Err(refusal))`, a
    /// connection failure as a command error.
    async fn command(&self, command: Document) -> Result<Result<Document, Refusal>, CommandError> {
        match self.db.run_command(command).await {
            Ok(reply) => Ok(Ok(reply)),
            Err(e) => match code_of(&e) {
                Some(code) => Ok(Err(Refusal {
                    code: Some(code),
                    message: self.url.scrub(&match e.kind.as_ref() {
                        DriverKind::Command(c) => c.message.clone(),
                        _ => e.to_string(),
                    }),
                })),
                None => Err(self.err(e)),
            },
        }
    }

    /// The feature compatibility version (`7.0`), None when the server does
    /// not tell it (a MongoDB-compatible server without the parameter).
    pub async fn feature_compatibility_version(&self) -> Result<Option<String>, CommandError> {
        let reply = self
            .client
            .database("admin")
            .run_command(doc! {"getParameter": 1, "featureCompatibilityVersion": 1})
            .await;
        match reply {
            Ok(reply) => Ok(reply
                .get_document("featureCompatibilityVersion")
                .ok()
                .and_then(|d| d.get_str("version").ok())
                .map(str::to_string)),
            Err(e) if code_of(&e).is_some() => Ok(None),
            Err(e) => Err(self.err(e)),
        }
    }

    pub async fn server_info(&self) -> Result<ServerInfo, CommandError> {
        let info = self
            .client
            .database("admin")
            .run_command(doc! {"buildInfo": 1})
            .await
            .map_err(|e| self.err(e))?;
        Ok(ServerInfo {
            product: "MongoDB".into(),
            version: info.get_str("version").unwrap_or("unknown").to_string(),
            database: self.db.name().to_string(),
        })
    }

    pub async fn collection_names(&self) -> Result<Vec<String>, CommandError> {
        self.db
            .list_collection_names()
            .await
            .map_err(|e| self.err(e))
    }

    /// The collection's current `validator` option (as relaxed extended JSON).
    pub async fn validator_of(
        &self,
        collection: &str,
    ) -> Result<Option<serde_json::Value>, CommandError> {
        let mut cursor = self
            .db
            .list_collections()
            .filter(doc! {"name": collection})
            .await
            .map_err(|e| self.err(e))?;
        let spec = cursor.try_next().await.map_err(|e| self.err(e))?;
        Ok(spec
            .and_then(|s| s.options.validator)
            .map(|v| Bson::Document(v).into_relaxed_extjson()))
    }

    pub async fn create_collection(
        &self,
        name: &str,
        validator: Option<&Validator>,
    ) -> Result<Result<(), Refusal>, CommandError> {
        let mut cmd = doc! {"create": name};
        if let Some(v) = validator {
            cmd.extend(validator_options(v)?);
        }
        Ok(self.command(cmd).await?.map(|_| ()))
    }

    /// Replaces the collection's validator (collMod: no rebuild, no lock on reads).
    pub async fn set_validator(
        &self,
        name: &str,
        validator: &Validator,
    ) -> Result<Result<(), Refusal>, CommandError> {
        let mut cmd = doc! {"collMod": name};
        cmd.extend(validator_options(validator)?);
        Ok(self.command(cmd).await?.map(|_| ()))
    }

    /// `listIndexes` of a collection, as the server returns them (empty if it does not exist).
    pub async fn list_indexes(&self, collection: &str) -> Result<Vec<Document>, CommandError> {
        let reply = match self.command(doc! {"listIndexes": collection}).await? {
            Ok(reply) => reply,
            Err(r) if r.code == Some(code::NAMESPACE_NOT_FOUND) => return Ok(Vec::new()),
            Err(r) => {
                return Err(CommandError::failed(format!(
                    "listIndexes {collection} on {}: {r}",
                    self.url
                )))
            }
        };
        let mut out: Vec<Document> = reply
            .get_document("cursor")
            .and_then(|c| c.get_array("firstBatch"))
            .map(|a| a.iter().filter_map(|b| b.as_document().cloned()).collect())
            .unwrap_or_default();
        let mut id = reply
            .get_document("cursor")
            .ok()
            .and_then(|c| c.get_i64("id").ok())
            .unwrap_or(0);
        while id != 0 {
            let more = self
                .command(doc! {"getMore": id, "collection": collection})
                .await?
                .map_err(|r| {
                    CommandError::failed(format!("listIndexes {collection} on {}: {r}", self.url))
                })?;
            let cursor = more.get_document("cursor").cloned().unwrap_or_default();
            out.extend(
                cursor
                    .get_array("nextBatch")
                    .map(|a| {
                        a.iter()
                            .filter_map(|b| b.as_document().cloned())
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default(),
            );
            id = cursor.get_i64("id").unwrap_or(0);
        }
        Ok(out)
    }

    /// Creates one index; a refusal (unsupported type, conflicting options) is `Ok(Err(..))`.
    pub async fn create_index(
        &self,
        collection: &str,
        spec: &IndexSpec,
    ) -> Result<Result<(), Refusal>, CommandError> {
        let index = index_document(spec)?;
        Ok(self
            .command(doc! {"createIndexes": collection, "indexes": [index]})
            .await?
            .map(|_| ()))
    }

    pub async fn drop_index(
        &self,
        collection: &str,
        name: &str,
    ) -> Result<Result<(), Refusal>, CommandError> {
        Ok(self
            .command(doc! {"dropIndexes": collection, "index": name})
            .await?
            .map(|_| ()))
    }

    /// Changes a TTL index's expireAfterSeconds in place.
    pub async fn set_ttl(
        &self,
        collection: &str,
        name: &str,
        seconds: i64,
    ) -> Result<Result<(), Refusal>, CommandError> {
        Ok(self
            .command(doc! {"collMod": collection, "index": {"name": name, "expireAfterSeconds": seconds}})
            .await?
            .map(|_| ()))
    }

    /// Appends one entry to the history collection.
    pub async fn record_history(&self, entry: Document) -> Result<(), CommandError> {
        self.db
            .collection::<Document>(HISTORY_COLLECTION)
            .insert_one(entry)
            .await
            .map(|_| ())
            .map_err(|e| self.err(e))
    }

    /// The newest history entry of each collection file, oldest first.
    pub async fn latest_history(&self) -> Result<Vec<Document>, CommandError> {
        let cursor = self
            .db
            .collection::<Document>(HISTORY_COLLECTION)
            .aggregate([
                doc! {"$sort": {"applied_at": 1}},
                doc! {"$group": {"_id": "$collection", "last": {"$last": "$$ROOT"}}},
                doc! {"$replaceRoot": {"newRoot": "$last"}},
                doc! {"$sort": {"collection": 1}},
            ])
            .await
            .map_err(|e| self.err(e))?;
        cursor.try_collect().await.map_err(|e| self.err(e))
    }

    /// Inserts `docs` into `collection` with one unordered `insertMany`. A
    /// document the collection's validator refuses (code 121) fails the call,
    /// naming the collection and the server's reason.
    pub async fn insert_many(
        &self,
        collection: &str,
        docs: Vec<Document>,
    ) -> Result<u64, CommandError> {
        if docs.is_empty() {
            return Ok(0);
        }
        let done = self
            .db
            .collection::<Document>(collection)
            .insert_many(docs)
            .ordered(false)
            .await
            .map_err(|e| {
                CommandError::failed(format!(
                    "inserting into MongoDB collection {collection} on {}: {}",
                    self.url,
                    self.url.scrub(&e.to_string())
                ))
            })?;
        Ok(done.inserted_ids.len() as u64)
    }

    /// The number of documents in `collection` (0 when it does not exist).
    pub async fn count(&self, collection: &str) -> Result<u64, CommandError> {
        self.db
            .collection::<Document>(collection)
            .count_documents(doc! {})
            .await
            .map_err(|e| self.err(e))
    }

    /// Every document of `collection`, reduced to the fields of `projection`,
    /// read as the caller goes.
    pub async fn scan(
        &self,
        collection: &str,
        projection: Document,
    ) -> Result<mongodb::Cursor<Document>, CommandError> {
        self.db
            .collection::<Document>(collection)
            .find(doc! {})
            .projection(projection)
            .batch_size(1000)
            .await
            .map_err(|e| self.err(e))
    }

    /// Drops the whole database (tests, `create --drop`).
    pub async fn drop_database(&self) -> Result<(), CommandError> {
        self.db.drop().await.map_err(|e| self.err(e))
    }

    /// Leaves this handle's client to [`close_all`] at the end of the run
    /// (the face's store handles; a caller that ends its own clients, like a
    /// test, need not).
    pub fn shut_down_at_exit(&self) {
        OPENED
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(self.client.clone());
    }

    pub fn database(&self) -> &Database {
        &self.db
    }
}

fn validator_options(v: &Validator) -> Result<Document, CommandError> {
    let schema = mongodb::bson::to_bson(&v.json_schema)
        .map_err(|e| CommandError::bug(format!("validator is not BSON: {e}")))?;
    Ok(doc! {
        "validator": {"$jsonSchema": schema},
        "validationLevel": v.level.as_str(),
        "validationAction": v.action.as_str(),
    })
}

/// The `createIndexes` entry for a declared index.
pub fn index_document(spec: &IndexSpec) -> Result<Document, CommandError> {
    let mut key = Document::new();
    for (field, kind) in &spec.keys {
        key.insert(
            field.clone(),
            match kind {
                KeyKind::Asc => Bson::Int32(1),
                KeyKind::Desc => Bson::Int32(-1),
                KeyKind::Text => Bson::String("text".into()),
                KeyKind::Geo2dSphere => Bson::String("2dsphere".into()),
                KeyKind::Hashed => Bson::String("hashed".into()),
            },
        );
    }
    let mut index = doc! {"key": key, "name": spec.name.as_str()};
    if spec.unique {
        index.insert("unique", true);
    }
    if spec.sparse {
        index.insert("sparse", true);
    }
    if let Some(s) = spec.expire_after_seconds {
        index.insert("expireAfterSeconds", s);
    }
    if let Some(p) = &spec.partial_filter_expression {
        let p = mongodb::bson::to_bson(p)
            .map_err(|e| CommandError::bug(format!("partial filter is not BSON: {e}")))?;
        index.insert("partialFilterExpression", p);
    }
    if let Some(l) = &spec.default_language {
        index.insert("default_language", l.as_str());
    }
    Ok(index)
}
