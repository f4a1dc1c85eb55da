//! The `Call` future and the `Permit` report every admitted call exactly once: an outcome, or a
//! cancellation that gives a half-open trial slot back, whatever panics and wherever the future
//! is dropped. Counted with a listener that records every event.
//! Run: cargo test -p breaker-core --test call_future
#![cfg(not(loom))]

use core::future::Future;
use core::panic::AssertUnwindSafe;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::panic::catch_unwind;
use std::sync::Arc;
use std::task::Wake;

use breaker_core::clock::MAX_INSTANT_MICROS;
use breaker_core::{
    Breaker, CircuitBreaker, Clock, Config, Duration, Error, Handle, Instant, Listener,
    ManualClock, Outcome, Rejected, State, Stats, Ticket, Transition,
};

/// Every event a call can cause, counted; and switches that make one listener method panic
/// (once each time it is armed).
#[derive(Default)]
struct Events {
    before_call: AtomicUsize,
    trials: AtomicUsize,
    success: AtomicUsize,
    failure: AtomicUsize,
    ignored: AtomicUsize,
    cancelled: AtomicUsize,
    rejected: AtomicUsize,
    changes: AtomicUsize,
    panic_before_call: AtomicBool,
    panic_half_open: AtomicBool,
    panic_success: AtomicBool,
    panic_failure: AtomicBool,
}

impl Events {
    fn get(c: &AtomicUsize) -> usize {
        c.load(Ordering::SeqCst)
    }
    /// Calls told of their admission.
    fn admitted(&self) -> usize {
        Self::get(&self.before_call)
    }
    /// Calls whose end was reported: an outcome or a cancellation.
    fn ended(&self) -> usize {
        Self::get(&self.success)
            + Self::get(&self.failure)
            + Self::get(&self.ignored)
            + Self::get(&self.cancelled)
    }
    fn cancelled(&self) -> usize {
        Self::get(&self.cancelled)
    }
}

fn fire(armed: &AtomicBool, what: &str) {
    if armed.swap(false, Ordering::SeqCst) {
        panic!("listener bug in {what}");
    }
}

impl Listener for Events {
    fn before_call(&self, _: &'static str, trial: bool) {
        self.before_call.fetch_add(1, Ordering::SeqCst);
        if trial {
            self.trials.fetch_add(1, Ordering::SeqCst);
        }
        fire(&self.panic_before_call, "before_call");
    }
    fn on_success(&self, _: &'static str, _: Option<Duration>) {
        self.success.fetch_add(1, Ordering::SeqCst);
        fire(&self.panic_success, "on_success");
    }
    fn on_failure(&self, _: &'static str, _: Option<&dyn core::fmt::Debug>) {
        self.failure.fetch_add(1, Ordering::SeqCst);
        fire(&self.panic_failure, "on_failure");
    }
    fn on_ignored(&self, _: &'static str) {
        self.ignored.fetch_add(1, Ordering::SeqCst);
    }
    fn on_cancelled(&self, _: &'static str) {
        self.cancelled.fetch_add(1, Ordering::SeqCst);
    }
    fn on_rejected(&self, _: &'static str, _: &Rejected) {
        self.rejected.fetch_add(1, Ordering::SeqCst);
    }
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        self.changes.fetch_add(1, Ordering::SeqCst);
        if t.to == State::HalfOpen {
            fire(&self.panic_half_open, "on_state_change");
        }
    }
}

/// One half-open trial at a time, and only a report or a drop frees it (no maximum wait), so a
/// leaked slot shows as a refusal however late the next caller comes.
fn config() -> Config {
    Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .half_open_trials(1)
        .half_open_max_wait(Duration::MAX)
        .build()
        .unwrap()
}

/// Opens `b` with one failure and lets the open duration pass: the next admission is the trial.
fn trip<B: Breaker>(b: &B, clock: &ManualClock, events: &Events) {
    let (admitted, ended) = (events.admitted(), events.ended());
    b.try_acquire().unwrap().failure();
    clock.advance(Duration::from_secs(1));
    assert_eq!(
        (events.admitted(), events.ended()),
        (admitted + 1, ended + 1)
    );
}

