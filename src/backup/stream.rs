//! Optional compression of the dump streams (`backup --compress`): the
//! MongoDB `.bson` and `.metadata.json`, Redis `keys.bin` and Elasticsearch
//! `.ndjson` files are written through gzip, with `.gz` appended to their
//! names, and PostgreSQL's pg_dump compresses its own table data.
//!
//! Why gzip: it is what pg_dump (PostgreSQL 15) and `mongodump --gzip` write,
//! so a compressed backup stays readable by gunzip, pg_restore and
//! mongorestore; flate2's pure-Rust backend needs no C library.
//!
//! The manifest records each store's [`Compression`], and its checksums cover
//! the files as stored: a corrupted compressed file is refused before
//! anything is decompressed.

use std::fs::File;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

use flate2::read::MultiGzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};

use super::crypt::Decrypt;
use super::{close_file, create_file, io_err};
use crate::error::Result;

/// gzip level for every store, pg_dump included: 6 is zlib's default (what
/// pg_dump uses when not told), the usual balance of speed and size.
pub const GZIP_LEVEL: u32 = 6;

/// How a store's files are stored. Absent in a manifest means `none`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    #[default]
    None,
    Gzip,
}

impl Compression {
    pub fn from_flag(compress: bool) -> Compression {
        if compress {
            Compression::Gzip
        } else {
            Compression::None
        }
    }

    /// The stored name of a stream: `.gz` appended when gzipped.
    pub fn file_name(self, name: &str) -> String {
        match self {
            Compression::None => name.to_string(),
            Compression::Gzip => format!("{name}.gz"),
        }
    }

    /// pg_dump's `--compress` level: 0 writes plain `.dat` files.
    pub fn pg_dump_level(self) -> u32 {
        match self {
            Compression::None => 0,
            Compression::Gzip => GZIP_LEVEL,
        }
    }
}

/// A dump file being written, plain or through gzip.
pub enum Sink {
    Plain(BufWriter<File>),
    Gzip(GzEncoder<BufWriter<File>>),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::Plain(w) => w.write(buf),
            Sink::Gzip(w) => w.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::Plain(w) => w.flush(),
            Sink::Gzip(w) => w.flush(),
        }
    }
}

impl Sink {
    /// Creates `path` (already carrying `.gz` when gzipped).
    pub fn create(path: &Path, compression: Compression) -> Result<Sink> {
        let out = create_file(path)?;
        Ok(match compression {
            Compression::None => Sink::Plain(out),
            Compression::Gzip => {
                Sink::Gzip(GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL)))
            }
        })
    }

    /// Writes the gzip trailer, flushes and syncs: the file is whole on disk
    /// before the manifest can list it.
    pub fn close(self, path: &Path) -> Result<()> {
        let out = match self {
            Sink::Plain(out) => out,
            Sink::Gzip(gz) => gz.finish().map_err(|e| io_err(path, e))?,
        };
        close_file(out, path)
    }
}

/// How a store's files are read back: decompressed as the manifest records,
/// and decrypted while they stream when the part is encrypted (see
/// `super::crypt`).
pub struct Stored {
    pub compression: Compression,
    pub decrypt: Option<Decrypt>,
}

impl Stored {
    /// Files stored as `compression` says, not encrypted.
    pub fn plain(compression: Compression) -> Stored {
        Stored {
            compression,
            decrypt: None,
        }
    }

    /// The stored name of a stream: `.gz` when gzipped, then `.age` when encrypted.
    pub fn stream_name(&self, name: &str) -> String {
        self.name(&self.compression.file_name(name))
    }

    /// The stored name of a file never compressed (a small definition).
    pub fn name(&self, name: &str) -> String {
        match self.decrypt {
            Some(_) => format!("{name}{}", super::crypt::SUFFIX),
            None => name.to_string(),
        }
    }

    /// Opens a stored stream (named by [`Stored::stream_name`]) for reading.
    pub fn open(&self, path: &Path) -> Result<Box<dyn BufRead>> {
        let raw: Box<dyn Read> = match &self.decrypt {
            Some(d) => d.open(path).map_err(|e| io_err(path, e))?,
            None => Box::new(File::open(path).map_err(|e| io_err(path, e))?),
        };
        Ok(match self.compression {
            Compression::None => Box::new(BufReader::new(raw)),
            Compression::Gzip => Box::new(BufReader::new(MultiGzDecoder::new(BufReader::new(raw)))),
        })
    }

    /// Reads a whole stored stream (a small definition), decompressed.
    pub fn read_all(&self, path: &Path) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.open(path)?
            .read_to_end(&mut bytes)
            .map_err(|e| io_err(path, e))?;
        Ok(bytes)
    }

    /// Reads a whole file never compressed (named by [`Stored::name`]).
    pub fn read_uncompressed(&self, path: &Path) -> Result<Vec<u8>> {
        Stored {
            compression: Compression::None,
            decrypt: self.decrypt.clone(),
        }
        .read_all(path)
    }
}

/// Writes a small JSON definition, pretty-printed, compressed as asked.
pub fn write_json(path: &Path, value: &serde_json::Value, compression: Compression) -> Result<()> {
    let mut out = Sink::create(path, compression)?;
    serde_json::to_writer_pretty(&mut out, value).map_err(|e| io_err(path, e))?;
    out.close(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_read_back_as_written_plain_and_gzipped() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"line one\nline two\n".repeat(100);
        for compression in [Compression::None, Compression::Gzip] {
            let path = dir.path().join(compression.file_name("s.ndjson"));
            let mut out = Sink::create(&path, compression).unwrap();
            out.write_all(&text).unwrap();
            out.close(&path).unwrap();
            assert_eq!(Stored::plain(compression).read_all(&path).unwrap(), text);
            let stored = std::fs::read(&path).unwrap();
            match compression {
                Compression::None => assert_eq!(stored, text),
                // The gzip magic, and smaller than the repetitive input.
                Compression::Gzip => {
                    assert_eq!(&stored[..2], &[0x1f, 0x8b]);
                    assert!(stored.len() < text.len() / 10);
                }
            }
        }
        assert_eq!(Compression::Gzip.file_name("keys.bin"), "keys.bin.gz");
        assert_eq!(Compression::None.pg_dump_level(), 0);
    }

    #[test]
    fn a_manifest_without_compression_means_none() {
        #[derive(Deserialize)]
        struct Entry {
            #[serde(default)]
            compression: Compression,
        }
        let old: Entry = serde_json::from_str("{}").unwrap();
        assert_eq!(old.compression, Compression::None);
        let new: Entry = serde_json::from_str(r#"{"compression": "gzip"}"#).unwrap();
        assert_eq!(new.compression, Compression::Gzip);
    }
}
