//! A run of `reindex-es` ([`run`]): the locks, then each index's rebuild or
//! incremental update, as a sequence of steps whose every failure path
//! leaves the alias where it was.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use sqlx::postgres::PgConnection;

use super::catch_up::{self, CatchUp, CatchUpReport, Indexed, Stage, MAX_PASSES};
use super::{rate, stream_into, BulkSettings, BulkStats, ItemError, Rows, Source, StreamError};
use crate::definitions::es::IndexDefinition;
use crate::definitions::Definitions;
use crate::error::{CommandError, Result};
use crate::progress::{Progress, Unit};
use crate::provision::es::{create_version, versioned_name};
use crate::secret::RedactedUrl;
use crate::store::es::Es;
use crate::store::lease;
use crate::store::pg::{self, lock, Pg};

/// What a run builds, and how.
#[derive(Debug, Clone)]
pub struct Options {
    /// The indices to build, in order.
    pub sources: Vec<Source>,
    /// Upsert the rows changed at or after this instant into the live index
    /// (and delete those no longer eligible), instead of a rebuild.
    pub since: Option<DateTime<Utc>>,
    /// Report what would be built and deleted; change nothing, take no lock.
    pub dry_run: bool,
    /// Old versions kept behind after a swap.
    pub keep: usize,
    /// On failure, keep the half-built index behind `<alias>_failed` instead of deleting it.
    pub keep_failed: bool,
    /// A rebuild swaps once a catch-up pass finds fewer changed rows than this.
    pub catch_up_threshold: u64,
    pub bulk: BulkSettings,
    /// How long to wait for another run's lock or lease before exit 4.
    pub lock_wait: Duration,
}

#[derive(Debug, Serialize)]
pub struct ReindexReport {
    pub elasticsearch: String,
    pub database: String,
    pub indices: Vec<IndexRun>,
}

impl ReindexReport {
    /// An index whose build or update failed (its alias did not move), or
    /// whose catch-up after the swap failed.
    pub fn has_problems(&self) -> bool {
        self.indices
            .iter()
            .any(|r| r.outcome == Outcome::Failed || r.failure.is_some())
    }
}

/// The indices `names` asks for (all three when it is empty), or a usage
/// error naming one rez-db does not build.
pub fn sources(names: &[String]) -> Result<Vec<Source>> {
    if names.is_empty() {
        return Ok(Source::ALL.to_vec());
    }
    names
        .iter()
        .map(|name| Source::from_name(name).ok_or_else(|| no_such_index(name)))
        .collect()
}

fn no_such_index(name: &str) -> CommandError {
    CommandError::usage(format!("there is no index `{name}` to build"))
        .with_hint("rez-db builds products, merchants and offers (es-mappings/<name>.json)")
}

/// Who holds the Elasticsearch lease while a run writes.
const HOLDER: &str = "reindex-es";

/// Builds (or updates) every index of `options` from `pg` into `es`, under
/// the search lock of the database and the data lease of the index prefix.
pub async fn run(
    pg: &Pg,
    es: &Es,
    defs: &Definitions,
    options: &Options,
    progress: &dyn Progress,
) -> Result<ReindexReport> {
    let mut plan = Vec::new();
    for source in &options.sources {
        let def = defs
            .es_index(source.name())
            .ok_or_else(|| no_such_index(source.name()))?;
        plan.push((*source, def));
    }
    let url = &pg.url;
    // One connection holds the lock, the other streams: a lock taken on the
    // streaming connection would be released by nothing else if it broke.
    let mut guard = pg.connect().await?;
    // The search lock excludes runs on this database; the lease in
    // Elasticsearch, runs from any database into this index prefix.
    let lease = match options.dry_run {
        true => None,
        false => {
            lock::acquire(&mut guard, url, lock::LockScope::Search, options.lock_wait).await?;
            Some(lease::es(es, lease::Scope::Data, HOLDER, options.lock_wait).await?)
        }
    };
    let mut conn = pg.connect().await?;
    let mut report = ReindexReport {
        elasticsearch: es.url.to_string(),
        database: url.to_string(),
        indices: Vec::new(),
    };
    for (source, def) in plan {
        let done = one(es, &mut conn, url, def, source, options, progress).await;
        progress.end();
        report.indices.push(done?);
    }
    if let Some(held) = lease {
        held.release().await?;
        lock::release(&mut guard, lock::LockScope::Search)
            .await
            .map_err(|e| pg.error(e))?;
    }
    Ok(report)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// A new version was built and the alias moved to it.
    Swapped,
    /// An update (`since`): changed rows were upserted into the live index.
    Updated,
    /// A dry run.
    WouldBuild,
    WouldUpdate,
    /// Nothing changed for searches; see `failure`.
    Failed,
}

