//! How long the breaker stays open: fixed, exponential with a cap, optionally jittered.
//!
//! Jitter spreads the moment many breakers (or many processes sharing one upstream) try again, so
//! that a recovering service is not hit by all of them at once.

use core::fmt;

use portable_atomic::{AtomicU32, Ordering};

use crate::clock::{micros, Duration};

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
///
/// Kept in whole microseconds (`u64`), so that the transitions, a Lua mirror and the simulator
/// compute the same deadlines with integer arithmetic.
#[derive(Clone, Copy)]
pub struct Backoff {
    /// The first open duration, in microseconds.
    pub(crate) base: u64,
    pub(crate) multiplier: u32,
    /// The longest open duration before jitter, in microseconds.
    pub(crate) max: u64,
    /// Parts per million of the duration that jitter may take away.
    pub(crate) jitter_ppm: u32,
    pub(crate) random: Option<&'static dyn Random>,
}

impl Backoff {
    /// A fixed open duration (in whole microseconds).
    pub const fn fixed(d: Duration) -> Self {
        Backoff {
            base: micros(d),
            multiplier: 1,
            max: micros(d),
            jitter_ppm: 0,
            random: None,
        }
    }

    /// The base (first) open duration.
    pub const fn base(&self) -> Duration {
        Duration::from_micros(self.base)
    }

    /// The base (first) open duration in microseconds.
    pub const fn base_micros(&self) -> u64 {
        self.base
    }

    /// The longest open duration before jitter, in microseconds.
    pub const fn max_micros(&self) -> u64 {
        self.max
    }

    /// The open duration after `opens` consecutive opens (0 for the first), before jitter.
    pub const fn nominal(&self, opens: u8) -> Duration {
        Duration::from_micros(self.nominal_micros(opens))
    }

    /// [`Backoff::nominal`] in microseconds.
    // Out of line: the transitions and the deadline helper each need it, and its 64-bit
    // saturating loop inlined at each is flash a microcontroller pays for.
    #[inline(never)]
    pub const fn nominal_micros(&self, opens: u8) -> u64 {
        let mut d = self.base;
        let mut k = 0;
        // At most 31 doublings (the level is 5 bits): the loop is short and const-friendly.
        while k < opens && d < self.max {
            d = d.saturating_mul(self.multiplier as u64);
            k += 1;
        }
        if d < self.max {
            d
        } else {
            self.max
        }
    }

    /// The open duration after `opens` consecutive opens, with jitter drawn from `random` (a
    /// uniform `u32`); without jitter configured, `random` is ignored.
    pub const fn duration(&self, opens: u8, random: u32) -> Duration {
        Duration::from_micros(self.duration_micros(opens, random))
    }

    /// [`Backoff::duration`] in microseconds: what the transitions add to `now`.
    pub const fn duration_micros(&self, opens: u8, random: u32) -> u64 {
        let d = self.nominal_micros(opens);
        if self.jitter_ppm == 0 {
            return d;
        }
        // cut = d * jitter * (random / 2^32), in integers so that a Lua mirror computes the same.
        // `d * ppm / 10^6` is split into whole seconds and the rest, which is exact and stays in
        // 64 bits (d < 2^50): no 128-bit division, which costs a microcontroller a kilobyte.
        let (whole, rest) = (d / 1_000_000, d % 1_000_000);
        let ppm = self.jitter_ppm as u64;
        let max_cut = whole * ppm + rest * ppm / 1_000_000;
        // (max_cut * random) >> 32 without a 128-bit product: max_cut <= d < 2^50, so with
        // max_cut = hi * 2^32 + lo, hi * random < 2^50 and lo * random < 2^64, and the shift of
        // the sum is hi * random plus the shifted low product, exactly.
        let (hi, lo) = (max_cut >> 32, max_cut & 0xFFFF_FFFF);
        let cut = hi * random as u64 + ((lo * random as u64) >> 32);
        d.saturating_sub(cut)
    }

    /// Whether [`Backoff::duration`] uses its random input (so callers draw one only then).
    pub const fn is_jittered(&self) -> bool {
        self.jitter_ppm != 0
    }
}

impl fmt::Debug for Backoff {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Backoff")
            .field("base", &Duration::from_micros(self.base))
            .field("multiplier", &self.multiplier)
            .field("max", &Duration::from_micros(self.max))
            .field("jitter_ppm", &self.jitter_ppm)
            .field("random", &self.random.map(|_| "dyn Random"))
            .finish()
    }
}

/// Readers for mirrors of the open-duration policy in another store (the Redis breaker's Lua).
impl Backoff {
    /// The factor applied per re-open (1 for a fixed duration).
    pub const fn multiplier(&self) -> u32 {
        self.multiplier
    }

    /// The longest open duration, before jitter.
    pub const fn max(&self) -> Duration {
        Duration::from_micros(self.max)
    }

    /// The largest part of a duration that jitter takes away, in parts per million (0: none).
    pub const fn jitter_ppm(&self) -> u32 {
        self.jitter_ppm
    }

    /// The random source jitter draws from, if jitter is configured.
    pub fn random(&self) -> Option<&'static dyn Random> {
        self.random
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_is_capped() {
        let b = Backoff {
            base: 1_000_000,
            multiplier: 2,
            max: 10_000_000,
            jitter_ppm: 0,
            random: None,
        };
        let secs: [u64; 6] = core::array::from_fn(|k| b.nominal(k as u8).as_secs());
        assert_eq!(secs, [1, 2, 4, 8, 10, 10]);
        assert_eq!(b.nominal(31), Duration::from_secs(10));
    }

    #[test]
    fn jitter_only_shortens_within_its_fraction() {
        let b = Backoff {
            base: 10_000_000,
            multiplier: 1,
            max: 10_000_000,
            jitter_ppm: 500_000,
            random: None,
        };
        assert_eq!(b.duration(0, 0), Duration::from_secs(10));
        let shortest = b.duration(0, u32::MAX);
        assert!(shortest >= Duration::from_secs(5) && shortest < Duration::from_millis(5_001));
        // The split product equals the 128-bit one it replaces.
        let d = Backoff {
            base: (1 << 50) - 1,
            max: (1 << 50) - 1,
            jitter_ppm: 1_000_000,
            ..b
        };
        for r in [0, 1, 0x8000_0000, 0xDEAD_BEEF, u32::MAX] {
            let expected = (1u64 << 50) - 1 - ((((1u128 << 50) - 1) * r as u128) >> 32) as u64;
            assert_eq!(d.duration_micros(0, r), expected);
        }
        let rng = XorShift32::new(7);
        let (a, c) = (rng.next_u32(), rng.next_u32());
        assert_ne!(a, c);
    }
}
