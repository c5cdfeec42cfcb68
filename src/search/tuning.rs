//! How many bulk requests a stream keeps in flight, chosen from the server's
//! answers ([`Tuner`]) unless a fixed number is asked for.
//!
//! The best concurrency depends on the server and on what shares its machine:
//! too few requests leave it idle between a reply and the next request, too
//! many only queue inside it (longer answers, no more documents per second) or
//! make it refuse work (429). So the stream measures, over a window of answered
//! requests at one concurrency, the documents answered per second and whether
//! the server pushed back, and [`next`] decides:
//!
//! 1. The server pushed back (a 429 or 5xx answer, items refused with 429, no
//!    answer; any of which the request's retries absorbed): halve, at least 1.
//! 2. Just raised: keep raising while docs/s rose by at least [`GAIN_PERCENT`]
//!    (up to the ceiling); otherwise go back to the concurrency before.
//! 3. Otherwise (held, or just lowered): after [`PROBE_AFTER`] windows at one
//!    concurrency, try one more (the server may have freed up). The first
//!    window is a probe upwards too.
//!
//! Only pushback lowers a level that rule 2 kept. An earlier rule also
//! lowered it when answers got slower without more docs/s; on noida-db, whose
//! answer times jump with its own pauses, that noise walked a 300,000-product
//! rebuild down to 1 request in flight where 3 was best (0.71x the curl
//! floor, docs/benchmarks.md): slower answers are not a refusal, and every
//! level above the start was kept only because raising to it paid.
//!
//! Pure: answers in, next concurrency out, no clock and no I/O, so the rule is
//! unit-tested; `search::Sender` does the measuring.

/// Bulk requests in flight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Concurrency {
    /// Always this many.
    Fixed(usize),
    /// From [`START`], chosen by [`next`], never above `ceiling`.
    Auto { ceiling: usize },
}

/// The concurrency an automatic stream starts at: one request being answered
/// while the next is built and sent, the least that keeps a server busy.
pub const START: usize = 2;

/// The default ceiling: past it, a 2-core server only queues requests.
pub const CEILING: usize = 8;

/// A raise is kept only when docs/s rose by at least this much: less is noise
/// on a shared machine.
pub const GAIN_PERCENT: u64 = 5;

/// Windows at one concurrency before trying one more.
pub const PROBE_AFTER: u32 = 4;

/// What the answers of one window of requests, all sent at one concurrency, said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub concurrency: usize,
    /// Documents answered per second over the window.
    pub docs_per_sec: u64,
    /// The server pushed back at least once (see the module's rule 1).
    pub throttled: bool,
}

/// The concurrency for the window after `now`, given the window before it
/// (`None` for the first), the windows `now`'s concurrency has already been
/// held for before `now` (`held`), and the ceiling.
pub fn next(previous: Option<&Window>, now: &Window, held: u32, ceiling: usize) -> usize {
    let ceiling = ceiling.max(1);
    let c = now.concurrency.clamp(1, ceiling);
    let up = (c + 1).min(ceiling);
    if now.throttled {
        return (c / 2).max(1);
    }
    let Some(before) = previous else {
        return up;
    };
    let rose = |by: u64| now.docs_per_sec * 100 >= before.docs_per_sec * (100 + by);
    if before.concurrency < now.concurrency {
        return match rose(GAIN_PERCENT) {
            true => up,
            false => before.concurrency.clamp(1, ceiling),
        };
    }
    match held + 1 >= PROBE_AFTER {
        true => up,
        false => c,
    }
}

/// Requests answered before a window is judged: enough to average over every
/// request in flight twice, and never fewer than four.
pub fn window_requests(concurrency: usize) -> usize {
    (2 * concurrency).max(4)
}

/// Follows the windows of one stream: the rule's memory.
#[derive(Debug, Clone)]
pub struct Tuner {
    ceiling: usize,
    current: usize,
    previous: Option<Window>,
    /// Windows judged at `current` since it was chosen.
    held: u32,
}

impl Tuner {
    pub fn new(ceiling: usize) -> Tuner {
        Tuner {
            ceiling: ceiling.max(1),
            current: START.min(ceiling.max(1)),
            previous: None,
            held: 0,
        }
    }

    pub fn current(&self) -> usize {
        self.current
    }

