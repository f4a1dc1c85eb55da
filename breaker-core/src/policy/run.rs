//! A call under a [`Policy`]: admission (waiting if asked), a slot of the limit, the call under
//! its timeout, or the fallback.
//!
//! This is an `async fn` rather than a hand-written future: the runtimes' semaphores return
//! futures that cannot be named (`tokio::sync::Semaphore::acquire` is an `async fn`, and
//! `ConcurrencyLimit::acquire` returns an `impl Future`), so a future holding one cannot be a
//! named type either.
//! It allocates nothing and needs no `std`; the timer's and the semaphore's futures are the named
//! parts it awaits.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::backoff::{Random, XorShift32};
use crate::classify::Classify;
use crate::clock::{Clock, Duration, Instant};
use crate::error::{Error, LimitReached, Rejected};
use crate::listener::{Event, Refused};
use crate::machine::State;
use crate::permit::Permit;
use crate::policy::{ConcurrencyLimit, Fallback, OnTimeout, Policy};
use crate::runtime::Timer;
use crate::seam::{Breaker, Handle, WaitHint};

/// Jitter for waiting callers whose policy brings no random source: shared, lock-free, and good
/// enough to spread wake-ups.
pub(crate) static JITTER: XorShift32 = XorShift32::new(0x2545_F491);

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

/// A random part of up to `poll`.
fn jitter(poll: Duration, random: &dyn Random) -> Duration {
    let extra = (crate::clock::micros(poll) as u128 * random.next_u32() as u128) >> 32;
    Duration::from_micros(extra as u64)
}

/// `poll` plus a random part of up to `poll`.
fn jittered(poll: Duration, random: &dyn Random) -> Duration {
    // Saturating: `core`'s `+` on durations panics on overflow.
    poll.saturating_add(jitter(poll, random))
}

/// A nap to the end of the open duration, `until_deadline` from now, plus a random part of up
/// to `poll`: waiters that all saw the breaker open do not all ask for the trial slots at the
/// same instant (a thundering herd on a recovering upstream, and on the breaker's state word),
/// and none of them asks later than `poll` after the deadline.
fn past_deadline(until_deadline: Duration, poll: Duration, random: &dyn Random) -> Duration {
    until_deadline.saturating_add(jitter(poll, random))
}

/// How long a waiter should sleep before asking again, judged from the stored state without
/// asking for a permit (which would count a rejection): `None` to ask now.
fn peek<B: Breaker + ?Sized>(
    b: &B,
    now: Instant,
    poll: Duration,
    random: &dyn Random,
) -> Option<Duration> {
    match b.wait_hint(now) {
        WaitHint::AskNow => None,
        // The open duration is known: sleep until it ends (and a little more), then compete for
        // a trial slot.
        WaitHint::Sleep(left) => Some(past_deadline(left, poll, random)),
        WaitHint::Poll => Some(jittered(poll, random)),
    }
}

/// Wait mode: a permit, or the rejection of the last attempt once `max_wait` has passed.
///
/// Waiters do not ask for a permit while the breaker is visibly open or its trial slots are all
/// taken, so a long wait counts one rejection (at the end), not one per look.
#[cfg(test)]
pub(crate) async fn wait_for_permit<H, T>(
    handle: H,
    timer: &T,
    max_wait: Duration,
    poll: Duration,
    random: &dyn Random,
) -> Result<Permit<H>, Rejected>
where
    H: Handle,
    T: Timer,
{
    wait_until(handle, timer, max_wait, &mut None, poll, random).await
}

