//! The scenarios, each an `async fn` generic over the runtime ([`Harness`]), the breaker kind
//! ([`Kind`]) and, for those about admission, the call path ([`Path`]): what every runtime
//! adapter, every breaker kind and every way of calling must do the same way.
//!
//! A scenario holds its breaker in an `Arc` (owned handles) and also calls through `&*b`
//! (borrowed handles), so both forms of [`Handle`] are exercised.

use core::cell::Cell;
use core::panic::AssertUnwindSafe;
use core::task::Poll;
use std::boxed::Box;
use std::panic::catch_unwind;
use std::vec::Vec;

use breaker_core::classify::exclude;
use breaker_core::machine::Manual;
use breaker_core::{
    Breaker, Config, ConfigError, ConfigErrorKind, Duration, Error, Handle, Instant, Policy, State,
};

use crate::{
    config, join_all, ms, now, race, sleep, tripped, Down, Event, First, Harness, InFlight,
    InProcessBreaker, Kind, Outcome, Path, Recorder, Task,
};

async fn ok() -> Result<(), Down> {
    Ok(())
}

async fn fail() -> Result<(), Down> {
    Err(Down)
}

/// A call that does not finish on its own within any test.
async fn hang<H: Harness>() -> Result<(), Down> {
    sleep::<H>(Duration::from_secs(3600)).await;
    Ok(())
}

/// Checks that `measured` is `expected`: exactly on virtual time, within `[expected, expected +
/// slack]` on real time.
fn about<H: Harness>(measured: Duration, expected: Duration, slack: Duration) {
    if H::VIRTUAL {
        assert_eq!(measured, expected);
    } else {
        assert!(
            measured >= expected && measured <= expected + slack,
            "{measured:?} is not within {slack:?} after {expected:?}"
        );
    }
}

fn is_rejected<T>(r: &Outcome<T>) -> bool {
    r.as_ref().is_err_and(Error::is_rejected)
}

/// pybreaker's `fail_max`: the call whose failure reaches the threshold opens the breaker and
/// reports it; a success in between resets the count; while open, calls do not run.
///
/// The calls follow each other without a pause: a success right after two failures must reset
/// the count that those failures made.
pub async fn trips_after_n_failures<H: Harness, K: Kind<H>, P: Path>() {
    let b = K::build(config(3, ms(1_000))).await;
    for _ in 0..2 {
        assert_eq!(P::call(b.clone(), fail()).await, Err(Error::Inner(Down)));
    }
    assert_eq!(P::call(&*b, ok()).await, Ok(()));
    for _ in 0..2 {
        assert_eq!(P::call(b.clone(), fail()).await, Err(Error::Inner(Down)));
        K::settle(&b).await;
        assert_eq!(b.state(), State::Closed, "a success resets the count");
    }
    assert_eq!(P::call(&*b, fail()).await, Err(tripped::<P, _>(&*b)));
    K::settle(&b).await;
    assert_eq!(b.state(), State::Open);
    let ran = Cell::new(false);
    let r = P::call(b.clone(), async {
        ran.set(true);
        Ok(())
    })
    .await;
    assert!(is_rejected(&r), "{r:?}");
    assert!(!ran.get(), "a rejected call does not run");
}

/// A rejection says how long the breaker stays open: the rest of the open duration.
pub async fn rejects_while_open_with_the_time_left<H: Harness, K: Kind<H>, P: Path>() {
    let open = ms(200);
    let b = K::build(config(1, open)).await;
    // The breaker opened between `t0` and `t1`.
    let t0 = now::<H>();
    let _ = P::call(b.clone(), fail()).await;
    K::settle(&b).await;
    let t1 = now::<H>();
    sleep::<H>(ms(50)).await;
    let before = now::<H>();
    let Err(Error::Rejected(r)) = P::call(b.clone(), ok()).await else {
        panic!("not rejected")
    };
    let after = now::<H>();
    assert_eq!(r.state, State::Open);
    let left = r.retry_after().expect("the time left is known");
    // The breaker read its clock between `before` and `after`.
    assert!(left <= open.saturating_sub(before - t1), "{left:?}");
    assert!(left >= open.saturating_sub(after - t0), "{left:?}");
    if H::VIRTUAL {
        assert_eq!(left, ms(150));
    }
    assert!(r.to_string().contains("retry after"), "{r}");
}

