//! Streams a CSV file record by record, each with its line number and its
//! original text (for the reject file), in constant memory: the bytes read
//! ahead by the parser are kept only until the record they belong to is done.
//!
//! A file in another encoding than UTF-8 (its [`Dialect::encoding`], or the
//! one its BOM names, whatever the dialect says) goes through
//! [`super::decode::Transcode`] first, which decodes it to UTF-8 as it is
//! read and marks each invalid byte sequence; a UTF-8 file is parsed as it
//! is, with no copy. Line numbers are the original file's either way.
//!
//! What is wrong with one record is a [`Fault`] of that record (its field
//! count, a NUL byte, bytes its encoding cannot decode, a stray quote), for
//! the engine to reject: the rest of the file loads. What is wrong with the
//! file is an [`InputError`] naming it and the line (exit 2, nothing
//! loaded): no header, a header its encoding cannot decode, or a quoted
//! field still open at the end of the file.
//!
//! A field is NULL when it is unquoted and empty, or unquoted and one of the
//! dialect's NULL markers (`\N`), or empty at all with `empty_as_null`; a
//! quoted empty field (`""`) is the empty string: PostgreSQL's CSV rules.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use csv::{ByteRecord, ReaderBuilder};
use encoding_rs::{Encoding, UTF_8};

use super::decode::Transcode;
use crate::error::{CommandError, Remedy};

/// How a file's bytes are read: its encoding, its CSV punctuation and its
/// NULL markers.
#[derive(Debug, Clone)]
pub struct Dialect {
    pub delimiter: u8,
    pub quote: u8,
    /// Inside a quoted field, this character before the quote character or
    /// before itself makes that character literal (PostgreSQL's ESCAPE).
    pub escape: Option<u8>,
    /// What the file is decoded from (a BOM overrides it).
    pub encoding: &'static Encoding,
    /// Unquoted fields equal to one of these are NULL.
    pub nulls: Vec<String>,
    /// Empty fields are NULL even when quoted.
    pub empty_as_null: bool,
}

impl Default for Dialect {
    fn default() -> Self {
        Dialect {
            delimiter: b',',
            quote: b'"',
            escape: None,
            encoding: UTF_8,
            nulls: Vec::new(),
            empty_as_null: false,
        }
    }
}

/// The encoding a label names, by the WHATWG Encoding Standard's labels
/// (`utf-8`, `utf-16le`, `windows-1252`, `latin1`, `iso-8859-15`,
/// `shift_jis`...). Its "replacement" encoding is refused: it decodes
/// nothing.
pub fn encoding_for(label: &str) -> Result<&'static Encoding, String> {
    match Encoding::for_label(label.trim().as_bytes()) {
        Some(e) if e != encoding_rs::REPLACEMENT => Ok(e),
        _ => Err(format!(
            "`{label}` is not an encoding import-csv can read; name it as the WHATWG Encoding \
             Standard does: utf-8, utf-16le, utf-16be, windows-1252, iso-8859-1 (latin1), \
             iso-8859-15, shift_jis, gbk..."
        )),
    }
}

/// A fault in the file itself (not in one row's values): exit 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}: cannot read: {source}")]
    Io { file: String, source: io::Error },
    #[error("{file}: not a regular file ({what}); import-csv reads files only")]
    NotRegular { file: String, what: &'static str },
    #[error("{file}: the file is empty; a CSV import needs a header line naming the columns")]
    Empty { file: String },
    #[error("{file}:{line}: the header is not valid {encoding}")]
    Header {
        file: String,
        line: u64,
        encoding: &'static str,
    },
    #[error(
        "{file}:{line}: unterminated quote: the quoted field opened on line {line} never closes \
         (it runs to the end of the file)"
    )]
    Unterminated { file: String, line: u64 },
}

/// A fault in the file as the command's error (exit 2), with what to do.
pub(crate) fn input(e: InputError) -> CommandError {
    let hint = match &e {
        InputError::Unterminated { .. } => {
            return CommandError::usage(e.to_string()).with_remedy(Remedy::QuoteChar)
        }
        InputError::Header { .. } => {
            return CommandError::usage(e.to_string()).with_remedy(Remedy::Encoding)
        }
        InputError::Empty { .. } => "the first line must name the columns",
        InputError::Io { .. } => "check the path and its permissions",
        InputError::NotRegular { .. } => {
            "export the data to a file first; devices, fifos, folders and /proc files are refused"
        }
    };
    CommandError::usage(e.to_string()).with_hint(hint)
}

