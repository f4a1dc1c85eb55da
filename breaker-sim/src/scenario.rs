//! The scenario file: load, upstream behaviour over time, caller behaviour, the configurations to
//! compare and a sweep grid. TOML, read with serde; the format is documented in the crate README.

use core::fmt;

use serde::{Deserialize, Deserializer, Serialize};

use crate::error::SimError;
use crate::rng::Rng;

/// Microseconds of simulated time.
pub type Micros = u64;

/// A duration written as seconds (`30`, `0.25`) or with a unit (`"250ms"`, `"30s"`, `"2m"`,
/// `"1h"`, `"500us"`), kept in microseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Dur(pub Micros);

impl Dur {
    /// `s` whole seconds.
    pub const fn secs(s: u64) -> Dur {
        Dur(s * 1_000_000)
    }
    /// `ms` milliseconds.
    pub const fn millis(ms: u64) -> Dur {
        Dur(ms * 1_000)
    }
    /// In seconds, as a float.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e6
    }

    /// Parses `"250ms"`, `"30s"`, `"2m"`, `"1h"`, `"500us"` or a plain number of seconds.
    ///
    /// # Errors
    ///
    /// A message naming the text when it is not a non-negative, finite duration.
    pub fn parse(text: &str) -> Result<Dur, String> {
        let t = text.trim();
        let split = t
            .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+' || c == 'e'))
            .unwrap_or(t.len());
        let (num, unit) = t.split_at(split);
        let value: f64 = num
            .parse()
            .map_err(|_| format!("`{text}` is not a duration (try \"250ms\", \"30s\", \"2m\")"))?;
        let scale = match unit.trim() {
            "" | "s" => 1e6,
            "ms" => 1e3,
            "us" | "µs" => 1.0,
            "m" | "min" => 60e6,
            "h" => 3600e6,
            other => {
                return Err(format!(
                    "unknown unit `{other}` in `{text}` (us, ms, s, m, h)"
                ))
            }
        };
        Dur::from_secs_f64(value * scale / 1e6).ok_or_else(|| format!("`{text}` is out of range"))
    }

    /// Seconds to a duration; `None` for negative, NaN or absurdly long spans.
    pub fn from_secs_f64(s: f64) -> Option<Dur> {
        if !s.is_finite() || !(0.0..=1e9).contains(&s) {
            return None;
        }
        Some(Dur((s * 1e6).round() as u64))
    }
}

impl fmt::Display for Dur {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let us = self.0;
        if us == 0 {
            f.write_str("0s")
        } else if us % 3_600_000_000 == 0 {
            write!(f, "{}h", us / 3_600_000_000)
        } else if us % 60_000_000 == 0 {
            write!(f, "{}m", us / 60_000_000)
        } else if us % 1_000_000 == 0 {
            write!(f, "{}s", us / 1_000_000)
        } else if us % 1_000 == 0 {
            write!(f, "{}ms", us / 1_000)
        } else {
            write!(f, "{us}us")
        }
    }
}

impl<'de> Deserialize<'de> for Dur {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Float(f64),
            Text(String),
        }
        match Raw::deserialize(d)? {
            Raw::Int(s) => s
                .checked_mul(1_000_000)
                .map(Dur)
                .ok_or_else(|| serde::de::Error::custom("duration out of range")),
            Raw::Float(s) => Dur::from_secs_f64(s)
                .ok_or_else(|| serde::de::Error::custom("duration must be finite and >= 0")),
            Raw::Text(t) => Dur::parse(&t).map_err(serde::de::Error::custom),
        }
    }
}

