//! Property tests: random operation sequences run against a `CircuitBreaker` on a `ManualClock`
//! and against a small sequential reference model written here from the documented semantics
//! (it never calls `breaker_core::machine`). After every step both must agree on what was
//! admitted or rejected (and the `retry_after`), on `state()`, on the counters in `stats()`, on
//! the sliding window's counts, and on the state changes the listener saw.
//!
//! The semantics modelled:
//!
//! - Closed counts consecutive failures (a success resets the count) and opens at the threshold;
//!   with a rate rule, the window of outcomes recorded while closed opens it too. Every closed
//!   period starts with an empty window.
//! - Open rejects with the time left, until the open duration has passed: base, or
//!   `base * multiplier^k` capped at the maximum after `k` re-opens without closing in between.
//! - The first call after that starts half-open (its maximum wait runs from then) and is a trial;
//!   at most `half_open_trials` trials are in flight. Each successful trial counts, and
//!   `success_threshold` of them close the breaker (counters and backoff reset). A failed trial
//!   re-opens one backoff level up and counts as a consecutive failure. An ignored or cancelled
//!   trial gives its slot back.
//! - Half-open maximum wait: once trials are in flight and the maximum wait since half-open began
//!   has passed, they are given up: the breaker reads as re-opened (a failure, one backoff level
//!   up), and the next event (a call, a trial's report, a manual change) acts on that.
//! - Every state change (manual ones included) starts a new generation; the outcome of a call
//!   admitted in an earlier generation changes nothing.
//! - Manual changes (see `CircuitBreaker`): `open` opens for the current backoff level keeping the
//!   failure count; `force_open` rejects with no retry time until the next manual change;
//!   `force_closed` closes and resets counters and backoff; `half_open` starts half-open;
//!   `disable` admits everything and keeps counting failures without ever changing state on its
//!   own (backoff reset); `reset` is `force_closed` plus zeroed statistics.
#![cfg(not(loom))]

use core::cell::RefCell;
use std::collections::VecDeque;

use breaker_core::window::Window;
use breaker_core::{
    CircuitBreaker, Config, CountWindow, Duration, Listener, ManualClock, NoWindow, Outcome,
    Permit, Rejected, State, Stats, TimeWindow, Transition,
};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

// ---------------------------------------------------------------------------------------------
// Operations and configurations
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Open,
    ForceOpen,
    ForceClosed,
    HalfOpen,
    Disable,
    Reset,
}

#[derive(Clone, Copy, Debug)]
enum Op {
    /// Ask for a permit and keep it (if admitted and fewer than `MAX_HELD` are held).
    Acquire,
    /// Report an outcome on the held permit `pick % held`.
    Report {
        pick: usize,
        outcome: Outcome,
    },
    /// Drop (cancel) the held permit `pick % held`.
    Drop {
        pick: usize,
    },
    /// Move the clock forward.
    Advance {
        ms: u64,
    },
    Manual(Action),
}

const MAX_HELD: usize = 4;

#[derive(Clone, Copy, Debug)]
enum OpenFor {
    Fixed {
        ms: u64,
    },
    Exponential {
        base_ms: u64,
        multiplier: u32,
        max_ms: u64,
    },
}

#[derive(Clone, Copy, Debug)]
enum MaxWait {
    /// Not configured: the base open duration.
    Default,
    Ms(u64),
    Forever,
}

#[derive(Clone, Copy, Debug)]
struct Cfg {
    /// 0: the consecutive rule is off (window tests only).
    threshold: u32,
    trials: u16,
    success_threshold: u16,
    open: OpenFor,
    max_wait: MaxWait,
}

impl Cfg {
    fn open_ms(&self, level: u32) -> u64 {
        match self.open {
            OpenFor::Fixed { ms } => ms,
            OpenFor::Exponential {
                base_ms,
                multiplier,
                max_ms,
            } => base_ms
                .saturating_mul(u64::from(multiplier).saturating_pow(level))
                .min(max_ms),
        }
    }

