//! `validate`: a catalogue of integrity checks run against a live database.
//!
//! Two kinds of check. Set-based ones are SQL that PostgreSQL answers exactly
//! (sums of NUMERIC and integers, anti-joins) and that return violation rows
//! in one shape: (table, entity, expected, actual). Rule-based ones stream rows
//! to Rust and apply the rule from `crate::domain`, so the rule is written
//! once. Either way a check holds only its first `limit` violations in memory
//! and counts the rest: memory stays constant whatever the table sizes.
//!
//! The ids and rules are documented in docs/invariants.md.
//!
//! An operation ([`run`]): it gets its options, the store handles and a
//! [`Progress`], and returns a [`Report`]; it never sees the command line or
//! the context, never renders, and never changes a store.

mod catalogue;
mod derived;
mod ledger;
mod mongo_docs;
mod replay;
pub mod stores;

use std::time::Instant;

use futures_util::TryStreamExt;
use serde::Serialize;
use sqlx::postgres::PgConnection;

use crate::config::StoreKind;
use crate::definitions::Definitions;
use crate::error::{CommandError, Remedy};
use crate::progress::{Progress, Unit};
use crate::store::pg::Pg;
pub use crate::store::Connections;

pub use crate::store::pg::snapshot::Snapshot;
pub use catalogue::catalogue;
pub use ledger::WALLET_ROWS;

/// Redis keys `validate` samples per server (on a cluster: per master).
pub const REDIS_SAMPLE: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One broken rule, exactly: which row, what it should be, what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub table: String,
    pub entity: String,
    pub expected: String,
    pub actual: String,
    /// The way out, which names a flag: the face words it into `actual`
    /// (`cli::word_violation_remedies`) before the report is shown.
    #[serde(skip)]
    pub remedy: Option<Remedy>,
}

/// Where a check's violations come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A query returning `(table, entity, expected, actual)` text columns.
    Sql(String),
    /// A streaming pass in Rust that serves several checks at once.
    Pass(Pass),
    /// A check of MongoDB, Redis or Elasticsearch: run by [`stores::run`] outside
    /// the PostgreSQL snapshot, merged into the same report by the command.
    Store(stores::StoreCheck),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// Replays every ledger against its wallet: ledger.chain, .sign, .nonnegative,
    /// wallet.balance, wallet.lifetime.
    Ledger,
    /// Prices every order with the domain core: order.item_total, .subtotal, .coins_value, .total.
    Orders,
    /// Re-derives every redemption: redemption.arithmetic, .discount, .window.
    Redemptions,
    /// merchant.rating from review aggregates.
    MerchantRating,
    /// loyalty.tier from the tiers table.
    LoyaltyTier,
    /// partition.default_rows.
    DefaultPartitions,
}

#[derive(Debug, Clone)]
pub struct Check {
    pub id: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    pub source: Source,
}

impl Check {
    /// The check reads PostgreSQL's `table`: its SQL names it, or its pass
    /// reads it. The other stores' checks read none.
    pub fn reads(&self, table: &str) -> bool {
        let tables: &[&str] = match &self.source {
            Source::Sql(sql) => return names_table(sql, table),
            Source::Store(_) => &[],
            Source::Pass(Pass::Ledger) => &["wallets", "wallet_transactions"],
            Source::Pass(Pass::Orders) => &["orders", "app_settings"],
            Source::Pass(Pass::Redemptions) => &["offer_redemptions", "offers"],
            Source::Pass(Pass::MerchantRating) => &["merchants", "reviews"],
            Source::Pass(Pass::LoyaltyTier) => &["user_loyalty", "loyalty_tiers"],
            Source::Pass(Pass::DefaultPartitions) => &["orders", "wallet_transactions"],
        };
        tables.contains(&table)
    }
}

/// `sql` names `table` as a whole word (not `users` in `user_loyalty`).
fn names_table(sql: &str, table: &str) -> bool {
    let ident = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    sql.match_indices(table).any(|(at, _)| {
        !ident(sql[..at].chars().next_back()) && !ident(sql[at + table.len()..].chars().next())
    })
}