impl Serialize for Dur {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A whole scenario file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Fixes every random choice of the run.
    #[serde(default)]
    pub seed: u64,
    /// Simulated time covered.
    pub duration: Dur,
    /// Width of a timeline bin (rates in the report and the pictures); default 1 s.
    #[serde(default = "default_bin")]
    pub bin: Dur,
    /// How requests arrive.
    pub load: Load,
    /// How the upstream behaves over time.
    #[serde(default)]
    pub upstream: Upstream,
    /// How callers behave.
    #[serde(default)]
    pub caller: Caller,
    /// The configurations compared side by side.
    #[serde(default, rename = "config")]
    pub configs: Vec<crate::ConfigSpec>,
    /// A grid of configurations to sweep.
    #[serde(default)]
    pub sweep: Option<crate::sweep::Sweep>,
}

fn default_bin() -> Dur {
    Dur::secs(1)
}

/// How requests arrive.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Load {
    /// Requests per second outside bursts.
    pub rps: f64,
    /// `poisson` (default) or `even` (a fixed interval).
    #[serde(default)]
    pub arrivals: Arrivals,
    /// Extra load for a while.
    #[serde(default, rename = "burst")]
    pub bursts: Vec<Burst>,
}

/// The arrival process.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Arrivals {
    /// Exponential gaps (independent callers).
    #[default]
    Poisson,
    /// A fixed gap of `1 / rps`.
    Even,
}

/// Extra requests per second between `start` and `start + duration`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Burst {
    /// When it starts.
    pub start: Dur,
    /// How long it lasts.
    pub duration: Dur,
    /// Requests per second added to the base load.
    pub rps: f64,
}

/// A latency distribution: log-normal through its median and 99th percentile, or fixed.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Latency {
    /// The median.
    pub median: Dur,
    /// The 99th percentile (equal to the median, or absent, for a fixed latency).
    #[serde(default)]
    pub p99: Option<Dur>,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            median: Dur::millis(20),
            p99: Some(Dur::millis(100)),
        }
    }
}

/// A latency distribution ready to sample.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LatencyDist {
    mu: f64,
    sigma: f64,
}

impl LatencyDist {
    pub(crate) fn new(l: &Latency) -> Self {
        let median = (l.median.0 as f64).max(1.0);
        let p99 = l.p99.map_or(median, |p| (p.0 as f64).max(median));
        // z(0.99) = 2.3263: p99 = median * exp(2.3263 sigma).
        LatencyDist {
            mu: median.ln(),
            sigma: (p99 / median).ln() / 2.326_347_874,
        }
    }

    #[inline]
    pub(crate) fn sample(&self, rng: &mut Rng) -> Micros {
        if self.sigma == 0.0 {
            return self.mu.exp().round() as Micros;
        }
        (self.mu + self.sigma * rng.normal()).exp().round() as Micros
    }
}

/// The upstream: healthy behaviour, and phases that change it.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// Failure probability of a call while healthy.
    #[serde(default)]
    pub error_rate: f64,
    /// Latency while healthy.
    #[serde(default)]
    pub latency: Latency,
    /// Incidents.
    #[serde(default, rename = "phase")]
    pub phases: Vec<Phase>,
}

/// An incident in the upstream's life.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(try_from = "RawPhase")]
pub struct Phase {
    /// What happens.
    pub kind: PhaseKind,
    /// When it starts.
    pub start: Dur,
    /// How long it lasts.
    pub duration: Dur,
}

/// How an outage fails calls.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum OutageMode {
    /// Calls fail fast (connection refused) after `fail_latency`.
    #[default]
    Refused,
    /// Calls hang until the caller's timeout.
    Hang,
}

/// A phase as written: every field of every kind, checked against its `kind` when converted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPhase {
    kind: String,
    start: Dur,
    duration: Dur,
    mode: Option<OutageMode>,
    fail_latency: Option<Dur>,
    error_rate: Option<f64>,
    latency: Option<Latency>,
    ramp: Option<Dur>,
    period: Option<Dur>,
    down: Option<Dur>,
}

