//! The timed features over a manual clock: a timer that completes when the clock passes its
//! deadline, and a driver that advances the clock one millisecond whenever nothing is ready.

use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use super::run::{run, wait_for_permit, Ctx, JITTER};
use super::*;
use crate::classify::{expected, Errors};
use crate::clock::Duration;
use crate::error::Error;
use crate::error::Rejected;
use crate::machine::{Outcome, State};
use crate::runtime::Timer;
use crate::{
    CircuitBreaker, Clock, Config, Instant, LimitReached, ManualClock, Random, XorShift32,
};

struct ManualTimer<'c>(&'c ManualClock);

struct ManualSleep<'c> {
    clock: &'c ManualClock,
    until: Instant,
}

impl Future for ManualSleep<'_> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        if self.clock.now() >= self.until {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

impl<'c> Timer for ManualTimer<'c> {
    type Sleep = ManualSleep<'c>;
    fn sleep(&self, d: Duration) -> ManualSleep<'c> {
        ManualSleep {
            clock: self.0,
            until: self.0.now() + d,
        }
    }
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

/// Polls `fut` to completion, advancing `clock` by 1 ms whenever it is pending.
fn drive<F: Future>(clock: &ManualClock, fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    let mut fut = pin!(fut);
    for _ in 0..1_000_000 {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        clock.advance(Duration::from_millis(1));
    }
    panic!("the future never finished");
}

/// Sleeps `d` on `clock`, then returns `r`.
async fn work<T>(clock: &ManualClock, d: Duration, r: T) -> T {
    ManualTimer(clock).sleep(d).await;
    r
}

fn config(threshold: u32) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .open_for(Duration::from_millis(100))
        .build()
        .unwrap()
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

type Breaker<'c> = CircuitBreaker<&'c ManualClock>;

/// Counts refusals: the breaker keeps no shared count of its own (see `CircuitBreaker::reject`).
#[derive(Default)]
struct Refusals(core::sync::atomic::AtomicUsize);

impl Refusals {
    fn count(&self) -> usize {
        self.0.load(core::sync::atomic::Ordering::Relaxed)
    }
}

impl crate::Listener for Refusals {
    fn on_rejected(&self, _: &'static str, _: &Rejected) {
        self.0.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    }
}

fn ctx<'a, 'c, S>(
    b: &'a Breaker<'c>,
    timer: &'a ManualTimer<'c>,
    policy: &'a Policy<S>,
) -> Ctx<'a, &'a Breaker<'c>, ManualTimer<'c>, S, NoFallback, ReturnTimeout> {
    Ctx {
        handle: b,
        timer,
        policy,
        fallback: &NoFallback,
        on_timeout: &ReturnTimeout,
    }
}

#[test]
fn a_timeout_is_a_failure_whatever_the_classifier_says() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(2));
    let policy = Policy::builder().timeout(ms(20)).build().unwrap();
    // A classifier that would ignore every error still sees timeouts counted.
    let ignore_all = expected(|_: &&str| false);
    for _ in 0..2 {
        let slow = |()| work(&clock, ms(50), Ok::<u32, &str>(1));
        let r = drive(&clock, run(ctx(&b, &timer, &policy), (), slow, ignore_all));
        assert_eq!(r, Err(Error::Timeout { after: ms(20) }));
    }
    assert_eq!(b.state(), State::Open);
    // The timeout is measured from admission: 20 ms of virtual time per call.
    assert_eq!(clock.now().as_micros(), 40_000);
}

#[test]
fn a_call_within_its_timeout_keeps_its_result() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1));
    let policy = Policy::builder().timeout(ms(20)).build().unwrap();
    let fast = |x: u32| work(&clock, ms(5), Ok::<_, &str>(x * 2));
    let r = drive(&clock, run(ctx(&b, &timer, &policy), 21, fast, Errors));
    assert_eq!(r, Ok(42));
    let failing = |()| work(&clock, ms(5), Err::<u32, _>("refused"));
    let r = drive(&clock, run(ctx(&b, &timer, &policy), (), failing, Errors));
    assert_eq!(r, Err(Error::Tripped("refused")));
}

