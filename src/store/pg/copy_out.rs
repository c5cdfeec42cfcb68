//! Reading `COPY (query) TO STDOUT (FORMAT binary)` row by row.
//!
//! A pass over tens of millions of rows spends most of its time, through a
//! normal query, in the driver's per-row machinery (a row object, a type check
//! and a decode call per value). The binary COPY stream is the same data as
//! length-prefixed fields; [`BinaryCopyOut`] hands out each row's fields as
//! slices of one reused buffer, and [`Fields`] decodes the few types the
//! passes read. The format: an 11-byte signature, flags, a header extension,
//! then per row an i16 field count and per field an i32 length (-1 for NULL)
//! and the value in the type's binary send format; an i16 of -1 ends it.
//! <https://www.postgresql.org/docs/15/sql-copy.html#id-1.9.3.55.9.4>

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::TryStreamExt;
use sqlx::postgres::PgConnection;
use uuid::Uuid;

const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

/// Rows of a binary COPY, in the order the query gives them.
pub struct BinaryCopyOut<'c> {
    chunks: BoxStream<'c, Result<Bytes, sqlx::Error>>,
    buf: Vec<u8>,
    /// Where the unread part of `buf` starts.
    start: usize,
    header_read: bool,
    ended: bool,
}

fn broken(what: impl Into<String>) -> sqlx::Error {
    sqlx::Error::Protocol(format!("binary COPY stream: {}", what.into()))
}

impl<'c> BinaryCopyOut<'c> {
    /// Starts `COPY (select) TO STDOUT (FORMAT binary)` on `conn`.
    pub async fn start(conn: &'c mut PgConnection, select: &str) -> Result<Self, sqlx::Error> {
        let chunks = conn
            .copy_out_raw(&format!("COPY ({select}) TO STDOUT (FORMAT binary)"))
            .await?;
        Ok(BinaryCopyOut {
            chunks,
            buf: Vec::with_capacity(1 << 16),
            start: 0,
            header_read: false,
            ended: false,
        })
    }

    /// The next row's fields, or None after the last row.
    pub async fn next(&mut self) -> Result<Option<Fields<'_>>, sqlx::Error> {
        loop {
            if !self.header_read {
                self.read_header()?;
            }
            if self.header_read {
                match row_len(&self.buf[self.start..])? {
                    Some(RowLen::Row(len)) => {
                        let row = self.start + 2..self.start + len;
                        self.start += len;
                        return Ok(Some(Fields {
                            rest: &self.buf[row],
                        }));
                    }
                    Some(RowLen::Trailer) => {
                        self.start += 2;
                        self.ended = true;
                    }
                    None => {}
                }
            }
            if self.ended {
                // Drain the stream so the connection is usable afterwards.
                while self.chunks.try_next().await?.is_some() {}
                return Ok(None);
            }
            let Some(chunk) = self.chunks.try_next().await? else {
                return Err(broken("ended before its trailer"));
            };
            self.buf.drain(..self.start);
            self.start = 0;
            self.buf.extend_from_slice(&chunk);
        }
    }

    fn read_header(&mut self) -> Result<(), sqlx::Error> {
        let data = &self.buf[self.start..];
        if data.len() < SIGNATURE.len() + 8 {
            return Ok(());
        }
        if &data[..SIGNATURE.len()] != SIGNATURE {
            return Err(broken("bad signature"));
        }
        let ext = i32::from_be_bytes(data[15..19].try_into().expect("4 bytes"));
        let Ok(ext) = usize::try_from(ext) else {
            return Err(broken("negative header extension length"));
        };
        if data.len() >= 19 + ext {
            self.start += 19 + ext;
            self.header_read = true;
        }
        Ok(())
    }
}

enum RowLen {
    /// A whole row of this many bytes (field count included) is buffered.
    Row(usize),
    Trailer,
}

/// Measures the row at the front of `data`; None when it is not all there yet.
fn row_len(data: &[u8]) -> Result<Option<RowLen>, sqlx::Error> {
    let Some(count) = data.get(..2) else {
        return Ok(None);
    };
    let count = i16::from_be_bytes([count[0], count[1]]);
    if count == -1 {
        return Ok(Some(RowLen::Trailer));
    }
    let mut at = 2;
    for _ in 0..count {
        let Some(len) = data.get(at..at + 4) else {
            return Ok(None);
        };
        at += 4;
        let len = i32::from_be_bytes(len.try_into().expect("4 bytes"));
        if len > 0 {
            at += len as usize;
        } else if len < -1 {
            return Err(broken(format!("field length {len}")));
        }
    }
    Ok((data.len() >= at).then_some(RowLen::Row(at)))
}