/// The catalogue's PostgreSQL checks that read any of `tables`, run on
/// `conn` inside the transaction it has open, which may hold rows no other
/// session can see: what an import checks before its commit. Changes
/// nothing; the caller commits or rolls back.
pub async fn within(
    conn: &mut PgConnection,
    pg: &Pg,
    tables: &[&str],
    limit: usize,
) -> Result<Report, CommandError> {
    let checks: Vec<Check> = catalogue()
        .into_iter()
        .filter(|c| !matches!(c.source, Source::Store(_)))
        .filter(|c| tables.iter().any(|t| c.reads(t)))
        .collect();
    let err = |e| pg.error(e);
    // Timestamps in what a violation says print the same everywhere.
    sqlx::raw_sql("SET LOCAL TIME ZONE 'UTC'")
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    let snapshot = Snapshot::within(&pg.url, pg.connect_timeout);
    let results = run_checks(conn, &snapshot, &checks, limit, WALLET_ROWS, |_| {})
        .await
        .map_err(err)?;
    Ok(Report::of(pg, results))
}

/// The outcome of one check.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub severity: Severity,
    pub description: &'static str,
    /// Every violation found, counted.
    pub violations: u64,
    /// The first `limit` of them.
    pub shown: Vec<Violation>,
    pub elapsed_ms: u64,
}

/// Counts violations and keeps the first `limit`.
#[derive(Debug)]
pub struct Tally {
    limit: usize,
    count: u64,
    shown: Vec<Violation>,
}

impl Tally {
    fn new(limit: usize) -> Tally {
        Tally {
            limit,
            count: 0,
            shown: Vec::new(),
        }
    }

    pub fn push(&mut self, v: Violation) {
        self.push_with(|| v)
    }

    /// Counts a violation that is only built when it is kept: a check that
    /// meets a million (every key of a Redis sample) builds `limit`.
    pub fn push_with(&mut self, v: impl FnOnce() -> Violation) {
        self.count += 1;
        if self.shown.len() < self.limit {
            self.shown.push(v());
        }
    }
}

/// Where a pass sends what it finds: only to the checks that were selected.
#[derive(Debug)]
pub struct Sink {
    tallies: Vec<(&'static str, Tally)>,
}

impl Sink {
    fn new(ids: impl IntoIterator<Item = &'static str>, limit: usize) -> Sink {
        Sink {
            tallies: ids.into_iter().map(|id| (id, Tally::new(limit))).collect(),
        }
    }

    pub fn report(&mut self, check: &str, v: impl FnOnce() -> Violation) {
        if let Some((_, tally)) = self.tallies.iter_mut().find(|(id, _)| *id == check) {
            tally.push(v());
        }
    }

    /// An empty sink for the same checks, for one shard of a pass.
    pub fn shard(&self) -> Sink {
        let limit = self.tallies.first().map_or(0, |(_, t)| t.limit);
        Sink::new(self.tallies.iter().map(|(id, _)| *id), limit)
    }

    /// Adds what a shard found after what this sink holds.
    pub fn absorb(&mut self, shard: Sink) {
        for (id, found) in shard.tallies {
            if let Some((_, tally)) = self.tallies.iter_mut().find(|(mine, _)| *mine == id) {
                tally.count += found.count - found.shown.len() as u64;
                for v in found.shown {
                    tally.push(v);
                }
            }
        }
    }

    fn take(&mut self, check: &str) -> Tally {
        let index = self
            .tallies
            .iter()
            .position(|(id, _)| *id == check)
            .expect("check belongs to its pass");
        self.tallies.swap_remove(index).1
    }
}

/// What `validate` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    /// The checks asked for, in catalogue order ([`catalogue`]).
    pub checks: Vec<Check>,
    /// The stores selected: a check runs only when every store it reads is
    /// among them.
    pub stores: Vec<StoreKind>,
    /// Violations kept per check; all of them are counted.
    pub limit: usize,
    /// Ledger rows of one wallet held in memory for its replay.
    pub wallet_rows: usize,
    /// Redis keys sampled per server (on a cluster: per master).
    pub redis_sample: usize,
    /// Pause between SCAN calls on each Redis server (zero: none).
    pub redis_pause: std::time::Duration,
}

