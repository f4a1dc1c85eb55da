//! The one module that speaks breaker-core's API.
//!
//! Everything else in the simulator works on plain data ([`ConfigSpec`], [`SimState`],
//! [`Change`]) and drives the breaker through the small [`Subject`] trait below, so that a change
//! of the core's public API (issue 9) is absorbed here. What lives here:
//!
//! - turning a [`ConfigSpec`] into a core `Config` (window sizes are const generics in the core
//!   today, so a run-time size is matched against a list of supported sizes);
//! - [`with_subject`]: a real `CircuitBreaker` on a `ManualClock`, driven through `try_acquire`
//!   and its permits;
//! - the jitter source: the core takes a `&'static dyn Random`, so the simulator passes one that
//!   draws from a per-thread stream it reseeds at the start of every run (runs are
//!   single-threaded, so a seed fixes every jitter draw; no core change was needed);
//! - [`TraceRecorder`], the listener that writes a live breaker's events as a trace.

use core::cell::{Cell, RefCell};
use std::io::Write;
use std::sync::Mutex;

use breaker_core::clock::micros;
use breaker_core::listener::Listener;
use breaker_core::window::Window;
use breaker_core::{
    CircuitBreaker, Clock, Config, ConfigBuilder, Duration, Instant, ManualClock, Outcome, Permit,
    Random, Rejected, State, Stats, Transition,
};

use crate::error::SimError;
use crate::rng::splitmix64;
use crate::scenario::Micros;
use crate::spec::{ConfigSpec, WindowSpec};
use crate::trace::{TraceEvent, TraceRow};

/// The breaker's state, as the simulator reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SimState {
    /// Admitting and counting.
    Closed,
    /// Refusing.
    Open,
    /// Admitting trials.
    HalfOpen,
    /// Opened by hand.
    ForcedOpen,
    /// Admitting everything, never changing on its own.
    Disabled,
}

impl SimState {
    /// The lowercase name used in traces and tables.
    pub const fn as_str(self) -> &'static str {
        match self {
            SimState::Closed => "closed",
            SimState::Open => "open",
            SimState::HalfOpen => "half-open",
            SimState::ForcedOpen => "forced-open",
            SimState::Disabled => "disabled",
        }
    }

    /// The inverse of [`SimState::as_str`].
    pub fn parse(s: &str) -> Option<SimState> {
        [
            SimState::Closed,
            SimState::Open,
            SimState::HalfOpen,
            SimState::ForcedOpen,
            SimState::Disabled,
        ]
        .into_iter()
        .find(|st| st.as_str() == s)
    }
}

fn sim_state(s: State) -> SimState {
    match s {
        State::Closed => SimState::Closed,
        State::Open => SimState::Open,
        State::HalfOpen => SimState::HalfOpen,
        State::ForcedOpen => SimState::ForcedOpen,
        // `State` is exhaustive today; anything else reads as the most permissive state.
        State::Disabled => SimState::Disabled,
    }
}

/// A state change observed on the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// Simulated time of the change (when the breaker reported it).
    pub at: Micros,
    /// The state left.
    pub from: SimState,
    /// The state entered.
    pub to: SimState,
    /// The generation that began.
    pub generation: u32,
    /// Entering open: the open duration drawn (after backoff and jitter).
    pub open_for: Option<Micros>,
    /// The consecutive-failure count the breaker held just after the change.
    pub consecutive_failures: u32,
}

/// An admitted call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ticket {
    pub(crate) slot: u32,
    pub(crate) trial: bool,
    pub(crate) generation: u32,
}

/// How an admitted call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Finish {
    Success,
    Failure,
    Ignored,
    /// The permit dropped without a report (the caller went away).
    Cancelled,
}

