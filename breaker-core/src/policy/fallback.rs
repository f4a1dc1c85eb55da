//! What a call returns instead of its own result: a fallback for a refused call, a handler for a
//! call that timed out.

use core::future::Future;

use crate::clock::Duration;
use crate::error::Error;

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
