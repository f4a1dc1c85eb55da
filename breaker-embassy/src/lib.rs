#![doc = include_str!("../README.md")]
#![no_std]

mod limit;

pub use breaker_core;
pub use breaker_core::policy::{Fallback, NoLimit, OnTimeout, PolicyBuilder, Protected};
pub use breaker_core::{
    classify, listener, window, Breaker, Config, ConfigBuilder, ConfigError, ConfigErrorKind,
    CountWindow, Duration, Error, Handle, Instant, LimitReached, Listener, NoWindow, Outcome,
    Permit, Policy, Reason, Rejected, State, Stats, TimeWindow, Transition, Trip,
};
/// `#[circuit]` on an `async fn` or `fn` returning `Result<T, E>`, with a `static` breaker on embassy-time's clock.
#[cfg(feature = "macros")]
pub use breaker_macros::circuit_embassy as circuit;
pub use limit::{Limit, LimitPermit};

use breaker_core::runtime::Timer;
use breaker_core::{Clock, GlobalClock};

/// embassy-time's clock and timer, as the breaker sees them. Zero-sized.
///
/// Reads `embassy_time::Instant::now()` (in microseconds since boot) and sleeps with
/// `embassy_time::Timer`, at whatever tick rate, time driver and timer queue the firmware chose.
#[derive(Clone, Copy, Debug, Default)]
pub struct Embassy;

impl Clock for Embassy {
    fn reader(&self) -> Option<fn() -> Instant> {
        Some(|| Embassy.now())
    }
    #[inline]
    fn now(&self) -> Instant {
        Instant::from_micros(embassy_time::Instant::now().as_micros())
    }
}

/// `d` in ticks, rounded up, saturating (embassy-time's own conversion overflows on long
/// durations).
///
/// Whole seconds and the nanoseconds are converted apart, so that for every tick rate embassy-time
/// offers (up to a few GHz) the arithmetic stays in 64 bits: no 128-bit routines in the firmware.
const fn ticks(d: Duration) -> u64 {
    const HZ: u64 = embassy_time::TICK_HZ;
    let whole = d.as_secs().saturating_mul(HZ);
    let nanos = d.subsec_nanos() as u64; // < 10^9
    let part = if HZ <= u64::MAX / 1_000_000_000 {
        (nanos * HZ).div_ceil(1_000_000_000)
    } else {
        // Not reached at any rate embassy-time offers; folded away at compile time.
        (nanos as u128 * HZ as u128).div_ceil(1_000_000_000) as u64
    };
    whole.saturating_add(part)
}

impl Timer for Embassy {
    type Sleep = embassy_time::Timer;

    /// An `embassy_time::Timer`; a duration past the end of the clock's range never completes.
    #[inline]
    fn sleep(&self, duration: Duration) -> embassy_time::Timer {
        let d = embassy_time::Duration::from_ticks(ticks(duration));
        let at = embassy_time::Instant::now()
            .checked_add(d)
            .unwrap_or(embassy_time::Instant::MAX);
        embassy_time::Timer::at(at)
    }
}

impl GlobalClock for Embassy {
    const NEW: Self = Embassy;
}

/// A circuit breaker on embassy: built without naming a clock, in a `static`.
///
/// The core [`breaker_core::CircuitBreaker`] on this runtime's clock: `call`, `try_acquire` and
/// `call_async` as in the core, plus `call_with` and `protect` for the timed features. With
/// `K = &'static Config` the configuration stays in flash and only the breaker's atomics take
/// RAM.
pub type CircuitBreaker<K = Config, L = ()> = breaker_core::CircuitBreaker<Embassy, K, L>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_conversion_rounds_up_and_saturates() {
        // The mock driver of the host tests runs at 1 MHz.
        assert_eq!(ticks(Duration::ZERO), 0);
        assert_eq!(ticks(Duration::from_micros(1_500)), 1_500);
        assert_eq!(ticks(Duration::from_nanos(1)), 1);
        assert_eq!(ticks(Duration::new(3, 999_999_001)), 4_000_000);
        assert_eq!(
            ticks(Duration::from_secs(u64::MAX / 1_000_000 + 1)),
            u64::MAX
        );
        assert_eq!(ticks(Duration::MAX), u64::MAX);
    }
}
