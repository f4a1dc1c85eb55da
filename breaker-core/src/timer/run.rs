//! A call under a [`Policy`]: admission (waiting if asked), a slot of the limit, the call under
//! its timeout, or the fallback.
//!
//! This is an `async fn` rather than a hand-written future: the runtimes' semaphores return
//! futures that cannot be named (`tokio::sync::Semaphore::acquire` is an `async fn`, and
//! `ConcurrencyLimit::acquire` returns an `impl Future`), so a future holding one cannot be a
//! named type either.
//! It allocates nothing and needs no `std`; the timer's and the semaphore's futures are the named
//! parts it awaits.

use core::borrow::Borrow;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::backoff::{Random, XorShift32};
use crate::breaker::CircuitBreaker;
use crate::classify::Classify;
use crate::clock::{Clock, Duration, Instant};
use crate::config::Config;
use crate::error::{Error, LimitReached, Rejected};
use crate::listener::Listener;
use crate::machine::State;
use crate::permit::Permit;
use crate::timer::{ConcurrencyLimit, Fallback, OnTimeout, Policy, Timer};
use crate::window::Window;

/// Jitter for waiting callers: shared, lock-free, and good enough to spread wake-ups.
static JITTER: XorShift32 = XorShift32::new(0x2545_F491);

/// The shortest nap of a waiting caller: a runtime whose time stands still unless every task
/// sleeps (tokio's paused clock) must see the waiter sleep, never spin.
const MIN_NAP: Duration = Duration::from_micros(1);

pub(crate) enum Either<A, B> {
    Left(A),
    Right(B),
}

pin_project! {
    /// Polls `a`, then `b`; the first ready wins (`a` on a tie, so that a call finishing just as
    /// its timeout expires keeps its result).
    pub(crate) struct Race<A, B> {
        #[pin]
        a: A,
        #[pin]
        b: B,
    }
}

pub(crate) fn race<A: Future, B: Future>(a: A, b: B) -> Race<A, B> {
    Race { a, b }
}

impl<A: Future, B: Future> Future for Race<A, B> {
    type Output = Either<A::Output, B::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Poll::Ready(a) = this.a.poll(cx) {
            return Poll::Ready(Either::Left(a));
        }
        match this.b.poll(cx) {
            Poll::Ready(b) => Poll::Ready(Either::Right(b)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// `poll` plus a random part of up to `poll`.
fn jittered(poll: Duration) -> Duration {
    let extra = (poll.as_micros() as u128 * JITTER.next_u32() as u128) >> 32;
    poll + Duration::from_micros(extra as u64)
}

/// How long a waiter should sleep before asking again, judged from the stored state without
/// asking for a permit (which would count a rejection): `None` to ask now.
fn peek<C, W, L, K>(
    b: &CircuitBreaker<C, W, L, K>,
    now: Instant,
    poll: Duration,
) -> Option<Duration>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    let m = b.machine();
    match m.state {
        State::Closed | State::Disabled => None,
        // The open duration is known: sleep until it ends, then compete for a trial slot.
        State::Open => match m.deadline {
            Some(deadline) if deadline > now => Some(deadline - now),
            Some(_) => None,
            None => Some(jittered(poll)), // a transition is still publishing its deadline
        },
        State::HalfOpen if m.trials >= b.config().settings().half_open_trials() => {
            match m.deadline {
                // The trials have outlived the half-open maximum wait: asking for a permit lets
                // the breaker give up on them (and open again).
                Some(deadline) if deadline <= now => None,
                _ => Some(jittered(poll)),
            }
        }
        State::HalfOpen => None,
        State::ForcedOpen => Some(jittered(poll)),
    }
}

/// Wait mode: a permit, or the rejection of the last attempt once `max_wait` has passed.
///
/// Waiters do not ask for a permit while the breaker is visibly open or its trial slots are all
/// taken, so a long wait counts one rejection (at the end), not one per look.
pub(crate) async fn wait_for_permit<'a, C, W, L, K, T>(
    b: &'a CircuitBreaker<C, W, L, K>,
    timer: &T,
    max_wait: Duration,
    poll: Duration,
) -> Result<Permit<'a, C, W, L, K>, Rejected>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
    T: Timer,
{
    if b.machine().admits_without_clock() {
        // Closed: admitted as fast as a plain call, without reading the clock.
        return b.try_acquire();
    }
    let clock = b.clock();
    let deadline = if max_wait == Duration::MAX {
        None
    } else {
        Some(clock.now() + max_wait)
    };
    loop {
        let now = clock.now();
        let left = deadline.map(|d| d - now);
        let expired = left == Some(Duration::ZERO);
        let wait = if expired { None } else { peek(b, now, poll) };
        let nap = match wait {
            Some(nap) => nap,
            None => match b.try_acquire() {
                Ok(permit) => return Ok(permit),
                Err(rejected) if expired => return Err(rejected),
                Err(rejected) => match (rejected.state, rejected.retry_after) {
                    (State::Open, Some(d)) => d,
                    _ => jittered(poll),
                },
            },
        };
        let nap = match left {
            Some(left) => nap.min(left),
            None => nap,
        };
        timer.sleep(nap.max(MIN_NAP)).await;
    }
}

/// A slot of `limit`, waiting up to `max_wait` if the policy allows.
async fn acquire_slot<'l, S, T>(
    limit: &'l S,
    timer: &T,
    max_wait: Option<Duration>,
) -> Result<S::Permit<'l>, LimitReached>
where
    S: ConcurrencyLimit,
    T: Timer,
{
    if let Some(slot) = limit.try_acquire() {
        return Ok(slot);
    }
    let full = |waited| LimitReached {
        name: limit.name(),
        waited,
    };
    match max_wait {
        None => Err(full(Duration::ZERO)),
        // `None` from the semaphore: it refused the waiter (closed, or its wait queue is full).
        Some(Duration::MAX) => limit.acquire().await.ok_or(full(Duration::ZERO)),
        Some(max) => match race(limit.acquire(), timer.sleep(max)).await {
            Either::Left(Some(slot)) => Ok(slot),
            Either::Left(None) => Err(full(Duration::ZERO)),
            Either::Right(()) => Err(full(max)),
        },
    }
}

