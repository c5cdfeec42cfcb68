//! Reading a YAML file a user hands rez-db (`rez-db.yaml`, an import
//! manifest, seed files, `--definitions` files, whose JSON and TOML are
//! bounded the same way) with bounds, before serde_norway sees it: at most [`MAX_BYTES`],
//! and nesting at most [`MAX_DEPTH`] levels deep.
//!
//! Why: serde_norway reads a whole file and builds all of its events before
//! its own recursion limit (128) applies, so a 29 MB file cost 395 MB of
//! memory and 100,000 levels of `[` took 16 s (46 s in a debug build) before
//! the refusal. No configuration of ours comes near either bound: the deepest
//! setting (`profiles.NAME.partitions.TABLE.KEY`) is 5 levels.
//!
//! The depth is measured by a linear pre-scan ([`too_deep`]) rather than a
//! parser: block indentation levels and `- ` items, plus open flow brackets
//! outside quoted scalars, comments and block scalars. On real files it is
//! exact or counts a level too many (a `[` inside a plain scalar). It is no
//! YAML parser, so a file crafted to fool its idea of quotes could hide flow
//! levels from it; those are the costly ones (the parser's time grows with
//! the square of the flow depth), so the count of `[` and `{` in a file is
//! also capped ([`MAX_BRACKETS`]), which bounds the flow depth whatever the
//! quotes. Block nesting costs the parser linear time, and serde_norway
//! refuses more than 128 levels of it.

use std::io::Read;
use std::path::Path;

use crate::error::CommandError;

/// The largest file read: no real configuration or manifest reaches it.
pub const MAX_BYTES: u64 = 1 << 20;

/// The deepest nesting accepted.
pub const MAX_DEPTH: usize = 32;

/// The most flow brackets (`[`, `{`) a file may hold, quoted or not: a real
/// configuration has a few dozen. At this depth the parser takes a few
/// milliseconds.
pub const MAX_BRACKETS: usize = 1024;

/// The largest seed file (`--seeds-dir`): reference data such as the list of
/// colleges may run to tens of thousands of rows, but never to gigabytes.
pub const MAX_SEED_BYTES: u64 = 64 << 20;

/// The text of `path` (`what`: "config file", "manifest") if it is at most
/// [`MAX_BYTES`] long, UTF-8, and nested at most [`MAX_DEPTH`] levels.
/// A file over the size is refused from its metadata without being read; a
/// fifo or a file that grows is cut off after one byte too many.
pub fn read_bounded(path: &Path, what: &str) -> Result<String, CommandError> {
    read_within(path, what, MAX_BYTES)
}

/// [`read_bounded`] with another size bound (`max_bytes`).
pub fn read_within(path: &Path, what: &str, max_bytes: u64) -> Result<String, CommandError> {
    let shown = path.display();
    let cannot = |e: std::io::Error| {
        CommandError::usage(format!("cannot read {what} {shown}: {e}"))
            .with_hint("check the path (and --config PATH) and its permissions")
    };
    let too_big = |size: String| {
        CommandError::usage(format!(
            "{shown}: the {what} is over {} MiB ({size}); no real {what} is that large",
            max_bytes >> 20
        ))
        .with_hint(format!("check that {shown} is the {what} you meant"))
    };
    let file = std::fs::File::open(path).map_err(cannot)?;
    let len = file.metadata().map_err(cannot)?.len();
    if len > max_bytes {
        return Err(too_big(format!("{len} bytes")));
    }
    let mut bytes = Vec::new();
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(cannot)?;
    if bytes.len() as u64 > max_bytes {
        return Err(too_big("and still growing".into()));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        CommandError::usage(format!(
            "{shown}: invalid UTF-8 at byte {}; a {what} is UTF-8 text",
            e.utf8_error().valid_up_to() + 1
        ))
    })?;
    if let Some(line) = too_deep(&text, MAX_DEPTH) {
        return Err(CommandError::usage(format!(
            "{shown}:{line}: nested deeper than {MAX_DEPTH} levels"
        ))
        .with_hint(format!(
            "no {what} setting is nested more than a few levels; this file is not one"
        )));
    }
    let brackets = text.chars().filter(|c| matches!(c, '[' | '{')).count();
    if brackets > MAX_BRACKETS {
        return Err(CommandError::usage(format!(
            "{shown}: {brackets} flow brackets (`[`, `{{`); a {what} needs a few dozen, at most {MAX_BRACKETS}"
        ))
        .with_hint(format!(
            "nesting is limited to {MAX_DEPTH} levels; this file is no {what}"
        )));
    }
    Ok(text)
}

/// The first line (1-based) at which `text` nests deeper than `limit`.
pub fn too_deep(text: &str, limit: usize) -> Option<usize> {
    let mut scan = Scan::default();
    let mut number = 0;
    for newline_piece in text.split('\n') {
        number += 1;
        // YAML also breaks lines at a lone CR and at NEL, LS and PS.
        for line in newline_piece.split(['\r', '\u{85}', '\u{2028}', '\u{2029}']) {
            if scan.line(line, limit) {
                return Some(number);
            }
        }
    }
    None
}

/// The state of [`too_deep`] between lines.
#[derive(Default)]
struct Scan {
    /// Indents of the open block levels (an item marker is a level too).
    indents: Vec<usize>,
    /// Open flow collections.
    flow: usize,
    /// Inside a quoted scalar, which may go on over lines.
    quote: Option<char>,
    /// The indent of the line that opened a block scalar (`key: |`), whose
    /// more-indented lines are text.
    scalar: Option<usize>,
}