/// What the simulation engine needs from a breaker: admission and outcome reports on a clock it
/// sets. Object-safe, so the engine is compiled once for every window type.
pub(crate) trait Subject {
    /// Moves the breaker's clock to `t` (never backwards).
    fn set_time(&mut self, t: Micros);
    /// Asks to make a call now: a ticket, or the `retry_after` of the refusal.
    fn acquire(&mut self) -> Result<Ticket, Option<Micros>>;
    /// Reports how the call of `slot` ended.
    fn finish(&mut self, slot: u32, how: Finish);
    /// Whether state changes are waiting in [`Subject::take_changes`].
    fn has_changes(&self) -> bool;
    /// Moves the state changes observed since the last call into `out`.
    fn take_changes(&mut self, out: &mut Vec<Change>);
}

thread_local! {
    static JITTER: Cell<u64> = const { Cell::new(0x5EED) };
}

/// The jitter source handed to the core: a per-thread splitmix64 stream, reseeded per run.
struct SimJitter;

impl Random for SimJitter {
    fn next_u32(&self) -> u32 {
        JITTER.with(|s| {
            let mut x = s.get();
            let v = splitmix64(&mut x);
            s.set(x);
            (v >> 32) as u32
        })
    }
}

static SIM_JITTER: SimJitter = SimJitter;

fn core_duration(d: Micros) -> Duration {
    Duration::from_micros(d)
}

fn configure<W: Window>(b: ConfigBuilder<W>, spec: &ConfigSpec) -> Result<Config<W>, SimError> {
    let mut b = match spec.effective_failure_threshold() {
        Some(n) => b.failure_threshold(n),
        None => b.no_failure_threshold(),
    };
    let open = spec.effective_open();
    b = match spec.open_multiplier {
        Some(m) if m > 1 => {
            let max = spec
                .open_max
                .unwrap_or(crate::Dur(open.0.saturating_mul(10)));
            b.open_exponential(core_duration(open.0), m, core_duration(max.0))
        }
        _ => b.open_for(core_duration(open.0)),
    };
    if let Some(j) = spec.jitter {
        b = b.jitter(j as f32, &SIM_JITTER);
    }
    if let Some(r) = spec.failure_rate {
        b = b.failure_rate(r as f32);
    }
    match (spec.slow_call, spec.slow_rate) {
        (Some(t), Some(r)) => b = b.slow_calls(core_duration(t.0), r as f32),
        (None, None) => {}
        _ => {
            return Err(SimError::Config {
                name: spec.to_string(),
                message: "slow_call and slow_rate go together".into(),
            })
        }
    }
    if let Some(n) = spec.minimum_calls {
        b = b.minimum_calls(n);
    }
    if let Some(n) = spec.half_open_trials {
        b = b.half_open_trials(n);
    }
    if let Some(n) = spec.success_threshold {
        b = b.success_threshold(n);
    }
    if let Some(d) = spec.half_open_max_wait {
        b = b.half_open_max_wait(core_duration(d.0));
    }
    b.build().map_err(|e| SimError::Config {
        name: spec.to_string(),
        message: e.to_string(),
    })
}

/// Count-window sizes the simulator can build (the core sizes windows at compile time today).
pub const COUNT_WINDOW_SIZES: &[u32] = &[5, 10, 20, 25, 50, 100, 200, 500, 1000];
/// Time-window bucket counts the simulator can build (any bucket width).
pub const TIME_WINDOW_BUCKETS: &[u32] = &[5, 10, 20, 30, 60];

macro_rules! dispatch {
    ($spec:expr, $f:expr, count: [$($n:literal),*], time: [$($b:literal),*]) => {
        match $spec.window {
            None => run_typed(Config::builder(), $spec, $f),
            Some(WindowSpec::Count { size }) => match size {
                $($n => run_typed(Config::builder().count_window::<$n>(), $spec, $f),)*
                other => Err(SimError::Unsupported(format!(
                    "count window of {other} calls (supported: {COUNT_WINDOW_SIZES:?})"
                ))),
            },
            Some(WindowSpec::Time { buckets, bucket }) => match buckets {
                $($b => run_typed(
                    Config::builder().time_window::<$b>(core_duration(bucket.0)),
                    $spec,
                    $f,
                ),)*
                other => Err(SimError::Unsupported(format!(
                    "time window of {other} buckets (supported: {TIME_WINDOW_BUCKETS:?})"
                ))),
            },
        }
    };
}

