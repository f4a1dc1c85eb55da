//! Liveness under an adversarial load: many threads, millisecond open durations, a driver thread
//! moving the clock, manual `force_closed` / `open` / `half_open` calls mixed in, and listeners
//! that panic. After every burst the breaker must hold no trial slot for a permit nobody holds,
//! reach half-open once its open time has passed, and agree with counts kept outside.
//!
//! Bounded to a few seconds by default (release: `cargo test --release -p breaker-core --test
//! liveness`); `BREAKER_STRESS_SECS=600` for longer, `BREAKER_STRESS_THREADS` for more threads.
#![cfg(not(loom))]

use core::panic::AssertUnwindSafe;
use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::time::Duration as StdDuration;
use std::collections::HashMap;
use std::panic::catch_unwind;
use std::sync::Mutex;
use std::thread;
use std::time::Instant as StdInstant;

use breaker_core::{
    CircuitBreaker, Config, Duration, Listener, ManualClock, Outcome, State, Stats, Transition,
};

const TRIALS: u16 = 2;

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Counts what the breaker reports, and panics now and then (never while unwinding, which would
/// abort the test process).
#[derive(Default)]
struct Chaos {
    events: AtomicUsize,
    before_call: AtomicUsize,
    outcomes: AtomicUsize,
    rejected: AtomicUsize,
}

impl Chaos {
    fn maybe_panic(&self, what: &str) {
        let n = self.events.fetch_add(1, Ordering::Relaxed);
        if n % 97 == 0 && !thread::panicking() {
            panic!("listener bug in {what}");
        }
    }
}

impl Listener for Chaos {
    fn before_call(&self, _: &'static str, _: bool) {
        self.before_call.fetch_add(1, Ordering::Relaxed);
        self.maybe_panic("before_call");
    }
    fn on_success(&self, _: &'static str, _: Option<Duration>) {
        self.outcomes.fetch_add(1, Ordering::Relaxed);
        self.maybe_panic("on_success");
    }
    fn on_failure(&self, _: &'static str, _: Option<&dyn core::fmt::Debug>) {
        self.outcomes.fetch_add(1, Ordering::Relaxed);
        self.maybe_panic("on_failure");
    }
    fn on_ignored(&self, _: &'static str) {
        self.outcomes.fetch_add(1, Ordering::Relaxed);
    }
    fn on_cancelled(&self, _: &'static str) {
        self.outcomes.fetch_add(1, Ordering::Relaxed);
        self.maybe_panic("on_cancelled");
    }
    fn on_rejected(&self, _: &'static str, _: &breaker_core::Rejected) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
    fn on_state_change(&self, _: &'static str, _: &Transition, _: &Stats) {
        self.maybe_panic("on_state_change");
    }
}

/// Trial permits alive per generation, kept outside the breaker: never more than the limit.
#[derive(Default)]
struct Trials(Mutex<HashMap<u32, u16>>);

impl Trials {
    fn take(&self, generation: u32) {
        let mut m = self.0.lock().unwrap();
        let n = m.entry(generation).or_default();
        *n += 1;
        assert!(
            *n <= TRIALS,
            "{n} trials in flight in generation {generation}"
        );
    }
    fn give(&self, generation: u32) {
        *self.0.lock().unwrap().get_mut(&generation).unwrap() -= 1;
    }
}

#[test]
fn bursts_of_chaos_always_recover() {
    let secs = env("BREAKER_STRESS_SECS", 4);
    let threads = env("BREAKER_STRESS_THREADS", 6) as usize;
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(2)
        .open_for(Duration::from_millis(1))
        .half_open_trials(TRIALS)
        .half_open_max_wait(Duration::from_millis(5))
        .build()
        .unwrap();
    let chaos = Chaos::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &chaos);
    let trials = Trials::default();
    let caller_rejected = AtomicUsize::new(0);
    let started = StdInstant::now();
    let mut bursts = 0u64;
    while started.elapsed() < StdDuration::from_secs(secs) || bursts == 0 {
        bursts += 1;
        let stop = AtomicBool::new(false);
        thread::scope(|s| {
            // The driver: time runs in steps of 100 us.
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    clock.advance(Duration::from_micros(100));
                    thread::yield_now();
                }
            });
            for t in 0..threads {
                let (b, trials, caller_rejected, stop) = (&b, &trials, &caller_rejected, &stop);
                s.spawn(move || {
                    let mut i = t as u64;
                    while !stop.load(Ordering::Relaxed) {
                        i = i
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let r = catch_unwind(AssertUnwindSafe(|| match (i >> 33) % 64 {
                            0 => b.force_closed(),
                            1 => b.open(),
                            2 => b.half_open(),
                            _ => match b.try_acquire() {
                                Ok(p) => {
                                    let (g, trial) = (p.generation(), p.is_trial());
                                    if trial {
                                        trials.take(g);
                                    }
                                    // Given back however the permit ends (a panic included).
                                    struct Give<'a>(&'a Trials, u32, bool);
                                    impl Drop for Give<'_> {
                                        fn drop(&mut self) {
                                            if self.2 {
                                                self.0.give(self.1);
                                            }
                                        }
                                    }
                                    let give = Give(trials, g, trial);
                                    // The count kept outside goes down before the permit
                                    // ends: ending it frees the slot, and another thread may
                                    // take it (in this generation) at once.
                                    match (i >> 40) % 4 {
                                        0 => {
                                            drop(give);
                                            drop(p);
                                        }
                                        1 => {
                                            drop(give);
                                            p.record(Outcome::Failure);
                                        }
                                        2 => {
                                            drop(give);
                                            p.record(Outcome::Ignored);
                                        }
                                        _ => {
                                            drop(give);
                                            p.success();
                                        }
                                    }
                                }
                                Err(_) => {
                                    caller_rejected.fetch_add(1, Ordering::Relaxed);
                                }
                            },
                        }));
                        let _ = r; // a listener panicked: the breaker must not care
                    }
                });
            }
            thread::sleep(StdDuration::from_millis(100));
            stop.store(true, Ordering::Relaxed);
        });
        // Every permit is gone: no trial slot may be held.
        let s = b.stats();
        if s.state == State::HalfOpen {
            assert_eq!(s.half_open_trials, 0, "a trial slot leaked: {s:?}");
        }
        // Counts kept outside agree: every refusal the callers saw was heard once by the
        // listener (the breaker keeps no shared count of refusals).
        assert_eq!(
            chaos.rejected.load(Ordering::Relaxed),
            caller_rejected.load(Ordering::Relaxed)
        );
        assert_eq!(
            chaos.before_call.load(Ordering::Relaxed),
            chaos.outcomes.load(Ordering::Relaxed),
            "every admitted call ends in exactly one outcome or cancellation"
        );
        // Liveness: once the open time has passed, the breaker half-opens. (A caller that finds
        // the deadline lost re-publishes one; see `publish_deadline`: never seen in practice,
        // so it is not allowed here.)
        if matches!(s.state, State::Open) {
            clock.advance(Duration::from_millis(2));
            assert_eq!(
                b.state(),
                State::HalfOpen,
                "stuck open after burst {bursts}: {:?}",
                b.machine()
            );
        }
        loop {
            match catch_unwind(AssertUnwindSafe(|| b.try_acquire().map(|p| p.is_trial()))) {
                Ok(Ok(_)) => break,
                Ok(Err(r)) => panic!(
                    "not admitted after the open time passed: {r:?} {:?}",
                    b.machine()
                ),
                Err(_) => continue, // the listener panicked; ask again
            }
        }
        caller_rejected.store(0, Ordering::Relaxed);
        chaos.rejected.store(0, Ordering::Relaxed);
    }
    println!(
        "{bursts} bursts in {:?}, {:?}",
        started.elapsed(),
        b.stats()
    );
}
