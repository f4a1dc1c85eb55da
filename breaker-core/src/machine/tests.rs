//! Every transition and option, driven through the pure functions with fixed time.

use super::*;
use crate::backoff::XorShift32;
use crate::config::Config;
use crate::window::CountWindow;

const T0: Instant = Instant::ZERO;

fn at(secs: u64) -> Fixed {
    Fixed::at(Instant::from_micros(secs * 1_000_000))
}

fn admit(m: Machine, s: &Settings, env: &mut Fixed) -> (Machine, u32, bool) {
    let step = m.acquire(s, env);
    match step.value {
        Admission::Admitted { generation, trial } => (step.next, generation, trial),
        Admission::Rejected { .. } => panic!("rejected: {m:?}"),
    }
}

fn call(m: Machine, s: &Settings, env: &mut Fixed, outcome: Outcome) -> Step {
    let (m, g, _) = admit(m, s, env);
    m.record(Report::new(g, outcome), s, env)
}

fn open_machine(s: &Settings) -> Machine {
    let mut m = Machine::INITIAL;
    let mut env = at(0);
    while m.state == State::Closed {
        m = call(m, s, &mut env, Outcome::Failure).next;
    }
    m
}

#[test]
fn closed_counts_consecutive_failures_and_success_resets() {
    let c = Config::builder().failure_threshold(3).build().unwrap();
    let s = c.settings();
    let mut env = at(0);
    let mut m = Machine::INITIAL;
    m = call(m, s, &mut env, Outcome::Failure).next;
    m = call(m, s, &mut env, Outcome::Failure).next;
    assert_eq!(m.failures, 2);
    m = call(m, s, &mut env, Outcome::Success).next;
    assert_eq!((m.state, m.failures), (State::Closed, 0));
    m = call(m, s, &mut env, Outcome::Ignored).next;
    assert_eq!(m, Machine::INITIAL, "ignored changes nothing");
    for _ in 0..2 {
        m = call(m, s, &mut env, Outcome::Failure).next;
    }
    let step = call(m, s, &mut env, Outcome::Failure);
    assert_eq!(
        step.transition,
        Some(Transition {
            from: State::Closed,
            to: State::Open,
            generation: 1,
            reason: Reason::ConsecutiveFailures {
                failures: 3,
                threshold: 3
            },
        })
    );
    assert_eq!(step.next.deadline, Some(T0 + Duration::from_secs(30)));
    assert_eq!(step.next.failures, 3);
}

#[test]
fn a_success_that_changes_nothing_writes_nothing() {
    let c = Config::default();
    let (m, g, trial) = admit(Machine::INITIAL, c.settings(), &mut at(0));
    assert!(!trial);
    let step = m.record(Report::new(g, Outcome::Success), c.settings(), &mut at(0));
    assert_eq!(step.next, m);
    assert_eq!(step.transition, None);
}

#[test]
fn closed_admission_does_not_ask_the_time() {
    struct NoClock;
    impl Env for NoClock {
        fn now(&mut self) -> Instant {
            panic!("closed admission read the clock")
        }
        fn random(&mut self) -> u32 {
            panic!("closed admission drew a random number")
        }
    }
    let c = Config::default();
    let step = Machine::INITIAL.acquire(c.settings(), &mut NoClock);
    assert!(matches!(
        step.value,
        Admission::Admitted { trial: false, .. }
    ));
    let step = step
        .next
        .record(Report::new(0, Outcome::Success), c.settings(), &mut NoClock);
    assert_eq!(step.next, Machine::INITIAL);
}

