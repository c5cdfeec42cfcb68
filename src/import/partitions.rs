//! Partitions for an import into a partitioned table (orders monthly,
//! wallet_transactions quarterly): every row must land in its range
//! partition, never silently in DEFAULT.
//!
//! The partitions are made BEFORE the import's transaction begins, in their
//! own committed statements, with partition-rotate's code
//! (`store::pg::partitions::ensure_range_partition`, or
//! `store::pg::rotate::move_and_create` when DEFAULT already holds rows of
//! that period, which PostgreSQL requires). Not inside the import's
//! transaction, deliberately: `CREATE TABLE ... PARTITION OF` takes an ACCESS
//! EXCLUSIVE lock on the parent (and SHARE ROW EXCLUSIVE on the tables its
//! foreign keys name) until the commit, and the second connection, which
//! checks unique keys and references against those very tables while the
//! COPY runs, would then wait on its own import forever. So a quick first pass
//! reads only the partition key of every row (constant memory: a set of
//! periods). An import that fails afterwards leaves its new partitions, empty:
//! exactly what partition-rotate would have created. A dry run creates
//! nothing and reports the partitions it would create.
//!
//! Retention (issue 12): a row whose partition key is older than its table's
//! `partitions.<table>.retain` lies in a period partition-rotate detaches at
//! its next run, and may have archived and dropped already; loading it would
//! re-create that partition behind the rotation's back. Such a row is
//! rejected (`past_retention`, [`PastRetention`]) and no partition is made
//! for it, unless the run allows it ([`Retention::allow`]). `retain` alone
//! decides, whatever `drop` says: a detached partition is out of the table
//! either way. The cutoff is partition-rotate's own
//! (`partition::plan::retention_cutoff`), judged at the run's start.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::postgres::PgConnection;

use super::check::Problem;
use super::options::{FileJob, Options};
use super::reader::{input, CsvSource, Record};
use super::timestamps::TimeReading;
use crate::config::Policy;
use crate::error::Result;
use crate::partition::naming::{partition_for, Period, RangePartition, PARTITIONED};
use crate::partition::plan::retention_cutoff;
use crate::progress::{Progress, Unit};
use crate::store::pg::partitions::ensure_range_partition;
use crate::store::pg::{rotate, Pg};

/// How far back the partitioned tables keep rows, as partition-rotate sees it.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// The instant retention is judged at: the run's start.
    pub now: DateTime<Utc>,
    /// `partitions:` of the configuration.
    pub policies: BTreeMap<String, Policy>,
    /// Rows of any age load.
    pub allow: bool,
    /// How the face says such rows can load anyway (it names the flag that
    /// sets `allow`): the end of every `past_retention` reason.
    pub waiver: String,
}

impl Retention {
    /// Rows of `table` before this instant are past retention (None: none are).
    pub fn cutoff(&self, table: &str) -> Option<DateTime<Utc>> {
        if self.allow {
            return None;
        }
        let &(parent, period) = PARTITIONED.iter().find(|(t, _)| *t == table)?;
        retention_cutoff(parent, period, self.policies.get(table)?, self.now)
    }

    /// The check of one file's rows of `table`, whose partition key is the
    /// file's column `index` (`column`); None when nothing can be past retention.
    pub fn check(
        &self,
        table: &str,
        column: &str,
        index: usize,
        time: &TimeReading,
    ) -> Option<PastRetention> {
        let cutoff = self.cutoff(table)?;
        let &(_, period) = PARTITIONED.iter().find(|(t, _)| *t == table)?;
        // As the cutoff counts it: 0 keeps the current period, like 1.
        let retain = self.policies.get(table)?.retain?.max(1);
        let unit = match period {
            Period::Month => "months",
            Period::Quarter => "quarters",
        };
        Some(PastRetention {
            index,
            column: column.to_string(),
            cutoff,
            time: time.clone(),
            why: format!(
                "{table} keeps {retain} {unit} (partitions.{table}.retain) as of {}, so partition-rotate \
                 detaches this period; {}",
                self.now.format("%Y-%m-%d %H:%M UTC"),
                self.waiver
            ),
        })
    }
}

/// Refuses rows whose partition key is before the table's retention cutoff.
#[derive(Debug, Clone)]
pub struct PastRetention {
    index: usize,
    column: String,
    cutoff: DateTime<Utc>,
    why: String,
    time: TimeReading,
}

impl PastRetention {
    /// The `past_retention` problem of `record`, if it has one. An empty or
    /// unreadable key is not judged here (NULL takes the default, now; a
    /// malformed value is its own problem).
    pub fn check(&self, record: &Record) -> Option<Problem> {
        let text = record.field(self.index)?;
        let at = self.time.instant(text).ok().flatten()?;
        (at < self.cutoff).then(|| {
            Problem::new(
                &self.column,
                "past_retention",
                format!(
                    "`{text}` is before {}: {}",
                    self.cutoff.format("%Y-%m-%d %H:%M UTC"),
                    self.why
                ),
            )
        })
    }
}

