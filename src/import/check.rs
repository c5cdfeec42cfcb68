//! Row checks, pure and synchronous: every CSV value is parsed into the type
//! of its column (as the catalog describes it) and checked against the
//! business rules (`domain::vocabulary` enumerations, the reference's CHECK
//! patterns, exact money) before it may reach COPY. Never does I/O; the
//! checks against the database (duplicates, foreign keys) live in
//! `super::engine` and `super::foreign`.

use std::str::FromStr;
use std::sync::OnceLock;

use chrono::SecondsFormat;
use regex::Regex;
use rust_decimal::Decimal;
use uuid::Uuid;

use super::timestamps::TimeReading;
use crate::domain::money::Money;
use crate::domain::vocabulary::{self, EMAIL_PATTERN, PHONE_PATTERN};
use crate::store::pg::copy::escape_into;

/// The SQL type of a column, as far as import-csv can check it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlType {
    Uuid,
    Int {
        min: i64,
        max: i64,
    },
    /// NUMERIC(p, s); money columns are NUMERIC(10,2) and go through [`Money`].
    Numeric {
        precision: Option<u32>,
        scale: Option<u32>,
    },
    Bool,
    Date,
    TimestampTz,
    Varchar(Option<usize>),
    Text,
    Json,
    Inet,
}

impl SqlType {
    /// From information_schema's `data_type` and its modifiers; None for a
    /// type import-csv does not check (the caller refuses the column).
    pub fn from_catalog(
        data_type: &str,
        char_len: Option<i32>,
        precision: Option<i32>,
        scale: Option<i32>,
    ) -> Option<SqlType> {
        Some(match data_type {
            "uuid" => SqlType::Uuid,
            "smallint" => SqlType::Int {
                min: i16::MIN.into(),
                max: i16::MAX.into(),
            },
            "integer" => SqlType::Int {
                min: i32::MIN.into(),
                max: i32::MAX.into(),
            },
            "bigint" => SqlType::Int {
                min: i64::MIN,
                max: i64::MAX,
            },
            "numeric" => SqlType::Numeric {
                precision: precision.map(|p| p as u32),
                scale: scale.map(|s| s as u32),
            },
            "boolean" => SqlType::Bool,
            "date" => SqlType::Date,
            "timestamp with time zone" => SqlType::TimestampTz,
            "character varying" | "character" => SqlType::Varchar(char_len.map(|n| n as usize)),
            "text" => SqlType::Text,
            "json" | "jsonb" => SqlType::Json,
            "inet" => SqlType::Inet,
            _ => return None,
        })
    }
}

/// One column of the target table that the file fills.
#[derive(Debug, Clone)]
pub struct Column {
    pub name: String,
    pub ty: SqlType,
    pub not_null: bool,
    /// The allowed values, when `domain::vocabulary` enumerates the column.
    pub allowed: Option<&'static [&'static str]>,
    /// A CHECK pattern of the reference (users.email, users.phone).
    pub pattern: Option<Pattern>,
}

impl Column {
    pub fn new(table: &str, name: &str, ty: SqlType, not_null: bool) -> Column {
        let pattern = match (table, name) {
            ("users", "email") => Some(Pattern::Email),
            ("users", "phone") => Some(Pattern::Phone),
            _ => None,
        };
        Column {
            allowed: vocabulary::allowed(table, name),
            name: name.to_string(),
            ty,
            not_null,
            pattern,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    Email,
    Phone,
}

impl Pattern {
    /// The reference's patterns run under PostgreSQL's `~*`. Its `\d` and
    /// `[A-Za-z]` are ASCII (glibc's digit class is 0-9, and case folding adds
    /// only each letter's own counterpart), so the Rust regex runs with Unicode
    /// off: Unicode `(?i)` would let the Kelvin sign match `k`, which PostgreSQL
    /// refuses. The patterns already list both cases, so `i` changes nothing.
    fn regex(self) -> &'static Regex {
        static EMAIL: OnceLock<Regex> = OnceLock::new();
        static PHONE: OnceLock<Regex> = OnceLock::new();
        let (cell, source) = match self {
            Pattern::Email => (&EMAIL, EMAIL_PATTERN),
            Pattern::Phone => (&PHONE, PHONE_PATTERN),
        };
        cell.get_or_init(|| Regex::new(&format!("(?i-u){source}")).expect("static pattern"))
    }

    pub fn matches(self, value: &str) -> bool {
        self.regex().is_match(value)
    }

    fn code(self) -> &'static str {
        match self {
            Pattern::Email => "invalid_email",
            Pattern::Phone => "invalid_phone",
        }
    }
}