/// Once the open duration has passed, the breaker is half-open and the next call is a trial:
/// a success closes it, a failure opens it again for another open duration.
pub async fn half_opens_after_the_open_duration<H: Harness, K: Kind<H>, P: Path>() {
    let b = K::build(config(1, ms(100))).await;
    let _ = P::call(b.clone(), fail()).await;
    K::settle(&b).await;
    sleep::<H>(ms(100) + K::LATENESS).await;
    assert_eq!(b.state(), State::HalfOpen);
    let trial = P::call(b.clone(), async { Ok((b.state(), K::machine(&b).trials)) }).await;
    assert_eq!(trial, Ok((State::HalfOpen, 1)), "the call ran as a trial");
    K::settle(&b).await;
    assert_eq!(b.state(), State::Closed);

    assert_eq!(P::call(&*b, fail()).await, Err(tripped::<P, _>(&*b)));
    K::settle(&b).await;
    sleep::<H>(ms(100) + K::LATENESS).await;
    assert_eq!(P::call(&*b, fail()).await, Err(tripped::<P, _>(&*b)));
    K::settle(&b).await;
    assert_eq!(b.state(), State::Open);
    let Err(Error::Rejected(r)) = P::call(&*b, ok()).await else {
        panic!("not rejected")
    };
    let left = r.retry_after().expect("open again");
    assert!(left <= ms(100), "{left:?}");
    if H::VIRTUAL {
        assert_eq!(left, ms(100));
    }
}

/// pybreaker's `success_threshold`: that many successful trials close the breaker; a failed
/// trial re-opens it and the count starts again.
pub async fn success_threshold_closes_after_enough_trials<H: Harness, K: Kind<H>, P: Path>() {
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(ms(100))
        .success_threshold(3)
        .build()
        .expect("valid configuration");
    let b = K::build(config).await;
    let _ = P::call(b.clone(), fail()).await;
    K::settle(&b).await;
    sleep::<H>(ms(100) + K::LATENESS).await;
    for _ in 0..2 {
        assert_eq!(P::call(b.clone(), ok()).await, Ok(()));
        K::settle(&b).await;
        assert_eq!(b.state(), State::HalfOpen);
    }
    assert_eq!(P::call(&*b, fail()).await, Err(tripped::<P, _>(&*b)));
    K::settle(&b).await;
    assert_eq!(b.state(), State::Open);
    sleep::<H>(ms(100) + K::LATENESS).await;
    for _ in 0..2 {
        assert_eq!(P::call(b.clone(), ok()).await, Ok(()));
        K::settle(&b).await;
        assert_eq!(b.state(), State::HalfOpen);
    }
    assert_eq!(P::call(&*b, ok()).await, Ok(()));
    K::settle(&b).await;
    assert_eq!(b.state(), State::Closed);
}

/// Half-open admits exactly `half_open_trials` of many concurrent callers (not "everyone once
/// the timeout passes").
pub async fn admits_exactly_the_permitted_trials_under_many_callers<
    H: Harness,
    K: Kind<H>,
    P: Path,