impl TryFrom<RawPhase> for Phase {
    type Error = String;
    fn try_from(r: RawPhase) -> Result<Self, String> {
        let stray = |names: &[(&str, bool)]| {
            names.iter().find(|(_, set)| *set).map_or(Ok(()), |(n, _)| {
                Err(format!("`{n}` does not apply to a {} phase", r.kind))
            })
        };
        let kind = match r.kind.as_str() {
            "outage" => {
                stray(&[
                    ("error_rate", r.error_rate.is_some()),
                    ("latency", r.latency.is_some()),
                    ("ramp", r.ramp.is_some()),
                    ("period", r.period.is_some()),
                    ("down", r.down.is_some()),
                ])?;
                PhaseKind::Outage {
                    mode: r.mode.unwrap_or_default(),
                    fail_latency: r.fail_latency.unwrap_or_else(default_fail_latency),
                }
            }
            "brownout" => {
                stray(&[
                    ("mode", r.mode.is_some()),
                    ("fail_latency", r.fail_latency.is_some()),
                    ("period", r.period.is_some()),
                    ("down", r.down.is_some()),
                ])?;
                PhaseKind::Brownout {
                    error_rate: r.error_rate.ok_or("a brownout phase needs error_rate")?,
                    latency: r.latency,
                    ramp: r.ramp.unwrap_or_default(),
                }
            }
            "flapping" => {
                stray(&[
                    ("error_rate", r.error_rate.is_some()),
                    ("latency", r.latency.is_some()),
                    ("ramp", r.ramp.is_some()),
                ])?;
                PhaseKind::Flapping {
                    period: r.period.ok_or("a flapping phase needs period")?,
                    down: r.down.ok_or("a flapping phase needs down")?,
                    mode: r.mode.unwrap_or_default(),
                    fail_latency: r.fail_latency.unwrap_or_else(default_fail_latency),
                }
            }
            other => {
                return Err(format!(
                    "unknown phase kind `{other}` (outage, brownout, flapping)"
                ))
            }
        };
        Ok(Phase {
            kind,
            start: r.start,
            duration: r.duration,
        })
    }
}

/// The kinds of incident.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum PhaseKind {
    /// Every call fails.
    Outage {
        /// Fast failures or hangs.
        #[serde(default)]
        mode: OutageMode,
        /// How long a refused call takes (default 1 ms).
        #[serde(default = "default_fail_latency")]
        fail_latency: Dur,
    },
    /// A slow brown-out: the error rate and latency move to the given values over `ramp`, stay,
    /// and move back over `ramp` at the end.
    Brownout {
        /// Error rate at the worst.
        error_rate: f64,
        /// Latency at the worst (default: the healthy latency).
        #[serde(default)]
        latency: Option<Latency>,
        /// Time to reach the worst (and to come back from it).
        #[serde(default)]
        ramp: Dur,
    },
    /// Down for `down` at the start of every `period`, healthy for the rest.
    Flapping {
        /// The cycle.
        period: Dur,
        /// Down time in each cycle.
        down: Dur,
        /// How a down call fails.
        #[serde(default)]
        mode: OutageMode,
        /// How long a refused call takes (default 1 ms).
        #[serde(default = "default_fail_latency")]
        fail_latency: Dur,
    },
}

fn default_fail_latency() -> Dur {
    Dur::millis(1)
}

/// How healthy the upstream is at an instant: what the metrics judge the breaker against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Normal behaviour: refusing a call is a wrong refusal.
    Healthy,
    /// Brown-out: calls are slower and fail more often.
    Degraded,
    /// Down: an admitted call is leaked into the outage.
    Down,
}

/// How a caller behaves.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caller {
    /// A call still running after this is abandoned and counts as a failure.
    #[serde(default = "default_timeout")]
    pub timeout: Dur,
    /// At most this many calls in flight; a request finding them all busy is refused locally
    /// (0: no limit).
    #[serde(default)]
    pub concurrency: u32,
    /// Retries after a rejection that said when to come back (`retry_after`).
    #[serde(default)]
    pub retries: u32,
    /// A `retry_after` longer than this is not waited for.
    #[serde(default = "default_max_retry_wait")]
    pub max_retry_wait: Dur,
    /// A retry waits `retry_after` plus up to this fraction of it more, drawn per request
    /// (0: every caller comes back at the same instant).
    #[serde(default)]
    pub retry_jitter: f64,
    /// A refused request is answered by a fallback (counted as served, not as a failure).
    #[serde(default)]
    pub fallback: bool,
}

