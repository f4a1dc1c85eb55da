//! The state machine, as pure functions: `(machine, event, env, settings) -> (machine, change)`.
//!
//! Nothing here touches an atomic, a clock or a random number generator: time and randomness come
//! in through [`Env`], asked for only when a decision needs them. These functions are the single
//! source of truth: [`crate::CircuitBreaker`] applies them to its packed atomic word in a
//! compare-and-swap loop, the tests drive them directly, and a remote store (a Redis Lua script)
//! or a simulator can mirror them step for step, since every number is an integer.
//!
//! ```
//! use breaker_core::machine::{Admission, Fixed, Machine, Outcome, Report};
//! use breaker_core::{Config, Duration, Instant, State};
//!
//! let config = Config::builder().failure_threshold(2).build().unwrap();
//! let s = config.settings();
//! let mut env = Fixed::at(Instant::ZERO);
//! let mut m = Machine::INITIAL;
//! for _ in 0..2 {
//!     let step = m.acquire(s, &mut env);
//!     let Admission::Admitted { generation, .. } = step.value else { unreachable!() };
//!     m = m.record(Report::new(generation, Outcome::Failure), s, &mut env).next;
//! }
//! assert_eq!(m.state, State::Open);
//! // Rejected until the open duration has passed, with the time to wait.
//! let step = m.acquire(s, &mut Fixed::at(Instant::ZERO + Duration::from_secs(10)));
//! assert_eq!(step.value, Admission::Rejected { retry_after: Some(Duration::from_secs(20)) });
//! ```

use crate::clock::{Duration, Instant};
use crate::config::Settings;
use crate::limits::{GENERATION_MASK, MAX_HALF_OPEN_FAILURES, MAX_OPENS, PPM};
use crate::window::Counts;

/// The breaker's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// Calls go through; outcomes are counted.
    Closed,
    /// Calls are rejected until the open duration has passed.
    Open,
    /// A limited number of trial calls go through; their outcomes decide between closed and open.
    HalfOpen,
    /// Opened by hand: calls are rejected until a manual change.
    ForcedOpen,
    /// Every call goes through and is counted, but the state never changes on its own.
    Disabled,
}

impl State {
    /// A short lowercase name, for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::Open => "open",
            State::HalfOpen => "half-open",
            State::ForcedOpen => "forced-open",
            State::Disabled => "disabled",
        }
    }
}

impl core::fmt::Display for State {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How a finished call counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Outcome {
    /// The call succeeded.
    Success,
    /// The call failed: it counts towards opening the breaker.
    Failure,
    /// The call neither succeeded nor failed as far as the breaker is concerned (an excluded
    /// error, a cancelled call): a half-open trial slot is given back, nothing else changes.
    Ignored,
}

/// The whole state of one breaker, as plain data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Machine {
    /// The state.
    pub state: State,
    /// Bumped (modulo 2^24) on every transition; every admitted call carries the generation it
    /// was admitted in, and an outcome from another generation changes nothing.
    pub generation: u32,
    /// Consecutive failures (pybreaker's `fail_counter`): reset by a success while closed and by
    /// closing, kept while open, and counted on by a failed trial.
    pub failures: u32,
    /// Trials in flight (half-open).
    pub trials: u16,
    /// Successful trials so far (half-open).
    pub successes: u16,
    /// Opens since the breaker last closed: the exponent of an exponential open duration.
    pub opens: u8,
    /// Open: when a trial is allowed. Half-open: when unreported trials are abandoned.
    /// `None` while open means "not yet known" (a racing transition is publishing it), and while
    /// half-open means "never".
    pub deadline: Option<Instant>,
}

/// Where time and randomness come from: the only inputs the transitions ask for lazily.
pub trait Env {
    /// The current instant (asked at most when a deadline must be compared or set).
    fn now(&mut self) -> Instant;
    /// A uniform `u32` for jitter (asked only when a jittered open duration is set).
    fn random(&mut self) -> u32;
}

/// An [`Env`] with a fixed instant and random number: for tests, simulators and mirrors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fixed {
    /// What `now` returns.
    pub now: Instant,
    /// What `random` returns.
    pub random: u32,
}

impl Fixed {
    /// `now`, with a random number of 0 (no jitter taken off).
    pub const fn at(now: Instant) -> Self {
        Fixed { now, random: 0 }
    }
}

