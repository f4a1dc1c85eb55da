//! Every reason kind: each rule trips once, and the state-change event and the stats say so,
//! with the numbers that decided it (issue 11, item 1).

use std::sync::Mutex;

use breaker_core::machine::Manual;
use breaker_core::{
    Breaker, CircuitBreaker, Config, Counts, Duration, Instant, Listener, ManualClock, Reason,
    State, Stats, Transition,
};

#[derive(Default)]
struct Changes(Mutex<Vec<(Transition, Stats)>>);

impl Listener for Changes {
    fn on_state_change(&self, _: &'static str, t: &Transition, stats: &Stats) {
        self.0.lock().unwrap().push((*t, *stats));
    }
}

impl Changes {
    fn take(&self) -> Vec<(Transition, Stats)> {
        core::mem::take(&mut *self.0.lock().unwrap())
    }
    fn reasons(&self) -> Vec<(State, State, Reason)> {
        self.take()
            .into_iter()
            .map(|(t, _)| (t.from, t.to, t.reason))
            .collect()
    }
}

fn counts(calls: u32, failures: u32, slow: u32) -> Counts {
    Counts {
        calls,
        failures,
        slow,
    }
}

const OPEN: Duration = Duration::from_secs(30);

#[test]
fn consecutive_failures() {
    let clock = ManualClock::new();
    let changes = Changes::default();
    let config = Config::builder().failure_threshold(3).build().unwrap();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    for _ in 0..3 {
        let _ = b.call(|| Err::<(), _>("down"));
    }
    let want = Reason::ConsecutiveFailures {
        failures: 3,
        threshold: 3,
    };
    let events = changes.take();
    assert_eq!(events.len(), 1);
    let (t, stats) = events[0];
    assert_eq!((t.from, t.to, t.reason), (State::Closed, State::Open, want));
    assert_eq!(stats.last_trip.map(|t| t.reason), Some(want));
    assert_eq!(stats.consecutive_failures, 3);
    // Kept after the breaker closes again.
    clock.advance(OPEN);
    b.call(|| Ok::<_, ()>(())).unwrap();
    let stats = b.stats();
    assert_eq!(stats.state, State::Closed);
    let trip = stats.last_trip.unwrap();
    assert_eq!((trip.at, trip.reason), (Instant::ZERO, want));
}

#[test]
fn failure_rate_with_the_window_that_tripped_it() {
    let clock = ManualClock::new();
    let changes = Changes::default();
    let config = Config::builder()
        .no_failure_threshold()
        .count_window::<10>()
        .failure_rate(0.5)
        .minimum_calls(4)
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    for fail in [false, true, false, true] {
        let _ = b.call(|| if fail { Err("down") } else { Ok(()) });
    }
    let want = Reason::FailureRate {
        window: counts(4, 2, 0),
        rate_ppm: 500_000,
        threshold_ppm: 500_000,
    };
    let events = changes.take();
    assert_eq!(events.len(), 1);
    let (t, stats) = events[0];
    assert_eq!(t.reason, want);
    // The snapshot sent with the change keeps the window that tripped it (its own window
    // reads empty while open).
    assert_eq!(stats.last_trip.map(|t| t.reason), Some(want));
    assert_eq!(b.stats().last_trip.map(|t| t.reason), Some(want));
    // Closing empties the window; the evidence stays with the last trip.
    clock.advance(OPEN);
    b.call(|| Ok::<_, ()>(())).unwrap();
    let stats = b.stats();
    assert_eq!(
        (stats.state, stats.window),
        (State::Closed, Counts::default())
    );
    assert_eq!(stats.last_trip.unwrap().reason, want);
}

#[test]
fn slow_call_rate() {
    let clock = ManualClock::new();
    let changes = Changes::default();
    let config = Config::builder()
        .no_failure_threshold()
        .count_window::<4>()
        .slow_calls(Duration::from_millis(100), 0.75)
        .minimum_calls(4)
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    for ms in [10, 200, 300, 150] {
        b.call(|| {
            clock.advance(Duration::from_millis(ms));
            Ok::<_, ()>(())
        })
        .unwrap();
    }
    let want = Reason::SlowCallRate {
        window: counts(4, 0, 3),
        rate_ppm: 750_000,
        threshold_ppm: 750_000,
    };
    assert_eq!(changes.reasons(), [(State::Closed, State::Open, want)]);
    assert_eq!(b.stats().last_trip.unwrap().reason, want);
}