/// The trial slot is free: a new caller gets it (and gives it back).
fn assert_trial_free<B: Breaker>(b: &B, clock: &ManualClock) {
    clock.advance(Duration::from_secs(3600));
    match b.try_acquire() {
        Ok(p) => {
            assert!(p.is_trial());
            drop(p);
        }
        Err(r) => panic!("half-open wedged: the trial slot leaked ({r:?})"),
    }
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Noop));
    f.poll(&mut Context::from_waker(&waker))
}

/// Pending at its first poll, then ready with `Ok(7)` (and again at every later poll).
#[derive(Default)]
struct PendingOnce {
    polled: bool,
}
impl Future for PendingOnce {
    type Output = Result<u32, &'static str>;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if core::mem::replace(&mut self.polled, true) {
            Poll::Ready(Ok(7))
        } else {
            cx.waker().wake_by_ref();
            Poll::Pending
        }
    }
}

/// A `Call` dropped after admission, its future pending: the trial slot comes back at once and
/// `on_cancelled` is heard exactly once.
#[test]
fn call_dropped_while_running_gives_the_trial_back_once() {
    let clock = ManualClock::new();
    let events = Events::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    trip(&b, &clock, &events);
    let mut call = Box::pin(b.call_async(core::future::pending::<Result<u32, &str>>()));
    assert!(poll_once(call.as_mut()).is_pending());
    assert_eq!(Events::get(&events.trials), 1, "admitted as the trial");
    assert_eq!(b.stats().half_open_trials, 1);
    // The slot is held: a second caller is refused.
    assert!(b.try_acquire().is_err());
    drop(call);
    assert_eq!(
        events.cancelled(),
        1,
        "one cancellation for the dropped call"
    );
    assert_eq!(
        events.ended(),
        events.admitted(),
        "every admission reported once"
    );
    let s = b.stats();
    assert_eq!((s.state, s.half_open_trials), (State::HalfOpen, 0), "{s:?}");
    assert_trial_free(&b, &clock);
    assert_eq!(events.cancelled(), 2, "and the checking trial's own");
}

/// A `Call` never polled was never admitted: its drop reports nothing and takes no slot.
#[test]
fn call_dropped_before_its_first_poll_reports_nothing() {
    let clock = ManualClock::new();
    let events = Events::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    trip(&b, &clock, &events);
    let call = b.call_async(core::future::pending::<Result<u32, &str>>());
    drop(call);
    assert_eq!((events.admitted(), events.ended()), (1, 1), "nothing new");
    assert_eq!(Events::get(&events.changes), 1, "no open -> half-open yet");
    // As stored: open (`stats` would apply the due change and say half-open).
    let m = b.machine();
    assert_eq!((m.state, m.trials), (State::Open, 0), "{m:?}");
    // The same while closed (the quick admission).
    let closed = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    drop(closed.call_async(async { Ok::<_, &str>(1) }));
    assert_eq!((events.admitted(), events.ended()), (1, 1), "nothing new");
}

/// A `Call` that completed reported its outcome: dropping it, or polling it again first, reports
/// nothing more.
#[test]
fn call_dropped_after_completion_reports_nothing_more() {
    let clock = ManualClock::new();
    let events = Events::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    trip(&b, &clock, &events);
    let mut call = Box::pin(b.call_async(PendingOnce::default()));
    assert!(poll_once(call.as_mut()).is_pending());
    assert_eq!(
        poll_once(call.as_mut()).map(Result::ok),
        Poll::Ready(Some(7))
    );
    assert_eq!(Events::get(&events.success), 1);
    assert_eq!(b.stats().state, State::Closed, "the trial closed it");
    // Polled after it finished: the inner future's answer, unrecorded.
    assert_eq!(
        poll_once(call.as_mut()).map(Result::ok),
        Poll::Ready(Some(7))
    );
    drop(call);
    assert_eq!(
        (
            events.admitted(),
            Events::get(&events.success),
            events.cancelled()
        ),
        (2, 1, 0),
        "one admission, one success, no cancellation"
    );
    // Closed: the same through the quick admission.
    let mut call = Box::pin(b.call_async(PendingOnce::default()));
    assert!(poll_once(call.as_mut()).is_pending());
    assert!(poll_once(call.as_mut()).is_ready());
    drop(call);
    assert_eq!((events.admitted(), events.ended()), (3, 3));
    assert_eq!(events.cancelled(), 0);
}

