//! What a call does beyond admission, written once over small traits that each runtime adapter
//! implements: a per-call timeout, a wait mode, a concurrency limit and a fallback.
//!
//! - [`crate::runtime::Timer`]: sleep for a duration, for the timeout and the wait mode.
//! - [`ConcurrencyLimit`]: a semaphore, implemented by each adapter with its runtime's own
//!   (`tokio::sync::Semaphore`, `async_lock::Semaphore`, a fair queue on `embassy_sync`'s
//!   blocking mutex).
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
//! Calls under a policy are made with [`crate::CircuitBreaker::call_with`] (or
//! [`crate::Handle::call_with`]) and by [`Protected`] functions. A call without a policy
//! ([`crate::CircuitBreaker::call_async`]) is the core's [`crate::Call`] future unchanged: the
//! timer costs nothing unless it is used.
//!
//! One file per piece: [`Policy`] and its builder (`builder.rs`), the concurrency limit
//! (`limit.rs`), fallback and on-timeout handlers (`fallback.rs`), protected functions
//! (`protected.rs`), and the call itself, from admission to result (`run.rs`).
//!
//! [`Error::Timeout`]: crate::Error::Timeout
//! [`Error::LimitReached`]: crate::Error::LimitReached

mod builder;
mod fallback;
mod limit;
pub(crate) mod protected;
mod run;
#[cfg(test)]
mod tests;

pub use builder::{Policy, PolicyBuilder};
pub use fallback::{Fallback, NoFallback, OnTimeout, ReturnTimeout};
pub use limit::{check_permits, ConcurrencyLimit, NoLimit, MAX_PERMITS};
pub use protected::Protected;