#[test]
fn the_on_timeout_handler_chooses_the_result() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1));
    let policy = Policy::builder().timeout(ms(10)).build().unwrap();
    let handler = |after: Duration| Ok::<_, Error<&str>>(after.as_millis() as u32);
    let c = Ctx {
        on_timeout: &handler,
        handle: &b,
        timer: &timer,
        policy: &policy,
        fallback: &NoFallback,
    };
    let slow = |()| work(&clock, ms(50), Ok::<u32, &str>(1));
    assert_eq!(drive(&clock, run(c, (), slow, Errors)), Ok(10));
    // Still a failure for the breaker.
    assert_eq!(b.state(), State::Open);
}

#[test]
fn a_waiter_is_admitted_when_the_open_duration_ends() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(1), Refusals::default());
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(ms(30));
    let permit = drive(
        &clock,
        wait_for_permit(&b, &timer, ms(500), ms(10), &JITTER),
    )
    .unwrap();
    assert!(permit.is_trial());
    let t = clock.now().as_micros();
    assert!(
        (100_000..=110_000).contains(&t),
        "woke at {t}, within a poll interval of the end"
    );
    permit.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.listener().count(), 0, "waiting counted no rejection");
}

#[test]
fn a_waiter_gives_up_after_its_maximum_wait_with_one_rejection() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(1), Refusals::default());
    b.force_open();
    let r: Rejected =
        drive(&clock, wait_for_permit(&b, &timer, ms(50), ms(5), &JITTER)).unwrap_err();
    assert_eq!(r.state, State::ForcedOpen);
    assert_eq!(clock.now().as_micros(), 50_000);
    assert_eq!(b.listener().count(), 1);
}

#[test]
fn waiters_for_a_busy_half_open_breaker_poll_with_jitter() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1));
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(ms(100));
    let trial = b.try_acquire().unwrap();
    assert!(trial.is_trial());
    // The only trial slot is taken: a waiter looks again every 10..20 ms, and is admitted once
    // the trial has closed the breaker.
    let finish_trial = async {
        ManualTimer(&clock).sleep(ms(35)).await;
        trial.success();
    };
    let waiter = wait_for_permit(&b, &timer, ms(500), ms(10), &JITTER);
    let (_, permit) = drive(&clock, join(finish_trial, waiter));
    let permit = permit.unwrap();
    assert!(!permit.is_trial());
    let t = clock.now().as_micros();
    assert!((135_000..=160_000).contains(&t), "admitted at {t}");
}

#[test]
fn a_waiter_does_not_wait_on_a_hung_trial_past_the_half_open_maximum_wait() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1)); // half-open maximum wait: 100 ms
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(ms(100));
    let hung = b.try_acquire().unwrap();
    // At 200 ms the hung trial is given up (open again, for 100 ms); at 300 ms the waiter is
    // admitted as the next trial, long before its maximum wait.
    let permit = drive(
        &clock,
        wait_for_permit(&b, &timer, ms(1_000), ms(10), &JITTER),
    )
    .unwrap();
    assert!(permit.is_trial());
    let t = clock.now().as_micros();
    assert!((300_000..=320_000).contains(&t), "admitted at {t}");
    drop(hung); // from an older generation: changes nothing
    assert_eq!(b.machine().trials, 1);
}

#[test]
fn a_full_limit_refuses_and_gives_the_trial_slot_back() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1));
    b.half_open();
    let full = Full;
    let policy = Policy::NONE.limit(&full);
    let ran = Cell::new(false);
    let f = |()| async {
        ran.set(true);
        Ok::<(), &str>(())
    };
    let r = drive(&clock, run(ctx(&b, &timer, &policy), (), f, Errors));
    assert_eq!(
        r,
        Err(Error::LimitReached(LimitReached {
            name: "full",
            waited: Duration::ZERO
        }))
    );
    assert!(!ran.get());
    assert_eq!(b.machine().trials, 0, "the trial slot was given back");

    let policy = Policy::builder()
        .limit_wait(ms(25))
        .build()
        .unwrap()
        .limit(&full);
    let r = drive(&clock, run(ctx(&b, &timer, &policy), (), f, Errors));
    assert_eq!(
        r,
        Err(Error::LimitReached(LimitReached {
            name: "full",
            waited: ms(25)
        }))
    );
    assert_eq!(clock.now().as_micros(), 25_000);
}

