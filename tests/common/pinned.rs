//! Snapshots of what users see, with what varies from run to run (names of
//! throwaway databases, durations, server versions, timestamps, temporary
//! paths) replaced by placeholders. A placeholder inside a table changes the
//! width of its column, so tables are laid out again around their
//! placeholders exactly as rez-db lays them out (comfy-table's
//! UTF8_FULL_CONDENSED, stdout not a terminal: no wrapping): a snapshot is
//! what a user would see had those been the values. Each table is first
//! laid out again unchanged and must come out byte for byte as rez-db wrote
//! it, so a change of rez-db's layout fails here, loudly, not in a snapshot.

use regex::Regex;

/// `text` with `filters` (pattern, replacement) applied to every line and to
/// every table cell, and every cell under a header named in `columns`
/// (header, placeholder) replaced. Tables are laid out again.
pub fn pinned(text: &str, filters: &[(&str, &str)], columns: &[(&str, &str)]) -> String {
    let filters: Vec<(Regex, &str)> = filters
        .iter()
        .map(|(pattern, with)| (Regex::new(pattern).unwrap(), *with))
        .collect();
    let filter = |s: &str| {
        filters.iter().fold(s.to_string(), |s, (re, with)| {
            re.replace_all(&s, *with).into_owned()
        })
    };
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !line.starts_with('┌') {
            out.push(filter(line));
            continue;
        }
        let mut table = vec![line];
        while let Some(next) = lines.next_if(|_| !table.last().unwrap().starts_with('└')) {
            table.push(next);
        }
        let parsed = Table::parse(&table);
        assert_eq!(
            parsed.render(),
            table,
            "rez-db's table layout changed: update Table in tests/common/pinned.rs"
        );
        out.extend(parsed.pinned(&filter, columns).render());
    }
    let mut result = out.join("\n");
    if text.ends_with('\n') {
        result.push('\n');
    }
    result
}

/// A table as comfy-table draws it with rez-db's preset
/// (`output::table`: UTF8_FULL_CONDENSED, left-aligned, no wrapping).
struct Table {
    /// Each line: None for a rule (top, below the header, bottom), or its cells.
    lines: Vec<Option<Vec<String>>>,
    rules: Vec<char>,
}

impl Table {
    fn parse(lines: &[&str]) -> Table {
        let mut rules = Vec::new();
        let lines = lines
            .iter()
            .map(|line| match line.strip_prefix('│') {
                Some(row) => Some(
                    row.strip_suffix('│')
                        .expect("a row ends with │")
                        .split('┆')
                        .map(|cell| {
                            cell.strip_prefix(' ')
                                .unwrap_or(cell)
                                .trim_end()
                                .to_string()
                        })
                        .collect(),
                ),
                None => {
                    rules.push(line.chars().next().unwrap());
                    None
                }
            })
            .collect();
        Table { lines, rules }
    }

    /// The table with `filter` applied to every cell and the cells of
    /// `columns` (below the header) replaced.
    fn pinned(&self, filter: &dyn Fn(&str) -> String, columns: &[(&str, &str)]) -> Table {
        let header = self
            .lines
            .iter()
            .flatten()
            .next()
            .cloned()
            .unwrap_or_default();
        let mut seen_header = false;
        let lines = self
            .lines
            .iter()
            .map(|line| {
                line.as_ref().map(|cells| {
                    let is_header = !seen_header;
                    seen_header = true;
                    cells
                        .iter()
                        .enumerate()
                        .map(|(i, cell)| {
                            match columns.iter().find(|(name, _)| header[i] == *name) {
                                Some((_, with)) if !is_header => with.to_string(),
                                _ => filter(cell),
                            }
                        })
                        .collect()
                })
            })
            .collect();
        Table {
            lines,
            rules: self.rules.clone(),
        }
    }

    fn render(&self) -> Vec<String> {
        let mut widths: Vec<usize> = Vec::new();
        for cells in self.lines.iter().flatten() {
            widths.resize(widths.len().max(cells.len()), 0);
            for (i, cell) in cells.iter().enumerate() {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let rule = |(left, fill, cross, right): (char, char, char, char)| {
            let parts: Vec<String> = widths
                .iter()
                .map(|w| fill.to_string().repeat(w + 2))
                .collect();
            format!("{left}{}{right}", parts.join(&cross.to_string()))
        };
        let mut rules = self.rules.iter();
        self.lines
            .iter()
            .map(|line| match line {
                Some(cells) => {
                    let parts: Vec<String> = cells
                        .iter()
                        .zip(&widths)
                        .map(|(cell, w)| format!(" {cell:<w$} "))
                        .collect();
                    format!("│{}│", parts.join("┆"))
                }
                None => rule(match rules.next() {
                    Some('┌') => ('┌', '─', '┬', '┐'),
                    Some('╞') => ('╞', '═', '╪', '╡'),
                    Some('└') => ('└', '─', '┴', '┘'),
                    other => panic!("a table rule starting with {other:?}"),
                }),
            })
            .collect()
    }
}
