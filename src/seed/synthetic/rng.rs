//! Deterministic randomness: one independent stream per (kind, index), so any
//! entity (user 41's orders, merchant 7) can be regenerated alone, in any
//! order, and always comes out the same for a given `--rng-seed`.
//!
//! Every stream is a ChaCha8 generator seeded with `seed_from_u64(rng_seed)`,
//! switched to the kind's ChaCha stream and advanced to a window of 2^32
//! words reserved for the index. Nothing here may consult the clock, the
//! environment or a HashMap's iteration order.

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

/// What a stream generates. The discriminant is the ChaCha stream number:
/// never renumber a kind, or every dataset changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Admin = 1,
    Merchant = 2,
    User = 3,
    Orders = 4,
    Referral = 5,
    Wallet = 6,
    Global = 7,
    ReferralBlock = 8,
    /// The MongoDB documents (`super::activity`).
    Activity = 9,
    RedemptionEvent = 10,
    Experiment = 11,
    UserLogs = 12,
}

/// The generator of entity `index` of `kind`.
pub fn stream(rng_seed: u64, kind: Kind, index: u64) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(rng_seed);
    rng.set_stream(kind as u64);
    rng.set_word_pos(u128::from(index) << 32);
    rng
}

/// A random (version 4) UUID drawn from `rng`.
pub fn uuid(rng: &mut impl Rng) -> Uuid {
    uuid::Builder::from_random_bytes(rng.random()).into_uuid()
}

/// True `per_mille` times in a thousand.
pub fn chance(rng: &mut impl Rng, per_mille: u32) -> bool {
    rng.random_range(0..1000) < per_mille
}

pub fn pick<'a, T>(rng: &mut impl Rng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// A copy of one of `items` (names, labels).
pub fn choose<T: Copy>(rng: &mut impl Rng, items: &[T]) -> T {
    *pick(rng, items)
}

/// An index into `weights`, each chosen in proportion to its weight.
pub fn weighted(rng: &mut impl Rng, weights: &[u32]) -> usize {
    let total: u32 = weights.iter().sum();
    let mut roll = rng.random_range(0..total);
    for (i, &w) in weights.iter().enumerate() {
        if roll < w {
            return i;
        }
        roll -= w;
    }
    weights.len() - 1
}

/// A whole-second instant uniformly in `[from, to]` (`from` when the range is empty).
pub fn instant(rng: &mut impl Rng, from: DateTime<Utc>, to: DateTime<Utc>) -> DateTime<Utc> {
    let span = (to - from).num_seconds();
    if span <= 0 {
        return from;
    }
    from + Duration::seconds(rng.random_range(0..=span))
}

pub fn minutes(rng: &mut impl Rng, from: i64, to: i64) -> Duration {
    Duration::seconds(rng.random_range(from * 60..=to * 60))
}

/// `len` random characters from `alphabet` (ids of gateways, hashes, codes).
pub fn token(rng: &mut impl Rng, alphabet: &[u8], len: usize) -> String {
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

pub const BASE36: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
pub const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
pub const DIGITS: &[u8] = b"0123456789";

/// Scrambles `n` within `[0, modulus)` one-to-one: unique inputs give unique
/// outputs (phone numbers, order codes) that do not look sequential.
/// `multiplier` must share no prime factor with `modulus`.
pub fn scramble(n: u64, multiplier: u64, modulus: u64) -> u64 {
    ((u128::from(n) * u128::from(multiplier) + 7_919) % u128::from(modulus)) as u64
}

/// `n` in base 36, zero-padded to `width`.
pub fn base36(mut n: u64, width: usize) -> String {
    let mut out = vec![b'0'; width];
    for slot in out.iter_mut().rev() {
        *slot = BASE36[(n % 36) as usize];
        n /= 36;
    }
    String::from_utf8(out).expect("ASCII")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_independent() {
        let a: [u64; 4] = stream(42, Kind::User, 7).random();
        let b: [u64; 4] = stream(42, Kind::User, 7).random();
        assert_eq!(a, b);
        assert_ne!(a, stream(42, Kind::User, 8).random::<[u64; 4]>());
        assert_ne!(a, stream(42, Kind::Orders, 7).random::<[u64; 4]>());
        assert_ne!(a, stream(43, Kind::User, 7).random::<[u64; 4]>());
        assert_eq!(uuid(&mut stream(1, Kind::User, 0)).get_version_num(), 4);
    }

    #[test]
    fn scramble_is_one_to_one() {
        let modulus = 10_000;
        let mut seen = vec![false; modulus as usize];
        for n in 0..modulus {
            let s = scramble(n, 2_654_435_761, modulus) as usize;
            assert!(!seen[s], "collision at {n}");
            seen[s] = true;
        }
        assert_eq!(base36(35, 3), "00Z");
        assert_eq!(base36(36, 3), "010");
    }

    #[test]
    fn weighted_and_instant_stay_in_range() {
        let mut rng = stream(3, Kind::Global, 0);
        for _ in 0..1000 {
            assert!(weighted(&mut rng, &[1, 0, 5]) != 1);
        }
        let from = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let to = from + Duration::hours(1);
        for _ in 0..100 {
            let t = instant(&mut rng, from, to);
            assert!(from <= t && t <= to);
        }
        assert_eq!(instant(&mut rng, to, from), to);
    }
}