/// Creates the partitions the rows of `job` need (in a dry run: lists
/// them); returns their names. `conn` must not be inside a transaction.
pub async fn prepare(
    conn: &mut PgConnection,
    pg: &Pg,
    opts: &Options,
    job: &FileJob,
    progress: &dyn Progress,
) -> Result<Vec<String>> {
    let Some(&(parent, period)) = PARTITIONED.iter().find(|(t, _)| *t == job.table) else {
        return Ok(Vec::new());
    };
    let err = |e| pg.error(e);
    // read_state prints bounds in the session's TimeZone.
    sqlx::raw_sql("SET TIME ZONE 'UTC'")
        .execute(&mut *conn)
        .await
        .map_err(err)?;
    let state = rotate::read_state(conn, parent, period, None)
        .await
        .map_err(err)?;
    let key = rotate::key_column(conn, parent).await.map_err(err)?;
    // Rows past retention are rejected: no partition for them.
    let cutoff = opts.retention.cutoff(parent);
    let mut needed: BTreeMap<String, RangePartition> = BTreeMap::new();
    let mut need = |at| {
        if cutoff.is_some_and(|c| at < c) {
            return;
        }
        let covered = |p: &RangePartition| p.from <= at && at < p.to;
        if !state.attached.iter().any(covered) {
            let p = partition_for(parent, period, at);
            needed.entry(p.name.clone()).or_insert(p);
        }
    };
    let time = &opts.timestamps;
    let mut source = CsvSource::open(&job.path, &job.dialect).map_err(input)?;
    let header = source.header().map_err(input)?;
    let position = header.iter().position(|h| {
        let target = job
            .maps
            .iter()
            .find(|(from, _)| from == h)
            .map_or(h.as_str(), |(_, to)| to.as_str());
        target == key
    });
    match position {
        // Without the column every row takes its default, now().
        None => need(Utc::now()),
        Some(i) => {
            progress.begin(source.size(), Unit::Bytes);
            progress.note(&format!(
                "{}: reading the partition keys",
                job.path.display()
            ));
            let mut record = Record::default();
            let (mut rows, mut shown) = (0u64, 0u64);
            while source.next(&mut record).map_err(input)? {
                // An unreadable value is rejected by the import itself.
                let at = match record.fault {
                    Some(_) => None,
                    None => record.field(i).and_then(|t| time.instant(t).ok().flatten()),
                };
                if let Some(at) = at {
                    need(at);
                }
                rows += 1;
                if rows.is_multiple_of(65_536) {
                    progress.advance(source.position() - shown);
                    shown = source.position();
                }
            }
            progress.end();
        }
    }
    let mut created = Vec::new();
    for p in needed.into_values() {
        if opts.dry_run {
            created.push(p.name);
            continue;
        }
        let holds_rows = state.in_default.iter().any(|(d, _)| d.name == p.name);
        let made = if holds_rows {
            rotate::move_and_create(conn, p.parent, &p.name, p.from, p.to)
                .await
                .map_err(err)?;
            true
        } else {
            ensure_range_partition(conn, p.parent, p.from, p.to, &p.name)
                .await
                .map_err(err)?
        };
        if made {
            created.push(p.name);
        }
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn record(fields: &[&str]) -> Record {
        Record::of(2, fields)
    }

    fn retention(allow: bool) -> Retention {
        let policy = Policy {
            retain: Some(3),
            ..Policy::default()
        };
        Retention {
            now: Utc.with_ymd_and_hms(2027, 3, 15, 0, 0, 0).unwrap(),
            policies: BTreeMap::from([("orders".to_string(), policy)]),
            allow,
            waiver: "--allow-past-retention loads it anyway".to_string(),
        }
    }

    #[test]
    fn rows_before_the_rotation_cutoff_are_past_retention() {
        let check = retention(false)
            .check("orders", "created_at", 1, &TimeReading::default())
            .unwrap();
        // retain 3 at 2027-03-15: January, February and March 2027 are kept.
        let p = check
            .check(&record(&["a", "2026-12-31T23:59:59Z"]))
            .unwrap();
        assert_eq!(
            (p.column.as_str(), p.code),
            ("created_at", "past_retention")
        );
        assert!(
            p.detail.contains("before 2027-01-01 00:00 UTC")
                && p.detail.contains("partitions.orders.retain")
                && p.detail.contains("--allow-past-retention"),
            "{}",
            p.detail
        );
        // The offset counts: 05:29 in India on January 1st is still December in UTC.
        assert!(check
            .check(&record(&["a", "2027-01-01T05:29:00+05:30"]))
            .is_some());
        assert!(check
            .check(&record(&["a", "2027-01-01T00:00:00Z"]))
            .is_none());
        assert!(check.check(&record(&["a", ""])).is_none(), "NULL: now()");
        assert!(check.check(&record(&["a", "not a time"])).is_none());
    }

    #[test]
    fn only_a_table_with_retain_and_without_the_flag_has_a_cutoff() {
        assert!(retention(false).cutoff("orders").is_some());
        assert!(retention(true).cutoff("orders").is_none());
        assert!(
            retention(false).cutoff("wallet_transactions").is_none(),
            "no policy"
        );
        assert!(
            retention(false).cutoff("users").is_none(),
            "not partitioned"
        );
        assert!(retention(true)
            .check("orders", "created_at", 0, &TimeReading::default())
            .is_none());
    }
}
