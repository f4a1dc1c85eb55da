//! The discrete-event simulation: arrivals, calls in flight and their ends, in simulated time,
//! against a [`Subject`] (the real breaker, see [`crate::breaker`]).
//!
//! Time jumps from event to event; nothing sleeps. Each event moves the breaker's manual clock to
//! its instant first, so the breaker sees exactly the times the scenario says.

use core::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use serde::Serialize;

use crate::breaker::{Change, Finish, SimState, Subject};
use crate::metrics::Histogram;
use crate::rng::Rng;
use crate::scenario::{Arrival, Health, Micros, Scenario, UpstreamModel};
use crate::spec::{ConfigSpec, WindowSpec};
use crate::trace::{Trace, TraceEvent};

/// What to run a configuration against.
#[derive(Clone, Copy, Debug)]
pub enum Workload<'a> {
    /// A scenario: generated load against a modelled upstream.
    Scenario(&'a Scenario),
    /// A recorded trace, with the bin width for the timeline.
    Trace(&'a Trace, Micros),
}

/// Counts of one timeline bin.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Bin {
    /// Call attempts that arrived.
    pub arrived: u32,
    /// Admitted by the breaker.
    pub admitted: u32,
    /// Calls that ended in success.
    pub succeeded: u32,
    /// Calls that ended in failure (timeouts included).
    pub failed: u32,
    /// Refused by the breaker.
    pub rejected: u32,
    /// Refused by the caller's concurrency limit.
    pub limited: u32,
}

/// Why the breaker opened, derived by the simulator (the core's transitions do not carry a
/// reason yet): from the configuration, the consecutive-failure count the breaker reports with
/// the change, and the outcomes the simulator saw enter the window.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "rule", rename_all = "kebab-case")]
pub enum TripReason {
    /// The consecutive-failures rule.
    Consecutive {
        /// Failures counted.
        failures: u32,
        /// The threshold.
        threshold: u32,
    },
    /// The failure-rate rule.
    FailureRate {
        /// Observed rate.
        rate: f64,
        /// Calls in the window.
        calls: u32,
    },
    /// The slow-call-rate rule.
    SlowRate {
        /// Observed rate.
        rate: f64,
        /// Calls in the window.
        calls: u32,
    },
    /// A half-open trial failed.
    TrialFailed,
    /// Half-open trials never reported within the maximum wait.
    TrialsAbandoned,
    /// A window rule fired but the simulator's view of the window could not tell which.
    Window,
}

impl TripReason {
    /// A short label for tables and pictures.
    pub fn label(&self) -> String {
        match self {
            TripReason::Consecutive { failures, .. } => format!("{failures} consecutive"),
            TripReason::FailureRate { rate, calls } => {
                format!("fail rate {:.0}%/{calls}", rate * 100.0)
            }
            TripReason::SlowRate { rate, calls } => format!("slow {:.0}%/{calls}", rate * 100.0),
            TripReason::TrialFailed => "trial failed".into(),
            TripReason::TrialsAbandoned => "trial timed out".into(),
            TripReason::Window => "window rule".into(),
        }
    }
}

/// A transition to open.
#[derive(Clone, Debug, Serialize)]
pub struct Trip {
    /// When.
    pub at: Micros,
    /// From which state.
    pub from: SimState,
    /// The rule.
    pub reason: TripReason,
    /// The open duration drawn.
    pub open_for: Option<Micros>,
}

