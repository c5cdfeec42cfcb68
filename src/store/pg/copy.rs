//! Bulk loading with `COPY ... FROM STDIN` in PostgreSQL's text format.
//!
//! [`CopyTable`] encodes rows into the text format (one line per row, fields
//! separated by a tab, `\N` for NULL, and `\\`, tab, newline and carriage
//! return escaped inside values); [`copy_in`] streams the encoded bytes into
//! the table. The encoder must never let a value's bytes end a field or a row
//! early: every text value goes through [`escape_into`]. Values that cannot
//! contain those bytes (numbers, UUIDs, timestamps) are written as they are.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

use crate::domain::money::Money;

/// Appends `value` to `out`, escaped for COPY's text format.
pub fn escape_into(out: &mut Vec<u8>, value: &str) {
    let bytes = value.as_bytes();
    if !bytes
        .iter()
        .any(|b| matches!(b, b'\\' | b'\t' | b'\n' | b'\r'))
    {
        out.extend_from_slice(bytes);
        return;
    }
    for &b in bytes {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\t' => out.extend_from_slice(b"\\t"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            _ => out.push(b),
        }
    }
}

/// A value that can be one field of a COPY row.
pub trait CopyField {
    fn encode(&self, out: &mut Vec<u8>);
}

/// The NULL marker of the text format.
const NULL: &[u8] = b"\\N";

impl CopyField for str {
    fn encode(&self, out: &mut Vec<u8>) {
        escape_into(out, self);
    }
}

impl CopyField for String {
    fn encode(&self, out: &mut Vec<u8>) {
        escape_into(out, self);
    }
}

impl<T: CopyField + ?Sized> CopyField for &T {
    fn encode(&self, out: &mut Vec<u8>) {
        (**self).encode(out);
    }
}

impl<T: CopyField> CopyField for Option<T> {
    fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Some(v) => v.encode(out),
            None => out.extend_from_slice(NULL),
        }
    }
}

impl CopyField for bool {
    fn encode(&self, out: &mut Vec<u8>) {
        out.push(if *self { b't' } else { b'f' });
    }
}

/// Types whose `Display` never contains a byte that needs escaping.
macro_rules! plain {
    ($($ty:ty),*) => {$(
        impl CopyField for $ty {
            fn encode(&self, out: &mut Vec<u8>) {
                let mut text = String::new();
                write!(text, "{self}").expect("writing to a String cannot fail");
                out.extend_from_slice(text.as_bytes());
            }
        }
    )*};
}
plain!(i16, i32, i64, u32, u64, usize, Decimal, Money);

impl CopyField for Uuid {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut buf = Uuid::encode_buffer();
        out.extend_from_slice(self.hyphenated().encode_lower(&mut buf).as_bytes());
    }
}

impl CopyField for DateTime<Utc> {
    /// With an explicit UTC offset, so the session's TimeZone cannot shift it.
    fn encode(&self, out: &mut Vec<u8>) {
        let mut text = String::with_capacity(32);
        write!(text, "{}+00", self.format("%Y-%m-%d %H:%M:%S%.6f")).expect("String write");
        out.extend_from_slice(text.as_bytes());
    }
}

impl CopyField for NaiveDate {
    fn encode(&self, out: &mut Vec<u8>) {
        let mut text = String::with_capacity(10);
        write!(text, "{}", self.format("%Y-%m-%d")).expect("String write");
        out.extend_from_slice(text.as_bytes());
    }
}

impl CopyField for serde_json::Value {
    fn encode(&self, out: &mut Vec<u8>) {
        escape_into(out, &self.to_string());
    }
}

/// Rows of one table, encoded for COPY, waiting to be sent.
#[derive(Debug, Clone)]
pub struct CopyTable {
    pub table: &'static str,
    pub columns: &'static [&'static str],
    buf: Vec<u8>,
    rows: u64,
}

impl CopyTable {
    pub fn new(table: &'static str, columns: &'static [&'static str]) -> CopyTable {
        CopyTable {
            table,
            columns,
            buf: Vec::new(),
            rows: 0,
        }
    }

    /// Starts a row; [`Row::end`] must be called after exactly one field per column.
    pub fn row(&mut self) -> Row<'_> {
        Row {
            table: self,
            fields: 0,
        }
    }