/// Checks that `spec` builds a core configuration, without running anything.
///
/// # Errors
///
/// [`SimError::Config`] with the core's message, or [`SimError::Unsupported`] for a window
/// size the simulator cannot build.
pub fn check(spec: &ConfigSpec) -> Result<(), SimError> {
    with_subject(spec, 0, 0, &mut |_| ())
}

/// Builds a real breaker for `spec` on a manual clock standing at `start`, with the jitter stream
/// seeded from `seed`, and hands it to `f`.
pub(crate) fn with_subject<R>(
    spec: &ConfigSpec,
    start: Micros,
    seed: u64,
    f: &mut dyn FnMut(&mut dyn Subject) -> R,
) -> Result<R, SimError> {
    let mut s = seed ^ 0x7177_E400;
    JITTER.with(|j| j.set(splitmix64(&mut s)));
    let run = RunArgs { start, f };
    dispatch!(spec, run, count: [5, 10, 20, 25, 50, 100, 200, 500, 1000], time: [5, 10, 20, 30, 60])
}

struct RunArgs<'f, R> {
    start: Micros,
    f: &'f mut dyn FnMut(&mut dyn Subject) -> R,
}

fn run_typed<W: Window, R>(
    builder: ConfigBuilder<W>,
    spec: &ConfigSpec,
    run: RunArgs<'_, R>,
) -> Result<R, SimError> {
    let config = configure(builder, spec)?;
    let clock = ManualClock::starting_at(Instant::from_micros(run.start));
    let listener = SimListener {
        clock: &clock,
        changes: RefCell::new(Vec::new()),
    };
    let breaker = CircuitBreaker::with_clock_and_listener(&clock, config, &listener);
    let mut adapter = Adapter {
        breaker: &breaker,
        clock: &clock,
        listener: &listener,
        permits: Vec::new(),
        free: Vec::new(),
    };
    Ok((run.f)(&mut adapter))
}

/// Collects state changes with the simulated time they happened at.
struct SimListener<'c> {
    clock: &'c ManualClock,
    changes: RefCell<Vec<Change>>,
}

impl Listener for SimListener<'_> {
    fn on_state_change(&self, _: &'static str, t: &Transition, stats: &Stats) {
        self.changes.borrow_mut().push(Change {
            at: self.clock.now().as_micros(),
            from: sim_state(t.from),
            to: sim_state(t.to),
            generation: t.generation,
            open_for: match t.to {
                State::Open => stats.retry_after.map(micros),
                _ => None,
            },
            consecutive_failures: stats.consecutive_failures,
        });
    }
}

type SimBreaker<'c, W> = CircuitBreaker<&'c ManualClock, Config<W>, &'c SimListener<'c>>;
type SimPermit<'b, 'c, W> = Permit<&'b SimBreaker<'c, W>>;

struct Adapter<'b, 'c, W: Window> {
    breaker: &'b SimBreaker<'c, W>,
    clock: &'c ManualClock,
    listener: &'c SimListener<'c>,
    /// Permits of calls in flight, by slot.
    permits: Vec<Option<SimPermit<'b, 'c, W>>>,
    free: Vec<u32>,
}

impl<W: Window> Subject for Adapter<'_, '_, W> {
    #[inline]
    fn set_time(&mut self, t: Micros) {
        self.clock.set(Instant::from_micros(t));
    }

