//! Decodes a file in another encoding than UTF-8 to UTF-8 while it is read
//! (`encoding_rs`, the WHATWG decoders), so the CSV parser downstream only
//! ever sees UTF-8 and memory stays constant. Every byte sequence the
//! encoding cannot decode becomes the byte 0xFF, which valid UTF-8 never
//! holds: the reader finds it in its field and rejects the row
//! (`bad_encoding`), where a replacement character would load silently.
//! Line feeds decode one for one, so line numbers stay the file's.
//!
//! Never used for UTF-8 itself: that file is parsed as it is, with no copy.

use std::io::{self, Read};

use encoding_rs::{Decoder, DecoderResult, Encoding};

/// Bytes read from the file per decode, and room for what they decode to
/// (at most 3 UTF-8 bytes per input byte, plus the markers).
const CHUNK: usize = 64 * 1024;
const ROOM: usize = 3 * CHUNK + 16;

/// The marker of an invalid byte sequence: never a byte of valid UTF-8.
pub const INVALID: u8 = 0xFF;

pub struct Transcode<R> {
    inner: R,
    decoder: Decoder,
    input: Vec<u8>,
    /// Undecoded bytes: `input[from..to]`.
    from: usize,
    to: usize,
    output: Vec<u8>,
    /// Decoded bytes not handed out yet: `output[out_from..out_to]`.
    out_from: usize,
    out_to: usize,
    eof: bool,
    done: bool,
    /// Bytes read from `inner`.
    consumed: u64,
}

impl<R: Read> Transcode<R> {
    /// Decodes `inner` from `encoding`; a BOM, when the file has one, has
    /// already chosen `encoding` and is dropped.
    pub fn new(inner: R, encoding: &'static Encoding) -> Self {
        Transcode {
            inner,
            decoder: encoding.new_decoder_with_bom_removal(),
            input: vec![0; CHUNK],
            from: 0,
            to: 0,
            output: vec![0; ROOM],
            out_from: 0,
            out_to: 0,
            eof: false,
            done: false,
            consumed: 0,
        }
    }

    /// Bytes of the file read so far.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    /// Decodes the next chunk into `output` (which is empty).
    fn fill(&mut self) -> io::Result<()> {
        if self.from == self.to && !self.eof {
            let n = self.inner.read(&mut self.input)?;
            self.consumed += n as u64;
            self.eof = n == 0;
            (self.from, self.to) = (0, n);
        }
        let (mut written, last) = (0, self.eof);
        loop {
            let (result, read, wrote) = self.decoder.decode_to_utf8_without_replacement(
                &self.input[self.from..self.to],
                &mut self.output[written..ROOM - 4],
                last,
            );
            self.from += read;
            written += wrote;
            match result {
                DecoderResult::InputEmpty => {
                    self.done = last;
                    break;
                }
                DecoderResult::OutputFull => break,
                DecoderResult::Malformed(..) => {
                    self.output[written] = INVALID;
                    written += 1;
                }
            }
        }
        (self.out_from, self.out_to) = (0, written);
        Ok(())
    }
}

impl<R: Read> Read for Transcode<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.out_from == self.out_to {
            if self.done || out.is_empty() {
                return Ok(0);
            }
            self.fill()?;
        }
        let n = out.len().min(self.out_to - self.out_from);
        out[..n].copy_from_slice(&self.output[self.out_from..self.out_from + n]);
        self.out_from += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(bytes: &[u8], encoding: &'static Encoding, read_size: usize) -> Vec<u8> {
        let mut t = Transcode::new(bytes, encoding);
        let mut out = Vec::new();
        let mut buf = vec![0; read_size];
        loop {
            let n = t.read(&mut buf).unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&buf[..n]);
        }
        assert_eq!(t.consumed(), bytes.len() as u64);
        out
    }

    #[test]
    fn decodes_and_marks_what_it_cannot() {
        // Windows-1252: ’ – € “ are 0x92 0x96 0x80 0x93, not C1 controls.
        let text = decode(b"a\x92b\x96c\x80\x93\n", encoding_rs::WINDOWS_1252, 3);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "a\u{2019}b\u{2013}c\u{20ac}\u{201c}\n"
        );
        // UTF-16LE with its BOM; an unpaired surrogate is marked.
        let utf16: Vec<u8> = [0xFEFF, 0x61, 0xD800, 0x62, 0x0A]
            .iter()
            .flat_map(|u: &u16| u.to_le_bytes())
            .collect();
        let text = decode(&utf16, encoding_rs::UTF_16LE, 1);
        assert_eq!(text, [b'a', INVALID, b'b', b'\n']);
        // A multi-byte sequence cut at a chunk's end decodes whole.
        let long: Vec<u8> = std::iter::repeat_n(b"\x82\xa0".as_slice(), CHUNK)
            .flatten()
            .copied()
            .collect();
        let text = decode(&long, encoding_rs::SHIFT_JIS, 8192);
        assert_eq!(String::from_utf8(text).unwrap(), "あ".repeat(CHUNK));
    }
}
