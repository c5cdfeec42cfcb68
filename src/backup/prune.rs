//! `backup prune`: which backups of a root directory to keep, by the rules
//! restic's `forget` uses (and pgBackRest's full-backup retention amounts
//! to), and the deletion of the rest.
//!
//! The backups are the subdirectories of the root with a valid manifest
//! (present, parsed, of a format this rez-db reads); their time is the
//! manifest's `started_at` (the moment the data is from), in UTC. Going
//! from the newest to the oldest, each rule keeps a backup when it still has
//! room and the backup opens a period the rule has not kept yet:
//! `last` keeps the N newest; `daily` the newest of each of the D most recent
//! days that have a backup; `weekly` the same per ISO week (Monday to
//! Sunday); `monthly` per calendar month. A backup is kept when any rule
//! keeps it, and the report says which and why. A subdirectory without a
//! valid manifest (interrupted, being written, not a backup) is never
//! deleted unless its caller includes incomplete ones.
//!
//! Everything is listed and decided before anything is deleted, and a
//! deletion removes the manifest first: a backup half-deleted by a crash is
//! recognisably incomplete, never taken for a whole one. The decision
//! ([`plan`]) is pure.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Datelike, Utc};
use serde::Serialize;

use super::manifest::{self, Manifest, FORMAT, MANIFEST};
use crate::error::{CommandError, Result};
use crate::provision::Confirm;

/// How many backups each rule keeps (0: the rule keeps none).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Policy {
    pub last: u32,
    pub daily: u32,
    pub weekly: u32,
    pub monthly: u32,
}

impl Policy {
    fn keeps_anything(&self) -> bool {
        self.last + self.daily + self.weekly + self.monthly > 0
    }
}

/// What `backup prune` is asked to do.
#[derive(Debug, Clone)]
pub struct Options {
    pub root: PathBuf,
    pub policy: Policy,
    /// Decide and report; delete nothing.
    pub dry_run: bool,
    /// Delete subdirectories without a valid manifest too.
    pub include_incomplete: bool,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub root: PathBuf,
    pub dry_run: bool,
    pub policy: Policy,
    /// Every subdirectory, newest first (incomplete ones last).
    pub backups: Vec<Row>,
    pub kept: usize,
    pub deleted: usize,
}

#[derive(Debug, Serialize)]
pub struct Row {
    /// The subdirectory's name.
    pub name: String,
    /// The manifest's `started_at`; None for an incomplete backup.
    pub started_at: Option<DateTime<Utc>>,
    pub complete: bool,
    /// Kept (true) or deleted, or to be deleted under a dry run (false).
    pub keep: bool,
    /// Why it is kept: the rules that keep it; for an incomplete one, what is wrong.
    pub reasons: Vec<String>,
}

/// For backups at `times` (any order), the reasons each is kept, in the
/// same order; an empty list means it goes.
pub fn plan(times: &[DateTime<Utc>], policy: Policy) -> Vec<Vec<String>> {
    let mut order: Vec<usize> = (0..times.len()).collect();
    // Newest first; equal times by position, later first, so the result
    // does not depend on the listing order of the directory.
    order.sort_by(|a, b| times[*b].cmp(&times[*a]).then(b.cmp(a)));
    let rules: [(&str, u32, fn(DateTime<Utc>) -> String); 4] = [
        ("last", policy.last, |_| String::new()),
        ("daily", policy.daily, |t| t.format("%Y-%m-%d").to_string()),
        ("weekly", policy.weekly, |t| {
            let week = t.iso_week();
            format!("{}-W{:02}", week.year(), week.week())
        }),
        ("monthly", policy.monthly, |t| t.format("%Y-%m").to_string()),
    ];
    let mut reasons = vec![Vec::new(); times.len()];
    for (name, room, period) in rules {
        let mut left = room;
        let mut last_period: Option<String> = None;
        for (rank, &i) in order.iter().enumerate() {
            if left == 0 {
                break;
            }
            let p = period(times[i]);
            if name == "last" {
                reasons[i].push(format!("last {} of {room}", rank + 1));
                left -= 1;
            } else if last_period.as_deref() != Some(p.as_str()) {
                reasons[i].push(format!("{name} {p}"));
                last_period = Some(p);
                left -= 1;
            }
        }
    }
    reasons
}