/// Why one value was refused: a stable code (counted in the summary) and the detail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub column: String,
    pub code: &'static str,
    pub detail: String,
}

impl Problem {
    pub fn new(column: &str, code: &'static str, detail: impl Into<String>) -> Problem {
        Problem {
            column: column.to_string(),
            code,
            detail: detail.into(),
        }
    }
}

/// JSON nested deeper than this is refused (`json_depth`). PostgreSQL's
/// parser recurses once per level and stops at `max_stack_depth` (about
/// 13,000 levels at its default 2MB, far fewer on a server set lower), failing
/// the whole COPY; no real document nests a thousand levels.
pub const MAX_JSON_DEPTH: usize = 1000;

/// How deep `text` nests its arrays and objects (strings skipped).
pub fn json_depth(text: &str) -> usize {
    let (mut depth, mut max, mut in_string, mut escaped) = (0usize, 0, false, false);
    for &b in text.as_bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Checks `value` (None for NULL) for `column` and appends its COPY text
/// encoding to `out`; timestamps are read as `time` says. On a problem
/// `out` may hold a partial field: the caller drops the whole row.
pub fn check_value(
    column: &Column,
    value: Option<&str>,
    time: &TimeReading,
    out: &mut Vec<u8>,
) -> Result<(), Problem> {
    let name = column.name.as_str();
    // NULL: refused in a NOT NULL column, `\N` for COPY otherwise.
    let null = |out: &mut Vec<u8>, what: &str| {
        if column.not_null {
            return Err(Problem::new(
                name,
                "not_null",
                format!("`{name}` is NOT NULL and the field is {what}"),
            ));
        }
        out.extend_from_slice(b"\\N");
        Ok(())
    };
    let Some(text) = value else {
        return null(out, "empty");
    };
    let bad = |what: &str| {
        Problem::new(
            name,
            "bad_type",
            format!("`{text}` is not {what} (column `{name}`)"),
        )
    };
    match &column.ty {
        SqlType::Uuid => {
            let id = Uuid::parse_str(text).map_err(|_| bad("a UUID"))?;
            let mut buf = Uuid::encode_buffer();
            out.extend_from_slice(id.hyphenated().encode_lower(&mut buf).as_bytes());
        }
        SqlType::Int { min, max } => {
            let n: i64 = text.parse().map_err(|_| bad("an integer"))?;
            if n < *min || n > *max {
                return Err(Problem::new(
                    name,
                    "out_of_range",
                    format!("{n} is outside {min}..={max} (column `{name}`)"),
                ));
            }
            out.extend_from_slice(n.to_string().as_bytes());
        }
        SqlType::Numeric { precision, scale } => {
            let amount = check_numeric(name, text, *precision, *scale)?;
            out.extend_from_slice(amount.as_bytes());
        }
        SqlType::Bool => {
            // PostgreSQL's boolean input, less its unambiguous prefixes.
            let b = match text.to_ascii_lowercase().as_str() {
                "t" | "true" | "y" | "yes" | "on" | "1" => b't',
                "f" | "false" | "n" | "no" | "off" | "0" => b'f',
                _ => return Err(bad("a boolean (true/false)")),
            };
            out.push(b);
        }
        SqlType::Date => {
            let fault = |f: super::timestamps::TimeFault| {
                Problem::new(name, f.code, format!("{} (column `{name}`)", f.detail))
            };
            match time.date(text).map_err(fault)? {
                Some(d) => out.extend_from_slice(d.format("%Y-%m-%d").to_string().as_bytes()),
                None => return null(out, "a zero date, read as NULL"),
            }
        }
        SqlType::TimestampTz => {
            // A bare local time is never left to the session's TimeZone,
            // which is not the old system's: `time` reads it, or refuses it.
            let fault = |f: super::timestamps::TimeFault| {
                Problem::new(name, f.code, format!("{} (column `{name}`)", f.detail))
            };
            match time.instant(text).map_err(fault)? {
                Some(t) => {
                    out.extend_from_slice(t.to_rfc3339_opts(SecondsFormat::AutoSi, true).as_bytes())
                }
                None => return null(out, "a zero date, read as NULL"),
            }
        }
        SqlType::Varchar(limit) => {
            if let Some(limit) = limit {
                let len = text.chars().count();
                if len > *limit {
                    return Err(Problem::new(
                        name,
                        "too_long",
                        format!("{len} characters, `{name}` holds at most {limit}"),
                    ));
                }
            }
            escape_into(out, text);
        }
        SqlType::Text => escape_into(out, text),
        SqlType::Json => {
            serde_json::from_str::<serde::de::IgnoredAny>(text).map_err(|_| bad("JSON"))?;
            let depth = json_depth(text);
            if depth > MAX_JSON_DEPTH {
                return Err(Problem::new(
                    name,
                    "json_depth",
                    format!(
                        "the JSON nests {depth} levels deep, more than the {MAX_JSON_DEPTH} \
                         import-csv lets through (PostgreSQL's parser gives up past its stack \
                         depth limit) (column `{name}`)"
                    ),
                ));
            }
            escape_into(out, text);
        }
        SqlType::Inet => {
            let addr = text.split_once('/').map_or(text, |(a, _)| a);
            let prefix_ok = text
                .split_once('/')
                .is_none_or(|(_, p)| p.parse::<u8>().is_ok_and(|p| p <= 128));
            if addr.parse::<std::net::IpAddr>().is_err() || !prefix_ok {
                return Err(bad("an IP address"));
            }
            escape_into(out, text);
        }
    }
    if let Some(allowed) = column.allowed {
        if !allowed.contains(&text) {
            return Err(Problem::new(
                name,
                "not_allowed",
                format!("`{text}` is not one of {}", allowed.join(", ")),
            ));
        }
    }
    if let Some(pattern) = column.pattern {
        if !pattern.matches(text) {
            let rule = match pattern {
                Pattern::Email => EMAIL_PATTERN,
                Pattern::Phone => PHONE_PATTERN,
            };
            return Err(Problem::new(
                name,
                pattern.code(),
                format!("`{text}` does not match {rule}"),
            ));
        }
    }
    Ok(())
}

/// The form in which a checked value is compared with the table's (unique
/// keys, foreign keys, upsert keys): what PostgreSQL prints for the SQL of
/// [`canonical_sql`]. UUIDs in lower case, instants in UTC (read as `time`
/// says), the rest as written.
pub fn canonical(ty: &SqlType, text: &str, time: &TimeReading) -> String {
    match ty {
        SqlType::Uuid => {
            Uuid::parse_str(text).map_or_else(|_| text.to_string(), |u| u.hyphenated().to_string())
        }
        SqlType::TimestampTz => time.instant(text).ok().flatten().map_or_else(
            || text.to_string(),
            |t| t.to_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        ),
        _ => text.to_string(),
    }
}

/// The SQL expression that prints column `quoted` as [`canonical`] does.
pub fn canonical_sql(ty: &SqlType, quoted: &str) -> String {
    match ty {
        SqlType::TimestampTz => {
            format!("to_char({quoted} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.US')")
        }
        _ => format!("{quoted}::text"),
    }
}

/// An exact decimal for NUMERIC(p, s): never rounded. Scale 2 is money and
/// goes through [`Money`], which refuses a third decimal.
fn check_numeric(
    name: &str,
    text: &str,
    precision: Option<u32>,
    scale: Option<u32>,
) -> Result<String, Problem> {
    let amount: Decimal = if scale == Some(2) {
        Money::from_str(text)
            .map_err(|e| Problem::new(name, "bad_money", format!("{e} (column `{name}`)")))?
            .amount()
    } else {
        let d = Decimal::from_str_exact(text.trim()).map_err(|_| {
            Problem::new(
                name,
                "bad_type",
                format!("`{text}` is not a number (column `{name}`)"),
            )
        })?;
        if let Some(s) = scale {
            if d.normalize().scale() > s {
                return Err(Problem::new(
                    name,
                    "too_precise",
                    format!("`{text}` has more than {s} decimals (column `{name}`)"),
                ));
            }
        }
        d
    };
    if let (Some(p), Some(s)) = (precision, scale) {
        let limit = Decimal::from_i128_with_scale(10i128.pow(p - s), 0);
        if amount.abs() >= limit {
            return Err(Problem::new(
                name,
                "out_of_range",
                format!("`{text}` does not fit NUMERIC({p},{s}) (column `{name}`)"),
            ));
        }
    }
    Ok(amount.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(ty: SqlType, not_null: bool) -> Column {
        Column::new("t", "c", ty, not_null)
    }

    fn check(column: &Column, value: Option<&str>) -> Result<String, &'static str> {
        let mut out = Vec::new();
        check_value(column, value, &TimeReading::default(), &mut out)
            .map(|()| String::from_utf8(out).unwrap())
            .map_err(|p| p.code)
    }

    #[test]
    fn patterns_match_what_postgresql_accepts() {
        let email = Pattern::Email;
        assert!(email.matches("a.b+c@example.co.in"));
        assert!(email.matches("UPPER@EXAMPLE.COM"));
        assert!(!email.matches("no-at-sign.example.com"));
        assert!(!email.matches("a@b.c"));
        // U+212A KELVIN SIGN folds to `k` in Unicode, not in PostgreSQL.
        assert!(!email.matches("a@example.\u{212A}m"));
        let phone = Pattern::Phone;
        assert!(phone.matches("+919876543210"));
        assert!(phone.matches("9876543210"));
        assert!(!phone.matches("0876543210"));
        assert!(!phone.matches("98765"));
        // Arabic-Indic digits are digits to Unicode, not to PostgreSQL's \d.
        assert!(!phone.matches("٩٨٧٦٥٤٣٢١٠"));
        assert!(!phone.matches("9876543210\n"));
    }

    #[test]
    fn users_columns_get_their_rules() {
        let status = Column::new("users", "status", SqlType::Varchar(Some(20)), false);
        assert_eq!(check(&status, Some("active")), Ok("active".into()));
        assert_eq!(check(&status, Some("gone")), Err("not_allowed"));
        let phone = Column::new("users", "phone", SqlType::Varchar(Some(15)), true);
        assert_eq!(check(&phone, None), Err("not_null"));
        assert_eq!(check(&phone, Some("12")), Err("invalid_phone"));
    }

    #[test]
    fn values_are_parsed_exactly() {
        let money = col(
            SqlType::Numeric {
                precision: Some(10),
                scale: Some(2),
            },
            false,
        );
        assert_eq!(check(&money, Some("12.5")), Ok("12.50".into()));
        assert_eq!(check(&money, Some("12.345")), Err("bad_money"));
        assert_eq!(check(&money, Some("100000000")), Err("out_of_range"));
        assert_eq!(check(&money, None), Ok("\\N".into()));
        let int = col(SqlType::Int { min: 0, max: 10 }, false);
        assert_eq!(check(&int, Some("11")), Err("out_of_range"));
        assert_eq!(check(&int, Some("x")), Err("bad_type"));
        let b = col(SqlType::Bool, false);
        assert_eq!(check(&b, Some("TRUE")), Ok("t".into()));
        assert_eq!(check(&b, Some("maybe")), Err("bad_type"));
        let d = col(SqlType::Date, false);
        assert_eq!(check(&d, Some("2026-02-30")), Err("bad_type"));
        let ts = col(SqlType::TimestampTz, false);
        assert_eq!(check(&ts, Some("2026-01-15 10:00:00")), Err("no_time_zone"));
        assert_eq!(
            check(&ts, Some("2026-01-15 10:00:00+05:30")),
            Ok("2026-01-15T04:30:00Z".into())
        );
        assert_eq!(check(&ts, Some("0000-00-00 00:00:00")), Err("zero_date"));
        let nested = format!(
            "{}{}",
            "[".repeat(MAX_JSON_DEPTH + 1),
            "]".repeat(MAX_JSON_DEPTH + 1)
        );
        assert_eq!(
            check(&col(SqlType::Json, false), Some(&nested)),
            Err("json_depth")
        );
        assert_eq!(json_depth(r#"{"a":"[[[[","b":[{"c":"\"["}]}"#), 3);
        let v = col(SqlType::Varchar(Some(3)), false);
        assert_eq!(check(&v, Some("ünï")), Ok("ünï".into()));
        assert_eq!(check(&v, Some("abcd")), Err("too_long"));
        assert_eq!(
            check(&col(SqlType::Text, false), Some("a\tb")),
            Ok("a\\tb".into())
        );
        assert_eq!(
            check(&col(SqlType::Json, false), Some("{")),
            Err("bad_type")
        );
        let ip = col(SqlType::Inet, false);
        assert_eq!(check(&ip, Some("10.0.0.1")), Ok("10.0.0.1".into()));
        assert_eq!(check(&ip, Some("10.0.0.300")), Err("bad_type"));
    }
}
