//! The timed features over a manual clock: a timer that completes when the clock passes its
//! deadline, and a driver that advances the clock one millisecond whenever nothing is ready.

use core::cell::Cell;
use core::future::Future;
use core::pin::{pin, Pin};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use super::run::{run, wait_for_permit, Ctx};
use super::*;
use crate::classify::{expected, Errors};
use crate::error::Rejected;
use crate::machine::{Outcome, State};
use crate::{CircuitBreaker, Clock, Config, Instant, LimitReached, ManualClock};

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
    let b = CircuitBreaker::with_clock(&clock, config(1));
    let _ = b.call(|| Err::<(), _>("down"));
    clock.advance(ms(30));
    let permit = drive(&clock, wait_for_permit(&b, &timer, ms(500), ms(10))).unwrap();
    assert!(permit.is_trial());
    assert_eq!(clock.now().as_micros(), 100_000, "woke exactly at the end");
    permit.success();
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().rejected, 0, "waiting counted no rejection");
}

#[test]
fn a_waiter_gives_up_after_its_maximum_wait_with_one_rejection() {
    let clock = ManualClock::new();
    let timer = ManualTimer(&clock);
    let b = CircuitBreaker::with_clock(&clock, config(1));
    b.force_open();
    let r: Rejected = drive(&clock, wait_for_permit(&b, &timer, ms(50), ms(5))).unwrap_err();
    assert_eq!(r.state, State::ForcedOpen);
    assert_eq!(clock.now().as_micros(), 50_000);
    assert_eq!(b.stats().rejected, 1);
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
    let waiter = wait_for_permit(&b, &timer, ms(500), ms(10));
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
    let permit = drive(&clock, wait_for_permit(&b, &timer, ms(1_000), ms(10))).unwrap();
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