impl Env for Fixed {
    fn now(&mut self) -> Instant {
        self.now
    }
    fn random(&mut self) -> u32 {
        self.random
    }
}

/// Whether a call may go ahead.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// It may; it must report its outcome with this generation.
    Admitted {
        /// The generation to report with.
        generation: u32,
        /// Whether the call is a half-open trial.
        trial: bool,
    },
    /// It may not.
    Rejected {
        /// When a call may be admitted again, if known.
        retry_after: Option<Duration>,
    },
}

/// A state change, with what caused it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transition {
    /// The state left.
    pub from: State,
    /// The state entered.
    pub to: State,
    /// The generation that began with it.
    pub generation: u32,
    /// What caused it, with the numbers that decided it.
    pub reason: Reason,
}

/// Why the state changed, with the numbers that decided it: computed by the pure transitions,
/// so every store (the atomic breaker, a simulator, a Lua mirror) reports the same reason.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum Reason {
    /// Closed to open: `failures` consecutive failures reached the threshold.
    ConsecutiveFailures {
        /// Consecutive failures counted, this call's included.
        failures: u32,
        /// The configured threshold.
        threshold: u32,
    },
    /// Closed to open: the window's failure rate reached the threshold.
    FailureRate {
        /// What the window held when it tripped, this call's outcome included.
        window: Counts,
        /// The failure rate of `window`, in parts per million.
        rate_ppm: u32,
        /// The configured threshold, in parts per million.
        threshold_ppm: u32,
    },
    /// Closed to open: the window's slow-call rate reached the threshold.
    SlowCallRate {
        /// What the window held when it tripped, this call's outcome included.
        window: Counts,
        /// The slow-call rate of `window`, in parts per million.
        rate_ppm: u32,
        /// The configured threshold, in parts per million.
        threshold_ppm: u32,
    },
    /// Half-open to open: a trial failed, or was slow (`slow`) with the slow-call rule on.
    TrialFailed {
        /// The trial succeeded but took longer than the slow-call threshold.
        slow: bool,
    },
    /// Half-open to open: `trials` trials in flight outlived the half-open maximum wait.
    TrialsAbandoned {
        /// Trials in flight that were given up.
        trials: u16,
        /// The configured maximum wait.
        max_wait: Duration,
    },
    /// Half-open to closed: `successes` trials succeeded, reaching the success threshold.
    TrialsSucceeded {
        /// Successful trials, this one included.
        successes: u16,
        /// The configured success threshold.
        threshold: u16,
    },
    /// Open to half-open: the open duration ended at `deadline`.
    OpenTimeElapsed {
        /// When the open duration ended.
        deadline: Instant,
    },
    /// Asked for by hand.
    Manual(Manual),
    /// Seen in state shared with other processes, decided by one of them (or by a store that
    /// does not report reasons yet): this process does not know why. A breaker kind with
    /// shared state reports it for changes it observes rather than makes.
    Remote,
}

impl Reason {
    /// A short lowercase name of the kind of reason, for logs and metric labels.
    pub const fn as_str(&self) -> &'static str {
        match self {
            Reason::ConsecutiveFailures { .. } => "consecutive_failures",
            Reason::FailureRate { .. } => "failure_rate",
            Reason::SlowCallRate { .. } => "slow_call_rate",
            Reason::TrialFailed { .. } => "trial_failed",
            Reason::TrialsAbandoned { .. } => "trials_abandoned",
            Reason::TrialsSucceeded { .. } => "trials_succeeded",
            Reason::OpenTimeElapsed { .. } => "open_time_elapsed",
            Reason::Manual(_) => "manual",
            Reason::Remote => "remote",
        }
    }
}