/// [`wait_for_permit`], with the end of the wait kept in `deadline`: set from `max_wait` the
/// first time the clock is read, and kept for later waits of the same call (a call that gave its
/// permit back to queue for a slot of its limit waits for the breaker again within the same
/// maximum).
async fn wait_until<H, T>(
    handle: H,
    timer: &T,
    max_wait: Duration,
    deadline: &mut Option<Instant>,
    poll: Duration,
    random: &dyn Random,
) -> Result<Permit<H>, Rejected>
where
    H: Handle,
    T: Timer,
{
    let b = handle.breaker();
    if matches!(b.state(), State::Closed | State::Disabled) {
        // Closed: admitted as fast as a plain call, without reading the clock.
        if let Ok(permit) = handle.clone().try_acquire() {
            return Ok(permit);
        }
    }
    let clock = b.clock();
    let deadline = if max_wait == Duration::MAX {
        None
    } else {
        Some(*deadline.get_or_insert_with(|| clock.now() + max_wait))
    };
    // ops: when the wait first slept, for the `on_wait_ended` event.
    let mut slept_from: Option<Instant> = None;
    let ended = |admitted: bool, from: Option<Instant>, now: Instant| {
        if let Some(from) = from {
            let waited = now - from;
            let event = Event::WaitEnded { admitted, waited };
            handle.breaker().observe(&event);
        }
    };
    loop {
        let b = handle.breaker();
        let now = b.clock().now();
        let left = deadline.map(|d| d - now);
        let expired = left == Some(Duration::ZERO);
        let wait = if expired {
            None
        } else {
            peek(b, now, poll, random)
        };
        let nap = match wait {
            Some(nap) => nap,
            None => match handle.clone().try_acquire() {
                Ok(permit) => {
                    ended(true, slept_from, now);
                    return Ok(permit);
                }
                Err(rejected) if expired => {
                    ended(false, slept_from, now);
                    return Err(rejected);
                }
                Err(rejected) => match (rejected.state, rejected.retry_after()) {
                    (State::Open, Some(d)) => past_deadline(d, poll, random),
                    _ => jittered(poll, random),
                },
            },
        };
        let nap = match left {
            Some(left) => nap.min(left),
            None => nap,
        };
        slept_from.get_or_insert(now);
        timer.sleep(nap.max(MIN_NAP)).await;
    }
}

/// A slot of `limit`, waiting `left` at most; a limit that stays full reports having waited
/// `max` (the policy's limit wait, of which `left` is what remains).
async fn queue_for_slot<'l, S, T>(
    limit: &'l S,
    timer: &T,
    left: Duration,
    max: Duration,
) -> Result<S::Permit<'l>, LimitReached>
where
    S: ConcurrencyLimit,
    T: Timer,
{
    let full = |waited| LimitReached {
        name: limit.name(),
        waited,
    };
    if left == Duration::MAX {
        // `None` from the semaphore: it refused the waiter (closed, or its wait queue is full).
        return limit.acquire().await.ok_or(full(Duration::ZERO));
    }
    if left == Duration::ZERO {
        return Err(full(max));
    }
    match race(limit.acquire(), timer.sleep(left)).await {
        Either::Left(Some(slot)) => Ok(slot),
        Either::Left(None) => Err(full(Duration::ZERO)),
        Either::Right(()) => Err(full(max)),
    }
}

/// The error a timed-out call reports to listeners.
struct TimedOut(Duration);

impl fmt::Debug for TimedOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "timed out after {:?}", self.0)
    }
}

/// Everything a call under a policy borrows.
pub(crate) struct Ctx<'a, H, T, S, FB, OT> {
    pub(crate) handle: H,
    pub(crate) timer: &'a T,
    pub(crate) policy: &'a Policy<S>,
    pub(crate) fallback: &'a FB,
    pub(crate) on_timeout: &'a OT,
}

