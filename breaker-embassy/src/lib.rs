#![doc = include_str!("../README.md")]
#![no_std]

mod limit;

pub use breaker_core;
pub use breaker_core::timer::{Fallback, NoLimit, OnTimeout, PolicyBuilder, Protected};
pub use breaker_core::{
    classify, listener, window, Breaker, Config, ConfigBuilder, ConfigError, CountWindow, Duration,
    Error, Handle, Instant, LimitReached, Listener, NoWindow, Outcome, Permit, Policy, Reason,
    Rejected, State, Stats, TimeWindow, Transition, Trip,
};
/// `#[circuit]` on an `async fn` or `fn` returning `Result<T, E>`, with a `static` breaker on embassy-time's clock.
#[cfg(feature = "macros")]
pub use breaker_macros::circuit_embassy as circuit;
pub use limit::{Limit, LimitPermit};

use breaker_core::timer::Timer;
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

/// `micros` in ticks, rounded up, saturating (embassy-time's own conversion overflows on long
/// durations).
const fn ticks(micros: u64) -> u64 {
    let t = (micros as u128 * embassy_time::TICK_HZ as u128).div_ceil(1_000_000);
    if t > u64::MAX as u128 {
        u64::MAX
    } else {
        t as u64
    }
}

impl Timer for Embassy {
    type Sleep = embassy_time::Timer;

    /// An `embassy_time::Timer`; a duration past the end of the clock's range never completes.
    #[inline]
    fn sleep(&self, duration: Duration) -> embassy_time::Timer {
        let d = embassy_time::Duration::from_ticks(ticks(duration.as_micros()));
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
        assert_eq!(ticks(0), 0);
        assert_eq!(ticks(1_500), 1_500);
        assert_eq!(ticks(u64::MAX), u64::MAX);
    }
}