/// A refused `Call` reports its refusal once; dropped, it reports nothing else.
#[test]
fn refused_call_reports_only_the_refusal() {
    let clock = ManualClock::new();
    let events = Events::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    b.try_acquire().unwrap().failure();
    let mut call = Box::pin(b.call_async(PendingOnce::default()));
    match poll_once(call.as_mut()) {
        Poll::Ready(Err(Error::Rejected(r))) => assert_eq!(r.state, State::Open),
        other => panic!("expected a refusal, got {other:?}"),
    }
    drop(call);
    assert_eq!(Events::get(&events.rejected), 1);
    assert_eq!((events.admitted(), events.ended()), (1, 1));
}

/// A classifier that panics inside `Call::poll`: the call ran but its outcome is unknown, so its
/// drop reports a cancellation and the trial slot comes back. Exactly one end per admission,
/// whether the future is dropped after the panic was caught or during the unwind.
#[test]
fn panicking_classifier_in_poll_gives_the_trial_back() {
    let classify = |_: &Result<u32, &str>| -> Outcome { panic!("classifier bug") };
    // Caught around the poll; the future dropped afterwards.
    let clock = ManualClock::new();
    let events = Events::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    trip(&b, &clock, &events);
    let mut call = Box::pin(b.call_async_classified(classify, async { Ok(1) }));
    assert!(catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut()))).is_err());
    assert_eq!(events.admitted(), 2);
    assert_eq!(events.ended(), 1, "nothing reported by the panicking poll");
    drop(call);
    assert_eq!(events.cancelled(), 1);
    assert_eq!(events.ended(), events.admitted());
    let s = b.stats();
    assert_eq!((s.state, s.half_open_trials), (State::HalfOpen, 0), "{s:?}");
    assert_trial_free(&b, &clock);

    // Dropped while the panic unwinds.
    let clock = ManualClock::new();
    let events = Events::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    trip(&b, &clock, &events);
    let r = catch_unwind(AssertUnwindSafe(|| {
        futures_executor::block_on(b.call_async_classified(classify, async { Ok(1) }))
    }));
    assert!(r.is_err());
    assert_eq!(
        (events.admitted(), events.ended(), events.cancelled()),
        (2, 2, 1)
    );
    assert_eq!(b.stats().half_open_trials, 0);
    assert_trial_free(&b, &clock);
}

/// The protected future itself panics: the same, a cancellation.
#[test]
fn panicking_inner_future_gives_the_trial_back() {
    let clock = ManualClock::new();
    let events = Events::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
    trip(&b, &clock, &events);
    let r = catch_unwind(AssertUnwindSafe(|| {
        futures_executor::block_on(b.call_async(async {
            if events.admitted() > 0 {
                panic!("the call panics");
            }
            Ok::<u32, &str>(1)
        }))
    }));
    assert!(r.is_err());
    assert_eq!(
        (events.admitted(), events.ended(), events.cancelled()),
        (2, 2, 1)
    );
    assert_trial_free(&b, &clock);
}

/// Which admission listener panics.
#[derive(Clone, Copy, Debug)]
enum AdmissionPanic {
    BeforeCall,
    HalfOpen,
}

fn arm(events: &Events, which: AdmissionPanic) {
    match which {
        AdmissionPanic::BeforeCall => events.panic_before_call.store(true, Ordering::SeqCst),
        AdmissionPanic::HalfOpen => events.panic_half_open.store(true, Ordering::SeqCst),
    }
}

