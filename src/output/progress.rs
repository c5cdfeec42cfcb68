//! Progress on stderr, only for a person watching: hidden when stderr is not
//! a terminal (CI, cron, pipes) and always under `--json`. [`Bars`] draws
//! what an operation reports through `crate::progress::Progress`.

use std::io::IsTerminal;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use crate::progress::{Progress, Unit};

/// Whether progress bars should be drawn at all.
pub fn enabled(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

/// A bar over `len` steps (migrations, rows...), or a hidden one.
pub fn steps(len: u64, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
            .expect("static template is valid"),
    );
    bar
}

/// A bar over `len` items of `unit` (users, rows) showing throughput and the
/// time left, for long loads; or a hidden one.
pub fn throughput(len: u64, unit: &str, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!(
        "{{spinner}} [{{elapsed_precise}}] {{bar:30}} {{human_pos}}/{{human_len}} {unit} \
         ({{per_sec}}, ETA {{eta}}) {{msg}}"
    );
    bar.set_style(ProgressStyle::with_template(&template).expect("the template is valid"));
    bar
}

/// Draws an operation's phases, one bar at a time, when `show`.
pub struct Bars {
    show: bool,
    bar: Mutex<Option<ProgressBar>>,
}

impl Bars {
    pub fn new(show: bool) -> Bars {
        Bars {
            show,
            bar: Mutex::new(None),
        }
    }

    fn with(&self, f: impl FnOnce(&ProgressBar)) {
        let bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = bar.as_ref() {
            f(bar);
        }
    }
}

impl Progress for Bars {
    fn begin(&self, len: u64, unit: Unit) {
        let bar = match unit {
            Unit::Steps => steps(len, self.show),
            Unit::Bytes => throughput(len, "bytes", self.show),
            Unit::Items(what) => throughput(len, what, self.show),
        };
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = slot.replace(bar) {
            old.finish_and_clear();
        }
    }

    fn advance(&self, by: u64) {
        self.with(|b| b.inc(by));
    }

    fn note(&self, what: &str) {
        let what = what.to_string();
        self.with(|b| b.set_message(what));
    }

    fn end(&self) {
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(bar) = slot.take() {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Bars {
    fn drop(&mut self) {
        self.end();
    }
}