#[test]
fn open_rejects_with_time_left_then_half_opens() {
    let c = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(10))
        .build()
        .unwrap();
    let s = c.settings();
    let m = open_machine(s);
    let step = m.acquire(s, &mut at(4));
    assert_eq!(
        step.value,
        Admission::Rejected {
            retry_after: Some(Duration::from_secs(6))
        }
    );
    assert_eq!(step.next, m);
    assert_eq!(m.next_change(), Some(Instant::from_micros(10_000_000)));
    let step = m.acquire(s, &mut at(10));
    assert_eq!(
        step.value,
        Admission::Admitted {
            generation: 2,
            trial: true
        }
    );
    assert_eq!(
        step.transition.map(|t| (t.from, t.to)),
        Some((State::Open, State::HalfOpen))
    );
    assert_eq!((step.next.trials, step.next.successes), (1, 0));
}

#[test]
fn open_with_unpublished_deadline_stays_open() {
    let c = Config::builder()
        .open_for(Duration::from_secs(10))
        .build()
        .unwrap();
    let m = Machine {
        state: State::Open,
        deadline: None,
        ..Machine::INITIAL
    };
    let step = m.acquire(c.settings(), &mut at(1_000));
    assert_eq!(
        step.value,
        Admission::Rejected {
            retry_after: Some(Duration::from_secs(10))
        }
    );
}

#[test]
fn half_open_admits_exactly_the_permitted_trials() {
    let c = Config::builder()
        .failure_threshold(1)
        .half_open_trials(3)
        .success_threshold(3)
        .build()
        .unwrap();
    let s = c.settings();
    let mut m = open_machine(s);
    let mut env = at(30);
    let mut generations = [0; 3];
    for g in &mut generations {
        let (next, gen, trial) = admit(m, s, &mut env);
        assert!(trial);
        *g = gen;
        m = next;
    }
    assert_eq!(m.trials, 3);
    let step = m.acquire(s, &mut env);
    assert!(matches!(step.value, Admission::Rejected { .. }));
    // Successes free slots and count; the third closes.
    m = m
        .record(Report::new(generations[0], Outcome::Success), s, &mut env)
        .next;
    assert_eq!((m.trials, m.successes, m.state), (2, 1, State::HalfOpen));
    m = m
        .record(Report::new(generations[1], Outcome::Success), s, &mut env)
        .next;
    let step = m.record(Report::new(generations[2], Outcome::Success), s, &mut env);
    assert_eq!(step.next.state, State::Closed);
    assert_eq!(step.next.failures, 0, "closing resets the failure counter");
    assert_eq!(step.next.opens, 0);
}

#[test]
fn success_threshold_needs_that_many_sequential_trials() {
    let c = Config::builder()
        .failure_threshold(1)
        .success_threshold(2)
        .build()
        .unwrap();
    let s = c.settings();
    let mut m = open_machine(s);
    let mut env = at(30);
    m = call(m, s, &mut env, Outcome::Success).next;
    assert_eq!((m.state, m.successes, m.trials), (State::HalfOpen, 1, 0));
    m = call(m, s, &mut env, Outcome::Success).next;
    assert_eq!(m.state, State::Closed);
}

#[test]
fn failed_trial_reopens_with_backoff_and_keeps_counting() {
    let c = Config::builder()
        .failure_threshold(2)
        .open_exponential(Duration::from_secs(1), 2, Duration::from_secs(5))
        .build()
        .unwrap();
    let s = c.settings();
    let mut m = open_machine(s);
    assert_eq!(m.deadline, Some(Instant::from_micros(1_000_000)));
    let mut secs = 1;
    for expected in [2, 4, 5, 5] {
        let mut env = at(secs);
        let step = call(m, s, &mut env, Outcome::Failure);
        assert_eq!(
            step.transition.map(|t| (t.from, t.to)),
            Some((State::HalfOpen, State::Open))
        );
        m = step.next;
        assert_eq!(
            m.deadline,
            Some(Instant::from_micros((secs + expected) * 1_000_000))
        );
        secs += expected;
    }
    assert_eq!(
        m.failures, 6,
        "pybreaker keeps counting failures in half-open"
    );
    // Closing resets the backoff level.
    m = call(m, s, &mut at(secs), Outcome::Success).next;
    assert_eq!((m.state, m.opens), (State::Closed, 0));
}