>() {
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(ms(100))
        .half_open_trials(3)
        .build()
        .expect("valid configuration");
    let b = K::build(config).await;
    let _ = P::call(b.clone(), fail()).await;
    K::settle(&b).await;
    sleep::<H>(ms(100) + K::LATENESS).await;
    let in_flight = InFlight::default();
    let callers: Vec<Task<'_, _>> = (0..50)
        .map(|i| {
            let work = in_flight.run(async {
                sleep::<H>(ms(20)).await;
                Ok(())
            });
            // Half the callers hold the `Arc`, half borrow the breaker.
            if i % 2 == 0 {
                P::call(b.clone(), work)
            } else {
                P::call(&*b, work)
            }
        })
        .collect();
    let results: Vec<Outcome<()>> = join_all(callers).await;
    let admitted = results.iter().filter(|r| r.is_ok()).count();
    let rejected = results.iter().filter(|r| is_rejected(r)).count();
    assert_eq!((admitted, rejected), (3, 47));
    assert_eq!(in_flight.peak(), 3);
    K::settle(&b).await;
    assert_eq!(b.state(), State::Closed);
}

/// A trial dropped before it finishes (a cancelled request, a `select!` that lost) gives its slot
/// back at once: the breaker does not stay stuck in half-open.
pub async fn a_cancelled_call_gives_its_trial_slot_back<H: Harness, K: Kind<H>, P: Path>() {
    let b = K::build(config(1, ms(100))).await;
    let policy = Policy::builder()
        .timeout(ms(500))
        .build()
        .expect("valid policy");
    let _ = P::call(b.clone(), fail()).await;
    K::settle(&b).await;
    sleep::<H>(ms(100) + K::LATENESS).await;
    // Through the path, then through a policy call (a direct-path future, whatever the path).
    let lost = race(P::call(b.clone(), hang::<H>()), sleep::<H>(ms(10))).await;
    assert!(matches!(lost, First::Right(())), "{lost:?}");
    K::settle(&b).await;
    assert_eq!((b.state(), K::machine(&b).trials), (State::HalfOpen, 0));
    let lost = race(
        b.clone().call_with(&policy, hang::<H>()),
        sleep::<H>(ms(10)),
    )
    .await;
    assert!(matches!(lost, First::Right(())), "{lost:?}");
    K::settle(&b).await;
    assert_eq!((b.state(), K::machine(&b).trials), (State::HalfOpen, 0));
    assert_eq!(P::call(&*b, ok()).await, Ok(()));
    K::settle(&b).await;
    assert_eq!(b.state(), State::Closed);
}

/// kompoz's `with_timeout`: a call that runs past its timeout is dropped and counts as a failure,
/// whatever the classifier says; an on-timeout handler chooses what the caller gets.
///
/// A policy feature (`call_with`, `protect`): direct path only.
pub async fn a_timeout_counts_as_a_failure<H: Harness, K: Kind<H>, P: Path>() {
    let b = K::build(config(3, ms(1_000))).await;
    let policy = Policy::builder().timeout(ms(30)).build().expect("valid");
    let start = now::<H>();
    let r = b.clone().call_with(&policy, hang::<H>()).await;
    assert_eq!(r, Err(Error::Timeout { after: ms(30) }));
    about::<H>(now::<H>() - start, ms(30), ms(200));
    K::settle(&b).await;
    assert_eq!(K::machine(&b).failures, 1);

    // A classifier that counts every error as a success still sees a timeout as a failure.
    let lenient = b
        .clone()
        .protect(policy, |()| hang::<H>())
        .classify(exclude(|_: &Down| true));
    assert_eq!(
        lenient.call(()).await,
        Err(Error::Timeout { after: ms(30) })
    );
    K::settle(&b).await;
    assert_eq!(K::machine(&b).failures, 2);

    let expired = Cell::new(Duration::ZERO);
    let handled = (&*b)
        .protect(policy, |()| hang::<H>())
        .on_timeout(|after: Duration| {
            expired.set(after);
            Ok::<_, Error<Down>>(())
        });
    assert_eq!(handled.call(()).await, Ok(()));
    assert_eq!(expired.get(), ms(30));
    K::settle(&b).await;
    assert_eq!(
        b.state(),
        State::Open,
        "the third timeout opened the breaker"
    );

    // A call that finishes in time keeps its result.
    let b = K::build(config(1, ms(1_000))).await;
    let quick = async {
        sleep::<H>(ms(5)).await;
        Ok::<_, Down>(7)
    };
    assert_eq!(b.clone().call_with(&policy, quick).await, Ok(7));
    // Invalid timeouts are refused when the policy is built, naming the setting.
    assert_eq!(
        Policy::builder()
            .timeout(Duration::ZERO)
            .build()
            .unwrap_err(),
        ConfigError::new("timeout", ConfigErrorKind::ZeroDuration)
    );
}