impl core::fmt::Display for Reason {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let pct = |ppm: &u32| *ppm as f64 / 10_000.0;
        match self {
            Reason::ConsecutiveFailures {
                failures,
                threshold,
            } => write!(f, "{failures} consecutive failures (threshold {threshold})"),
            Reason::FailureRate {
                window,
                rate_ppm,
                threshold_ppm,
            } => write!(
                f,
                "failure rate {}% of {} calls ({} failed; threshold {}%)",
                pct(rate_ppm),
                window.calls,
                window.failures,
                pct(threshold_ppm)
            ),
            Reason::SlowCallRate {
                window,
                rate_ppm,
                threshold_ppm,
            } => write!(
                f,
                "slow-call rate {}% of {} calls ({} slow; threshold {}%)",
                pct(rate_ppm),
                window.calls,
                window.slow,
                pct(threshold_ppm)
            ),
            Reason::TrialFailed { slow: false } => f.write_str("a trial failed"),
            Reason::TrialFailed { slow: true } => f.write_str("a trial was slow"),
            Reason::TrialsAbandoned { trials, max_wait } => {
                write!(f, "{trials} trials unreported after {max_wait:?}")
            }
            Reason::TrialsSucceeded {
                successes,
                threshold,
            } => write!(f, "{successes} trials succeeded (threshold {threshold})"),
            Reason::OpenTimeElapsed { .. } => f.write_str("the open duration passed"),
            Reason::Manual(m) => write!(f, "manual {m:?}"),
            Reason::Remote => f.write_str("changed by another process"),
        }
    }
}

/// The result of a transition function: the next machine, the state change if any, and a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step<T = ()> {
    /// The machine after the event.
    pub next: Machine,
    /// The state change the event caused.
    pub transition: Option<Transition>,
    /// The function's answer.
    pub value: T,
}

/// A finished call, as the transitions see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Report {
    /// The generation the call was admitted in.
    pub generation: u32,
    /// How it counts.
    pub outcome: Outcome,
    /// It was slower than the slow-call threshold.
    pub slow: bool,
    /// The window, with this outcome recorded, says the breaker should open
    /// (see [`window_trips`]).
    pub window_trips: bool,
    /// What the window held with this outcome recorded: the evidence a window trip reports
    /// (see [`window_reason`]). Zero without a window.
    pub window: Counts,
}

impl Report {
    /// A report of `outcome`, neither slow nor tripping a window.
    pub const fn new(generation: u32, outcome: Outcome) -> Self {
        Report {
            generation,
            outcome,
            slow: false,
            window_trips: false,
            window: Counts {
                calls: 0,
                failures: 0,
                slow: 0,
            },
        }
    }
}

/// A change asked for by hand.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Manual {
    /// Open now for the usual open duration (pybreaker's `open()`).
    Open,
    /// Open until another manual change.
    ForceOpen,
    /// Close now, resetting the counters (pybreaker's `close()`).
    Close,
    /// Half-open now.
    HalfOpen,
    /// Let everything through and keep counting, without changing state on its own.
    Disable,
}

/// Whether window counts open the breaker: enough calls, and a configured rate reached.
pub const fn window_trips(c: Counts, s: &Settings) -> bool {
    if c.calls == 0 || c.calls < s.minimum_calls {
        return false;
    }
    rate_reached(c.failures, c.calls, s.failure_rate_ppm)
        || rate_reached(c.slow, c.calls, s.slow_rate_ppm)
}

/// Why window counts `c` open the breaker: the failure-rate rule if it is reached, else the
/// slow-call rule (both are checked by [`window_trips`]; the failure rate is named first when
/// both are reached).
pub const fn window_reason(c: Counts, s: &Settings) -> Reason {
    if !rate_reached(c.failures, c.calls, s.failure_rate_ppm)
        && rate_reached(c.slow, c.calls, s.slow_rate_ppm)
    {
        Reason::SlowCallRate {
            window: c,
            rate_ppm: c.slow_rate_ppm(),
            threshold_ppm: s.slow_rate_ppm,
        }
    } else {
        Reason::FailureRate {
            window: c,
            rate_ppm: c.failure_rate_ppm(),
            threshold_ppm: s.failure_rate_ppm,
        }
    }
}

const fn rate_reached(part: u32, calls: u32, ppm: u32) -> bool {
    ppm != 0 && part as u64 * PPM as u64 >= ppm as u64 * calls as u64
}

/// When trials starting now are given up: `now + half_open_max_wait`, or never.
fn trial_deadline(s: &Settings, env: &mut impl Env) -> Option<Instant> {
    if s.half_open_max_wait == u64::MAX {
        None
    } else {
        Some(env.now().saturating_add_micros(s.half_open_max_wait))
    }
}

const fn next_generation(g: u32) -> u32 {
    g.wrapping_add(1) & GENERATION_MASK
}

impl Machine {
    /// A new breaker: closed, generation 0.
    pub const INITIAL: Machine = Machine {
        state: State::Closed,
        generation: 0,
        failures: 0,
        trials: 0,
        successes: 0,
        opens: 0,
        deadline: None,
    };

