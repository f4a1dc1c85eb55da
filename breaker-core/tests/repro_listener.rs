//! Listeners (and classifiers) that panic leak no half-open trial slot and leave the breaker
//! consistent. Run: cargo test -p breaker-core --test repro_listener -- --nocapture
//! (with `--features std` for the panic-during-unwind case).
#![cfg(not(loom))]

use core::panic::AssertUnwindSafe;
use core::sync::atomic::{AtomicBool, Ordering};
use std::panic::catch_unwind;

use breaker_core::{
    CircuitBreaker, Config, Duration, Listener, ManualClock, State, Stats, Transition,
};

/// A listener whose `before_call` panics once, on a trial (say, a metrics client's `unwrap()`).
#[derive(Default)]
struct PanicOnTrial {
    armed: AtomicBool,
}
impl Listener for PanicOnTrial {
    fn before_call(&self, _: &'static str, trial: bool) {
        if trial && self.armed.swap(false, Ordering::SeqCst) {
            panic!("listener bug in before_call");
        }
    }
}

/// A listener whose `on_state_change` panics once, on open -> half-open.
#[derive(Default)]
struct PanicOnHalfOpen {
    armed: AtomicBool,
}
impl Listener for PanicOnHalfOpen {
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        if t.to == State::HalfOpen && self.armed.swap(false, Ordering::SeqCst) {
            panic!("listener bug in on_state_change");
        }
    }
}

fn config() -> Config {
    Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .half_open_trials(1)
        // Rely on dropped permits alone to free trial slots (documented option).
        .half_open_max_wait(Duration::MAX)
        .build()
        .unwrap()
}

/// README: "A trial whose caller goes away (a dropped permit or future, a panic) gives its slot
/// back at once ... Half-open never wedges."
#[test]
fn panic_in_before_call_leaks_the_trial_slot() {
    let clock = ManualClock::new();
    let l = PanicOnTrial::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &l);
    assert!(b.try_acquire().unwrap().failure());
    clock.advance(Duration::from_secs(1));
    l.armed.store(true, Ordering::SeqCst);
    // The caller's thread panics inside try_acquire (in the listener); it never got a permit.
    let r = catch_unwind(AssertUnwindSafe(|| b.try_acquire().map(|p| p.success())));
    assert!(r.is_err(), "the listener panicked");
    // The panic went away: the trial slot should be free again.
    clock.advance(Duration::from_secs(3600));
    let s = b.stats();
    println!("after the panic: {s:?}");
    assert!(
        b.try_acquire().is_ok(),
        "half-open wedged: trial slot leaked by a panic ({} trials in flight, nobody holds them)",
        s.half_open_trials
    );
}

#[test]
fn panic_in_on_state_change_leaks_the_trial_slot() {
    let clock = ManualClock::new();
    let l = PanicOnHalfOpen::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &l);
    assert!(b.try_acquire().unwrap().failure());
    clock.advance(Duration::from_secs(1));
    l.armed.store(true, Ordering::SeqCst);
    let r = catch_unwind(AssertUnwindSafe(|| b.try_acquire().map(|p| p.success())));
    assert!(r.is_err(), "the listener panicked");
    clock.advance(Duration::from_secs(3600));
    let s = b.stats();
    println!("after the panic: {s:?}");
    assert!(
        b.try_acquire().is_ok(),
        "half-open wedged: trial slot leaked by a panic ({} trials in flight, nobody holds them)",
        s.half_open_trials
    );
}

/// With the default maximum wait the slot is recovered, but only by abandoning the phantom trial
/// as a *failure*: the breaker re-opens and backs off although no call ever failed.
#[test]
fn panic_in_before_call_with_default_max_wait_counts_a_phantom_failure() {
    let clock = ManualClock::new();
    let l = PanicOnTrial::default();
    let config = Config::builder()
        .failure_threshold(1)
        .open_exponential(Duration::from_secs(1), 2, Duration::from_secs(60))
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &l);
    assert!(b.try_acquire().unwrap().failure());
    clock.advance(Duration::from_secs(1));
    l.armed.store(true, Ordering::SeqCst);
    let _ = catch_unwind(AssertUnwindSafe(|| b.try_acquire().map(|p| p.success())));
    // Another caller within the maximum wait gets the slot the panic gave back (when it leaked,
    // this caller was refused: the slot was held by nobody). It goes away without reporting.
    let second = b
        .try_acquire()
        .expect("the slot the panicking caller gave back");
    assert!(second.is_trial());
    drop(second);
    clock.advance(Duration::from_secs(1));
    let s = b.stats();
    println!("after max wait: {s:?}");
    assert_eq!(
        s.state,
        State::HalfOpen,
        "phantom trial abandoned as a failure: breaker re-opened (failures {}, retry {:?})",
        s.consecutive_failures,
        s.retry_after
    );
}