/// A subdirectory of the root, as found.
struct Found {
    name: String,
    path: PathBuf,
    manifest: std::result::Result<Manifest, String>,
}

/// Reads the root's subdirectories and their manifests (not their files'
/// checksums: `restore` verifies those). Links and files are not backups.
fn list(root: &Path) -> Result<Vec<Found>> {
    let entries = std::fs::read_dir(root).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => CommandError::usage(format!(
            "{} does not exist: name the directory that holds the backups",
            root.display()
        )),
        _ => CommandError::failed(format!("cannot read {}: {e}", root.display())),
    })?;
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry
            .map_err(|e| CommandError::failed(format!("cannot read {}: {e}", root.display())))?;
        let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
        if !is_dir {
            continue;
        }
        let path = entry.path();
        found.push(Found {
            name: entry.file_name().to_string_lossy().into_owned(),
            manifest: read_manifest(&path),
            path,
        });
    }
    Ok(found)
}

/// The manifest of a backup directory, or why it is not a complete backup.
fn read_manifest(dir: &Path) -> std::result::Result<Manifest, String> {
    let path = dir.join(MANIFEST);
    let meta = match std::fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(_) => return Err(format!("no {MANIFEST}")),
    };
    if !meta.is_file() {
        return Err(format!("{MANIFEST} is not a regular file"));
    }
    let text = std::fs::read(&path).map_err(|e| format!("cannot read {MANIFEST}: {e}"))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| format!("{MANIFEST} is not valid: {e}"))?;
    if !(1..=FORMAT).contains(&manifest.format) {
        return Err(format!(
            "{MANIFEST} is in backup format {}, which this rez-db does not read",
            manifest.format
        ));
    }
    Ok(manifest)
}

/// Deletes one backup: its manifest first, then the rest.
fn delete(path: &Path) -> Result<()> {
    let failed =
        |e: std::io::Error| CommandError::failed(format!("cannot delete {}: {e}", path.display()));
    match std::fs::remove_file(path.join(manifest::MANIFEST)) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(failed(e)),
        _ => {}
    }
    // remove_dir_all never follows a link inside the backup.
    std::fs::remove_dir_all(path).map_err(failed)
}