/// What happened to one index.
#[derive(Debug, Clone, Serialize)]
pub struct IndexRun {
    /// The alias (with prefix).
    pub alias: String,
    pub outcome: Outcome,
    /// The index the alias pointed at before.
    pub previous: Vec<String>,
    /// The index built (or written to, by an update).
    pub index: Option<String>,
    /// Documents PostgreSQL has for a full build (dry runs and full builds).
    pub source_rows: Option<u64>,
    pub indexed: u64,
    pub deleted: u64,
    pub retries: u64,
    pub docs_per_sec: u64,
    pub elapsed_ms: u64,
    /// Bulk requests in flight at the end of the bulk load (or update): with
    /// an automatic concurrency, what the server's answers settled it at.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// Old versions deleted by the retention rule, and leftovers of interrupted runs.
    pub removed: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub item_errors: Vec<ItemError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// `keep_failed`: where the half-built index can be inspected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kept_failed: Option<String>,
    /// A rebuild's catch-up passes (`search::catch_up`); `indexed` and
    /// `deleted` above count the bulk load only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub catch_up: Option<CatchUpReport>,
    /// Where a rebuild's time went, phase by phase.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timings: Option<Timings>,
}

/// A rebuild's phases, in milliseconds; they add up to `elapsed_ms` but for
/// the moments between them.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    /// Counting the rows, listing the versions, creating the new index.
    pub prepare_ms: u64,
    /// Streaming every row of the snapshot into the new index.
    pub load_ms: u64,
    /// The catch-up passes before the swap.
    pub catch_up_ms: u64,
    /// Refreshing the new index and checking its count.
    pub verify_ms: u64,
    /// Moving the alias, the pass after it, deleting old versions.
    pub swap_ms: u64,
}

/// Milliseconds since `t`.
fn ms(t: Instant) -> u64 {
    t.elapsed().as_millis() as u64
}

/// One index's rebuild, or its update with `options.since`.
async fn one(
    es: &Es,
    pg: &mut PgConnection,
    pg_url: &RedactedUrl,
    def: &IndexDefinition,
    source: Source,
    options: &Options,
    progress: &dyn Progress,
) -> Result<IndexRun> {
    let started = Instant::now();
    let previous = es.alias_targets(&def.name).await?;
    let mut run = IndexRun {
        alias: es.name(&def.name),
        outcome: Outcome::Failed,
        previous: previous.clone(),
        index: None,
        source_rows: None,
        indexed: 0,
        deleted: 0,
        retries: 0,
        docs_per_sec: 0,
        elapsed_ms: 0,
        concurrency: None,
        removed: Vec::new(),
        item_errors: Vec::new(),
        failure: None,
        kept_failed: None,
        catch_up: None,
        timings: None,
    };
    if let Some(since) = options.since {
        return incremental(
            es, pg, pg_url, source, since, options, progress, run, started,
        )
        .await;
    }

    let rows: i64 = sqlx::query_scalar(&source.count_sql())
        .bind(None::<DateTime<Utc>>)
        .fetch_one(&mut *pg)
        .await
        .map_err(|e| pg::error(pg_url, e))?;
    run.source_rows = Some(rows as u64);
    progress.begin(rows as u64, Unit::Items("docs"));
    progress.note(&def.name);

    let versions = es.versions(&def.name).await?;
    let current = versions
        .iter()
        .filter(|(_, n)| previous.contains(n))
        .map(|(v, _)| *v)
        .max();
    let next = versions.last().map_or(1, |(v, _)| v + 1);
    let new = versioned_name(es, def, next);
    run.index = Some(new.clone());
    // Versions newer than the live one that no alias points at are leftovers of an
    // interrupted run: nobody searches them.
    let failed_alias = es.alias_targets(&format!("{}_failed", def.name)).await?;
    let leftovers: Vec<String> = versions
        .iter()
        .filter(|(v, n)| {
            current.is_none_or(|c| *v > c) && !previous.contains(n) && !failed_alias.contains(n)
        })
        .map(|(_, n)| n.clone())
        .collect();
    let survivors: Vec<(u32, String)> = versions
        .iter()
        .filter(|(_, n)| !leftovers.contains(n))
        .cloned()
        .collect();
    if options.dry_run {
        run.outcome = Outcome::WouldBuild;
        run.removed = leftovers;
        run.removed.extend(retention(&survivors, options.keep));
        return Ok(run);
    }
    for name in &leftovers {
        es.delete_index(name).await?;
    }
    run.removed.extend(leftovers);

    if let Err(e) = create_version(es, def, next).await {
        run.failure = Some(format!("creating {new}: {e}"));
        return Ok(finish(run, started));
    }
    // No refreshes while building: one at the end. Best effort: a server that
    // refuses the setting only builds a little slower.
    let _ = es
        .put_settings(&new, &json!({"index": {"refresh_interval": "-1"}}))
        .await;
    run.timings = Some(Timings {
        prepare_ms: ms(started),
        ..Timings::default()
    });
    let loaded = load(es, pg, pg_url, source, &new, options, progress, &mut run).await?;
    let mut state = match loaded {
        Ok(state) => state,
        Err(f) => {
            run.failure = Some(f);
            if options.keep_failed {
                let failed = format!("{}_failed", def.name);
                let old = es.alias_targets(&failed).await?;
                es.swap_alias(&failed, &old, &new).await?;
                run.kept_failed = Some(format!("{new} (alias {})", es.name(&failed)));
            } else {
                es.delete_index(&new).await?;
            }
            return Ok(finish(run, started));
        }
    };
    progress.note(&format!("{}: moving the alias", def.name));
    let swapping = Instant::now();
    es.swap_alias(&def.name, &previous, &new).await?;
    run.outcome = Outcome::Swapped;
    // What was written between the last pass and the swap (catch_up's "race").
    progress.begin(0, Unit::Items("docs"));
    progress.note(&format!("{}: catch-up after the swap", def.name));
    match state
        .pass(es, pg, &new, Stage::AfterSwap, options.bulk, progress)
        .await
        .map_err(|e| stream_failure(pg_url, &new, e))
    {
        Ok((mut pass, _, stats)) if refused(&stats).is_none() => {
            pass.after_swap = true;
            run.retries += stats.retries;
            // A refresh costs the server a pass over the index even with
            // nothing new (~0.5 s at 300,000 documents on noida-db).
            if pass.indexed + pass.deleted > 0 {
                es.refresh(&new).await?;
            }
            if let Some(c) = run.catch_up.as_mut() {
                c.passes.push(pass);
            }
        }
        Ok((_, _, stats)) => {
            run.item_errors = stats.errors.clone();
            run.failure = Some(format!(
                "after the swap: {}",
                refused(&stats).unwrap_or_default()
            ));
        }
        Err(f) => run.failure = Some(format!("after the swap: {f}")),
    }
    for old in retention(&survivors, options.keep) {
        es.delete_index(&old).await?;
        run.removed.push(old);
    }
    if let Some(t) = run.timings.as_mut() {
        t.swap_ms = ms(swapping);
    }
    Ok(finish(run, started))
}