/// One row's fields, read in column order.
pub struct Fields<'a> {
    rest: &'a [u8],
}

fn decode(what: String) -> sqlx::Error {
    sqlx::Error::Decode(what.into())
}

impl<'a> Fields<'a> {
    /// The next field's bytes; None for NULL.
    fn raw(&mut self) -> Result<Option<&'a [u8]>, sqlx::Error> {
        let (len, rest) = self
            .rest
            .split_first_chunk::<4>()
            .ok_or_else(|| decode("a row has fewer fields than read".into()))?;
        let len = i32::from_be_bytes(*len);
        if len < 0 {
            self.rest = rest;
            return Ok(None);
        }
        let (value, rest) = rest.split_at(len as usize);
        self.rest = rest;
        Ok(Some(value))
    }

    fn not_null(&mut self, what: &str) -> Result<&'a [u8], sqlx::Error> {
        self.raw()?
            .ok_or_else(|| decode(format!("{what} is NULL where a value is required")))
    }

    fn fixed<const N: usize>(value: &[u8], what: &str) -> Result<[u8; N], sqlx::Error> {
        value
            .try_into()
            .map_err(|_| decode(format!("{what}: {} bytes, not {N}", value.len())))
    }

    pub fn uuid(&mut self) -> Result<Uuid, sqlx::Error> {
        let value = self.not_null("uuid")?;
        Ok(Uuid::from_bytes(Self::fixed(value, "uuid")?))
    }

    pub fn opt_uuid(&mut self) -> Result<Option<Uuid>, sqlx::Error> {
        match self.raw()? {
            None => Ok(None),
            Some(value) => Ok(Some(Uuid::from_bytes(Self::fixed(value, "uuid")?))),
        }
    }

    pub fn text(&mut self) -> Result<&'a str, sqlx::Error> {
        let value = self.not_null("text")?;
        std::str::from_utf8(value).map_err(|e| decode(format!("text: {e}")))
    }

    /// A bigint (cast smaller integers in the query).
    pub fn int8(&mut self) -> Result<i64, sqlx::Error> {
        let value = self.not_null("bigint")?;
        Ok(i64::from_be_bytes(Self::fixed(value, "bigint")?))
    }

    /// A timestamptz as microseconds since 2000-01-01 UTC: ordered as the
    /// timestamps are, for callers that only compare them.
    pub fn timestamptz_micros(&mut self) -> Result<i64, sqlx::Error> {
        let value = self.not_null("timestamptz")?;
        Ok(i64::from_be_bytes(Self::fixed(value, "timestamptz")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(out: &mut Vec<u8>, value: Option<&[u8]>) {
        match value {
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
            Some(v) => {
                out.extend_from_slice(&(v.len() as i32).to_be_bytes());
                out.extend_from_slice(v);
            }
        }
    }

    fn row(values: &[Option<&[u8]>]) -> Vec<u8> {
        let mut out = (values.len() as i16).to_be_bytes().to_vec();
        for v in values {
            field(&mut out, *v);
        }
        out
    }

    #[test]
    fn a_row_is_measured_only_when_all_of_it_is_there() {
        let whole = row(&[Some(b"abc"), None, Some(&7i64.to_be_bytes())]);
        for cut in 0..whole.len() {
            assert!(
                row_len(&whole[..cut]).unwrap().is_none(),
                "cut at {cut} of {}",
                whole.len()
            );
        }
        assert!(matches!(row_len(&whole).unwrap(), Some(RowLen::Row(n)) if n == whole.len()));
        assert!(matches!(
            row_len(&(-1i16).to_be_bytes()).unwrap(),
            Some(RowLen::Trailer)
        ));
    }

    #[test]
    fn fields_decode_in_order_and_null_is_none() {
        let id = Uuid::from_u128(0x1234);
        let data = row(&[
            Some(id.as_bytes()),
            None,
            Some(b"rez"),
            Some(&(-42i64).to_be_bytes()),
        ]);
        let mut f = Fields { rest: &data[2..] };
        assert_eq!(f.uuid().unwrap(), id);
        assert_eq!(f.opt_uuid().unwrap(), None);
        assert_eq!(f.text().unwrap(), "rez");
        assert_eq!(f.int8().unwrap(), -42);
        assert!(f.int8().is_err(), "no fifth field");
    }

    #[test]
    fn a_null_or_a_wrong_width_where_a_value_is_required_is_an_error() {
        let data = row(&[None, Some(b"abc")]);
        let mut f = Fields { rest: &data[2..] };
        assert!(f.uuid().unwrap_err().to_string().contains("NULL"));
        assert!(f.int8().unwrap_err().to_string().contains("3 bytes"));
    }
}