fn default_timeout() -> Dur {
    Dur::secs(1)
}
fn default_max_retry_wait() -> Dur {
    Dur::secs(5)
}

impl Default for Caller {
    fn default() -> Self {
        Caller {
            timeout: default_timeout(),
            concurrency: 0,
            retries: 0,
            max_retry_wait: default_max_retry_wait(),
            retry_jitter: 0.0,
            fallback: false,
        }
    }
}

impl Scenario {
    /// Reads a scenario from TOML text.
    ///
    /// # Errors
    ///
    /// [`SimError::Scenario`] for a syntax error or a value out of range.
    pub fn from_toml(text: &str) -> Result<Scenario, SimError> {
        let s: Scenario = toml::from_str(text).map_err(|e| SimError::Scenario(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Checks ranges serde cannot.
    ///
    /// # Errors
    ///
    /// [`SimError::Scenario`] naming the first bad value.
    pub fn validate(&self) -> Result<(), SimError> {
        let bad = |m: String| Err(SimError::Scenario(m));
        if self.duration.0 == 0 {
            return bad("duration must be longer than zero".into());
        }
        if self.bin.0 == 0 {
            return bad("bin must be longer than zero".into());
        }
        if self.duration.0 / self.bin.0 > 1_000_000 {
            return bad("more than 1,000,000 timeline bins: use a wider bin".into());
        }
        let rate_ok = |r: f64| r.is_finite() && r >= 0.0;
        if !rate_ok(self.load.rps) || self.load.rps > 1e8 {
            return bad(format!("load.rps ({}) must be in [0, 1e8]", self.load.rps));
        }
        for b in &self.load.bursts {
            if !rate_ok(b.rps) || b.rps > 1e8 {
                return bad(format!("burst rps ({}) must be in [0, 1e8]", b.rps));
            }
        }
        let prob_ok = |p: f64| (0.0..=1.0).contains(&p);
        if !prob_ok(self.upstream.error_rate) {
            return bad("upstream.error_rate must be in [0, 1]".into());
        }
        for p in &self.upstream.phases {
            match &p.kind {
                PhaseKind::Brownout { error_rate, .. } if !prob_ok(*error_rate) => {
                    return bad("a brown-out's error_rate must be in [0, 1]".into());
                }
                PhaseKind::Flapping { period, down, .. } if period.0 == 0 || down > period => {
                    return bad("flapping needs 0 < down <= period".into());
                }
                _ => {}
            }
        }
        if !(0.0..=10.0).contains(&self.caller.retry_jitter) {
            return bad("caller.retry_jitter must be in [0, 10]".into());
        }
        if self.caller.timeout.0 == 0 {
            return bad("caller.timeout must be longer than zero".into());
        }
        Ok(())
    }

    /// The health at `t`, for the metrics and the pictures.
    pub fn health(&self, t: Micros) -> Health {
        self.upstream.at(t).health
    }
}

/// What the upstream does to a call started at some instant.
#[derive(Clone, Copy, Debug)]
pub(crate) struct UpstreamNow {
    pub(crate) health: Health,
    /// Fails every call, after this long (`None`: hangs).
    pub(crate) down: Option<Option<Micros>>,
    pub(crate) error_rate: f64,
    /// Which latency distribution: healthy, or a brown-out's worst and how far along (0..=1).
    pub(crate) brownout: Option<(usize, f64)>,
}

impl Upstream {
    pub(crate) fn at(&self, t: Micros) -> UpstreamNow {
        let mut now = UpstreamNow {
            health: Health::Healthy,
            down: None,
            error_rate: self.error_rate,
            brownout: None,
        };
        // Later phases win where they overlap.
        for (i, p) in self.phases.iter().enumerate() {
            let (start, end) = (p.start.0, p.start.0.saturating_add(p.duration.0));
            if t < start || t >= end {
                continue;
            }
            let fail_after = |mode: OutageMode, fail_latency: Dur| match mode {
                OutageMode::Refused => Some(fail_latency.0),
                OutageMode::Hang => None,
            };
            match &p.kind {
                PhaseKind::Outage { mode, fail_latency } => {
                    now.health = Health::Down;
                    now.down = Some(fail_after(*mode, *fail_latency));
                }
                PhaseKind::Flapping {
                    period,
                    down,
                    mode,
                    fail_latency,
                } => {
                    if (t - start) % period.0 < down.0 {
                        now.health = Health::Down;
                        now.down = Some(fail_after(*mode, *fail_latency));
                    }
                }
                PhaseKind::Brownout {
                    error_rate, ramp, ..
                } => {
                    let from_edge = (t - start).min(end - 1 - t);
                    let k = if ramp.0 == 0 {
                        1.0
                    } else {
                        (from_edge as f64 / ramp.0 as f64).min(1.0)
                    };
                    now.health = Health::Degraded;
                    now.down = None;
                    now.error_rate = self.error_rate + (error_rate - self.error_rate) * k;
                    now.brownout = Some((i, k));
                }
            }
        }
        now
    }

    /// The instants where the upstream's behaviour changes, sorted (phase starts and ends).
    pub(crate) fn edges(&self) -> Vec<Micros> {
        let mut e: Vec<Micros> = self
            .phases
            .iter()
            .flat_map(|p| [p.start.0, p.start.0.saturating_add(p.duration.0)])
            .collect();
        e.sort_unstable();
        e.dedup();
        e
    }
}

/// The upstream, ready to answer calls.
#[derive(Debug)]
pub(crate) struct UpstreamModel<'a> {
    pub(crate) upstream: &'a Upstream,
    healthy: LatencyDist,
    worst: Vec<LatencyDist>,
}

/// How one call to the upstream goes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Answer {
    pub(crate) health: Health,
    pub(crate) failure: bool,
    /// `None`: never answers.
    pub(crate) latency: Option<Micros>,
}

impl<'a> UpstreamModel<'a> {
    pub(crate) fn new(upstream: &'a Upstream) -> Self {
        let healthy = LatencyDist::new(&upstream.latency);
        let worst = upstream
            .phases
            .iter()
            .map(|p| match &p.kind {
                PhaseKind::Brownout { latency, .. } => {
                    LatencyDist::new(latency.as_ref().unwrap_or(&upstream.latency))
                }
                _ => healthy,
            })
            .collect();
        UpstreamModel {
            upstream,
            healthy,
            worst,
        }
    }

