//! Elasticsearch (and OpenSearch-dialect servers) through the official client.
//!
//! The client's generated per-endpoint builders differ between server dialects
//! and alpha releases, so this adapter sends the handful of REST calls rez-db
//! needs through the client's transport (`Elasticsearch::send`): the client
//! still owns connection pooling, TLS (rustls), auth and headers. Index and
//! alias names always carry the configured prefix; callers pass bare names.
//! Errors never show the URL's password.

use std::time::Duration;

use elasticsearch::auth::Credentials;
use elasticsearch::http::headers::{HeaderMap, HeaderValue, CONTENT_TYPE};
use elasticsearch::http::transport::{SingleNodeConnectionPool, TransportBuilder};
use elasticsearch::http::{Method, Url};
use elasticsearch::Elasticsearch;
use serde::Serialize;
use serde_json::{json, Value};

use crate::config::StoreKind;
use crate::error::{CommandError, ErrorKind, Remedy};
use crate::secret::RedactedUrl;

const UNREACHABLE_HINT: &str = "is the server running? `scripts/stack up` starts the local stack";

/// Per request: generous, because a bulk request of a full batch on a busy node is slow.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct Es {
    pub url: RedactedUrl,
    prefix: String,
    client: Elasticsearch,
}

#[derive(Debug, Clone, Serialize)]
pub struct ServerInfo {
    /// `elasticsearch` or `opensearch`.
    pub product: String,
    pub version: String,
    pub cluster: String,
}

/// A request that got no HTTP answer, or an answer with an error status.
#[derive(Debug, Clone)]
pub struct EsError {
    /// `None`: no answer (connection refused, reset, timed out).
    pub status: Option<u16>,
    pub message: String,
}

impl EsError {
    /// Worth retrying: no answer, 429 (too many requests) or a 5xx.
    pub fn is_transient(&self) -> bool {
        match self.status {
            None => true,
            Some(s) => s == 429 || s >= 500,
        }
    }
}

