//! The rotation plan for one partitioned table. Pure: the same state, policy
//! and time always give the same actions, in the order they must run.
//!
//! - Partitions for the current period and `premake` ahead are created.
//! - Rows sitting in DEFAULT for a period that is kept get their partition:
//!   the rows move out of DEFAULT and the partition is created in one
//!   transaction (PostgreSQL refuses to create a partition while DEFAULT holds
//!   rows of its range). Rows of periods already beyond retention stay, and
//!   are reported.
//! - Attached partitions beyond retention are detached, then archived and
//!   dropped as the policy says. A table left detached by an interrupted run
//!   continues from where it stopped: the catalog is the state machine.

use std::path::PathBuf;

use chrono::{DateTime, Months, Utc};
use serde::Serialize;

use super::policy::Policy;
use crate::store::pg::partitions::{partition_for, Period, RangePartition};

/// What the catalog says about one partitioned table.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// Attached range partitions.
    pub attached: Vec<RangePartition>,
    /// Tables named like this table's partitions but not attached (a previous
    /// run detached them), with whether their archive file exists.
    pub detached: Vec<(String, bool)>,
    /// Periods with rows in the DEFAULT partition: (partition that would hold them, rows).
    pub in_default: Vec<(RangePartition, i64)>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    Create {
        partition: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    },
    /// Move `rows` out of DEFAULT into a new partition, in one transaction.
    MoveAndCreate {
        partition: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        rows: i64,
    },
    Detach {
        partition: String,
    },
    Archive {
        partition: String,
        path: PathBuf,
    },
    Drop {
        partition: String,
    },
    /// Rows of a period beyond retention, left in DEFAULT.
    LeftInDefault {
        partition: String,
        rows: i64,
    },
}

impl Action {
    pub fn partition(&self) -> &str {
        match self {
            Action::Create { partition, .. }
            | Action::MoveAndCreate { partition, .. }
            | Action::Detach { partition }
            | Action::Archive { partition, .. }
            | Action::Drop { partition }
            | Action::LeftInDefault { partition, .. } => partition,
        }
    }
}

/// The partition `n` periods after (or before, when negative) the one holding `at`.
fn shifted(parent: &'static str, period: Period, at: DateTime<Utc>, n: i32) -> RangePartition {
    let step = match period {
        Period::Month => 1,
        Period::Quarter => 3,
    };
    let start = partition_for(parent, period, at).from;
    let months = Months::new(step * n.unsigned_abs());
    let moved = if n >= 0 {
        start.checked_add_months(months)
    } else {
        start.checked_sub_months(months)
    };
    partition_for(parent, period, moved.expect("dates stay in range"))
}

/// The archive file of a partition.
pub fn archive_path(dir: &std::path::Path, partition: &str) -> PathBuf {
    dir.join(format!("{partition}.dump"))
}