/// What is wrong with one record: the engine rejects it, the rest loads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// It has `found` fields where the header has `expected`.
    FieldCount { expected: usize, found: usize },
    /// Field `field` holds bytes the file's encoding cannot decode; `byte`
    /// is the first one's offset in the file, when it is a UTF-8 file.
    Encoding { field: usize, byte: Option<u64> },
    /// Field `field` holds a NUL byte, which PostgreSQL cannot store in text.
    Nul { field: usize },
    /// Field `field` has a quote character where it cannot be: inside an
    /// unquoted field, or after the closing quote.
    StrayQuote { field: usize },
}

/// The file, as the parser reads it: as it is (UTF-8), or decoded.
enum Bytes {
    Plain(BufReader<File>),
    Decoded(Box<Transcode<BufReader<File>>>),
}

impl Read for Bytes {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        match self {
            Bytes::Plain(r) => r.read(out),
            Bytes::Decoded(r) => r.read(out),
        }
    }
}

/// Keeps every byte the parser reads until the caller says it is done with it.
struct Tee {
    inner: Bytes,
    buf: Vec<u8>,
    /// Stream offset of `buf[0]`.
    base: u64,
    /// The file has been read to its end.
    eof: bool,
}

impl Read for Tee {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.eof |= n == 0 && !out.is_empty();
        self.buf.extend_from_slice(&out[..n]);
        Ok(n)
    }
}

/// One record: its first line number (1-based), its fields (UTF-8 unless
/// the record has a [`Fault`]), and its text without the line terminator.
#[derive(Debug, Default)]
pub struct Record {
    pub line: u64,
    pub fields: ByteRecord,
    pub raw: String,
    /// What is wrong with the record, if anything: its fields must not be
    /// checked then.
    pub fault: Option<Fault>,
    /// Per field: NULL. Empty (a record built by hand): an empty field is NULL.
    null: Vec<bool>,
}

impl Record {
    /// Field `i` as text; None when it is NULL (see the module's rule).
    pub fn field(&self, i: usize) -> Option<&str> {
        let bytes = self.fields.get(i)?;
        if self.null.get(i).copied().unwrap_or(bytes.is_empty()) {
            return None;
        }
        std::str::from_utf8(bytes).ok()
    }

    /// A record with these fields, NULL where empty (for tests and callers
    /// that build rows by hand).
    pub fn of(line: u64, fields: &[&str]) -> Record {
        Record {
            line,
            fields: ByteRecord::from(fields.to_vec()),
            raw: fields.join(","),
            ..Record::default()
        }
    }
}

/// What `path` is when it exists and is not a regular file: a device
/// (`/dev/zero` never ends), a fifo, a folder, or a kernel pseudo-file under
/// /proc or /sys (which claim to be regular files of size 0). None for a
/// regular file, and for a path that cannot be read (opening it says why).
pub fn irregular(path: &Path) -> Option<&'static str> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return Some(kind_of(&meta));
    }
    let real = path.canonicalize().ok()?;
    (real.starts_with("/proc") || real.starts_with("/sys")).then_some("a kernel pseudo-file")
}

fn kind_of(meta: &std::fs::Metadata) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        let t = meta.file_type();
        if t.is_char_device() || t.is_block_device() {
            return "a device";
        }
        if t.is_fifo() {
            return "a fifo";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if meta.is_dir() {
        "a directory"
    } else {
        "not a file"
    }
}

pub struct CsvSource {
    file: PathBuf,
    reader: csv::Reader<Tee>,
    size: u64,
    dialect: Dialect,
    /// The encoding the file is read in (its BOM's, or the dialect's).
    encoding: &'static Encoding,
    width: Option<usize>,
    /// The line the next record can start on (1-based).
    next_line: u64,
    /// Per field of the current record: it was quoted (reused).
    quoted: Vec<bool>,
    /// The fields as PostgreSQL's ESCAPE reads them (reused; `--escape`).
    unescaped: ByteRecord,
}