impl Options {
    /// Every check, on every selected store, as a restore validates.
    pub fn all(stores: &[StoreKind]) -> Options {
        Options {
            checks: catalogue(),
            stores: stores.to_vec(),
            limit: 10,
            wallet_rows: WALLET_ROWS,
            redis_sample: REDIS_SAMPLE,
            redis_pause: std::time::Duration::ZERO,
        }
    }

    /// The checks that run, split into PostgreSQL's (one snapshot) and the
    /// other stores' ([`stores::run`]).
    fn runnable(&self) -> (Vec<Check>, Vec<Check>) {
        self.checks
            .iter()
            .filter(|c| match &c.source {
                Source::Store(k) => k.stores().iter().all(|s| self.stores.contains(s)),
                _ => self.stores.contains(&StoreKind::Postgres),
            })
            .cloned()
            .partition(|c| !matches!(c.source, Source::Store(_)))
    }

    /// These options split as [`run`] runs them: PostgreSQL's checks (one
    /// snapshot) and the other stores' checks, so that a caller can start
    /// the first part as soon as PostgreSQL is ready (a restore does, while
    /// the other stores are still being restored). [`Report::joined`] puts
    /// the two reports back together as one run would have made it.
    pub fn split(&self) -> (Options, Options) {
        let (others, postgres): (Vec<Check>, Vec<Check>) = self
            .checks
            .iter()
            .cloned()
            .partition(|c| matches!(c.source, Source::Store(_)));
        let with = |checks| Options {
            checks,
            ..self.clone()
        };
        (with(postgres), with(others))
    }

    /// The stores other than PostgreSQL that the checks which run read: the
    /// connections (and definitions) [`run`] needs.
    pub fn other_stores(&self) -> Vec<StoreKind> {
        let mut out = Vec::new();
        for check in self.runnable().1 {
            if let Source::Store(k) = check.source {
                for s in k.stores() {
                    if *s != StoreKind::Postgres && !out.contains(s) {
                        out.push(*s);
                    }
                }
            }
        }
        out.sort();
        out
    }
}

/// What `validate` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub database: String,
    pub checks: Vec<CheckResult>,
    /// Violations of error severity, all checks together.
    pub errors: u64,
    pub warnings: u64,
}

impl Report {
    /// The reports of the two parts of [`Options::split`], in the order
    /// [`run`] gives them (PostgreSQL's checks first).
    pub fn joined(postgres: Report, others: Report) -> Report {
        let mut checks = postgres.checks;
        checks.extend(others.checks);
        Report {
            database: postgres.database,
            checks,
            errors: postgres.errors + others.errors,
            warnings: postgres.warnings + others.warnings,
        }
    }

    /// The report of `results`, their violations counted by severity.
    fn of(pg: &Pg, results: Vec<CheckResult>) -> Report {
        let count = |s: Severity| {
            results
                .iter()
                .filter(|r| r.severity == s)
                .map(|r| r.violations)
                .sum()
        };
        Report {
            database: pg.url.to_string(),
            errors: count(Severity::Error),
            warnings: count(Severity::Warning),
            checks: results,
        }
    }
}

/// `validate`: the checks of `options` that the selected stores allow,
/// PostgreSQL's on one snapshot of `pg`, then the other stores' on the
/// connections of `conns` (see [`Options::other_stores`]) against `defs`,
/// merged into one report in catalogue order. Changes nothing.
pub async fn run(
    pg: &Pg,
    conns: &Connections,
    defs: Option<&Definitions>,
    options: &Options,
    progress: &dyn Progress,
) -> Result<Report, CommandError> {
    let (checks, store_checks) = options.runnable();
    let mut results = if checks.is_empty() {
        Vec::new()
    } else {
        run_pg(pg, options, &checks, progress).await?
    };
    if !store_checks.is_empty() {
        let defs = defs.ok_or_else(|| {
            CommandError::bug("the checks of the other stores were run without their definitions")
        })?;
        results.extend(stores::run(pg, conns, defs, &store_checks, options).await?);
    }
    Ok(Report::of(pg, results))
}

