//! Leases: rez-db's run lock in MongoDB, Redis and Elasticsearch.
//!
//! PostgreSQL's advisory locks (`store::pg::lock`) live in one database: two
//! runs against two PostgreSQL databases that write into the same MongoDB
//! database, Redis key prefix or Elasticsearch index prefix never see each
//! other's lock, and a `restore --only mongo,redis,es` takes none at all. So
//! the lock of a non-PostgreSQL store lives IN that store, beside the data it
//! protects, where every run that writes there must pass:
//!
//! - Redis: the key `<prefix>rez-db:lock:<scope>`, taken with
//!   `SET key value NX PX 60000`; the value (JSON) names the holder.
//! - MongoDB: the document `_id: <scope>` of the collection `rez_db_locks` in
//!   the target database, taken by an insert (the unique `_id` refuses a
//!   second) or by a conditional update of an expired one.
//! - Elasticsearch: the document `<scope>` of the index `<prefix>rez-db-locks`,
//!   taken with `_create`, or over an expired one with `if_seq_no` +
//!   `if_primary_term`. No leading dot: under an empty prefix the name would
//!   start with `.`, which Elasticsearch 8 reserves for system indices.
//!
//! Nothing outside the store is needed (no lock server, no shared file), the
//! same user that writes the data can take the lock, and the lock has the
//! store's own availability. Why a lease and not a lock held by a session: none
//! of the three stores ends a lock with the connection, so a holder killed
//! with `kill -9` would block every later run forever. A lease expires
//! [`TTL`] after its last renewal; a background task renews it every
//! [`RENEW_EVERY`] while the run holds it, so only a run that stopped (or lost
//! the store for 40 s) loses it. MongoDB and Elasticsearch compare the stored
//! expiry with this host's clock: hosts running rez-db against the same store
//! must agree on the time within seconds (NTP).
//!
//! A run releases its lease at the end by its token (compare-and-delete: a
//! lease that expired and was taken by another run is left alone). One that
//! ends early (an error, Ctrl-C, SIGTERM) drops it: the drop queues the
//! release, and [`release_abandoned`] (called by `crate::run` before the
//! process exits) sends it, so the next run does not wait for the expiry.
//!
//! An adapter module: no command, no output; the holder's description goes
//! into the exit-4 error.

mod es;
mod mongo;
mod redis;

/// Where the leases live, for `backup` and `restore`, which leave them out.
pub use self::es::INDEX as ES_INDEX;
pub use self::mongo::COLLECTION as MONGO_COLLECTION;
pub use self::redis::KEY_STEM as REDIS_KEY_STEM;

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{CommandError, ErrorKind, Remedy};

/// A lease not renewed for this long expires (taken over by the next run).
pub const TTL: Duration = Duration::from_secs(60);
/// How often a holder renews its lease: two renewals can fail before it expires.
pub const RENEW_EVERY: Duration = Duration::from_secs(20);
/// How often a waiting run tries again.
const POLL: Duration = Duration::from_millis(250);

/// What a lease protects. One scope today: every run that rewrites a store's
/// data (`restore`, `reindex-es`, `seed`'s Redis structures) takes `data`, so
/// none of them overlaps another in the same store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Data,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Data => "data",
        }
    }
}

/// Who holds a lease: stored as its value, named in the other run's exit 4.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Unique per run: only the run holding it renews or releases it.
    pub token: String,
    /// The rez-db command (`restore`, `reindex-es`, `seed`).
    pub command: String,
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
}

impl Holder {
    /// This process, running `command`.
    pub fn this_run(command: &str) -> Holder {
        Holder {
            token: uuid::Uuid::new_v4().to_string(),
            command: command.to_string(),
            host: host_name(),
            pid: std::process::id(),
            started_at: Utc::now(),
        }
    }

    /// `restore` on host h, pid 42, since 2026-01-15T10:00:00Z
    pub fn describe(&self) -> String {
        format!(
            "`{}` on host {}, pid {}, since {}",
            self.command,
            self.host,
            self.pid,
            self.started_at.to_rfc3339_opts(SecondsFormat::Secs, true)
        )
    }
}

/// The machine's name, from the kernel (Linux), else /etc/hostname.
fn host_name() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .find_map(|path| {
            std::fs::read_to_string(path)
                .ok()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
        })
        .unwrap_or_else(|| "unknown".to_string())
}

/// What one attempt to take a lease found.
#[derive(Debug)]
enum Attempt {
    Taken,
    /// Another run holds it (`None`: it vanished between the two reads, or
    /// its value is not rez-db's); how long until it expires if not renewed.
    Held(Option<Holder>, Option<Duration>),
}

/// The store a lease lives in.
#[derive(Clone)]
enum Place {
    Redis(redis::Place),
    Mongo(mongo::Place),
    Es(es::Place),
}

impl Place {
    fn describe(&self) -> String {
        match self {
            Place::Redis(p) => p.describe(),
            Place::Mongo(p) => p.describe(),
            Place::Es(p) => p.describe(),
        }
    }