/// `backup prune`: lists the backups under `options.root`, decides which to
/// keep, asks `confirm` before deleting any (not on a dry run), deletes the
/// rest. A policy that keeps nothing is refused (exit 2): it would delete
/// every backup.
pub fn run(options: &Options, confirm: Confirm<'_>) -> Result<Report> {
    if !options.policy.keeps_anything() {
        return Err(CommandError::usage(
            "refusing to prune with no rule that keeps anything (every count is 0): \
             every backup would be deleted",
        ));
    }
    let found = list(&options.root)?;
    let (complete, incomplete): (Vec<Found>, Vec<Found>) =
        found.into_iter().partition(|f| f.manifest.is_ok());
    let times: Vec<DateTime<Utc>> = complete
        .iter()
        .map(|f| {
            f.manifest
                .as_ref()
                .map(|m| m.started_at)
                .unwrap_or_default()
        })
        .collect();
    let reasons = plan(&times, options.policy);
    let mut rows: Vec<(Row, PathBuf)> = complete
        .into_iter()
        .zip(times)
        .zip(reasons)
        .map(|((f, at), reasons)| {
            let row = Row {
                name: f.name,
                started_at: Some(at),
                complete: true,
                keep: !reasons.is_empty(),
                reasons,
            };
            (row, f.path)
        })
        .collect();
    rows.sort_by(|(a, _), (b, _)| b.started_at.cmp(&a.started_at).then(b.name.cmp(&a.name)));
    let mut incomplete: Vec<(Row, PathBuf)> = incomplete
        .into_iter()
        .map(|f| {
            let why = f.manifest.err().unwrap_or_default();
            let row = Row {
                name: f.name,
                started_at: None,
                complete: false,
                keep: !options.include_incomplete,
                reasons: vec![format!("incomplete: {why}")],
            };
            (row, f.path)
        })
        .collect();
    incomplete.sort_by(|(a, _), (b, _)| a.name.cmp(&b.name));
    rows.extend(incomplete);

    let doomed: Vec<&(Row, PathBuf)> = rows.iter().filter(|(r, _)| !r.keep).collect();
    if !options.dry_run && !doomed.is_empty() {
        let names: Vec<&str> = doomed.iter().map(|(r, _)| r.name.as_str()).collect();
        confirm(&format!(
            "Delete {} of the {} backup(s) in {}: {}?",
            doomed.len(),
            rows.len(),
            options.root.display(),
            names.join(", ")
        ))?;
        for (_, path) in &doomed {
            delete(path)?;
        }
    }
    let deleted = doomed.len();
    Ok(Report {
        root: options.root.clone(),
        dry_run: options.dry_run,
        policy: options.policy,
        kept: rows.len() - deleted,
        deleted,
        backups: rows.into_iter().map(|(r, _)| r).collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    fn kept(times: &[DateTime<Utc>], policy: Policy) -> Vec<usize> {
        plan(times, policy)
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.is_empty())
            .map(|(i, _)| i)
            .collect()
    }

    #[test]
    fn last_keeps_the_newest_whatever_the_listing_order() {
        let times = [at(2026, 1, 3, 0), at(2026, 1, 1, 0), at(2026, 1, 2, 0)];
        let policy = Policy {
            last: 2,
            ..Policy::default()
        };
        assert_eq!(kept(&times, policy), [0, 2]);
        assert_eq!(plan(&times, policy)[2], ["last 2 of 2"]);
    }

    #[test]
    fn daily_keeps_the_newest_of_each_of_the_last_days_with_a_backup() {
        // Two a day on the 1st, 2nd and 4th (none on the 3rd).
        let times = [
            at(2026, 3, 1, 6),
            at(2026, 3, 1, 18),
            at(2026, 3, 2, 6),
            at(2026, 3, 2, 18),
            at(2026, 3, 4, 6),
            at(2026, 3, 4, 18),
        ];
        let policy = Policy {
            daily: 3,
            ..Policy::default()
        };
        // The 4th, the 2nd and the 1st: days without a backup do not count.
        assert_eq!(kept(&times, policy), [1, 3, 5]);
        assert_eq!(plan(&times, policy)[5], ["daily 2026-03-04"]);
    }

    #[test]
    fn weekly_uses_iso_weeks_and_monthly_calendar_months() {
        // Sunday 2026-03-01 is in ISO week 9, Monday 2026-03-02 in week 10.
        let times = [at(2026, 2, 27, 0), at(2026, 3, 1, 0), at(2026, 3, 2, 0)];
        let weekly = Policy {
            weekly: 2,
            ..Policy::default()
        };
        assert_eq!(kept(&times, weekly), [1, 2]);
        assert_eq!(plan(&times, weekly)[1], ["weekly 2026-W09"]);
        let monthly = Policy {
            monthly: 5,
            ..Policy::default()
        };
        assert_eq!(kept(&times, monthly), [0, 2]);
        assert_eq!(plan(&times, monthly)[0], ["monthly 2026-02"]);
    }

    #[test]
    fn a_backup_is_kept_when_any_rule_keeps_it_with_every_reason() {
        let times = [at(2026, 1, 31, 0), at(2026, 2, 1, 0), at(2026, 2, 2, 0)];
        let policy = Policy {
            last: 1,
            daily: 1,
            monthly: 2,
            ..Policy::default()
        };
        let reasons = plan(&times, policy);
        assert_eq!(
            reasons[2],
            ["last 1 of 1", "daily 2026-02-02", "monthly 2026-02"]
        );
        assert!(reasons[1].is_empty());
        assert_eq!(reasons[0], ["monthly 2026-01"]);
    }
}
