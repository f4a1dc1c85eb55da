//! Loom models of the breaker's compare-and-swap loops: every interleaving (up to the preemption
//! bound) of a few threads racing on one breaker.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p breaker-core --test loom --release`. Under
//! `cfg(loom)` the breaker's own atomics are loom's (see `src/sync.rs`); the clock and the
//! listeners' counters here are plain atomics, which loom does not explore: the clock is only
//! moved while no other thread runs, and the counters are read after every thread has joined.
#![cfg(loom)]

use core::mem;
use core::sync::atomic::{AtomicUsize, Ordering};

use breaker_core::{
    CircuitBreaker, Config, Duration, Listener, ManualClock, NoWindow, Outcome, State, Stats,
    Transition,
};
use loom::model::Builder;
use loom::sync::Arc;
use loom::thread;

/// Counts state changes, and changes into `Open` separately.
#[derive(Default)]
struct Changes {
    all: AtomicUsize,
    to_open: AtomicUsize,
}

impl Listener for Changes {
    fn on_state_change(&self, _: &'static str, change: &Transition, _: &Stats) {
        self.all.fetch_add(1, Ordering::Relaxed);
        if change.to == State::Open {
            self.to_open.fetch_add(1, Ordering::Relaxed);
        }
    }
}

type Breaker = CircuitBreaker<ManualClock, Config, Changes>;

fn breaker(config: Config) -> Arc<Breaker> {
    Arc::new(CircuitBreaker::with_clock_and_listener(
        ManualClock::new(),
        config,
        Changes::default(),
    ))
}

fn model(f: impl Fn() + Sync + Send + 'static) {
    let mut b = Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(3);
    }
    b.check(f);
}

/// Trips `b` (threshold 1) and moves its clock past the open duration: the next call is a trial.
fn trip_and_wait(b: &Breaker) {
    assert!(b.try_acquire().unwrap().failure());
    b.clock().advance(Duration::from_secs(1));
    assert_eq!(b.state(), State::HalfOpen);
}

fn half_open_config(trials: u16) -> Config {
    Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .half_open_trials(trials)
        .build()
        .unwrap()
}

/// (a) Three threads race for the trial slots of a breaker whose open duration has passed: exactly
/// `min(3, trials)` are admitted (no slot is handed out twice, none is lost), all as trials.
#[test]
fn half_open_admits_at_most_the_trial_limit() {
    for trials in [1, 2] {
        model(move || {
            let b = breaker(half_open_config(trials));
            trip_and_wait(&b);
            // A kept permit is leaked rather than dropped, so its slot stays taken.
            let try_trial = |b: &Breaker| match b.try_acquire() {
                Ok(permit) => {
                    assert!(permit.is_trial());
                    mem::forget(permit);
                    1
                }
                Err(rejected) => {
                    assert_eq!(
                        rejected.state,
                        State::HalfOpen,
                        "{rejected:?} {:?}",
                        b.machine()
                    );
                    0
                }
            };
            let others: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    thread::spawn(move || try_trial(&b))
                })
                .collect();
            let mut admitted = try_trial(&b);
            for t in others {
                admitted += t.join().unwrap();
            }
            assert_eq!(admitted, trials.min(3) as usize);
            let stats = b.stats();
            assert_eq!(stats.state, State::HalfOpen);
            assert_eq!(stats.half_open_trials as usize, admitted);
            assert_eq!(stats.rejected, 3 - admitted);
            assert_eq!(b.listener().to_open.load(Ordering::Relaxed), 1);
            assert_eq!(
                b.listener().all.load(Ordering::Relaxed),
                2,
                "closed→open→half-open"
            );
        });
    }
}

/// (b) A permit admitted while closed reports while another thread opens the breaker by hand and
/// then half-opens or closes it (states where a counted outcome would show). Whichever way they
/// interleave, the breaker ends exactly as that thread left it: a report that lands after the
/// opening is stale and changes nothing; one that lands before is folded into what it saw.
#[test]
fn a_report_racing_manual_changes_is_stale_once_they_began() {
    for outcome in [Outcome::Success, Outcome::Failure, Outcome::Ignored] {
        for then_close in [false, true] {
            model(move || {
                let b = breaker(
                    Config::builder()
                        .failure_threshold(2)
                        .open_for(Duration::from_secs(10))
                        .build()
                        .unwrap(),
                );
                let permit = b.try_acquire().unwrap();
                let changer = {
                    let b = b.clone();
                    thread::spawn(move || {
                        b.open();
                        if then_close {
                            b.force_closed();
                        } else {
                            b.half_open();
                        }
                        // Only stale reports can come after this: what it sees must last.
                        b.machine()
                    })
                };
                let opened = permit.record(outcome);
                assert!(!opened, "one failure below the threshold never opens");
                let left = changer.join().unwrap();
                assert_eq!(b.machine(), left);
                let state = if then_close {
                    State::Closed
                } else {
                    State::HalfOpen
                };
                assert_eq!((left.state, left.trials, left.successes), (state, 0, 0));
                assert!(left.failures <= u32::from(outcome == Outcome::Failure && !then_close));
                assert_eq!(b.listener().to_open.load(Ordering::Relaxed), 1);
            });
        }
    }
}

