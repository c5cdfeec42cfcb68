//! Splits a no-transaction migration into single statements.
//!
//! PostgreSQL runs a multi-statement simple query as one implicit transaction,
//! and `CREATE INDEX CONCURRENTLY` refuses to run inside one, so such files are
//! sent a statement at a time. The splitter understands exactly what can hide
//! a `;`: single- and double-quoted strings, dollar quotes (`$$`, `$tag$`),
//! `--` line comments and nested `/* */` block comments.

/// One statement of a file, with where it starts (for error messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    pub sql: &'a str,
    /// Byte offset of the statement's first character in the file.
    pub offset: usize,
}

/// The non-empty statements of `sql`, without their terminating `;`.
pub fn statements(sql: &str) -> Vec<Statement<'_>> {
    let bytes = sql.as_bytes();
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = skip_quoted(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(bytes.len(), |n| i + n + 1);
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => i = skip_block_comment(bytes, i),
            b'$' => i = skip_dollar_quoted(sql, i),
            b';' => {
                push(sql, start, i, &mut out);
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    push(sql, start, bytes.len(), &mut out);
    out
}

/// Keeps `sql[start..end]` if it holds anything besides blanks and comments.
fn push<'a>(sql: &'a str, start: usize, end: usize, out: &mut Vec<Statement<'a>>) {
    let text = &sql[start..end];
    let lead = text.len() - text.trim_start().len();
    let body = text.trim();
    if !only_comments(body) {
        out.push(Statement {
            sql: body,
            offset: start + lead,
        });
    }
}

fn only_comments(text: &str) -> bool {
    text.lines().all(|line| {
        let line = line.trim();
        line.is_empty() || line.starts_with("--")
    })
}

fn skip_quoted(bytes: &[u8], open: usize) -> usize {
    let quote = bytes[open];
    let mut i = open + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            // A doubled quote is an escaped quote, not the end.
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// The offset just past the (nested) `/* */` comment opening at `open`.
pub fn skip_block_comment(bytes: &[u8], open: usize) -> usize {
    let mut depth = 0;
    let mut i = open;
    while i + 1 < bytes.len() {
        match (bytes[i], bytes[i + 1]) {
            (b'/', b'*') => {
                depth += 1;
                i += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                i += 2;
                if depth == 0 {
                    return i;
                }
            }
            _ => i += 1,
        }
    }
    bytes.len()
}

/// Skips `$tag$ ... $tag$` when `$` opens a dollar quote; a `$1` parameter is not one.
fn skip_dollar_quoted(sql: &str, open: usize) -> usize {
    let rest = &sql[open + 1..];
    let tag_len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    let tag = &rest[..tag_len];
    let opens_quote =
        rest[tag_len..].starts_with('$') && !tag.starts_with(|c: char| c.is_ascii_digit());
    if !opens_quote {
        return open + 1;
    }
    let delimiter = format!("${tag}$");
    let body = open + delimiter.len();
    sql[body..]
        .find(&delimiter)
        .map_or(sql.len(), |n| body + n + delimiter.len())
}

/// The 1-based line of byte `offset` in `text`.
pub fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sqls(text: &str) -> Vec<&str> {
        statements(text).into_iter().map(|s| s.sql).collect()
    }

    #[test]
    fn splits_on_semicolons_outside_quotes_and_comments() {
        let text = "-- rez-db:no-transaction\n\
            CREATE INDEX CONCURRENTLY a ON t (x); -- why; because\n\
            /* a ; /* nested ; */ still */ SELECT 'it''s; fine', \"we;ird\";\n\
            DO $body$ BEGIN PERFORM 1; END $body$;\n\
            SELECT $$;$$, $1;\n\
            -- trailing comment only\n";
        assert_eq!(
            sqls(text),
            [
                "-- rez-db:no-transaction\nCREATE INDEX CONCURRENTLY a ON t (x)",
                "-- why; because\n/* a ; /* nested ; */ still */ SELECT 'it''s; fine', \"we;ird\"",
                "DO $body$ BEGIN PERFORM 1; END $body$",
                "SELECT $$;$$, $1",
            ]
        );
    }

    #[test]
    fn offsets_point_at_the_statement_line() {
        let text = "SELECT 1;\n\n  SELECT 2;";
        let found = statements(text);
        assert_eq!(line_at(text, found[1].offset), 3);
        assert_eq!(&text[found[1].offset..found[1].offset + 8], "SELECT 2");
    }

    #[test]
    fn empty_and_comment_only_text_has_no_statements() {
        assert!(statements("").is_empty());
        assert!(statements("-- nothing\n;\n  ;").is_empty());
    }
}
