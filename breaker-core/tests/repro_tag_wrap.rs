//! the 12-bit generation tag of the deadline word.
//! Goes in breaker-core/tests/repro_tag_wrap.rs
//! Run: cargo test -p breaker-core --test repro_tag_wrap -- --nocapture
//!
//! A thread that computes a half-open trial admission reads the clock, then publishes the trial's
//! deadline *before* its compare-and-swap (breaker.rs `apply`, lines 265-270), tagged with the
//! generation it loaded. If that thread is descheduled between its load and the publish while
//! 2049..=4095 (mod 4096) transitions happen, its tag looks "newer" to `publish_deadline`'s modular
//! comparison (breaker.rs 330-339) and overwrites the current deadline. From then on the current
//! generation's tag never matches (`deadline_for` reads "not yet published"), so an open breaker
//! never half-opens, and later publishes are refused as "older".
//!
//! The clock below parks one chosen thread inside `now()` to reproduce the descheduling
//! deterministically (a real thread can be preempted at exactly that instruction).
#![cfg(not(loom))]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use breaker_core::{CircuitBreaker, Clock, Config, Duration, Instant, State};

thread_local! {
    static VICTIM: core::cell::Cell<bool> = const { core::cell::Cell::new(false) };
}

/// A monotonic clock (never goes back) that stalls one marked thread once, as a preemption would.
struct StallingClock {
    micros: AtomicU64,
    armed: AtomicBool,
    parked: Barrier,
    release: Barrier,
}

impl Clock for StallingClock {
    fn now(&self) -> Instant {
        if VICTIM.with(|v| v.get()) && self.armed.swap(false, Ordering::SeqCst) {
            self.parked.wait(); // "descheduled here"
            self.release.wait();
        }
        Instant::from_micros(self.micros.load(Ordering::SeqCst))
    }
}

#[test]
fn a_descheduled_trial_admission_wedges_the_breaker_open() {
    let clock: &'static StallingClock = Box::leak(Box::new(StallingClock {
        micros: AtomicU64::new(1_000_000),
        armed: AtomicBool::new(true),
        parked: Barrier::new(2),
        release: Barrier::new(2),
    }));
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .half_open_max_wait(Duration::from_secs(10))
        .build()
        .unwrap();
    let b = Arc::new(CircuitBreaker::with_clock(clock, config));
    b.half_open(); // half-open, no trial in flight yet

    let victim = {
        let b = b.clone();
        thread::spawn(move || {
            VICTIM.with(|v| v.set(true));
            // Asks for a trial: reads the clock for the trial deadline, and stalls there.
            b.try_acquire().map(|p| p.success()).map_err(|r| r.state)
        })
    };
    clock.parked.wait();
    // While the victim is off the CPU: 3000 transitions (an ops script flipping the breaker, or
    // a fast-cycling breaker), ending open.
    for _ in 0..1_500 {
        b.force_closed();
        b.open();
    }
    assert_eq!(b.state(), State::Open);
    clock.micros.fetch_add(1_000, Ordering::SeqCst);
    clock.release.wait();
    let victim_result = victim.join().unwrap();
    println!("victim: {victim_result:?}; machine now {:?}", b.machine());

    // The open duration passes (by far): the breaker must half-open.
    clock.micros.fetch_add(3_600_000_000, Ordering::SeqCst);
    let s1 = b.state();
    let r1 = b.try_acquire().map(|p| p.success());
    println!(
        "an hour later: state {s1:?}, call {:?}, {:?}",
        r1,
        b.machine()
    );

    // Even a manual open() and another hour does not bring it back: its deadline is refused too.
    b.open();
    clock.micros.fetch_add(3_600_000_000, Ordering::SeqCst);
    let s2 = b.state();
    println!(
        "manual open + an hour: state {s2:?}, retry_after {:?}",
        b.retry_after()
    );

    // And an automatic trip after a manual close wedges again.
    b.force_closed();
    assert!(b.try_acquire().unwrap().failure());
    clock.micros.fetch_add(3_600_000_000, Ordering::SeqCst);
    let s3 = b.state();
    println!("trip + an hour: state {s3:?}");

    assert_eq!(
        (s1, s2, s3),
        (State::HalfOpen, State::HalfOpen, State::HalfOpen),
        "breaker wedged open: the open duration passed but it never half-opens"
    );
}
