//! [`Metrics`]: a breaker's events through the `metrics` facade (feature `metrics`).
//!
//! Every series has the label `breaker` (the breaker's name). Names follow the Prometheus
//! conventions (snake case, `_total` on counters, base units):
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `breaker_calls_total` | counter | `outcome` = `success`, `failure`, `ignored`, `cancelled` | finished calls |
//! | `breaker_rejections_total` | counter | `state` = `open`, `half_open`, `forced_open` | calls the breaker refused |
//! | `breaker_timeouts_total` | counter | | calls that ran past their policy's timeout (also counted as failures) |
//! | `breaker_limit_refusals_total` | counter | `limit` (the limit's name, may be empty) | calls refused by a full concurrency limit |
//! | `breaker_fallbacks_total` | counter | | refused calls answered by a fallback |
//! | `breaker_transitions_total` | counter | `from`, `to`, `reason` (see [`crate::Reason::as_str`]) | state changes |
//! | `breaker_call_duration_seconds` | histogram | | duration of finished calls, when the breaker times them (the slow-call rule is configured) |
//! | `breaker_state` | gauge | `state` = `closed`, `open`, `half_open`, `forced_open`, `disabled` | 1 for the current state, 0 for the others |
//! | `breaker_failure_rate` | gauge | | failure rate over the window, 0 to 1 (until the breaker closes again, the window a rate trip saw) |
//! | `breaker_slow_call_rate` | gauge | | slow-call rate over the window, 0 to 1 (likewise) |
//! | `breaker_window_calls` | gauge | | calls in the window (likewise) |
//!
//! The gauges change on every state change; between changes, [`Metrics::export`] (called with a
//! breaker's [`Stats`], for example for every breaker of a [`crate::registry::Registry`] before
//! each scrape) sets them to the current values.
//!
//! Install the recorder before the first event: a `Metrics` keeps the handles of the per-call
//! series of the first breaker that reports to it, registered with the recorder installed then.

use core::fmt::Debug;
use std::sync::OnceLock;

use metrics::{counter, gauge, histogram, Counter, Histogram};

use super::{Listener, Refused};
use crate::clock::Duration;
use crate::config::PPM;
use crate::error::{LimitReached, Rejected};
use crate::machine::{Reason, State, Transition};
use crate::stats::Stats;

const STATES: [State; 5] = [
    State::Closed,
    State::Open,
    State::HalfOpen,
    State::ForcedOpen,
    State::Disabled,
];

/// A state as a label value (Prometheus label values conventionally use underscores).
fn label(s: State) -> &'static str {
    match s {
        State::Closed => "closed",
        State::Open => "open",
        State::HalfOpen => "half_open",
        State::ForcedOpen => "forced_open",
        State::Disabled => "disabled",
    }
}

/// The per-call series of one breaker, registered once.
#[derive(Debug)]
struct Handles {
    name: &'static str,
    success: Counter,
    failure: Counter,
    duration: Histogram,
}

/// Reports a breaker's events as metrics; see the module documentation for the series.
#[derive(Debug, Default)]
pub struct Metrics {
    handles: OnceLock<Handles>,
}

impl Metrics {
    /// A listener with no series registered yet (`const`, for a `static`).
    pub const fn new() -> Self {
        Metrics {
            handles: OnceLock::new(),
        }
    }

    /// Sets the gauges of the breaker `stats` describes: the state gauges (1 for its state, 0
    /// for the others), the rates and the window's call count.
    pub fn export(stats: &Stats) {
        let name = stats.name;
        for s in STATES {
            let v = if s == stats.state { 1.0 } else { 0.0 };
            gauge!("breaker_state", "breaker" => name, "state" => label(s)).set(v);
        }
        // While not closed, a snapshot's window reads empty: show the window that tripped it
        // (a rate trip's evidence) until it closes.
        let window = match (stats.state, stats.last_trip.map(|t| t.reason)) {
            (
                State::Open | State::HalfOpen | State::ForcedOpen,
                Some(Reason::FailureRate { window, .. } | Reason::SlowCallRate { window, .. }),
            ) => window,
            _ => stats.window,
        };
        let rate = |ppm: u32| f64::from(ppm) / f64::from(PPM);
        gauge!("breaker_failure_rate", "breaker" => name).set(rate(window.failure_rate_ppm()));
        gauge!("breaker_slow_call_rate", "breaker" => name).set(rate(window.slow_rate_ppm()));
        gauge!("breaker_window_calls", "breaker" => name).set(f64::from(window.calls));
    }

    #[inline]
    fn handles(&self, name: &'static str) -> Option<&Handles> {
        let h = self.handles.get_or_init(|| Handles {
            name,
            success: counter!("breaker_calls_total", "breaker" => name, "outcome" => "success"),
            failure: counter!("breaker_calls_total", "breaker" => name, "outcome" => "failure"),
            duration: histogram!("breaker_call_duration_seconds", "breaker" => name),
        });
        // A listener shared by several breakers registers the others' series on each event.
        (h.name == name).then_some(h)
    }

    fn outcome(name: &'static str, outcome: &'static str) {
        counter!("breaker_calls_total", "breaker" => name, "outcome" => outcome).increment(1);
    }
}

impl Listener for Metrics {
    #[inline]
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
        match self.handles(name) {
            Some(h) => {
                h.success.increment(1);
                if let Some(e) = elapsed {
                    h.duration.record(e.as_micros() as f64 / 1e6);
                }
            }
            None => {
                Metrics::outcome(name, "success");
                if let Some(e) = elapsed {
                    histogram!("breaker_call_duration_seconds", "breaker" => name)
                        .record(e.as_micros() as f64 / 1e6);
                }
            }
        }
    }
    fn on_failure(&self, name: &'static str, _: Option<&dyn Debug>) {
        match self.handles(name) {
            Some(h) => h.failure.increment(1),
            None => Metrics::outcome(name, "failure"),
        }
    }
    fn on_ignored(&self, name: &'static str) {
        Metrics::outcome(name, "ignored");
    }
    fn on_cancelled(&self, name: &'static str) {
        Metrics::outcome(name, "cancelled");
    }
    fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
        counter!("breaker_rejections_total", "breaker" => name, "state" => label(rejected.state))
            .increment(1);
    }
    fn on_state_change(&self, name: &'static str, t: &Transition, stats: &Stats) {
        counter!(
            "breaker_transitions_total",
            "breaker" => name,
            "from" => label(t.from),
            "to" => label(t.to),
            "reason" => t.reason.as_str()
        )
        .increment(1);
        // The old state's gauge goes back to 0 with the others.
        Metrics::export(stats);
    }
    fn on_limit_reached(&self, name: &'static str, limit: &LimitReached) {
        counter!("breaker_limit_refusals_total", "breaker" => name, "limit" => limit.name)
            .increment(1);
    }
    fn on_timeout(&self, name: &'static str, _: Duration) {
        counter!("breaker_timeouts_total", "breaker" => name).increment(1);
    }
    fn on_fallback(&self, name: &'static str, _: Refused<'_>) {
        counter!("breaker_fallbacks_total", "breaker" => name).increment(1);
    }
}