#[test]
fn ignored_and_cancelled_trials_give_their_slot_back() {
    let c = Config::builder().failure_threshold(1).build().unwrap();
    let s = c.settings();
    let m = open_machine(s);
    let mut env = at(30);
    let (m, g, _) = admit(m, s, &mut env);
    assert!(matches!(
        m.acquire(s, &mut env).value,
        Admission::Rejected { .. }
    ));
    let m = m.record(Report::new(g, Outcome::Ignored), s, &mut env).next;
    assert_eq!((m.state, m.trials), (State::HalfOpen, 0));
    let (_, g2, trial) = admit(m, s, &mut env);
    assert!(trial);
    assert_eq!(g2, g);
}

#[test]
fn half_open_abandons_trials_that_never_report() {
    let c = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(10))
        .half_open_max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let s = c.settings();
    let m = open_machine(s);
    let (m, _lost, _) = admit(m, s, &mut at(10));
    assert_eq!(m.next_change(), Some(Instant::from_micros(15_000_000)));
    // Before the maximum wait: rejected with the time until the trial is given up.
    let step = m.acquire(s, &mut at(12));
    assert_eq!(
        step.value,
        Admission::Rejected {
            retry_after: Some(Duration::from_secs(3))
        }
    );
    // After it: back to open for the next backoff step; the call is told how long.
    let step = m.acquire(s, &mut at(15));
    assert_eq!(
        step.transition.map(|t| (t.from, t.to)),
        Some((State::HalfOpen, State::Open))
    );
    assert_eq!(
        step.value,
        Admission::Rejected {
            retry_after: Some(Duration::from_secs(10))
        }
    );
    // `advance` applies the same change with nobody calling.
    assert_eq!(m.advance(s, &mut at(15)).next, step.next);
}

#[test]
fn stale_outcomes_change_nothing() {
    let c = Config::builder().failure_threshold(1).build().unwrap();
    let s = c.settings();
    let (m, stale, _) = admit(Machine::INITIAL, s, &mut at(0));
    let opened = m
        .record(Report::new(stale, Outcome::Failure), s, &mut at(0))
        .next;
    // A call admitted while closed finishes after the breaker opened and half-opened.
    let (half, g, _) = admit(opened, s, &mut at(30));
    for outcome in [Outcome::Success, Outcome::Failure, Outcome::Ignored] {
        let step = half.record(Report::new(stale, outcome), s, &mut at(31));
        assert_eq!(step.next, half);
        assert_eq!(step.transition, None);
        let step = opened.record(Report::new(stale, outcome), s, &mut at(31));
        assert_eq!(step.next, opened);
    }
    // A late failure never extends the open time.
    assert_eq!(
        opened
            .record(Report::new(stale, Outcome::Failure), s, &mut at(29))
            .next
            .deadline,
        opened.deadline
    );
    assert_ne!(g, stale);
}

#[test]
fn window_trips_needs_minimum_calls_and_rate() {
    let c: Config<CountWindow<10>> = Config::builder()
        .count_window::<10>()
        .no_failure_threshold()
        .failure_rate(0.5)
        .slow_calls(Duration::from_millis(100), 0.8)
        .minimum_calls(4)
        .build()
        .unwrap();
    let s = c.settings();
    let counts = |calls, failures, slow| Counts {
        calls,
        failures,
        slow,
    };
    assert!(!window_trips(counts(3, 3, 0), s));
    assert!(!window_trips(counts(4, 1, 0), s));
    assert!(window_trips(counts(4, 2, 0), s));
    assert!(!window_trips(counts(10, 4, 7), s));
    assert!(window_trips(counts(10, 0, 8), s));
    // The window's verdict opens a closed breaker even on a (slow) success.
    let (m, g, _) = admit(Machine::INITIAL, s, &mut at(0));
    let report = Report {
        generation: g,
        outcome: Outcome::Success,
        slow: true,
        window_trips: true,
        window: counts(10, 0, 8),
    };
    let step = m.record(report, s, &mut at(0));
    assert_eq!(step.next.state, State::Open);
    // The evidence is the report's window: the slow-call rule tripped it.
    assert_eq!(
        step.transition.map(|t| t.reason),
        Some(Reason::SlowCallRate {
            window: counts(10, 0, 8),
            rate_ppm: 800_000,
            threshold_ppm: s.slow_rate_ppm,
        })
    );
    // Without the consecutive rule, failures alone never open it.
    let mut m = Machine::INITIAL;
    for _ in 0..100 {
        m = call(m, s, &mut at(0), Outcome::Failure).next;
    }
    assert_eq!(m.state, State::Closed);
}