    fn max_wait_ms(&self) -> Option<u64> {
        match self.max_wait {
            MaxWait::Default => Some(self.open_ms(0)),
            MaxWait::Ms(ms) => Some(ms),
            MaxWait::Forever => None,
        }
    }

    /// The builder for this configuration, before a window is chosen.
    fn builder(&self) -> breaker_core::ConfigBuilder<NoWindow> {
        let mut b = Config::builder()
            .half_open_trials(self.trials)
            .success_threshold(self.success_threshold);
        b = if self.threshold == 0 {
            b.no_failure_threshold()
        } else {
            b.failure_threshold(self.threshold)
        };
        b = match self.open {
            OpenFor::Fixed { ms } => b.open_for(Duration::from_millis(ms)),
            OpenFor::Exponential {
                base_ms,
                multiplier,
                max_ms,
            } => b.open_exponential(
                Duration::from_millis(base_ms),
                multiplier,
                Duration::from_millis(max_ms),
            ),
        };
        match self.max_wait {
            MaxWait::Default => b,
            MaxWait::Ms(ms) => b.half_open_max_wait(Duration::from_millis(ms)),
            MaxWait::Forever => b.half_open_max_wait(Duration::MAX),
        }
    }
}

/// Multiples of 50 ms, so that advances land exactly on deadlines often.
fn ms50(lo: u64, hi: u64) -> impl Strategy<Value = u64> {
    (lo..=hi).prop_map(|k| k * 50)
}

fn open_for() -> impl Strategy<Value = OpenFor> {
    prop_oneof![
        ms50(1, 20).prop_map(|ms| OpenFor::Fixed { ms }),
        (ms50(1, 10), 2u32..=3, 1u64..=8).prop_map(|(base_ms, multiplier, k)| {
            OpenFor::Exponential {
                base_ms,
                multiplier,
                max_ms: base_ms * k,
            }
        }),
    ]
}

fn max_wait() -> impl Strategy<Value = MaxWait> {
    prop_oneof![
        Just(MaxWait::Default),
        ms50(1, 30).prop_map(MaxWait::Ms),
        Just(MaxWait::Forever),
    ]
}

fn cfg() -> impl Strategy<Value = Cfg> {
    (1u32..=5, 1u16..=3, 1u16..=3, open_for(), max_wait()).prop_map(
        |(threshold, trials, success_threshold, open, max_wait)| Cfg {
            threshold,
            trials,
            success_threshold,
            open,
            max_wait,
        },
    )
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        4 => Just(Outcome::Success),
        4 => Just(Outcome::Failure),
        1 => Just(Outcome::Ignored),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        Just(Action::Open),
        Just(Action::ForceOpen),
        Just(Action::ForceClosed),
        Just(Action::HalfOpen),
        Just(Action::Disable),
        Just(Action::Reset),
    ]
}

fn op(manual_weight: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => Just(Op::Acquire),
        6 => (any::<usize>(), outcome()).prop_map(|(pick, outcome)| Op::Report { pick, outcome }),
        1 => any::<usize>().prop_map(|pick| Op::Drop { pick }),
        4 => prop_oneof![ms50(0, 30), 0u64..=1_600].prop_map(|ms| Op::Advance { ms }),
        manual_weight => action().prop_map(Op::Manual),
    ]
}

// ---------------------------------------------------------------------------------------------
// The reference window
// ---------------------------------------------------------------------------------------------

/// The rate rule: opens when the window holds at least `minimum_calls` calls and at least
/// `eighths / 8` of them failed.
#[derive(Clone, Copy, Debug)]
struct Rate {
    eighths: u32,
    minimum_calls: u32,
}

impl Rate {
    fn trips(&self, calls: u32, failures: u32) -> bool {
        calls > 0 && calls >= self.minimum_calls && failures * 8 >= self.eighths * calls
    }
}

