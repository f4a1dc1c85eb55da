//! What a runtime adapter supplies, and what a breaker on a runtime gains from it.
//!
//! - [`Timer`]: sleep for a [`Duration`]. An adapter implements it over its runtime's timer
//!   (`tokio::time::sleep`, `async_io::Timer`, `embassy_time::Timer`).
//! - [`Runtime`]: a zero-sized type that is both the breaker's [`Clock`] and its [`Timer`], so
//!   that `CircuitBreaker::new(config)` needs no clock argument and stays `const` (a `static`
//!   breaker).
//! - [`drive`]: the driver, a future that applies a breaker's time-driven changes (open to
//!   half-open at the end of the open duration) when they are due, with nobody calling.
//!
//! A breaker whose clock is also a [`Timer`] gains [`CircuitBreaker::call_with`] (a future under
//! a [`Policy`]) and [`CircuitBreaker::protect`] (a [`Protected`] function): methods of the
//! breaker itself, not of a wrapper that derefs to it, so none of them shadows the core's own
//! `call`. What a policy does is described in [`crate::policy`].

use core::fmt;
use core::future::Future;

use crate::breaker::CircuitBreaker;
use crate::clock::{Clock, Duration, GlobalClock};
use crate::config::AsConfig;
use crate::error::Error;
use crate::listener::Listener;
use crate::policy::{ConcurrencyLimit, Policy, Protected};
use crate::seam::Handle;

mod driver;

pub use driver::{drive, Target};

/// Sleeps: the one thing the timed features need from a runtime.
///
/// # Contract
///
/// - The future of `sleep(d)` MUST NOT complete before `d` has passed on the timeline of the
///   clock the breaker uses (for a [`Runtime`], its own [`Clock`]); it should complete soon after.
/// - Dropping the future MUST cancel the sleep (no wake-up leaks, no panic).
/// - `sleep` MUST NOT block. A duration too long for the runtime's timer may sleep "forever".
pub trait Timer {
    /// The future of [`Timer::sleep`].
    type Sleep: Future<Output = ()>;
    /// A future that completes once `duration` has passed.
    fn sleep(&self, duration: Duration) -> Self::Sleep;
}

impl<T: Timer + ?Sized> Timer for &T {
    type Sleep = T::Sleep;
    #[inline]
    fn sleep(&self, duration: Duration) -> Self::Sleep {
        (**self).sleep(duration)
    }
}

/// What a runtime adapter supplies: a type that is both the breaker's [`Clock`] and its
/// [`Timer`], over the same time source, and that can be built in a `const`
/// ([`GlobalClock`]).
///
/// Adapters implement [`GlobalClock`] and [`Timer`] on a zero-sized type (the runtime's clock and
/// timer are global), which makes `CircuitBreaker::new(config)` a `const fn` on their runtime.
pub trait Runtime: GlobalClock + Timer {}

impl<R: GlobalClock + Timer> Runtime for R {}

impl<R, K, L> CircuitBreaker<R, K, L>
where
    R: Clock + Timer,
    K: AsConfig,
    L: Listener,
{
    /// Runs `future` through the breaker under `policy`: waiting to be admitted if the policy
    /// has a wait mode, taking a slot of its concurrency limit, and dropping the call when it
    /// runs past the timeout (which counts as a failure).
    ///
    /// Admission is decided when the returned future is first polled; dropping it at any point
    /// gives back what it holds (a half-open trial slot, a slot of the limit). Through an `Arc`,
    /// [`Handle::call_with`] gives a `'static` future.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the breaker refused the call (after the maximum wait, in wait mode),
    /// [`Error::LimitReached`] if the concurrency limit stayed full, [`Error::Timeout`] if the
    /// call ran past its timeout, and otherwise as [`CircuitBreaker::call_async`].
    pub fn call_with<'a, S, F, T, E>(
        &'a self,
        policy: &'a Policy<S>,
        future: F,
    ) -> impl Future<Output = Result<T, Error<E>>> + use<'a, R, K, L, S, F, T, E>
    where
        S: ConcurrencyLimit,
        F: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        Handle::call_with(self, policy, future)
    }

    /// A function protected by this breaker under `policy`: call it with
    /// [`Protected::call`], and add a fallback, an on-timeout handler or a classifier to it.
    /// Through an `Arc`, [`Handle::protect`] gives a `'static`, `Clone` protected function.
    ///
    /// `f` takes the call's arguments (a tuple for several) and returns its future; it is
    /// called only once the call is admitted.
    pub fn protect<S, F>(&self, policy: Policy<S>, f: F) -> Protected<&Self, S, F> {
        Protected::new(self, policy, f)
    }
}
