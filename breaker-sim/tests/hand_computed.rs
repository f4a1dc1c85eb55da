//! Small scenarios whose results are worked out by hand, one per rule.
//!
//! Common ground: 100 requests per second arriving evenly (one every 10 ms, the first at 10 ms),
//! a healthy upstream answering every call in exactly 1 ms, no errors, and an incident from 10 s
//! to 15 s. A refused call fails 1 ms after it started. Caller: no retries, no limit.

use breaker_sim::{
    report, run, ConfigSpec, Dur, Scenario, SimState, TripReason, WindowSpec, Workload,
};

fn scenario(phase: &str) -> Scenario {
    Scenario::from_toml(&format!(
        r#"
        seed = 3
        duration = "20s"
        bin = "1s"
        load = {{ rps = 100, arrivals = "even" }}
        [upstream]
        error_rate = 0.0
        latency = {{ median = "1ms" }}
        [[upstream.phase]]
        start = "10s"
        duration = "5s"
        {phase}
        "#
    ))
    .expect("valid scenario")
}

fn outage() -> Scenario {
    scenario(r#"kind = "outage""#)
}

fn secs(us: u64) -> f64 {
    us as f64 / 1e6
}

fn trips(r: &breaker_sim::Run) -> Vec<(f64, SimState)> {
    r.trips.iter().map(|t| (secs(t.at), t.from)).collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

/// Threshold 5, open 2 s. The calls of 10.00..10.04 s fail at 10.001..10.041: the fifth failure
/// trips at 10.041 s (detection 41 ms, 5 calls leaked). Trials at 12.05 (open until 12.041) and
/// 14.06 fail (2 more leaked); the outage ends at 15 s; the trial at 16.07 (open until 16.061)
/// succeeds at 16.071: recovery 1.071 s. Refused: 10.05..12.04, 12.06..14.05, 14.07..16.06 =
/// 600 calls, of which 15.00..16.06 = 107 while healthy.
#[test]
fn consecutive_rule() {
    let spec = ConfigSpec {
        failure_threshold: Some(5),
        open: Some(Dur::secs(2)),
        ..ConfigSpec::default()
    };
    let r = run(&spec, Workload::Scenario(&outage())).unwrap();
    assert_eq!(
        trips(&r),
        [
            (10.041, SimState::Closed),
            (12.051, SimState::HalfOpen),
            (14.061, SimState::HalfOpen)
        ]
    );
    assert_eq!(
        r.trips[0].reason,
        TripReason::Consecutive {
            failures: 5,
            threshold: 5
        }
    );
    assert_eq!(r.trips[1].reason, TripReason::TrialFailed);
    let rep = report(&r);
    let inc = &rep.incidents[0];
    assert!(close(inc.detect_s.unwrap(), 0.041), "{inc:?}");
    assert!(close(inc.recover_s.unwrap(), 1.071), "{inc:?}");
    assert_eq!(inc.leaked, 7);
    assert_eq!(rep.leaked, 7);
    assert_eq!(rep.trials, 3);
    assert_eq!(rep.totals.rejected, 600);
    assert_eq!(rep.wrongly_refused, 107);
    assert_eq!(rep.false_opens, 0);
    assert_eq!(rep.trips, 3);
    // 1999 requests (10 ms..19.99 s); 7 leaked calls failed; 600 refused.
    assert_eq!(rep.totals.requests, 1999);
    assert_eq!(rep.totals.requests_ok, 1999 - 7 - 600);
}

/// Count window of 10, 70 %, minimum 10, consecutive rule off. The window holds 10 successes
/// when the outage starts; the 7th failure (10.061 s) makes 7 of 10: trip, 7 leaked. Trials at
/// 12.07 and 14.08 fail; the trial at 16.09 closes at 16.091 (recovery 1.091 s). Wrongly
/// refused: 15.00..16.08 = 109.
#[test]
fn count_window_rule() {
    let spec = ConfigSpec {
        window: Some(WindowSpec::Count { size: 10 }),
        failure_rate: Some(0.7),
        minimum_calls: Some(10),
        open: Some(Dur::secs(2)),
        ..ConfigSpec::default()
    };
    let r = run(&spec, Workload::Scenario(&outage())).unwrap();
    assert_eq!(
        trips(&r),
        [
            (10.061, SimState::Closed),
            (12.071, SimState::HalfOpen),
            (14.081, SimState::HalfOpen)
        ]
    );
    match r.trips[0].reason {
        TripReason::FailureRate { rate, calls } => {
            assert_eq!(calls, 10);
            assert!(close(rate, 0.7));
        }
        ref other => panic!("{other:?}"),
    }
    let rep = report(&r);
    let inc = &rep.incidents[0];
    assert!(close(inc.detect_s.unwrap(), 0.061));
    assert!(close(inc.recover_s.unwrap(), 1.091));
    assert_eq!(rep.leaked, 9);
    assert_eq!(rep.trials, 3);
    assert_eq!(rep.wrongly_refused, 109);
}

/// Time window of 5 buckets of 1 s, 50 %, minimum 10. Calls end at x.xx1 s, 100 per bucket.
/// In bucket 10 the window holds buckets 6..9 (400 successes) and the failures: at most
/// 100/500. In bucket 11: 300 successes, 200 failures at most: 40 %. The first failure of bucket
/// 12 (12.001 s) makes 201 of 401: trip, detection 2.001 s, 201 calls leaked (10.00..12.00).
/// The trial at 14.01 fails (open until 16.011); the trial at 16.02 closes at 16.021: recovery
/// 1.021 s. Wrongly refused: 15.00..16.01 = 102.
#[test]
fn time_window_rule() {
    let spec = ConfigSpec {
        window: Some(WindowSpec::Time {
            buckets: 5,
            bucket: Dur::secs(1),
        }),
        failure_rate: Some(0.5),
        minimum_calls: Some(10),
        open: Some(Dur::secs(2)),
        ..ConfigSpec::default()
    };
    let r = run(&spec, Workload::Scenario(&outage())).unwrap();
    assert_eq!(
        trips(&r),
        [(12.001, SimState::Closed), (14.011, SimState::HalfOpen)]
    );
    match r.trips[0].reason {
        TripReason::FailureRate { rate, calls } => {
            assert_eq!(calls, 401);
            assert!(close(rate, 201.0 / 401.0));
        }
        ref other => panic!("{other:?}"),
    }
    let rep = report(&r);
    let inc = &rep.incidents[0];
    assert!(close(inc.detect_s.unwrap(), 2.001));
    assert!(close(inc.recover_s.unwrap(), 1.021));
    assert_eq!(rep.leaked, 202);
    assert_eq!(rep.wrongly_refused, 102);
}

/// Slow calls: a brown-out without errors where every call takes 300 ms; slow from 200 ms, 50 %
/// of a count window of 10. Calls started at 10.00.. end at 10.30..; the 5th slow one (10.34 s)
/// makes 5 of 10: trip, detection 0.34 s, with 34 calls admitted into the brown-out
/// (10.00..10.33; the arrival at 10.34 s meets the open breaker). The open time ends on the
/// arrival grid (12.34 s), and a deadline admits the call that arrives on it: the slow trials of
/// 12.34 and 14.64 re-open it at 12.64 and 14.94; the trial at 16.94 is fast again and closes it
/// at 16.941: recovery 1.941 s. Wrongly refused: 15.00..16.93 = 194.
#[test]
fn slow_call_rule() {
    let s = scenario(
        r#"kind = "brownout"
        error_rate = 0.0
        latency = { median = "300ms" }"#,
    );
    let spec = ConfigSpec {
        window: Some(WindowSpec::Count { size: 10 }),
        slow_call: Some(Dur::millis(200)),
        slow_rate: Some(0.5),
        minimum_calls: Some(10),
        open: Some(Dur::secs(2)),
        ..ConfigSpec::default()
    };
    let r = run(&spec, Workload::Scenario(&s)).unwrap();
    assert_eq!(
        trips(&r),
        [
            (10.34, SimState::Closed),
            (12.64, SimState::HalfOpen),
            (14.94, SimState::HalfOpen)
        ]
    );
    match r.trips[0].reason {
        TripReason::SlowRate { rate, calls } => {
            assert_eq!(calls, 10);
            assert!(close(rate, 0.5));
        }
        ref other => panic!("{other:?}"),
    }
    assert_eq!(r.trips[1].reason, TripReason::TrialFailed);
    let rep = report(&r);
    let inc = &rep.incidents[0];
    assert!(close(inc.detect_s.unwrap(), 0.34));
    assert!(close(inc.recover_s.unwrap(), 1.941));
    assert_eq!(inc.leaked, 36); // admitted during the brown-out
    assert_eq!(rep.leaked, 0); // none while down: the upstream was slow, not down
    assert_eq!(rep.wrongly_refused, 194);
}

/// Exponential backoff 1 s x2 up to 8 s with 50 % jitter through a 60 s outage: each open
/// duration lies in [nominal / 2, nominal] for nominal 1, 2, 4, 8, 8, ... s; the same seed gives
/// the same durations, another seed other ones.
#[test]
fn backoff_and_jitter_follow_the_seed() {
    let durations = |seed: u64| {
        let mut s = scenario(r#"kind = "outage""#);
        s.seed = seed;
        s.upstream.phases[0].duration = Dur::secs(60);
        s.duration = Dur::secs(80);
        let spec = ConfigSpec {
            failure_threshold: Some(3),
            open: Some(Dur::secs(1)),
            open_multiplier: Some(2),
            open_max: Some(Dur::secs(8)),
            jitter: Some(0.5),
            ..ConfigSpec::default()
        };
        let r = run(&spec, Workload::Scenario(&s)).unwrap();
        r.trips
            .iter()
            .map(|t| t.open_for.unwrap())
            .collect::<Vec<u64>>()
    };
    let a = durations(1);
    assert!(a.len() >= 8, "{a:?}");
    for (k, d) in a.iter().enumerate() {
        let nominal = (1_000_000u64 << k.min(3)).min(8_000_000);
        assert!(
            *d >= nominal / 2 && *d <= nominal,
            "open {k}: {d} for nominal {nominal}"
        );
    }
    assert_eq!(a, durations(1));
    assert_ne!(a, durations(2));
    // Without jitter, the nominal durations exactly.
    let mut s = outage();
    s.upstream.phases[0].duration = Dur::secs(40);
    s.duration = Dur::secs(60);
    let spec = ConfigSpec {
        failure_threshold: Some(3),
        open: Some(Dur::secs(1)),
        open_multiplier: Some(2),
        open_max: Some(Dur::secs(8)),
        ..ConfigSpec::default()
    };
    let r = run(&spec, Workload::Scenario(&s)).unwrap();
    let d: Vec<u64> = r
        .trips
        .iter()
        .map(|t| t.open_for.unwrap() / 1_000_000)
        .collect();
    assert_eq!(d[..5], [1, 2, 4, 8, 8]);
}

/// The whole simulation is a function of the seed: same seed, same report; another seed moves
/// Poisson arrivals and error draws.
#[test]
fn runs_are_deterministic_under_a_seed() {
    let text = |seed: u64| {
        format!(
            r#"
            seed = {seed}
            duration = "60s"
            load = {{ rps = 300 }}
            [upstream]
            error_rate = 0.05
            [[upstream.phase]]
            kind = "brownout"
            start = "20s"
            duration = "20s"
            error_rate = 0.6
            ramp = "5s"
            "#
        )
    };
    let spec = ConfigSpec {
        window: Some(WindowSpec::Count { size: 50 }),
        failure_rate: Some(0.4),
        jitter: Some(0.3),
        open: Some(Dur::secs(3)),
        ..ConfigSpec::default()
    };
    let go = |seed| {
        let s = Scenario::from_toml(&text(seed)).unwrap();
        let r = run(&spec, Workload::Scenario(&s)).unwrap();
        serde_json::to_string(&report(&r)).unwrap() + &serde_json::to_string(&r.changes).unwrap()
    };
    assert_eq!(go(4), go(4));
    assert_ne!(go(4), go(5));
}

/// Bad input is a typed error, never a panic.
#[test]
fn bad_configurations_and_scenarios_are_typed_errors() {
    let s = outage();
    let bad = [
        ConfigSpec {
            failure_rate: Some(0.5),
            ..ConfigSpec::default()
        }, // a rate without a window
        ConfigSpec {
            window: Some(WindowSpec::Count { size: 37 }),
            failure_rate: Some(0.5),
            ..ConfigSpec::default()
        }, // a size the simulator cannot build
        ConfigSpec {
            failure_threshold: Some(0),
            ..ConfigSpec::default()
        }, // no rule
        ConfigSpec {
            jitter: Some(1.5),
            ..ConfigSpec::default()
        },
    ];
    for spec in bad {
        assert!(run(&spec, Workload::Scenario(&s)).is_err(), "{spec:?}");
    }
    for text in [
        "duration = 0\nload = { rps = 1 }",
        "duration = 10\nload = { rps = -1 }",
        "duration = 10\nload = { rps = 1 }\n[[upstream.phase]]\nkind = \"meteor\"\nstart = 1\nduration = 1",
        "duration = 10\nload = { rps = 1 }\n[[upstream.phase]]\nkind = \"outage\"\nstart = 1\nduration = 1\nperiod = 3",
        "duration = \"ten\"\nload = { rps = 1 }",
        "duration = 10\nload = { rps = 1 }\ntypo = 1",
    ] {
        assert!(Scenario::from_toml(text).is_err(), "{text}");
    }
}