    #[inline]
    fn acquire(&mut self) -> Result<Ticket, Option<Micros>> {
        match self.breaker.try_acquire() {
            Ok(permit) => {
                let (trial, generation) = (permit.is_trial(), permit.generation());
                let slot = match self.free.pop() {
                    Some(slot) => {
                        self.permits[slot as usize] = Some(permit);
                        slot
                    }
                    None => {
                        self.permits.push(Some(permit));
                        (self.permits.len() - 1) as u32
                    }
                };
                Ok(Ticket {
                    slot,
                    trial,
                    generation,
                })
            }
            Err(r) => Err(r.retry_after().map(micros)),
        }
    }

    #[inline]
    fn finish(&mut self, slot: u32, how: Finish) {
        let Some(permit) = self.permits.get_mut(slot as usize).and_then(Option::take) else {
            return; // the engine never reports a slot twice; nothing to do if it did
        };
        self.free.push(slot);
        match how {
            Finish::Success => permit.success(),
            Finish::Failure => {
                permit.record(Outcome::Failure);
            }
            Finish::Ignored => permit.ignore(),
            Finish::Cancelled => drop(permit),
        }
    }

    #[inline]
    fn has_changes(&self) -> bool {
        !self.listener.changes.borrow().is_empty()
    }

    fn take_changes(&mut self, out: &mut Vec<Change>) {
        out.append(&mut self.listener.changes.borrow_mut());
    }
}

/// A [`Listener`] that writes a live breaker's events as a trace (the CSV format of
/// [`crate::trace`]), so that production behaviour can be replayed by the simulator.
///
/// Give it the breaker's own clock, so that the trace's times are the breaker's. Each event is one
/// line, written under a mutex into `W`: wrap a file in a `BufWriter`. The listener never panics
/// and never blocks on anything but that mutex; a write error is kept, later lines are counted as
/// lost, and [`TraceRecorder::finish`] reports both.
///
/// What the core tells a listener bounds what a trace holds: a success carries its latency only
/// when the breaker times calls (a slow-call rule is set); a failure never carries one. The
/// simulator replays a call without a latency as instantaneous.
///
/// # Examples
///
/// ```
/// use breaker_core::{CircuitBreaker, Config, ManualClock};
/// use breaker_sim::TraceRecorder;
///
/// let clock = ManualClock::new();
/// let recorder = TraceRecorder::new(&clock, Vec::new());
/// let breaker = CircuitBreaker::with_clock_and_listener(&clock, Config::default(), &recorder);
/// let _ = breaker.call(|| Err::<(), _>("refused"));
/// drop(breaker); // it borrows the recorder
/// let csv = String::from_utf8(recorder.finish()?).unwrap();
/// assert!(csv.lines().any(|l| l.starts_with("0,failure")));
/// # Ok::<(), breaker_sim::SimError>(())
/// ```
#[derive(Debug)]
pub struct TraceRecorder<C, W> {
    clock: C,
    out: Mutex<RecorderOut<W>>,
}

#[derive(Debug)]
struct RecorderOut<W> {
    w: W,
    error: Option<std::io::Error>,
    lost: u64,
}

impl<C: Clock, W: Write> TraceRecorder<C, W> {
    /// A recorder reading `clock` and writing to `w` (the header line is written at once; a
    /// failure to write it is reported by [`TraceRecorder::finish`]).
    pub fn new(clock: C, mut w: W) -> Self {
        let error = crate::trace::write_header(&mut w).err();
        TraceRecorder {
            clock,
            out: Mutex::new(RecorderOut { w, error, lost: 0 }),
        }
    }

    fn row(&self, event: TraceEvent, latency: Option<Duration>, retry_after: Option<Duration>) {
        let row = TraceRow {
            at: self.clock.now().as_micros(),
            event,
            latency: latency.map(micros),
            retry_after: retry_after.map(micros),
        };
        // A poisoned lock only means another thread panicked mid-write: keep recording.
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if out.error.is_some() {
            out.lost += 1;
            return;
        }
        if let Err(e) = row.write_csv(&mut out.w) {
            out.error = Some(e);
            out.lost += 1;
        }
    }