#[test]
fn the_fallback_gets_the_arguments_of_a_refused_call() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1));
    b.force_open();
    let policy = Policy::NONE;
    let fallback = |x: u32| async move { Ok::<_, &str>(x + 1000) };
    let c = Ctx {
        fallback: &fallback,
        handle: &b,
        timer: &timer,
        policy: &policy,
        on_timeout: &ReturnTimeout,
    };
    let f = |x: u32| async move { Ok::<_, &str>(x) };
    assert_eq!(drive(&clock, run(c, 7, f, Errors)), Ok(1007));
    // A fallback's error is the call's inner error.
    let failing = |_: u32| async { Err::<u32, _>("no cache") };
    let c = Ctx {
        fallback: &failing,
        handle: &b,
        timer: &timer,
        policy: &policy,
        on_timeout: &ReturnTimeout,
    };
    assert_eq!(
        drive(&clock, run(c, 7, f, Errors)),
        Err(Error::Inner("no cache"))
    );
}

#[test]
fn a_dropped_call_gives_its_trial_slot_back() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1));
    b.half_open();
    let policy = Policy::builder().timeout(ms(100)).build().unwrap();
    let slow = |()| work(&clock, ms(50), Ok::<(), &str>(()));
    {
        let waker = Waker::from(Arc::new(Noop));
        let mut cx = Context::from_waker(&waker);
        let mut call = pin!(run(ctx(&b, &timer, &policy), (), slow, Errors));
        assert!(call.as_mut().poll(&mut cx).is_pending());
        assert_eq!(b.machine().trials, 1);
    }
    assert_eq!(b.machine().trials, 0);
    let retry = b.try_acquire().expect("the slot is free again");
    assert!(retry.is_trial());
    retry.record(Outcome::Success);
    assert_eq!(b.state(), State::Closed);
}

/// A limit that is always full and never grants a slot.
struct Full;

impl ConcurrencyLimit for Full {
    type Permit<'a> = ();
    fn try_acquire(&self) -> Option<()> {
        None
    }
    fn acquire(&self) -> impl Future<Output = Option<()>> {
        core::future::pending()
    }
    fn name(&self) -> &'static str {
        "full"
    }
}

/// Polls both to completion.
async fn join<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let mut a = pin!(a);
    let mut b = pin!(b);
    let (mut ra, mut rb) = (None, None);
    core::future::poll_fn(|cx| {
        if ra.is_none() {
            if let Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    (ra.unwrap(), rb.unwrap())
}

/// A limit of one slot, for one thread.
struct OneSlot(Cell<bool>);

struct Slot<'a>(&'a OneSlot);

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.0 .0.set(false);
    }
}

impl ConcurrencyLimit for OneSlot {
    type Permit<'a> = Slot<'a>;
    fn try_acquire(&self) -> Option<Slot<'_>> {
        if self.0.replace(true) {
            None // not `then_some`: a slot built for nothing would free the slot when dropped
        } else {
            Some(Slot(self))
        }
    }
    fn acquire(&self) -> impl Future<Output = Option<Slot<'_>>> {
        core::future::poll_fn(|_| match self.try_acquire() {
            Some(slot) => Poll::Ready(Some(slot)),
            None => Poll::Pending, // `drive` polls again every millisecond
        })
    }
}

#[test]
fn a_trial_queueing_for_a_full_limit_is_not_given_up_as_a_failure() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1)); // half-open maximum wait: 100 ms
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(ms(100)); // half-open from now on
    let limit = OneSlot(Cell::new(false));
    let policy = Policy::builder()
        .limit_wait(ms(1_000))
        .build()
        .unwrap()
        .limit(&limit);
    // The slot is busy for 250 ms, longer than the half-open maximum wait.
    let busy = limit.try_acquire().unwrap();
    let release = async {
        ManualTimer(&clock).sleep(ms(250)).await;
        drop(busy);
    };
    // 210 ms later someone looks: the queued call must not hold the trial slot, and must not have
    // been given up (which would open the breaker again, as if the upstream had failed).
    let look = async {
        ManualTimer(&clock).sleep(ms(210)).await;
        let trials = b.machine().trials;
        let state = b.state();
        (trials, state)
    };
    let ran_at = Cell::new(0);
    let f = |()| async {
        ran_at.set(clock.now().as_micros());
        Ok::<_, &str>(7)
    };
    let call = run(ctx(&b, &timer, &policy), (), f, Errors);
    let ((_, seen), r) = drive(&clock, join(join(release, look), call));
    assert_eq!(seen, (0, State::HalfOpen), "no trial held while queueing");
    assert_eq!(r, Ok(7));
    // The slot came free at 350 ms (100 ms + 250 ms); `drive` steps 1 ms at a time.
    let t = ran_at.get();
    assert!((350_000..=351_000).contains(&t), "ran at {t}");
    assert_eq!(
        b.state(),
        State::Closed,
        "the trial ran and closed the breaker"
    );
    assert_eq!(b.stats().consecutive_failures, 0);
}

