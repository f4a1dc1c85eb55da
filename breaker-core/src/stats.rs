//! A snapshot of a breaker, for dashboards, health checks and listeners (kompoz's `get_stats`).

use crate::clock::{Duration, Instant};
use crate::machine::State;
use crate::window::Counts;

/// What a breaker looked like at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// The breaker's name.
    pub name: &'static str,
    /// The state, with time-driven changes that are due applied (an open breaker whose open
    /// duration has passed reads as half-open).
    pub state: State,
    /// The current generation.
    pub generation: u32,
    /// Consecutive failures (pybreaker's `fail_counter`).
    pub consecutive_failures: u32,
    /// Successful trials so far in half-open.
    pub half_open_successes: u16,
    /// Trials in flight in half-open.
    pub half_open_trials: u16,
    /// What the sliding window holds (zero without one).
    pub window: Counts,
    /// Failure rate over the window, in parts per million.
    pub failure_rate_ppm: u32,
    /// Slow-call rate over the window, in parts per million.
    pub slow_rate_ppm: u32,
    /// When the breaker last opened, if it ever did.
    pub opened_at: Option<Instant>,
    /// While open: how long until a trial is allowed.
    pub retry_after: Option<Duration>,
}
