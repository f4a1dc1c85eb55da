//! the deadline-tag wrap without any help from the clock: a contract-abiding ManualClock,
//! and plain OS preemption of oversubscribed threads. Goes in
//! breaker-core/tests/repro_tag_wrap_stress.rs
//! Run (release, bounded to ~40 s):
//!   cargo test --release -p breaker-core \
//!       --test repro_tag_wrap_stress -- --nocapture
//!
//! Workers cycle the breaker automatically (closed -fail-> open -time-> half-open -trial ok->
//! closed, 3 transitions per cycle). A worker preempted after winning a deadline-free transition
//! (half-open -> closed) or inside the pre-CAS half-open deadline publish, and resumed after
//! 2049..4095 (mod 4096) further transitions, publishes a stale tag that looks newer; the next
//! open state's deadline is then never visible and the breaker stays open for good.
#![cfg(not(loom))]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use core::time::Duration as StdDuration;
use std::thread;
use std::time::Instant as StdInstant;

use breaker_core::{
    CircuitBreaker, Config, Duration, Listener, ManualClock, State, Stats, Transition,
};

#[derive(Default)]
struct Count(AtomicUsize);
impl Listener for Count {
    fn on_state_change(&self, _: &'static str, _: &Transition, _: &Stats) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

#[test]
fn auto_cycling_breaker_never_wedges_open() {
    let threads: usize = std::env::var("ATTACK_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(8);
    let budget = StdDuration::from_secs(
        std::env::var("ATTACK_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(5),
    );
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_micros(1))
        .half_open_max_wait(Duration::from_secs(1_000))
        .build()
        .unwrap();
    let changes = Count::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    let stop = AtomicBool::new(false);
    let started = StdInstant::now();
    let mut wedged_at = None;
    thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while !stop.load(Ordering::Relaxed) {
                    match b.try_acquire() {
                        Ok(p) if p.is_trial() => p.success(),
                        Ok(p) => {
                            p.failure();
                        }
                        Err(_) => clock.advance(Duration::from_micros(1)),
                    }
                }
            });
        }
        // Watchdog: no transition for 2 s while the workers spin and the clock runs = wedged.
        let mut last = 0;
        let mut last_change = StdInstant::now();
        while started.elapsed() < budget {
            thread::sleep(StdDuration::from_millis(50));
            let n = changes.0.load(Ordering::Relaxed);
            if n != last {
                last = n;
                last_change = StdInstant::now();
            } else if last_change.elapsed() > StdDuration::from_secs(2) {
                wedged_at = Some((started.elapsed(), n));
                break;
            }
        }
        stop.store(true, Ordering::Relaxed);
    });
    let transitions = changes.0.load(Ordering::Relaxed);
    clock.advance(Duration::from_secs(3600));
    let m = b.machine();
    println!(
        "threads {threads}, {transitions} transitions in {:?}; wedged: {wedged_at:?}; machine {m:?}; state an hour later {:?}",
        started.elapsed(),
        b.state()
    );
    assert!(
        wedged_at.is_none() && b.state() != State::Open,
        "breaker wedged open after {transitions} transitions: {m:?}"
    );
}