impl Scan {
    /// Reads one line; true when it nests deeper than `limit`.
    fn line(&mut self, line: &str, limit: usize) -> bool {
        let indent = line.len() - line.trim_start_matches(' ').len();
        let mut rest = &line[indent..];
        if let Some(at) = self.scalar {
            if rest.trim().is_empty() || indent > at {
                return false;
            }
            self.scalar = None;
        }
        if self.quote.is_none() {
            if rest.trim().is_empty() || rest.starts_with('#') {
                return false;
            }
            // In a flow collection indentation means nothing: levels are only
            // added (an overcount at worst), never closed.
            if self.flow == 0 {
                while self.indents.last().is_some_and(|&i| i >= indent) {
                    self.indents.pop();
                }
            }
            if self.indents.last().is_none_or(|&i| indent > i) || self.flow == 0 {
                self.indents.push(indent);
            }
            // `- - x` (or `-\t`): each item marker opens a level on the same line.
            let mut col = indent;
            while let Some(after) = item_marker(rest) {
                let blank = after.len() - after.trim_start_matches([' ', '\t']).len();
                col += rest.len() - after.len() + blank;
                rest = &after[blank..];
                self.indents.push(col);
                if self.indents.len() > limit {
                    return true;
                }
            }
            if self.indents.len() + self.flow > limit {
                return true;
            }
        }
        self.characters(rest, indent, limit)
    }

    /// Quotes, comments, flow brackets and block scalar headers of a line's content.
    fn characters(&mut self, rest: &str, indent: usize, limit: usize) -> bool {
        let mut prev: Option<char> = None;
        // The last character before the current run of blanks.
        let mut before_blank: Option<char> = None;
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            match self.quote {
                Some('\'') => {
                    if c == '\'' && chars.next_if_eq(&'\'').is_none() {
                        self.quote = None;
                    }
                }
                Some(_) => match c {
                    '\\' => {
                        chars.next();
                    }
                    '"' => self.quote = None,
                    _ => {}
                },
                None => {
                    // Where a node may start, so that a quote opens a quoted scalar
                    // (in `it's` or `a, 'b` outside a flow collection it does not).
                    let starts = |p: char| matches!(p, '[' | '{') || (p == ',' && self.flow > 0);
                    let at_node = match prev {
                        None => true,
                        Some(p) if p == ' ' || p == '\t' => {
                            before_blank.is_none_or(|b| b == ':' || starts(b))
                        }
                        Some(p) => starts(p),
                    };
                    match c {
                        '#' if prev.is_none_or(|p| p == ' ' || p == '\t') => break,
                        '\'' | '"' if at_node => self.quote = Some(c),
                        '[' | '{' => {
                            self.flow += 1;
                            if self.indents.len() + self.flow > limit {
                                return true;
                            }
                        }
                        ']' | '}' => self.flow = self.flow.saturating_sub(1),
                        '|' | '>' if at_node && self.flow == 0 => {
                            // `|`, `>-`, `|2+`: only indicators (and a comment) follow.
                            let tail: String = chars.clone().collect();
                            let tail = tail.split(" #").next().unwrap_or_default();
                            if tail
                                .chars()
                                .all(|t| matches!(t, '-' | '+' | '1'..='9' | ' '))
                            {
                                self.scalar = Some(indent);
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            if c != ' ' && c != '\t' {
                before_blank = Some(c);
            }
            prev = Some(c);
        }
        false
    }
}

/// The text after a block item marker (`- ` or `? `, a tab or the line's end
/// after it) at the start of `rest`.
fn item_marker(rest: &str) -> Option<&str> {
    let after = rest.strip_prefix(['-', '?'])?;
    (after.is_empty() || after.starts_with([' ', '\t'])).then_some(after)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_configurations_are_shallow() {
        let text = "\
# comment [[[[
database_url: postgres://rez@db/rez
partitions:
  orders: { premake: 3, retain: 24, archive_dir: /var/backups, drop: true }
profiles:
  ci:
    partitions:
      orders: {premake: 1}
stores: [pg, es]
files:
  - {table: users, path: 'a [weird] name.csv', map: {\"mo[bile\": phone}}
  - table: orders
    path: o.csv
";
        assert_eq!(too_deep(text, 5), None);
        assert_eq!(too_deep(text, 4), Some(8));
    }

    #[test]
    fn flow_block_and_item_nesting_all_count() {
        assert_eq!(too_deep("a: [[[1]]]\n", 3), Some(1));
        assert_eq!(too_deep("a: [[[1]]]\n", 4), None);
        assert_eq!(too_deep("a:\n b:\n  c:\n   d: 1\n", 3), Some(4));
        assert_eq!(too_deep("a:\n- - - x\n", 3), Some(2));
        assert_eq!(too_deep("a:\n- - - x\n", 4), None);
        // A flow collection over several lines keeps its depth; indented
        // lines in it may count a level too many, never one too few.
        assert_eq!(too_deep("a: [\n[\n[\n[1]]]]\n", 4), Some(4));
        assert_eq!(too_deep("a: [\n [\n  [\n   [1]]]]\n", 4), Some(3));
        // A lone CR breaks a line too.
        assert_eq!(too_deep("a:\r b:\r  c:\r   d: 1\n", 3), Some(1));
    }

    #[test]
    fn brackets_in_quotes_comments_and_block_scalars_do_not_count() {
        assert_eq!(too_deep("a: '[[[[[[' # [[[[[\n", 2), None);
        assert_eq!(too_deep("a: \"[[\\\"[[[[\"\n", 2), None);
        assert_eq!(too_deep("a: |\n  [[[[[[\n      {{{{{\nb: 1\n", 2), None);
        // A quote inside a plain scalar opens nothing: brackets after it count.
        assert_eq!(too_deep("a: [x'[[[[[]]]]]\n", 4), Some(1));
        assert_eq!(too_deep("a: it's [[[[[[\n", 4), Some(1));
    }
}