#[derive(Clone, Debug)]
enum RefWindow {
    None,
    /// The last `size` outcomes (`true`: failed).
    Count {
        size: usize,
        rate: Rate,
        last: VecDeque<bool>,
    },
    /// Every outcome with its time; those of the last `buckets` buckets of `width_ms` count.
    Time {
        width_ms: u64,
        buckets: u64,
        rate: Rate,
        log: Vec<(u64, bool)>,
    },
}

impl RefWindow {
    fn counts(&self, now: u64) -> (u32, u32) {
        let count = |it: &mut dyn Iterator<Item = bool>| {
            it.fold((0, 0), |(c, f), failed| (c + 1, f + u32::from(failed)))
        };
        match self {
            RefWindow::None => (0, 0),
            RefWindow::Count { last, .. } => count(&mut last.iter().copied()),
            RefWindow::Time {
                width_ms,
                buckets,
                log,
                ..
            } => {
                let current = now / width_ms;
                count(
                    &mut log
                        .iter()
                        .filter(|(t, _)| current - t / width_ms < *buckets)
                        .map(|&(_, failed)| failed),
                )
            }
        }
    }

    /// Records an outcome; returns whether the window now says "open".
    fn record(&mut self, now: u64, failed: bool) -> bool {
        let rate = match self {
            RefWindow::None => return false,
            RefWindow::Count {
                size, rate, last, ..
            } => {
                last.push_back(failed);
                if last.len() > *size {
                    last.pop_front();
                }
                *rate
            }
            RefWindow::Time { rate, log, .. } => {
                log.push((now, failed));
                *rate
            }
        };
        let (calls, failures) = self.counts(now);
        rate.trips(calls, failures)
    }