/// Loads every row into `new` from one snapshot, then runs catch-up passes
/// until one finds fewer rows than the threshold, and checks that `new` holds
/// exactly the documents PostgreSQL has in that last pass's snapshot. `Err`:
/// why the alias must not move.
#[allow(clippy::too_many_arguments)]
async fn load(
    es: &Es,
    pg: &mut PgConnection,
    pg_url: &RedactedUrl,
    source: Source,
    new: &str,
    options: &Options,
    progress: &dyn Progress,
    run: &mut IndexRun,
) -> Result<std::result::Result<CatchUp, String>> {
    let fail = |e: StreamError| stream_failure(pg_url, new, e);
    let loading = Instant::now();
    let (mut tx, seen) = match catch_up::begin(pg).await {
        Ok(begun) => begun,
        Err(e) => return Ok(Err(fail(e.into()))),
    };
    let streamed =
        match stream_into(es, &mut tx, source, Rows::All, new, options.bulk, progress).await {
            Ok(streamed) => streamed,
            Err(e) => return Ok(Err(fail(e))),
        };
    absorb(run, &streamed.stats);
    run.concurrency = Some(streamed.concurrency);
    if let Some(f) = refused(&streamed.stats) {
        return Ok(Err(f));
    }
    if let Err(e) = tx.commit().await {
        return Ok(Err(fail(e.into())));
    }
    let timings = run.timings.get_or_insert_with(Timings::default);
    timings.load_ms = ms(loading);
    let catching_up = Instant::now();
    let mut state = CatchUp::new(source, Indexed::new(streamed.indexed), seen);
    let mut report = CatchUpReport::default();
    let mut expected = 0;
    for n in 1..=MAX_PASSES {
        progress.begin(0, Unit::Items("docs"));
        progress.note(&format!("{}: catch-up pass {n}", source.name()));
        // The last pass allowed counts whatever it found.
        let threshold = match n {
            MAX_PASSES => u64::MAX,
            _ => options.catch_up_threshold,
        };
        let stage = Stage::BeforeSwap {
            threshold,
            previous: report.passes.last().map(|p| p.found()),
        };
        let (pass, count, stats) =
            match state.pass(es, pg, new, stage, options.bulk, progress).await {
                Ok(done) => done,
                Err(e) => return Ok(Err(fail(e))),
            };
        run.retries += stats.retries;
        if let Some(f) = refused(&stats) {
            run.item_errors = stats.errors.clone();
            return Ok(Err(f));
        }
        report.converged = pass.found() < options.catch_up_threshold;
        report.passes.push(pass);
        if let Some(count) = count {
            expected = count;
            break;
        }
    }
    run.catch_up = Some(report);
    let verifying = Instant::now();
    let _ = es
        .put_settings(new, &json!({"index": {"refresh_interval": null}}))
        .await;
    es.refresh(new).await?;
    let counted = es.count(new).await?;
    if let Some(t) = run.timings.as_mut() {
        t.catch_up_ms = verifying.duration_since(catching_up).as_millis() as u64;
        t.verify_ms = ms(verifying);
    }
    if counted != expected || counted != state.documents() {
        return Ok(Err(format!(
            "{new} holds {counted} documents, PostgreSQL has {expected} to index \
             in the last catch-up pass's snapshot ({} indexed by this run)",
            state.documents()
        )));
    }
    Ok(Ok(state))
}

