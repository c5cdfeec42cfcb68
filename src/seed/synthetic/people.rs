//! Plausible people and places: names, Indian mobile numbers, email
//! addresses, PIN codes, street addresses and coordinates inside a city.
//!
//! Every value it makes matches the schema's rules (the `valid_phone` and
//! `valid_email` patterns of `domain::vocabulary`, NUMERIC(10,8) coordinates)
//! and every uniqueness it promises comes from an index, never from luck.

use rand::Rng;
use rust_decimal::Decimal;

use super::places::{City, EMAIL_DOMAINS, FEMALE_NAMES, LAST_NAMES, MALE_NAMES};
use super::rng::{self, choose, pick};

#[derive(Debug, Clone, Copy)]
pub struct Person {
    pub first: &'static str,
    pub last: &'static str,
    /// One of `vocabulary::allowed("users", "gender")`.
    pub gender: &'static str,
}

impl Person {
    pub fn full_name(&self) -> String {
        format!("{} {}", self.first, self.last)
    }

    /// `first.last<tag>@domain`, lowercase ASCII: unique when `tag` is.
    pub fn email(&self, tag: &str, domain: &str) -> String {
        format!(
            "{}.{}{tag}@{domain}",
            self.first.to_ascii_lowercase(),
            self.last.to_ascii_lowercase()
        )
    }
}

pub fn person(rng: &mut impl Rng) -> Person {
    let female = rng::chance(rng, 480);
    let first = if female {
        *pick(rng, FEMALE_NAMES)
    } else {
        *pick(rng, MALE_NAMES)
    };
    let gender = match (female, rng.random_range(0..100)) {
        (_, 0) => "prefer_not_to_say",
        (_, 1) => "other",
        (true, _) => "female",
        (false, _) => "male",
    };
    Person {
        first,
        last: choose(rng, LAST_NAMES),
        gender,
    }
}

pub fn email_domain(rng: &mut impl Rng) -> &'static str {
    choose(rng, EMAIL_DOMAINS)
}

/// A mobile number unique to (`series`, `n`): `+91` then a two-digit series
/// starting with 6 to 9 and eight digits scrambled from `n` (n < 10^8).
pub fn unique_mobile(series: u32, n: u64) -> String {
    debug_assert!((60..100).contains(&series));
    format!(
        "+91{series}{:08}",
        rng::scramble(n, 2_654_435_761, 100_000_000)
    )
}

/// A mobile number that need not be unique (outlets, addresses).
pub fn mobile(rng: &mut impl Rng) -> String {
    format!(
        "+91{}{}",
        rng.random_range(6..=9),
        rng::token(rng, rng::DIGITS, 9)
    )
}

/// A bcrypt-shaped hash: the seeded accounts have no usable password.
pub fn password_hash(rng: &mut impl Rng) -> String {
    const BCRYPT: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    format!("$2b$12${}", rng::token(rng, BCRYPT, 53))
}

/// A six-digit PIN code of `city`.
pub fn pincode(rng: &mut impl Rng, city: &City) -> String {
    format!("{}{:03}", city.pin_prefix, rng.random_range(1..=99))
}

pub fn street(rng: &mut impl Rng, city: &City) -> (String, &'static str) {
    let locality = *pick(rng, city.localities);
    let kind = *pick(rng, &["Road", "Main Road", "Cross", "Lane", "Nagar"]);
    (
        format!("{}, {} {kind}", rng.random_range(1..=450), locality),
        locality,
    )
}

/// A point within the city's spread around its centre, as exact decimals
/// (6 places ≈ 0.1 m; the columns keep 8).
pub fn coordinates(rng: &mut impl Rng, city: &City) -> (Decimal, Decimal) {
    let lat = city.lat_micro + rng.random_range(-city.spread_micro..=city.spread_micro);
    let lon = city.lon_micro + rng.random_range(-city.spread_micro..=city.spread_micro);
    (Decimal::new(lat, 6), Decimal::new(lon, 6))
}

/// A point near (`lat`, `lon`): an outlet near its merchant, a delivery near home.
pub fn near(
    rng: &mut impl Rng,
    lat: Decimal,
    lon: Decimal,
    spread_micro: i64,
) -> (Decimal, Decimal) {
    let dlat = Decimal::new(rng.random_range(-spread_micro..=spread_micro), 6);
    let dlon = Decimal::new(rng.random_range(-spread_micro..=spread_micro), 6);
    (lat + dlat, lon + dlon)
}

/// Lowercase words joined by '-', ASCII letters and digits only.
pub fn slug(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seed::synthetic::places::CITIES;
    use crate::seed::synthetic::rng::{stream, Kind};

    #[test]
    fn mobiles_are_indian_and_unique_per_index() {
        let a = unique_mobile(98, 0);
        let b = unique_mobile(98, 1);
        assert_ne!(a, b);
        for phone in [&a, &b, &mobile(&mut stream(1, Kind::Global, 0))] {
            assert_eq!(phone.len(), 13, "{phone}");
            assert!(phone.starts_with("+91"));
            assert!(phone[3..].bytes().all(|c| c.is_ascii_digit()));
            assert!((b'6'..=b'9').contains(&phone.as_bytes()[3]));
        }
    }

    #[test]
    fn coordinates_stay_in_the_city() {
        let mut rng = stream(5, Kind::Global, 1);
        for city in CITIES {
            let (lat, lon) = coordinates(&mut rng, city);
            let spread = Decimal::new(city.spread_micro, 6);
            assert!((lat - Decimal::new(city.lat_micro, 6)).abs() <= spread);
            assert!((lon - Decimal::new(city.lon_micro, 6)).abs() <= spread);
            assert_eq!(pincode(&mut rng, city).len(), 6);
        }
        assert_eq!(slug("Kaju Katli 500 g!"), "kaju-katli-500-g");
    }
}