    fn clear(&mut self) {
        match self {
            RefWindow::None => {}
            RefWindow::Count { last, .. } => last.clear(),
            RefWindow::Time { log, .. } => log.clear(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct Model {
    cfg: Cfg,
    now: u64,
    state: State,
    generation: u64,
    failures: u32,
    /// Half-open: trials in flight, successful trials.
    trials: u16,
    successes: u16,
    /// Opens since the breaker last closed (the backoff exponent).
    level: u32,
    /// Open: when trials may start.
    open_until: u64,
    /// Half-open: when trials in flight are given up.
    give_up_at: Option<u64>,
    window: RefWindow,
    rejected: usize,
    opened_at: Option<u64>,
}

/// What the model says an acquire does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Answer {
    Admitted {
        trial: bool,
    },
    Rejected {
        state: State,
        retry_after: Option<Duration>,
    },
}

impl Model {
    fn new(cfg: Cfg, window: RefWindow) -> Self {
        Model {
            cfg,
            now: 0,
            state: State::Closed,
            generation: 0,
            failures: 0,
            trials: 0,
            successes: 0,
            level: 0,
            open_until: 0,
            give_up_at: None,
            window,
            rejected: 0,
            opened_at: None,
        }
    }

    fn enter(&mut self, state: State) {
        self.state = state;
        self.generation += 1;
        self.trials = 0;
        self.successes = 0;
    }

    fn open(&mut self, level: u32) {
        self.enter(State::Open);
        self.level = level.min(31);
        self.open_until = self.now + self.cfg.open_ms(self.level);
    }

    fn half_open(&mut self) {
        self.enter(State::HalfOpen);
        self.give_up_at = self.cfg.max_wait_ms().map(|w| self.now + w);
    }

    fn close(&mut self, state: State) {
        self.enter(state);
        self.failures = 0;
        self.level = 0;
        if state == State::Closed {
            self.window.clear();
        }
    }

    /// Half-open with trials in flight past the maximum wait: they are given up.
    fn give_up_due(&mut self) {
        if self.state == State::HalfOpen
            && self.trials > 0
            && self.give_up_at.is_some_and(|t| self.now >= t)
        {
            self.failures += 1;
            self.open(self.level + 1);
        }
    }

    /// What `state()` and `stats()` show now: the changes due by now applied.
    fn view(&self) -> Model {
        let mut v = self.clone();
        if v.state == State::Open && v.now >= v.open_until {
            v.half_open();
        } else {
            v.give_up_due();
        }
        v
    }

    fn retry_after(&self) -> Option<Duration> {
        (self.state == State::Open).then(|| Duration::from_millis(self.open_until - self.now))
    }

    fn acquire(&mut self) -> Answer {
        let answer = match self.state {
            State::Closed | State::Disabled => Answer::Admitted { trial: false },
            State::ForcedOpen => Answer::Rejected {
                state: State::ForcedOpen,
                retry_after: None,
            },
            State::Open if self.now < self.open_until => Answer::Rejected {
                state: State::Open,
                retry_after: self.retry_after(),
            },
            State::Open => {
                self.half_open();
                self.trials = 1;
                Answer::Admitted { trial: true }
            }
            State::HalfOpen => {
                self.give_up_due();
                if self.state == State::Open {
                    Answer::Rejected {
                        state: State::Open,
                        retry_after: self.retry_after(),
                    }
                } else if self.trials < self.cfg.trials {
                    // The maximum wait guards trials in flight: a trial that starts with none in
                    // flight gets the whole of it.
                    if self.trials == 0 {
                        self.give_up_at = self.cfg.max_wait_ms().map(|w| self.now + w);
                    }
                    self.trials += 1;
                    Answer::Admitted { trial: true }
                } else {
                    Answer::Rejected {
                        state: State::HalfOpen,
                        retry_after: self.give_up_at.map(|t| Duration::from_millis(t - self.now)),
                    }
                }
            }
        };
        if let Answer::Rejected { .. } = answer {
            self.rejected += 1;
        }
        answer
    }

    /// A call admitted in `generation` reports `outcome` (a cancellation is `Ignored`).
    fn report(&mut self, generation: u64, outcome: Outcome) {
        if generation != self.generation {
            return; // stale: admitted before a state change
        }
        if self.state == State::HalfOpen {
            self.give_up_due();
            if self.state != State::HalfOpen {
                return; // this trial was given up
            }
        }
        let failed = match outcome {
            Outcome::Ignored => {
                if self.state == State::HalfOpen {
                    self.trials -= 1;
                }
                return;
            }
            Outcome::Failure => true,
            Outcome::Success => false,
        };
        match self.state {
            State::Closed | State::Disabled => {
                let window_trips = self.window.record(self.now, failed);
                self.failures = if failed { self.failures + 1 } else { 0 };
                let threshold = self.cfg.threshold != 0 && self.failures >= self.cfg.threshold;
                if self.state == State::Closed && (window_trips || (failed && threshold)) {
                    self.open(0);
                }
            }
            State::HalfOpen if failed => {
                self.failures += 1;
                self.open(self.level + 1);
            }
            State::HalfOpen => {
                self.trials -= 1;
                self.successes += 1;
                if self.successes >= self.cfg.success_threshold {
                    self.close(State::Closed);
                }
            }
            State::Open | State::ForcedOpen => {
                unreachable!("no call is admitted in {:?}", self.state)
            }
        }
    }

    fn manual(&mut self, action: Action) {
        self.give_up_due();
        match action {
            Action::Open => self.open(self.level),
            Action::ForceOpen => self.enter(State::ForcedOpen),
            Action::ForceClosed => self.close(State::Closed),
            Action::HalfOpen => self.half_open(),
            Action::Disable => {
                let failures = self.failures;
                self.close(State::Disabled);
                self.failures = failures;
            }
            Action::Reset => {
                self.close(State::Closed);
                self.window.clear();
                // Refusals are counted by a listener, which a reset does not touch.
                self.opened_at = None;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------------------------

/// Records the state changes the breaker reports.
#[derive(Default)]
struct Changes(RefCell<Vec<(State, State)>>, core::cell::Cell<usize>);

impl Listener for Changes {
    fn on_rejected(&self, _: &'static str, _: &Rejected) {
        self.1.set(self.1.get() + 1);
    }
    fn on_state_change(&self, _: &'static str, change: &Transition, stats: &Stats) {
        assert_eq!(
            stats.state, change.to,
            "the snapshot is taken after the change"
        );
        self.0.borrow_mut().push((change.from, change.to));
    }
}

type Breaker<'a, W> = CircuitBreaker<&'a ManualClock, Config<W>, &'a Changes>;

struct Held<'a, W: Window> {
    permit: Permit<&'a Breaker<'a, W>>,
    generation: u64,
}

fn micros(ms: u64) -> breaker_core::Instant {
    breaker_core::Instant::from_micros(ms * 1_000)
}

fn check_agreement<W: Window>(
    b: &Breaker<'_, W>,
    model: &Model,
    changes: &Changes,
    expected_changes: &[(State, State)],
) -> Result<(), TestCaseError> {
    let view = model.view();
    prop_assert_eq!(b.state(), view.state, "state()");
    let st = b.stats();
    prop_assert_eq!(st.state, view.state, "stats().state");
    prop_assert_eq!(
        st.consecutive_failures,
        view.failures,
        "consecutive failures"
    );
    prop_assert_eq!(
        st.half_open_trials,
        view.trials,
        "half-open trials in flight"
    );
    prop_assert_eq!(
        st.half_open_successes,
        view.successes,
        "half-open successes"
    );
    prop_assert_eq!(st.retry_after, view.retry_after(), "stats().retry_after");
    prop_assert_eq!(b.retry_after(), view.retry_after(), "retry_after()");
    prop_assert_eq!(
        changes.1.get(),
        model.rejected,
        "refusals heard by the listener"
    );
    prop_assert_eq!(st.opened_at, model.opened_at.map(micros), "opened_at");
    let (calls, failures) = if matches!(model.state, State::Closed | State::Disabled) {
        model.window.counts(model.now)
    } else {
        (0, 0)
    };
    prop_assert_eq!(
        (st.window.calls, st.window.failures),
        (calls, failures),
        "window counts"
    );
    prop_assert_eq!(
        &*changes.0.borrow(),
        expected_changes,
        "state changes seen by the listener"
    );
    Ok(())
}

fn run<W: Window>(config: Config<W>, mut model: Model, ops: &[Op]) -> Result<(), TestCaseError> {
    let clock = ManualClock::new();
    let changes = Changes::default();
    let b: Breaker<'_, W> = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    let mut held: Vec<Held<'_, W>> = Vec::new();
    let mut expected_changes = Vec::new();
    check_agreement(&b, &model, &changes, &expected_changes)?;

    for (i, &op) in ops.iter().enumerate() {
        let (before_state, before_generation) = (model.state, model.generation);
        // Whether the breaker said this step opened it (`Permit::record`'s answer).
        let mut said_opened = None;
        match op {
            Op::Acquire => {
                let expected = model.acquire();
                match (b.try_acquire(), expected) {
                    (Ok(permit), Answer::Admitted { trial }) => {
                        prop_assert_eq!(permit.is_trial(), trial, "step {}: trial", i);
                        if held.len() < MAX_HELD {
                            held.push(Held {
                                permit,
                                generation: model.generation,
                            });
                        } else {
                            // Not kept: dropping it is a cancellation.
                            drop(permit);
                            model.report(model.generation, Outcome::Ignored);
                        }
                    }
                    (
                        Err(rejected),
                        Answer::Rejected {
                            state: s,
                            retry_after: r,
                        },
                    ) => {
                        prop_assert_eq!(rejected.state, s, "step {}: rejected in", i);
                        prop_assert_eq!(rejected.retry_after(), r, "step {}: retry_after", i);
                    }
                    (got, want) => {
                        prop_assert!(false, "step {}: breaker {:?}, model {:?}", i, got, want);
                    }
                }
            }
            Op::Report { pick, outcome } if !held.is_empty() => {
                let h = held.remove(pick % held.len());
                said_opened = Some(h.permit.record(outcome));
                model.report(h.generation, outcome);
            }
            Op::Drop { pick } if !held.is_empty() => {
                let h = held.remove(pick % held.len());
                drop(h.permit);
                model.report(h.generation, Outcome::Ignored);
            }
            Op::Report { .. } | Op::Drop { .. } => {}
            Op::Advance { ms } => {
                clock.advance(Duration::from_millis(ms));
                model.now += ms;
            }
            Op::Manual(action) => {
                match action {
                    Action::Open => b.open(),
                    Action::ForceOpen => b.force_open(),
                    Action::ForceClosed => b.force_closed(),
                    Action::HalfOpen => b.half_open(),
                    Action::Disable => b.disable(),
                    Action::Reset => b.reset(),
                }
                model.manual(action);
            }
        }
        // One event makes at most one reported change: from the state before it to the state
        // after it (a half-open breaker that gave up its trials and was then changed by hand
        // reports the two as one). The listener hears of it when the state differs.
        let changed = model.generation != before_generation;
        if changed && before_state != model.state {
            expected_changes.push((before_state, model.state));
        }
        if changed && model.state == State::Open {
            model.opened_at = Some(model.now);
        }
        if let Some(opened) = said_opened {
            prop_assert_eq!(
                opened,
                changed && model.state == State::Open,
                "step {}: whether the report opened the breaker",
                i
            );
        }
        check_agreement(&b, &model, &changes, &expected_changes)
            .map_err(|e| TestCaseError::fail(format!("after step {i} ({op:?}): {e}")))?;
    }
    Ok(())
}

fn proptest_config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        // Integration tests have no `lib.rs` beside them: keep the seeds next to this file, as
        // `tests/model.proptest-regressions`.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(proptest_config(512))]

    /// The consecutive-failures breaker, with manual changes, against the model.
    #[test]
    fn breaker_matches_model(cfg in cfg(), ops in prop::collection::vec(op(1), 1..160)) {
        let config = cfg.builder().build().expect("valid configuration");
        run(config, Model::new(cfg, RefWindow::None), &ops)?;
    }

    /// The same, with manual changes rare, so that long open/half-open/closed episodes form.
    #[test]
    fn breaker_matches_model_without_much_manual_control(
        cfg in cfg(),
        ops in prop::collection::vec(op(0), 1..200),
    ) {
        let config = cfg.builder().build().expect("valid configuration");
        run(config, Model::new(cfg, RefWindow::None), &ops)?;
    }
}

fn rate() -> impl Strategy<Value = Rate> {
    (1u32..=8, 1u32..=8).prop_map(|(eighths, minimum_calls)| Rate {
        eighths,
        minimum_calls,
    })
}

/// Configurations for the window tests: the consecutive rule off or with a high threshold, so
/// that the rate rule does the opening.
fn window_cfg() -> impl Strategy<Value = Cfg> {
    (
        prop_oneof![Just(0u32), 3u32..=10],
        1u16..=3,
        1u16..=3,
        open_for(),
        max_wait(),
    )
        .prop_map(
            |(threshold, trials, success_threshold, open, max_wait)| Cfg {
                threshold,
                trials,
                success_threshold,
                open,
                max_wait,
            },
        )
}

proptest! {
    #![proptest_config(proptest_config(256))]

    /// `CountWindow<8>` with a failure rate and `minimum_calls`, against a `VecDeque` of the last
    /// eight outcomes recorded while closed.
    #[test]
    fn count_window_matches_reference(
        cfg in window_cfg(),
        rate in rate(),
        ops in prop::collection::vec(op(1), 1..200),
    ) {
        let config: Config<CountWindow<8>> = cfg
            .builder()
            .count_window::<8>()
            .failure_rate(rate.eighths as f32 / 8.0)
            .minimum_calls(rate.minimum_calls)
            .build()
            .expect("valid configuration");
        let window = RefWindow::Count { size: 8, rate, last: VecDeque::new() };
        run(config, Model::new(cfg, window), &ops)?;
    }

    /// `TimeWindow<4>` with a failure rate, against a list of timestamped outcomes of which
    /// those in the last four buckets count.
    #[test]
    fn time_window_matches_reference(
        cfg in window_cfg(),
        rate in rate(),
        width_ms in ms50(1, 10),
        ops in prop::collection::vec(op(1), 1..200),
    ) {
        let config: Config<TimeWindow<4>> = cfg
            .builder()
            .time_window::<4>(Duration::from_millis(width_ms))
            .failure_rate(rate.eighths as f32 / 8.0)
            .minimum_calls(rate.minimum_calls)
            .build()
            .expect("valid configuration");
        let window = RefWindow::Time { width_ms, buckets: 4, rate, log: Vec::new() };
        run(config, Model::new(cfg, window), &ops)?;
    }
}

// ---------------------------------------------------------------------------------------------
// Cases found while checking the breaker against the model, kept as plain tests
// ---------------------------------------------------------------------------------------------

/// Thousands of state changes without a deadline (here `force_closed` on a closed breaker), then
/// a trip: the trip's deadline must still be published, or the breaker stays open for good.
#[test]
fn many_deadline_free_changes_then_a_trip_still_half_opens() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock(&clock, config);
    for round in 0..3 {
        for _ in 0..3_000 {
            b.force_closed();
        }
        assert!(b.try_acquire().unwrap().failure());
        assert_eq!(b.state(), State::Open, "round {round}");
        let retry = b.try_acquire().unwrap_err().retry_after();
        assert_eq!(retry, Some(Duration::from_secs(1)), "round {round}");
        clock.advance(Duration::from_secs(1));
        assert_eq!(b.state(), State::HalfOpen, "round {round}");
        let trial = b
            .try_acquire()
            .expect("a trial once the open duration has passed");
        assert!(trial.is_trial());
        trial.success();
        assert_eq!(b.state(), State::Closed);
    }
}

/// With two trial slots, one trial in flight past the maximum wait: `state()` says the breaker
/// re-opened, so a new call is refused rather than admitted as a trial, and the given-up trial's
/// late success does not close it.
#[test]
fn trials_past_the_maximum_wait_are_given_up_with_a_slot_free() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .half_open_trials(2)
        .open_for(Duration::from_secs(1))
        .half_open_max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock(&clock, config);
    assert!(b.try_acquire().unwrap().failure());
    clock.advance(Duration::from_secs(1));
    let hung = b.try_acquire().unwrap();
    assert!(hung.is_trial());
    clock.advance(Duration::from_secs(5));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.stats().consecutive_failures, 2);
    let r = b.try_acquire().unwrap_err();
    assert_eq!(
        (r.state, r.retry_after()),
        (State::Open, Some(Duration::from_secs(1)))
    );
    assert!(!hung.record(Outcome::Success));
    assert_eq!(b.state(), State::Open);
}

/// Before anyone calls, the given-up trial reports: the report is stale, the breaker re-opens.
#[test]
fn a_trial_reporting_after_the_maximum_wait_is_stale() {
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(1))
        .half_open_max_wait(Duration::from_secs(2))
        .build()
        .unwrap();
    let b = CircuitBreaker::with_clock(&clock, config);
    assert!(b.try_acquire().unwrap().failure());
    clock.advance(Duration::from_secs(1));
    let late = b.try_acquire().unwrap();
    clock.advance(Duration::from_secs(2));
    assert_eq!(b.state(), State::Open);
    // The report itself finds the trial given up: it opened the breaker, and did not close it.
    assert!(late.record(Outcome::Success));
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.stats().consecutive_failures, 2);
}