    pub fn rows(&self) -> u64 {
        self.rows
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// The encoded rows so far.
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// Forgets the rows (after they were sent), keeping the allocation.
    pub fn clear(&mut self) {
        self.buf.clear();
        self.rows = 0;
    }

    /// `COPY table (columns) FROM STDIN`: text format, `\N` for NULL.
    pub fn statement(&self) -> String {
        format!(
            "COPY {} ({}) FROM STDIN",
            self.table,
            self.columns.join(", ")
        )
    }
}

/// One row being written into a [`CopyTable`].
pub struct Row<'a> {
    table: &'a mut CopyTable,
    fields: usize,
}

impl Row<'_> {
    pub fn f(&mut self, value: impl CopyField) -> &mut Self {
        if self.fields > 0 {
            self.table.buf.push(b'\t');
        }
        value.encode(&mut self.table.buf);
        self.fields += 1;
        self
    }

    /// Ends the row. A wrong field count is a bug in the generator: it would
    /// make COPY fail (or, worse, shift values into the wrong columns).
    pub fn end(&mut self) {
        assert_eq!(
            self.fields,
            self.table.columns.len(),
            "a {} row needs {} fields",
            self.table.table,
            self.table.columns.len()
        );
        self.table.buf.push(b'\n');
        self.table.rows += 1;
    }
}

/// Sends `table`'s rows with one COPY statement; returns the rows loaded.
pub async fn copy_in(conn: &mut PgConnection, table: &CopyTable) -> Result<u64, sqlx::Error> {
    let mut copy = conn.copy_in_raw(&table.statement()).await?;
    // A few MiB per message keeps the server busy without a large write buffer.
    for chunk in table.bytes().chunks(4 << 20) {
        copy.send(chunk).await?;
    }
    copy.finish().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn encoded(value: impl CopyField) -> String {
        let mut out = Vec::new();
        value.encode(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn escapes_the_bytes_that_end_fields_and_rows() {
        assert_eq!(encoded("plain text"), "plain text");
        assert_eq!(encoded("a\tb"), "a\\tb");
        assert_eq!(encoded("line1\nline2\r\n"), "line1\\nline2\\r\\n");
        assert_eq!(encoded("C:\\temp"), "C:\\\\temp");
        // The literal text \N is not NULL.
        assert_eq!(encoded("\\N"), "\\\\N");
        assert_eq!(encoded("ünïcødé ₹"), "ünïcødé ₹");
        assert_eq!(encoded(""), "");
    }

    #[test]
    fn null_booleans_numbers_and_times() {
        assert_eq!(encoded(None::<&str>), "\\N");
        assert_eq!(encoded(Some("x")), "x");
        assert_eq!(encoded(true), "t");
        assert_eq!(encoded(false), "f");
        assert_eq!(encoded(-42i64), "-42");
        assert_eq!(encoded(Money::from_paise(123_405)), "1234.05");
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 4, 3, 2).unwrap();
        assert_eq!(encoded(t), "2026-01-05 04:03:02.000000+00");
        assert_eq!(encoded(Uuid::nil()), "00000000-0000-0000-0000-000000000000");
        let json = serde_json::json!({"note": "tab\there", "path": "a\\b"});
        // JSON escapes the tab as \t and the backslash as \\; COPY escapes both backslashes again.
        assert_eq!(encoded(json), r#"{"note":"tab\\there","path":"a\\\\b"}"#);
    }

    #[test]
    fn rows_are_tab_separated_lines_with_one_field_per_column() {
        let mut t = CopyTable::new("t", &["a", "b", "c"]);
        t.row().f(1i32).f("x\ty").f(None::<i32>).end();
        t.row().f(2i32).f("").f(Some(3i32)).end();
        assert_eq!(t.rows(), 2);
        assert_eq!(
            String::from_utf8(t.bytes().to_vec()).unwrap(),
            "1\tx\\ty\t\\N\n2\t\t3\n"
        );
        assert_eq!(t.statement(), "COPY t (a, b, c) FROM STDIN");
        t.clear();
        assert!(t.is_empty() && t.bytes().is_empty());
    }

    #[test]
    #[should_panic(expected = "a t row needs 2 fields")]
    fn a_short_row_is_a_bug() {
        let mut t = CopyTable::new("t", &["a", "b"]);
        t.row().f(1i32).end();
    }
}