/// Totals over a run.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Totals {
    /// Requests callers made (retries not counted again).
    pub requests: u64,
    /// Call attempts (requests plus retries): the simulated calls.
    pub attempts: u64,
    /// Retries made after a rejection.
    pub retries: u64,
    /// Attempts the breaker admitted.
    pub admitted: u64,
    /// Of those, half-open trials.
    pub trials: u64,
    /// Admitted calls that succeeded.
    pub succeeded: u64,
    /// Admitted calls that failed (timeouts included).
    pub failed: u64,
    /// Admitted calls abandoned at the caller's timeout.
    pub timeouts: u64,
    /// Attempts the breaker refused.
    pub rejected: u64,
    /// Attempts refused by the caller's concurrency limit.
    pub limited: u64,
    /// Admitted while the upstream was down: leaked into an outage.
    pub leaked: u64,
    /// Admitted during a brown-out.
    pub admitted_degraded: u64,
    /// Refused while the upstream was healthy: wrongly refused.
    pub wrongly_refused: u64,
    /// Refused while the upstream was down (the breaker's job).
    pub refused_down: u64,
    /// Refused during a brown-out.
    pub refused_degraded: u64,
    /// Requests that ended in success.
    pub requests_ok: u64,
    /// Requests answered by the fallback after a refusal.
    pub requests_fallback: u64,
    /// Trips from closed outside every incident (and its grace period).
    pub false_opens: u64,
    /// Calls refused while open after such a false open, until the breaker closed again.
    pub false_open_refused: u64,
}

/// An incident: a span where the upstream was not healthy, and what the breaker did in it.
#[derive(Clone, Debug, Serialize)]
pub struct Incident {
    /// `outage`, `brownout`, `flapping` (scenario), or `observed` (read from a trace).
    pub kind: String,
    /// Start.
    pub start: Micros,
    /// End (exclusive).
    pub end: Micros,
    /// Attempts admitted during it.
    pub admitted: u64,
    /// Attempts refused during it.
    pub refused: u64,
}

/// Everything a run observed: the raw material of reports and pictures.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// The configuration.
    pub spec: ConfigSpec,
    /// First instant simulated.
    pub start: Micros,
    /// End of the load.
    pub end: Micros,
    /// Timeline bin width.
    pub bin: Micros,
    /// The timeline.
    pub bins: Vec<Bin>,
    /// Upstream health per bin (worst seen in the bin).
    pub health: Vec<Health>,
    /// Every state change.
    pub changes: Vec<Change>,
    /// Every transition to open, with its derived reason.
    pub trips: Vec<Trip>,
    /// The incidents, with what was admitted and refused in each.
    pub incidents: Vec<Incident>,
    /// How long after an incident's end a trip still counts as detecting it (the caller's
    /// timeout: calls started in the incident may fail that late).
    pub grace: Micros,
    /// Totals.
    pub totals: Totals,
    /// Latency callers saw per request (from first attempt to answer), every request.
    #[serde(skip)]
    pub latency_all: Histogram,
    /// Latency of requests that succeeded.
    #[serde(skip)]
    pub latency_ok: Histogram,
}

#[derive(Clone, Copy, Debug)]
struct Flight {
    first: Micros,
    how: Finish,
    generation: u32,
    trial: bool,
    slow: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    /// A call in flight ends (slot).
    Done(u32),
    /// A retry of request `req` (first arrival, attempt number).
    Retry {
        req: u64,
        first: Micros,
        attempt: u32,
    },
}

/// The simulator's view of the window, used only to name the rule that tripped.
#[derive(Debug)]
struct Shadow {
    kind: Option<WindowSpec>,
    samples: VecDeque<(Micros, bool, bool)>,
    failures: u32,
    slow: u32,
}

impl Shadow {
    fn push(&mut self, t: Micros, failure: bool, slow: bool) {
        match self.kind {
            None => return,
            Some(WindowSpec::Count { size }) => {
                if self.samples.len() as u32 >= size {
                    self.pop();
                }
            }
            Some(WindowSpec::Time { buckets, bucket }) => {
                let b = bucket.0.max(1);
                let oldest = (t / b).saturating_sub(buckets as u64 - 1);
                while self.samples.front().is_some_and(|s| s.0 / b < oldest) {
                    self.pop();
                }
            }
        }
        self.samples.push_back((t, failure, slow));
        self.failures += failure as u32;
        self.slow += slow as u32;
    }
    fn pop(&mut self) {
        if let Some((_, f, s)) = self.samples.pop_front() {
            self.failures -= f as u32;
            self.slow -= s as u32;
        }
    }
    fn clear(&mut self) {
        self.samples.clear();
        self.failures = 0;
        self.slow = 0;
    }
}