/// escudeiro's freezing breaker, without its stampede: callers in wait mode are not rejected
/// while the breaker is open; they are admitted through the half-open trial limit, and once it
/// re-closes the rest come in spread out, not all at the same instant.
///
/// A policy feature: direct path only.
pub async fn wait_mode_admits_waiters_after_reclosing_without_a_stampede<
    H: Harness,
    K: Kind<H>,
    P: Path,
>() {
    const WAITERS: usize = 30;
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(ms(100))
        .half_open_trials(2)
        .success_threshold(2)
        .build()
        .expect("valid configuration");
    let b = K::build(config).await;
    let policy = Policy::builder()
        .wait(Duration::from_secs(2))
        .poll_interval(ms(20))
        .build()
        .expect("valid policy");
    // The breaker opened at or after `opened`.
    let opened = now::<H>();
    let _ = b.clone().call_async(fail()).await;
    K::settle(&b).await;
    let rejected_before = K::rejections(&b);
    let trials = InFlight::default();
    let admitted_at: core::cell::RefCell<Vec<Instant>> = Default::default();
    let waiters: Vec<Task<'_, _>> = (0..WAITERS)
        .map(|i| {
            let work = async {
                admitted_at.borrow_mut().push(now::<H>());
                let call = async {
                    sleep::<H>(ms(10)).await;
                    Ok::<_, Down>(())
                };
                if b.state() == State::HalfOpen {
                    trials.run(call).await
                } else {
                    call.await
                }
            };
            if i % 2 == 0 {
                Box::pin(b.clone().call_with(&policy, work)) as Task<'_, _>
            } else {
                Box::pin((&*b).call_with(&policy, work))
            }
        })
        .collect();
    let results = join_all(waiters).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    K::settle(&b).await;
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        K::rejections(&b) - rejected_before,
        0,
        "no waiter was rejected"
    );

    let admitted_at = admitted_at.into_inner();
    assert!(
        admitted_at.iter().all(|t| *t - opened >= ms(100)),
        "nobody was admitted while open"
    );
    // Half-open: never more than the trial limit at once.
    assert!((1..=2).contains(&trials.peak()), "{}", trials.peak());
    // After re-closing: spread out over the jittered poll interval. At most a third of the
    // waiters in any one millisecond (half on real time, where a busy machine delays timers).
    let mut per_ms = std::collections::HashMap::<u64, usize>::new();
    for t in &admitted_at {
        *per_ms.entry(t.as_micros() / 1_000).or_default() += 1;
    }
    let busiest = per_ms.values().copied().max().unwrap_or(0);
    let bound = if H::VIRTUAL { WAITERS / 3 } else { WAITERS / 2 };
    assert!(
        busiest <= bound,
        "{busiest} waiters admitted in the same millisecond: {per_ms:?}"
    );
}