/// A manual timer that records the instant each sleep ends.
struct RecordingTimer<'c> {
    clock: &'c ManualClock,
    wakes: RefCell<Vec<u64>>,
}

impl<'c> Timer for RecordingTimer<'c> {
    type Sleep = ManualSleep<'c>;
    fn sleep(&self, d: Duration) -> ManualSleep<'c> {
        let until = self.clock.now() + d;
        self.wakes.borrow_mut().push(until.as_micros());
        ManualSleep {
            clock: self.clock,
            until,
        }
    }
}

/// Where each of `n` waiters, polled once 30 ms into a 100 ms open duration, plans to wake.
fn first_wakes(n: usize, policy: &Policy) -> Vec<u64> {
    let clock = ManualClock::new();
    let timer = RecordingTimer {
        clock: &clock,
        wakes: RefCell::new(Vec::new()),
    };
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(1), Refusals::default());
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(ms(30));
    let waker = Waker::from(Arc::new(Noop));
    let mut cx = Context::from_waker(&waker);
    for _ in 0..n {
        let c = Ctx {
            handle: &b,
            timer: &timer,
            policy,
            fallback: &NoFallback,
            on_timeout: &ReturnTimeout,
        };
        let ok = |()| async { Ok::<(), &str>(()) };
        let mut call = pin!(run(c, (), ok, Errors));
        assert!(call.as_mut().poll(&mut cx).is_pending());
    }
    assert_eq!(b.listener().count(), 0, "looking counted no rejection");
    timer.wakes.into_inner()
}

#[test]
fn waiters_for_the_end_of_the_open_duration_do_not_all_wake_at_once() {
    let policy = Policy::builder()
        .wait(ms(1_000))
        .poll_interval(ms(10))
        .build()
        .unwrap();
    let wakes = first_wakes(16, &policy);
    assert_eq!(wakes.len(), 16);
    // All within one poll interval after the end (100 ms): latency stays bounded...
    assert!(
        wakes.iter().all(|w| (100_000..110_000).contains(w)),
        "{wakes:?}"
    );
    // ...and spread over it, not a herd at one instant.
    let mut distinct = wakes.clone();
    distinct.sort_unstable();
    distinct.dedup();
    assert!(distinct.len() >= 12, "{wakes:?}");
    let spread = distinct[distinct.len() - 1] - distinct[0];
    assert!(spread >= 5_000, "spread over {spread} µs only: {wakes:?}");
}

#[test]
fn a_policy_carries_its_random_source_and_a_seed_repeats_a_run() {
    static SEED_A: XorShift32 = XorShift32::new(42);
    static SEED_A_AGAIN: XorShift32 = XorShift32::new(42);
    static SEED_B: XorShift32 = XorShift32::new(43);
    const fn seeded(random: &'static XorShift32) -> Policy {
        match Policy::builder().wait(Duration::MAX).random(random).build() {
            Ok(p) => p,
            Err(_) => panic!("invalid policy"),
        }
    }
    // Const-buildable, as a firmware keeps its policies in `static`s.
    static A: Policy = seeded(&SEED_A);
    static A_AGAIN: Policy = seeded(&SEED_A_AGAIN);
    static B: Policy = seeded(&SEED_B);
    let a = first_wakes(8, &A);
    assert_eq!(a, first_wakes(8, &A_AGAIN), "the same seed, the same wakes");
    assert_ne!(a, first_wakes(8, &B), "another seed, other wakes");
    // Every draw came from the policy's source, in order.
    let again = XorShift32::new(42);
    let expected: Vec<u64> = (0..8)
        .map(|_| 100_000 + ((10_000u128 * again.next_u32() as u128) >> 32) as u64)
        .collect();
    assert_eq!(a, expected);
}
