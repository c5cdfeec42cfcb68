//! A migration file as parse trees, with where each statement starts.
//!
//! The parser is PostgreSQL's own (`pg_query`, libpg_query: the server's
//! grammar compiled as a library), so a statement lint accepts is one the
//! server accepts, `DO $$ ... $$` blocks, PL/pgSQL functions and every DDL
//! form included (docs/lint.md says why not a pure-Rust grammar). A file that
//! does not parse as a whole is parsed statement by statement (cut by
//! `migration::split`), so one bad statement is a finding at its own line and
//! the others are still linted.

use pg_query::NodeEnum;

use crate::migration::split;

/// One parsed statement.
#[derive(Debug, Clone)]
pub struct Statement {
    pub node: NodeEnum,
    /// 1-based line and column (in characters) of the statement's first token.
    pub line: usize,
    pub column: usize,
    /// The statement's text from its first token, without the `;`.
    pub text: String,
    /// What the parser's `location` fields count from: 0 when the whole file
    /// parsed, the statement's offset when it was parsed alone.
    pub base: usize,
}

/// A statement the parser refused, with the parser's message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub message: String,
    pub line: usize,
    pub column: usize,
    pub text: String,
}

#[derive(Debug, Default)]
pub struct Parsed {
    pub statements: Vec<Statement>,
    pub errors: Vec<ParseError>,
}

/// Every statement of `sql`, in order.
pub fn parse(sql: &str) -> Parsed {
    let lines = Lines::new(sql);
    match pg_query::parse(sql) {
        Ok(result) => {
            let mut parsed = Parsed::default();
            for raw in result.protobuf.stmts {
                let Some(node) = raw.stmt.and_then(|n| n.node) else {
                    continue;
                };
                let start = raw.stmt_location.max(0) as usize;
                let end = match raw.stmt_len {
                    0 => sql.len(),
                    len => (start + len as usize).min(sql.len()),
                };
                parsed
                    .statements
                    .push(statement(sql, &lines, start, end, 0, node));
            }
            parsed
        }
        Err(_) => one_by_one(sql, &lines),
    }
}

/// The fallback for a file with an error: each statement parsed alone.
fn one_by_one(sql: &str, lines: &Lines) -> Parsed {
    let mut parsed = Parsed::default();
    for piece in split::statements(sql) {
        let start = piece.offset;
        let end = start + piece.sql.len();
        match pg_query::parse(piece.sql) {
            Ok(result) => {
                for raw in result.protobuf.stmts {
                    if let Some(node) = raw.stmt.and_then(|n| n.node) {
                        parsed
                            .statements
                            .push(statement(sql, lines, start, end, start, node));
                    }
                }
            }
            Err(err) => {
                let message = match err {
                    pg_query::Error::Parse(m) => m,
                    other => other.to_string(),
                };
                let first = first_token(sql, start).min(end);
                let at = error_offset(sql, first, end, &message);
                let (line, column) = lines.at(at);
                parsed.errors.push(ParseError {
                    message,
                    line,
                    column,
                    text: sql[first..end].trim().to_string(),
                });
            }
        }
    }
    parsed
}

fn statement(
    sql: &str,
    lines: &Lines,
    start: usize,
    end: usize,
    base: usize,
    node: NodeEnum,
) -> Statement {
    let first = first_token(sql, start).min(end);
    let (line, column) = lines.at(first);
    Statement {
        node,
        line,
        column,
        text: sql[first..end]
            .trim()
            .trim_end_matches(';')
            .trim()
            .to_string(),
        base,
    }
}

/// Where the parser's error points. libpg_query's cursor position is not
/// exposed by the `pg_query` crate, so for `syntax error at or near "X"` it
/// is found again: the first occurrence of X such that the statement cut
/// right after it fails at X (and not at the end of the input); `at end of
/// input` is the end; anything else the statement's start.
fn error_offset(sql: &str, start: usize, end: usize, message: &str) -> usize {
    if message.contains("at end of input") {
        return end;
    }
    let near = message
        .split_once("at or near \"")
        .and_then(|(_, rest)| rest.rsplit_once('"'))
        .map(|(token, _)| token)
        .filter(|token| !token.is_empty());
    let Some(token) = near else { return start };
    let body = &sql[start..end];
    let lower = body.to_ascii_lowercase();
    let wanted = token.to_ascii_lowercase();
    let mut first = None;
    for (i, _) in lower.match_indices(&wanted).take(64) {
        first.get_or_insert(i);
        let cut = &body[..i + wanted.len()];
        if let Err(pg_query::Error::Parse(m)) = pg_query::parse(cut) {
            if !m.contains("at end of input") {
                return start + i;
            }
        }
    }
    start + first.unwrap_or(0)
}

/// The offset of the first character at or after `from` that is neither
/// blank nor inside a `--` or (nested) `/* */` comment.
fn first_token(sql: &str, from: usize) -> usize {
    let b = sql.as_bytes();
    let mut i = from;
    while i < b.len() {
        if b[i].is_ascii_whitespace() {
            i += 1;
        } else if b[i] == b'-' && b.get(i + 1) == Some(&b'-') {
            i = sql[i..].find('\n').map_or(b.len(), |n| i + n + 1);
        } else if b[i] == b'/' && b.get(i + 1) == Some(&b'*') {
            i = split::skip_block_comment(b, i);
        } else {
            return i;
        }
    }
    b.len()
}

/// Where each line of a text starts, to turn byte offsets into lines and
/// columns without rescanning the text for every statement.
#[derive(Debug)]
pub struct Lines<'a> {
    text: &'a str,
    starts: Vec<usize>,
}

impl<'a> Lines<'a> {
    pub fn new(text: &'a str) -> Lines<'a> {
        let starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Lines { text, starts }
    }

    /// 1-based line and column (in characters) of byte `offset`.
    pub fn at(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let line = self.starts.partition_point(|&start| start <= offset);
        let start = self.starts[line - 1];
        (line, self.text[start..offset].chars().count() + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_start_at_their_first_token() {
        let sql = "-- header\nCREATE TABLE t (a int);\n\n/* c */ -- x\n  CREATE INDEX i ON t (a);";
        let parsed = parse(sql);
        assert!(parsed.errors.is_empty());
        let at: Vec<(usize, usize)> = parsed
            .statements
            .iter()
            .map(|s| (s.line, s.column))
            .collect();
        assert_eq!(at, [(2, 1), (5, 3)]);
        assert_eq!(parsed.statements[1].text, "CREATE INDEX i ON t (a)");
    }

    #[test]
    fn a_bad_statement_is_an_error_at_its_token_and_the_rest_still_parses() {
        let sql = "CREATE TABLE t (a int);\nCREATE TABLE u (a int,, b int);\nDROP TABLE t;";
        let parsed = parse(sql);
        assert_eq!(parsed.statements.len(), 2);
        assert_eq!(parsed.errors.len(), 1);
        let err = &parsed.errors[0];
        assert!(err.message.contains("syntax error"), "{}", err.message);
        assert_eq!((err.line, err.column), (2, 23));
    }

    #[test]
    fn do_blocks_and_plpgsql_functions_parse() {
        let sql = "DO $$ BEGIN PERFORM 1; END $$;\n\
                   CREATE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $b$ BEGIN RETURN NEW; END $b$;\n\
                   ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT ALL ON TABLES TO x;\n\
                   COMMENT ON FUNCTION f() IS 'x';";
        let parsed = parse(sql);
        assert!(parsed.errors.is_empty(), "{:?}", parsed.errors);
        assert_eq!(parsed.statements.len(), 4);
    }
}
