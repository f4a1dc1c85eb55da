//! the 24-bit generation. Goes in breaker-core/tests/repro_generation_wrap.rs
//! Run: cargo test --release -p breaker-core \
//!          --test repro_generation_wrap -- --nocapture
//!
//! A permit carries a 24-bit generation (limits.rs GENERATION_MASK); after exactly 2^24
//! transitions a permit held all along is "current" again. A half-open trial permit from 2^24
//! transitions ago, dropped now, gives back the slot of the *current* trial: two trials run with a
//! limit of one. (Needs 16.7 M transitions while one call is outstanding: ~1-3 s of manual
//! transitions in a loop here; in production only a very fast-cycling breaker gets there.)
#![cfg(not(loom))]

use breaker_core::{CircuitBreaker, Config, Duration, ManualClock, State};

#[test]
fn a_permit_held_across_2_pow_24_transitions_frees_a_current_trial_slot() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .half_open_trials(1)
        .half_open_max_wait(Duration::MAX)
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock(&clock, config);
    b.half_open();
    let ancient = b.try_acquire().unwrap();
    assert!(ancient.is_trial());
    let g0 = ancient.generation();
    // 2^24 transitions, alternating, ending half-open again.
    for _ in 0..(1u32 << 23) {
        b.force_closed();
        b.half_open();
    }
    assert_eq!(b.state(), State::HalfOpen);
    assert_eq!(b.machine().generation, g0, "the generation wrapped around");
    let current = b
        .try_acquire()
        .expect("the first trial of this half-open period");
    assert!(current.is_trial());
    drop(ancient); // a call from 16.7 M transitions ago finally goes away
    let intruder = b.try_acquire();
    let in_flight = 1 + usize::from(intruder.is_ok());
    println!(
        "trials in flight: {in_flight} (limit 1); intruder: {:?}",
        intruder.as_ref().map(|p| p.is_trial())
    );
    assert!(
        intruder.is_err(),
        "two trials in flight with half_open_trials(1)"
    );
    drop(current);
}
