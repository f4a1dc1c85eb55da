//! `Breaker::admit_quick` and `Breaker::refuses_now`, the small forms of `admit` and `state`
//! that adapters inline (the tower layer's `call` and `poll_ready`), agree with them in every
//! state. Run: cargo test -p breaker-core --test seam_quick
#![cfg(not(loom))]

use breaker_core::{
    Admitted, Breaker, CircuitBreaker, Config, CountWindow, Duration, ManualClock, State,
};

fn config() -> Config {
    Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(5))
        .half_open_trials(1)
        .success_threshold(1)
        .build()
        .unwrap()
}

/// `refuses_now` is the default's answer (`state` is open or forced open).
fn check_refuses<B: Breaker>(b: &B) {
    assert_eq!(
        b.refuses_now(),
        matches!(b.state(), State::Open | State::ForcedOpen),
        "state {:?}",
        b.state()
    );
}

#[test]
fn closed_quick_ticket_is_the_ticket_admit_gives() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(&clock, config());
    let quick = b.admit_quick().expect("closed admits from its state");
    // A closed admission writes nothing, so asking twice gives the same ticket.
    assert_eq!(Some(quick.into()), Breaker::admit(&b).ok());
    assert!(!quick.is_trial());
    assert_eq!(quick.started_at(), None);
    check_refuses(&b);
    assert!(!b.refuses_now());

    // After a round trip through open and half-open: a new generation and transition count.
    b.try_acquire().unwrap().failure();
    check_refuses(&b);
    assert!(b.refuses_now());
    assert_eq!(b.admit_quick(), None, "open: ask `admit`");
    clock.advance(Duration::from_secs(5));
    // The open duration is over: `state` says half-open, so nothing is refused yet.
    check_refuses(&b);
    assert!(!b.refuses_now());
    assert_eq!(
        b.admit_quick(),
        None,
        "open on the word, half-open by the clock"
    );
    let trial = b.try_acquire().unwrap();
    assert_eq!(b.state(), State::HalfOpen);
    check_refuses(&b);
    assert_eq!(
        b.admit_quick(),
        None,
        "half-open: trials go through `admit`"
    );
    trial.success();
    assert_eq!(b.state(), State::Closed);
    let after = b.admit_quick().expect("closed again");
    assert_eq!(Some(after.into()), Breaker::admit(&b).ok());
    assert_ne!(after.generation(), quick.generation());
    assert_ne!(after.token(), quick.token());
}

#[test]
fn forced_and_disabled_states_agree_with_admit() {
    let clock = ManualClock::new();
    let b = CircuitBreaker::with_clock(&clock, config());
    b.force_open();
    check_refuses(&b);
    assert!(b.refuses_now());
    assert_eq!(b.admit_quick(), None);
    assert!(Breaker::admit(&b).is_err());

    b.disable();
    check_refuses(&b);
    assert!(!b.refuses_now());
    assert_eq!(b.admit_quick().map(Admitted::from), Breaker::admit(&b).ok());
    assert!(b.admit_quick().is_some());

    b.force_closed();
    assert_eq!(b.admit_quick().map(Admitted::from), Breaker::admit(&b).ok());
}

#[test]
fn timed_calls_are_left_to_admit() {
    // The slow-call rule times each call: the ticket needs a clock read, which `admit` does.
    let clock = ManualClock::new();
    let config = Config::builder()
        .count_window::<10>()
        .failure_threshold(1)
        .slow_calls(Duration::from_secs(1), 1.0)
        .build()
        .unwrap();
    let b: CircuitBreaker<_, Config<CountWindow<10>>> = CircuitBreaker::with_clock(&clock, config);
    assert_eq!(b.admit_quick(), None);
    let ticket = Breaker::admit(&b).unwrap().ticket;
    assert!(ticket.started_at().is_some());
    check_refuses(&b);
}