pub fn plan(
    parent: &'static str,
    period: Period,
    policy: &Policy,
    state: &TableState,
    now: DateTime<Utc>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    // Everything ending at or before `cutoff` is beyond retention.
    let cutoff = policy
        .retain
        .map(|n| shifted(parent, period, now, 1 - n.max(1) as i32).from);
    let kept = |p: &RangePartition| cutoff.is_none_or(|c| p.to > c);
    let attached = |name: &str| state.attached.iter().any(|a| a.name == name);
    let rows_in_default = |name: &str| {
        state
            .in_default
            .iter()
            .find(|(p, _)| p.name == name)
            .map(|(_, n)| *n)
    };

    // Catch up on periods whose rows fell into DEFAULT (downtime, imports), oldest first.
    let mut backlog: Vec<&(RangePartition, i64)> = state.in_default.iter().collect();
    backlog.sort_by_key(|(p, _)| p.from);
    for (p, rows) in backlog {
        if attached(&p.name) {
            continue;
        }
        if kept(p) {
            actions.push(Action::MoveAndCreate {
                partition: p.name.clone(),
                from: p.from,
                to: p.to,
                rows: *rows,
            });
        } else {
            actions.push(Action::LeftInDefault {
                partition: p.name.clone(),
                rows: *rows,
            });
        }
    }
    for n in 0..=policy.premake as i32 {
        let p = shifted(parent, period, now, n);
        let planned = actions.iter().any(|a| a.partition() == p.name);
        if !attached(&p.name) && !planned && rows_in_default(&p.name).is_none() {
            actions.push(Action::Create {
                partition: p.name,
                from: p.from,
                to: p.to,
            });
        }
    }

    // Retention: detach, then archive and drop, also finishing what a crash left.
    let mut expired: Vec<&RangePartition> = state.attached.iter().filter(|p| !kept(p)).collect();
    expired.sort_by_key(|p| p.from);
    let mut leaving: Vec<(String, bool)> = state.detached.clone();
    for p in expired {
        actions.push(Action::Detach {
            partition: p.name.clone(),
        });
        leaving.push((p.name.clone(), false));
    }
    for (name, archived) in leaving {
        if let (Some(dir), false) = (&policy.archive_dir, archived) {
            actions.push(Action::Archive {
                path: archive_path(dir, &name),
                partition: name.clone(),
            });
        }
        if policy.drop {
            actions.push(Action::Drop { partition: name });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::pg::partitions::covering;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    fn names(actions: &[Action], kind: &str) -> Vec<String> {
        actions
            .iter()
            .filter(|a| serde_json::to_value(a).unwrap()["action"] == kind)
            .map(|a| a.partition().to_string())
            .collect()
    }

    #[test]
    fn creates_the_current_period_and_premake_ahead_once() {
        let policy = Policy::default();
        let empty = TableState::default();
        let actions = plan("orders", Period::Month, &policy, &empty, at(2026, 11, 25));
        assert_eq!(
            names(&actions, "create"),
            [
                "orders_2026_11",
                "orders_2026_12",
                "orders_2027_01",
                "orders_2027_02"
            ]
        );
        let done = TableState {
            attached: covering("orders", Period::Month, at(2026, 11, 1), at(2027, 2, 1)),
            ..Default::default()
        };
        assert!(
            plan("orders", Period::Month, &policy, &done, at(2026, 11, 25)).is_empty(),
            "idempotent"
        );
    }

    #[test]
    fn retention_detaches_archives_and_drops_in_order() {
        let policy = Policy {
            premake: 1,
            retain: Some(3),
            archive_dir: Some(PathBuf::from("/arch")),
            drop: true,
        };
        let state = TableState {
            attached: covering(
                "wallet_transactions",
                Period::Quarter,
                at(2025, 1, 1),
                at(2026, 12, 1),
            ),
            ..Default::default()
        };
        // Q4 2026 is current: keep Q2, Q3, Q4 2026; detach 2025 Q1..Q4 and 2026 Q1.
        let actions = plan(
            "wallet_transactions",
            Period::Quarter,
            &policy,
            &state,
            at(2026, 11, 25),
        );
        assert_eq!(names(&actions, "create"), ["wallet_transactions_2027_q1"]);
        assert_eq!(names(&actions, "detach").len(), 5);
        assert_eq!(names(&actions, "detach")[4], "wallet_transactions_2026_q1");
        let first_drop = actions
            .iter()
            .position(|a| matches!(a, Action::Drop { .. }))
            .unwrap();
        let last_detach = actions
            .iter()
            .rposition(|a| matches!(a, Action::Detach { .. }))
            .unwrap();
        assert!(last_detach < first_drop);
        assert_eq!(
            actions[last_detach + 1],
            Action::Archive {
                partition: "wallet_transactions_2025_q1".into(),
                path: PathBuf::from("/arch/wallet_transactions_2025_q1.dump")
            }
        );
    }

    #[test]
    fn a_crashed_run_resumes_after_the_detach() {
        let policy = Policy {
            premake: 0,
            retain: Some(1),
            archive_dir: Some(PathBuf::from("/arch")),
            drop: true,
        };
        let state = TableState {
            attached: vec![partition_for("orders", Period::Month, at(2026, 11, 2))],
            detached: vec![
                ("orders_2026_09".into(), true),
                ("orders_2026_10".into(), false),
            ],
            ..Default::default()
        };
        let actions = plan("orders", Period::Month, &policy, &state, at(2026, 11, 25));
        assert_eq!(
            names(&actions, "archive"),
            ["orders_2026_10"],
            "09 was archived before the crash"
        );
        assert_eq!(
            names(&actions, "drop"),
            ["orders_2026_09", "orders_2026_10"]
        );
    }

    #[test]
    fn rows_in_default_move_if_kept_and_stay_if_expired() {
        let policy = Policy {
            premake: 0,
            retain: Some(2),
            ..Default::default()
        };
        let state = TableState {
            attached: vec![],
            in_default: vec![
                (partition_for("orders", Period::Month, at(2026, 10, 3)), 7),
                (partition_for("orders", Period::Month, at(2026, 11, 3)), 2),
                (partition_for("orders", Period::Month, at(2026, 1, 3)), 4),
            ],
            ..Default::default()
        };
        let actions = plan("orders", Period::Month, &policy, &state, at(2026, 11, 25));
        assert_eq!(
            names(&actions, "move_and_create"),
            ["orders_2026_10", "orders_2026_11"]
        );
        assert_eq!(names(&actions, "left_in_default"), ["orders_2026_01"]);
        assert!(
            names(&actions, "create").is_empty(),
            "the current month is created by the move"
        );
    }
}
