//! One operation on many PostgreSQL databases (a `targets:` group): at most
//! `parallel` at once, a canary phase first if asked, and either every
//! target to the end (`keep_going`) or no new target started after the first
//! failure (the running ones finish). The result is one [`Combined`] report:
//! a row per target (its own report or error, its exit code, when it started
//! and finished) and the total, whose exit code is the worst of the targets'.
//!
//! Generic over what runs on a target: the caller hands an async closure per
//! target, which opens that target's own handles and runs the one operation
//! on them, so each target has its own advisory lock, migration history and
//! operations log, exactly as a run without a group. *Invariant*: this
//! module knows no store, no operation and no command; it only schedules
//! closures and collects what they return.
//!
//! The closures run as futures of one task (`buffer_unordered`), not as
//! spawned tasks: they may borrow the command's options, and the work is
//! waiting on servers, which needs no second thread.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use futures_util::stream::{self, StreamExt};
use serde::Serialize;

use crate::config::Target;

/// How to go over the targets.
#[derive(Debug, Clone, Serialize)]
pub struct Options {
    /// The most targets running at once (at least 1).
    pub parallel: usize,
    /// Start every target even after one failed.
    pub keep_going: bool,
    /// Run these first targets (in group order) alone first; if any fails,
    /// start none of the others.
    pub canary: Option<usize>,
    /// The lowest exit code that counts as a failure: 1 for a command that
    /// changes the databases (a migration refused stops the rollout), 2 for
    /// a read-only one (findings on one shard do not stop the others).
    pub fails_from: u8,
}

/// What one target's run gave: filled in by the caller's closure.
#[derive(Debug, Serialize)]
pub struct Done<R> {
    pub exit_code: u8,
    /// One line saying what happened (the report's last line, or the error).
    pub summary: String,
    /// The target's own report (when the command got that far).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<R>,
    /// The error that ended the target's run, if one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDoc>,
}

/// An error as the `--json` document of a single run shows it.
#[derive(Debug, Clone, Serialize)]
pub struct ErrorDoc {
    pub kind: String,
    pub exit_code: u8,
    pub message: String,
    pub hints: Vec<String>,
}

/// Where a target's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Exit 0.
    Ok,
    /// Exit 1: ran, found problems.
    Problems,
    /// Exit 2 or more: could not do its job.
    Failed,
    /// Never started: an earlier failure (or a failed canary) stopped the rollout.
    Skipped,
}

/// One row of the combined report.
#[derive(Debug, Serialize)]
pub struct Row<R> {
    pub name: String,
    /// Redacted (`***` for a password).
    pub url: String,
    pub state: State,
    /// `None` when the target was skipped.
    pub exit_code: Option<u8>,
    pub canary: bool,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<R>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDoc>,
}

/// The totals row.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Total {
    pub targets: usize,
    pub ok: usize,
    pub problems: usize,
    pub failed: usize,
    pub skipped: usize,
    /// The worst of the targets' exit codes ([`worst`]).
    pub exit_code: u8,
}

/// The report of a command run on a group.
#[derive(Debug, Serialize)]
pub struct Combined<R> {
    pub command: String,
    pub group: String,
    pub options: Options,
    pub targets: Vec<Row<R>>,
    pub total: Total,
}

/// The worst of two exit codes: the higher one. With the exit-code contract
/// that orders them 255 (a bug) > 5 (could not do its job) > 4 (lock held) >
/// 3 (unreachable) > 2 (usage) > 1 (found problems) > 0 (ok): any failure
/// outranks findings, and findings outrank success.
pub fn worst(a: u8, b: u8) -> u8 {
    a.max(b)
}

