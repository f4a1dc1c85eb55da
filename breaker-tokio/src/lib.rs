#![doc = include_str!("../README.md")]

mod limit;

use std::sync::OnceLock;

pub use breaker_core;
pub use breaker_core::policy::{Fallback, NoLimit, OnTimeout, PolicyBuilder, Protected};
pub use breaker_core::registry;
pub use breaker_core::{
    classify, listener, window, Breaker, Config, ConfigBuilder, ConfigError, ConfigErrorKind,
    CountWindow, Duration, Error, Handle, Instant, LimitReached, Listener, NoWindow, Outcome,
    Permit, Policy, Reason, Rejected, State, Stats, TimeWindow, Transition, Trip,
};
/// `#[circuit]` on an `async fn` or `fn` returning `Result<T, E>`, with a `static` breaker on tokio's clock.
#[cfg(feature = "macros")]
pub use breaker_macros::circuit_tokio as circuit;
pub use limit::Limit;

/// Spawns the driver of a breaker on the current tokio runtime: the breaker's time-driven
/// changes (open to half-open when the open duration ends, trials given up after the half-open
/// maximum wait) then happen, and reach listeners, when they are due rather than at the next
/// call, and an open breaker answers rejections without reading the clock.
///
/// `target` is `&BREAKER` for a `static` breaker, or `Arc::downgrade(&breaker)`: the driver never
/// keeps a breaker alive, and ends when it is dropped. It does not keep the runtime alive either
/// (a runtime that shuts down drops it, and rejections read the clock again). A second driver for
/// the same breaker ends at once.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use breaker_tokio::{spawn_driver, CircuitBreaker, Config};
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let breaker = Arc::new(CircuitBreaker::new(Config::default()));
/// let driver = spawn_driver(Arc::downgrade(&breaker));
/// drop(breaker); // the driver ends with its breaker
/// driver.await.unwrap();
/// # });
/// ```
///
/// # Panics
///
/// Outside a tokio runtime, as `tokio::spawn` does.
pub fn spawn_driver<T>(target: T) -> tokio::task::JoinHandle<()>
where
    T: breaker_core::runtime::Target + Send + Sync + 'static,
    T::Handle: Send,
    <T::Handle as Handle>::Breaker: Breaker<Clock = Tokio> + Sync,
{
    tokio::spawn(breaker_core::runtime::drive(target))
}

use breaker_core::runtime::Timer;
use breaker_core::{Clock, GlobalClock};

/// tokio's clock and timer, as the breaker sees them. Zero-sized.
///
/// The clock reads `tokio::time::Instant`, so a runtime with paused time (`#[tokio::test(start_paused =
/// true)]`, `tokio::time::advance`) drives open durations, timeouts and waits alike. Instants are
/// counted from a process-wide epoch: a day of real time before the clock was first read.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tokio;

fn epoch() -> tokio::time::Instant {
    static EPOCH: OnceLock<tokio::time::Instant> = OnceLock::new();
    *EPOCH.get_or_init(|| {
        // Real time, not `tokio::time::Instant::now()`: in a paused runtime that reads the time
        // the runtime was built plus everything `advance` added, which may be days ahead of real
        // time; an epoch taken there would be above the clock of every runtime built later, whose
        // reading would saturate to 0 and stand still (issue 8).
        //
        // Why real time is below every runtime's clock: an unpaused runtime reads real time; a
        // paused one starts at the real time it was built and only moves forward. So every
        // runtime built after this moment, or up to a day before it, reads at or after the
        // epoch. (Only a paused runtime built more than a day before the breaker clock is first
        // read, and not advanced since, would read before it: its clock would read 0 until
        // advanced past the epoch.)
        let now = tokio::time::Instant::from_std(std::time::Instant::now());
        [86_400, 3_600, 60, 1]
            .into_iter()
            .find_map(|secs| now.checked_sub(core::time::Duration::from_secs(secs)))
            .unwrap_or(now)
    })
}

impl Clock for Tokio {
    fn reader(&self) -> Option<fn() -> Instant> {
        Some(|| Tokio.now())
    }
    #[inline]
    fn now(&self) -> Instant {
        let since = tokio::time::Instant::now().saturating_duration_since(epoch());
        Instant::from_micros(breaker_core::clock::micros(since))
    }
}

impl Timer for Tokio {
    type Sleep = tokio::time::Sleep;

    /// `tokio::time::sleep`; must be called within a tokio runtime with the timer enabled
    /// (the breaker calls it while its future is polled).
    #[inline]
    fn sleep(&self, duration: Duration) -> tokio::time::Sleep {
        tokio::time::sleep(duration)
    }
}

impl GlobalClock for Tokio {
    const NEW: Self = Tokio;
}

/// A circuit breaker on tokio: built without naming a clock, usable in a `static`.
///
/// The core [`breaker_core::CircuitBreaker`] on this runtime's clock: `call`, `try_acquire` and
/// `call_async` as in the core, plus `call_with` and `protect` for the timed features.
///
/// # Examples
///
/// ```
/// use breaker_tokio::{CircuitBreaker, Config, Duration, State};
///
/// static CONFIG: Config = match Config::builder().failure_threshold(3).open_for(Duration::from_secs(10)).build() {
///     Ok(config) => config,
///     Err(_) => panic!("invalid breaker configuration"),
/// };
/// static BREAKER: CircuitBreaker<&Config> = CircuitBreaker::new(&CONFIG);
/// assert_eq!(BREAKER.state(), State::Closed);
/// ```
pub type CircuitBreaker<K = Config, L = ()> = breaker_core::CircuitBreaker<Tokio, K, L>;
