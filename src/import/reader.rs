//! Streams a CSV file record by record, each with its line number and its
//! original bytes (for the reject file), in constant memory: the bytes read
//! ahead by the parser are kept only until the record they belong to is done.
//!
//! Malformed input (invalid UTF-8, a wrong field count, an unterminated
//! quote) is an [`InputError`] naming the file and line: the import stops and
//! loads nothing. A UTF-8 BOM and CRLF line endings are accepted.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use csv::{ByteRecord, ReaderBuilder};

use crate::error::{CommandError, Remedy};

/// A fault in the file itself (not in one row's values): exit 2.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{file}: cannot read: {source}")]
    Io { file: String, source: io::Error },
    #[error("{file}: not a regular file ({what}); import-csv reads files only")]
    NotRegular { file: String, what: &'static str },
    #[error("{file}: the file is empty; a CSV import needs a header line naming the columns")]
    Empty { file: String },
    #[error(
        "{file}:{line}: invalid UTF-8 at byte {byte} of the file; import-csv reads UTF-8 only"
    )]
    Utf8 { file: String, line: u64, byte: u64 },
    #[error("{file}:{line}: {found} fields where the header has {expected}")]
    FieldCount {
        file: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error(
        "{file}:{line}: unterminated quote: the quoted field opened on this line never closes"
    )]
    Unterminated { file: String, line: u64 },
}

/// A fault in the file as the command's error (exit 2), with what to do.
pub(crate) fn input(e: InputError) -> CommandError {
    let hint = match &e {
        InputError::FieldCount { .. } => {
            "every line needs as many fields as the header; quote fields that contain the delimiter"
        }
        InputError::Unterminated { .. } => {
            return CommandError::usage(e.to_string()).with_remedy(Remedy::QuoteChar)
        }
        InputError::Utf8 { .. } => "convert the file first, e.g. `iconv -f LATIN1 -t UTF-8`",
        InputError::Empty { .. } => "the first line must name the columns",
        InputError::Io { .. } => "check the path and its permissions",
        InputError::NotRegular { .. } => {
            "export the data to a file first; devices, fifos, folders and /proc files are refused"
        }
    };
    CommandError::usage(e.to_string()).with_hint(hint)
}

/// Keeps every byte the parser reads until the caller says it is done with it.
struct Tee<R> {
    inner: R,
    buf: Vec<u8>,
    /// File offset of `buf[0]`.
    base: u64,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        self.buf.extend_from_slice(&out[..n]);
        Ok(n)
    }
}

/// One record: its first line number (1-based), its fields (valid UTF-8), and
/// its raw text without the line terminator.
#[derive(Debug, Default)]
pub struct Record {
    pub line: u64,
    pub fields: ByteRecord,
    pub raw: String,
}

impl Record {
    /// Field `i` as text; an empty field is None (NULL).
    pub fn field(&self, i: usize) -> Option<&str> {
        let bytes = self.fields.get(i)?;
        // Checked in `CsvSource::next` (the whole raw record is UTF-8).
        let text = std::str::from_utf8(bytes).expect("checked UTF-8");
        (!text.is_empty()).then_some(text)
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
    reader: csv::Reader<Tee<BufReader<File>>>,
    size: u64,
    quote: u8,
    width: Option<usize>,
    /// The line the next record can start on (1-based).
    next_line: u64,
}

impl CsvSource {
    pub fn open(path: &Path, delimiter: u8, quote: u8) -> Result<CsvSource, InputError> {
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
        let file = File::open(path).map_err(io_err)?;
        // And the file opened, in case the path changed in between.
        let meta = file.metadata().map_err(io_err)?;
        if !meta.is_file() {
            return Err(not_regular(kind_of(&meta)));
        }
        let size = meta.len();
        let reader = ReaderBuilder::new()
            .has_headers(false)
            // The field count is checked here, to name the line in our words.
            .flexible(true)
            .delimiter(delimiter)
            .quote(quote)
            .from_reader(Tee {
                inner: BufReader::with_capacity(1 << 20, file),
                buf: Vec::new(),
                base: 0,
            });
        Ok(CsvSource {
            file: path.to_path_buf(),
            reader,
            size,
            quote,
            width: None,
            next_line: 1,
        })
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes consumed so far, for progress.
    pub fn position(&self) -> u64 {
        self.reader.position().byte()
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
        let raw = &tee.buf[from..to];
        let raw = match std::str::from_utf8(raw) {
            Ok(text) => text,
            Err(e) => {
                return Err(InputError::Utf8 {
                    file: self.name(),
                    line: record.line,
                    byte: start + e.valid_up_to() as u64 + 1,
                })
            }
        };
        // An unterminated quote swallows the rest of the file into one record,
        // which then holds an odd number of quote characters.
        let quotes = raw.bytes().filter(|&b| b == self.quote).count();
        if quotes % 2 == 1 && end >= self.size {
            return Err(InputError::Unterminated {
                file: self.name(),
                line: record.line,
            });
        }
        record.raw.clear();
        record.raw.push_str(raw.trim_end_matches(['\r', '\n']));
        // Forget the bytes of this record (and a BOM before the first one).
        tee.buf.drain(..to);
        tee.base += to as u64;
        if let Some(expected) = self.width {
            if record.fields.len() != expected {
                return Err(InputError::FieldCount {
                    file: self.name(),
                    line: record.line,
                    expected,
                    found: record.fields.len(),
                });
            }
        }
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn source(bytes: &[u8]) -> (tempfile::NamedTempFile, CsvSource) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(bytes).unwrap();
        let s = CsvSource::open(f.path(), b',', b'"').unwrap();
        (f, s)
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
    fn malformed_files_name_the_line() {
        let (_f, mut s) = source(b"a,b\n1,2\n1,2,3\n");
        s.header().unwrap();
        let mut r = Record::default();
        s.next(&mut r).unwrap();
        assert!(matches!(
            s.next(&mut r),
            Err(InputError::FieldCount { line: 3, .. })
        ));
        let (_f, mut s) = source(b"a,b\n1,\"2\n3,4\n");
        s.header().unwrap();
        assert!(matches!(
            s.next(&mut r),
            Err(InputError::Unterminated { line: 2, .. })
        ));
        let (_f, mut s) = source(b"a,b\n1,\xff\n");
        s.header().unwrap();
        assert!(matches!(
            s.next(&mut r),
            Err(InputError::Utf8 {
                line: 2,
                byte: 7,
                ..
            })
        ));
        let (_f, mut s) = source(b"");
        assert!(matches!(s.header(), Err(InputError::Empty { .. })));
    }
}
