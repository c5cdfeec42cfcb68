//! What to apply, decided from the local files and the database's history.
//!
//! This is the whole of the safety logic, kept pure so that it is unit-tested
//! without a database: an applied migration that was edited, deleted, or a
//! local one older than the newest applied (out of order) is a divergence, and
//! any divergence stops the run before anything is applied.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{Migration, Repeatable};

/// A row of the history table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    pub version: i64,
    pub name: String,
    pub checksum: String,
    /// How `checksum` was taken (`source::CHECKSUM_ALGORITHM` or, for rows
    /// written before normalisation, `source::RAW_CHECKSUM_ALGORITHM`).
    pub checksum_algorithm: String,
    pub applied_at: DateTime<Utc>,
    pub execution_ms: i64,
}

/// Why the local files and the database disagree.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Divergence {
    /// The file of an applied migration changed after it was applied.
    Edited {
        version: i64,
        file: String,
        applied_checksum: String,
        local_checksum: String,
    },
    /// The database applied a migration this binary does not have.
    Missing { version: i64, name: String },
    /// A local migration older than the newest applied one was never applied.
    OutOfOrder {
        version: i64,
        file: String,
        newest_applied: i64,
    },
}

impl Divergence {
    pub fn version(&self) -> i64 {
        match self {
            Divergence::Edited { version, .. }
            | Divergence::Missing { version, .. }
            | Divergence::OutOfOrder { version, .. } => *version,
        }
    }

    /// One line naming the file and the fix.
    pub fn describe(&self) -> String {
        match self {
            Divergence::Edited {
                file,
                applied_checksum,
                local_checksum,
                ..
            } => format!(
                "migrations/{file} was edited after it was applied (applied sha256 {}…, file sha256 {}…); \
                 restore the file as it was applied and put the change in a new migration",
                &applied_checksum[..applied_checksum.len().min(12)],
                &local_checksum[..local_checksum.len().min(12)],
            ),
            Divergence::Missing { version, name } => format!(
                "version {version} ({name}) is applied in the database but missing from migrations/; \
                 use the rez-db build that applied it, or restore the file"
            ),
            Divergence::OutOfOrder {
                file,
                newest_applied,
                ..
            } => format!(
                "migrations/{file} is older than the newest applied version {newest_applied} but was never \
                 applied; renumber it after {newest_applied}"
            ),
        }
    }
}

/// What a run would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan<'a> {
    /// Applied and matching the local file, in version order.
    pub applied: Vec<(&'a Migration, Applied)>,
    /// To apply, in version order, up to the target.
    pub pending: Vec<&'a Migration>,
    /// Local migrations beyond the target: left for a later run.
    pub beyond_target: Vec<&'a Migration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanError {
    Diverged(Vec<Divergence>),
    /// The target names a version that has no migration file.
    UnknownTarget(i64),
    /// The target is below what is already applied: there are no down migrations.
    TargetBelowApplied {
        target: i64,
        newest_applied: i64,
    },
}

/// Compares `local` (sorted by version) with `applied` and decides what to run.
pub fn plan<'a>(
    local: &'a [Migration],
    applied: &[Applied],
    target: Option<i64>,
) -> Result<Plan<'a>, PlanError> {
    let divergences = verify(local, applied);
    if !divergences.is_empty() {
        return Err(PlanError::Diverged(divergences));
    }
    let newest_applied = applied.iter().map(|a| a.version).max();
    if let Some(target) = target {
        if !local.iter().any(|m| m.version == target) {
            return Err(PlanError::UnknownTarget(target));
        }
        if let Some(newest) = newest_applied.filter(|&n| n > target) {
            return Err(PlanError::TargetBelowApplied {
                target,
                newest_applied: newest,
            });
        }
    }
    let mut plan = Plan {
        applied: Vec::new(),
        pending: Vec::new(),
        beyond_target: Vec::new(),
    };
    for migration in local {
        if let Some(row) = applied.iter().find(|a| a.version == migration.version) {
            plan.applied.push((migration, row.clone()));
        } else if target.is_some_and(|t| migration.version > t) {
            plan.beyond_target.push(migration);
        } else {
            plan.pending.push(migration);
        }
    }
    Ok(plan)
}

/// The repeatable migrations to run: those never applied, or whose checksum
/// differs from their last application's (`last`: name and checksum), in
/// name order (the order of `local`).
pub fn changed_repeatables<'a>(
    local: &'a [Repeatable],
    last: &[(String, String)],
) -> Vec<&'a Repeatable> {
    local
        .iter()
        .filter(|r| {
            !last
                .iter()
                .any(|(name, sum)| name == &r.name && sum == &r.checksum)
        })
        .collect()
}