    /// Flushes and returns the writer.
    ///
    /// # Errors
    ///
    /// [`SimError::Io`] if any line could not be written (with how many were lost).
    pub fn finish(self) -> Result<W, SimError> {
        let mut out = self.out.into_inner().unwrap_or_else(|p| p.into_inner());
        if out.error.is_none() {
            out.error = out.w.flush().err();
        }
        match out.error {
            None => Ok(out.w),
            Some(e) => Err(SimError::Io(format!(
                "trace recording failed ({} events lost): {e}",
                out.lost
            ))),
        }
    }
}

impl<C: Clock, W: Write> Listener for TraceRecorder<C, W> {
    fn on_success(&self, _: &'static str, elapsed: Option<Duration>) {
        self.row(TraceEvent::Success, elapsed, None);
    }
    fn on_failure(&self, _: &'static str, _: Option<&dyn core::fmt::Debug>) {
        self.row(TraceEvent::Failure, None, None);
    }
    fn on_ignored(&self, _: &'static str) {
        self.row(TraceEvent::Ignored, None, None);
    }
    fn on_cancelled(&self, _: &'static str) {
        self.row(TraceEvent::Cancelled, None, None);
    }
    fn on_rejected(&self, _: &'static str, rejected: &Rejected) {
        self.row(TraceEvent::Rejected, None, rejected.retry_after());
    }
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        self.row(
            TraceEvent::State {
                from: sim_state(t.from),
                to: sim_state(t.to),
            },
            None,
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Dur;

    /// The open durations follow the core's jitter formula over the seeded stream, draw by draw:
    /// `10 s - (5 s * r >> 32)` for fixed 10 s with 50 % jitter, `r` the next number of
    /// splitmix64 seeded with `seed ^ 0x7177_E400`.
    #[test]
    fn jitter_draws_come_from_the_seeded_stream() {
        let spec = ConfigSpec {
            failure_threshold: Some(1),
            open: Some(Dur::secs(10)),
            jitter: Some(0.5),
            ..ConfigSpec::default()
        };
        let drive = |seed: u64| {
            with_subject(&spec, 0, seed, &mut |s| {
                let mut changes = Vec::new();
                let mut t = 0;
                for _ in 0..4 {
                    let ticket = s.acquire().expect("closed or half-open admits");
                    s.finish(ticket.slot, Finish::Failure);
                    s.take_changes(&mut changes);
                    t += 20_000_000;
                    s.set_time(t);
                }
                changes
                    .iter()
                    .filter_map(|c| c.open_for)
                    .collect::<Vec<u64>>()
            })
            .unwrap()
        };
        for seed in [0, 42] {
            let mut x = seed ^ 0x7177_E400;
            let mut state = splitmix64(&mut x);
            let expected: Vec<u64> = (0..4)
                .map(|_| {
                    let r = splitmix64(&mut state) >> 32;
                    10_000_000 - ((5_000_000 * r) >> 32)
                })
                .collect();
            assert_eq!(drive(seed), expected, "seed {seed}");
        }
        assert_ne!(drive(0), drive(42));
    }

    #[test]
    fn unsupported_window_sizes_are_named() {
        let spec = ConfigSpec {
            window: Some(WindowSpec::Time {
                buckets: 7,
                bucket: Dur::secs(1),
            }),
            failure_rate: Some(0.5),
            ..ConfigSpec::default()
        };
        let e = check(&spec).unwrap_err();
        assert!(e.to_string().contains("time window of 7 buckets"), "{e}");
        for &n in COUNT_WINDOW_SIZES {
            let spec = ConfigSpec {
                window: Some(WindowSpec::Count { size: n }),
                failure_rate: Some(0.5),
                minimum_calls: Some(n.min(10)),
                ..ConfigSpec::default()
            };
            check(&spec).unwrap();
        }
    }
}
