//! Shared by the integration tests: a breaker on a manual clock, held in an `Arc`.

#![allow(dead_code, unreachable_pub)]

use std::sync::Arc;

use breaker_core::{CircuitBreaker, Config, Duration, ManualClock};

/// The breaker the tests share with their services.
pub type Breaker = Arc<CircuitBreaker<ManualClock>>;

/// How long the test breakers stay open.
pub const OPEN_FOR: Duration = Duration::from_secs(5);

/// Opens after 2 failures in a row, for [`OPEN_FOR`]; one half-open trial, which closes it.
pub fn breaker() -> Breaker {
    let config = Config::builder()
        .failure_threshold(2)
        .open_for(OPEN_FOR)
        .half_open_trials(1)
        .success_threshold(1)
        .build()
        .expect("valid config");
    Arc::new(CircuitBreaker::with_clock(ManualClock::new(), config))
}

/// Opens `breaker` through its own API (two reported failures), as a failing upstream would.
pub fn trip(breaker: &Breaker) {
    for _ in 0..2 {
        breaker.try_acquire().expect("closed").failure();
    }
    assert_eq!(breaker.state(), breaker_core::State::Open);
}