    /// Whether a call is admitted as it stands, without asking the time: true when closed or
    /// disabled. This is the closed fast path, and [`Machine::acquire`] agrees with it.
    #[inline]
    pub const fn admits_without_clock(&self) -> bool {
        matches!(self.state, State::Closed | State::Disabled)
    }

    /// Whether a success (or an ignored or cancelled outcome) from any generation leaves the
    /// machine as it is: closed or disabled with no failures counted. The atomic breaker checks
    /// this on the packed word and skips [`Machine::record`] altogether, so a run of successes
    /// writes no shared memory; `tests::noop_success_predicate_agrees_with_record` holds it to
    /// that.
    #[inline]
    pub const fn success_is_noop(&self) -> bool {
        self.admits_without_clock() && self.failures == 0
    }

    /// Whether the outcome of a call admitted in `generation` enters the sliding window: only a
    /// success or failure (an ignored or cancelled call counts nowhere), only while closed or
    /// disabled (the states whose outcomes the window holds; half-open trials are judged on their
    /// own), and only for a call of the current generation. A call admitted before a transition
    /// belongs to a window that transition emptied (closing, opening) or that no longer decides
    /// anything; counting it would let an old failure help trip the next closed period.
    ///
    /// The store asks this of the machine it read before recording into its window, and gives
    /// the window's verdict to [`Machine::record`] in the [`Report`]. A store that cannot tell a
    /// generation come round again (after `GENERATION_MASK + 1` transitions, see
    /// [`crate::limits`]) from the current one must pass a generation that matches none for it.
    #[inline]
    pub const fn enters_window(&self, generation: u32, outcome: Outcome) -> bool {
        !matches!(outcome, Outcome::Ignored)
            && self.generation == generation
            && self.admits_without_clock()
    }

    /// Open, with a known deadline not yet reached at `now`: the time left, which is what
    /// [`Machine::acquire`] rejects with (changing nothing). The atomic breaker answers this
    /// common rejection straight from the loaded word with it.
    #[inline]
    pub fn open_time_left(&self, now: Instant) -> Option<Duration> {
        match (self.state, self.deadline) {
            (State::Open, Some(deadline)) if now < deadline => Some(deadline - now),
            _ => None,
        }
    }

    /// When the machine will next change with nobody calling: the end of the open duration, or
    /// the half-open deadline for trials that have not reported. A driver that wants timely
    /// transitions (or a simulator) wakes up then and calls [`Machine::advance`].
    pub const fn next_change(&self) -> Option<Instant> {
        match self.state {
            State::Open => self.deadline,
            State::HalfOpen if self.trials > 0 => self.deadline,
            _ => None,
        }
    }

    /// A step to `next`, which changes state (starts a generation) for `reason`.
    #[inline(never)]
    fn step<T>(self, next: Machine, value: T, reason: Reason) -> Step<T> {
        let transition = if next.generation != self.generation {
            Some(Transition {
                from: self.state,
                to: next.state,
                generation: next.generation,
                reason,
            })
        } else {
            None
        };
        Step {
            next,
            transition,
            value,
        }
    }

    /// A step to `next` within the same generation: no state change.
    #[inline(never)]
    fn stay<T>(self, next: Machine, value: T) -> Step<T> {
        debug_assert_eq!(next.generation, self.generation);
        Step {
            next,
            transition: None,
            value,
        }
    }

    fn opened(self, opens: u8, s: &Settings, env: &mut impl Env) -> Machine {
        let now = env.now();
        let random = if s.open.is_jittered() {
            env.random()
        } else {
            0
        };
        Machine {
            state: State::Open,
            generation: next_generation(self.generation),
            failures: self.failures,
            trials: 0,
            successes: 0,
            opens,
            deadline: Some(now.saturating_add_micros(s.open.duration_micros(opens, random))),
        }
    }

    #[inline(never)] // called from `acquire`, `advance` and `manual`: one copy (flash)
    fn half_opened(self, s: &Settings, env: &mut impl Env) -> Machine {
        let deadline = trial_deadline(s, env);
        Machine {
            state: State::HalfOpen,
            generation: next_generation(self.generation),
            failures: if self.failures > MAX_HALF_OPEN_FAILURES {
                MAX_HALF_OPEN_FAILURES
            } else {
                self.failures
            },
            trials: 0,
            successes: 0,
            opens: self.opens,
            deadline,
        }
    }

