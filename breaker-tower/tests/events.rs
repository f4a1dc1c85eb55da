//! What listeners hear from requests through the layer, path by path: the closed path (the
//! compact permit), timed calls and half-open trials (the whole ticket), cancellations,
//! refusals, and a listener that panics while a trial is admitted.

use core::fmt::Debug;
use core::panic::AssertUnwindSafe;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::Poll;
use std::panic::catch_unwind;
use std::sync::{Arc, Mutex};

use breaker_core::{
    CircuitBreaker, Config, Duration, Listener, ManualClock, Rejected, State, Stats, Transition,
};
use breaker_tower::error::BoxError;
use breaker_tower::CircuitBreakerLayer;
use tower_test::mock;

/// Records every event, in order.
#[derive(Default)]
struct Record(Mutex<Vec<String>>);

impl Record {
    fn take(&self) -> Vec<String> {
        core::mem::take(&mut *self.0.lock().unwrap())
    }
    fn push(&self, event: String) {
        self.0.lock().unwrap().push(event);
    }
}

impl Listener for Record {
    fn before_call(&self, _: &'static str, trial: bool) {
        self.push(format!("before_call trial={trial}"));
    }
    fn on_success(&self, _: &'static str, elapsed: Option<Duration>) {
        self.push(format!("success elapsed={elapsed:?}"));
    }
    fn on_failure(&self, _: &'static str, error: Option<&dyn Debug>) {
        self.push(format!("failure error={error:?}"));
    }
    fn on_ignored(&self, _: &'static str) {
        self.push("ignored".into());
    }
    fn on_cancelled(&self, _: &'static str) {
        self.push("cancelled".into());
    }
    fn on_rejected(&self, _: &'static str, r: &Rejected) {
        self.push(format!("rejected {:?}", r.state));
    }
}

type Recorded = Arc<CircuitBreaker<ManualClock, Config, Record>>;

fn recorded(config: Config) -> Recorded {
    Arc::new(CircuitBreaker::with_clock_and_listener(
        ManualClock::new(),
        config,
        Record::default(),
    ))
}

fn two_failures_open() -> Config {
    Config::builder()
        .failure_threshold(2)
        .open_for(Duration::from_secs(5))
        .half_open_trials(1)
        .success_threshold(1)
        .build()
        .unwrap()
}

fn ready<S: tower::Service<R, Error = BoxError>, R>(s: &mut mock::Spawn<S>) {
    assert!(matches!(s.poll_ready(), Poll::Ready(Ok(()))));
}

#[tokio::test]
async fn closed_requests_are_heard_once_each_in_order() {
    let b = recorded(two_failures_open());
    let (mut svc, mut upstream) =
        mock::spawn_layer::<&str, &str, _>(CircuitBreakerLayer::new(Arc::clone(&b)));

    // A success.
    ready(&mut svc);
    let call = svc.call("a");
    let (_, send) = upstream.next_request().await.unwrap();
    assert_eq!(b.listener().take(), ["before_call trial=false"]);
    send.send_response("ok");
    assert_eq!(call.await.unwrap(), "ok");
    assert_eq!(b.listener().take(), ["success elapsed=None"]);

    // A failure: listeners get the error.
    ready(&mut svc);
    let call = svc.call("b");
    let (_, send) = upstream.next_request().await.unwrap();
    send.send_error(std::io::Error::other("down"));
    assert!(call.await.is_err());
    let events = b.listener().take();
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[0], "before_call trial=false");
    assert!(events[1].starts_with("failure error=Some("), "{events:?}");
    assert!(events[1].contains("down"), "{events:?}");
    assert_eq!(b.stats().consecutive_failures, 1);

    // Dropped before it finished: a cancellation, which counts for nothing.
    ready(&mut svc);
    let call = svc.call("c");
    let (_, _send) = upstream.next_request().await.unwrap();
    drop(call);
    assert_eq!(
        b.listener().take(),
        ["before_call trial=false", "cancelled"]
    );
    assert_eq!(b.stats().consecutive_failures, 1);
    assert_eq!(b.state(), State::Closed);

    // A success after a failure resets the count (the report is not the no-op one).
    ready(&mut svc);
    let call = svc.call("d");
    let (_, send) = upstream.next_request().await.unwrap();
    send.send_response("ok");
    call.await.unwrap();
    assert_eq!(b.stats().consecutive_failures, 0);
    b.listener().take();
}

#[tokio::test]
async fn a_timed_call_reports_how_long_it_took() {
    // The slow-call rule times calls: the ticket carries a start, so the layer keeps it whole.
    let config = Config::builder()
        .count_window::<10>()
        .failure_threshold(2)
        .slow_calls(Duration::from_secs(10), 1.0)
        .build()
        .unwrap();
    let b = Arc::new(CircuitBreaker::with_clock_and_listener(
        ManualClock::new(),
        config,
        Record::default(),
    ));
    let (mut svc, mut upstream) =
        mock::spawn_layer::<&str, &str, _>(CircuitBreakerLayer::new(Arc::clone(&b)));

    ready(&mut svc);
    let call = svc.call("slow");
    let (_, send) = upstream.next_request().await.unwrap();
    b.clock().advance(Duration::from_millis(1500));
    send.send_response("ok");
    call.await.unwrap();
    assert_eq!(
        b.listener().take(),
        [
            "before_call trial=false".to_string(),
            format!("success elapsed={:?}", Some(Duration::from_millis(1500))),
        ]
    );

    // Dropped, a timed call is a cancellation too.
    ready(&mut svc);
    let call = svc.call("gone");
    let (_, _send) = upstream.next_request().await.unwrap();
    drop(call);
    assert_eq!(
        b.listener().take(),
        ["before_call trial=false", "cancelled"]
    );
}

