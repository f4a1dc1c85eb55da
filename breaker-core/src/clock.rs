//! Time as the core sees it: an [`Instant`] and a [`Duration`] in whole microseconds, read from an
//! injected [`Clock`].
//!
//! The core never reads a clock on its own: the pure transitions in [`crate::machine`] take `now`
//! as an argument, and only the atomic [`crate::CircuitBreaker`] asks its `Clock`, and only when a
//! decision needs the time (never on the closed success path of the consecutive policy).

use core::fmt;
use core::ops::{Add, Sub};

use portable_atomic::{AtomicU64, Ordering};

/// The largest instant a clock may report: 2^51 µs, about 71 years of uptime.
///
/// The atomic breaker packs deadlines into 52 bits; keeping instants and durations below these
/// bounds is what lets `now + open duration` never overflow that field.
pub const MAX_INSTANT_MICROS: u64 = 1 << 51;

/// The longest duration a configuration may hold: 2^50 µs, about 35 years.
pub const MAX_DURATION_MICROS: u64 = 1 << 50;

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
        Duration(self.0.saturating_sub(earlier.0))
    }

    /// `self + d`, or `None` if the sum overflows `u64`.
    pub const fn checked_add(self, d: Duration) -> Option<Instant> {
        match self.0.checked_add(d.0) {
            Some(v) => Some(Instant(v)),
            None => None,
        }
    }

    /// `self + d`, saturating at `u64::MAX` microseconds.
    pub const fn saturating_add(self, d: Duration) -> Instant {
        Instant(self.0.saturating_add(d.0))
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
        write!(f, "t+{:?}", Duration(self.0))
    }
}

/// A span of time in microseconds.
///
/// Converts to and from [`core::time::Duration`] (sub-microsecond parts are truncated, and spans
/// beyond `u64::MAX` µs saturate).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration(u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// The longest representable span.
    pub const MAX: Duration = Duration(u64::MAX);

    /// `micros` microseconds.
    pub const fn from_micros(micros: u64) -> Self {
        Duration(micros)
    }
    /// `millis` milliseconds (saturating).
    pub const fn from_millis(millis: u64) -> Self {
        Duration(millis.saturating_mul(1_000))
    }
    /// `secs` seconds (saturating).
    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs.saturating_mul(1_000_000))
    }
    /// Whole microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Whole milliseconds (truncated).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
    /// `self * n`, saturating.
    pub const fn saturating_mul(self, n: u64) -> Duration {
        Duration(self.0.saturating_mul(n))
    }
    /// `self - rhs`, or zero.
    pub const fn saturating_sub(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_sub(rhs.0))
    }
    /// The smaller of two durations (a `const` [`Ord::min`]).
    pub const fn min_of(self, other: Duration) -> Duration {
        if self.0 <= other.0 {
            self
        } else {
            other
        }
    }
    /// The conversion to [`core::time::Duration`].
    pub const fn to_core(self) -> core::time::Duration {
        core::time::Duration::from_micros(self.0)
    }
    /// The conversion from [`core::time::Duration`], truncating below a microsecond and
    /// saturating above `u64::MAX` µs.
    pub const fn from_core(d: core::time::Duration) -> Duration {
        let micros = d.as_micros();
        if micros > u64::MAX as u128 {
            Duration::MAX
        } else {
            Duration(micros as u64)
        }
    }
}

impl From<core::time::Duration> for Duration {
    fn from(d: core::time::Duration) -> Self {
        Duration::from_core(d)
    }
}

impl From<Duration> for core::time::Duration {
    fn from(d: Duration) -> Self {
        d.to_core()
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_core(), f)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_core(), f)
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
/// Runtime adapters implement it on a zero-sized type; so does [`StdClock`].
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
                Some(t.saturating_add(d.0).min(MAX_INSTANT_MICROS))
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
        Instant::from_micros(Duration::from_core(base.elapsed()).as_micros())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn durations_convert_and_saturate() {
        let d = Duration::from(core::time::Duration::from_nanos(1_500));
        assert_eq!(d.as_micros(), 1);
        assert_eq!(Duration::from_secs(u64::MAX), Duration::MAX);
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