/// (b) The same with the breaker tripped by another call's failure (threshold 1), which then
/// half-opens it: an outcome of a call admitted before the trip never counts as a trial, and a
/// racing failure trips the breaker once, not twice.
#[test]
fn a_report_racing_a_trip_is_stale_once_it_tripped() {
    for outcome in [Outcome::Success, Outcome::Failure, Outcome::Ignored] {
        model(move || {
            let b = breaker(
                Config::builder()
                    .failure_threshold(1)
                    .open_for(Duration::from_secs(10))
                    .build()
                    .unwrap(),
            );
            let early = b.try_acquire().unwrap();
            let tripper = {
                let b = b.clone();
                thread::spawn(move || {
                    // Rejected if the other thread's failure tripped the breaker first.
                    let permit = b.try_acquire().ok()?;
                    let opened = permit.failure();
                    if opened {
                        b.half_open();
                    }
                    Some((opened, b.machine()))
                })
            };
            let early_opened = early.record(outcome);
            let tripped = tripper.join().unwrap();
            let m = b.machine();
            assert_eq!(m.failures, 1, "exactly one failure counted");
            assert_eq!(b.listener().to_open.load(Ordering::Relaxed), 1);
            match tripped {
                Some((true, left)) => {
                    assert!(!early_opened);
                    assert_eq!(m, left, "a report after the trip changed nothing");
                    assert_eq!((m.state, m.trials, m.successes), (State::HalfOpen, 0, 0));
                }
                Some((false, _)) | None => {
                    assert_eq!(outcome, Outcome::Failure);
                    assert!(early_opened);
                    assert_eq!(m.state, State::Open);
                }
            }
        });
    }
}

/// (c) N threads each report a failure with threshold N: all are counted, and exactly one of them
/// opens the breaker (one transition, one listener call).
#[test]
fn concurrent_failures_trip_exactly_once() {
    const N: u32 = 3;
    model(|| {
        let b = breaker(
            Config::builder()
                .failure_threshold(N)
                .open_for(Duration::from_secs(10))
                .build()
                .unwrap(),
        );
        let fail = |b: &Breaker| {
            let permit = b.try_acquire().expect("closed until the last failure");
            usize::from(permit.failure())
        };
        let others: Vec<_> = (1..N)
            .map(|_| {
                let b = b.clone();
                thread::spawn(move || fail(&b))
            })
            .collect();
        let mut opened = fail(&b);
        for t in others {
            opened += t.join().unwrap();
        }
        assert_eq!(opened, 1, "exactly one report says it opened the breaker");
        let stats = b.stats();
        assert_eq!(stats.state, State::Open);
        assert_eq!(stats.consecutive_failures, N);
        assert_eq!(stats.retry_after, Some(Duration::from_secs(10)));
        assert_eq!(b.listener().to_open.load(Ordering::Relaxed), 1);
        assert_eq!(b.listener().all.load(Ordering::Relaxed), 1);
    });
}

/// (d) A trial permit dropped on one thread while another thread keeps asking: the slot comes
/// back, and the other thread is admitted as a trial of the same half-open period.
#[test]
fn a_dropped_trial_gives_its_slot_back() {
    model(|| {
        let b = breaker(half_open_config(1));
        trip_and_wait(&b);
        let trial = b.try_acquire().unwrap();
        assert!(trial.is_trial());
        let generation = trial.generation();
        let waiter = {
            let b = b.clone();
            thread::spawn(move || loop {
                match b.try_acquire() {
                    Ok(permit) => {
                        assert!(permit.is_trial());
                        let g = permit.generation();
                        mem::forget(permit);
                        return g;
                    }
                    Err(rejected) => {
                        assert_eq!(rejected.state, State::HalfOpen);
                        thread::yield_now();
                    }
                }
            })
        };
        drop(trial);
        assert_eq!(waiter.join().unwrap(), generation);
        let stats = b.stats();
        assert_eq!((stats.state, stats.half_open_trials), (State::HalfOpen, 1));
    });
}

/// (d) The same race with a trial that reports success (success threshold 2): the slot comes
/// back with the success counted, and the next trial's success closes the breaker.
#[test]
fn a_finished_trial_gives_its_slot_back() {
    model(|| {
        let b = breaker(
            Config::builder()
                .failure_threshold(1)
                .open_for(Duration::from_secs(1))
                .success_threshold(2)
                .build()
                .unwrap(),
        );
        trip_and_wait(&b);
        let trial = b.try_acquire().unwrap();
        let waiter = {
            let b = b.clone();
            thread::spawn(move || loop {
                match b.try_acquire() {
                    Ok(permit) => {
                        assert!(permit.is_trial());
                        permit.success();
                        return;
                    }
                    Err(_) => thread::yield_now(),
                }
            })
        };
        trial.success();
        waiter.join().unwrap();
        assert_eq!(b.state(), State::Closed);
        assert_eq!(
            b.listener().all.load(Ordering::Relaxed),
            3,
            "→open→half-open→closed"
        );
    });
}
