//! The checks of the other stores: Redis keys against `redis-layout.toml`,
//! the Redis structures derived from PostgreSQL against it (`super::derived`),
//! Elasticsearch indices against `es-mappings/` and against PostgreSQL's row
//! counts, MongoDB indexes against `mongo-indexes/` and MongoDB documents
//! against the PostgreSQL rows they name (`super::mongo_docs`).
//!
//! They do not run inside the PostgreSQL snapshot: `super::run` runs them
//! here, on the connections its caller opened, and merges their results into
//! the same report, in catalogue order. Each check names the stores it
//! needs, so `--only` can leave a store out and its checks with it. Redis is
//! only ever sampled with SCAN, in small steps (with an opt-in pause between
//! them), never with KEYS, and each key is checked as its page arrives: the
//! sample is never held whole.

use std::time::Instant;

use super::derived::{self, CHECK_GEO, CHECK_LEADERBOARD};
use super::mongo_docs::{self, CHECK_NOTIFICATIONS, CHECK_REFERENCES};
use super::{Check, CheckResult, Severity, Source, Tally, Violation};
use crate::config::StoreKind;
use crate::definitions::mongo::{compare, live_index, IndexState};
use crate::definitions::redis::{CHECK_TTL_MAX, CHECK_TTL_MISSING, CHECK_TYPE, CHECK_UNKNOWN};
use crate::definitions::Definitions;
use crate::error::{CommandError, Remedy};
use crate::search::Source as DocSource;
use crate::store::pg::Pg;
use crate::store::redis::ScanBudget;
use crate::store::Connections;

/// A check of a store other than PostgreSQL (possibly against PostgreSQL).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreCheck {
    Redis,
    /// `redis.geo_sets` (`super::derived`).
    RedisGeoSets,
    /// `redis.leaderboard` (`super::derived`).
    RedisLeaderboard,
    EsMapping,
    EsSettings,
    EsDocCount,
    MongoIndexDrift,
    MongoIndexMissing,
    /// `mongo.notification_logs` (`super::mongo_docs`).
    MongoNotificationLogs,
    /// `mongo.references` (`super::mongo_docs`).
    MongoReferences,
}

impl StoreCheck {
    /// The stores the check reads; it runs only when all are selected.
    pub fn stores(self) -> &'static [StoreKind] {
        match self {
            StoreCheck::Redis => &[StoreKind::Redis],
            StoreCheck::RedisGeoSets | StoreCheck::RedisLeaderboard => {
                &[StoreKind::Postgres, StoreKind::Redis]
            }
            StoreCheck::EsMapping | StoreCheck::EsSettings => &[StoreKind::Elasticsearch],
            StoreCheck::EsDocCount => &[StoreKind::Elasticsearch, StoreKind::Postgres],
            StoreCheck::MongoIndexDrift | StoreCheck::MongoIndexMissing => &[StoreKind::Mongodb],
            StoreCheck::MongoNotificationLogs | StoreCheck::MongoReferences => {
                &[StoreKind::Mongodb, StoreKind::Postgres]
            }
        }
    }
}

fn store(
    id: &'static str,
    severity: Severity,
    description: &'static str,
    check: StoreCheck,
) -> Check {
    Check {
        id,
        severity,
        description,
        source: Source::Store(check),
    }
}

pub fn catalogue() -> Vec<Check> {
    use Severity::{Error, Warning};
    vec![
        store(
            CHECK_TYPE,
            Error,
            "sampled Redis keys have the type redis-layout.toml declares",
            StoreCheck::Redis,
        ),
        store(
            CHECK_TTL_MISSING,
            Error,
            "sampled Redis keys that must expire have a TTL",
            StoreCheck::Redis,
        ),
        store(
            CHECK_TTL_MAX,
            Error,
            "sampled Redis keys' TTLs are within the declared maximum",
            StoreCheck::Redis,
        ),
        store(
            CHECK_UNKNOWN,
            Warning,
            "sampled Redis keys match a pattern of redis-layout.toml",
            StoreCheck::Redis,
        ),
        store(
            CHECK_GEO,
            Warning,
            "each city with active outlets has geo:stores:{<city>} holding exactly their ids",
            StoreCheck::RedisGeoSets,
        ),
        store(
            CHECK_LEADERBOARD,
            Warning,
            "leaderboard:{rez_coins}:lifetime holds every wallet that earned ReZ coins, scored exactly by its lifetime earnings",
            StoreCheck::RedisLeaderboard,
        ),
        store(
            "es.mapping",
            Error,
            "each alias exists and its index's mapping is the file's",
            StoreCheck::EsMapping,
        ),
        store(
            "es.settings",
            Error,
            "each index's analysis settings are the file's",
            StoreCheck::EsSettings,
        ),
        store(
            "es.doc_count",
            Warning,
            "each index holds as many documents as PostgreSQL has eligible rows",
            StoreCheck::EsDocCount,
        ),
        store(
            "mongo.index_drift",
            Error,
            "MongoDB indexes have the keys and options of their files",
            StoreCheck::MongoIndexDrift,
        ),
        store(
            "mongo.index_missing",
            Warning,
            "every declared MongoDB index exists",
            StoreCheck::MongoIndexMissing,
        ),
        store(
            CHECK_NOTIFICATIONS,
            Warning,
            "notification_logs holds one document per notifications row",
            StoreCheck::MongoNotificationLogs,
        ),
        store(
            CHECK_REFERENCES,
            Warning,
            "every user, order, offer, product, merchant, redemption and notification id in a MongoDB document names an existing PostgreSQL row",
            StoreCheck::MongoReferences,
        ),
    ]
}

