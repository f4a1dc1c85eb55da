//! Time as the core sees it: an [`Instant`] in whole microseconds, read from an injected
//! [`Clock`], and [`Duration`], which is [`core::time::Duration`] itself (so a
//! `std::time::Duration` is accepted wherever the crate takes a duration).
//!
//! The core never reads a clock on its own: the pure transitions in [`crate::machine`] take `now`
//! as an argument, and only the atomic [`crate::CircuitBreaker`] asks its `Clock`, and only when a
//! decision needs the time (never on the closed success path of the consecutive policy).
//!
//! Internally every span is a `u64` of microseconds ([`micros`] converts, saturating), so the
//! transitions stay integer and 64-bit: a Lua mirror and the simulator compute exactly the same,
//! and a microcontroller needs no 128-bit arithmetic.

use core::fmt;
use core::ops::{Add, Sub};

use portable_atomic::{AtomicU64, Ordering};

/// A span of time: [`core::time::Duration`], which `std::time::Duration` also is.
///
/// The breaker works in whole microseconds: a part below a microsecond is truncated, and a span
/// beyond `u64::MAX` µs counts as [`Duration::MAX`].
pub use core::time::Duration;

/// The horizons of time, defined with the machine's other limits (see [`crate::limits`]).
pub use crate::limits::{MAX_DURATION, MAX_DURATION_MICROS, MAX_INSTANT_MICROS};

/// Whole microseconds in `d`: truncated below a microsecond, saturating at `u64::MAX` (which is
/// what [`Duration::MAX`] becomes).
///
/// `core`'s own `Duration::as_micros` returns a `u128`; this stays in 64-bit arithmetic (a
/// multiplication and a 32-bit division by a constant), which on a 32-bit microcontroller costs a
/// few instructions instead of a library routine.
///
/// ```
/// use breaker_core::clock::micros;
/// use breaker_core::Duration;
///
/// assert_eq!(micros(Duration::from_millis(250)), 250_000);
/// assert_eq!(micros(Duration::from_nanos(1_999)), 1);
/// assert_eq!(micros(Duration::MAX), u64::MAX);
/// ```
#[inline]
pub const fn micros(d: Duration) -> u64 {
    let whole = d.as_secs().saturating_mul(1_000_000);
    whole.saturating_add(d.subsec_micros() as u64)
}

/// The [`Duration`] of `micros` microseconds, with `u64::MAX` (the saturated value of [`micros`])
/// mapped back to [`Duration::MAX`], so that "forever" survives the round trip.
#[inline]
pub(crate) const fn from_micros_or_max(micros: u64) -> Duration {
    if micros == u64::MAX {
        Duration::MAX
    } else {
        Duration::from_micros(micros)
    }
}

/// A point on a [`Clock`]'s monotonic timeline, in microseconds since the clock's own epoch.
///
/// A `u64` of microseconds keeps the arithmetic exact on 32-bit microcontrollers (no floats, no
/// 128-bit maths) and covers any uptime a device will see.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

impl Instant {
    /// The clock's epoch.
    pub const ZERO: Instant = Instant(0);

    /// An instant `micros` microseconds after the clock's epoch.
    pub const fn from_micros(micros: u64) -> Self {
        Instant(micros)
    }

    /// Microseconds since the clock's epoch.
    pub const fn as_micros(self) -> u64 {
        self.0
    }

    /// The time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration::from_micros(self.micros_since(earlier))
    }

    /// Microseconds from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn micros_since(self, earlier: Instant) -> u64 {
        self.0.saturating_sub(earlier.0)
    }

    /// `self + d` (in whole microseconds), or `None` if the sum overflows `u64`.
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match self.0.checked_add(micros(d)) {
            Some(v) => Some(Instant(v)),
            None => None,
        }
    }

    /// `self + d` (in whole microseconds), saturating at `u64::MAX` microseconds.
    pub const fn saturating_add(self, d: Duration) -> Instant {
        self.saturating_add_micros(micros(d))
    }

    /// `self + micros` microseconds, saturating at `u64::MAX` microseconds.
    pub const fn saturating_add_micros(self, micros: u64) -> Instant {
        Instant(self.0.saturating_add(micros))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    /// Saturating: a deadline past the end of time is "never", not a wrapped-around past.
    fn add(self, rhs: Duration) -> Instant {
        self.saturating_add(rhs)
    }
}

impl Sub for Instant {
    type Output = Duration;
    /// Saturating, like [`Instant::saturating_duration_since`].
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{:?}", Duration::from_micros(self.0))
    }
}

/// A monotonic time source.
///
/// # Contract
///
/// - `now` MUST be monotonic: a later call never returns an earlier instant, on any thread.
/// - `now` MUST NOT fail, block or panic; it may be called from any thread (and, on embedded
///   targets, from any task) that uses the breaker.
/// - The resolution is the implementor's: the breaker works at whole microseconds, and a coarser
///   clock only makes open durations and timeouts round to its tick.
/// - Instants MUST stay below [`MAX_INSTANT_MICROS`] (about 71 years after the clock's epoch):
///   start the epoch at boot or at process start, not at 1970.
///
/// The breaker asks for the time only when a decision needs it: leaving the open state, timing
/// a call for the slow-call rule, and time-window buckets.
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;

    /// A function that reads this clock with no instance at hand, for a clock that needs none
    /// (a [`GlobalClock`]): a rejection then works out its `retry_after` only when asked, so a
    /// breaker with a driver refuses calls without reading the clock. `None` by default.
    fn reader(&self) -> Option<fn() -> Instant> {
        None
    }
}