/// A classifier that panics: the call ran, its permit is dropped on the way out (a cancellation),
/// and the trial slot comes back.
#[test]
fn panic_in_classifier_leaks_nothing() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(&clock, config());
    assert!(b.try_acquire().unwrap().failure());
    clock.advance(Duration::from_secs(1));
    let classify = |_: &Result<u32, &str>| -> breaker_core::Outcome { panic!("classifier bug") };
    let r = catch_unwind(AssertUnwindSafe(|| b.call_classified(classify, || Ok(1))));
    assert!(r.is_err(), "the classifier panicked");
    let s = b.stats();
    assert_eq!((s.state, s.half_open_trials), (State::HalfOpen, 0), "{s:?}");
    assert!(b.try_acquire().unwrap().is_trial());
}

/// A listener that panics on every event but `before_call`.
#[derive(Default)]
struct PanicsOnEverything;
impl Listener for PanicsOnEverything {
    fn on_success(&self, _: &'static str, _: Option<Duration>) {
        panic!("listener bug in on_success");
    }
    fn on_failure(&self, _: &'static str, _: Option<&dyn core::fmt::Debug>) {
        panic!("listener bug in on_failure");
    }
    fn on_cancelled(&self, _: &'static str) {
        // Never while unwinding: without the `std` feature the breaker cannot tell, and a second
        // panic aborts (see the next listener for the `std` case).
        if !std::thread::panicking() {
            panic!("listener bug in on_cancelled");
        }
    }
    fn on_state_change(&self, _: &'static str, _: &Transition, _: &Stats) {
        if !std::thread::panicking() {
            panic!("listener bug in on_state_change");
        }
    }
}

/// Panics on every cancellation and state change, unwinding or not.
#[cfg(feature = "std")]
struct PanicsEvenWhileUnwinding;
#[cfg(feature = "std")]
impl Listener for PanicsEvenWhileUnwinding {
    fn on_cancelled(&self, _: &'static str) {
        panic!("listener bug in on_cancelled");
    }
    fn on_state_change(&self, _: &'static str, _: &Transition, _: &Stats) {
        panic!("listener bug in on_state_change");
    }
}

/// Outcome listeners that panic run after the outcome is recorded: the state is as if they had
/// not panicked, and `opened_at` is set.
#[test]
fn panic_in_outcome_listeners_leaves_the_state_consistent() {
    let clock = ManualClock::new();
    let l = PanicsOnEverything;
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &l);
    let r = catch_unwind(AssertUnwindSafe(|| b.try_acquire().unwrap().failure()));
    assert!(r.is_err());
    let s = b.stats();
    assert_eq!(s.state, State::Open);
    assert!(s.opened_at.is_some(), "{s:?}");
    clock.advance(Duration::from_secs(1));
    // The trial's state-change listener panics: the trial is given back.
    let r = catch_unwind(AssertUnwindSafe(|| b.try_acquire().map(|p| p.success())));
    assert!(r.is_err());
    let s = b.stats();
    assert_eq!((s.state, s.half_open_trials), (State::HalfOpen, 0), "{s:?}");
    // A trial that succeeds closes the breaker although `on_success` panics.
    let p = b.try_acquire().unwrap();
    let r = catch_unwind(AssertUnwindSafe(|| p.success()));
    assert!(r.is_err());
    assert_eq!(b.stats().state, State::Closed);
}

/// A call that panics while its trial permit is held, with a listener that panics in
/// `on_cancelled`: with `std`, the dropped permit calls no listener while the thread unwinds, so
/// the process does not abort (a double panic), and the slot comes back.
#[cfg(feature = "std")]
#[test]
fn panic_in_on_cancelled_during_an_unwind_does_not_abort() {
    let clock = ManualClock::new();
    let l = PanicsEvenWhileUnwinding;
    let b = CircuitBreaker::with_clock_and_listener(&clock, config(), &l);
    // Its state-change listener panics too; the change is made all the same.
    assert!(catch_unwind(AssertUnwindSafe(|| b.half_open())).is_err());
    assert_eq!(b.state(), State::HalfOpen);
    let r = catch_unwind(AssertUnwindSafe(|| {
        b.call(|| -> Result<(), &str> { panic!("the call panics") })
    }));
    assert!(r.is_err());
    let s = b.stats();
    assert_eq!((s.state, s.half_open_trials), (State::HalfOpen, 0), "{s:?}");
    // Not unwinding: the listener is called (and panics) as usual.
    let p = b.try_acquire().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| drop(p))).is_err());
    assert_eq!(b.stats().half_open_trials, 0);
}