    async fn try_take(&self, holder: &Holder) -> Result<Attempt, CommandError> {
        match self {
            Place::Redis(p) => p.try_take(holder).await,
            Place::Mongo(p) => p.try_take(holder).await,
            Place::Es(p) => p.try_take(holder).await,
        }
    }

    /// Pushes the expiry [`TTL`] ahead; `false`: the lease is no longer ours.
    async fn renew(&self, holder: &Holder) -> Result<bool, CommandError> {
        match self {
            Place::Redis(p) => p.renew(holder).await,
            Place::Mongo(p) => p.renew(holder).await,
            Place::Es(p) => p.renew(holder).await,
        }
    }

    /// Deletes the lease if it is still ours.
    async fn release(&self, holder: &Holder) -> Result<(), CommandError> {
        match self {
            Place::Redis(p) => p.release(holder).await,
            Place::Mongo(p) => p.release(holder).await,
            Place::Es(p) => p.release(holder).await,
        }
    }
}

/// A lease this run holds, renewed in the background until [`Lease::release`]
/// (or dropped: see the module documentation).
pub struct Lease {
    place: Place,
    scope: Scope,
    holder: Holder,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    renewal: Option<tokio::task::JoinHandle<()>>,
    /// Why the renewal gave up, if it did.
    lost: Arc<Mutex<Option<String>>>,
    released: bool,
}

/// Takes the `scope` lease of the Redis key prefix for `command`, waiting up to `wait`.
pub async fn redis(
    store: &crate::store::redis::Redis,
    scope: Scope,
    command: &str,
    wait: Duration,
) -> Result<Lease, CommandError> {
    take(
        Place::Redis(redis::Place::new(store, scope)),
        scope,
        command,
        wait,
    )
    .await
}

/// Takes the `scope` lease of the MongoDB database for `command`, waiting up to `wait`.
pub async fn mongo(
    store: &crate::store::mongo::Mongo,
    scope: Scope,
    command: &str,
    wait: Duration,
) -> Result<Lease, CommandError> {
    take(
        Place::Mongo(mongo::Place::new(store, scope)),
        scope,
        command,
        wait,
    )
    .await
}

/// Takes the `scope` lease of the Elasticsearch index prefix for `command`, waiting up to `wait`.
pub async fn es(
    store: &crate::store::es::Es,
    scope: Scope,
    command: &str,
    wait: Duration,
) -> Result<Lease, CommandError> {
    let place = es::Place::new(store, scope);
    place.ensure_index().await?;
    take(Place::Es(place), scope, command, wait).await
}

