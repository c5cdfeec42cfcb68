//! Progress on stderr, only for a person watching: hidden when stderr is not
//! a terminal (CI, cron, pipes) and always under `--json`.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressStyle};

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
