//! How import-csv reads a timestamp: the forms old systems export
//! (`2019-03-04 10:20:30`, `2019-03-04T10:20:30`, fractional seconds, an
//! offset `Z`, `+05:30`, `+0530` or `+05`), and the instant it stands for.
//! A timestamp with an offset is that instant. One without (a MySQL
//! DATETIME, an Excel or ERP export) is read in the run's zone: an IANA
//! zone (`jiff`'s embedded copy of the tz database, so every machine reads
//! it the same), `UTC` or a fixed offset. A local time a daylight-saving
//! change skipped (a gap) or repeated (an overlap) is refused naming the
//! change, never guessed. Without a zone, such a timestamp is refused: the
//! session's TimeZone is not the old system's. `0000-00-00` (MySQL's zero
//! date) is refused too, or NULL when the run says so.
//!
//! Pure: no I/O, no flag names (the face gives the words that name them).

use chrono::{DateTime, NaiveDate, NaiveDateTime, TimeDelta, Utc};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};

/// The run's rules for timestamps.
#[derive(Debug, Clone, Default)]
pub struct TimeReading {
    /// The zone of timestamps without an offset; None: they are refused.
    pub zone: Option<Zone>,
    /// `0000-00-00` dates and timestamps are NULL rather than refused.
    pub zero_as_null: bool,
    /// How the face says to name the zone (it names the flag): the end of
    /// the reason a timestamp without an offset is refused for.
    pub zone_hint: String,
    /// How the face says to load zero dates as NULL.
    pub zero_hint: String,
}

/// A zone timestamps without an offset are read in.
#[derive(Debug, Clone)]
pub struct Zone {
    /// As the user named it.
    pub name: String,
    tz: TimeZone,
}

impl Zone {
    /// `UTC`, an IANA name (`Asia/Kolkata`) or a fixed offset (`+05:30`).
    pub fn parse(text: &str) -> Result<Zone, String> {
        let text = text.trim();
        let tz = if text.eq_ignore_ascii_case("utc") || text == "Z" {
            TimeZone::UTC
        } else if text.starts_with(['+', '-']) {
            let seconds = offset_seconds(text.as_bytes())
                .ok_or_else(|| format!("`{text}` is not an offset like +05:30 or -08:00"))?;
            TimeZone::fixed(Offset::from_seconds(seconds).map_err(|e| e.to_string())?)
        } else {
            TimeZone::get(text).map_err(|_| {
                format!(
                    "`{text}` is not a time zone: name it as the tz database does \
                     (Asia/Kolkata, Europe/London, America/New_York), or UTC, or an offset (+05:30)"
                )
            })?
        };
        Ok(Zone {
            name: text.to_string(),
            tz,
        })
    }
}

/// Why a timestamp was refused: a stable code and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeFault {
    pub code: &'static str,
    pub detail: String,
}

