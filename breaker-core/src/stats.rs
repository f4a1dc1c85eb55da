//! A snapshot of a breaker, for dashboards, health checks and listeners (kompoz's `get_stats`).

use crate::clock::{Duration, Instant};
use crate::config::Settings;
use crate::machine::{Manual, Reason, State};
use crate::window::Counts;

/// What a breaker looked like at one instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
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
    /// What the sliding window holds (zero without one, and zero unless closed or disabled:
    /// what tripped the breaker is in [`Stats::last_trip`]).
    pub window: Counts,
    /// Failure rate over the window, in parts per million.
    pub failure_rate_ppm: u32,
    /// Slow-call rate over the window, in parts per million.
    pub slow_rate_ppm: u32,
    /// When the breaker last opened, if it ever did.
    pub opened_at: Option<Instant>,
    /// While open: how long until a trial is allowed.
    pub retry_after: Option<Duration>,
    /// Why the breaker last opened, with the evidence, kept after it closes again (until
    /// `reset`).
    pub last_trip: Option<Trip>,
}

/// The last time a breaker opened, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Trip {
    /// When it opened.
    pub at: Instant,
    /// Why, with the numbers that decided it.
    pub reason: Reason,
}

// The atomic breaker keeps the last trip in its `opened_at` word, `micros << 12 | code`, so that
// the breaker stays within its 64-byte budget: `code` is `kind:4 | small:8`. The numbers that do
// not fit come from elsewhere: a rate trip's window counts from the window's evidence slot, the
// thresholds from the configuration, and a consecutive trip's failure count is its threshold
// (closing zeroes the count, and each failure adds one, so the rule trips exactly at it).

const CONSECUTIVE: u64 = 1;
const FAILURE_RATE: u64 = 2;
const SLOW_RATE: u64 = 3;
const TRIAL_FAILED: u64 = 4;
const TRIAL_SLOW: u64 = 5;
const ABANDONED: u64 = 6;
const MANUAL_OPEN: u64 = 7;
const REMOTE: u64 = 8;

/// The 12-bit code of a reason for opening (see above).
pub(crate) fn trip_code(r: &Reason) -> u64 {
    match *r {
        Reason::ConsecutiveFailures { .. } => CONSECUTIVE << 8,
        Reason::FailureRate { .. } => FAILURE_RATE << 8,
        Reason::SlowCallRate { .. } => SLOW_RATE << 8,
        Reason::TrialFailed { slow: false } => TRIAL_FAILED << 8,
        Reason::TrialFailed { slow: true } => TRIAL_SLOW << 8,
        Reason::TrialsAbandoned { trials, .. } => ABANDONED << 8 | u64::from(trials.min(255)),
        Reason::Remote => REMOTE << 8,
        // Only `Manual::Open` enters the open state by hand.
        _ => MANUAL_OPEN << 8,
    }
}

/// The trip kept in an `opened_at` word.
pub(crate) fn trip_decode(word: u64, s: &Settings, evidence: Counts) -> Trip {
    let small = (word & 0xFF) as u16;
    let reason = match (word >> 8) & 0xF {
        CONSECUTIVE => Reason::ConsecutiveFailures {
            failures: s.failure_threshold,
            threshold: s.failure_threshold,
        },
        FAILURE_RATE => Reason::FailureRate {
            window: evidence,
            rate_ppm: evidence.failure_rate_ppm(),
            threshold_ppm: s.failure_rate_ppm,
        },
        SLOW_RATE => Reason::SlowCallRate {
            window: evidence,
            rate_ppm: evidence.slow_rate_ppm(),
            threshold_ppm: s.slow_rate_ppm,
        },
        TRIAL_FAILED => Reason::TrialFailed { slow: false },
        TRIAL_SLOW => Reason::TrialFailed { slow: true },
        ABANDONED => Reason::TrialsAbandoned {
            trials: small,
            max_wait: s.half_open_max_wait(),
        },
        REMOTE => Reason::Remote,
        _ => Reason::Manual(Manual::Open),
    };
    Trip {
        at: Instant::from_micros(word >> 12),
        reason,
    }
}

impl Stats {
    /// A snapshot of the machine `m` as seen at `now` (time-driven changes not applied; no
    /// window): for breaker kinds that keep their machine elsewhere.
    pub fn of_machine(name: &'static str, m: &crate::machine::Machine, now: Instant) -> Self {
        Stats {
            name,
            state: m.state,
            generation: m.generation,
            consecutive_failures: m.failures,
            half_open_successes: m.successes,
            half_open_trials: m.trials,
            window: crate::window::Counts::default(),
            failure_rate_ppm: 0,
            slow_rate_ppm: 0,
            opened_at: None,
            retry_after: m.open_time_left(now),
            last_trip: None,
        }
    }
}
