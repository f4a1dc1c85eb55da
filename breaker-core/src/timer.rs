//! The features that need a timer, written once over small traits that each runtime adapter
//! implements: a per-call timeout, a wait mode, a concurrency limit and a fallback.
//!
//! - [`Timer`]: sleep for a [`Duration`]. An adapter implements it over its runtime's timer
//!   (`tokio::time::sleep`, `async_io::Timer`, `embassy_time::Timer`).
//! - [`Runtime`]: a zero-sized type that is both the breaker's [`Clock`] and its [`Timer`], so
//!   that [`RuntimeBreaker::new`] needs no clock argument and stays `const` (a `static` breaker).
//! - [`ConcurrencyLimit`]: a semaphore, implemented by each adapter with its runtime's own
//!   (`tokio::sync::Semaphore`, `async_lock::Semaphore`, a fair queue on `embassy_sync`'s blocking mutex).
//!
//! What a call does beyond admission is a [`Policy`], validated once when it is built:
//!
//! - **Timeout** (kompoz's `with_timeout`): the call is dropped when it runs past the timeout, and
//!   counts as a failure whatever the classifier says; the caller gets [`Error::Timeout`], or what
//!   the on-timeout handler of a [`Protected`] function returns.
//! - **Wait mode** (escudeiro's freezing breaker): instead of being rejected while the breaker is
//!   open, the caller waits until it is admitted or a maximum wait has passed. Waiters sleep until
//!   the open duration ends plus a random part of the poll interval (so they do not all wake at
//!   the same instant), then are admitted through the half-open trial limit like anyone else;
//!   the others poll at a jittered interval, so a re-closed breaker is not hit by all of them at
//!   the same instant. The random source is the policy's ([`PolicyBuilder::random`]).
//! - **Concurrency limit** (kompoz's `limited`): at most N calls in flight; a call finding it full
//!   is refused with [`Error::LimitReached`], or waits for a slot up to a maximum wait. One limit
//!   can be shared by several breakers and functions.
//! - **Fallback** (aiocircuitbreaker's `fallback_function`): an async function run with the same
//!   arguments when the call is refused (see [`Protected::fallback`]).
//!
//! The order is: breaker admission (waiting if the policy says so), then a slot of the
//! concurrency limit, then the call under its timeout. A caller waiting for the breaker to admit
//! it holds no slot of the limit, and a caller waiting for a slot holds no permit: finding the
//! limit full, it gives its permit back (listeners see it cancelled; in half-open, its trial
//! slot is free again), queues, and once it has a slot asks the breaker again without waiting.
//! So a queue for the limit never holds a half-open trial, which the breaker would give up as a
//! failure after its half-open maximum wait: local saturation never counts as an upstream
//! failure.
//!
//! A call without a policy ([`RuntimeBreaker::call`]) is the core's [`crate::Call`] future
//! unchanged: the timer costs nothing unless it is used.

use core::future::Future;

use crate::clock::{Duration, GlobalClock};
use crate::config::{ConfigError, ConfigErrorKind};
use crate::error::Error;

pub(crate) mod breaker;
mod driver;
mod policy;
mod run;
#[cfg(test)]
mod tests;

pub use breaker::Protected;
pub use driver::{drive, Target};
pub use policy::{Policy, PolicyBuilder};

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

/// A limit on the calls in flight: a semaphore with one permit per call.
///
/// Adapters implement it over their runtime's semaphore. Implement it on a handle that is cheap to
/// share (an `Arc` on `std`, a `&'static` reference on a microcontroller); it is also implemented
/// for references, so a [`Policy`] can hold either.
///
/// # Contract
///
/// - At most the configured number of permits MUST exist at once; dropping a permit MUST give its
///   slot back and wake a waiter.
/// - `try_acquire` MUST NOT block or wait.
/// - Dropping the future of `acquire` MUST cancel the wait without losing a slot or a wake-up.
///   The future resolves to `None` only if the semaphore can never grant a permit (closed).
pub trait ConcurrencyLimit {
    /// A slot, given back on drop.
    type Permit<'a>
    where
        Self: 'a;

