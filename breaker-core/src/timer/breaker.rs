//! [`RuntimeBreaker`]: the core breaker over a runtime's clock and timer, and [`Protected`]
//! functions.

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;
use core::ops::Deref;

use crate::breaker::CircuitBreaker;
use crate::classify::{Classify, Errors};
use crate::config::Config;
use crate::error::Error;
use crate::future::Call;
use crate::listener::Listener;
use crate::sync::const_unless_loom;
use crate::timer::run::{run, Ctx};
use crate::timer::{
    ConcurrencyLimit, Fallback, NoFallback, OnTimeout, Policy, ReturnTimeout, Runtime,
};
use crate::window::{NoWindow, Window};

/// A [`CircuitBreaker`] whose clock is a runtime's, with the features that need its timer.
///
/// Each runtime adapter names it with its own [`Runtime`]
/// (`breaker_tokio::CircuitBreaker = RuntimeBreaker<Tokio>`), so users build it without naming a
/// clock, in a `static` if they like. It dereferences to the core [`CircuitBreaker`], whose
/// methods (`state`, `stats`, `try_acquire`, `open`, ...) it shares; its own `call` is the async
/// one.
///
/// - [`RuntimeBreaker::call`]: the core's [`Call`] future, unchanged (no timer involved).
/// - [`RuntimeBreaker::call_with`]: a call under a [`Policy`] (timeout, wait mode, limit).
/// - [`RuntimeBreaker::protect`]: a function under a policy, with a fallback and an on-timeout
///   handler.
pub struct RuntimeBreaker<R, W = NoWindow, L = (), K = Config<W>> {
    inner: CircuitBreaker<R, W, L, K>,
}

impl<R: Runtime, W: Window, K> RuntimeBreaker<R, W, (), K> {
    const_unless_loom! {
        /// A breaker with no listener.
        pub fn new(config: K) -> Self {
            RuntimeBreaker { inner: CircuitBreaker::new(R::NEW, config) }
        }
    }
}

impl<R: Runtime, W: Window, L, K> RuntimeBreaker<R, W, L, K> {
    const_unless_loom! {
        /// A breaker that reports its events to `listener` (several listeners: a tuple).
        pub fn with_listener(config: K, listener: L) -> Self {
            RuntimeBreaker { inner: CircuitBreaker::with_listener(R::NEW, config, listener) }
        }
    }
}

impl<R, W, L, K> RuntimeBreaker<R, W, L, K> {
    /// Wraps a core breaker built over the runtime's clock.
    pub const fn from_breaker(breaker: CircuitBreaker<R, W, L, K>) -> Self {
        RuntimeBreaker { inner: breaker }
    }

    /// The core breaker.
    pub const fn get_ref(&self) -> &CircuitBreaker<R, W, L, K> {
        &self.inner
    }

    /// The core breaker, by value.
    pub fn into_inner(self) -> CircuitBreaker<R, W, L, K> {
        self.inner
    }
}

impl<R, W, L, K> Deref for RuntimeBreaker<R, W, L, K> {
    type Target = CircuitBreaker<R, W, L, K>;
    #[inline]
    fn deref(&self) -> &Self::Target {
        &self.inner
    }
}

impl<R, W, L, K> fmt::Debug for RuntimeBreaker<R, W, L, K>
where
    R: Runtime,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl<R, W, L, K> RuntimeBreaker<R, W, L, K>
where
    R: Runtime,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    /// Runs `future` through the breaker; every `Err` counts as a failure.
    ///
    /// This is the core's [`Call`] future itself (admission at the first poll, the permit given
    /// back if the future is dropped or panics), with no timer involved.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the breaker refused the call (the future was not polled),
    /// [`Error::Tripped`] if it failed and that opened the breaker, [`Error::Inner`] otherwise.
    #[inline]
    pub fn call<F, T, E>(&self, future: F) -> Call<'_, R, W, L, K, F, Errors>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        self.inner.call_async(future)
    }

    /// Runs `future` through the breaker, with `classify` deciding how its result counts.
    ///
    /// # Errors
    ///
    /// As [`RuntimeBreaker::call`].
    #[inline]
    pub fn call_classified<F, T, E, P>(&self, classify: P, future: F) -> Call<'_, R, W, L, K, F, P>
    where
        F: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        P: Classify<T, E>,
    {
        self.inner.call_async_classified(classify, future)
    }

    /// Runs `future` through the breaker under `policy`: waiting to be admitted if the policy
    /// has a wait mode, taking a slot of its concurrency limit, and dropping the call when it
    /// runs past the timeout (which counts as a failure).
    ///
    /// Admission is decided when the returned future is first polled; dropping it at any point
    /// gives back what it holds (a half-open trial slot, a slot of the limit).
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the breaker refused the call (after the maximum wait, in wait mode),
    /// [`Error::LimitReached`] if the concurrency limit stayed full, [`Error::Timeout`] if the
    /// call ran past its timeout, and otherwise as [`RuntimeBreaker::call`].
    pub fn call_with<'a, S, F, T, E>(
        &'a self,
        policy: &'a Policy<S>,
        future: F,
    ) -> impl Future<Output = Result<T, Error<E>>> + use<'a, R, W, L, K, S, F, T, E>
    where
        S: ConcurrencyLimit,
        F: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        let ctx = Ctx {
            breaker: &self.inner,
            timer: self.inner.clock(),
            policy,
            fallback: &NoFallback,
            on_timeout: &ReturnTimeout,
        };
        run(ctx, future, |future| future, Errors)
    }

    /// A function protected by this breaker under `policy`: call it with
    /// [`Protected::call`], and add a fallback, an on-timeout handler or a classifier to it.
    ///
    /// `f` takes the call's arguments (a tuple for several) and returns its future; it is
    /// called only once the call is admitted.
    pub fn protect<S, F>(&self, policy: Policy<S>, f: F) -> Protected<'_, R, W, L, K, S, F> {
        Protected {
            breaker: &self.inner,
            policy,
            f,
            classify: Errors,
            fallback: NoFallback,
            on_timeout: ReturnTimeout,
        }
    }
}