/// Every disagreement between the files and the history, in version order.
pub fn verify(local: &[Migration], applied: &[Applied]) -> Vec<Divergence> {
    let mut found = Vec::new();
    let newest_applied = applied.iter().map(|a| a.version).max();
    for row in applied {
        match local.iter().find(|m| m.version == row.version) {
            None => found.push(Divergence::Missing {
                version: row.version,
                name: row.name.clone(),
            }),
            Some(m) if !m.matches(&row.checksum, &row.checksum_algorithm) => {
                found.push(Divergence::Edited {
                    version: m.version,
                    file: m.file_name.clone(),
                    applied_checksum: row.checksum.clone(),
                    local_checksum: m.checksum.clone(),
                })
            }
            Some(_) => {}
        }
    }
    if let Some(newest) = newest_applied {
        for m in local {
            if m.version < newest && !applied.iter().any(|a| a.version == m.version) {
                found.push(Divergence::OutOfOrder {
                    version: m.version,
                    file: m.file_name.clone(),
                    newest_applied: newest,
                });
            }
        }
    }
    found.sort_by_key(Divergence::version);
    found
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::source::from_files;
    use super::*;

    /// Migrations of these versions, gaps allowed (a directory refuses them
    /// before planning; the plan must still be right without that check).
    fn local(versions: &[i64]) -> Vec<Migration> {
        versions
            .iter()
            .flat_map(|v| {
                from_files([(format!("{v:04}_m{v}.sql"), format!("SELECT {v};"))]).unwrap()
            })
            .collect()
    }

    /// The history rows of `versions` of `migrations`, as a run writes them.
    pub(crate) fn applied_from(migrations: &[Migration], versions: &[i64]) -> Vec<Applied> {
        migrations
            .iter()
            .filter(|m| versions.contains(&m.version))
            .map(|m| Applied {
                version: m.version,
                name: m.name.clone(),
                checksum: m.checksum.clone(),
                checksum_algorithm: super::super::source::CHECKSUM_ALGORITHM.into(),
                applied_at: DateTime::UNIX_EPOCH,
                execution_ms: 1,
            })
            .collect()
    }

    fn versions(ms: &[&Migration]) -> Vec<i64> {
        ms.iter().map(|m| m.version).collect()
    }

    #[test]
    fn empty_database_gets_everything_in_order() {
        let files = local(&[1, 2, 3]);
        let p = plan(&files, &[], None).unwrap();
        assert_eq!(versions(&p.pending), [1, 2, 3]);
        assert!(p.applied.is_empty());
    }

    #[test]
    fn applied_ones_are_skipped_and_target_stops_the_run() {
        let files = local(&[1, 2, 3, 4]);
        let history = applied_from(&files, &[1]);
        let p = plan(&files, &history, Some(3)).unwrap();
        assert_eq!(versions(&p.pending), [2, 3]);
        assert_eq!(versions(&p.beyond_target), [4]);
        assert_eq!(p.applied.len(), 1);
    }

    #[test]
    fn an_edited_file_diverges_and_names_the_file() {
        let files = local(&[1, 2]);
        let mut history = applied_from(&files, &[1, 2]);
        history[1].checksum = "0".repeat(64);
        let Err(PlanError::Diverged(d)) = plan(&files, &history, None) else {
            panic!("edited migration must diverge")
        };
        assert_eq!(d.len(), 1);
        assert!(d[0]
            .describe()
            .starts_with("migrations/0002_m2.sql was edited"));
    }

    #[test]
    fn missing_and_out_of_order_diverge() {
        let files = local(&[1, 2, 4]);
        let mut history = applied_from(&files, &[1, 4]);
        history.push(Applied {
            version: 3,
            name: "gone".into(),
            checksum: "x".into(),
            checksum_algorithm: "sha256".into(),
            applied_at: DateTime::UNIX_EPOCH,
            execution_ms: 0,
        });
        let d = verify(&files, &history);
        assert_eq!(
            d.iter().map(Divergence::version).collect::<Vec<_>>(),
            [2, 3],
            "{d:?}"
        );
        assert!(matches!(
            d[0],
            Divergence::OutOfOrder {
                newest_applied: 4,
                ..
            }
        ));
        assert!(matches!(d[1], Divergence::Missing { .. }));
    }

    #[test]
    fn a_repeatable_runs_when_new_or_changed_only() {
        let set = super::super::source::parse_set(
            "m",
            [
                ("repeatable/a.sql".to_string(), "SELECT 1;".to_string()),
                ("repeatable/b.sql".to_string(), "SELECT 2;".to_string()),
                ("repeatable/c.sql".to_string(), "SELECT 3;".to_string()),
            ],
        )
        .unwrap();
        let last = vec![
            ("a".to_string(), set.repeatable[0].checksum.clone()),
            ("b".to_string(), "0".repeat(64)),
        ];
        let names: Vec<&str> = changed_repeatables(&set.repeatable, &last)
            .iter()
            .map(|r| r.name.as_str())
            .collect();
        assert_eq!(names, ["b", "c"]);
    }

    #[test]
    fn targets_must_exist_and_cannot_go_down() {
        let files = local(&[1, 2, 3]);
        assert_eq!(plan(&files, &[], Some(9)), Err(PlanError::UnknownTarget(9)));
        let history = applied_from(&files, &[1, 2, 3]);
        assert_eq!(
            plan(&files, &history, Some(2)),
            Err(PlanError::TargetBelowApplied {
                target: 2,
                newest_applied: 3
            })
        );
        // Targeting what is already applied is a no-op, not an error.
        assert!(plan(&files, &history, Some(3)).unwrap().pending.is_empty());
    }
}
