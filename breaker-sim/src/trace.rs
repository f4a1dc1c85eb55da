//! The trace format: a breaker's events, one CSV line each.
//!
//! ```text
//! # breaker-sim trace v1
//! time_us,event,latency_us,detail
//! 1000000,success,20350,
//! 1004000,failure,,
//! 1004000,state,,closed->open
//! 1010000,rejected,,retry_after_us=29994000
//! ```
//!
//! - `time_us`: when the event happened, in microseconds on the recording breaker's clock
//!   (any epoch; only differences matter, and time-window buckets are kept aligned by replaying
//!   on the same timeline).
//! - `event`: `success`, `failure`, `ignored`, `cancelled` (a call's end), `rejected` (a refused
//!   call), or `state` (a state change, `from->to` in `detail`).
//! - `latency_us`: the call's duration when known (empty otherwise); the call started at
//!   `time_us - latency_us`.
//! - `detail`: `retry_after_us=N` on a rejection that said when to come back; `from->to` on a
//!   state change.
//!
//! Lines starting with `#` and blank lines are skipped; the header line is optional.

use std::io::{self, Write};

use crate::breaker::SimState;
use crate::error::SimError;
use crate::scenario::Micros;

/// What happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceEvent {
    /// A call succeeded.
    Success,
    /// A call failed.
    Failure,
    /// A call's outcome was ignored by the classifier.
    Ignored,
    /// An admitted call went away without reporting.
    Cancelled,
    /// A call was refused.
    Rejected,
    /// The breaker changed state.
    State {
        /// Left.
        from: SimState,
        /// Entered.
        to: SimState,
    },
}

/// One line of a trace.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceRow {
    /// When, in microseconds.
    pub at: Micros,
    /// What.
    pub event: TraceEvent,
    /// The call's duration, when known.
    pub latency: Option<Micros>,
    /// A rejection's `retry_after`, when given.
    pub retry_after: Option<Micros>,
}

/// The header line.
pub const HEADER: &str = "time_us,event,latency_us,detail";

/// Writes the format line and the header.
///
/// # Errors
///
/// What the writer returns.
pub fn write_header(w: &mut impl Write) -> io::Result<()> {
    writeln!(w, "# breaker-sim trace v1")?;
    writeln!(w, "{HEADER}")
}

impl TraceRow {
    /// Writes the row as one CSV line.
    ///
    /// # Errors
    ///
    /// What the writer returns.
    pub fn write_csv(&self, w: &mut impl Write) -> io::Result<()> {
        let name = match self.event {
            TraceEvent::Success => "success",
            TraceEvent::Failure => "failure",
            TraceEvent::Ignored => "ignored",
            TraceEvent::Cancelled => "cancelled",
            TraceEvent::Rejected => "rejected",
            TraceEvent::State { .. } => "state",
        };
        write!(w, "{},{name},", self.at)?;
        if let Some(l) = self.latency {
            write!(w, "{l}")?;
        }
        w.write_all(b",")?;
        match self.event {
            TraceEvent::State { from, to } => write!(w, "{}->{}", from.as_str(), to.as_str())?,
            _ => {
                if let Some(r) = self.retry_after {
                    write!(w, "retry_after_us={r}")?;
                }
            }
        }
        w.write_all(b"\n")
    }
}

/// A parsed trace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Trace {
    /// The rows, in file order.
    pub rows: Vec<TraceRow>,
}

impl Trace {
    /// Parses a trace.
    ///
    /// # Errors
    ///
    /// [`SimError::Trace`] with the line number and what was wrong.
    pub fn parse(text: &str) -> Result<Trace, SimError> {
        let mut rows = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line == HEADER {
                continue;
            }
            let bad = |what: &str| SimError::Trace {
                line: i + 1,
                message: what.to_string(),
            };
            let mut f = line.split(',');
            let (Some(at), Some(event), latency, detail) = (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(bad("expected time_us,event,latency_us,detail"));
            };
            if f.next().is_some() {
                return Err(bad("more than 4 fields"));
            }
            let at: Micros = at
                .trim()
                .parse()
                .map_err(|_| bad("time_us is not a whole number"))?;
            let latency = match latency.map(str::trim) {
                None | Some("") => None,
                Some(l) => Some(
                    l.parse()
                        .map_err(|_| bad("latency_us is not a whole number"))?,
                ),
            };
            let detail = detail.map(str::trim).unwrap_or("");
            let mut retry_after = None;
            let event = match event.trim() {
                "success" => TraceEvent::Success,
                "failure" => TraceEvent::Failure,
                "ignored" => TraceEvent::Ignored,
                "cancelled" => TraceEvent::Cancelled,
                "rejected" => {
                    if let Some(v) = detail.strip_prefix("retry_after_us=") {
                        retry_after = Some(
                            v.parse()
                                .map_err(|_| bad("retry_after_us is not a number"))?,
                        );
                    } else if !detail.is_empty() {
                        return Err(bad("a rejection's detail is retry_after_us=N"));
                    }
                    TraceEvent::Rejected
                }
                "state" => {
                    let (from, to) = detail
                        .split_once("->")
                        .ok_or_else(|| bad("a state change's detail is from->to"))?;
                    TraceEvent::State {
                        from: SimState::parse(from).ok_or_else(|| bad("unknown state"))?,
                        to: SimState::parse(to).ok_or_else(|| bad("unknown state"))?,
                    }
                }
                other => return Err(bad(&format!("unknown event `{other}`"))),
            };
            if let Some(l) = latency {
                if l > at {
                    return Err(bad("latency_us is longer than time_us (a start before 0)"));
                }
            }
            rows.push(TraceRow {
                at,
                event,
                latency,
                retry_after,
            });
        }
        Ok(Trace { rows })
    }

    /// The state changes recorded, in order.
    pub fn state_changes(&self) -> Vec<(Micros, SimState, SimState)> {
        self.rows
            .iter()
            .filter_map(|r| match r.event {
                TraceEvent::State { from, to } => Some((r.at, from, to)),
                _ => None,
            })
            .collect()
    }

    /// Writes the trace back as CSV.
    ///
    /// # Errors
    ///
    /// What the writer returns.
    pub fn write_csv(&self, w: &mut impl Write) -> io::Result<()> {
        write_header(w)?;
        self.rows.iter().try_for_each(|r| r.write_csv(w))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_through_csv() {
        let rows = vec![
            TraceRow {
                at: 5,
                event: TraceEvent::Success,
                latency: Some(3),
                retry_after: None,
            },
            TraceRow {
                at: 9,
                event: TraceEvent::Rejected,
                latency: None,
                retry_after: Some(100),
            },
            TraceRow {
                at: 9,
                event: TraceEvent::State {
                    from: SimState::Closed,
                    to: SimState::HalfOpen,
                },
                latency: None,
                retry_after: None,
            },
        ];
        let t = Trace { rows };
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        assert_eq!(
            Trace::parse(core::str::from_utf8(&out).unwrap()).unwrap(),
            t
        );
    }

    #[test]
    fn bad_lines_are_typed_errors_with_their_line() {
        for (text, line) in [
            ("1,success,,\nx,failure,,", 2),
            ("1,explode,,", 1),
            ("1,state,,closed->sideways", 1),
            ("3,success,5,", 1),
            ("1,success,,,extra", 1),
            ("1", 1),
        ] {
            match Trace::parse(text) {
                Err(SimError::Trace { line: l, .. }) => assert_eq!(l, line, "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
    }
}
