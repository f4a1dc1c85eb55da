//! `serde::Serialize` for snapshots (feature `serde`): an admin endpoint's JSON of [`Stats`].
//!
//! Instants and durations are written as integer microseconds (`opened_at_us`,
//! `retry_after_us`), rates in parts per million, states and reason kinds as the lowercase
//! names of [`State::as_str`] and [`Reason::as_str`].

use serde::ser::{Serialize, SerializeStruct, Serializer};

use crate::machine::{Reason, State};
use crate::stats::{Stats, Trip};
use crate::window::Counts;

impl Serialize for State {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl Serialize for Counts {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Counts", 3)?;
        st.serialize_field("calls", &self.calls)?;
        st.serialize_field("failures", &self.failures)?;
        st.serialize_field("slow", &self.slow)?;
        st.end()
    }
}

/// `{"kind": "...", "text": "...", ...numbers}`: the kind, the reason as a sentence, and the
/// numbers of the kind.
impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Reason", 5)?;
        st.serialize_field("kind", self.as_str())?;
        struct Text<'a>(&'a Reason);
        impl Serialize for Text<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self.0)
            }
        }
        st.serialize_field("text", &Text(self))?;
        match *self {
            Reason::ConsecutiveFailures {
                failures,
                threshold,
            } => {
                st.serialize_field("failures", &failures)?;
                st.serialize_field("threshold", &threshold)?;
            }
            Reason::FailureRate {
                window,
                rate_ppm,
                threshold_ppm,
            }
            | Reason::SlowCallRate {
                window,
                rate_ppm,
                threshold_ppm,
            } => {
                st.serialize_field("window", &window)?;
                st.serialize_field("rate_ppm", &rate_ppm)?;
                st.serialize_field("threshold_ppm", &threshold_ppm)?;
            }
            Reason::TrialFailed { slow } => st.serialize_field("slow", &slow)?,
            Reason::TrialsAbandoned { trials, max_wait } => {
                st.serialize_field("trials", &trials)?;
                st.serialize_field("max_wait_us", &max_wait.as_micros())?;
            }
            Reason::TrialsSucceeded {
                successes,
                threshold,
            } => {
                st.serialize_field("successes", &successes)?;
                st.serialize_field("threshold", &threshold)?;
            }
            Reason::OpenTimeElapsed { deadline } => {
                st.serialize_field("deadline_us", &deadline.as_micros())?;
            }
            Reason::Manual(m) => {
                let action = match m {
                    crate::machine::Manual::Open => "open",
                    crate::machine::Manual::ForceOpen => "force_open",
                    crate::machine::Manual::Close => "close",
                    crate::machine::Manual::HalfOpen => "half_open",
                    crate::machine::Manual::Disable => "disable",
                };
                st.serialize_field("action", action)?;
            }
            Reason::Remote => {}
        }
        st.end()
    }
}

impl Serialize for Trip {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Trip", 2)?;
        st.serialize_field("at_us", &self.at.as_micros())?;
        st.serialize_field("reason", &self.reason)?;
        st.end()
    }
}

impl Serialize for Stats {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("Stats", 12)?;
        st.serialize_field("name", self.name)?;
        st.serialize_field("state", &self.state)?;
        st.serialize_field("generation", &self.generation)?;
        st.serialize_field("consecutive_failures", &self.consecutive_failures)?;
        st.serialize_field("half_open_successes", &self.half_open_successes)?;
        st.serialize_field("half_open_trials", &self.half_open_trials)?;
        st.serialize_field("window", &self.window)?;
        st.serialize_field("failure_rate_ppm", &self.failure_rate_ppm)?;
        st.serialize_field("slow_rate_ppm", &self.slow_rate_ppm)?;
        st.serialize_field("opened_at_us", &self.opened_at.map(|i| i.as_micros()))?;
        st.serialize_field("retry_after_us", &self.retry_after.map(|d| d.as_micros()))?;
        st.serialize_field("last_trip", &self.last_trip)?;
        st.end()
    }
}
