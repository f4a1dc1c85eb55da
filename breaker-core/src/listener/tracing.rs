//! [`Tracing`]: a breaker's events as `tracing` events (feature `tracing`; no `std` needed).
//!
//! Every event has the breaker's name in the field `breaker`. Levels: a change to open or
//! forced open at `WARN`, other state changes at `INFO` (both with `reason`, the numbers in
//! fields of their own); refusals, failures, timeouts, limit refusals, fallbacks and waits at
//! `DEBUG`; admissions, successes, ignored and cancelled calls at `TRACE`.

use core::fmt::Debug;

use super::{Listener, Refused};
use crate::clock::Duration;
use crate::error::{LimitReached, Rejected};
use crate::machine::{State, Transition};
use crate::stats::Stats;

/// Logs a breaker's events through `tracing`; see the module documentation for the levels.
#[derive(Clone, Copy, Debug, Default)]
pub struct Tracing;

impl Listener for Tracing {
    fn before_call(&self, name: &'static str, trial: bool) {
        tracing::trace!(breaker = name, trial, "call admitted");
    }
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
        let elapsed_us = elapsed.map(|e| e.as_micros());
        tracing::trace!(breaker = name, elapsed_us, "call succeeded");
    }
    fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
        tracing::debug!(breaker = name, error = ?error, "call failed");
    }
    fn on_ignored(&self, name: &'static str) {
        tracing::trace!(breaker = name, "call ignored");
    }
    fn on_cancelled(&self, name: &'static str) {
        tracing::trace!(breaker = name, "call cancelled");
    }
    fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
        let retry_after_ms = rejected.retry_after().map(|d| d.as_millis());
        tracing::debug!(breaker = name, state = %rejected.state, retry_after_ms, "call rejected");
    }
    fn on_state_change(&self, name: &'static str, t: &Transition, stats: &Stats) {
        let (from, to, reason, kind) =
            (t.from.as_str(), t.to.as_str(), &t.reason, t.reason.as_str());
        let (calls, failures, slow) =
            (stats.window.calls, stats.window.failures, stats.window.slow);
        if matches!(t.to, State::Open | State::ForcedOpen) {
            tracing::warn!(
                breaker = name, from, to, generation = t.generation, reason = %reason, reason_kind = kind,
                window_calls = calls, window_failures = failures, window_slow = slow,
                consecutive_failures = stats.consecutive_failures,
                "circuit breaker state changed"
            );
        } else {
            tracing::info!(
                breaker = name, from, to, generation = t.generation, reason = %reason, reason_kind = kind,
                "circuit breaker state changed"
            );
        }
    }
    fn on_limit_reached(&self, name: &'static str, limit: &LimitReached) {
        let waited_ms = limit.waited.as_millis();
        tracing::debug!(
            breaker = name,
            limit = limit.name,
            waited_ms,
            "concurrency limit reached"
        );
    }
    fn on_timeout(&self, name: &'static str, after: Duration) {
        tracing::debug!(
            breaker = name,
            after_ms = after.as_millis(),
            "call timed out"
        );
    }
    fn on_fallback(&self, name: &'static str, cause: Refused<'_>) {
        let cause = match cause {
            Refused::Breaker(_) => "rejected",
            Refused::Limit(_) => "limit_reached",
        };
        tracing::debug!(breaker = name, cause, "fallback served");
    }
    fn on_wait_ended(&self, name: &'static str, admitted: bool, waited: Duration) {
        tracing::debug!(
            breaker = name,
            admitted,
            waited_ms = waited.as_millis(),
            "wait ended"
        );
    }
}