/// PostgreSQL's checks, all on one snapshot (a REPEATABLE READ, READ ONLY
/// transaction), so a busy database cannot make two checks disagree.
async fn run_pg(
    pg: &Pg,
    options: &Options,
    checks: &[Check],
    progress: &dyn Progress,
) -> Result<Vec<CheckResult>, CommandError> {
    let err = |e| pg.error(e);
    let mut conn = pg.connect().await?;
    // One snapshot for every check and every connection; UTC so timestamps
    // print the same everywhere.
    let snapshot = Snapshot::begin(&mut conn, &pg.url, pg.connect_timeout)
        .await
        .map_err(err)?;
    progress.begin(checks.len() as u64, Unit::Steps);
    let results = run_checks(
        &mut conn,
        &snapshot,
        checks,
        options.limit,
        options.wallet_rows,
        |c| {
            progress.note(c.id);
            progress.advance(1);
        },
    )
    .await
    .map_err(err)?;
    progress.end();
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut conn)
        .await
        .map_err(err)?;
    Ok(results)
}

/// Runs `checks` in order on `conn`; a pass serving several of them runs once.
/// `snapshot` opens more connections on the same snapshot, for passes that
/// split their work across the server's cores.
async fn run_checks(
    conn: &mut PgConnection,
    snapshot: &Snapshot,
    checks: &[Check],
    limit: usize,
    wallet_rows: usize,
    mut on_check: impl FnMut(&Check),
) -> Result<Vec<CheckResult>, sqlx::Error> {
    let mut results = Vec::with_capacity(checks.len());
    let mut passes_done: Vec<(Pass, u64, Sink)> = Vec::new();
    for check in checks {
        on_check(check);
        let started = Instant::now();
        let (tally, elapsed_ms) = match &check.source {
            Source::Sql(sql) => {
                let mut tally = Tally::new(limit);
                let mut rows =
                    sqlx::query_as::<_, (String, String, String, String)>(sql).fetch(&mut *conn);
                while let Some((table, entity, expected, actual)) = rows.try_next().await? {
                    tally.push(Violation {
                        table,
                        entity,
                        expected,
                        actual,
                        remedy: None,
                    });
                }
                (tally, started.elapsed().as_millis() as u64)
            }
            Source::Store(_) => continue,
            Source::Pass(pass) => {
                if !passes_done.iter().any(|(p, _, _)| p == pass) {
                    let ids = checks
                        .iter()
                        .filter(|c| c.source == Source::Pass(*pass))
                        .map(|c| c.id);
                    let mut sink = Sink::new(ids, limit);
                    replay::run(conn, snapshot, *pass, wallet_rows, &mut sink).await?;
                    passes_done.push((*pass, started.elapsed().as_millis() as u64, sink));
                }
                let (_, ms, sink) = passes_done
                    .iter_mut()
                    .find(|(p, _, _)| p == pass)
                    .expect("pass just ran");
                let tally = sink.take(check.id);
                (tally, *ms)
            }
        };
        results.push(CheckResult {
            id: check.id,
            severity: check.severity,
            description: check.description,
            violations: tally.count,
            shown: tally.shown,
            elapsed_ms,
        });
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_reads_the_tables_its_sql_names_whole_or_its_pass_reads() {
        assert!(names_table("FROM users u JOIN wallets w", "users"));
        assert!(!names_table("FROM user_loyalty ul", "users"));
        assert!(!names_table("FROM users_archive", "users"));
        let by_id = |id: &str| catalogue().into_iter().find(|c| c.id == id).unwrap();
        assert!(by_id("order.paid_payment").reads("payments"));
        assert!(by_id("wallet.balance").reads("wallet_transactions"));
        assert!(!by_id("wallet.balance").reads("orders"));
        assert!(by_id("loyalty.totals").reads("orders"));
        assert!(!by_id("dq.rating").reads("users"));
    }
}