/// kompoz's `limited`: at most N calls in flight, shared by several breakers; a call that finds
/// the limit full is refused at once, or waits for a slot up to its maximum wait.
///
/// A policy feature: direct path only.
pub async fn the_concurrency_limit_holds<H: Harness, K: Kind<H>, P: Path>() {
    assert_eq!(
        H::try_limit(0).err(),
        Some(ConfigError::new("permits", ConfigErrorKind::Zero))
    );
    let limit = H::try_limit(3).expect("valid limit");
    let a = K::build(config(1, ms(1_000))).await;
    let b = K::build(config(1, ms(1_000))).await;

    // Waiting for a slot: everyone gets one in turn, never more than 3 at once.
    let queue = Policy::builder()
        .limit_wait(Duration::MAX)
        .build()
        .expect("valid policy")
        .limit(limit.clone());
    let in_flight = InFlight::default();
    let callers: Vec<Task<'_, _>> = (0..20)
        .map(|i| {
            let breaker = if i % 2 == 0 { &a } else { &b };
            let work = in_flight.run(async {
                sleep::<H>(ms(10)).await;
                Ok::<_, Down>(())
            });
            Box::pin(breaker.clone().call_with(&queue, work)) as Task<'_, _>
        })
        .collect();
    let results = join_all(callers).await;
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(in_flight.peak(), 3);

    // Not waiting: the 7 that find it full are refused, and do not count against the breaker.
    let reject = Policy::NONE.limit(limit.clone());
    let callers: Vec<Task<'_, _>> = (0..10)
        .map(|_| {
            let work = async {
                sleep::<H>(ms(10)).await;
                Ok::<_, Down>(())
            };
            Box::pin((&*a).call_with(&reject, work)) as Task<'_, _>
        })
        .collect();
    let results = join_all(callers).await;
    let refused = results
        .iter()
        .filter(|r| matches!(r, Err(Error::LimitReached(l)) if l.waited == Duration::ZERO))
        .count();
    assert_eq!((results.len() - refused, refused), (3, 7));
    K::settle(&a).await;
    assert_eq!((a.state(), K::machine(&a).failures), (State::Closed, 0));

    // Waiting up to 5 ms while the slots stay taken.
    let short = Policy::builder()
        .limit_wait(ms(5))
        .build()
        .expect("valid policy")
        .limit(limit.clone());
    let mut callers: Vec<Task<'_, _>> = (0..3)
        .map(|_| {
            let work = async {
                sleep::<H>(ms(100)).await;
                Ok::<_, Down>(())
            };
            Box::pin((&*a).call_with(&reject, work)) as Task<'_, _>
        })
        .collect();
    callers.push(Box::pin((&*b).call_with(&short, ok())));
    let results = join_all(callers).await;
    assert!(
        matches!(results[3], Err(Error::LimitReached(l)) if l.waited == ms(5)),
        "{:?}",
        results[3]
    );
    assert!(results[..3].iter().all(Result::is_ok));
}

/// aiocircuitbreaker's `fallback_function`: run with the same arguments when the call is refused
/// (by the breaker or by a full concurrency limit); the protected function does not run.
///
/// A policy feature: direct path only.
pub async fn the_fallback_runs_when_the_call_is_refused<H: Harness, K: Kind<H>, P: Path>() {
    let b = K::build(config(1, ms(1_000))).await;
    let ran = Cell::new(0);
    let fetch = |(user, page): (u32, u32)| {
        ran.set(ran.get() + 1);
        async move { Ok::<_, Down>(format!("fresh {user}/{page}")) }
    };
    let cached = |(user, page): (u32, u32)| async move { Ok(format!("cached {user}/{page}")) };
    let get = b.clone().protect(Policy::NONE, fetch).fallback(cached);
    assert_eq!(get.call((7, 1)).await.as_deref(), Ok("fresh 7/1"));
    K::manual(&b, Manual::ForceOpen).await;
    assert_eq!(get.call((7, 2)).await.as_deref(), Ok("cached 7/2"));
    assert_eq!(ran.get(), 1, "the protected function did not run");
    K::manual(&b, Manual::Close).await;

    // A full limit falls back too.
    let limit = H::try_limit(1).expect("valid limit");
    let policy = Policy::NONE.limit(limit);
    let slow = |id: u32| async move {
        sleep::<H>(ms(20)).await;
        Ok::<_, Down>(id)
    };
    let get = (&*b)
        .protect(policy, slow)
        .fallback(|id: u32| async move { Ok(id + 1_000) });
    let (first, second) = {
        let both: Vec<Task<'_, _>> = vec![Box::pin(get.call(1)), Box::pin(get.call(2))];
        let r = join_all(both).await;
        (r[0].clone(), r[1].clone())
    };
    assert_eq!((first, second), (Ok(1), Ok(1_002)));
}

