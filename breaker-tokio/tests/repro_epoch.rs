//! The tokio clock's process-wide epoch (issue 8, item 6). Its own test binary: the epoch is per
//! process, and this test must be the first to read it.
//! Run: cargo test -p breaker-tokio --test repro_epoch -- --nocapture
//!
//! The epoch was taken, a day early, at the first clock read in the process. If that first read
//! happens in a paused runtime whose time was advanced by more than a day (a test simulating a
//! long outage), every runtime that started later, paused or real, read times before the epoch:
//! `saturating_duration_since` made the clock stand still at 0 until real time caught up, and
//! breakers there never left the open state. The epoch is now taken from real time.

use breaker_tokio::{CircuitBreaker, Config, Duration, Policy, State};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build()
        .unwrap()
}

#[test]
fn a_long_paused_test_does_not_freeze_the_clock_of_later_runtimes() {
    let config = || {
        Config::builder()
            .failure_threshold(1)
            .open_for(Duration::from_millis(100))
            .build()
            .unwrap()
    };
    // "Test A": simulates a three-day outage, then touches a breaker.
    rt().block_on(async {
        tokio::time::advance(core::time::Duration::from_secs(3 * 86_400)).await;
        let b = CircuitBreaker::new(config());
        let _ = b.call_async(async { Err::<(), _>("down") }).await;
    });
    // "Test B", later in the same test binary: an ordinary 100 ms open duration.
    let state = rt().block_on(async {
        let b = CircuitBreaker::new(config());
        let _ = b.call_async(async { Err::<(), _>("down") }).await;
        assert_eq!(b.state(), State::Open);
        tokio::time::advance(core::time::Duration::from_secs(60)).await;
        println!("60 s after opening for 100 ms: {:?}", b.stats());
        let after_open = b.state();
        // Wait mode bounds its wait with the breaker's clock: with the clock standing still, a
        // one-second wait never ends.
        let policy = Policy::builder()
            .wait(Duration::from_secs(1))
            .build()
            .unwrap();
        let waited = tokio::time::timeout(
            core::time::Duration::from_secs(3_600),
            b.call_with(&policy, async { Ok::<_, ()>(()) }),
        )
        .await;
        println!("a call with wait(1 s), given an hour: {waited:?}");
        (after_open, waited.is_ok(), b.state())
    });
    // Half-open once the 100 ms have passed; the waiting call is admitted as the trial, and its
    // success closes the breaker.
    assert_eq!(
        state,
        (State::HalfOpen, true, State::Closed),
        "the breaker clock stood still"
    );
}
