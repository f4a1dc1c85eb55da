//! The part of the circuit breaker that `breaker-smol` and `breaker-async-std` share: both
//! runtimes keep time with [`async_io::Timer`], so one clock, one timer and one concurrency limit
//! (over [`async_lock::Semaphore`]) serve both.
//!
//! Depend on `breaker-smol` (or, for code still on the discontinued async-std,
//! `breaker-async-std`) rather than on this crate: they re-export all of it, with documentation
//! and tests for their runtime. Nothing here needs either runtime's executor: `async_io::Timer`
//! is driven by async-io's own reactor, so these futures run on any executor.
//!
//! ```
//! use breaker_async_io::{CircuitBreaker, Config, Duration, Error, Policy};
//!
//! static BREAKER: CircuitBreaker = CircuitBreaker::new(Config::default_config());
//!
//! futures_lite::future::block_on(async {
//!     let policy = Policy::builder().timeout(Duration::from_millis(20)).build()?;
//!     let slow = async {
//!         async_io::Timer::after(core::time::Duration::from_secs(5)).await;
//!         Ok::<_, ()>(())
//!     };
//!     assert_eq!(BREAKER.call_with(&policy, slow).await, Err(Error::Timeout { after: Duration::from_millis(20) }));
//!     Ok::<(), breaker_async_io::ConfigError>(())
//! })?;
//! # Ok::<(), breaker_async_io::ConfigError>(())
//! ```

mod limit;

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

pub use breaker_core;
pub use breaker_core::policy::{Fallback, NoLimit, OnTimeout, PolicyBuilder, Protected};
pub use breaker_core::registry;
pub use breaker_core::{
    classify, listener, window, Breaker, Config, ConfigBuilder, ConfigError, ConfigErrorKind,
    CountWindow, Duration, Error, Handle, Instant, LimitReached, Listener, NoWindow, Outcome,
    Permit, Policy, Reason, Rejected, State, Stats, TimeWindow, Transition, Trip,
};
pub use limit::Limit;

use breaker_core::runtime::Timer;
use breaker_core::{Clock, GlobalClock, StdClock};

/// The monotonic clock (`std::time::Instant`, counted from the first reading in the process) and
/// [`async_io::Timer`], as the breaker sees them. Zero-sized.
#[derive(Clone, Copy, Debug, Default)]
pub struct AsyncIo;

impl Clock for AsyncIo {
    fn reader(&self) -> Option<fn() -> Instant> {
        Some(|| AsyncIo.now())
    }
    #[inline]
    fn now(&self) -> Instant {
        StdClock.now()
    }
}

/// The future of [`AsyncIo`]'s [`Timer::sleep`]: an [`async_io::Timer`] that completes with `()`.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Sleep(async_io::Timer);

impl Future for Sleep {
    type Output = ();
    #[inline]
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Timer for AsyncIo {
    type Sleep = Sleep;

    /// `async_io::Timer::after`; a duration too long for `std::time::Instant` never completes.
    #[inline]
    fn sleep(&self, duration: Duration) -> Sleep {
        Sleep(async_io::Timer::after(duration))
    }
}

impl GlobalClock for AsyncIo {
    const NEW: Self = AsyncIo;
}

/// The driver of a breaker on the async-io clock, as a future to spawn on any executor: the
/// breaker's time-driven changes (open to half-open when the open duration ends, trials given
/// up after the half-open maximum wait) then happen, and reach listeners, when they are due
/// rather than at the next call (see [`breaker_core::runtime::drive`]).
///
/// `target` is `&BREAKER` for a `static` breaker, or `Arc::downgrade(&breaker)`: the driver never
/// keeps its breaker alive, and ends when it is dropped. A second driver of one breaker ends at
/// once. With smol: `smol::spawn(breaker_smol::driver(Arc::downgrade(&breaker))).detach();`
/// (a detached task does not keep the executor running).
pub fn driver<T>(target: T) -> impl core::future::Future<Output = ()> + Send
where
    T: breaker_core::runtime::Target + Send + Sync,
    T::Handle: Send,
    <T::Handle as Handle>::Breaker: Breaker<Clock = AsyncIo> + Sync,
{
    breaker_core::runtime::drive(target)
}

/// A circuit breaker on the async-io timer (smol, async-std): built without naming a clock,
/// usable in a `static`.
///
/// The core [`breaker_core::CircuitBreaker`] on this runtime's clock: `call`, `try_acquire` and
/// `call_async` as in the core, plus `call_with` and `protect` for the timed features.
pub type CircuitBreaker<K = Config, L = ()> = breaker_core::CircuitBreaker<AsyncIo, K, L>;