#[test]
fn slow_trial_counts_as_failed_when_slow_rule_is_on() {
    let c: Config<CountWindow<10>> = Config::builder()
        .count_window::<10>()
        .failure_threshold(1)
        .slow_calls(Duration::from_millis(100), 0.5)
        .build()
        .unwrap();
    let s = c.settings();
    let m = open_machine(s);
    let (m, g, _) = admit(m, s, &mut at(30));
    let report = Report {
        generation: g,
        outcome: Outcome::Success,
        slow: true,
        window_trips: false,
        window: Counts::default(),
    };
    assert_eq!(m.record(report, s, &mut at(30)).next.state, State::Open);
}

#[test]
fn jitter_draws_randomness_only_when_opening() {
    static RNG: XorShift32 = XorShift32::new(1);
    let c = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_secs(10))
        .jitter(0.5, &RNG)
        .build()
        .unwrap();
    let s = c.settings();
    let mut env = Fixed {
        now: T0,
        random: u32::MAX,
    };
    let (m, g, _) = admit(Machine::INITIAL, s, &mut env);
    let m = m.record(Report::new(g, Outcome::Failure), s, &mut env).next;
    let d = m.deadline.unwrap() - T0;
    assert!(
        d > Duration::from_millis(5_000) && d < Duration::from_millis(5_001),
        "{d:?}"
    );
}

#[test]
fn manual_changes_start_new_generations() {
    let c = Config::builder()
        .failure_threshold(2)
        .open_for(Duration::from_secs(10))
        .build()
        .unwrap();
    let s = c.settings();
    let mut env = at(0);
    let (m, stale, _) = admit(Machine::INITIAL, s, &mut env);
    let m = m
        .record(Report::new(stale, Outcome::Failure), s, &mut env)
        .next;

    let forced = m.manual(Manual::ForceOpen, s, &mut env).next;
    assert_eq!(forced.state, State::ForcedOpen);
    assert_eq!(
        forced.acquire(s, &mut at(1_000_000)).value,
        Admission::Rejected { retry_after: None }
    );
    assert_eq!(
        forced
            .record(Report::new(stale, Outcome::Failure), s, &mut env)
            .next,
        forced
    );

    let opened = m.manual(Manual::Open, s, &mut env).next;
    assert_eq!(
        (opened.state, opened.deadline),
        (State::Open, Some(T0 + Duration::from_secs(10)))
    );

    let closed = forced.manual(Manual::Close, s, &mut env).next;
    assert_eq!((closed.state, closed.failures), (State::Closed, 0));

    let half = m.manual(Manual::HalfOpen, s, &mut env).next;
    assert_eq!((half.state, half.trials), (State::HalfOpen, 0));

    let mut disabled = m.manual(Manual::Disable, s, &mut env).next;
    assert_eq!(
        (disabled.state, disabled.failures),
        (State::Disabled, 1),
        "disable keeps counting"
    );
    for _ in 0..10 {
        disabled = call(disabled, s, &mut env, Outcome::Failure).next;
    }
    assert_eq!((disabled.state, disabled.failures), (State::Disabled, 11));
    for next in [forced, opened, closed, half, disabled] {
        assert_ne!(next.generation, m.generation);
    }
}

