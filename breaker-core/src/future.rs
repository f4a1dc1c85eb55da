//! The async call: a named future, no boxing, no allocation, cancel-safe.

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::breaker::CircuitBreaker;
use crate::classify::Classify;
use crate::clock::Clock;
use crate::config::Config;
use crate::error::Error;
use crate::listener::Listener;
use crate::permit::Permit;
use crate::window::Window;

pin_project! {
    /// The future of [`CircuitBreaker::call_async`].
    ///
    /// Admission is decided at the first poll (a future that is never polled never takes a trial
    /// slot). Dropping it mid-call drops its permit, which reports a cancellation and gives back a
    /// half-open trial slot; so does a panic inside the protected future.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<'a, C, W, L, K, F, P>
    where
        C: Clock,
        W: Window,
        L: Listener,
        K: Borrow<Config<W>>,
    {
        breaker: &'a CircuitBreaker<C, W, L, K>,
        permit: Option<Permit<'a, C, W, L, K>>,
        started: bool,
        classify: P,
        #[pin]
        future: F,
    }
}

impl<C, W, L, K> CircuitBreaker<C, W, L, K>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    /// Runs `future` through the breaker; every `Err` counts as a failure.
    ///
    /// # Examples
    ///
    /// ```
    /// # futures_executor::block_on(async {
    /// use breaker_core::{CircuitBreaker, Config, ManualClock};
    ///
    /// let clock = ManualClock::new();
    /// let breaker = CircuitBreaker::new(&clock, Config::default());
    /// let reply = breaker.call_async(async { Ok::<_, std::io::Error>(7) }).await;
    /// assert_eq!(reply.unwrap(), 7);
    /// # });
    /// ```
    #[inline]
    pub fn call_async<F, T, E>(&self, future: F) -> Call<'_, C, W, L, K, F, crate::classify::Errors>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        self.call_async_classified(crate::classify::Errors, future)
    }

    /// Runs `future` through the breaker, with `classify` deciding how its result counts.
    #[inline]
    pub fn call_async_classified<F, T, E, P>(
        &self,
        classify: P,
        future: F,
    ) -> Call<'_, C, W, L, K, F, P>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        P: Classify<T, E>,
    {
        Call {
            breaker: self,
            permit: None,
            started: false,
            classify,
            future,
        }
    }
}

impl<C, W, L, K, F, P, T, E> Future for Call<'_, C, W, L, K, F, P>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
    F: Future<Output = Result<T, E>>,
    E: fmt::Debug,
    P: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if !*this.started {
            *this.started = true;
            match this.breaker.try_acquire() {
                Ok(permit) => *this.permit = Some(permit),
                Err(rejected) => return Poll::Ready(Err(Error::Rejected(rejected))),
            }
        }
        let result = match this.future.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        match this.permit.take() {
            Some(permit) => Poll::Ready(permit.conclude(result, this.classify)),
            // Polled again after it finished: pass on what the inner future says, unrecorded.
            None => Poll::Ready(result.map_err(Error::Inner)),
        }
    }
}

impl<C, W, L, K, F, P> fmt::Debug for Call<'_, C, W, L, K, F, P>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("breaker", &self.breaker.name())
            .field("admitted", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
