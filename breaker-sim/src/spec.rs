//! A breaker configuration as plain data: what a scenario file, a sweep and a report hold.
//!
//! Turned into the core's `Config` in [`crate::breaker`] (the one module that speaks the core's
//! API), which also refuses what the core refuses, with the core's own message.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::scenario::Dur;

/// One breaker configuration to simulate.
///
/// Unset fields take the core's defaults, except `failure_threshold`: left out, the
/// consecutive-failures rule is on (5) only when no rate rule is set, so that a configuration that
/// asks for a failure rate is judged on that rate alone. `failure_threshold = 0` turns it off.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ConfigSpec {
    /// Shown in reports and pictures.
    #[serde(default)]
    pub name: String,
    /// Consecutive failures that open the breaker (0: rule off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_threshold: Option<u32>,
    /// The (first) open duration (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open: Option<Dur>,
    /// Exponential backoff: each re-open without closing multiplies the open duration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_multiplier: Option<u32>,
    /// The cap of the exponential backoff (default: 10 times `open`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_max: Option<Dur>,
    /// The fraction of each open duration that jitter may take away, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<f64>,
    /// The sliding window the rate rules use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowSpec>,
    /// Failure rate over the window that opens the breaker, in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_rate: Option<f64>,
    /// Calls at least this slow count as slow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_call: Option<Dur>,
    /// Slow-call rate over the window that opens the breaker (needs `slow_call`), in (0, 1].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_rate: Option<f64>,
    /// Calls the window must hold before a rate may open the breaker (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_calls: Option<u32>,
    /// Trial calls at once in half-open (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_trials: Option<u16>,
    /// Successful trials that close the breaker (default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<u16>,
    /// How long half-open waits for unreported trials (default: the open duration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub half_open_max_wait: Option<Dur>,
}

/// The window kinds.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum WindowSpec {
    /// The last `size` calls.
    Count {
        /// Calls held.
        size: u32,
    },
    /// The last `buckets` buckets of `bucket` each.
    Time {
        /// Buckets held.
        buckets: u32,
        /// Width of a bucket.
        bucket: Dur,
    },
}

impl ConfigSpec {
    /// Whether a rate rule (failure or slow-call rate) is set.
    pub fn has_rate_rule(&self) -> bool {
        self.failure_rate.is_some() || self.slow_rate.is_some()
    }

    /// The consecutive-failures threshold in force (`None`: rule off); see the type's docs.
    pub fn effective_failure_threshold(&self) -> Option<u32> {
        match self.failure_threshold {
            Some(0) => None,
            Some(n) => Some(n),
            None if self.has_rate_rule() => None,
            None => Some(5),
        }
    }

    /// The minimum number of calls in force.
    pub fn effective_minimum_calls(&self) -> u32 {
        self.minimum_calls.unwrap_or(10)
    }

    /// The first open duration in force.
    pub fn effective_open(&self) -> Dur {
        self.open.unwrap_or(Dur::secs(30))
    }

    /// The window's span in time for a time window, in calls for a count window.
    pub fn window_label(&self) -> Option<String> {
        self.window.map(|w| match w {
            WindowSpec::Count { size } => format!("last {size} calls"),
            WindowSpec::Time { buckets, bucket } => {
                format!("{}", Dur(bucket.0.saturating_mul(buckets as u64)))
            }
        })
    }

    /// A short description of the rules, for tables and picture titles.
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(n) = self.effective_failure_threshold() {
            parts.push(format!("{n} consecutive"));
        }
        if let Some(r) = self.failure_rate {
            parts.push(format!("fail {:.0}%", r * 100.0));
        }
        if let (Some(t), Some(r)) = (self.slow_call, self.slow_rate) {
            parts.push(format!("slow>={t} {:.0}%", r * 100.0));
        }
        if let Some(w) = self.window_label() {
            parts.push(format!("over {w} (min {})", self.effective_minimum_calls()));
        }
        let mut open = format!("open {}", self.effective_open());
        if let Some(m) = self.open_multiplier.filter(|&m| m > 1) {
            open.push_str(&format!(" x{m}"));
        }
        if let Some(j) = self.jitter {
            open.push_str(&format!(" jitter {:.0}%", j * 100.0));
        }
        parts.push(open);
        parts.join(", ")
    }
}

impl fmt::Display for ConfigSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str(&self.summary())
        } else {
            f.write_str(&self.name)
        }
    }
}