/// One arrival of a trace replay.
#[derive(Clone, Copy, Debug)]
struct Replayed {
    start: Micros,
    how: Finish,
    latency: Micros,
    refused: bool,
}

struct Engine<'a> {
    spec: &'a ConfigSpec,
    start: Micros,
    end: Micros,
    bin: Micros,
    bins: Vec<Bin>,
    health: Vec<Health>,
    heap: BinaryHeap<Reverse<(Micros, u64, Event)>>,
    seq: u64,
    flights: Vec<Option<Flight>>,
    in_flight: u32,
    changes: Vec<Change>,
    pending: Vec<Change>,
    trips: Vec<Trip>,
    totals: Totals,
    latency_all: Histogram,
    latency_ok: Histogram,
    shadow: Shadow,
    generation: u32,
    closed: bool,
    slow_threshold: Option<Micros>,
    /// Whether the last breaker operation was a failure report (to name half-open re-opens).
    last_was_failure: bool,
    incidents: Vec<Incident>,
    /// The first incident that may still contain the current instant.
    cursor: usize,
    grace: Micros,
    /// The breaker is open after a false open.
    false_episode: bool,
}

/// Runs `spec`'s breaker (through `subject`) against `workload`.
pub(crate) fn simulate(
    subject: &mut dyn Subject,
    spec: &ConfigSpec,
    workload: Workload<'_>,
) -> Run {
    let (start, end, bin, health) = match workload {
        Workload::Scenario(s) => {
            let end = s.duration.0;
            let n = end.div_ceil(s.bin.0).max(1) as usize;
            let health = (0..n)
                .map(|i| worst_health(s, i as u64 * s.bin.0, ((i as u64 + 1) * s.bin.0).min(end)))
                .collect();
            (0, end, s.bin.0, health)
        }
        Workload::Trace(t, bin) => trace_health(t, bin.max(1)),
    };
    let n = (end - start).div_ceil(bin).max(1) as usize;
    let (incidents, grace) = match workload {
        Workload::Scenario(s) => (scenario_incidents(s), s.caller.timeout.0),
        Workload::Trace(..) => (observed_incidents(start, bin, &health), 0),
    };
    let mut e = Engine {
        spec,
        start,
        end,
        bin,
        bins: vec![Bin::default(); n],
        health,
        heap: BinaryHeap::new(),
        seq: 0,
        flights: Vec::new(),
        in_flight: 0,
        changes: Vec::new(),
        pending: Vec::new(),
        trips: Vec::new(),
        totals: Totals::default(),
        latency_all: Histogram::default(),
        latency_ok: Histogram::default(),
        shadow: Shadow {
            kind: spec.window,
            samples: VecDeque::new(),
            failures: 0,
            slow: 0,
        },
        generation: 0,
        closed: true,
        slow_threshold: spec.slow_call.map(|d| d.0),
        last_was_failure: false,
        incidents,
        cursor: 0,
        grace,
        false_episode: false,
    };
    match workload {
        Workload::Scenario(s) => e.run_scenario(subject, s),
        Workload::Trace(t, _) => e.run_trace(subject, t),
    }
    Run {
        spec: spec.clone(),
        start: e.start,
        end: e.end,
        bin: e.bin,
        bins: e.bins,
        health: e.health,
        changes: e.changes,
        trips: e.trips,
        incidents: e.incidents,
        grace: e.grace,
        totals: e.totals,
        latency_all: e.latency_all,
        latency_ok: e.latency_ok,
    }
}

fn scenario_incidents(s: &Scenario) -> Vec<Incident> {
    let mut v: Vec<Incident> = s
        .upstream
        .phases
        .iter()
        .map(|p| Incident {
            kind: match p.kind {
                crate::scenario::PhaseKind::Outage { .. } => "outage",
                crate::scenario::PhaseKind::Brownout { .. } => "brownout",
                crate::scenario::PhaseKind::Flapping { .. } => "flapping",
            }
            .to_string(),
            start: p.start.0,
            end: p.start.0.saturating_add(p.duration.0).min(s.duration.0),
            admitted: 0,
            refused: 0,
        })
        .filter(|i| i.start < i.end)
        .collect();
    v.sort_by_key(|i| i.start);
    v
}