/// Runs the store checks among `checks` (others are ignored), keeping
/// `limit` violations each, on the connections of `conns` (each check's
/// stores must be connected there) and sessions of `pg`.
pub async fn run(
    pg: &Pg,
    conns: &Connections,
    defs: &Definitions,
    checks: &[Check],
    options: &super::Options,
) -> Result<Vec<CheckResult>, CommandError> {
    let limit = options.limit;
    let wanted = |kind: StoreCheck| checks.iter().any(|c| c.source == Source::Store(kind));
    let mut tallies: Vec<(&'static str, Tally, u64)> = Vec::new();
    let mut add = |id: &'static str, tally: Tally, started: Instant| {
        tallies.push((id, tally, started.elapsed().as_millis() as u64))
    };
    let not_connected = |store: StoreKind| {
        CommandError::bug(format!(
            "a check of {} ran without a connection to it",
            store.display_name()
        ))
    };
    let redis = || {
        conns
            .redis
            .clone()
            .ok_or_else(|| not_connected(StoreKind::Redis))
    };

    if wanted(StoreCheck::Redis) {
        let started = Instant::now();
        let mut redis = redis()?;
        let budget = ScanBudget {
            max_keys: options.redis_sample,
            pause: options.redis_pause,
            ..ScanBudget::default()
        };
        let mut by_id: Vec<(&'static str, Tally)> =
            [CHECK_TYPE, CHECK_TTL_MISSING, CHECK_TTL_MAX, CHECK_UNKNOWN]
                .iter()
                .map(|id| (*id, Tally::new(limit)))
                .collect();
        let table = format!("redis:{}", redis.url);
        let prefix = redis.prefix().to_string();
        // Each key is checked as its page arrives, never held with the rest.
        let sampled = redis
            .sample_each(budget, |k| {
                for f in defs.redis.check_key(&k.key, &k.key_type, k.ttl) {
                    if let Some((_, t)) = by_id.iter_mut().find(|(id, _)| *id == f.check) {
                        t.push_with(|| Violation {
                            table: table.clone(),
                            entity: format!("{prefix}{}", k.key),
                            expected: f.expected,
                            actual: f.actual,
                            remedy: None,
                        });
                    }
                }
            })
            .await?;
        tracing::debug!("redis: {sampled} keys sampled in {:?}", started.elapsed());
        for (id, mut t) in by_id {
            // The masters are read at once: the shown keys in name order, not arrival order.
            t.shown.sort_by(|a, b| a.entity.cmp(&b.entity));
            add(id, t, started);
        }
    }

    for (kind, id) in [
        (StoreCheck::RedisGeoSets, CHECK_GEO),
        (StoreCheck::RedisLeaderboard, CHECK_LEADERBOARD),
    ] {
        if !wanted(kind) {
            continue;
        }
        let started = Instant::now();
        let mut conn = pg.connect().await?;
        let mut redis = redis()?;
        let table = format!("redis:{}", redis.url);
        let mut sources = derived::Sources {
            pg: &mut conn,
            pg_url: &pg.url,
            redis: &mut redis,
            table,
        };
        let mut tally = Tally::new(limit);
        match kind {
            StoreCheck::RedisGeoSets => derived::geo_sets(&mut sources, &mut tally).await?,
            _ => derived::leaderboard(&mut sources, &mut tally).await?,
        }
        add(id, tally, started);
    }

    let es_checks = [
        StoreCheck::EsMapping,
        StoreCheck::EsSettings,
        StoreCheck::EsDocCount,
    ];
    if es_checks.iter().any(|k| wanted(*k)) {
        let started = Instant::now();
        let es = conns
            .es
            .as_ref()
            .ok_or_else(|| not_connected(StoreKind::Elasticsearch))?;
        let mut conn = match wanted(StoreCheck::EsDocCount) {
            true => Some(pg.connect().await?),
            false => None,
        };
        let (mut mapping, mut settings, mut counts) =
            (Tally::new(limit), Tally::new(limit), Tally::new(limit));
        for d in &defs.es {
            let alias = es.name(&d.name);
            let table = format!("es:{alias}");
            let v = |entity: String, expected: String, actual: String| Violation {
                table: table.clone(),
                entity,
                expected,
                actual,
                remedy: None,
            };
            let Some(index) = es.alias_targets(&d.name).await?.pop() else {
                mapping.push(v(
                    alias.clone(),
                    format!("alias -> {alias}_v<N> ({})", d.file),
                    "no alias: run `rez-db create`".into(),
                ));
                continue;
            };
            for diff in d.mapping_differences(&es.mapping(&index).await?) {
                let (field, what) = diff.split_once(": ").unwrap_or((&diff, ""));
                mapping.push(v(
                    format!("{index}.{field}"),
                    format!("as in {}", d.file),
                    what.to_string(),
                ));
            }
            for diff in d.settings_differences(&es.settings(&index).await?) {
                let (key, what) = diff.split_once(": ").unwrap_or((&diff, ""));
                settings.push(v(
                    format!("{index}.{key}"),
                    format!("as in {}", d.file),
                    what.to_string(),
                ));
            }
            if let (Some(conn), Some(source)) = (conn.as_mut(), DocSource::from_name(&d.name)) {
                let want: i64 = sqlx::query_scalar(&source.count_sql())
                    .bind(None::<chrono::DateTime<chrono::Utc>>)
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(|e| pg.error(e))?;
                let have = es.count(&alias).await?;
                if have != want as u64 {
                    counts.push(v(
                        alias.clone(),
                        format!("{want} documents (eligible {} rows in PostgreSQL)", d.name),
                        format!("{have} documents: run `rez-db reindex-es {}`", d.name),
                    ));
                }
            }
        }
        add("es.mapping", mapping, started);
        add("es.settings", settings, started);
        add("es.doc_count", counts, started);
    }

    if wanted(StoreCheck::MongoIndexDrift) || wanted(StoreCheck::MongoIndexMissing) {
        let started = Instant::now();
        let mongo = conns
            .mongo
            .as_ref()
            .ok_or_else(|| not_connected(StoreKind::Mongodb))?;
        let (mut drift, mut missing) = (Tally::new(limit), Tally::new(limit));
        for col in &defs.mongo {
            let live: Vec<_> = mongo
                .list_indexes(&col.name)
                .await?
                .iter()
                .filter_map(live_index)
                .collect();
            let table = format!("mongodb:{}.{}", mongo.database_name(), col.name);
            for (spec, state) in compare(&col.indexes, &live).0 {
                match state {
                    IndexState::Same => {}
                    IndexState::Missing => missing.push(Violation {
                        table: table.clone(),
                        entity: spec.name.clone(),
                        expected: format!("{} {}", spec.keys_text(), col.file),
                        actual:
                            "absent: run `rez-db migrate` (it names an index the server refuses)"
                                .into(),
                        remedy: None,
                    }),
                    IndexState::Drift { differences, .. } => drift.push(Violation {
                        table: table.clone(),
                        entity: spec.name.clone(),
                        expected: format!("as in {}", col.file),
                        actual: differences.join("; "),
                        remedy: Some(Remedy::FixDrift),
                    }),
                }
            }
        }
        add("mongo.index_drift", drift, started);
        add("mongo.index_missing", missing, started);
    }

    for (kind, id) in [
        (StoreCheck::MongoNotificationLogs, CHECK_NOTIFICATIONS),
        (StoreCheck::MongoReferences, CHECK_REFERENCES),
    ] {
        if !wanted(kind) {
            continue;
        }
        let started = Instant::now();
        let mongo = conns
            .mongo
            .as_ref()
            .ok_or_else(|| not_connected(StoreKind::Mongodb))?;
        let mut conn = pg.connect().await?;
        let mut sources = mongo_docs::Sources {
            pg: &mut conn,
            pg_url: &pg.url,
            mongo,
        };
        let mut tally = Tally::new(limit);
        match kind {
            StoreCheck::MongoNotificationLogs => {
                mongo_docs::notification_logs(&mut sources, &mut tally).await?
            }
            _ => mongo_docs::references(&mut sources, &mut tally).await?,
        }
        add(id, tally, started);
    }

    Ok(checks
        .iter()
        .filter_map(|check| {
            let (_, tally, ms) = tallies.iter().find(|(id, _, _)| *id == check.id)?;
            Some(CheckResult {
                id: check.id,
                severity: check.severity,
                description: check.description,
                violations: tally.count,
                shown: tally.shown.clone(),
                elapsed_ms: *ms,
            })
        })
        .collect())
}