/// Listeners see each call's events in order, and state changes after the event that caused
/// them: the admission that half-opens the breaker (`before_call`) comes before the change.
///
/// Kind-specific (the in-process breaker's listener, read back in order); direct path.
pub async fn listeners_see_every_event_in_order<H: Harness>() {
    use Event::*;
    use State::{Closed, HalfOpen, Open};
    let b = InProcessBreaker::<H, Recorder>::with_listener(config(2, ms(100)), Recorder::default());
    let policy = Policy::builder().timeout(ms(10)).build().expect("valid");
    let _ = b.call_async(ok()).await;
    let _ = b.call_async(fail()).await;
    let _ = b.call_with(&policy, hang::<H>()).await;
    let _ = b.call_async(ok()).await;
    assert_eq!(
        b.listener().take(),
        [
            Before(false),
            Success,
            Before(false),
            Failure,
            Before(false),
            Failure,
            Change(Closed, Open),
            Rejected(Open),
        ]
    );
    sleep::<H>(ms(100)).await;
    let _ = b.call_async(ok()).await;
    let _ = race(b.call_async(hang::<H>()), sleep::<H>(ms(1))).await;
    assert_eq!(
        b.listener().take(),
        [
            Before(true),
            Change(Open, HalfOpen),
            Success,
            Change(HalfOpen, Closed),
            Before(false),
            Cancelled,
        ]
    );
}

/// A call whose future panics: the panic reaches the caller (it is not turned into an error), and
/// the trial slot it held is given back when the future is dropped.
pub async fn a_panicking_call_is_not_swallowed_and_frees_its_trial_slot<
    H: Harness,
    K: Kind<H>,
    P: Path,
>() {
    // Half-open never gives up on a trial by itself here: only the dropped permit frees the slot
    // (and printing the panic's backtrace may take longer than an open duration).
    let config = Config::builder()
        .failure_threshold(1)
        .half_open_max_wait(Duration::MAX)
        .build()
        .expect("valid configuration");
    let b = K::build(config).await;
    let policy = Policy::builder().timeout(ms(50)).build().expect("valid");
    // Through the path, then through a policy call (a direct-path future, whatever the path).
    for through_policy in [false, true] {
        K::manual(&b, Manual::HalfOpen).await;
        let body = async {
            sleep::<H>(ms(1)).await;
            if Cell::new(true).get() {
                panic!("boom");
            }
            Ok::<(), Down>(())
        };
        let mut call: Task<'_, _> = if through_policy {
            Box::pin(b.clone().call_with(&policy, body))
        } else {
            P::call(b.clone(), body)
        };
        let outcome = core::future::poll_fn(|cx| {
            match catch_unwind(AssertUnwindSafe(|| call.as_mut().poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(r)) => Poll::Ready(Ok(r)),
                Err(panic) => Poll::Ready(Err(panic)),
            }
        })
        .await;
        let panic = outcome.expect_err("the panic propagates");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&"boom"));
        // The slot is given back when the future is dropped, or (for an `async fn`, whose locals
        // are dropped as the panic unwinds) already.
        drop(call);
        K::settle(&b).await;
        assert_eq!((b.state(), K::machine(&b).trials), (State::HalfOpen, 0));
        assert_eq!(P::call(&*b, ok()).await, Ok(()));
        K::settle(&b).await;
        assert_eq!(b.state(), State::Closed);
    }
}