    /// Judges a finished window; the concurrency from now on.
    pub fn observe(&mut self, now: Window) -> usize {
        let chosen = next(self.previous.as_ref(), &now, self.held, self.ceiling);
        self.held = match chosen == self.current {
            true => self.held + 1,
            false => 0,
        };
        // At the ceiling a probe cannot go up: count the windows again.
        if self.held >= PROBE_AFTER {
            self.held = 0;
        }
        self.current = chosen;
        self.previous = Some(now);
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(concurrency: usize, docs_per_sec: u64) -> Window {
        Window {
            concurrency,
            docs_per_sec,
            throttled: false,
        }
    }

    #[test]
    fn the_first_window_probes_upwards_within_the_ceiling() {
        assert_eq!(next(None, &w(2, 10_000), 0, 8), 3);
        assert_eq!(next(None, &w(2, 10_000), 0, 2), 2);
        assert_eq!(next(None, &w(5, 10_000), 0, 3), 3, "clamped to the ceiling");
    }

    #[test]
    fn a_raise_is_kept_while_docs_per_sec_rises_and_undone_when_it_does_not() {
        assert_eq!(next(Some(&w(2, 10_000)), &w(3, 10_600), 0, 8), 4);
        // +4%: noise, not a gain.
        assert_eq!(next(Some(&w(3, 10_000)), &w(4, 10_400), 0, 8), 3);
        assert_eq!(next(Some(&w(3, 10_000)), &w(4, 9_000), 0, 8), 3);
        assert_eq!(next(Some(&w(7, 10_000)), &w(8, 12_000), 0, 8), 8);
    }

    #[test]
    fn pushback_halves_whatever_the_rate_said() {
        let throttled = Window {
            throttled: true,
            ..w(6, 20_000)
        };
        assert_eq!(next(Some(&w(5, 10_000)), &throttled, 0, 8), 3);
        let one = Window {
            throttled: true,
            ..w(1, 1_000)
        };
        assert_eq!(next(None, &one, 0, 8), 1, "never below one");
    }

    #[test]
    fn a_steady_level_is_probed_after_a_while() {
        // Just lowered: hold, then probe after PROBE_AFTER windows.
        assert_eq!(next(Some(&w(4, 10_000)), &w(3, 10_000), 0, 8), 3);
        assert_eq!(
            next(Some(&w(3, 10_000)), &w(3, 10_000), PROBE_AFTER - 1, 8),
            4
        );
        assert_eq!(
            next(Some(&w(8, 10_000)), &w(8, 10_000), PROBE_AFTER - 1, 8),
            8
        );
    }

    /// The defect of the first rule (bench/reindex_es.sh, 300,000 products on
    /// noida-db): docs/s that jump with the server's own pauses walked the
    /// level down to 1 where 3 was best. Noise never lowers a level now.
    #[test]
    fn noisy_answers_without_pushback_never_walk_the_level_down() {
        let mut t = Tuner::new(CEILING);
        for i in 0..200u64 {
            let c = t.current() as u64;
            // A server best at 3 in flight, every window +-30% at random-ish.
            let noise = [70, 130, 95, 60, 125, 100, 80][(i % 7) as usize];
            let docs = 4_000 * c.min(3) * noise / 100;
            t.observe(w(c as usize, docs));
            assert!(t.current() >= START, "window {i}: down to {}", t.current());
        }
    }

    #[test]
    fn a_tuner_climbs_to_where_the_server_stops_gaining_and_stays_there() {
        // A server that gains up to 4 requests in flight and only queues past it.
        let server = |c: usize| Window {
            concurrency: c,
            docs_per_sec: 4_000 * c.min(4) as u64,
            throttled: false,
        };
        let mut t = Tuner::new(CEILING);
        assert_eq!(t.current(), START);
        let mut seen = Vec::new();
        for _ in 0..12 {
            let c = t.current();
            seen.push(t.observe(server(c)));
        }
        assert_eq!(&seen[..3], &[3, 4, 5], "climbs while docs/s rises");
        assert_eq!(seen[3], 4, "steps back from the raise that gained nothing");
        assert!(seen[4..].iter().all(|&c| c == 4 || c == 5), "{seen:?}");
        assert!(seen.iter().filter(|&&c| c == 4).count() >= 7, "{seen:?}");
    }

    #[test]
    fn window_sizes_cover_every_request_in_flight_twice() {
        assert_eq!(window_requests(1), 4);
        assert_eq!(window_requests(5), 10);
    }
}