/// A listener that panics while the trial's admission is reported (`before_call`, or the open
/// -> half-open change), on the `Call` path: the admitted future's drop gives the slot back, with
/// one cancellation.
#[test]
fn panicking_admission_listener_on_the_call_path_gives_the_trial_back() {
    for which in [AdmissionPanic::BeforeCall, AdmissionPanic::HalfOpen] {
        // Caught around the poll; the future dropped afterwards.
        let clock = ManualClock::new();
        let events = Events::default();
        let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
        trip(&b, &clock, &events);
        arm(&events, which);
        let mut call = Box::pin(b.call_async(core::future::pending::<Result<u32, &str>>()));
        let r = catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut())));
        assert!(r.is_err(), "{which:?}: the listener panicked");
        assert_eq!(b.stats().half_open_trials, 1, "{which:?}: held by the call");
        drop(call);
        assert_eq!(events.cancelled(), 1, "{which:?}");
        assert_eq!(events.ended(), events.admitted(), "{which:?}");
        assert_eq!(b.stats().half_open_trials, 0, "{which:?}");
        assert_trial_free(&b, &clock);

        // Dropped while the panic unwinds.
        let clock = ManualClock::new();
        let events = Events::default();
        let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
        trip(&b, &clock, &events);
        arm(&events, which);
        let r = catch_unwind(AssertUnwindSafe(|| {
            futures_executor::block_on(b.call_async(async { Ok::<u32, &str>(1) }))
        }));
        assert!(r.is_err(), "{which:?}: the listener panicked");
        assert_eq!(events.cancelled(), 1, "{which:?}");
        assert_eq!(events.ended(), events.admitted(), "{which:?}");
        assert_trial_free(&b, &clock);
    }
}

/// The same on the `Permit` path (`try_acquire`): the permit exists before any listener runs,
/// so the panic drops it and it reports one cancellation.
#[test]
fn panicking_admission_listener_on_the_permit_path_gives_the_trial_back() {
    for which in [AdmissionPanic::BeforeCall, AdmissionPanic::HalfOpen] {
        let clock = ManualClock::new();
        let events = Events::default();
        let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
        trip(&b, &clock, &events);
        arm(&events, which);
        let r = catch_unwind(AssertUnwindSafe(|| b.try_acquire().map(|p| p.success())));
        assert!(r.is_err(), "{which:?}: the listener panicked");
        assert_eq!(events.cancelled(), 1, "{which:?}");
        assert_eq!(events.ended(), events.admitted(), "{which:?}");
        let s = b.stats();
        assert_eq!(
            (s.state, s.half_open_trials),
            (State::HalfOpen, 0),
            "{which:?}: {s:?}"
        );
        assert_trial_free(&b, &clock);
    }
}

/// A permit whose report panics in a listener was reported: its drop (during the unwind) must
/// not report it again as a cancellation. For `record`, `conclude` and the `Call` future.
#[test]
fn a_report_whose_listener_panics_is_not_reported_again() {
    type Way = fn(&CircuitBreaker<&ManualClock, Config, &Events>, bool);
    let ways: [(&str, Way); 3] = [
        ("record", |b, ok| {
            let p = b.try_acquire().unwrap();
            if ok {
                p.success();
            } else {
                p.failure();
            }
        }),
        ("conclude", |b, ok| {
            let p = b.try_acquire().unwrap();
            let r: Result<u32, &str> = if ok { Ok(1) } else { Err("down") };
            let _ = p.conclude(r, &mut breaker_core::classify::Errors);
        }),
        ("call_async", |b, ok| {
            let r: Result<u32, &str> = if ok { Ok(1) } else { Err("down") };
            let _ = futures_executor::block_on(b.call_async(async move { r }));
        }),
    ];
    for (name, way) in ways {
        for ok in [true, false] {
            for trial in [false, true] {
                let clock = ManualClock::new();
                let events = Events::default();
                let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &events);
                if trial {
                    trip(&b, &clock, &events);
                }
                let armed = if ok {
                    &events.panic_success
                } else {
                    &events.panic_failure
                };
                armed.store(true, Ordering::SeqCst);
                let r = catch_unwind(AssertUnwindSafe(|| way(&b, ok)));
                assert!(
                    r.is_err(),
                    "{name} ok={ok} trial={trial}: the listener panicked"
                );
                assert_eq!(
                    events.cancelled(),
                    0,
                    "{name} ok={ok} trial={trial}: reported again from drop"
                );
                assert_eq!(
                    events.ended(),
                    events.admitted(),
                    "{name} ok={ok} trial={trial}"
                );
                // The outcome counted although its listener panicked.
                let s = b.stats();
                let expected = match (ok, trial) {
                    (true, _) => State::Closed,
                    (false, _) => State::Open,
                };
                assert_eq!(s.state, expected, "{name} ok={ok} trial={trial}: {s:?}");
                assert_eq!(s.half_open_trials, 0);
            }
        }
    }
}