    /// The answer to a call started at `t`, drawn from `rng`.
    #[inline]
    pub(crate) fn call(&self, t: Micros, rng: &mut Rng) -> Answer {
        let now = if self.upstream.phases.is_empty() {
            UpstreamNow {
                health: Health::Healthy,
                down: None,
                error_rate: self.upstream.error_rate,
                brownout: None,
            }
        } else {
            self.upstream.at(t)
        };
        if let Some(after) = now.down {
            return Answer {
                health: now.health,
                failure: true,
                latency: after,
            };
        }
        let failure = rng.chance(now.error_rate);
        let latency = match now.brownout {
            None => self.healthy.sample(rng),
            Some((i, k)) => {
                // Interpolate in log space between healthy and worst.
                let (h, w) = (self.healthy, self.worst[i]);
                let d = LatencyDist {
                    mu: h.mu + (w.mu - h.mu) * k,
                    sigma: h.sigma + (w.sigma - h.sigma) * k,
                };
                d.sample(rng)
            }
        };
        Answer {
            health: now.health,
            failure,
            latency: Some(latency),
        }
    }
}

/// The arrival process: the next arrival after `t`, with bursts.
#[derive(Debug)]
pub(crate) struct Arrival<'a> {
    load: &'a Load,
    end: Micros,
    edges: Vec<Micros>,
    rng: Rng,
}