#[test]
fn generations_wrap_within_their_bits() {
    let c = Config::builder().failure_threshold(1).build().unwrap();
    let s = c.settings();
    let m = Machine {
        generation: GENERATION_MASK,
        ..Machine::INITIAL
    };
    let next = call(m, s, &mut at(0), Outcome::Failure).next;
    assert_eq!(next.generation, 0);
}

#[test]
fn noop_success_predicate_agrees_with_record() {
    let c = Config::builder().failure_threshold(3).build().unwrap();
    let s = c.settings();
    for state in [
        State::Closed,
        State::Disabled,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
    ] {
        for failures in [0, 1, 2] {
            for generation in [0, 1, 7] {
                let m = Machine {
                    state,
                    failures,
                    generation,
                    trials: if state == State::HalfOpen { 1 } else { 0 },
                    deadline: matches!(state, State::Open | State::HalfOpen).then_some(T0),
                    ..Machine::INITIAL
                };
                if !m.success_is_noop() {
                    continue;
                }
                for report_gen in [0, 1, 7] {
                    for outcome in [Outcome::Success, Outcome::Ignored] {
                        for slow in [false, true] {
                            let report = Report {
                                generation: report_gen,
                                outcome,
                                slow,
                                window_trips: false,
                                window: Counts::default(),
                            };
                            let step = m.record(report, s, &mut at(100));
                            assert_eq!(step.next, m, "{m:?} {report:?}");
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn a_trial_starting_with_none_in_flight_gets_the_whole_maximum_wait() {
    let c = Config::builder()
        .failure_threshold(1)
        .success_threshold(2)
        .half_open_max_wait(Duration::from_secs(5))
        .build()
        .unwrap();
    let s = c.settings();
    // Half-opened by hand at t=0; the first caller comes at t=100.
    let m = Machine::INITIAL
        .manual(Manual::HalfOpen, s, &mut at(0))
        .next;
    let (m, g, trial) = admit(m, s, &mut at(100));
    assert!(trial);
    assert_eq!(m.deadline, Some(Instant::from_micros(105_000_000)));
    // A second caller at t=101 waits for that trial instead of giving it up.
    let step = m.acquire(s, &mut at(101));
    assert_eq!(
        step.value,
        Admission::Rejected {
            retry_after: Some(Duration::from_secs(4))
        }
    );
    assert_eq!(step.next.state, State::HalfOpen);
    // The trial succeeds; the next sequential trial at t=200 again gets 5 s.
    let m = m
        .record(Report::new(g, Outcome::Success), s, &mut at(102))
        .next;
    let (m, _, _) = admit(m, s, &mut at(200));
    assert_eq!(m.deadline, Some(Instant::from_micros(205_000_000)));
    assert_eq!(m.acquire(s, &mut at(204)).next.state, State::HalfOpen);
    assert_eq!(m.acquire(s, &mut at(205)).next.state, State::Open);
}

/// A rule the configuration does not ask for never trips the breaker: with only a failure-rate
/// rule, a run of failures longer than the default consecutive threshold (5) opens nothing until
/// the window says so.
#[test]
fn a_rate_only_configuration_is_not_tripped_by_the_default_consecutive_rule() {
    let c = Config::builder()
        .count_window::<20>()
        .failure_rate(0.5)
        .minimum_calls(20)
        .build()
        .unwrap();
    let s = c.settings();
    let mut m = Machine::INITIAL;
    let mut env = at(0);
    for _ in 0..19 {
        m = call(m, s, &mut env, Outcome::Failure).next;
        assert_eq!(m.state, State::Closed);
    }
    // The 20th failure fills the window: now the rate rule, and only it, opens.
    let (m, g, _) = admit(m, s, &mut env);
    let report = Report {
        window_trips: true,
        ..Report::new(g, Outcome::Failure)
    };
    assert_eq!(m.record(report, s, &mut env).next.state, State::Open);
    // Asked for explicitly, the consecutive rule still opens at 5.
    let both = Config::builder()
        .count_window::<20>()
        .failure_rate(0.5)
        .minimum_calls(20)
        .failure_threshold(5)
        .build()
        .unwrap();
    assert_eq!(open_machine(both.settings()).failures, 5);
}

/// The window gate, [`Machine::enters_window`], against [`Machine::record`]: every outcome the
/// gate keeps out of the window is one whose window verdict `record` ignores, and a closed
/// machine acts on the verdict of every outcome the gate lets in. So the gate keeps out nothing
/// that could trip the breaker, and (the table below) lets in nothing from another generation,
/// another state, or an ignored call.
#[test]
fn the_window_gate_lets_in_exactly_the_outcomes_whose_verdict_record_uses() {
    let c: Config<CountWindow<10>> = Config::builder()
        .count_window::<10>()
        .no_failure_threshold()
        .failure_rate(0.5)
        .minimum_calls(4)
        .build()
        .unwrap();
    let s = c.settings();
    let tripping = Counts {
        calls: 4,
        failures: 4,
        slow: 0,
    };
    // Deadlines far ahead: open stays open and half-open keeps its trials at t=0.
    let later = Some(Instant::from_micros(1_000_000_000));
    let states = [
        State::Closed,
        State::Disabled,
        State::Open,
        State::HalfOpen,
        State::ForcedOpen,
    ];
    let mut let_in = 0;
    for state in states {
        for generation in [0, 1, GENERATION_MASK] {
            let m = Machine {
                state,
                generation,
                trials: if state == State::HalfOpen { 1 } else { 0 },
                deadline: matches!(state, State::Open | State::HalfOpen)
                    .then_some(later)
                    .flatten(),
                ..Machine::INITIAL
            };
            for report_gen in [0, 1, GENERATION_MASK] {
                for outcome in [Outcome::Success, Outcome::Failure, Outcome::Ignored] {
                    let gate = m.enters_window(report_gen, outcome);
                    let expected = report_gen == generation
                        && matches!(state, State::Closed | State::Disabled)
                        && outcome != Outcome::Ignored;
                    assert_eq!(gate, expected, "{m:?} gen {report_gen} {outcome:?}");
                    let_in += usize::from(gate);
                    let report = |window_trips, window| Report {
                        generation: report_gen,
                        outcome,
                        slow: false,
                        window_trips,
                        window,
                    };
                    let tripped = m.record(report(true, tripping), s, &mut at(0));
                    let quiet = m.record(report(false, Counts::default()), s, &mut at(0));
                    if !gate {
                        assert_eq!(tripped, quiet, "a verdict used: {m:?} {report_gen}");
                    } else if state == State::Closed {
                        assert_eq!(tripped.next.state, State::Open, "{m:?} {outcome:?}");
                        assert_eq!(quiet.next.state, State::Closed);
                    }
                }
            }
        }
    }
    // Closed and disabled, each of 3 generations, success and failure.
    assert_eq!(let_in, 2 * 3 * 2);

    // A call admitted while closed whose outcome comes back after the breaker opened and closed
    // again: the new closed period's window does not count it; a call of that period counts.
    let (m, old, _) = admit(Machine::INITIAL, s, &mut at(0));
    assert!(m.enters_window(old, Outcome::Failure));
    let m = m.manual(Manual::Open, s, &mut at(0)).next;
    let m = m.manual(Manual::Close, s, &mut at(1)).next;
    assert_eq!(m.state, State::Closed);
    assert!(!m.enters_window(old, Outcome::Failure));
    let (m, new, _) = admit(m, s, &mut at(2));
    assert!(m.enters_window(new, Outcome::Failure));
}
