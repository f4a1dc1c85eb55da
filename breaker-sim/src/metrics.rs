//! What a run means for a configuration: detection, leaks, wrong refusals, recovery, trials,
//! and what callers saw.

use serde::Serialize;

use crate::breaker::SimState;
use crate::engine::{Run, Totals};
use crate::scenario::Micros;

/// A latency histogram with about 3% resolution (32 sub-buckets per power of two), so that
/// percentiles of millions of calls cost no sorting and little memory.
#[derive(Clone, Debug, Default)]
pub struct Histogram {
    counts: Vec<u64>,
    total: u64,
}

const SUB: u32 = 5; // 2^5 sub-buckets per power of two

fn bucket_of(v: u64) -> usize {
    if v < (1 << (SUB + 1)) {
        return v as usize;
    }
    let e = 63 - v.leading_zeros(); // >= SUB + 1
    let sub = (v >> (e - SUB)) & ((1 << SUB) - 1);
    ((e - SUB) as usize) * (1 << SUB) + (1 << SUB) + sub as usize
}

fn bucket_low(i: usize) -> u64 {
    let per = 1usize << SUB;
    if i < 2 * per {
        return i as u64;
    }
    let e = (i - per) / per + SUB as usize;
    let sub = ((i - per) % per) as u64;
    (1u64 << e) | (sub << (e - SUB as usize))
}

impl Histogram {
    /// Adds one value.
    #[inline]
    pub fn record(&mut self, v: u64) {
        let i = bucket_of(v);
        if self.counts.len() <= i {
            self.counts.resize(i + 1, 0);
        }
        self.counts[i] += 1;
        self.total += 1;
    }