/// Runs of bins where the upstream was down (a degraded bin is drawn, but is no incident: in a
/// trace, a few unlucky errors are enough for one).
fn observed_incidents(start: Micros, bin: Micros, health: &[Health]) -> Vec<Incident> {
    let mut v = Vec::new();
    let mut open: Option<usize> = None;
    for (i, h) in health.iter().chain([&Health::Healthy]).enumerate() {
        match (open, *h != Health::Down) {
            (None, false) => open = Some(i),
            (Some(s), true) => {
                v.push(Incident {
                    kind: "observed".into(),
                    start: start + s as u64 * bin,
                    end: start + i as u64 * bin,
                    admitted: 0,
                    refused: 0,
                });
                open = None;
            }
            _ => {}
        }
    }
    v
}

fn worst_health(s: &Scenario, from: Micros, to: Micros) -> Health {
    let mut worst = s.health(from);
    // Phase edges inside the bin, and a few samples for flapping.
    let step = ((to - from) / 8).max(1);
    let mut t = from;
    while t < to {
        match s.health(t) {
            Health::Down => return Health::Down,
            Health::Degraded => worst = Health::Degraded,
            Health::Healthy => {}
        }
        t += step;
    }
    for edge in s.upstream.edges() {
        if edge >= from && edge < to {
            match s.health(edge) {
                Health::Down => return Health::Down,
                Health::Degraded => worst = Health::Degraded,
                Health::Healthy => {}
            }
        }
    }
    worst
}

/// The first instant of a trace: its earliest call start.
pub(crate) fn trace_start(t: &Trace) -> Micros {
    t.rows
        .iter()
        .map(|r| r.at - r.latency.unwrap_or(0).min(r.at))
        .min()
        .unwrap_or(0)
}

/// A trace carries no ground truth about the upstream: its health per bin is read from the
/// outcomes recorded: those that ended in the bin when there are at least 4, else the last 8 that
/// ended by the bin's end (an open breaker lets few calls through, and the last ones it let
/// through say what the upstream was doing). Half or more failed: down; a quarter: degraded.
fn trace_health(t: &Trace, bin: Micros) -> (Micros, Micros, Micros, Vec<Health>) {
    let start = trace_start(t);
    let end = t.rows.iter().map(|r| r.at).max().unwrap_or(start) + 1;
    let n = (end - start).div_ceil(bin).max(1) as usize;
    let mut ends: Vec<(usize, bool)> = t
        .rows
        .iter()
        .filter_map(|r| match r.event {
            TraceEvent::Success => Some((((r.at - start) / bin) as usize, false)),
            TraceEvent::Failure => Some((((r.at - start) / bin) as usize, true)),
            _ => None,
        })
        .collect();
    ends.sort_by_key(|e| e.0);
    let judge = |failed: usize, total: usize| {
        if total == 0 {
            Health::Healthy
        } else if failed * 2 >= total {
            Health::Down
        } else if failed * 4 >= total {
            Health::Degraded
        } else {
            Health::Healthy
        }
    };
    let mut health = Vec::with_capacity(n);
    let mut j = 0;
    for i in 0..n {
        let first = j;
        while j < ends.len() && ends[j].0 == i {
            j += 1;
        }
        let in_bin = &ends[first..j];
        let sample = if in_bin.len() >= 4 {
            in_bin
        } else {
            &ends[j.saturating_sub(8)..j]
        };
        health.push(judge(sample.iter().filter(|e| e.1).count(), sample.len()));
    }
    (start, end, bin, health)
}

