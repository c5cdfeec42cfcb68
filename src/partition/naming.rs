//! How the partitioned tables are cut and their partitions named and
//! bounded, exactly as the migrations do it: `orders_2026_01`,
//! `wallet_transactions_2026_q1`, `audit_log_2026_01`, bounds in UTC with an
//! explicit `+00` offset. Pure: the database side is
//! `store::pg::partitions` (create) and `store::pg::rotate` (read, move,
//! detach, drop).

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};

/// How a partitioned table is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Period {
    Month,
    Quarter,
}

/// The partitioned tables and their periods (docs/schema.md, "Partitioning").
pub const PARTITIONED: [(&str, Period); 3] = [
    ("orders", Period::Month),
    ("wallet_transactions", Period::Quarter),
    ("audit_log", Period::Month),
];

/// One range partition: `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangePartition {
    pub parent: &'static str,
    pub name: String,
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
}

fn utc_midnight(date: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&date.and_hms_opt(0, 0, 0).expect("midnight exists"))
}

/// The first day of the period holding `at`, in UTC.
fn period_start(period: Period, at: DateTime<Utc>) -> NaiveDate {
    let month = match period {
        Period::Month => at.month(),
        Period::Quarter => (at.month() - 1) / 3 * 3 + 1,
    };
    NaiveDate::from_ymd_opt(at.year(), month, 1).expect("day 1 exists")
}

fn next_start(period: Period, start: NaiveDate) -> NaiveDate {
    let months = match period {
        Period::Month => 1,
        Period::Quarter => 3,
    };
    start
        .checked_add_months(chrono::Months::new(months))
        .expect("dates stay in range")
}

/// The partition of `parent` that holds `at`.
pub fn partition_for(parent: &'static str, period: Period, at: DateTime<Utc>) -> RangePartition {
    let start = period_start(period, at);
    let name = match period {
        Period::Month => format!("{parent}_{}", start.format("%Y_%m")),
        Period::Quarter => format!("{parent}_{}_q{}", start.year(), (start.month() - 1) / 3 + 1),
    };
    RangePartition {
        parent,
        name,
        from: utc_midnight(start),
        to: utc_midnight(next_start(period, start)),
    }
}

/// The partition of `parent` called `name` (`orders_2026_11`,
/// `wallet_transactions_2026_q4`), when `name` follows the naming: a
/// detached table has no bounds left in the catalog, its name holds them.
pub fn partition_named(parent: &'static str, period: Period, name: &str) -> Option<RangePartition> {
    let rest = name.strip_prefix(parent)?.strip_prefix('_')?;
    let (year, part) = rest.split_once('_')?;
    let month = match period {
        Period::Month => part.parse::<u32>().ok()?,
        Period::Quarter => {
            part.strip_prefix('q')?
                .parse::<u32>()
                .ok()?
                .checked_sub(1)?
                * 3
                + 1
        }
    };
    let start = NaiveDate::from_ymd_opt(year.parse().ok()?, month, 1)?;
    let p = partition_for(parent, period, utc_midnight(start));
    // Round trip: `orders_2026_1` or `orders_2026_011` are not partition names.
    (p.name == name).then_some(p)
}

/// Every partition of `parent` needed to hold instants from `from` to `to`, inclusive.
pub fn covering(
    parent: &'static str,
    period: Period,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<RangePartition> {
    let mut out = Vec::new();
    let mut at = from;
    while at <= to {
        let p = partition_for(parent, period, at);
        at = p.to;
        out.push(p);
    }
    out
}

/// A partition bound as the migrations write it: `2026-01-01 00:00:00+00`.
pub fn bound(at: DateTime<Utc>) -> String {
    format!("{}+00", at.format("%Y-%m-%d %H:%M:%S"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    #[test]
    fn names_and_bounds_follow_the_migrations() {
        let p = partition_for("orders", Period::Month, at(2026, 1, 31));
        assert_eq!(p.name, "orders_2026_01");
        assert_eq!(bound(p.from), "2026-01-01 00:00:00+00");
        assert_eq!(bound(p.to), "2026-02-01 00:00:00+00");
        let q = partition_for("wallet_transactions", Period::Quarter, at(2025, 12, 31));
        assert_eq!(q.name, "wallet_transactions_2025_q4");
        assert_eq!(bound(q.from), "2025-10-01 00:00:00+00");
        assert_eq!(bound(q.to), "2026-01-01 00:00:00+00");
    }

    #[test]
    fn a_partition_name_gives_back_its_bounds() {
        let p = partition_named("orders", Period::Month, "orders_2026_11").unwrap();
        assert_eq!(p, partition_for("orders", Period::Month, at(2026, 11, 5)));
        let q = partition_named(
            "wallet_transactions",
            Period::Quarter,
            "wallet_transactions_2025_q4",
        );
        assert_eq!(
            q.unwrap().from,
            utc_midnight(NaiveDate::from_ymd_opt(2025, 10, 1).unwrap())
        );
        for bad in [
            "orders_2026_13",
            "orders_2026_1",
            "orders_2026",
            "audit_log_2026_11",
            "orders_2026_q1",
        ] {
            assert_eq!(partition_named("orders", Period::Month, bad), None, "{bad}");
        }
        assert_eq!(
            partition_named(
                "wallet_transactions",
                Period::Quarter,
                "wallet_transactions_2025_q5"
            ),
            None
        );
        assert_eq!(
            partition_named(
                "wallet_transactions",
                Period::Quarter,
                "wallet_transactions_2025_q0"
            ),
            None
        );
    }

    #[test]
    fn covering_spans_year_ends_without_gaps() {
        let months = covering("audit_log", Period::Month, at(2025, 11, 20), at(2026, 2, 1));
        let names: Vec<&str> = months.iter().map(|p| p.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "audit_log_2025_11",
                "audit_log_2025_12",
                "audit_log_2026_01",
                "audit_log_2026_02"
            ]
        );
        assert!(months.windows(2).all(|w| w[0].to == w[1].from));
        let quarters = covering(
            "wallet_transactions",
            Period::Quarter,
            at(2025, 9, 30),
            at(2025, 10, 1),
        );
        assert_eq!(quarters.len(), 2);
    }
}
