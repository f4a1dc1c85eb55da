//! Loom models of the breaker's compare-and-swap loops: every interleaving (up to the preemption
//! bound) of a few threads racing on one breaker.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test -p breaker-core --test loom --release`, and with
//! the wrapping fields shrunk to 2-3 bits (deadline tag 2 bits, generation 3 bits, half-open
//! counters 2 bits, see `src/limits.rs`) with `RUSTFLAGS="--cfg loom --cfg breaker_verify"`: then the
//! models below wrap the deadline tag and the generation within a few transitions. Under
//! `cfg(loom)` the breaker's own atomics are loom's (see `src/sync.rs`); the clock and the
//! listeners' counters here are plain atomics, which loom does not explore: the clock is only
//! moved while no other thread runs, and the counters are read after every thread has joined.
#![cfg(loom)]

use core::mem;
use core::sync::atomic::{AtomicUsize, Ordering};

use breaker_core::{
    CircuitBreaker, Config, Duration, Listener, ManualClock, Outcome, State, Stats, Transition,
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
    // 3 is the largest trial limit under `breaker_verify` (the counter saturates there).
    let limits: &[u16] = if cfg!(breaker_verify) {
        &[1, 3]
    } else {
        &[1, 2]
    };
    for &trials in limits {
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

/// Transitions that wrap the deadline tag (2 bits under `breaker_verify`) and the generation
/// (3 bits) in the models below; under the real widths the same models run without wrapping.
const WRAP: usize = 3;

// The wrap models run with a preemption bound of 1 (a thread descheduled once, anywhere, while
// the other runs any number of operations: the shape of every wrap-around found so far), or 2
// where the model is small enough for 2 CPU cores.

fn model_bound(bound: usize, f: impl Fn() + Sync + Send + 'static) {
    let mut b = Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(bound);
    }
    b.check(f);
}

/// The liveness promise for an open breaker (open duration 1 s): once its open time has passed,
/// a caller is admitted as a trial. In the one case left (see `publish_deadline` in
/// `breaker.rs`: a publisher overtaken while the deadline word showed the same instant and tag
/// all along, which the shrunk 2-bit tag makes reachable here), the deadline reads as
/// unpublished and the first caller re-publishes one: admitted at most one open duration later.
fn half_opens_once_open_time_passed(b: &Breaker) {
    b.clock().advance(Duration::from_secs(2));
    let first = b.try_acquire();
    let trial = match first {
        Ok(permit) => permit,
        Err(rejected) => {
            assert_eq!(rejected.state, State::Open);
            assert!(
                cfg!(breaker_verify),
                "the live deadline was lost with the real widths: {:?}",
                b.machine()
            );
            b.clock().advance(Duration::from_secs(1));
            b.try_acquire().expect("re-published deadline passed")
        }
    };
    assert!(trial.is_trial());
}

/// (e) The deadline-tag wrap: a thread asks for a half-open trial (which publishes the trial's
/// deadline before its compare-and-swap) while another flips the breaker `2 * WRAP` times
/// (closed, open, ...), ending open. However they interleave, the deadline of the state left live
/// is the one read: once the open duration has passed, the breaker half-opens. With the old
/// `publish_deadline` (newer = tag ahead by less than half the tag space) this fails with the
/// shrunk widths: the delayed publisher overwrites the live deadline, and the breaker reads
/// "deadline unpublished", open for good.
#[test]
fn a_delayed_deadline_publisher_never_hides_the_live_deadline() {
    model_bound(1, || {
        let b = breaker(
            Config::builder()
                .failure_threshold(1)
                .open_for(Duration::from_secs(1))
                .half_open_max_wait(Duration::from_secs(1))
                .build()
                .unwrap(),
        );
        b.half_open();
        let asker = {
            let b = b.clone();
            thread::spawn(move || {
                if let Ok(permit) = b.try_acquire() {
                    permit.success();
                }
            })
        };
        for _ in 0..WRAP {
            b.force_closed();
            b.open();
        }
        asker.join().unwrap();
        assert_eq!(b.state(), State::Open, "{:?}", b.machine());
        half_opens_once_open_time_passed(&b);
    });
}

/// (e) Deadline-free and deadline transitions racing each other on two threads (one trips and
/// half-opens, the other closes and opens), wrapping the tag: whichever publish lands last, the
/// live state's deadline is never hidden, and once every open duration has passed, the breaker
/// is not open.
#[test]
fn racing_transitions_leave_the_live_deadline_published() {
    model_bound(1, || {
        let b = breaker(
            Config::builder()
                .failure_threshold(1)
                .open_for(Duration::from_secs(1))
                .build()
                .unwrap(),
        );
        let other = {
            let b = b.clone();
            thread::spawn(move || {
                for _ in 0..2 {
                    b.force_closed();
                    b.open();
                }
            })
        };
        for _ in 0..2 {
            b.open();
            b.half_open();
        }
        other.join().unwrap();
        if b.state() == State::Open {
            half_opens_once_open_time_passed(&b);
        }
    });
}

/// (f) The generation wrap: a trial permit held while the breaker goes round `2 * 4` transitions
/// (the whole 3-bit generation space under `breaker_verify`) back to half-open, where another
/// thread holds the current trial (limit 1). The old permit, dropped, is stale: it never gives
/// back the current trial's slot, so a third caller is refused.
#[test]
fn a_permit_from_a_generation_come_round_again_is_stale() {
    model_bound(2, || {
        let b = breaker(half_open_config(1));
        b.half_open();
        let ancient = b.try_acquire().unwrap();
        let g0 = ancient.generation();
        for _ in 0..4 {
            b.force_closed();
            b.half_open();
        }
        let wrapped = b.machine().generation == g0;
        let current = b.try_acquire().unwrap();
        assert!(current.is_trial());
        let intruder = {
            let b = b.clone();
            thread::spawn(move || {
                (0..2)
                    .filter(|_| b.try_acquire().map(mem::forget).is_ok())
                    .count()
            })
        };
        drop(ancient);
        let intruders = intruder.join().unwrap();
        assert_eq!(
            intruders, 0,
            "two trials with a limit of one (generation wrapped: {wrapped})"
        );
        assert_eq!(b.stats().half_open_trials, 1);
        drop(current);
        assert_eq!(b.stats().half_open_trials, 0);
    });
}