/// Tries until the lease is taken or `wait` has passed; then exit 4, naming the holder.
async fn take(
    place: Place,
    scope: Scope,
    command: &str,
    wait: Duration,
) -> Result<Lease, CommandError> {
    let holder = Holder::this_run(command);
    let deadline = Instant::now() + wait;
    let mut announced = false;
    loop {
        match place.try_take(&holder).await? {
            Attempt::Taken => {
                tracing::debug!("took the {} lease on {}", scope.as_str(), place.describe());
                return Ok(Lease::start(place, scope, holder));
            }
            Attempt::Held(other, left) if Instant::now() >= deadline => {
                return Err(held(&place, scope, other, left));
            }
            Attempt::Held(..) => {
                if !announced {
                    tracing::info!(
                        "waiting up to {}s for another rez-db run to release the {} lease on {}",
                        wait.as_secs(),
                        scope.as_str(),
                        place.describe()
                    );
                    announced = true;
                }
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

/// The exit-4 error for a lease another run holds.
fn held(
    place: &Place,
    scope: Scope,
    other: Option<Holder>,
    left: Option<Duration>,
) -> CommandError {
    let who = other
        .map(|h| format!(": {}", h.describe()))
        .unwrap_or_default();
    let expiry = left
        .map(|d| {
            format!(
                "; it expires in {}s unless its holder renews it",
                d.as_secs()
            )
        })
        .unwrap_or_default();
    CommandError::new(
        ErrorKind::LockHeld,
        format!(
            "another rez-db run holds the {} lease on {}{who}{expiry}",
            scope.as_str(),
            place.describe()
        ),
    )
    .with_hint(format!(
        "wait for it to finish; a run killed with kill -9 leaves its lease until it \
         expires ({}s after its last renewal)",
        TTL.as_secs()
    ))
    .with_remedy(Remedy::LockWait)
}

impl Lease {
    fn start(place: Place, scope: Scope, holder: Holder) -> Lease {
        let lost = Arc::new(Mutex::new(None));
        let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
        let renewal = tokio::spawn({
            let (place, holder, lost) = (place.clone(), holder.clone(), lost.clone());
            async move {
                let mut renewed = Instant::now();
                loop {
                    tokio::select! {
                        _ = &mut stopped => return,
                        _ = tokio::time::sleep(RENEW_EVERY) => {}
                    }
                    let why = match place.renew(&holder).await {
                        Ok(true) => {
                            renewed = Instant::now();
                            continue;
                        }
                        Ok(false) => "it expired and another run took it".to_string(),
                        // A store that does not answer: try again at the next
                        // tick, until the lease has expired anyway.
                        Err(e) if renewed.elapsed() < TTL => {
                            tracing::warn!(
                                "could not renew the lease on {}: {e}",
                                place.describe()
                            );
                            continue;
                        }
                        Err(e) => format!("not renewed for {}s: {}", TTL.as_secs(), e.message),
                    };
                    tracing::warn!("lost the lease on {}: {why}", place.describe());
                    if let Ok(mut slot) = lost.lock() {
                        *slot = Some(why);
                    }
                    return;
                }
            }
        });
        Lease {
            place,
            scope,
            holder,
            stop: Some(stop),
            renewal: Some(renewal),
            lost,
            released: false,
        }
    }

    /// The holder this run stored (its token is the lease's).
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    /// Renews the lease at once, as the background task does every
    /// [`RENEW_EVERY`]; `false`: it is no longer this run's (it expired and
    /// another run took it).
    pub async fn renew_now(&self) -> Result<bool, CommandError> {
        self.place.renew(&self.holder).await
    }

    /// Stops the renewal and deletes the lease (if still ours). A lease lost
    /// while held (this run stalled, or lost the store, past the TTL) is an
    /// error: another run may have written meanwhile.
    pub async fn release(mut self) -> Result<(), CommandError> {
        self.released = true;
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(renewal) = self.renewal.take() {
            // Waits for a renewal in flight, so the delete comes after it.
            let _ = renewal.await;
        }
        self.place.release(&self.holder).await?;
        let lost = self.lost.lock().ok().and_then(|mut slot| slot.take());
        match lost {
            None => Ok(()),
            Some(why) => Err(CommandError::failed(format!(
                "the {} lease on {} was lost while this run held it ({why}): another rez-db \
                 run may have written there meanwhile",
                self.scope.as_str(),
                self.place.describe()
            ))
            .with_hint("check the store (`rez-db validate`) and run the command again")),
        }
    }
}

/// Releases queued by dropped leases, sent by [`release_abandoned`].
type Release = Pin<Box<dyn Future<Output = ()> + Send>>;
static ABANDONED: Mutex<Vec<Release>> = Mutex::new(Vec::new());

impl Drop for Lease {
    fn drop(&mut self) {
        if self.released {
            return;
        }
        if let Some(renewal) = self.renewal.take() {
            renewal.abort();
        }
        let (place, holder) = (self.place.clone(), self.holder.clone());
        if let Ok(mut queue) = ABANDONED.lock() {
            queue.push(Box::pin(async move {
                if let Err(e) = place.release(&holder).await {
                    tracing::warn!(
                        "could not release the lease on {}: {e}; it expires by itself",
                        place.describe()
                    );
                }
            }));
        }
    }
}

/// Releases the leases of runs that ended without releasing them (an error,
/// Ctrl-C, SIGTERM), waiting at most `within`: else they would stop the next
/// run until they expire.
pub async fn release_abandoned(within: Duration) {
    let queued: Vec<Release> = ABANDONED
        .lock()
        .map(|mut queue| std::mem::take(&mut *queue))
        .unwrap_or_default();
    if queued.is_empty() {
        return;
    }
    let _ = tokio::time::timeout(within, futures_util::future::join_all(queued)).await;
}

/// Milliseconds since the epoch of `t`, the expiry format of MongoDB and Elasticsearch leases.
fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The expiry of a lease taken or renewed now.
fn expiry_from_now() -> DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(TTL).unwrap_or(chrono::Duration::seconds(60))
}

/// How long until `expires_at` (ms since the epoch), if it is in the future.
fn left_until(expires_at: i64) -> Option<Duration> {
    u64::try_from(expires_at - millis(Utc::now()))
        .ok()
        .map(Duration::from_millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_holder_round_trips_through_its_stored_json_and_names_the_run() {
        let h = Holder {
            token: "t-1".into(),
            command: "restore".into(),
            host: "db-admin-1".into(),
            pid: 4242,
            started_at: DateTime::parse_from_rfc3339("2026-01-15T10:00:00Z")
                .unwrap()
                .with_timezone(&Utc),
        };
        let text = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Holder>(&text).unwrap(), h);
        assert_eq!(
            h.describe(),
            "`restore` on host db-admin-1, pid 4242, since 2026-01-15T10:00:00Z"
        );
    }

    #[test]
    fn each_run_has_its_own_token() {
        let (a, b) = (Holder::this_run("seed"), Holder::this_run("seed"));
        assert_ne!(a.token, b.token);
        assert_eq!(a.pid, std::process::id());
        assert!(!a.host.is_empty());
    }

    #[test]
    fn a_past_expiry_has_nothing_left() {
        let now = millis(Utc::now());
        assert_eq!(left_until(now - 1_000), None);
        let left = left_until(now + 30_000).unwrap();
        assert!(left > Duration::from_secs(25) && left <= Duration::from_secs(30));
    }
}