    fn closed(self, state: State) -> Machine {
        Machine {
            state,
            generation: next_generation(self.generation),
            ..Machine::INITIAL
        }
    }

    fn reopened(self, s: &Settings, env: &mut impl Env) -> Machine {
        let opens = if self.opens >= MAX_OPENS {
            MAX_OPENS
        } else {
            self.opens + 1
        };
        self.opened(opens, s, env)
    }

    /// Applies the time-driven changes due at `env.now()`: open → half-open once the open duration
    /// has passed, and half-open → open once unreported trials have outlived the maximum wait.
    ///
    /// Asks for the time only when open or half-open with trials in flight.
    pub fn advance(self, s: &Settings, env: &mut impl Env) -> Step {
        match (self.state, self.next_change()) {
            (State::Open, Some(deadline)) if env.now() >= deadline => self.step(
                self.half_opened(s, env),
                (),
                Reason::OpenTimeElapsed { deadline },
            ),
            (State::HalfOpen, Some(deadline)) if env.now() >= deadline => {
                let failed = Machine {
                    failures: self.failures.saturating_add(1),
                    ..self
                };
                let reason = Reason::TrialsAbandoned {
                    trials: self.trials,
                    max_wait: s.half_open_max_wait(),
                };
                self.step(failed.reopened(s, env), (), reason)
            }
            _ => self.stay(self, ()),
        }
    }

    /// A call asks to go ahead.
    ///
    /// Closed and disabled admit without asking the time. Open rejects with the time left, or,
    /// once the open duration has passed, becomes half-open and admits the first trial. Half-open
    /// admits while fewer than `half_open_trials` trials are in flight; the count is part of the
    /// machine, so applying this with compare-and-swap can never admit more. Once trials in flight
    /// have outlived the half-open maximum wait, it re-opens (see [`Machine::advance`]) instead.
    pub fn acquire(self, s: &Settings, env: &mut impl Env) -> Step<Admission> {
        if self.admits_without_clock() {
            let value = Admission::Admitted {
                generation: self.generation,
                trial: false,
            };
            return self.stay(self, value);
        }
        let rejected = |retry_after| Admission::Rejected { retry_after };
        match self.state {
            State::ForcedOpen => self.stay(self, rejected(None)),
            State::Open => {
                // The time left in microseconds, made a `Duration` in one place.
                let (left, deadline) = match self.deadline {
                    // A racing transition has not published its deadline yet: still open.
                    None => (Some(s.open.nominal_micros(self.opens)), Instant::ZERO),
                    Some(deadline) => {
                        let now = env.now();
                        let left = if now < deadline {
                            Some(deadline.micros_since(now))
                        } else {
                            None
                        };
                        (left, deadline)
                    }
                };
                match left {
                    Some(us) => self.stay(self, rejected(Some(Duration::from_micros(us)))),
                    None => {
                        let half = self.half_opened(s, env);
                        let next = Machine { trials: 1, ..half };
                        let value = Admission::Admitted {
                            generation: next.generation,
                            trial: true,
                        };
                        self.step(next, value, Reason::OpenTimeElapsed { deadline })
                    }
                }
            }
            State::HalfOpen => {
                // Trials that outlived the maximum wait are given up first, whether or not a slot
                // is free, as `advance` (and so `CircuitBreaker::state`) has it. Asks the time
                // only with trials in flight.
                let advanced = self.advance(s, env);
                if advanced.transition.is_none() && self.trials < s.half_open_trials {
                    // The maximum wait guards trials in flight, so a trial that starts with none
                    // in flight gets the whole of it: a first trial long after a manual
                    // `half_open`, or the next of several sequential trials, is not given up at once.
                    let deadline = if self.trials == 0 {
                        trial_deadline(s, env)
                    } else {
                        self.deadline
                    };
                    let next = Machine {
                        trials: self.trials + 1,
                        deadline,
                        ..self
                    };
                    let value = Admission::Admitted {
                        generation: self.generation,
                        trial: true,
                    };
                    return self.stay(next, value);
                }
                let retry_after = advanced.next.deadline.map(|d| d - env.now());
                Step {
                    next: advanced.next,
                    transition: advanced.transition,
                    value: rejected(retry_after),
                }
            }
            State::Closed | State::Disabled => unreachable_admits(self),
        }
    }