    /// A slot if one is free now.
    fn try_acquire(&self) -> Option<Self::Permit<'_>>;

    /// Waits for a slot.
    fn acquire(&self) -> impl Future<Output = Option<Self::Permit<'_>>>;

    /// The limit's name, for [`crate::LimitReached`] (empty by default).
    fn name(&self) -> &'static str {
        ""
    }
}

impl<S: ConcurrencyLimit + ?Sized> ConcurrencyLimit for &S {
    type Permit<'a>
        = S::Permit<'a>
    where
        Self: 'a;

    #[inline]
    fn try_acquire(&self) -> Option<Self::Permit<'_>> {
        (**self).try_acquire()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = Option<Self::Permit<'_>>> {
        (**self).acquire()
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// The most permits a concurrency limit may have.
pub const MAX_PERMITS: usize = u16::MAX as usize;

/// Checks the number of permits of a concurrency limit, as every adapter's `Limit` does when it
/// is built.
///
/// # Errors
///
/// A [`ConfigError`] about the field `"permits"`: [`ConfigErrorKind::Zero`] for no permits,
/// [`ConfigErrorKind::TooMany`] above [`MAX_PERMITS`].
pub const fn check_permits(permits: usize) -> Result<usize, ConfigError> {
    if permits == 0 {
        Err(ConfigError::new("permits", ConfigErrorKind::Zero))
    } else if permits > MAX_PERMITS {
        Err(ConfigError::new(
            "permits",
            ConfigErrorKind::TooMany {
                value: permits as u64,
                max: MAX_PERMITS as u64,
            },
        ))
    } else {
        Ok(permits)
    }
}

/// The absence of a concurrency limit (the default of a [`Policy`]): every call gets a slot.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLimit;

impl ConcurrencyLimit for NoLimit {
    type Permit<'a> = ();

    #[inline]
    fn try_acquire(&self) -> Option<()> {
        Some(())
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = Option<()>> {
        core::future::ready(Some(()))
    }
}

/// What runs instead of a call that was refused (the breaker rejected it, or its concurrency
/// limit was full): aiocircuitbreaker's `fallback_function`, called with the same arguments.
///
/// Implemented for every `Fn(A) -> impl Future<Output = Result<T, E>>`, and by [`NoFallback`].
pub trait Fallback<A, T, E> {
    /// The fallback's future.
    type Future: Future<Output = Result<T, E>>;
    /// The fallback for a refused call made with `args`, or `None` to report the refusal.
    fn fallback(&self, args: A) -> Option<Self::Future>;
}

/// No fallback: a refused call reports [`Error::Rejected`] or [`Error::LimitReached`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoFallback;

impl<A, T, E> Fallback<A, T, E> for NoFallback {
    type Future = core::future::Pending<Result<T, E>>;
    #[inline]
    fn fallback(&self, _: A) -> Option<Self::Future> {
        None
    }
}

impl<A, T, E, F, Fut> Fallback<A, T, E> for F
where
    F: Fn(A) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    type Future = Fut;
    #[inline]
    fn fallback(&self, args: A) -> Option<Fut> {
        Some(self(args))
    }
}

/// What a call that timed out returns (kompoz's `on_timeout`); the breaker counts it as a failure
/// whatever this returns.
///
/// Implemented for every `Fn(Duration) -> Result<T, Error<E>>` (given the timeout that expired),
/// and by [`ReturnTimeout`].
pub trait OnTimeout<T, E> {
    /// The result of a call that ran past `after`.
    fn on_timeout(&self, after: Duration) -> Result<T, Error<E>>;
}

/// The default on-timeout handler: the call returns [`Error::Timeout`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ReturnTimeout;

impl<T, E> OnTimeout<T, E> for ReturnTimeout {
    #[inline]
    fn on_timeout(&self, after: Duration) -> Result<T, Error<E>> {
        Err(Error::Timeout { after })
    }
}

impl<T, E, F> OnTimeout<T, E> for F
where
    F: Fn(Duration) -> Result<T, Error<E>>,
{
    #[inline]
    fn on_timeout(&self, after: Duration) -> Result<T, Error<E>> {
        self(after)
    }
}