#[test]
fn trials_open_time_and_manual_changes() {
    let clock = ManualClock::new();
    let changes = Changes::default();
    let config = Config::builder()
        .failure_threshold(1)
        .count_window::<4>()
        .slow_calls(Duration::from_millis(100), 1.0)
        .minimum_calls(4)
        .half_open_trials(2)
        .success_threshold(2)
        .half_open_max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    let _ = b.call(|| Err::<(), _>("down"));
    changes.take();

    // The open time passes: the trial's admission half-opens it, at the deadline it had.
    clock.advance(OPEN);
    let deadline = Instant::ZERO + OPEN;
    let _ = b.call(|| Err::<(), _>("still down"));
    assert_eq!(
        changes.reasons(),
        [
            (
                State::Open,
                State::HalfOpen,
                Reason::OpenTimeElapsed { deadline }
            ),
            (
                State::HalfOpen,
                State::Open,
                Reason::TrialFailed { slow: false }
            ),
        ]
    );
    assert_eq!(
        b.stats().last_trip.unwrap().reason,
        Reason::TrialFailed { slow: false }
    );

    // A slow trial re-opens it too (the slow-call rule is on).
    clock.advance(Duration::from_secs(3600));
    b.call(|| {
        clock.advance(Duration::from_millis(200));
        Ok::<_, ()>(())
    })
    .unwrap();
    let reasons = changes.reasons();
    assert_eq!(reasons[1].2, Reason::TrialFailed { slow: true });
    assert_eq!(
        b.stats().last_trip.unwrap().reason,
        Reason::TrialFailed { slow: true }
    );

    // Trials that never report are abandoned after the maximum wait.
    clock.advance(Duration::from_secs(3600));
    let p1 = b.try_acquire().unwrap();
    let p2 = b.try_acquire().unwrap();
    changes.take();
    clock.advance(Duration::from_secs(5));
    let t = Breaker::advance(&b).unwrap();
    let want = Reason::TrialsAbandoned {
        trials: 2,
        max_wait: Duration::from_secs(5),
    };
    assert_eq!(
        (t.from, t.to, t.reason),
        (State::HalfOpen, State::Open, want)
    );
    assert_eq!(b.stats().last_trip.unwrap().reason, want);
    drop((p1, p2));
    changes.take();

    // Enough successful trials close it.
    clock.advance(Duration::from_secs(3600));
    b.call(|| Ok::<_, ()>(())).unwrap();
    b.call(|| Ok::<_, ()>(())).unwrap();
    let reasons = changes.reasons();
    assert_eq!(
        reasons.last(),
        Some(&(
            State::HalfOpen,
            State::Closed,
            Reason::TrialsSucceeded {
                successes: 2,
                threshold: 2
            }
        ))
    );

    // By hand.
    b.force_open();
    b.force_closed();
    b.open();
    b.half_open();
    b.disable();
    let manual: Vec<_> = changes.reasons().into_iter().map(|(_, _, r)| r).collect();
    assert_eq!(
        manual,
        [
            Reason::Manual(Manual::ForceOpen),
            Reason::Manual(Manual::Close),
            Reason::Manual(Manual::Open),
            Reason::Manual(Manual::HalfOpen),
            Reason::Manual(Manual::Disable),
        ]
    );
    assert_eq!(
        b.stats().last_trip.unwrap().reason,
        Reason::Manual(Manual::Open)
    );
    b.reset();
    assert_eq!(b.stats().last_trip, None);
}

#[test]
fn reasons_read_well() {
    let r = Reason::FailureRate {
        window: counts(20, 11, 0),
        rate_ppm: 550_000,
        threshold_ppm: 500_000,
    };
    assert_eq!(
        r.to_string(),
        "failure rate 55% of 20 calls (11 failed; threshold 50%)"
    );
    assert_eq!(r.as_str(), "failure_rate");
}
