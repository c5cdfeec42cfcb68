//! The reject file: one entry per refused value, with the row's line number,
//! the column, the reason and the original line, as CSV (default) or JSONL.
//! Written as the import runs, so a huge file's rejects never sit in memory.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde::Serialize;

use super::check::Problem;

/// How the reject file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectFormat {
    Csv,
    Jsonl,
}

pub enum RejectWriter {
    // Boxed: the CSV writer carries its own buffer and state inline.
    Csv(Box<csv::Writer<File>>),
    Jsonl(BufWriter<File>),
}

#[derive(Serialize)]
struct Entry<'a> {
    line: u64,
    column: &'a str,
    reason: String,
    raw: &'a str,
}

impl RejectWriter {
    pub fn create(path: &Path, format: RejectFormat) -> io::Result<RejectWriter> {
        let file = File::create(path)?;
        Ok(match format {
            RejectFormat::Csv => {
                let mut w = csv::Writer::from_writer(file);
                w.write_record(["line", "column", "reason", "raw"])?;
                RejectWriter::Csv(Box::new(w))
            }
            RejectFormat::Jsonl => RejectWriter::Jsonl(BufWriter::new(file)),
        })
    }

    /// Reopens a resumed import's reject file, cut back to the `len` bytes
    /// its committed batches wrote (the header included).
    pub fn append(path: &Path, format: RejectFormat, len: u64) -> io::Result<RejectWriter> {
        if len == 0 {
            return RejectWriter::create(path, format);
        }
        let file = std::fs::OpenOptions::new().write(true).open(path)?;
        file.set_len(len)?;
        let mut file = file;
        io::Seek::seek(&mut file, io::SeekFrom::End(0))?;
        Ok(match format {
            RejectFormat::Csv => RejectWriter::Csv(Box::new(csv::Writer::from_writer(file))),
            RejectFormat::Jsonl => RejectWriter::Jsonl(BufWriter::new(file)),
        })
    }

    /// Flushes, and returns the file's size: what a checkpoint records.
    pub fn flushed_len(&mut self) -> io::Result<u64> {
        match self {
            RejectWriter::Csv(w) => {
                w.flush()?;
                Ok(w.get_ref().metadata()?.len())
            }
            RejectWriter::Jsonl(w) => {
                w.flush()?;
                Ok(w.get_ref().metadata()?.len())
            }
        }
    }

    pub fn write(&mut self, line: u64, raw: &str, problem: &Problem) -> io::Result<()> {
        let entry = Entry {
            line,
            column: &problem.column,
            reason: format!("{}: {}", problem.code, problem.detail),
            raw,
        };
        match self {
            RejectWriter::Csv(w) => w
                .write_record([
                    entry.line.to_string().as_str(),
                    entry.column,
                    &entry.reason,
                    entry.raw,
                ])
                .map_err(io::Error::other),
            RejectWriter::Jsonl(w) => {
                serde_json::to_writer(&mut *w, &entry)?;
                w.write_all(b"\n")
            }
        }
    }
}
