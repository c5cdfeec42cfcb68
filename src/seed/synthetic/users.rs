//! Users: who they are, where they live, when they signed up and when they
//! will order (the [`Skeleton`]), and their profile rows (users,
//! user_addresses, user_colleges).
//!
//! A skeleton is cheap and comes only from the user's own random stream, so
//! other generators can ask for any user's skeleton (a referrer needs its
//! referees' signup times) without generating that user. It must stay a pure
//! function of (rng seed, index, world): never of another user's state.

use chrono::{DateTime, Datelike, Duration, Utc};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use uuid::Uuid;

use super::people::{self, Person};
use super::places::CITIES;
use super::rng::{self, chance, pick, stream, weighted, Kind};
use super::tables::UserTables;
use super::World;

/// When an order is placed and when it settles (completed or cancelled).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slot {
    pub placed_at: DateTime<Utc>,
    pub settle_at: DateTime<Utc>,
}

#[derive(Debug, Clone)]
pub struct Skeleton {
    pub index: u64,
    pub id: Uuid,
    pub wallet_id: Uuid,
    pub person: Person,
    pub city: usize,
    pub created_at: DateTime<Utc>,
    /// One of `vocabulary::allowed("users", "status")`.
    pub status: &'static str,
    pub account_type: &'static str,
    pub deleted_at: Option<DateTime<Utc>>,
    /// Orders in time order, each settling before the next is placed.
    pub slots: Vec<Slot>,
}

impl Skeleton {
    /// Soft-deleted users keep their rows but never hold coins or cash.
    pub fn deleted(&self) -> bool {
        self.status == "deleted"
    }

    /// When the first order completed (the first order always completes
    /// unless it is still in progress at `now`).
    pub fn first_completed_at(&self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.slots
            .first()
            .map(|s| s.settle_at)
            .filter(|t| *t <= now)
    }

    /// The code a referee types in: unique per user.
    pub fn referral_code(&self) -> String {
        format!(
            "REZ{}",
            rng::base36(rng::scramble(self.index, 2_654_435_761, 36u64.pow(7)), 7)
        )
    }
}

/// How many orders a user places in the window (0 to 14, about 3 on average).
const ORDER_COUNT_WEIGHTS: [u32; 15] = [9, 14, 16, 15, 13, 10, 8, 6, 4, 2, 1, 1, 1, 1, 1];

/// User `i`'s skeleton, and the stream positioned after it for the profile.
pub fn skeleton(world: &World, i: u64) -> (Skeleton, ChaCha8Rng) {
    let now = world.params.now;
    let mut rng = stream(world.params.rng_seed, Kind::User, i);
    let id = rng::uuid(&mut rng);
    let wallet_id = rng::uuid(&mut rng);
    let person = people::person(&mut rng);
    let weights: Vec<u32> = CITIES.iter().map(|c| c.weight).collect();
    let city = weighted(&mut rng, &weights);
    let created_at = rng::instant(
        &mut rng,
        world.start + Duration::days(1),
        now - Duration::days(1),
    );
    let status = ["active", "suspended", "deleted"][weighted(&mut rng, &[965, 15, 20])];
    let deleted_at =
        (status == "deleted").then(|| rng::instant(&mut rng, created_at + Duration::hours(1), now));
    let account_type = match weighted(&mut rng, &[83, 12, 5]) {
        1 if !world.catalog.colleges.is_empty() => "student",
        2 => "corporate",
        _ => "regular",
    };
    let count = if status == "deleted" {
        0
    } else {
        weighted(&mut rng, &ORDER_COUNT_WEIGHTS)
    };
    let earliest = (created_at + Duration::minutes(30)).max(world.orders_from);
    let latest = now - Duration::minutes(5);
    let mut times: Vec<DateTime<Utc>> = (0..count)
        .map(|_| rng::instant(&mut rng, earliest, latest))
        .collect();
    times.sort();
    let mut slots = Vec::with_capacity(count);
    let mut free_from = earliest;
    for t in times {
        let placed_at = t.max(free_from);
        if placed_at > latest {
            break;
        }
        let settle_at = placed_at + rng::minutes(&mut rng, 25, 120);
        slots.push(Slot {
            placed_at,
            settle_at,
        });
        free_from = settle_at + Duration::minutes(10);
    }
    (
        Skeleton {
            index: i,
            id,
            wallet_id,
            person,
            city,
            created_at,
            status,
            account_type,
            deleted_at,
            slots,
        },
        rng,
    )
}