/// One call under a policy. `f` builds the call's future from `args` once it is admitted; a
/// refused call hands `args` to the fallback instead.
///
/// The order: admission by the breaker (waiting in wait mode), holding no slot of the limit;
/// then a slot, if one is free. A call that finds the limit full gives its permit back before it
/// queues: a permit held in a queue would be a half-open trial that does not run, given up as a
/// failure once it outlives the half-open maximum wait, when all that happened was local
/// saturation. Once it has a slot, it asks the breaker again without waiting (a wait would hold
/// the slot); refused, it lets the slot go and, in wait mode, starts over within the same
/// maximum waits.
pub(crate) async fn run<'a, H, T, S, FB, OT, A, F, Fut, U, E, P>(
    ctx: Ctx<'a, H, T, S, FB, OT>,
    args: A,
    f: F,
    classify: P,
) -> Result<U, Error<E>>
where
    H: Handle,
    T: Timer,
    S: ConcurrencyLimit,
    FB: Fallback<A, U, E>,
    OT: OnTimeout<U, E>,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = Result<U, E>>,
    E: fmt::Debug,
    P: Classify<U, E>,
{
    let policy = ctx.policy;
    let random = policy.random.unwrap_or(&JITTER);
    // The ends of the two waits, set when each wait first reads the clock.
    let mut admission_deadline = None;
    let mut slot_deadline: Option<Instant> = None;
    let refused = loop {
        let admitted = match policy.wait {
            // Inlined `false` for a breaker kind that admits at once: the plain path.
            None if ctx.handle.breaker().awaits_admission() => {
                match crate::seam::acquire_awaiting(ctx.handle.clone()) {
                    crate::seam::Acquiring::Now(admitted) => admitted,
                    crate::seam::Acquiring::Later(wait) => wait.await,
                }
            }
            None => ctx.handle.clone().try_acquire(),
            Some(max) => {
                wait_until(
                    ctx.handle.clone(),
                    ctx.timer,
                    max,
                    &mut admission_deadline,
                    policy.poll,
                    random,
                )
                .await
            }
        };
        let permit = match admitted {
            Ok(permit) => permit,
            Err(rejected) => break Error::Rejected(rejected),
        };
        let Some(limit) = &policy.limit else {
            return admitted_call(&ctx, permit, None::<()>, args, f, classify).await;
        };
        if let Some(slot) = limit.try_acquire() {
            return admitted_call(&ctx, permit, Some(slot), args, f, classify).await;
        }
        // The limit is full. The permit goes back unused (no "cancelled" event: the refusal is
        // reported as a limit event), which gives a half-open trial slot back and counts no
        // failure.
        permit.give_back();
        let Some(max) = policy.limit_wait else {
            break Error::LimitReached(LimitReached {
                name: limit.name(),
                waited: Duration::ZERO,
            });
        };
        let left = if max == Duration::MAX {
            Duration::MAX
        } else {
            let clock = ctx.handle.breaker().clock();
            let now = clock.now();
            *slot_deadline.get_or_insert(now + max) - now
        };
        let slot = match queue_for_slot(limit, ctx.timer, left, max).await {
            Ok(slot) => slot,
            Err(full) => break Error::LimitReached(full),
        };
        match ctx.handle.clone().try_acquire() {
            Ok(permit) => return admitted_call(&ctx, permit, Some(slot), args, f, classify).await,
            // Not admitted any more: without a wait mode, refused; in wait mode, wait for the
            // breaker again holding no slot (its deadline ends the loop).
            Err(rejected) if policy.wait.is_none() => break Error::Rejected(rejected),
            Err(_) => drop(slot),
        }
    };
    let breaker = ctx.handle.breaker();
    if let Error::LimitReached(full) = &refused {
        breaker.observe(&Event::LimitReached(full));
    }
    match ctx.fallback.fallback(args) {
        Some(fallback) => {
            let cause = match &refused {
                Error::Rejected(r) => Some(Refused::Breaker(r)),
                Error::LimitReached(l) => Some(Refused::Limit(l)),
                _ => None,
            };
            if let Some(cause) = cause {
                breaker.observe(&Event::Fallback(cause));
            }
            fallback.await.map_err(Error::Inner)
        }
        None => Err(refused),
    }
}

/// The call itself, admitted and holding its slot (if the policy has a limit), under the
/// policy's timeout.
async fn admitted_call<'a, H, T, S, FB, OT, A, F, Fut, U, E, P, G>(
    ctx: &Ctx<'a, H, T, S, FB, OT>,
    permit: Permit<H>,
    slot: Option<G>,
    args: A,
    f: F,
    mut classify: P,
) -> Result<U, Error<E>>
where
    H: Handle,
    T: Timer,
    OT: OnTimeout<U, E>,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = Result<U, E>>,
    E: fmt::Debug,
    P: Classify<U, E>,
{
    let call = f(args);
    let result = match ctx.policy.timeout {
        None => call.await,
        Some(after) => match race(call, ctx.timer.sleep(after)).await {
            Either::Left(result) => result,
            Either::Right(()) => {
                // The call's future is gone (dropped with the race); free its slot, then count
                // the timeout as a failure.
                drop(slot);
                let breaker = permit.handle().breaker();
                breaker.observe(&Event::Timeout(after));
                permit.failure_with(&TimedOut(after));
                return ctx.on_timeout.on_timeout(after);
            }
        },
    };
    // Inlined `false` for a breaker kind that decides reports at once: the plain path below.
    if permit.handle().breaker().awaits_reports() {
        // The call is over: its slot goes before the wait for its report's answer.
        drop(slot);
        return permit.conclude_async(result, &mut classify).await;
    }
    let outcome = permit.conclude(result, &mut classify);
    drop(slot);
    outcome
}