/// A `Call` over an `Arc` handle owns its breaker share: `'static`, it can be moved to another
/// thread, and however it ends (completed, dropped mid-call, refused, never polled) the share is
/// given back.
#[test]
fn call_over_an_arc_handle_gives_its_share_back() {
    let clock: &'static ManualClock = Box::leak(Box::new(ManualClock::new()));
    let events: &'static Events = Box::leak(Box::default());
    let b = Arc::new(CircuitBreaker::with_clock_and_listener(
        clock,
        config(),
        events,
    ));
    fn spawnable<T: Send + 'static>(t: T) -> T {
        t
    }

    // Completed on another thread.
    let call = spawnable(Handle::call_async(Arc::clone(&b), async {
        Ok::<_, &str>(1)
    }));
    let r = std::thread::spawn(move || futures_executor::block_on(call))
        .join()
        .unwrap();
    assert_eq!(r.ok(), Some(1));
    assert_eq!(Arc::strong_count(&b), 1);

    // Never polled.
    drop(Handle::call_async(Arc::clone(&b), async {
        Ok::<_, &str>(1)
    }));
    assert_eq!(Arc::strong_count(&b), 1);

    // A trial, dropped mid-call on another thread.
    trip(&*b, clock, events);
    let before = events.ended();
    let mut call = Box::pin(Handle::call_async(
        Arc::clone(&b),
        core::future::pending::<Result<u32, &str>>(),
    ));
    assert!(poll_once(call.as_mut()).is_pending());
    assert_eq!(Arc::strong_count(&b), 2);
    std::thread::spawn(move || drop(call)).join().unwrap();
    assert_eq!(Arc::strong_count(&b), 1);
    assert_eq!((events.cancelled(), events.ended()), (1, before + 1));
    assert_eq!(b.stats().half_open_trials, 0);

    // Refused.
    b.force_open();
    let r = futures_executor::block_on(Handle::call_async(Arc::clone(&b), async {
        Ok::<_, &str>(1)
    }));
    assert!(matches!(r, Err(Error::Rejected(_))));
    assert_eq!(Arc::strong_count(&b), 1);
}

/// A ticket keeps the start it was given: no instant a public constructor accepts reads back
/// as "not timed".
#[test]
fn a_ticket_keeps_its_start() {
    for micros in [0, 1, MAX_INSTANT_MICROS - 1, MAX_INSTANT_MICROS] {
        let t = Ticket::new(3, true, Some(Instant::from_micros(micros)));
        assert_eq!(t.started_at(), Some(Instant::from_micros(micros)));
        assert_eq!((t.generation(), t.is_trial()), (3, true));
    }
    assert_eq!(Ticket::new(3, false, None).started_at(), None);
    // Beyond the clock contract (`MAX_INSTANT_MICROS`): still exact, and still timed at
    // `u64::MAX` (the ticket's own "not timed" value), one microsecond earlier.
    for micros in [MAX_INSTANT_MICROS + 1, u64::MAX - 1] {
        let t = Ticket::new(3, false, Some(Instant::from_micros(micros)));
        assert_eq!(t.started_at(), Some(Instant::from_micros(micros)));
    }
    let t = Ticket::new(3, false, Some(Instant::from_micros(u64::MAX)));
    assert_eq!(
        t.started_at(),
        Some(Instant::from_micros(u64::MAX - 1)),
        "a start at u64::MAX µs became 'not timed'"
    );
    assert_ne!(t, Ticket::new(3, false, None));
}