/// The users, user_addresses and user_colleges rows of `sk`.
pub fn encode(world: &World, sk: &Skeleton, rng: &mut ChaCha8Rng, out: &mut UserTables) {
    let now = world.params.now;
    let city = &CITIES[sk.city];
    let phone = people::unique_mobile(98 + (sk.index / 100_000_000) as u32, sk.index % 100_000_000);
    let email = chance(rng, 900).then(|| {
        sk.person
            .email(&sk.index.to_string(), people::email_domain(rng))
    });
    let password = chance(rng, 700).then(|| people::password_hash(rng));
    let born = now.date_naive() - Duration::days(rng.random_range(18 * 365..=50 * 365));
    let last_login = match sk.deleted_at {
        Some(t) => t,
        None => rng::instant(
            rng,
            sk.slots.last().map_or(sk.created_at, |s| s.placed_at),
            now,
        ),
    };
    out.users
        .row()
        .f(sk.id)
        .f(&phone)
        .f(&email)
        .f(password)
        .f(sk.person.full_name())
        .f(sk.person.gender)
        .f(born)
        .f(email.is_some() && chance(rng, 700))
        .f(true)
        .f(*pick(
            rng,
            &["en", "en", "en", "hi", "ta", "te", "mr", "bn"],
        ))
        .f(sk.status)
        .f(sk.account_type)
        .f(last_login)
        .f(sk.created_at)
        .f(sk.deleted_at.unwrap_or(sk.created_at))
        .f(sk.deleted_at)
        .end();
    for k in 0..weighted(rng, &[5, 70, 25]) {
        let (line1, locality) = people::street(rng, city);
        let (lat, lon) = people::coordinates(rng, city);
        out.user_addresses
            .row()
            .f(rng::uuid(rng))
            .f(sk.id)
            .f(["home", "work", "other"][k.min(2)])
            .f(sk.person.full_name())
            .f(&phone)
            .f(line1)
            .f(chance(rng, 500).then(|| format!("Flat {}", rng.random_range(101..=1204))))
            .f(format!("Near {locality} Metro"))
            .f(city.name)
            .f(city.state)
            .f(people::pincode(rng, city))
            .f(lat)
            .f(lon)
            .f(k == 0)
            .f(sk.created_at)
            .f(sk.created_at)
            .end();
    }
    if sk.account_type == "student" {
        encode_college(world, sk, rng, out);
    }
}

fn encode_college(world: &World, sk: &Skeleton, rng: &mut ChaCha8Rng, out: &mut UserTables) {
    let colleges = &world.catalog.colleges;
    let local: Vec<usize> = (0..colleges.len())
        .filter(|&c| colleges[c].city == CITIES[sk.city].name)
        .collect();
    let college = match local.as_slice() {
        [] => &colleges[rng.random_range(0..colleges.len())],
        some => &colleges[*pick(rng, some)],
    };
    let status = ["verified", "pending", "rejected"][weighted(rng, &[70, 20, 10])];
    let verified = status != "pending";
    let year = rng.random_range(1..=4);
    let at = sk.created_at + Duration::hours(rng.random_range(1..=72));
    let at = at.min(world.params.now);
    out.user_colleges
        .row()
        .f(rng::uuid(rng))
        .f(sk.id)
        .f(college.id)
        .f(format!(
            "20{}{:05}",
            rng.random_range(20..=25),
            rng.random_range(0..100_000)
        ))
        .f(college
            .email_domain
            .as_deref()
            .map(|d| sk.person.email(&sk.index.to_string(), d)))
        .f(*pick(
            rng,
            &["B.Tech", "B.Com", "B.Sc", "BBA", "M.Tech", "MBA", "B.A."],
        ))
        .f(year)
        .f(world.params.now.year() + 4 - year)
        .f(status)
        .f(verified.then_some(at))
        .f(verified.then(|| pick(rng, &world.admins).id))
        .f(status == "verified")
        .f(sk.created_at)
        .f(if verified { at } else { sk.created_at })
        .end();
}
