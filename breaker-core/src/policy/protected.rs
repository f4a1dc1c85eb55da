//! Protected functions: a function, the handle of its breaker and a [`Policy`], with an optional
//! fallback, on-timeout handler and classifier; and the call under a policy that
//! [`Handle::call_with`] makes.

use core::fmt;
use core::future::Future;

use crate::classify::{Classify, Errors};
use crate::error::Error;
use crate::policy::run::{run, Ctx};
use crate::policy::{ConcurrencyLimit, Fallback, NoFallback, OnTimeout, Policy, ReturnTimeout};
use crate::runtime::Timer;
use crate::seam::{Breaker, Handle};

/// A function protected by a breaker under a [`Policy`], with an optional fallback
/// (aiocircuitbreaker's `fallback_function`) and on-timeout handler (kompoz's `on_timeout`).
///
/// Made by `CircuitBreaker::protect` or [`Handle::protect`]; `H` is how it holds the breaker
/// (`&CircuitBreaker<..>`, or `Arc<CircuitBreaker<..>>` for a `'static` one that can be stored
/// in a server's state and cloned into spawned tasks). Several protected functions may share one
/// breaker and one concurrency limit.
#[derive(Clone)]
pub struct Protected<H, S, F, P = Errors, FB = NoFallback, OT = ReturnTimeout> {
    handle: H,
    policy: Policy<S>,
    f: F,
    classify: P,
    fallback: FB,
    on_timeout: OT,
}

impl<H, S, F> Protected<H, S, F> {
    /// `f` protected by `handle`'s breaker under `policy`.
    pub fn new(handle: H, policy: Policy<S>, f: F) -> Self {
        Protected {
            handle,
            policy,
            f,
            classify: Errors,
            fallback: NoFallback,
            on_timeout: ReturnTimeout,
        }
    }
}

impl<H, S, F, P, FB, OT> Protected<H, S, F, P, FB, OT> {
    /// Runs `fallback` with the call's arguments instead of the call when it is refused: the
    /// breaker rejected it (after the maximum wait, in wait mode) or its concurrency limit stayed
    /// full. A fallback's `Ok` is the call's result; its `Err(e)` becomes [`Error::Inner`].
    pub fn fallback<G>(self, fallback: G) -> Protected<H, S, F, P, G, OT> {
        Protected {
            handle: self.handle,
            policy: self.policy,
            f: self.f,
            classify: self.classify,
            fallback,
            on_timeout: self.on_timeout,
        }
    }

    /// What a call that timed out returns, instead of [`Error::Timeout`]: `handler` gets the
    /// timeout that expired. The breaker counts the call as a failure either way.
    pub fn on_timeout<G>(self, handler: G) -> Protected<H, S, F, P, FB, G> {
        Protected {
            handle: self.handle,
            policy: self.policy,
            f: self.f,
            classify: self.classify,
            fallback: self.fallback,
            on_timeout: handler,
        }
    }

    /// Decides how a call's result counts (see [`crate::classify`]); cloned for each call.
    /// A timeout counts as a failure whatever it says.
    pub fn classify<G>(self, classify: G) -> Protected<H, S, F, G, FB, OT> {
        Protected {
            handle: self.handle,
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

    /// The handle of the breaker.
    pub const fn handle(&self) -> &H {
        &self.handle
    }
}

impl<H, S, F, P, FB, OT> Protected<H, S, F, P, FB, OT>
where
    H: Handle,
    <H::Breaker as Breaker>::Clock: Timer,
    S: ConcurrencyLimit,
{
    /// Calls the function with `args` through the breaker and the policy; a refused call runs the
    /// fallback with `args` instead, if there is one.
    ///
    /// # Errors
    ///
    /// As [`crate::CircuitBreaker::call_with`]; with a fallback, a refused call returns what the
    /// fallback returns.
    pub fn call<'s, A, Fut, T, E>(
        &'s self,
        args: A,
    ) -> impl Future<Output = Result<T, Error<E>>> + use<'s, H, S, F, P, FB, OT, A, Fut, T, E>
    where
        F: Fn(A) -> Fut,
        Fut: Future<Output = Result<T, E>>,
        E: fmt::Debug,
        P: Classify<T, E> + Clone,
        FB: Fallback<A, T, E>,
        OT: OnTimeout<T, E>,
    {
        let ctx = Ctx {
            handle: self.handle.clone(),
            timer: self.handle.breaker().clock(),
            policy: &self.policy,
            fallback: &self.fallback,
            on_timeout: &self.on_timeout,
        };
        run(ctx, args, &self.f, self.classify.clone())
    }
}

impl<H, S, F, P, FB, OT> fmt::Debug for Protected<H, S, F, P, FB, OT>
where
    H: Handle,
    S: ConcurrencyLimit,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Protected")
            .field("breaker", &self.handle.breaker().name())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

/// A call under a policy through `handle`, for [`Handle::call_with`].
pub(crate) async fn call_with<H, S, F, T, E>(
    handle: H,
    policy: &Policy<S>,
    future: F,
) -> Result<T, Error<E>>
where
    H: Handle,
    <H::Breaker as Breaker>::Clock: Timer,
    S: ConcurrencyLimit,
    F: Future<Output = Result<T, E>>,
    E: fmt::Debug,
{
    let timer = handle.breaker().clock();
    let ctx = Ctx {
        handle: handle.clone(),
        timer,
        policy,
        fallback: &NoFallback,
        on_timeout: &ReturnTimeout,
    };
    run(ctx, future, |future| future, Errors).await
}