/// What a timestamp's text says, before any zone is applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parsed {
    /// An instant: local time and its offset in seconds.
    Offset(NaiveDateTime, i32),
    /// A local time without an offset.
    Naive(NaiveDateTime),
    /// `0000-00-00`, with or without a time.
    Zero,
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// `+05:30`, `+0530`, `+05`, `-08:00`: the offset in seconds.
fn offset_seconds(b: &[u8]) -> Option<i32> {
    let sign = match b.first()? {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let (h, m) = match &b[1..] {
        [h1, h2] => (digits(&[*h1, *h2])?, 0),
        [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => (digits(&[*h1, *h2])?, digits(&[*m1, *m2])?),
        _ => return None,
    };
    (h <= 23 && m <= 59).then(|| sign * (h * 3600 + m * 60) as i32)
}

/// Reads `YYYY-MM-DD[( |T)HH:MM[:SS[.fraction]]][ ][offset]`.
pub fn parse(text: &str) -> Option<Parsed> {
    let b = text.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (y, mo, d) = (digits(&b[..4])?, digits(&b[5..7])?, digits(&b[8..10])?);
    let rest = &b[10..];
    let zero_date = y == 0 && mo == 0 && d == 0;
    let date = if zero_date {
        None
    } else {
        Some(NaiveDate::from_ymd_opt(y as i32, mo, d)?)
    };
    let (mut h, mut mi, mut s, mut nanos) = (0, 0, 0, 0);
    let mut i = 0;
    if let [b' ' | b'T' | b't', ..] = rest {
        let t = &rest[1..];
        if t.len() < 5 || t[2] != b':' {
            return None;
        }
        h = digits(&t[..2])?;
        mi = digits(&t[3..5])?;
        // `i`: how far into `t` the time goes.
        i = 5;
        if t.get(5) == Some(&b':') {
            s = digits(t.get(6..8)?)?;
            i = 8;
            if t.get(8) == Some(&b'.') {
                let frac_len = t[9..].iter().take_while(|c| c.is_ascii_digit()).count();
                if frac_len == 0 || frac_len > 9 {
                    return None;
                }
                nanos = digits(&t[9..9 + frac_len])? * 10u32.pow(9 - frac_len as u32);
                i = 9 + frac_len;
            }
        }
        i += 1; // the separator before the time
    }
    let mut tail = &rest[i.min(rest.len())..];
    if let [b' ', more @ ..] = tail {
        tail = more;
    }
    let offset = match tail {
        [] => None,
        [b'Z' | b'z'] => Some(0),
        _ => Some(offset_seconds(tail)?),
    };
    if zero_date {
        return (h == 0 && mi == 0 && s == 0 && nanos == 0).then_some(Parsed::Zero);
    }
    let local = date?.and_hms_nano_opt(h, mi, s, nanos)?;
    Some(match offset {
        Some(o) => Parsed::Offset(local, o),
        None => Parsed::Naive(local),
    })
}

impl TimeReading {
    /// The instant `text` stands for; None for a zero date.
    pub fn instant(&self, text: &str) -> Result<Option<DateTime<Utc>>, TimeFault> {
        let fault = |code, detail| Err(TimeFault { code, detail });
        let local = match parse(text) {
            None => {
                return fault(
                    "bad_type",
                    format!(
                    "`{text}` is not a timestamp (2019-03-04 10:20:30, 2019-03-04T10:20:30.123, \
                         2019-03-04 10:20:30+05:30)"
                ),
                )
            }
            Some(Parsed::Zero) => {
                if self.zero_as_null {
                    return Ok(None);
                }
                return fault(
                    "zero_date",
                    format!("`{text}` is a zero date, no day at all; {}", self.zero_hint),
                );
            }
            Some(Parsed::Offset(local, offset)) => {
                return Ok(Some((local - TimeDelta::seconds(offset.into())).and_utc()))
            }
            Some(Parsed::Naive(local)) => local,
        };
        let Some(zone) = &self.zone else {
            return fault(
                "no_time_zone",
                format!("`{text}` has no UTC offset; {}", self.zone_hint),
            );
        };
        let civil = civil(local).ok_or_else(|| TimeFault {
            code: "bad_type",
            detail: format!("`{text}` is outside the years a time zone can place"),
        })?;
        let name = &zone.name;
        let offset = match zone.tz.to_ambiguous_timestamp(civil).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset,
            AmbiguousOffset::Gap { before, after } => {
                return fault(
                    "dst_gap",
                    format!(
                        "`{text}` never happened in {name}: its clocks jumped from UTC{before} to \
                         UTC{after} (a daylight-saving gap); the export cannot hold this time"
                    ),
                )
            }
            AmbiguousOffset::Fold { before, after } => {
                return fault(
                    "dst_overlap",
                    format!(
                        "`{text}` happened twice in {name}, at UTC{before} and again at UTC{after} \
                         (clocks turned back); the file cannot say which: give it an offset"
                    ),
                )
            }
        };
        Ok(Some(
            (local - TimeDelta::seconds(offset.seconds().into())).and_utc(),
        ))
    }

    /// A date column's value: `0000-00-00` is refused or NULL (None).
    pub fn date(&self, text: &str) -> Result<Option<NaiveDate>, TimeFault> {
        if text == "0000-00-00" {
            if self.zero_as_null {
                return Ok(None);
            }
            return Err(TimeFault {
                code: "zero_date",
                detail: format!("`{text}` is a zero date, no day at all; {}", self.zero_hint),
            });
        }
        NaiveDate::parse_from_str(text, "%Y-%m-%d")
            .map(Some)
            .map_err(|_| TimeFault {
                code: "bad_type",
                detail: format!("`{text}` is not a date YYYY-MM-DD"),
            })
    }
}

fn civil(t: NaiveDateTime) -> Option<jiff::civil::DateTime> {
    use chrono::{Datelike, Timelike};
    jiff::civil::DateTime::new(
        i16::try_from(t.year()).ok()?,
        t.month() as i8,
        t.day() as i8,
        t.hour() as i8,
        t.minute() as i8,
        t.second() as i8,
        t.nanosecond() as i32,
    )
    .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reading(zone: Option<&str>) -> TimeReading {
        TimeReading {
            zone: zone.map(|z| Zone::parse(z).unwrap()),
            zero_as_null: false,
            zone_hint: "name the zone".into(),
            zero_hint: "or load it as NULL".into(),
        }
    }

    fn utc(r: &TimeReading, text: &str) -> Result<String, &'static str> {
        r.instant(text)
            .map(|t| t.unwrap().format("%Y-%m-%dT%H:%M:%S%.fZ").to_string())
            .map_err(|f| f.code)
    }

    #[test]
    fn the_forms_exports_use() {
        let r = reading(Some("Asia/Kolkata"));
        assert_eq!(
            utc(&r, "2019-03-04 10:20:30"),
            Ok("2019-03-04T04:50:30Z".into())
        );
        assert_eq!(
            utc(&r, "2019-03-04T10:20:30"),
            Ok("2019-03-04T04:50:30Z".into())
        );
        assert_eq!(
            utc(&r, "2019-03-04 10:20"),
            Ok("2019-03-04T04:50:00Z".into())
        );
        assert_eq!(utc(&r, "2019-03-04"), Ok("2019-03-03T18:30:00Z".into()));
        assert_eq!(
            utc(&r, "2019-03-04 10:20:30.123"),
            Ok("2019-03-04T04:50:30.123Z".into())
        );
        assert_eq!(
            utc(&r, "2019-03-04 10:20:30.123+05:30"),
            Ok("2019-03-04T04:50:30.123Z".into())
        );
        assert_eq!(
            utc(&r, "2019-03-04T10:20:30Z"),
            Ok("2019-03-04T10:20:30Z".into())
        );
        assert_eq!(
            utc(&r, "2019-03-04 10:20:30 -0800"),
            Ok("2019-03-04T18:20:30Z".into())
        );
        assert_eq!(
            utc(&r, "2019-03-04 10:20:30+01"),
            Ok("2019-03-04T09:20:30Z".into())
        );
        assert_eq!(utc(&r, "2019-02-30 10:20:30"), Err("bad_type"));
        assert_eq!(utc(&r, "2019-03-04 25:00:00"), Err("bad_type"));
        assert_eq!(utc(&r, "2019-03-04 10:20:30.1234567891"), Err("bad_type"));
        assert_eq!(utc(&r, "yesterday"), Err("bad_type"));
        assert_eq!(
            utc(&reading(Some("+05:30")), "2019-03-04 10:20:30"),
            Ok("2019-03-04T04:50:30Z".into())
        );
        assert_eq!(
            utc(&reading(Some("UTC")), "2019-03-04 10:20:30"),
            Ok("2019-03-04T10:20:30Z".into())
        );
    }

    #[test]
    fn without_a_zone_or_in_a_clock_change_it_is_refused() {
        let none = reading(None);
        let f = none.instant("2019-03-04 10:20:30").unwrap_err();
        assert_eq!(f.code, "no_time_zone");
        assert!(
            f.detail.ends_with("has no UTC offset; name the zone"),
            "{}",
            f.detail
        );
        let ny = reading(Some("America/New_York"));
        let gap = ny.instant("2024-03-10 02:30:00").unwrap_err();
        assert_eq!(gap.code, "dst_gap");
        assert!(
            gap.detail.contains("America/New_York")
                && gap.detail.contains("UTC-05")
                && gap.detail.contains("UTC-04"),
            "{}",
            gap.detail
        );
        assert_eq!(
            ny.instant("2024-11-03 01:30:00").unwrap_err().code,
            "dst_overlap"
        );
        assert_eq!(
            utc(&ny, "2024-11-03 01:30:00-04:00"),
            Ok("2024-11-03T05:30:00Z".into())
        );
        assert_eq!(
            utc(&ny, "2024-07-01 12:00:00"),
            Ok("2024-07-01T16:00:00Z".into())
        );
    }

    #[test]
    fn zero_dates_are_refused_or_null() {
        let r = reading(Some("UTC"));
        assert_eq!(
            r.instant("0000-00-00 00:00:00").unwrap_err().code,
            "zero_date"
        );
        assert_eq!(r.date("0000-00-00").unwrap_err().code, "zero_date");
        let null = TimeReading {
            zero_as_null: true,
            ..r
        };
        assert_eq!(null.instant("0000-00-00 00:00:00"), Ok(None));
        assert_eq!(null.instant("0000-00-00"), Ok(None));
        assert_eq!(null.date("0000-00-00"), Ok(None));
        assert!(Zone::parse("Mars/Olympus").is_err());
        assert!(Zone::parse("+25:00").is_err());
    }
}
