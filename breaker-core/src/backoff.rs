//! How long the breaker stays open: fixed, exponential with a cap, optionally jittered.
//!
//! Jitter spreads the moment many breakers (or many processes sharing one upstream) try again, so
//! that a recovering service is not hit by all of them at once.

use core::fmt;

use portable_atomic::{AtomicU32, Ordering};

use crate::clock::Duration;

/// A source of random numbers for jitter, usable without `std`.
///
/// # Contract
///
/// - `next_u32` MUST NOT block or panic, and may be called from several threads at once.
/// - Quality matters little (it spreads retry times); speed and availability on bare metal matter.
pub trait Random: Sync {
    /// A uniformly distributed `u32`.
    fn next_u32(&self) -> u32;
}

/// A small lock-free xorshift generator: the default source for users without a better one.
///
/// `const`-constructible, so it can sit in a `static` next to the breaker's configuration.
#[derive(Debug)]
pub struct XorShift32 {
    state: AtomicU32,
}

impl XorShift32 {
    /// A generator seeded with `seed` (a zero seed is replaced, since xorshift would stay at zero).
    pub const fn new(seed: u32) -> Self {
        XorShift32 {
            state: AtomicU32::new(if seed == 0 { 0x9E37_79B9 } else { seed }),
        }
    }
}

impl Random for XorShift32 {
    fn next_u32(&self) -> u32 {
        let step = |mut x: u32| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x
        };
        // fetch_update keeps concurrent callers from drawing the same number.
        let prev = self
            .state
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |x| Some(step(x)))
            .unwrap_or_else(|x| x);
        step(prev)
    }
}

/// The open duration's shape: `base * multiplier^k`, capped at `max`, where `k` counts the opens
/// since the breaker last closed, then shortened by up to `jitter` of itself.
#[derive(Clone, Copy)]
pub struct Backoff {
    pub(crate) base: Duration,
    pub(crate) multiplier: u32,
    pub(crate) max: Duration,
    /// Parts per million of the duration that jitter may take away.
    pub(crate) jitter_ppm: u32,
    pub(crate) random: Option<&'static dyn Random>,
}

impl Backoff {
    /// A fixed open duration.
    pub const fn fixed(d: Duration) -> Self {
        Backoff {
            base: d,
            multiplier: 1,
            max: d,
            jitter_ppm: 0,
            random: None,
        }
    }

    /// The base (first) open duration.
    pub const fn base(&self) -> Duration {
        self.base
    }

    /// The open duration after `opens` consecutive opens (0 for the first), before jitter.
    pub const fn nominal(&self, opens: u8) -> Duration {
        let mut d = self.base;
        let mut k = 0;
        // At most 31 doublings (the level is 5 bits): the loop is short and const-friendly.
        while k < opens && d.as_micros() < self.max.as_micros() {
            d = d.saturating_mul(self.multiplier as u64);
            k += 1;
        }
        d.min_of(self.max)
    }

    /// The open duration after `opens` consecutive opens, with jitter drawn from `random` (a
    /// uniform `u32`); without jitter configured, `random` is ignored.
    pub const fn duration(&self, opens: u8, random: u32) -> Duration {
        let d = self.nominal(opens);
        if self.jitter_ppm == 0 {
            return d;
        }
        // cut = d * jitter * (random / 2^32), in integers so that a Lua mirror computes the same.
        // `d * ppm / 10^6` is split into whole seconds and the rest, which is exact and stays in
        // 64 bits (d < 2^50): no 128-bit division, which costs a microcontroller a kilobyte.
        let (whole, rest) = (d.as_micros() / 1_000_000, d.as_micros() % 1_000_000);
        let ppm = self.jitter_ppm as u64;
        let max_cut = whole * ppm + rest * ppm / 1_000_000;
        let cut = ((max_cut as u128 * random as u128) >> 32) as u64;
        d.saturating_sub(Duration::from_micros(cut))
    }

    /// Whether [`Backoff::duration`] uses its random input (so callers draw one only then).
    pub const fn is_jittered(&self) -> bool {
        self.jitter_ppm != 0
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &self.base)
            .field("multiplier", &self.multiplier)
            .field("max", &self.max)
            .field("jitter_ppm", &self.jitter_ppm)
            .field("random", &self.random.map(|_| "dyn Random"))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_is_capped() {
        let b = Backoff {
            base: Duration::from_secs(1),
            multiplier: 2,
            max: Duration::from_secs(10),
            jitter_ppm: 0,
            random: None,
        };
        let secs: [u64; 6] = core::array::from_fn(|k| b.nominal(k as u8).as_micros() / 1_000_000);
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.nominal(31), Duration::from_secs(10));
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let b = Backoff {
            base: Duration::from_secs(10),
            multiplier: 1,
            max: Duration::from_secs(10),
            jitter_ppm: 500_000,
            random: None,
        };
        assert_eq!(b.duration(0, 0), Duration::from_secs(10));
        let shortest = b.duration(0, u32::MAX);
        assert!(shortest >= Duration::from_secs(5) && shortest < Duration::from_millis(5_001));
        let rng = XorShift32::new(7);
        let (a, c) = (rng.next_u32(), rng.next_u32());
        assert_ne!(a, c);
    }
}