/// The error a timed-out call reports to listeners.
struct TimedOut(Duration);

impl fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {}", self.0)
    }
}

/// Everything a call under a policy borrows.
pub(crate) struct Ctx<'a, C, W, L, K, T, S, FB, H> {
    pub(crate) breaker: &'a CircuitBreaker<C, W, L, K>,
    pub(crate) timer: &'a T,
    pub(crate) policy: &'a Policy<S>,
    pub(crate) fallback: &'a FB,
    pub(crate) on_timeout: &'a H,
}

/// One call under a policy. `f` builds the call's future from `args` once it is admitted; a
/// refused call hands `args` to the fallback instead.
pub(crate) async fn run<'a, C, W, L, K, T, S, FB, H, A, F, Fut, U, E, P>(
    ctx: Ctx<'a, C, W, L, K, T, S, FB, H>,
    args: A,
    f: F,
    mut classify: P,
) -> Result<U, Error<E>>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
    T: Timer,
    S: ConcurrencyLimit,
    FB: Fallback<A, U, E>,
    H: OnTimeout<U, E>,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = Result<U, E>>,
    E: fmt::Debug,
    P: Classify<U, E>,
{
    let policy = ctx.policy;
    let admitted = match policy.wait {
        None => ctx.breaker.try_acquire(),
        Some(max) => wait_for_permit(ctx.breaker, ctx.timer, max, policy.poll).await,
    };
    let refused = match admitted {
        Ok(permit) => {
            let slot = match &policy.limit {
                None => Ok(None),
                Some(limit) => acquire_slot(limit, ctx.timer, policy.limit_wait)
                    .await
                    .map(Some),
            };
            match slot {
                Ok(slot) => {
                    let call = f(args);
                    let result = match policy.timeout {
                        None => call.await,
                        Some(after) => {
                            let raced = race(call, ctx.timer.sleep(after)).await;
                            match raced {
                                Either::Left(result) => result,
                                Either::Right(()) => {
                                    // The call's future is gone (dropped with the race); free
                                    // its slot, then count the timeout as a failure.
                                    drop(slot);
                                    permit.failure_with(&TimedOut(after));
                                    return ctx.on_timeout.on_timeout(after);
                                }
                            }
                        }
                    };
                    let outcome = permit.conclude(result, &mut classify);
                    drop(slot);
                    return outcome;
                }
                // The call will not run: dropping the permit reports it as cancelled, which gives
                // a half-open trial slot back.
                Err(full) => {
                    drop(permit);
                    Error::LimitReached(full)
                }
            }
        }
        Err(rejected) => Error::Rejected(rejected),
    };
    match ctx.fallback.fallback(args) {
        Some(fallback) => fallback.await.map_err(Error::Inner),
        None => Err(refused),
    }
}
