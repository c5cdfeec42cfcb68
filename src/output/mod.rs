//! Rendering: every command returns a report; this module prints it as a
//! human table or as exactly one JSON document on stdout. Errors go to stderr
//! (and, under `--json`, also as the one JSON document on stdout). Commands
//! never print; they only build reports.

pub mod metrics;
pub mod progress;

use std::io::{self, IsTerminal, Write};

use comfy_table::{presets, ContentArrangement, Table};
use serde::Serialize;

use crate::error::{CommandError, ErrorKind};
use crate::secret::redact;

/// A command's result, printable both ways.
pub trait Render: Serialize {
    /// The human form, written to stdout.
    fn human(&self, out: &mut dyn Write) -> io::Result<()>;

    /// True when the command ran but found problems: the exit code is then 1.
    fn has_problems(&self) -> bool {
        false
    }

    /// The command could not do its job, yet has a report to show (how far
    /// it got before the server refused to go on, a store that did not
    /// answer): the kind of failure, whose exit code wins over the 1 of
    /// [`Render::has_problems`].
    fn failure(&self) -> Option<ErrorKind> {
        None
    }

    /// What the run did, for the metrics file (`--metrics-file`): the
    /// command's own series; the face adds the ones every run has.
    fn metrics(&self) -> Vec<metrics::Sample> {
        Vec::new()
    }
}

/// The exit code of a command that returned `report`.
pub fn exit_code<R: Render>(report: &R) -> u8 {
    match report.failure() {
        Some(kind) => kind.exit_code(),
        None if report.has_problems() => ErrorKind::Problems.exit_code(),
        None => 0,
    }
}

/// Prints `report` on stdout. A closed pipe (`rez-db ... | head`) is not an
/// error; any other write error (a full disk, `> /dev/full`) is returned, and
/// the face turns it into exit 5: the output is lost, the command failed.
pub fn emit<R: Render>(report: &R, json: bool) -> io::Result<()> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    let result = if json {
        serde_json::to_writer_pretty(&mut out, report)
            .map_err(io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        report.human(&mut out)
    };
    ignore_broken_pipe(result.and_then(|()| out.flush()))
}

/// Prints a failed command: on stderr always, and as the JSON document under `--json`.
/// Message and hints are redacted here, once, whatever built them.
pub fn emit_error(err: &CommandError, json: bool) {
    eprintln!("error: {}", redact(&err.to_string()));
    if json {
        emit_error_document(err);
    }
}

/// The JSON document of a failed command, on stdout, without the stderr line
/// (for an error whose message is already on stderr, such as clap's).
pub fn emit_error_document(err: &CommandError) {
    let hints: Vec<String> = err.hints.iter().map(|h| redact(h)).collect();
    let doc = serde_json::json!({
        "error": {
            "kind": format!("{:?}", err.kind).to_lowercase(),
            "exit_code": err.kind.exit_code(),
            "message": redact(&err.message),
            "hints": hints,
        }
    });
    let _ = ignore_broken_pipe(writeln!(io::stdout(), "{doc:#}"));
}

fn ignore_broken_pipe(result: io::Result<()>) -> io::Result<()> {
    match result {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A table in the house style; wraps to the terminal only when stdout is one.
pub fn table<I, S>(header: I) -> Table
where
    I: IntoIterator<Item = S>,
    S: Into<comfy_table::Cell>,
{
    let mut table = Table::new();
    table
        .load_preset(presets::UTF8_FULL_CONDENSED)
        .set_header(header);
    if io::stdout().is_terminal() {
        table.set_content_arrangement(ContentArrangement::Dynamic);
    }
    table
}