    /// Values recorded.
    pub fn len(&self) -> u64 {
        self.total
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The value at quantile `q` in [0, 1] (the low edge of its bucket), or `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                return Some(bucket_low(i));
            }
        }
        None
    }
}

/// One incident, as the configuration handled it.
#[derive(Clone, Debug, Serialize)]
pub struct IncidentReport {
    /// `outage`, `brownout`, `flapping` or `observed`.
    pub kind: String,
    /// Start, seconds.
    pub start_s: f64,
    /// End, seconds.
    pub end_s: f64,
    /// From the start to the first trip (0 if the breaker was already refusing); `None`: the
    /// breaker never opened during it.
    pub detect_s: Option<f64>,
    /// Calls admitted during it.
    pub leaked: u64,
    /// Calls refused during it.
    pub refused: u64,
    /// From its end until the breaker closed (0 if closed at the end); `None`: still not closed
    /// when the run ended.
    pub recover_s: Option<f64>,
}

/// The per-configuration report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The configuration's name.
    pub name: String,
    /// Its rules in a few words.
    pub summary: String,
    /// Simulated calls (attempts).
    pub calls: u64,
    /// Each incident.
    pub incidents: Vec<IncidentReport>,
    /// Mean time to detect over the incidents, an undetected one counting its whole length.
    pub detect_s: Option<f64>,
    /// Incidents never detected.
    pub undetected: usize,
    /// Calls admitted while the upstream was down.
    pub leaked: u64,
    /// Calls refused while the upstream was healthy.
    pub wrongly_refused: u64,
    /// Trips from closed outside any incident.
    pub false_opens: u64,
    /// Calls refused in the open periods those started.
    pub false_open_refused: u64,
    /// Mean time to close after an incident ended (incidents where it closed).
    pub recover_s: Option<f64>,
    /// Transitions to open.
    pub trips: usize,
    /// Half-open trial calls.
    pub trials: u64,
    /// Requests that succeeded, of all requests.
    pub success_rate: f64,
    /// Requests that succeeded or were answered by the fallback.
    pub served_rate: f64,
    /// Median latency callers saw (every request, refusals included), ms.
    pub p50_ms: Option<f64>,
    /// 99th percentile of the same, ms.
    pub p99_ms: Option<f64>,
    /// 99th percentile latency of successful requests, ms.
    pub p99_ok_ms: Option<f64>,
    /// Raw totals.
    pub totals: Totals,
}

fn secs(us: Micros) -> f64 {
    us as f64 / 1e6
}

/// The state in force at `t`.
pub fn state_at(run: &Run, t: Micros) -> SimState {
    let i = run.changes.partition_point(|c| c.at <= t);
    if i == 0 {
        SimState::Closed
    } else {
        run.changes[i - 1].to
    }
}

/// The report for one run.
pub fn report(run: &Run) -> Report {
    let mut incidents = Vec::new();
    let (mut detect_sum, mut undetected, mut recover_sum, mut recovered) = (0.0, 0, 0.0, 0);
    for inc in &run.incidents {
        let already = state_at(run, inc.start) != SimState::Closed;
        let detect = if already {
            Some(0.0)
        } else {
            run.trips
                .iter()
                .find(|t| t.at >= inc.start && t.at < inc.end.saturating_add(run.grace))
                .map(|t| secs(t.at - inc.start))
        };
        match detect {
            Some(d) => detect_sum += d,
            None => {
                undetected += 1;
                detect_sum += secs(inc.end - inc.start);
            }
        }
        let recover = if state_at(run, inc.end) == SimState::Closed {
            Some(0.0)
        } else {
            run.changes
                .iter()
                .find(|c| c.at >= inc.end && c.to == SimState::Closed)
                .map(|c| secs(c.at - inc.end))
        };
        if let Some(r) = recover {
            recover_sum += r;
            recovered += 1;
        }
        incidents.push(IncidentReport {
            kind: inc.kind.clone(),
            start_s: secs(inc.start - run.start),
            end_s: secs(inc.end - run.start),
            detect_s: detect,
            leaked: inc.admitted,
            refused: inc.refused,
            recover_s: recover,
        });
    }
    let t = &run.totals;
    let n = run.incidents.len();
    let ratio = |a: u64, b: u64| if b == 0 { 1.0 } else { a as f64 / b as f64 };
    let ms = |v: Option<u64>| v.map(|v| v as f64 / 1e3);
    Report {
        name: run.spec.to_string(),
        summary: run.spec.summary(),
        calls: t.attempts,
        incidents,
        detect_s: (n > 0).then(|| detect_sum / n as f64),
        undetected,
        leaked: t.leaked,
        wrongly_refused: t.wrongly_refused,
        false_opens: t.false_opens,
        false_open_refused: t.false_open_refused,
        recover_s: (recovered > 0).then(|| recover_sum / recovered as f64),
        trips: run.trips.len(),
        trials: t.trials,
        success_rate: ratio(t.requests_ok, t.requests),
        served_rate: ratio(t.requests_ok + t.requests_fallback, t.requests),
        p50_ms: ms(run.latency_all.quantile(0.5)),
        p99_ms: ms(run.latency_all.quantile(0.99)),
        p99_ok_ms: ms(run.latency_ok.quantile(0.99)),
        totals: *t,
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or("-".into(), |v| format!("{v:.digits$}"))
}

/// The reports as a text table.
pub fn table(reports: &[Report]) -> String {
    let mut out = String::new();
    let header = [
        "configuration",
        "detect s",
        "undet",
        "leaked",
        "wrong refused",
        "false opens",
        "recover s",
        "trips",
        "trials",
        "success %",
        "served %",
        "p50 ms",
        "p99 ms",
    ];
    let rows: Vec<Vec<String>> = reports
        .iter()
        .map(|r| {
            vec![
                r.name.clone(),
                opt(r.detect_s, 2),
                r.undetected.to_string(),
                r.leaked.to_string(),
                r.wrongly_refused.to_string(),
                r.false_opens.to_string(),
                opt(r.recover_s, 2),
                r.trips.to_string(),
                r.trials.to_string(),
                format!("{:.3}", r.success_rate * 100.0),
                format!("{:.3}", r.served_rate * 100.0),
                opt(r.p50_ms, 1),
                opt(r.p99_ms, 1),
            ]
        })
        .collect();
    let mut width: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: &[String], out: &mut String| {
        for (i, (c, w)) in cells.iter().zip(&width).enumerate() {
            if i == 0 {
                out.push_str(&format!("{c:<w$}"));
            } else {
                out.push_str(&format!("  {c:>w$}"));
            }
        }
        out.push('\n');
    };
    line(&header.map(String::from), &mut out);
    line(
        &width.iter().map(|w| "-".repeat(*w)).collect::<Vec<_>>(),
        &mut out,
    );
    for row in &rows {
        line(row, &mut out);
    }
    out
}

/// Per-incident lines under the table.
pub fn incident_lines(reports: &[Report]) -> String {
    let mut out = String::new();
    for r in reports {
        for i in &r.incidents {
            out.push_str(&format!(
                "{}: {} {:.1}s-{:.1}s: detected after {} s, {} leaked, {} refused, recovered {} s after\n",
                r.name,
                i.kind,
                i.start_s,
                i.end_s,
                opt(i.detect_s, 3),
                i.leaked,
                i.refused,
                opt(i.recover_s, 3),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_quantiles_are_within_a_bucket() {
        let mut h = Histogram::default();
        for v in 1..=10_000u64 {
            h.record(v * 100);
        }
        let p50 = h.quantile(0.5).unwrap() as f64;
        let p99 = h.quantile(0.99).unwrap() as f64;
        assert!((p50 / 500_000.0 - 1.0).abs() < 0.04, "{p50}");
        assert!((p99 / 990_000.0 - 1.0).abs() < 0.04, "{p99}");
        for v in [0, 1, 63, 64, 65, 1000, u32::MAX as u64] {
            assert!(bucket_low(bucket_of(v)) <= v);
            assert!(bucket_low(bucket_of(v) + 1) > v, "{v}");
        }
        assert_eq!(Histogram::default().quantile(0.5), None);
    }
}