/// A function protected by a breaker under a [`Policy`], with an optional fallback
/// (aiocircuitbreaker's `fallback_function`) and on-timeout handler (kompoz's `on_timeout`).
///
/// Made by [`RuntimeBreaker::protect`]; several protected functions may share one breaker and
/// one concurrency limit.
pub struct Protected<'b, R, W, L, K, S, F, P = Errors, FB = NoFallback, H = ReturnTimeout> {
    breaker: &'b CircuitBreaker<R, W, L, K>,
    policy: Policy<S>,
    f: F,
    classify: P,
    fallback: FB,
    on_timeout: H,
}

impl<'b, R, W, L, K, S, F, P, FB, H> Protected<'b, R, W, L, K, S, F, P, FB, H> {
    /// Runs `fallback` with the call's arguments instead of the call when it is refused: the
    /// breaker rejected it (after the maximum wait, in wait mode) or its concurrency limit stayed
    /// full. A fallback's `Ok` is the call's result; its `Err(e)` becomes [`Error::Inner`].
    pub fn fallback<G>(self, fallback: G) -> Protected<'b, R, W, L, K, S, F, P, G, H> {
        Protected {
            breaker: self.breaker,
            policy: self.policy,
            f: self.f,
            classify: self.classify,
            fallback,
            on_timeout: self.on_timeout,
        }
    }

    /// What a call that timed out returns, instead of [`Error::Timeout`]: `handler` gets the
    /// timeout that expired. The breaker counts the call as a failure either way.
    pub fn on_timeout<G>(self, handler: G) -> Protected<'b, R, W, L, K, S, F, P, FB, G> {
        Protected {
            breaker: self.breaker,
            policy: self.policy,
            f: self.f,
            classify: self.classify,
            fallback: self.fallback,
            on_timeout: handler,
        }
    }

    /// Decides how a call's result counts (see [`crate::classify`]); cloned for each call.
    /// A timeout counts as a failure whatever it says.
    pub fn classify<G>(self, classify: G) -> Protected<'b, R, W, L, K, S, F, G, FB, H> {
        Protected {
            breaker: self.breaker,
            policy: self.policy,
            f: self.f,
            classify,
            fallback: self.fallback,
            on_timeout: self.on_timeout,
        }
    }

    /// The policy.
    pub const fn policy(&self) -> &Policy<S> {
        &self.policy
    }

    /// The breaker.
    pub const fn breaker(&self) -> &'b CircuitBreaker<R, W, L, K> {
        self.breaker
    }
}

impl<'b, R, W, L, K, S, F, P, FB, H> Protected<'b, R, W, L, K, S, F, P, FB, H>
where
    R: Runtime,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
    S: ConcurrencyLimit,
{
    /// Calls the function with `args` through the breaker and the policy; a refused call runs the
    /// fallback with `args` instead, if there is one.
    ///
    /// # Errors
    ///
    /// As [`RuntimeBreaker::call_with`]; with a fallback, a refused call returns what the
    /// fallback returns.
    pub fn call<'s, A, Fut, T, E>(
        &'s self,
        args: A,
    ) -> impl Future<Output = Result<T, Error<E>>> + use<'s, 'b, R, W, L, K, S, F, P, FB, H, A, Fut, T, E>
    where
        F: Fn(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        P: Classify<T, E> + Clone,
        FB: Fallback<A, T, E>,
        H: OnTimeout<T, E>,
    {
        let ctx = Ctx {
            breaker: self.breaker,
            timer: self.breaker.clock(),
            policy: &self.policy,
            fallback: &self.fallback,
            on_timeout: &self.on_timeout,
        };
        run(ctx, args, &self.f, self.classify.clone())
    }
}

impl<R, W, L, K, S, F, P, FB, H> fmt::Debug for Protected<'_, R, W, L, K, S, F, P, FB, H>
where
    R: Runtime,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
    S: ConcurrencyLimit,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protected")
            .field("breaker", &self.breaker.name())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}