/// A clock that needs no instance of its own (it reads a global time source), so a breaker on it
/// is built without naming one, in a `const` or a `static`: `CircuitBreaker::new(config)`.
///
/// Runtime adapters implement it on a zero-sized type; so does `StdClock` (with `std`).
pub trait GlobalClock: Clock {
    /// The clock.
    const NEW: Self;
}

impl<C: Clock + ?Sized> Clock for &C {
    #[inline]
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn reader(&self) -> Option<fn() -> Instant> {
        (**self).reader()
    }
}

/// A clock that moves only when told to: for tests, simulations and replaying failure traces.
///
/// It is `const`-constructible (so it can live in a `static`), `Sync` (so many threads can share
/// it) and local to its owner: two tests with two clocks never disturb each other, unlike a global
/// or thread-local mock.
///
/// # Examples
///
/// ```
/// use breaker_core::{Clock, Duration, ManualClock};
///
/// static CLOCK: ManualClock = ManualClock::new();
/// CLOCK.advance(Duration::from_secs(2));
/// assert_eq!(CLOCK.now().as_micros(), 2_000_000);
/// ```
#[derive(Debug, Default)]
pub struct ManualClock {
    micros: AtomicU64,
}

impl ManualClock {
    /// A clock standing at its epoch.
    pub const fn new() -> Self {
        ManualClock {
            micros: AtomicU64::new(0),
        }
    }

    /// A clock standing at `start`.
    pub const fn starting_at(start: Instant) -> Self {
        ManualClock {
            micros: AtomicU64::new(start.0),
        }
    }

    /// Moves the clock forward by `d` (saturating at [`MAX_INSTANT_MICROS`]).
    pub fn advance(&self, d: Duration) {
        // fetch_update rather than fetch_add, so that concurrent advances never wrap the clock.
        let _ = self
            .micros
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |t| {
                Some(t.saturating_add(micros(d)).min(MAX_INSTANT_MICROS))
            });
    }

    /// Sets the clock to `t` if `t` is not earlier than now; a clock never runs backwards.
    ///
    /// Returns `false` (and leaves the clock alone) when `t` is in the past.
    pub fn set(&self, t: Instant) -> bool {
        let t = t.0.min(MAX_INSTANT_MICROS);
        self.micros.fetch_max(t, Ordering::AcqRel) <= t
    }
}

impl Clock for ManualClock {
    #[inline]
    fn now(&self) -> Instant {
        Instant(self.micros.load(Ordering::Acquire))
    }
}

/// The process's monotonic clock (`std::time::Instant`), counted from the first time any
/// `StdClock` is read: for synchronous code with no async runtime. Zero-sized.
#[cfg(feature = "std")]
#[derive(Clone, Copy, Debug, Default)]
pub struct StdClock;

#[cfg(feature = "std")]
impl GlobalClock for StdClock {
    const NEW: Self = StdClock;
}

#[cfg(feature = "std")]
impl Clock for StdClock {
    fn reader(&self) -> Option<fn() -> Instant> {
        Some(|| StdClock.now())
    }
    #[inline]
    fn now(&self) -> Instant {
        static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
        let base = *BASE.get_or_init(std::time::Instant::now);
        Instant::from_micros(micros(base.elapsed()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_debug_prints_a_readable_span() {
        assert_eq!(
            std::format!("{:?}", Instant::from_micros(1_500_000)),
            "t+1.5s"
        );
    }

    #[test]
    fn manual_clock_advances_and_never_goes_back() {
        let c = ManualClock::new();
        c.advance(Duration::from_millis(5));
        assert_eq!(c.now(), Instant::from_micros(5_000));
        assert!(!c.set(Instant::from_micros(10)));
        assert_eq!(c.now(), Instant::from_micros(5_000));
        assert!(c.set(Instant::from_micros(7_000)));
        assert_eq!(c.now(), Instant::from_micros(7_000));
        c.advance(Duration::MAX);
        assert_eq!(c.now().as_micros(), MAX_INSTANT_MICROS);
    }

    #[test]
    #[allow(clippy::std_instead_of_core)] // the point: a std duration is taken as it is
    fn durations_convert_and_saturate() {
        assert_eq!(micros(Duration::from_nanos(1_500)), 1);
        assert_eq!(micros(Duration::from_secs(u64::MAX)), u64::MAX);
        assert_eq!(micros(Duration::MAX), u64::MAX);
        let largest_exact = Duration::from_micros(u64::MAX - 1);
        assert_eq!(micros(largest_exact), u64::MAX - 1);
        assert_eq!(micros(std::time::Duration::from_secs(3)), 3_000_000);
        assert_eq!(from_micros_or_max(u64::MAX), Duration::MAX);
        assert_eq!(from_micros_or_max(7), Duration::from_micros(7));
        assert_eq!(MAX_DURATION.as_micros(), MAX_DURATION_MICROS as u128);
        // Agrees with core's 128-bit conversion wherever that fits in 64 bits.
        for d in [
            Duration::ZERO,
            Duration::new(1, 999_999_999),
            Duration::new(18_446_744_073_709, 551_615_999),
        ] {
            assert_eq!(micros(d) as u128, d.as_micros());
        }
        assert_eq!(
            Instant::from_micros(3) - Instant::from_micros(5),
            Duration::ZERO
        );
        assert_eq!(
            Instant::from_micros(u64::MAX) + Duration::from_micros(1),
            Instant::from_micros(u64::MAX)
        );
    }
}
