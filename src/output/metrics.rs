//! The metrics file for cron (`--metrics-file`, `metrics_file:`): what a run
//! did, in the Prometheus text exposition format that node_exporter's
//! textfile collector reads. One file holds every rez-db job: a run replaces
//! its own series (same `command` and `target`) and keeps everybody else's.
//!
//! The file is rewritten whole, atomically (a temporary file beside it,
//! fsynced, renamed over it), under an exclusive `flock` of `PATH.lock` so
//! two jobs finishing together do not lose each other's series. It holds
//! rez-db's series only (`rez_db_*`): lines of any other program are not
//! kept, so give rez-db a file of its own in the collector's directory.
//! This module knows no operation: commands hand it their samples.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Every series name starts with this.
pub const PREFIX: &str = "rez_db_";

/// A sample's value: counts stay integers (coins are never a float), times
/// are seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    Count(i64),
    Seconds(f64),
}

impl Value {
    fn text(self) -> String {
        match self {
            Value::Count(n) => n.to_string(),
            // Milliseconds are enough for a cron job's timings.
            Value::Seconds(s) => format!("{s:.3}"),
        }
    }
}

/// One series of a run: `rez_db_<name>{command, target, labels...} value`.
/// The face adds `command` and `target`; a report gives the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Without the `rez_db_` prefix.
    pub name: &'static str,
    pub help: &'static str,
    pub labels: Vec<(&'static str, String)>,
    pub value: Value,
}

impl Sample {
    pub fn count(name: &'static str, help: &'static str, value: i64) -> Sample {
        Sample {
            name,
            help,
            labels: Vec::new(),
            value: Value::Count(value),
        }
    }

    pub fn seconds(name: &'static str, help: &'static str, value: f64) -> Sample {
        Sample {
            name,
            help,
            labels: Vec::new(),
            value: Value::Seconds(value),
        }
    }

    pub fn with(mut self, label: &'static str, value: impl Into<String>) -> Sample {
        self.labels.push((label, value.into()));
        self
    }
}

/// The run being recorded.
#[derive(Debug, Clone)]
pub struct Run {
    /// `partition-rotate`, `audit enable`, ...
    pub command: String,
    /// Where it ran: `host:port/database`, never a credential.
    pub target: String,
    /// Start of the run, Unix seconds.
    pub started: f64,
    pub duration_secs: f64,
    pub exit_code: u8,
    /// What the command's report says it did.
    pub samples: Vec<Sample>,
}

impl Run {
    /// The series of this run: the four every command has, then its own.
    fn samples(&self) -> Vec<Sample> {
        let mut out = vec![
            Sample::seconds(
                "last_run_timestamp_seconds",
                "When the command last ran (its start), Unix time.",
                self.started,
            ),
            Sample::count(
                "last_exit_code",
                "Exit code of the command's last run (0 ok, 1 found problems, 2 usage, 3 unreachable, 4 lock held, 5 failed, 130/143 signals).",
                i64::from(self.exit_code),
            ),
            Sample::seconds(
                "duration_seconds",
                "How long the command's last run took.",
                self.duration_secs,
            ),
        ];
        if self.exit_code == 0 {
            out.push(Sample::seconds(
                "last_success_timestamp_seconds",
                "When the command last ran with exit code 0 (its start), Unix time.",
                self.started,
            ));
        }
        out.extend(self.samples.iter().cloned());
        out
    }
}

/// One line of the file, parsed: the series' full name, labels and value text.
#[derive(Debug, Clone, PartialEq)]
struct Line {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
}

impl Line {
    fn label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn write(&self, out: &mut String) {
        out.push_str(&self.name);
        if !self.labels.is_empty() {
            let labels: Vec<String> = self
                .labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            out.push('{');
            out.push_str(&labels.join(","));
            out.push('}');
        }
        out.push(' ');
        out.push_str(&self.value);
        out.push('\n');
    }
}

/// A series family: its help and its lines.
#[derive(Debug, Default)]
struct Family {
    help: Option<String>,
    lines: Vec<Line>,
}

/// Writes `run` into the file at `path`, keeping the other runs' series.
pub fn record(path: &Path, run: &Run) -> io::Result<()> {
    let _lock = lock(path)?;
    let existing = match fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e),
    };
    let text = merge(&existing, run);
    write_atomically(path, text.as_bytes())
}