/// An open breaker without a driver refuses from its published deadline inline: the same
/// refusal `Machine::open_time_left` gives (state open, the time left), heard once, nothing
/// changed; and at the deadline itself the call is admitted (refused only while now < deadline).
#[test]
fn undriven_refusal_matches_the_time_left_and_admits_at_the_deadline() {
    let clock = ManualClock::new();
    let events = Events::default();
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(5))
        .half_open_trials(1)
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &events);
    clock.advance(Duration::from_micros(1234));
    b.try_acquire().unwrap().failure();
    assert!(!b.is_driven());
    let deadline = b
        .machine()
        .deadline
        .expect("published by the opening report");
    assert_eq!(deadline, clock.now() + Duration::from_secs(5));
    let before = b.machine();
    let changes = Events::get(&events.changes);
    for left in [
        Duration::from_secs(5),
        Duration::from_millis(2500),
        Duration::from_micros(2),
        Duration::from_micros(1),
    ] {
        clock.set(Instant::from_micros(
            deadline.as_micros() - left.as_micros() as u64,
        ));
        let expected = before.open_time_left(clock.now());
        assert_eq!(expected, Some(left));
        let rejected = events.rejected.load(Ordering::SeqCst);
        let r = Breaker::admit(&b).expect_err("open, deadline not reached");
        assert_eq!(
            (r.state, r.retry_after()),
            (State::Open, expected),
            "{left:?} left"
        );
        assert_eq!(Events::get(&events.rejected), rejected + 1, "heard once");
        // The same through every way in.
        let r = b.try_acquire().expect_err("refused");
        assert_eq!((r.state, r.retry_after()), (State::Open, expected));
        match futures_executor::block_on(b.call_async(async { Ok::<_, &str>(1) })) {
            Err(Error::Rejected(r)) => {
                assert_eq!((r.state, r.retry_after()), (State::Open, expected))
            }
            other => panic!("expected a refusal, got {other:?}"),
        }
        assert_eq!(b.machine(), before, "a refusal changes nothing");
        assert_eq!(Events::get(&events.changes), changes);
    }
    // Exactly at the deadline: no longer open, the trial is admitted.
    clock.set(deadline);
    assert_eq!(before.open_time_left(clock.now()), None);
    let admitted = Breaker::admit(&b).expect("admitted at the deadline");
    assert!(admitted.ticket.is_trial());
    assert_eq!(
        admitted.transition.map(|t| (t.from, t.to)),
        Some((State::Open, State::HalfOpen))
    );
    Breaker::report(&b, &admitted.ticket, breaker_core::End::Cancelled);
}

/// Threads race `Call` futures for two trial slots, ending each one way or another (dropped while
/// pending, dropped before its first poll, completed, refused): no slot leaks, every admission
/// is reported exactly once, and both slots are free at the end. (No fairness is promised: two
/// threads may keep the slots between them while the others are refused.) Outcomes are
/// classified as ignored, so the breaker stays half-open throughout.
#[test]
fn racing_calls_leak_no_trial_slot() {
    const THREADS: usize = 4;
    const ROUNDS: usize = 2_000;
    let clock = ManualClock::new();
    let events = Events::default();
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .half_open_trials(2)
        .half_open_max_wait(Duration::MAX)
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &events);
    trip(&b, &clock, &events);
    let ignore = |_: &Result<u32, &str>| Outcome::Ignored;
    let start = std::sync::Barrier::new(THREADS);
    let admitted_per_thread: Vec<usize> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..THREADS)
            .map(|t| {
                let (b, start) = (&b, &start);
                s.spawn(move || {
                    start.wait();
                    let mut admitted = 0;
                    for round in 0..ROUNDS {
                        let mut call =
                            Box::pin(b.call_async_classified(ignore, PendingOnce::default()));
                        if (round + t) % 4 == 3 {
                            drop(call); // never polled
                            continue;
                        }
                        match poll_once(call.as_mut()) {
                            Poll::Pending => admitted += 1,
                            Poll::Ready(Err(Error::Rejected(_))) => continue,
                            Poll::Ready(other) => panic!("unexpected {other:?}"),
                        }
                        if (round + t) % 2 == 0 {
                            assert!(poll_once(call.as_mut()).is_ready());
                        }
                        std::thread::yield_now();
                        drop(call);
                    }
                    admitted
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    let total: usize = admitted_per_thread.iter().sum();
    println!(
        "admitted per thread: {admitted_per_thread:?}, refused: {}",
        Events::get(&events.rejected)
    );
    assert!(total > 0);
    assert_eq!(events.admitted(), total + 1, "{admitted_per_thread:?}");
    assert_eq!(
        events.ended(),
        events.admitted(),
        "each admission reported once"
    );
    assert_eq!(
        Events::get(&events.ignored) + events.cancelled(),
        total,
        "an outcome or a cancellation each"
    );
    let s = b.stats();
    assert_eq!((s.state, s.half_open_trials), (State::HalfOpen, 0), "{s:?}");
    let (p, q) = (b.try_acquire().unwrap(), b.try_acquire().unwrap());
    assert!(p.is_trial() && q.is_trial(), "both slots free");
}