    /// A call admitted in `report.generation` finished.
    ///
    /// Closed: a success resets the consecutive failures; a failure counts, and opens the breaker
    /// at the threshold; a window that trips opens it too. Half-open: the trial's slot is given
    /// back; a success counts towards `success_threshold` and closes at it; a failure (or a slow
    /// success, when the slow-call rule is on) re-opens with the next backoff level. Disabled:
    /// counts, never changes state. An outcome from another generation changes nothing.
    pub fn record(self, report: Report, s: &Settings, env: &mut impl Env) -> Step {
        if report.generation != self.generation {
            return self.stay(self, ());
        }
        if self.state == State::HalfOpen {
            // A trial that reports after the maximum wait was already given up (as `advance`
            // and `CircuitBreaker::state` have it): the breaker re-opens, and the report is stale.
            let advanced = self.advance(s, env);
            if advanced.transition.is_some() {
                return advanced;
            }
        }
        let failed = match report.outcome {
            Outcome::Failure => true,
            Outcome::Success => false,
            Outcome::Ignored => {
                return match self.state {
                    State::HalfOpen => self.stay(
                        Machine {
                            trials: self.trials.saturating_sub(1),
                            ..self
                        },
                        (),
                    ),
                    _ => self.stay(self, ()),
                };
            }
        };
        match self.state {
            State::Closed | State::Disabled => {
                let failures = if failed {
                    self.failures.saturating_add(1)
                } else {
                    0
                };
                let counted = Machine { failures, ..self };
                let consecutive =
                    failed && s.failure_threshold != 0 && failures >= s.failure_threshold;
                if self.state == State::Closed && (report.window_trips || consecutive) {
                    // Both rules may trip on one call: the consecutive rule is named first.
                    let reason = if consecutive {
                        Reason::ConsecutiveFailures {
                            failures,
                            threshold: s.failure_threshold,
                        }
                    } else {
                        window_reason(report.window, s)
                    };
                    self.step(counted.opened(0, s, env), (), reason)
                } else {
                    self.stay(counted, ())
                }
            }
            State::HalfOpen => {
                let slow_fails = report.slow && s.slow_rate_ppm != 0;
                if failed || slow_fails {
                    let counted = Machine {
                        failures: self.failures.saturating_add(1),
                        ..self
                    };
                    let reason = Reason::TrialFailed { slow: !failed };
                    self.step(counted.reopened(s, env), (), reason)
                } else if self.successes + 1 >= s.success_threshold {
                    let reason = Reason::TrialsSucceeded {
                        successes: self.successes + 1,
                        threshold: s.success_threshold,
                    };
                    self.step(self.closed(State::Closed), (), reason)
                } else {
                    let next = Machine {
                        trials: self.trials.saturating_sub(1),
                        successes: self.successes + 1,
                        ..self
                    };
                    self.stay(next, ())
                }
            }
            State::Open | State::ForcedOpen => self.stay(self, ()),
        }
    }

    /// A change asked for by hand. Every manual change starts a new generation, so calls admitted
    /// before it cannot undo it; closing resets the counters as pybreaker's `close()` does.
    pub fn manual(self, action: Manual, s: &Settings, env: &mut impl Env) -> Step {
        // Act on the machine as `advance` has it: trials past the maximum wait were given up.
        let this = match self.state {
            State::HalfOpen => self.advance(s, env).next,
            _ => self,
        };
        let next = match action {
            Manual::Open => this.opened(this.opens, s, env),
            Manual::ForceOpen => Machine {
                state: State::ForcedOpen,
                generation: next_generation(this.generation),
                trials: 0,
                successes: 0,
                deadline: None,
                ..this
            },
            Manual::Close => this.closed(State::Closed),
            Manual::HalfOpen => this.half_opened(s, env),
            Manual::Disable => Machine {
                failures: this.failures,
                ..this.closed(State::Disabled)
            },
        };
        self.step(next, (), Reason::Manual(action))
    }
}

#[cold]
fn unreachable_admits(m: Machine) -> Step<Admission> {
    // Closed and disabled were answered above; keep the match total without a panic.
    Step {
        next: m,
        transition: None,
        value: Admission::Admitted {
            generation: m.generation,
            trial: false,
        },
    }
}

#[cfg(test)]
mod tests;