#[tokio::test]
async fn refusals_and_trials_are_heard() {
    let b = recorded(two_failures_open());
    for _ in 0..2 {
        b.try_acquire().unwrap().failure();
    }
    b.listener().take();
    let (mut svc, mut upstream) =
        mock::spawn_layer::<&str, &str, _>(CircuitBreakerLayer::new(Arc::clone(&b)));

    // Open: `poll_ready` decides the refusal (heard once), `call` delivers it.
    ready(&mut svc);
    let refused = svc.call("x").await.unwrap_err();
    assert!(refused.is::<Rejected>());
    assert_eq!(b.listener().take(), ["rejected Open"]);

    // Half-open: the trial is heard as one, and its success closes the breaker.
    b.clock().advance(Duration::from_secs(5));
    ready(&mut svc);
    let trial = svc.call("trial");
    let (_, send) = upstream.next_request().await.unwrap();
    assert_eq!(b.listener().take(), ["before_call trial=true"]);
    send.send_response("ok");
    trial.await.unwrap();
    assert_eq!(b.listener().take(), ["success elapsed=None"]);
    assert_eq!(b.state(), State::Closed);
}

/// A listener whose `before_call` panics on a trial.
struct PanicOnTrial;

impl Listener for PanicOnTrial {
    fn before_call(&self, _: &'static str, trial: bool) {
        assert!(!trial, "listener bug in before_call");
    }
}

#[tokio::test]
async fn a_listener_that_panics_on_admission_gives_the_trial_slot_back() {
    let b = Arc::new(CircuitBreaker::with_clock_and_listener(
        ManualClock::new(),
        two_failures_open(),
        PanicOnTrial,
    ));
    for _ in 0..2 {
        b.try_acquire().unwrap().failure();
    }
    b.clock().advance(Duration::from_secs(5));
    let (mut svc, mut upstream) =
        mock::spawn_layer::<&str, &str, _>(CircuitBreakerLayer::new(Arc::clone(&b)));

    ready(&mut svc);
    let panicked = catch_unwind(AssertUnwindSafe(|| drop(svc.call("trial"))));
    assert!(panicked.is_err());
    // The trial's slot came back, and the inner service was not called.
    assert_eq!(b.stats().half_open_trials, 0);
    assert_eq!(b.state(), State::HalfOpen);
    assert!(upstream.poll_request().is_pending());
}

/// Hears state changes; panics on open -> half-open while armed.
#[derive(Default)]
struct Changes {
    seen: Mutex<Vec<(State, State)>>,
    cancelled: AtomicUsize,
    panic_half_open: AtomicBool,
}

impl Listener for Changes {
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        self.seen.lock().unwrap().push((t.from, t.to));
        if t.to == State::HalfOpen && self.panic_half_open.swap(false, Ordering::SeqCst) {
            panic!("listener bug in on_state_change");
        }
    }
    fn on_cancelled(&self, _: &'static str) {
        self.cancelled.fetch_add(1, Ordering::SeqCst);
    }
}

/// The state change that admitting a trial causes (open -> half-open) travels beside the ticket
/// (`Admitted::transition`): the layer must hand it to `Breaker::admitted`, heard once; and a
/// listener that panics on it gives the trial slot back, as the core's permit does.
#[tokio::test]
async fn the_admitting_state_change_is_heard_and_a_panic_there_gives_the_trial_back() {
    for armed in [false, true] {
        let b = Arc::new(CircuitBreaker::with_clock_and_listener(
            ManualClock::new(),
            two_failures_open(),
            Changes::default(),
        ));
        for _ in 0..2 {
            b.try_acquire().unwrap().failure();
        }
        b.clock().advance(Duration::from_secs(5));
        b.listener().panic_half_open.store(armed, Ordering::SeqCst);
        let (mut svc, mut upstream) =
            mock::spawn_layer::<&str, &str, _>(CircuitBreakerLayer::new(Arc::clone(&b)));
        ready(&mut svc);
        let call = catch_unwind(AssertUnwindSafe(|| svc.call("trial")));
        assert_eq!(call.is_err(), armed, "armed={armed}");
        assert_eq!(
            *b.listener().seen.lock().unwrap(),
            [(State::Closed, State::Open), (State::Open, State::HalfOpen)],
            "armed={armed}: the admitting change heard once"
        );
        if let Ok(call) = call {
            // Held by the request until it ends: dropped, it gives the slot back.
            assert_eq!(b.stats().half_open_trials, 1);
            let (_, _send) = upstream.next_request().await.unwrap();
            drop(call);
        } else {
            assert!(
                upstream.poll_request().is_pending(),
                "the inner service was not called"
            );
        }
        assert_eq!(
            b.listener().cancelled.load(Ordering::SeqCst),
            1,
            "armed={armed}"
        );
        let s = b.stats();
        assert_eq!((s.state, s.half_open_trials), (State::HalfOpen, 0), "{s:?}");
        assert!(
            b.try_acquire().unwrap().is_trial(),
            "armed={armed}: the slot is free"
        );
    }
}