fn stream_failure(pg_url: &RedactedUrl, index: &str, e: StreamError) -> String {
    match e {
        StreamError::Pg(e) => pg::error(pg_url, e).message,
        StreamError::Es(e) => format!("bulk indexing into {index}: {e}"),
    }
}

/// Documents the server refused, as a failure.
fn refused(stats: &BulkStats) -> Option<String> {
    (!stats.errors.is_empty() || stats.failed > 0).then(|| {
        format!(
            "{} document(s) refused by the server; the first are listed",
            stats.failed
        )
    })
}

#[allow(clippy::too_many_arguments)]
async fn incremental(
    es: &Es,
    pg: &mut PgConnection,
    pg_url: &RedactedUrl,
    source: Source,
    since: DateTime<Utc>,
    options: &Options,
    progress: &dyn Progress,
    mut run: IndexRun,
    started: Instant,
) -> Result<IndexRun> {
    let Some(live) = run.previous.last().cloned() else {
        return Err(CommandError::usage(format!(
            "updating the changed rows needs a live index behind alias `{}`, and there is none",
            run.alias
        ))
        .with_hint(format!(
            "build it first: `rez-db reindex-es {}`",
            source.name()
        )));
    };
    run.index = Some(live.clone());
    if options.dry_run {
        run.outcome = Outcome::WouldUpdate;
        return Ok(run);
    }
    progress.begin(0, Unit::Items("docs"));
    progress.note(source.name());
    match stream_into(
        es,
        pg,
        source,
        Rows::Since(since),
        &live,
        options.bulk,
        progress,
    )
    .await
    .map(|s| {
        run.concurrency = Some(s.concurrency);
        s.stats
    }) {
        Err(StreamError::Pg(e)) => run.failure = Some(pg::error(pg_url, e).message),
        Err(StreamError::Es(e)) => run.failure = Some(format!("bulk indexing into {live}: {e}")),
        Ok(stats) => {
            absorb(&mut run, &stats);
            if stats.failed > 0 {
                run.failure = Some(format!(
                    "{} document(s) refused by the server; the others were written",
                    stats.failed
                ));
            } else {
                es.refresh(&live).await?;
                run.outcome = Outcome::Updated;
            }
        }
    }
    Ok(finish(run, started))
}

fn absorb(run: &mut IndexRun, stats: &BulkStats) {
    run.indexed = stats.indexed;
    run.deleted = stats.deleted;
    run.retries = stats.retries;
    run.item_errors = stats.errors.clone();
}

fn finish(mut run: IndexRun, started: Instant) -> IndexRun {
    run.elapsed_ms = started.elapsed().as_millis() as u64;
    run.docs_per_sec = rate(run.indexed + run.deleted, started);
    run
}

/// The old versions (all existing before the new one, oldest first) to delete
/// after a swap: all but the newest `keep`.
pub fn retention(old: &[(u32, String)], keep: usize) -> Vec<String> {
    let cut = old.len().saturating_sub(keep);
    old[..cut].iter().map(|(_, n)| n.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_keeps_the_newest_old_versions() {
        let v = |n: u32| (n, format!("products_v{n}"));
        let versions = [v(1), v(2), v(3), v(4)];
        assert_eq!(retention(&versions, 2), ["products_v1", "products_v2"]);
        assert!(retention(&versions, 10).is_empty());
        assert_eq!(retention(&versions, 0).len(), 4);
    }
}