impl<'a> Arrival<'a> {
    pub(crate) fn new(load: &'a Load, end: Micros, seed: u64) -> Self {
        let mut edges: Vec<Micros> = load
            .bursts
            .iter()
            .flat_map(|b| [b.start.0, b.start.0.saturating_add(b.duration.0)])
            .chain([end])
            .collect();
        edges.sort_unstable();
        edges.dedup();
        Arrival {
            load,
            end,
            edges,
            rng: Rng::derive(seed, 0xA11, 0),
        }
    }

    fn rate(&self, t: Micros) -> f64 {
        let extra: f64 = self
            .load
            .bursts
            .iter()
            .filter(|b| t >= b.start.0 && t < b.start.0.saturating_add(b.duration.0))
            .map(|b| b.rps)
            .sum();
        self.load.rps + extra
    }

    fn next_edge(&self, t: Micros) -> Micros {
        let i = self.edges.partition_point(|&e| e <= t);
        self.edges.get(i).copied().unwrap_or(self.end)
    }

    /// The first arrival after `t` (at `t` for the very first call of an even process), or `None`
    /// past the end.
    pub(crate) fn next(&mut self, t: Micros) -> Option<Micros> {
        let mut t = t;
        match self.load.arrivals {
            Arrivals::Even => loop {
                if t >= self.end {
                    return None;
                }
                let r = self.rate(t);
                let edge = self.next_edge(t);
                if r > 0.0 {
                    let gap = (1e6 / r).max(1.0) as Micros;
                    if t + gap < edge {
                        return Some(t + gap);
                    }
                }
                t = edge;
            },
            Arrivals::Poisson => {
                // Unit-rate work, consumed across the piecewise-constant rate.
                let mut need = self.rng.exp1();
                loop {
                    if t >= self.end {
                        return None;
                    }
                    let r = self.rate(t) / 1e6;
                    let edge = self.next_edge(t);
                    if r > 0.0 {
                        let dt = need / r;
                        if (t as f64 + dt) < edge as f64 {
                            return Some(t + (dt.ceil() as Micros).max(1));
                        }
                        need -= r * (edge - t) as f64;
                    }
                    t = edge;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(Dur::parse("250ms"), Ok(Dur(250_000)));
        assert_eq!(Dur::parse("2m"), Ok(Dur(120_000_000)));
        assert_eq!(Dur::parse("1.5s"), Ok(Dur(1_500_000)));
        assert_eq!(Dur::parse("1h"), Ok(Dur(3_600_000_000)));
        assert_eq!(Dur::parse("7"), Ok(Dur(7_000_000)));
        assert!(Dur::parse("-1s").is_err());
        assert!(Dur::parse("5 parsecs").is_err());
        assert!(Dur::parse("").is_err());
        assert_eq!(Dur(1_500).to_string(), "1500us");
        assert_eq!(Dur::secs(90).to_string(), "90s");
    }

    #[test]
    fn poisson_arrivals_have_the_rate_and_bursts_add() {
        let load = Load {
            rps: 100.0,
            arrivals: Arrivals::Poisson,
            bursts: vec![Burst {
                start: Dur::secs(10),
                duration: Dur::secs(10),
                rps: 900.0,
            }],
        };
        let mut a = Arrival::new(&load, 30_000_000, 5);
        let (mut t, mut before, mut during) = (0, 0, 0);
        while let Some(n) = a.next(t) {
            t = n;
            if t < 10_000_000 {
                before += 1;
            } else if t < 20_000_000 {
                during += 1;
            }
        }
        assert!((900..1100).contains(&before), "{before}");
        assert!((9_500..10_500).contains(&during), "{during}");
    }
}
