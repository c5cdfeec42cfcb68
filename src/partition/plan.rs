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
//! - With an `archive_dir`, a partition is dropped only on the strength of an
//!   archive the store side found verified ([`ArchiveState::Verified`]) or
//!   that this run writes (and verifies) first; when none can be written the
//!   drop is refused ([`Action::Refused`], exit 1) and the table stays.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, Months, Utc};
use serde::Serialize;

use super::naming::{partition_for, Period, RangePartition};
use crate::config::Policy;

/// What the catalog says about one partitioned table.
#[derive(Debug, Clone, Default)]
pub struct TableState {
    /// Attached range partitions.
    pub attached: Vec<RangePartition>,
    /// Tables named like this table's partitions but not attached (a previous
    /// run detached them, or someone did by hand), with the bounds their
    /// names give.
    pub detached: Vec<RangePartition>,
    /// With an `archive_dir`: what the archive folder holds for each
    /// partition, attached or detached (see `store::pg::archive::inspect`).
    pub archives: BTreeMap<String, ArchiveState>,
    /// Periods with rows in the DEFAULT partition: (partition that would hold them, rows).
    pub in_default: Vec<(RangePartition, i64)>,
}

/// What the archive folder holds for one partition, as the store side judged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArchiveState {
    /// An archive of exactly this table: its sidecar names this database,
    /// partition and bounds and the table's current row count, and the file
    /// still has the sidecar's size and SHA-256 and pg_restore reads it.
    Verified { path: PathBuf },
    /// No archive to trust: one is to be written at `path`, a slot that holds
    /// nothing. `untrusted` names every file found for the partition and why it
    /// is not trusted; those are never replaced.
    Absent {
        path: PathBuf,
        untrusted: Vec<String>,
    },
    /// No archive to trust and none can be written (why).
    Blocked { reason: String },
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
    /// Write and verify an archive at `path` (a slot that holds nothing).
    Archive {
        partition: String,
        path: PathBuf,
        /// Files found for this partition that are not trusted, and why; kept as they are.
        #[serde(skip_serializing_if = "Vec::is_empty")]
        untrusted: Vec<String>,
    },
    /// Drop the detached table; with `archive`, only while the table still
    /// holds the rows that archive's sidecar records.
    Drop {
        partition: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        archive: Option<PathBuf>,
    },
    /// The partition is neither archived nor dropped: `reason` says why. The
    /// table stays (detached) and the run exits 1.
    Refused {
        partition: String,
        reason: String,
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
            | Action::Drop { partition, .. }
            | Action::Refused { partition, .. }
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

/// The oldest instant `parent` keeps under `policy` at `now`: the start of
/// the oldest of the `retain` periods kept (the current one included).
/// Partitions ending at or before it are detached; a row before it is past
/// retention (import-csv refuses it). None keeps everything.
pub fn retention_cutoff(
    parent: &'static str,
    period: Period,
    policy: &Policy,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    policy
        .retain
        .map(|n| shifted(parent, period, now, 1 - n.max(1) as i32).from)
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
    let cutoff = retention_cutoff(parent, period, policy, now);
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
    // A detached table still within retention was detached by hand (for
    // maintenance, say), not by a rotation: it is left alone.
    let mut leaving: Vec<String> = state
        .detached
        .iter()
        .filter(|p| !kept(p))
        .map(|p| p.name.clone())
        .collect();
    for p in expired {
        actions.push(Action::Detach {
            partition: p.name.clone(),
        });
        leaving.push(p.name.clone());
    }
    for name in leaving {
        if policy.archive_dir.is_none() {
            if policy.drop {
                actions.push(Action::Drop {
                    partition: name,
                    archive: None,
                });
            }
            continue;
        }
        let archive = match state.archives.get(&name) {
            Some(ArchiveState::Verified { path }) => path.clone(),
            Some(ArchiveState::Absent { path, untrusted }) => {
                actions.push(Action::Archive {
                    partition: name.clone(),
                    path: path.clone(),
                    untrusted: untrusted.clone(),
                });
                path.clone()
            }
            Some(ArchiveState::Blocked { reason }) => {
                actions.push(Action::Refused {
                    partition: name,
                    reason: reason.clone(),
                });
                continue;
            }
            None => {
                actions.push(Action::Refused {
                    partition: name,
                    reason: "its archive folder was not inspected".to_string(),
                });
                continue;
            }
        };
        if policy.drop {
            actions.push(Action::Drop {
                partition: name,
                archive: Some(archive),
            });
        }
    }
    actions
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::partition::naming::covering;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 12, 0, 0).unwrap()
    }

    /// No archive yet: one goes to `/arch/<name>.dump`.
    fn absent(name: &str) -> ArchiveState {
        ArchiveState::Absent {
            path: PathBuf::from(format!("/arch/{name}.dump")),
            untrusted: Vec::new(),
        }
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
        let attached = covering(
            "wallet_transactions",
            Period::Quarter,
            at(2025, 1, 1),
            at(2026, 12, 1),
        );
        let state = TableState {
            archives: attached
                .iter()
                .map(|p| (p.name.clone(), absent(&p.name)))
                .collect(),
            attached,
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
                path: PathBuf::from("/arch/wallet_transactions_2025_q1.dump"),
                untrusted: Vec::new(),
            }
        );
        assert_eq!(
            actions[last_detach + 2],
            Action::Drop {
                partition: "wallet_transactions_2025_q1".into(),
                archive: Some(PathBuf::from("/arch/wallet_transactions_2025_q1.dump")),
            },
            "the drop names the archive it relies on"
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
                partition_for("orders", Period::Month, at(2026, 9, 2)),
                partition_for("orders", Period::Month, at(2026, 10, 2)),
            ],
            archives: BTreeMap::from([
                (
                    "orders_2026_09".into(),
                    ArchiveState::Verified {
                        path: PathBuf::from("/arch/orders_2026_09.dump"),
                    },
                ),
                ("orders_2026_10".into(), absent("orders_2026_10")),
            ]),
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

    #[test]
    fn a_partition_without_a_trustworthy_archive_is_never_dropped() {
        let policy = Policy {
            premake: 0,
            retain: Some(1),
            archive_dir: Some(PathBuf::from("/arch")),
            drop: true,
        };
        let state = TableState {
            attached: vec![partition_for("orders", Period::Month, at(2026, 11, 2))],
            detached: covering("orders", Period::Month, at(2026, 8, 2), at(2026, 10, 2)),
            archives: BTreeMap::from([
                (
                    "orders_2026_08".into(),
                    ArchiveState::Blocked {
                        reason: "/arch is not a folder".into(),
                    },
                ),
                (
                    "orders_2026_09".into(),
                    ArchiveState::Absent {
                        path: PathBuf::from("/arch/orders_2026_09.2.dump"),
                        untrusted: vec!["/arch/orders_2026_09.dump: no sidecar".into()],
                    },
                ),
            ]),
            ..Default::default()
        };
        let actions = plan("orders", Period::Month, &policy, &state, at(2026, 11, 25));
        assert_eq!(
            names(&actions, "refused"),
            ["orders_2026_08", "orders_2026_10"],
            "blocked, and not inspected"
        );
        assert_eq!(names(&actions, "drop"), ["orders_2026_09"]);
        assert!(actions.contains(&Action::Archive {
            partition: "orders_2026_09".into(),
            path: PathBuf::from("/arch/orders_2026_09.2.dump"),
            untrusted: vec!["/arch/orders_2026_09.dump: no sidecar".into()],
        }));
        // Without an archive_dir nothing is archived: the drop relies on nothing.
        let bare = Policy {
            archive_dir: None,
            ..policy
        };
        let actions = plan("orders", Period::Month, &bare, &state, at(2026, 11, 25));
        assert_eq!(names(&actions, "drop").len(), 3);
        assert!(names(&actions, "refused").is_empty());
    }

    #[test]
    fn a_table_detached_within_retention_is_left_alone() {
        let policy = Policy {
            premake: 0,
            retain: Some(3),
            archive_dir: None,
            drop: true,
        };
        let state = TableState {
            attached: covering("orders", Period::Month, at(2026, 9, 2), at(2026, 10, 2)),
            detached: vec![partition_for("orders", Period::Month, at(2026, 11, 2))],
            ..Default::default()
        };
        let actions = plan("orders", Period::Month, &policy, &state, at(2026, 11, 25));
        assert!(names(&actions, "drop").is_empty(), "{actions:?}");
    }

    #[test]
    fn the_retention_cutoff_is_the_start_of_the_oldest_period_kept() {
        let keep = |retain| Policy {
            retain,
            ..Policy::default()
        };
        let now = at(2027, 3, 15);
        let month = |y, m| Utc.with_ymd_and_hms(y, m, 1, 0, 0, 0).unwrap();
        assert_eq!(
            retention_cutoff("orders", Period::Month, &keep(Some(3)), now),
            Some(month(2027, 1))
        );
        assert_eq!(
            retention_cutoff("orders", Period::Month, &keep(Some(1)), now),
            Some(month(2027, 3))
        );
        assert_eq!(
            retention_cutoff("orders", Period::Month, &keep(Some(0)), now),
            Some(month(2027, 3)),
            "0 keeps the current period, as 1"
        );
        assert_eq!(
            retention_cutoff("wallet_transactions", Period::Quarter, &keep(Some(2)), now),
            Some(month(2026, 10))
        );
        assert_eq!(
            retention_cutoff("orders", Period::Month, &keep(None), now),
            None
        );
    }
}