impl Engine<'_> {
    #[inline]
    fn bin_of(&self, t: Micros) -> usize {
        (((t.max(self.start) - self.start) / self.bin) as usize).min(self.bins.len() - 1)
    }

    #[inline]
    fn push(&mut self, t: Micros, e: Event) {
        self.seq += 1;
        self.heap.push(Reverse((t, self.seq, e)));
    }

    fn run_scenario(&mut self, subject: &mut dyn Subject, s: &Scenario) {
        let upstream = UpstreamModel::new(&s.upstream);
        let mut arrivals = Arrival::new(&s.load, s.duration.0, s.seed);
        let mut next = arrivals.next(0);
        let mut req: u64 = 0;
        loop {
            let heap_next = self.heap.peek().map(|Reverse((t, _, _))| *t);
            // Ends and retries due at the same instant go before a new arrival.
            let take_heap = match (heap_next, next) {
                (Some(h), Some(a)) => h <= a,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_heap {
                let Some(Reverse((t, _, ev))) = self.heap.pop() else {
                    break;
                };
                subject.set_time(t);
                match ev {
                    Event::Done(slot) => self.done(subject, t, slot),
                    Event::Retry {
                        req,
                        first,
                        attempt,
                    } => self.attempt(subject, s, &upstream, t, req, first, attempt),
                }
            } else if let Some(t) = next {
                subject.set_time(t);
                self.totals.requests += 1;
                self.attempt(subject, s, &upstream, t, req, t, 0);
                req += 1;
                next = arrivals.next(t);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt(
        &mut self,
        subject: &mut dyn Subject,
        s: &Scenario,
        upstream: &UpstreamModel<'_>,
        t: Micros,
        req: u64,
        first: Micros,
        attempt: u32,
    ) {
        let caller = &s.caller;
        let b = self.bin_of(t);
        self.bins[b].arrived += 1;
        self.totals.attempts += 1;
        let mut rng = Rng::derive(s.seed, req, attempt as u64);
        let answer = upstream.call(t, &mut rng);
        if caller.concurrency > 0 && self.in_flight >= caller.concurrency {
            self.totals.limited += 1;
            self.bins[b].limited += 1;
            self.end_refused(t, first, caller.fallback);
            return;
        }
        match subject.acquire() {
            Ok(ticket) => {
                self.last_was_failure = false;
                self.admitted(t, b, ticket.trial, answer.health);
                let timeout = caller.timeout.0;
                let (how, took) = match answer.latency {
                    Some(l) if l < timeout => (
                        if answer.failure {
                            Finish::Failure
                        } else {
                            Finish::Success
                        },
                        l,
                    ),
                    _ => {
                        self.totals.timeouts += 1;
                        (Finish::Failure, timeout)
                    }
                };
                let flight = Flight {
                    first,
                    how,
                    generation: ticket.generation,
                    trial: ticket.trial,
                    slow: self.slow_threshold.is_some_and(|th| took >= th),
                };
                self.start_flight(subject, ticket.slot, flight, t, took);
            }
            Err(retry_after) => {
                self.refused(t, b, answer.health);
                match retry_after {
                    Some(d)
                        if attempt < caller.retries
                            && d <= caller.max_retry_wait.0
                            && t + d < self.end =>
                    {
                        self.totals.retries += 1;
                        let extra = (d as f64 * caller.retry_jitter * rng.f64()) as Micros;
                        self.push(
                            t + d + extra,
                            Event::Retry {
                                req,
                                first,
                                attempt: attempt + 1,
                            },
                        );
                    }
                    _ => self.end_refused(t, first, caller.fallback),
                }
            }
        }
        self.collect(subject);
    }

    /// The incident containing `t`, if any (instants arrive in order, so a cursor suffices).
    #[inline]
    fn incident_at(&mut self, t: Micros) -> Option<usize> {
        while self.incidents.get(self.cursor).is_some_and(|i| i.end <= t) {
            self.cursor += 1;
        }
        let i = self.incidents.get(self.cursor)?;
        (t >= i.start).then_some(self.cursor)
    }

    #[inline]
    fn admitted(&mut self, t: Micros, b: usize, trial: bool, health: Health) {
        if let Some(i) = self.incident_at(t) {
            self.incidents[i].admitted += 1;
        }
        self.totals.admitted += 1;
        self.totals.trials += trial as u64;
        self.bins[b].admitted += 1;
        match health {
            Health::Down => self.totals.leaked += 1,
            Health::Degraded => self.totals.admitted_degraded += 1,
            Health::Healthy => {}
        }
    }

    #[inline]
    fn refused(&mut self, t: Micros, b: usize, health: Health) {
        if let Some(i) = self.incident_at(t) {
            self.incidents[i].refused += 1;
        }
        if self.false_episode {
            self.totals.false_open_refused += 1;
        }
        self.totals.rejected += 1;
        self.bins[b].rejected += 1;
        match health {
            Health::Down => self.totals.refused_down += 1,
            Health::Degraded => self.totals.refused_degraded += 1,
            Health::Healthy => self.totals.wrongly_refused += 1,
        }
    }

    #[inline]
    fn start_flight(
        &mut self,
        subject: &mut dyn Subject,
        slot: u32,
        f: Flight,
        t: Micros,
        took: Micros,
    ) {
        let i = slot as usize;
        if self.flights.len() <= i {
            self.flights.resize(i + 1, None);
        }
        self.flights[i] = Some(f);
        self.in_flight += 1;
        if took == 0 {
            self.done(subject, t, slot);
        } else {
            self.push(t + took, Event::Done(slot));
        }
    }

    fn end_refused(&mut self, t: Micros, first: Micros, fallback: bool) {
        if fallback {
            self.totals.requests_fallback += 1;
        }
        self.latency_all.record(t - first);
    }

    fn done(&mut self, subject: &mut dyn Subject, t: Micros, slot: u32) {
        let Some(f) = self.flights.get_mut(slot as usize).and_then(Option::take) else {
            return;
        };
        self.in_flight -= 1;
        subject.finish(slot, f.how);
        // A slow trial re-opens the breaker like a failed one, when the slow-call rule is on.
        self.last_was_failure =
            f.how == Finish::Failure || (f.slow && self.spec.slow_rate.is_some());
        let b = self.bin_of(t);
        match f.how {
            Finish::Success => {
                self.bins[b].succeeded += 1;
                self.totals.succeeded += 1;
                self.totals.requests_ok += 1;
                self.latency_ok.record(t - f.first);
            }
            Finish::Failure => {
                self.bins[b].failed += 1;
                self.totals.failed += 1;
            }
            Finish::Ignored | Finish::Cancelled => {}
        }
        self.latency_all.record(t - f.first);
        if self.closed
            && !f.trial
            && f.generation == self.generation
            && matches!(f.how, Finish::Success | Finish::Failure)
        {
            self.shadow.push(t, f.how == Finish::Failure, f.slow);
        }
        self.collect(subject);
    }

    /// Takes the state changes the last operation caused, names the rule behind each trip, and
    /// keeps the simulator's window view in step with the breaker's generations.
    #[inline]
    fn collect(&mut self, subject: &mut dyn Subject) {
        if !subject.has_changes() {
            return;
        }
        let mut pending = core::mem::take(&mut self.pending);
        subject.take_changes(&mut pending);
        for c in pending.drain(..) {
            if c.to == SimState::Open {
                let reason = self.reason(&c);
                if c.from == SimState::Closed && !self.near_incident(c.at) {
                    self.totals.false_opens += 1;
                    self.false_episode = true;
                }
                self.trips.push(Trip {
                    at: c.at,
                    from: c.from,
                    reason,
                    open_for: c.open_for,
                });
            }
            self.generation = c.generation;
            self.closed = c.to == SimState::Closed;
            if self.closed {
                self.false_episode = false;
            }
            self.shadow.clear();
            self.changes.push(c);
        }
        self.pending = pending;
    }

    fn near_incident(&self, t: Micros) -> bool {
        self.incidents
            .iter()
            .any(|i| t >= i.start && t < i.end.saturating_add(self.grace))
    }

    fn reason(&self, c: &Change) -> TripReason {
        let spec = self.spec;
        if c.from == SimState::HalfOpen {
            return if self.last_was_failure {
                TripReason::TrialFailed
            } else {
                TripReason::TrialsAbandoned
            };
        }
        if let Some(n) = spec.effective_failure_threshold() {
            if c.consecutive_failures >= n {
                return TripReason::Consecutive {
                    failures: c.consecutive_failures,
                    threshold: n,
                };
            }
        }
        let calls = self.shadow.samples.len() as u32;
        let enough = calls >= spec.effective_minimum_calls() && calls > 0;
        if enough {
            let fail = self.shadow.failures as f64 / calls as f64;
            let slow = self.shadow.slow as f64 / calls as f64;
            // The core compares integer ppm; a hair of slack keeps float rounding from hiding it.
            if spec.failure_rate.is_some_and(|r| fail + 1e-6 >= r) {
                return TripReason::FailureRate { rate: fail, calls };
            }
            if spec.slow_rate.is_some_and(|r| slow + 1e-6 >= r) {
                return TripReason::SlowRate { rate: slow, calls };
            }
        }
        TripReason::Window
    }

    fn run_trace(&mut self, subject: &mut dyn Subject, trace: &Trace) {
        // Refused calls have no outcome of their own: they meet the upstream as the last call
        // that ended before them did (or the next one, at the start of the trace).
        let mut last: Option<(Finish, Micros)> = None;
        let mut calls: Vec<Replayed> = Vec::with_capacity(trace.rows.len());
        let mut waiting = Vec::new();
        for r in &trace.rows {
            let how = match r.event {
                TraceEvent::Success => Finish::Success,
                TraceEvent::Failure => Finish::Failure,
                TraceEvent::Ignored => Finish::Ignored,
                TraceEvent::Cancelled => Finish::Cancelled,
                TraceEvent::Rejected => {
                    if last.is_none() {
                        waiting.push(calls.len()); // filled in by the first call that ends
                    }
                    let (how, latency) = last.unwrap_or((Finish::Success, 0));
                    calls.push(Replayed {
                        start: r.at,
                        how,
                        latency,
                        refused: true,
                    });
                    continue;
                }
                TraceEvent::State { .. } => continue,
            };
            let latency = r.latency.unwrap_or(0);
            if matches!(how, Finish::Success | Finish::Failure) {
                if last.is_none() {
                    for &i in &waiting {
                        calls[i].how = how;
                        calls[i].latency = latency;
                    }
                }
                last = Some((how, latency));
            }
            calls.push(Replayed {
                start: r.at - latency,
                how,
                latency,
                refused: false,
            });
        }
        // Calls that started at the same instant: those the recording admitted go before those it
        // refused (within one state, admissions come first: a refusal in half-open means the
        // trial slots were taken), then the file's order (the sort is stable).
        calls.sort_by_key(|c| (c.start, c.refused));
        let mut i = 0;
        loop {
            let heap_next = self.heap.peek().map(|Reverse((t, _, _))| *t);
            let arrival = calls.get(i).map(|c| c.start);
            let take_heap = match (heap_next, arrival) {
                (Some(h), Some(a)) => h <= a,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if take_heap {
                let Some(Reverse((t, _, ev))) = self.heap.pop() else {
                    break;
                };
                subject.set_time(t);
                if let Event::Done(slot) = ev {
                    self.done(subject, t, slot);
                }
            } else {
                let c = calls[i];
                i += 1;
                let t = c.start;
                subject.set_time(t);
                self.totals.requests += 1;
                self.totals.attempts += 1;
                let b = self.bin_of(t);
                self.bins[b].arrived += 1;
                let health = self.health[b];
                match subject.acquire() {
                    Ok(ticket) => {
                        self.last_was_failure = false;
                        self.admitted(t, b, ticket.trial, health);
                        let flight = Flight {
                            first: t,
                            how: c.how,
                            generation: ticket.generation,
                            trial: ticket.trial,
                            slow: self.slow_threshold.is_some_and(|th| c.latency >= th),
                        };
                        self.start_flight(subject, ticket.slot, flight, t, c.latency);
                    }
                    Err(_) => {
                        self.refused(t, b, health);
                        self.end_refused(t, t, false);
                    }
                }
                self.collect(subject);
            }
        }
    }
}