/// The new file text: `existing` without `run`'s old series (except its
/// last success, when this run failed), plus `run`'s series.
fn merge(existing: &str, run: &Run) -> String {
    let mut families: BTreeMap<String, Family> = BTreeMap::new();
    let fresh = run.samples();
    let keeps_success = run.exit_code != 0;
    for raw in existing.lines() {
        let raw = raw.trim();
        if let Some(rest) = raw.strip_prefix("# HELP ") {
            if let Some((name, help)) = rest.split_once(' ') {
                if name.starts_with(PREFIX) {
                    families.entry(name.to_string()).or_default().help = Some(help.to_string());
                }
            }
            continue;
        }
        let Some(line) = parse_line(raw) else {
            continue;
        };
        if !line.name.starts_with(PREFIX) {
            continue;
        }
        let ours = line.label("command") == Some(run.command.as_str())
            && line.label("target") == Some(run.target.as_str());
        let kept_success =
            keeps_success && line.name == format!("{PREFIX}last_success_timestamp_seconds");
        if !ours || kept_success {
            families
                .entry(line.name.clone())
                .or_default()
                .lines
                .push(line);
        }
    }
    for sample in fresh {
        let name = format!("{PREFIX}{}", sample.name);
        let mut labels = vec![
            ("command".to_string(), run.command.clone()),
            ("target".to_string(), run.target.clone()),
        ];
        labels.extend(
            sample
                .labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone())),
        );
        let family = families.entry(name.clone()).or_default();
        family.help = Some(sample.help.to_string());
        family.lines.push(Line {
            name,
            labels,
            value: sample.value.text(),
        });
    }
    let mut out = String::new();
    for (name, family) in families {
        if family.lines.is_empty() {
            continue;
        }
        if let Some(help) = &family.help {
            out.push_str(&format!("# HELP {name} {help}\n"));
        }
        // Every series rez-db writes is the value of its last run: a gauge.
        out.push_str(&format!("# TYPE {name} gauge\n"));
        let mut lines = family.lines;
        lines.sort_by(|a, b| a.labels.cmp(&b.labels));
        for line in lines {
            line.write(&mut out);
        }
    }
    out
}

/// `name{k="v",...} value [timestamp]`, as this module writes it; None for
/// anything else (comments, blank lines, lines of other programs).
fn parse_line(raw: &str) -> Option<Line> {
    if raw.is_empty() || raw.starts_with('#') {
        return None;
    }
    let name_end = raw.find(['{', ' '])?;
    let name = &raw[..name_end];
    let mut rest = &raw[name_end..];
    let mut labels = Vec::new();
    if let Some(mut inner) = rest.strip_prefix('{') {
        loop {
            inner = inner.trim_start_matches(',');
            if let Some(after) = inner.strip_prefix('}') {
                rest = after;
                break;
            }
            let (key, after) = inner.split_once("=\"")?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next()? {
                    (_, '\\') => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        c => value.push(c),
                    },
                    (i, '"') => break i,
                    (_, c) => value.push(c),
                }
            };
            labels.push((key.trim().to_string(), value));
            inner = &after[end + 1..];
        }
    }
    let value = rest.split_whitespace().next()?;
    Some(Line {
        name: name.to_string(),
        labels,
        value: value.to_string(),
    })
}

/// A label value as the text format wants it.
fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Holds an exclusive lock on `PATH.lock` while the file is read and replaced.
fn lock(path: &Path) -> io::Result<File> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(sibling(path, ".lock"))?;
    #[cfg(unix)]
    rustix::fs::flock(&file, rustix::fs::FlockOperation::LockExclusive)?;
    Ok(file)
}

/// `path` with `suffix` appended to its file name.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(suffix);
    path.with_file_name(name)
}

/// The collector never reads a half-written file: write a temporary file in
/// the same directory (not `*.prom`, which the collector would read), fsync
/// it, rename it over `path`.
fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = sibling(path, &format!(".{}.tmp", std::process::id()));
    let result = (|| {
        let mut file = File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: &str, exit_code: u8, samples: Vec<Sample>) -> Run {
        Run {
            command: command.to_string(),
            target: "127.0.0.1:5432/rez".to_string(),
            started: 1_800_000_000.0,
            duration_secs: 1.5,
            exit_code,
            samples,
        }
    }

    #[test]
    fn a_run_replaces_its_own_series_and_keeps_the_others() {
        let first = merge(
            "",
            &run(
                "expire-coins",
                0,
                vec![Sample::count("coins_expired", "Coins.", 40)],
            ),
        );
        let second = merge(&first, &run("partition-rotate", 0, vec![]));
        let third = merge(
            &second,
            &run(
                "expire-coins",
                4,
                vec![Sample::count("coins_expired", "Coins.", 0)],
            ),
        );
        let lines: Vec<Line> = third.lines().filter_map(parse_line).collect();
        let of = |command: &str, name: &str| -> Vec<String> {
            lines
                .iter()
                .filter(|l| l.label("command") == Some(command) && l.name == name)
                .map(|l| l.value.clone())
                .collect()
        };
        assert_eq!(of("expire-coins", "rez_db_last_exit_code"), ["4"]);
        assert_eq!(of("expire-coins", "rez_db_coins_expired"), ["0"]);
        // The failed run keeps the last success of the run before it.
        assert_eq!(
            of("expire-coins", "rez_db_last_success_timestamp_seconds"),
            ["1800000000.000"]
        );
        assert_eq!(of("partition-rotate", "rez_db_last_exit_code"), ["0"]);
        // One HELP and TYPE per family, its lines together.
        assert_eq!(
            third.matches("# TYPE rez_db_last_exit_code gauge").count(),
            1
        );
    }

    #[test]
    fn label_values_are_escaped_and_read_back() {
        let sample = Sample::count("violations", "V.", 2).with("check", "a\"b\\c\nd");
        let text = merge("", &run("validate", 1, vec![sample]));
        let line = text
            .lines()
            .filter_map(parse_line)
            .find(|l| l.name == "rez_db_violations")
            .unwrap();
        assert_eq!(line.label("check"), Some("a\"b\\c\nd"));
        // The next run of the same command and target replaces the series.
        let next = merge(&text, &run("validate", 0, vec![]));
        assert!(!next.contains("rez_db_violations"), "{next}");
        assert!(
            next.contains("rez_db_last_success_timestamp_seconds{"),
            "{next}"
        );
    }
}