impl CsvSource {
    pub fn open(path: &Path, dialect: &Dialect) -> Result<CsvSource, InputError> {
        let name = path.display().to_string();
        let io_err = |source| InputError::Io {
            file: name.clone(),
            source,
        };
        let not_regular = |what| InputError::NotRegular {
            file: name.clone(),
            what,
        };
        // Before opening: opening a fifo would wait for a writer.
        if let Some(what) = irregular(path) {
            return Err(not_regular(what));
        }
        let mut file = File::open(path).map_err(io_err)?;
        // And the file opened, in case the path changed in between.
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(not_regular(kind_of(&meta)));
        }
        let size = meta.len();
        // A BOM names the encoding, whatever the dialect says.
        let mut head = [0u8; 3];
        let mut got = 0;
        while got < head.len() {
            match file.read(&mut head[got..]).map_err(io_err)? {
                0 => break,
                n => got += n,
            }
        }
        io::Seek::rewind(&mut file).map_err(io_err)?;
        let encoding = Encoding::for_bom(&head[..got]).map_or(dialect.encoding, |(e, _)| e);
        let buffered = BufReader::with_capacity(1 << 20, file);
        // UTF-8 is parsed as it is (the parser skips its BOM): the
        // transcoder is only in the way of the other encodings.
        let bytes = if encoding == UTF_8 {
            Bytes::Plain(buffered)
        } else {
            Bytes::Decoded(Box::new(Transcode::new(buffered, encoding)))
        };
        let mut builder = ReaderBuilder::new();
        builder
            .has_headers(false)
            // The field count is checked here, to reject the row in our words.
            .flexible(true)
            .delimiter(dialect.delimiter)
            .quote(dialect.quote)
            .escape(dialect.escape);
        let reader = builder.from_reader(Tee {
            inner: bytes,
            buf: Vec::new(),
            base: 0,
            eof: false,
        });
        Ok(CsvSource {
            file: path.to_path_buf(),
            reader,
            size,
            dialect: dialect.clone(),
            encoding,
            width: None,
            next_line: 1,
            quoted: Vec::new(),
            unescaped: ByteRecord::new(),
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// The encoding the file is read in.
    pub fn encoding(&self) -> &'static Encoding {
        self.encoding
    }

    /// Bytes of the file consumed so far, for progress.
    pub fn position(&self) -> u64 {
        match &self.reader.get_ref().inner {
            Bytes::Plain(_) => self.reader.position().byte(),
            Bytes::Decoded(t) => t.consumed(),
        }
    }

    fn name(&self) -> String {
        self.file.display().to_string()
    }

    /// The header record; an empty file is an error.
    pub fn header(&mut self) -> Result<Vec<String>, InputError> {
        let mut record = Record::default();
        if !self.next(&mut record)? {
            return Err(InputError::Empty { file: self.name() });
        }
        if matches!(record.fault, Some(Fault::Encoding { .. })) {
            return Err(InputError::Header {
                file: self.name(),
                line: record.line,
                encoding: self.encoding.name(),
            });
        }
        self.width = Some(record.fields.len());
        Ok(record
            .fields
            .iter()
            .map(|f| String::from_utf8_lossy(f).trim().to_string())
            .collect())
    }

    /// Reads the next record into `record`; false at the end of the file.
    pub fn next(&mut self, record: &mut Record) -> Result<bool, InputError> {
        let more = self
            .reader
            .read_byte_record(&mut record.fields)
            .map_err(|e| match e.into_kind() {
                csv::ErrorKind::Io(source) => InputError::Io {
                    file: self.name(),
                    source,
                },
                other => InputError::Io {
                    file: self.name(),
                    source: io::Error::other(format!("{other:?}")),
                },
            })?;
        if !more {
            return Ok(false);
        }
        let pos = record
            .fields
            .position()
            .expect("csv records carry positions");
        let (start, end) = (pos.byte(), self.reader.position().byte());
        let plain = matches!(self.reader.get_ref().inner, Bytes::Plain(_));
        let tee = self.reader.get_mut();
        let to = ((end - tee.base) as usize).min(tee.buf.len());
        // The parser stops after the `\r` of a CRLF: the `\n` (and any blank
        // lines) lead the next record's bytes.
        let mut from = (start - tee.base) as usize;
        while from < to && matches!(tee.buf[from], b'\r' | b'\n') {
            from += 1;
        }
        let start = tee.base + from as u64;
        // Our own line count: the parser's does not count a CRLF pair once.
        let newlines = |b: &[u8]| b.iter().filter(|&&c| c == b'\n').count() as u64;
        record.line = self.next_line + newlines(&tee.buf[..from]);
        self.next_line = record.line + newlines(&tee.buf[from..to]);
        let at_end = tee.eof && to >= tee.buf.len();
        let mut raw = &tee.buf[from..to];
        while let [rest @ .., b'\r' | b'\n'] = raw {
            raw = rest;
        }
        record.fault = None;
        record.raw.clear();
        match std::str::from_utf8(raw) {
            Ok(text) => record.raw.push_str(text),
            Err(e) => {
                // The first field that is not valid: the column to name.
                let field = record
                    .fields
                    .iter()
                    .position(|f| std::str::from_utf8(f).is_err())
                    .unwrap_or(0);
                let byte = plain.then(|| start + e.valid_up_to() as u64 + 1);
                record.fault = Some(Fault::Encoding { field, byte });
                record.raw.push_str(&String::from_utf8_lossy(raw));
            }
        }
        let quotes = raw.contains(&self.dialect.quote);
        self.quoted.clear();
        if quotes {
            let scan = scan(
                raw,
                &self.dialect,
                &mut self.quoted,
                self.dialect.escape.map(|_| &mut self.unescaped),
            );
            if scan.open && at_end {
                return Err(InputError::Unterminated {
                    file: self.file.display().to_string(),
                    line: record.line,
                });
            }
            if let Some(field) = scan.stray {
                record.fault.get_or_insert(Fault::StrayQuote { field });
            }
            if self.dialect.escape.is_some() && self.unescaped.len() == record.fields.len() {
                std::mem::swap(&mut record.fields, &mut self.unescaped);
            }
        }
        if raw.contains(&0) {
            let field = record.fields.iter().position(|f| f.contains(&0));
            record.fault.get_or_insert(Fault::Nul {
                field: field.unwrap_or(0),
            });
        }
        // Forget the bytes of this record (and a BOM before the first one).
        tee.buf.drain(..to);
        tee.base += to as u64;
        if let Some(expected) = self.width {
            let found = record.fields.len();
            if found != expected {
                record.fault = Some(Fault::FieldCount { expected, found });
            }
        }
        self.nulls(record);
        Ok(true)
    }

    /// Marks the NULL fields of `record`.
    fn nulls(&self, record: &mut Record) {
        let d = &self.dialect;
        record.null.clear();
        for (i, f) in record.fields.iter().enumerate() {
            let quoted = self.quoted.get(i).copied().unwrap_or(false);
            let null = if f.is_empty() {
                d.empty_as_null || !quoted
            } else {
                !quoted && d.nulls.iter().any(|n| n.as_bytes() == f)
            };
            record.null.push(null);
        }
    }
}

/// What [`scan`] found in a record's bytes.
#[derive(Debug, Default, PartialEq)]
struct Scan {
    /// The first field with a stray quote.
    stray: Option<usize>,
    /// The record ends inside a quoted field.
    open: bool,
}

/// Reads the quoting of one record's bytes (which hold the quote
/// character): which fields were quoted, where a quote strays, and whether
/// the last field's quote is still open. With an escape character, also
/// each field's value as PostgreSQL reads it (the parser drops the escape
/// before any character; PostgreSQL only before the quote or itself).
/// Jumps from one delimiter or quote to the next (`memchr`): every row of
/// a file that quotes its text goes through here.
fn scan(
    raw: &[u8],
    d: &Dialect,
    quoted: &mut Vec<bool>,
    mut values: Option<&mut ByteRecord>,
) -> Scan {
    let (delim, quote) = (d.delimiter, d.quote);
    let escape = d.escape.filter(|e| *e != quote);
    let mut out = Scan::default();
    // Values are only kept with an escape character.
    let keep = values.is_some();
    let mut value: Vec<u8> = Vec::new();
    if let Some(v) = values.as_deref_mut() {
        v.clear();
    }
    let n = raw.len();
    let mut i = 0;
    loop {
        let field = quoted.len();
        value.clear();
        if i < n && raw[i] == quote {
            quoted.push(true);
            i += 1;
            let mut closed = false;
            while i < n {
                let next = match escape {
                    Some(e) => memchr::memchr2(quote, e, &raw[i..]),
                    None => memchr::memchr(quote, &raw[i..]),
                };
                let Some(at) = next.map(|k| i + k) else {
                    if keep {
                        value.extend_from_slice(&raw[i..]);
                    }
                    i = n;
                    break;
                };
                if keep {
                    value.extend_from_slice(&raw[i..at]);
                }
                let after = raw.get(at + 1).copied();
                if raw[at] != quote {
                    // The escape: literal before the quote or itself only.
                    if after == Some(quote) || after == escape {
                        value.extend_from_slice(&raw[at + 1..at + 2]);
                        i = at + 2;
                    } else {
                        value.push(raw[at]);
                        i = at + 1;
                    }
                } else if after == Some(quote) {
                    if keep {
                        value.push(quote);
                    }
                    i = at + 2;
                } else {
                    i = at + 1;
                    closed = true;
                    break;
                }
            }
            out.open |= !closed;
            if i < n && raw[i] != delim {
                out.stray.get_or_insert(field);
            }
        } else {
            quoted.push(false);
        }
        // The rest of the field, up to the delimiter: a quote here strays.
        let end = memchr::memchr(delim, &raw[i..]).map_or(n, |k| i + k);
        if raw[i..end].contains(&quote) {
            out.stray.get_or_insert(field);
        }
        if keep {
            value.extend_from_slice(&raw[i..end]);
        }
        i = end;
        if let Some(v) = values.as_deref_mut() {
            v.push_field(&value);
        }
        if i < n {
            // A delimiter: another field follows, empty if the record ends.
            i += 1;
            if i == n {
                quoted.push(false);
                if let Some(v) = values.as_deref_mut() {
                    v.push_field(b"");
                }
                break;
            }
        } else {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn source_in(bytes: &[u8], dialect: &Dialect) -> (tempfile::NamedTempFile, CsvSource) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let s = CsvSource::open(f.path(), dialect).unwrap();
        (f, s)
    }

    fn source(bytes: &[u8]) -> (tempfile::NamedTempFile, CsvSource) {
        source_in(bytes, &Dialect::default())
    }

    /// Every record after the header: (line, fields as read, fault).
    fn records(s: &mut CsvSource) -> Vec<(u64, Vec<Option<String>>, Option<Fault>)> {
        s.header().unwrap();
        let mut r = Record::default();
        let mut out = Vec::new();
        while s.next(&mut r).unwrap() {
            let fields = (0..r.fields.len())
                .map(|i| r.field(i).map(str::to_string))
                .collect();
            out.push((r.line, fields, r.fault.clone()));
        }
        out
    }

    fn some(values: &[&str]) -> Vec<Option<String>> {
        values.iter().map(|v| Some(v.to_string())).collect()
    }

    #[test]
    fn bom_crlf_quotes_and_raw_lines() {
        let (_f, mut s) = source(b"\xEF\xBB\xBFa,b\r\n1,\"x\r\ny\"\r\n2,\r\n");
        assert_eq!(s.header().unwrap(), ["a", "b"]);
        let mut r = Record::default();
        assert!(s.next(&mut r).unwrap());
        assert_eq!((r.line, r.field(1)), (2, Some("x\r\ny")));
        assert_eq!(r.raw, "1,\"x\r\ny\"");
        assert!(s.next(&mut r).unwrap());
        assert_eq!((r.line, r.field(1), r.raw.as_str()), (4, None, "2,"));
        assert!(!s.next(&mut r).unwrap());
    }

    #[test]
    fn faults_of_one_row_are_the_rows_on_every_line_the_last_included() {
        let (_f, mut s) =
            source(b"a,b\n1,2\n1,2,3\n4\n\"x\"y,5\n6,a\"b\n7,\xffz\n8,n\0l\n9,ok\n10,c\"d");
        let faults: Vec<(u64, Option<Fault>)> = records(&mut s)
            .into_iter()
            .map(|(l, _, f)| (l, f))
            .collect();
        assert_eq!(
            faults,
            [
                (2, None),
                (
                    3,
                    Some(Fault::FieldCount {
                        expected: 2,
                        found: 3
                    })
                ),
                (
                    4,
                    Some(Fault::FieldCount {
                        expected: 2,
                        found: 1
                    })
                ),
                (5, Some(Fault::StrayQuote { field: 0 })),
                (6, Some(Fault::StrayQuote { field: 1 })),
                (
                    7,
                    Some(Fault::Encoding {
                        field: 1,
                        byte: Some(32)
                    })
                ),
                (8, Some(Fault::Nul { field: 1 })),
                (9, None),
                (10, Some(Fault::StrayQuote { field: 1 })),
            ]
        );
    }

    #[test]
    fn only_a_quote_open_at_the_end_of_the_file_stops_it() {
        let (_f, mut s) = source(b"a,b\n1,2\n1,\"2\n3,4\n");
        s.header().unwrap();
        let mut r = Record::default();
        s.next(&mut r).unwrap();
        assert!(matches!(
            s.next(&mut r),
            Err(InputError::Unterminated { line: 3, .. })
        ));
        let (_f, mut s) = source(b"");
        assert!(matches!(s.header(), Err(InputError::Empty { .. })));
        let (_f, mut s) = source(b"a,\xffb\n1,2\n");
        assert!(matches!(
            s.header(),
            Err(InputError::Header { line: 1, .. })
        ));
    }

    #[test]
    fn null_markers_quoted_empty_and_empty_as_null() {
        let file = b"a,b,c,d\n,\"\",\\N,\"\\N\"\nNULL,x,\"NULL\",\n";
        let (_f, mut s) = source(file);
        let rows = records(&mut s);
        assert_eq!(
            rows[0].1,
            [
                None,
                Some("".into()),
                Some("\\N".into()),
                Some("\\N".into())
            ]
        );
        let nulls = Dialect {
            nulls: vec!["\\N".into(), "NULL".into()],
            ..Dialect::default()
        };
        let (_f, mut s) = source_in(file, &nulls);
        let rows = records(&mut s);
        assert_eq!(rows[0].1, [None, Some("".into()), None, Some("\\N".into())]);
        assert_eq!(
            rows[1].1,
            [None, Some("x".into()), Some("NULL".into()), None]
        );
        let empty = Dialect {
            empty_as_null: true,
            ..Dialect::default()
        };
        let (_f, mut s) = source_in(file, &empty);
        assert_eq!(records(&mut s)[0].1[..2], [None, None]);
    }

    #[test]
    fn escape_reads_as_postgresql_does() {
        let mysql = Dialect {
            escape: Some(b'\\'),
            ..Dialect::default()
        };
        let (_f, mut s) = source_in(
            b"a,b\n\"say \\\"hi\\\"\",\"C:\\temp\\\\x\"\nplain,\"a,b\"\n",
            &mysql,
        );
        let rows = records(&mut s);
        assert_eq!(rows[0].1, some(&["say \"hi\"", "C:\\temp\\x"]));
        assert_eq!(rows[1].1, some(&["plain", "a,b"]));
        assert!(rows.iter().all(|r| r.2.is_none()));
    }

    #[test]
    fn other_encodings_are_decoded_and_a_bom_decides() {
        let cp1252 = Dialect {
            encoding: encoding_for("windows-1252").unwrap(),
            ..Dialect::default()
        };
        let (_f, mut s) = source_in(b"a,b\n\x93Caf\xe9\x94,\x80 5\n", &cp1252);
        assert_eq!(records(&mut s)[0].1, some(&["\u{201c}Café\u{201d}", "€ 5"]));
        // A UTF-8 BOM wins over --encoding.
        let (_f, mut s) = source_in("\u{feff}a\nCafé\n".as_bytes(), &cp1252);
        assert_eq!(s.encoding(), UTF_8);
        assert_eq!(records(&mut s)[0].1, some(&["Café"]));
        // UTF-16LE with its BOM, whatever the dialect says; a lone surrogate
        // rejects its row, naming the field, and lines are the file's.
        let units: Vec<u16> = "\u{feff}a,b\r\n1,x\r\n2,"
            .encode_utf16()
            .chain([0xD800])
            .chain("\r\n3,é\r\n".encode_utf16())
            .collect();
        let bytes: Vec<u8> = units.iter().flat_map(|u| u.to_le_bytes()).collect();
        let (_f, mut s) = source(&bytes);
        assert_eq!(s.encoding(), encoding_rs::UTF_16LE);
        let rows = records(&mut s);
        assert_eq!(rows[0], (2, some(&["1", "x"]), None));
        assert_eq!(
            rows[1].2,
            Some(Fault::Encoding {
                field: 1,
                byte: None
            })
        );
        assert_eq!(rows[2], (4, some(&["3", "é"]), None));
        assert!(encoding_for("latin1").is_ok());
        assert!(encoding_for("iso-2022-kr").is_err(), "WHATWG's replacement");
        assert!(encoding_for("klingon").is_err());
    }
}