/// Runs `one` on every target of `targets` as `options` say; `command` and
/// `group` label the report.
pub async fn run<'t, R, F, Fut>(
    command: &str,
    group: &str,
    targets: &'t [Target],
    options: &Options,
    one: F,
) -> Combined<R>
where
    F: Fn(&'t Target) -> Fut,
    Fut: Future<Output = Done<R>>,
{
    let canary = options.canary.unwrap_or(0).min(targets.len());
    let stop = AtomicBool::new(false);
    let mut rows = phase(&targets[..canary], options, &stop, &one).await;
    for row in &mut rows {
        row.canary = true;
    }
    // A failed canary stops the rollout whatever keep_going says: that is
    // what a canary is for.
    let canary_failed = rows
        .iter()
        .any(|r| r.exit_code.is_some_and(|c| c >= options.fails_from));
    if canary_failed {
        stop.store(true, Ordering::SeqCst);
    }
    rows.extend(phase(&targets[canary..], options, &stop, &one).await);
    let total = total(&rows);
    Combined {
        command: command.to_string(),
        group: group.to_string(),
        options: options.clone(),
        targets: rows,
        total,
    }
}

/// Runs `one` on `targets`, at most `options.parallel` at once; the rows in
/// the targets' order. Once `stop` is set, targets not yet started are skipped.
async fn phase<'t, R, F, Fut>(
    targets: &'t [Target],
    options: &Options,
    stop: &AtomicBool,
    one: &F,
) -> Vec<Row<R>>
where
    F: Fn(&'t Target) -> Fut,
    Fut: Future<Output = Done<R>>,
{
    let mut rows: Vec<(usize, Row<R>)> = stream::iter(targets.iter().enumerate())
        .map(|(i, target)| async move {
            let mut row = Row {
                name: target.name.clone(),
                url: target.url.to_string(),
                state: State::Skipped,
                exit_code: None,
                canary: false,
                summary: "not started: an earlier target failed".to_string(),
                started_at: None,
                finished_at: None,
                report: None,
                error: None,
            };
            if stop.load(Ordering::SeqCst) {
                return (i, row);
            }
            row.started_at = Some(Utc::now());
            let done = one(target).await;
            row.finished_at = Some(Utc::now());
            if done.exit_code >= options.fails_from && !options.keep_going {
                stop.store(true, Ordering::SeqCst);
            }
            row.state = match done.exit_code {
                0 => State::Ok,
                1 => State::Problems,
                _ => State::Failed,
            };
            row.exit_code = Some(done.exit_code);
            row.summary = done.summary;
            row.report = done.report;
            row.error = done.error;
            (i, row)
        })
        .buffer_unordered(options.parallel.max(1))
        .collect()
        .await;
    rows.sort_by_key(|(i, _)| *i);
    rows.into_iter().map(|(_, row)| row).collect()
}

fn total<R>(rows: &[Row<R>]) -> Total {
    let mut t = Total {
        targets: rows.len(),
        ..Total::default()
    };
    for row in rows {
        match row.state {
            State::Ok => t.ok += 1,
            State::Problems => t.problems += 1,
            State::Failed => t.failed += 1,
            State::Skipped => t.skipped += 1,
        }
        t.exit_code = worst(t.exit_code, row.exit_code.unwrap_or(0));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::RedactedUrl;
    use std::sync::atomic::AtomicUsize;
    use std::time::Duration;

    fn targets(n: usize) -> Vec<Target> {
        (0..n)
            .map(|i| Target {
                name: format!("t{i}"),
                url: RedactedUrl::parse(&format!("postgres://u:pw@h/t{i}")).unwrap(),
            })
            .collect()
    }

    fn options(parallel: usize, keep_going: bool, canary: Option<usize>) -> Options {
        Options {
            parallel,
            keep_going,
            canary,
            fails_from: 1,
        }
    }

    /// Runs the group with the exit codes `codes` (by target index),
    /// recording the most targets ever running at once.
    async fn go(codes: &[u8], options: Options) -> (Combined<()>, usize) {
        let list = targets(codes.len());
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let report = run("migrate", "g", &list, &options, |t| {
            let code = codes[t.name[1..].parse::<usize>().unwrap()];
            let (running, most) = (&running, &most);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(now, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
                running.fetch_sub(1, Ordering::SeqCst);
                Done {
                    exit_code: code,
                    summary: format!("exit {code}"),
                    report: None,
                    error: None,
                }
            }
        })
        .await;
        (report, most.load(Ordering::SeqCst))
    }

    fn states(c: &Combined<()>) -> Vec<State> {
        c.targets.iter().map(|r| r.state).collect()
    }

    #[tokio::test]
    async fn keep_going_runs_everything_and_the_total_is_the_worst() {
        let (c, most) = go(&[0, 3, 1, 0, 5, 0], options(2, true, None)).await;
        assert!(most <= 2, "{most} ran at once");
        use State::*;
        assert_eq!(states(&c), [Ok, Failed, Problems, Ok, Failed, Ok]);
        assert_eq!(
            c.total,
            Total {
                targets: 6,
                ok: 3,
                problems: 1,
                failed: 2,
                skipped: 0,
                exit_code: 5
            }
        );
        assert_eq!(c.targets[1].url, "postgres://u:***@h/t1");
    }

    #[tokio::test]
    async fn without_keep_going_a_failure_starts_nothing_new() {
        let (c, _) = go(&[4, 0, 0, 0], options(1, false, None)).await;
        use State::*;
        assert_eq!(states(&c), [Failed, Skipped, Skipped, Skipped]);
        assert_eq!(c.total.exit_code, 4);
        assert_eq!(c.targets[1].exit_code, None);
        // Findings are no failure for a read-only command.
        let (c, _) = go(
            &[1, 0],
            Options {
                fails_from: 2,
                ..options(1, false, None)
            },
        )
        .await;
        assert_eq!(states(&c), [Problems, Ok]);
    }

    #[tokio::test]
    async fn a_failed_canary_stops_the_rest_even_with_keep_going() {
        let (c, _) = go(&[0, 3, 0, 0], options(2, true, Some(2))).await;
        use State::*;
        assert_eq!(states(&c), [Ok, Failed, Skipped, Skipped]);
        assert!(c.targets[0].canary && c.targets[1].canary && !c.targets[2].canary);
        let (c, _) = go(&[0, 0, 0], options(2, false, Some(1))).await;
        assert_eq!(states(&c), [Ok, Ok, Ok]);
    }

    #[test]
    fn failures_outrank_findings_which_outrank_success() {
        assert_eq!(worst(1, 0), 1);
        assert_eq!(worst(1, 3), 3);
        assert_eq!(worst(5, 4), 5);
        assert_eq!(worst(255, 5), 255);
    }
}