impl std::fmt::Display for EsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.status {
            Some(s) => write!(f, "HTTP {s}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

pub async fn connect(
    url: &RedactedUrl,
    prefix: &str,
    timeout: Duration,
) -> Result<Es, CommandError> {
    let mut bare: Url = url.url().clone();
    let credentials = (!bare.username().is_empty()).then(|| {
        let user = url::form_urlencoded::parse(bare.username().as_bytes())
            .next()
            .map(|(k, _)| k.into_owned())
            .unwrap_or_default();
        let pass = bare
            .password()
            .map(|p| {
                url::form_urlencoded::parse(p.as_bytes())
                    .next()
                    .map(|(k, _)| k.into_owned())
                    .unwrap_or_default()
            })
            .unwrap_or_default();
        Credentials::Basic(user, pass)
    });
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let mut builder = TransportBuilder::new(SingleNodeConnectionPool::new(bare))
        .timeout(REQUEST_TIMEOUT)
        .enable_meta_header(false);
    if let Some(c) = credentials {
        builder = builder.auth(c);
    }
    let transport = builder.build().map_err(|e| {
        CommandError::usage(url.scrub(&format!("cannot build a client for {url}: {e}")))
    })?;
    let es = Es {
        url: url.clone(),
        prefix: prefix.to_string(),
        client: Elasticsearch::new(transport),
    };
    match tokio::time::timeout(timeout, es.call(Method::Get, "/", None)).await {
        Err(_) => Err(es.unreachable(format!(
            "Elasticsearch at {url} did not answer within {}s",
            timeout.as_secs()
        ))),
        Ok(Err(e)) => Err(es.error(e)),
        Ok(Ok(_)) => Ok(es),
    }
}

impl Es {
    /// `name` with the configured prefix.
    pub fn name(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    fn unreachable(&self, message: String) -> CommandError {
        CommandError::new(ErrorKind::Unreachable, self.url.scrub(&message))
            .with_hint(UNREACHABLE_HINT)
            .with_remedy(Remedy::Relocate(StoreKind::Elasticsearch))
    }

    /// A failed call as a command error: no answer is exit 3, an error status exit 1.
    pub fn error(&self, e: EsError) -> CommandError {
        match e.status {
            None => self.unreachable(format!(
                "cannot reach Elasticsearch at {}: {}",
                self.url, e.message
            )),
            Some(401 | 403) => CommandError::usage(self.url.scrub(&format!(
                "Elasticsearch at {} refused the credentials: {e}",
                self.url
            )))
            .with_hint("check the user and password in the URL"),
            Some(_) => CommandError::failed(
                self.url
                    .scrub(&format!("Elasticsearch error on {}: {e}", self.url)),
            ),
        }
    }

    /// One REST call with a JSON body; an error status is an `EsError` carrying the server's reason.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Value, EsError> {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("a JSON value serialises"));
        self.send(method, path, "application/json", bytes).await
    }

    /// A REST call that may answer 404: `Ok(None)` then.
    pub async fn call_opt(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<Value>, EsError> {
        match self.call(method, path, body).await {
            Err(e) if e.status == Some(404) => Ok(None),
            other => other.map(Some),
        }
    }

    /// A GET-style call whose answer is returned as text, byte for byte (no JSON round trip).
    pub async fn call_text(&self, method: Method, path: &str) -> Result<String, EsError> {
        let (status, text) = self.exchange(method, path, HeaderMap::new(), None).await?;
        match status {
            400.. => Err(EsError {
                status: Some(status),
                message: text,
            }),
            _ => Ok(text),
        }
    }

    /// Sends one request and reads the answer's status and body as text.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        headers: HeaderMap,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, String), EsError> {
        let response = self
            .client
            .send::<Vec<u8>, ()>(method, path, headers, None, body, None)
            .await
            .map_err(|e| EsError {
                status: e.status_code().map(|s| s.as_u16()),
                message: self.url.scrub(&e.to_string()),
            })?;
        let status = response.status_code().as_u16();
        let text = response.text().await.map_err(|e| EsError {
            status: None,
            message: self.url.scrub(&e.to_string()),
        })?;
        Ok((status, text))
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Option<Vec<u8>>,
    ) -> Result<Value, EsError> {
        let text = self.send_raw(method, path, content_type, body).await?;
        Ok(if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        })
    }

    /// The answer's body as text; an error status is an `EsError` with the server's reason.
    async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &'static str,
        body: Option<Vec<u8>>,
    ) -> Result<String, EsError> {
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        let (status, text) = self.exchange(method, path, headers, body).await?;
        if status >= 400 {
            let value: Value = serde_json::from_str(&text).unwrap_or(Value::String(text));
            let reason = value
                .pointer("/error/reason")
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string());
            let kind = value
                .pointer("/error/type")
                .and_then(Value::as_str)
                .unwrap_or("error");
            return Err(EsError {
                status: Some(status),
                message: format!("{kind}: {reason}"),
            });
        }
        Ok(text)
    }

    pub async fn server_info(&self) -> Result<ServerInfo, CommandError> {
        let root = self
            .call(Method::Get, "/", None)
            .await
            .map_err(|e| self.error(e))?;
        let text = |p: &str| {
            root.pointer(p)
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let distribution = text("/version/distribution");
        Ok(ServerInfo {
            product: if distribution.is_empty() {
                "elasticsearch".into()
            } else {
                distribution
            },
            version: text("/version/number"),
            cluster: text("/cluster_name"),
        })
    }

    /// The concrete indices alias `alias` points at (bare alias; names returned with prefix).
    pub async fn alias_targets(&self, alias: &str) -> Result<Vec<String>, CommandError> {
        let path = format!("/_alias/{}", self.name(alias));
        let found = self
            .call_opt(Method::Get, &path, None)
            .await
            .map_err(|e| self.error(e))?;
        let mut names: Vec<String> = found
            .as_ref()
            .and_then(Value::as_object)
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        Ok(names)
    }

    /// Concrete indices named `<prefix><alias>_v<N>`, with their version numbers, oldest first.
    pub async fn versions(&self, alias: &str) -> Result<Vec<(u32, String)>, CommandError> {
        let path = format!(
            "/_cat/indices/{}_v*?format=json&h=index&expand_wildcards=all",
            self.name(alias)
        );
        let found = self
            .call_opt(Method::Get, &path, None)
            .await
            .map_err(|e| self.error(e))?;
        let stem = format!("{}_v", self.name(alias));
        let mut out: Vec<(u32, String)> = found
            .as_ref()
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|row| row.get("index").and_then(Value::as_str))
            .filter_map(|name| Some((name.strip_prefix(&stem)?.parse().ok()?, name.to_string())))
            .collect();
        out.sort();
        Ok(out)
    }

    pub async fn index_exists(&self, index: &str) -> Result<bool, CommandError> {
        let path = format!("/{index}");
        Ok(self
            .call_opt(Method::Head, &path, None)
            .await
            .map_err(|e| self.error(e))?
            .is_some())
    }

    /// Creates concrete index `index` (full name) with `body` (settings + mappings).
    pub async fn create_index(&self, index: &str, body: &Value) -> Result<(), EsError> {
        self.call(Method::Put, &format!("/{index}"), Some(body))
            .await
            .map(|_| ())
    }

    pub async fn delete_index(&self, index: &str) -> Result<(), CommandError> {
        let path = format!("/{index}");
        self.call_opt(Method::Delete, &path, None)
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// Points `alias` (bare) at `to` (full name), removing it from `from`, in one
    /// `_aliases` call: searches never see the alias missing or doubled.
    pub async fn swap_alias(
        &self,
        alias: &str,
        from: &[String],
        to: &str,
    ) -> Result<(), CommandError> {
        let alias = self.name(alias);
        let mut actions: Vec<Value> = from
            .iter()
            .filter(|i| *i != to)
            .map(|i| json!({"remove": {"index": i, "alias": alias}}))
            .collect();
        actions.push(json!({"add": {"index": to, "alias": alias}}));
        self.call(
            Method::Post,
            "/_aliases",
            Some(&json!({"actions": actions})),
        )
        .await
        .map(|_| ())
        .map_err(|e| self.error(e))
    }

    /// A call whose error is a command error (exit 3 without an answer, else 1).
    async fn checked(&self, method: Method, path: &str) -> Result<Value, CommandError> {
        self.call(method, path, None)
            .await
            .map_err(|e| self.error(e))
    }

    /// The live `mappings` object of `index`.
    pub async fn mapping(&self, index: &str) -> Result<Value, CommandError> {
        let v = self
            .checked(Method::Get, &format!("/{index}/_mapping"))
            .await?;
        Ok(first_at(&v, "/mappings"))
    }

    /// The live `settings.index` object of `index`.
    pub async fn settings(&self, index: &str) -> Result<Value, CommandError> {
        let v = self
            .checked(Method::Get, &format!("/{index}/_settings"))
            .await?;
        Ok(first_at(&v, "/settings/index"))
    }

    pub async fn refresh(&self, index: &str) -> Result<(), CommandError> {
        self.checked(Method::Post, &format!("/{index}/_refresh"))
            .await
            .map(|_| ())
    }

    pub async fn count(&self, index: &str) -> Result<u64, CommandError> {
        let v = self
            .checked(Method::Get, &format!("/{index}/_count"))
            .await?;
        Ok(v.get("count").and_then(Value::as_u64).unwrap_or(0))
    }

    /// Sets index settings (e.g. refresh_interval during a rebuild).
    pub async fn put_settings(&self, index: &str, settings: &Value) -> Result<(), CommandError> {
        self.call(Method::Put, &format!("/{index}/_settings"), Some(settings))
            .await
            .map(|_| ())
            .map_err(|e| self.error(e))
    }

    /// One `_bulk` request of NDJSON lines; the reply's per-item results are the caller's to read.
    /// The reply is returned as text: a thousand-item reply is read once, into
    /// the caller's typed struct, not into a `Value` tree first.
    pub async fn bulk(&self, ndjson: Vec<u8>) -> Result<String, EsError> {
        self.send_raw(Method::Post, "/_bulk", "application/x-ndjson", Some(ndjson))
            .await
    }
}

/// `pointer` inside the first (only) index of a per-index reply (`{"<index>": {...}}`).
fn first_at(v: &Value, pointer: &str) -> Value {
    v.as_object()
        .and_then(|o| o.values().next())
        .and_then(|i| i.pointer(pointer))
        .cloned()
        .unwrap_or(Value::Null)
}
