//! A trace recorded by `TraceRecorder` from a real tokio run (paused time, four concurrent
//! callers, an upstream that goes down twice) replays in the simulator, with the same
//! configuration, to the same state changes at the same instants.

use core::cell::Cell;

use breaker_sim::rng::Rng;
use breaker_sim::{run, ConfigSpec, Dur, SimState, Trace, TraceRecorder, WindowSpec, Workload};
use breaker_tokio::{Config, Duration, Tokio};

type Changes = Vec<(u64, SimState, SimState)>;

async fn recorded_run(seed: u64) -> (String, u64) {
    // Failures by count and by rate; the slow-call rule's threshold is out of reach, but it makes
    // the breaker time calls, so that the trace carries each success's latency.
    let config = Config::builder()
        .failure_threshold(4)
        .count_window::<20>()
        .failure_rate(0.5)
        .minimum_calls(10)
        .slow_calls(Duration::from_secs(60), 1.0)
        .open_for(Duration::from_millis(700))
        .build()
        .unwrap();
    let recorder = TraceRecorder::new(Tokio, Vec::new());
    let calls = run_callers(seed, config, &recorder).await;
    let csv = String::from_utf8(recorder.finish().unwrap()).unwrap();
    (csv, calls)
}

/// Four callers through a breaker that reports to `recorder`, for 10 s of tokio time.
async fn run_callers(
    seed: u64,
    config: Config<breaker_tokio::CountWindow<20>>,
    recorder: &TraceRecorder<Tokio, Vec<u8>>,
) -> u64 {
    let breaker = breaker_tokio::CircuitBreaker::with_listener(config, recorder);
    let start = tokio::time::Instant::now();
    let calls = Cell::new(0u64);
    let worker = |w: u64| {
        let (breaker, calls) = (&breaker, &calls);
        async move {
            let mut rng = Rng::derive(seed, w, 0);
            while start.elapsed() < core::time::Duration::from_secs(10) {
                let gap = 1_000 + (rng.next_u64() % 40_000);
                tokio::time::sleep(core::time::Duration::from_micros(gap)).await;
                let t = start.elapsed().as_secs_f64();
                let down = (2.0..4.0).contains(&t) || (6.0..6.5).contains(&t);
                let flaky = rng.chance(0.05);
                let latency = 500 + rng.next_u64() % 30_000;
                calls.set(calls.get() + 1);
                let _ = breaker
                    .call_async(async move {
                        if down || flaky {
                            Err("refused") // fails at once: a refused connection
                        } else {
                            tokio::time::sleep(core::time::Duration::from_micros(latency)).await;
                            Ok(())
                        }
                    })
                    .await;
            }
        }
    };
    tokio::join!(worker(1), worker(2), worker(3), worker(4));
    calls.get()
}

fn replayed(trace: &Trace) -> Changes {
    let spec = ConfigSpec {
        failure_threshold: Some(4),
        window: Some(WindowSpec::Count { size: 20 }),
        failure_rate: Some(0.5),
        minimum_calls: Some(10),
        slow_call: Some(Dur::secs(60)),
        slow_rate: Some(1.0),
        open: Some(Dur::millis(700)),
        ..ConfigSpec::default()
    };
    let r = run(&spec, Workload::Trace(trace, 100_000)).unwrap();
    r.changes.iter().map(|c| (c.at, c.from, c.to)).collect()
}

#[tokio::test(start_paused = true)]
async fn a_recorded_tokio_run_replays_to_the_same_state_changes() {
    // 40 seeds were tried while writing this test, all equal; eight keep it fast.
    for seed in 1..=8 {
        let (csv, calls) = recorded_run(seed).await;
        if std::env::var_os("DUMP_TRACE").is_some() {
            std::fs::write(format!("/tmp/trace-{seed}.csv"), &csv).unwrap();
        }
        let trace = Trace::parse(&csv).unwrap();
        let recorded = trace.state_changes();
        // The run must have exercised the breaker: trips, trials that failed and that closed.
        let has = |from, to| recorded.iter().any(|c| c.1 == from && c.2 == to);
        assert!(has(SimState::Closed, SimState::Open), "{recorded:?}");
        assert!(has(SimState::HalfOpen, SimState::Open), "{recorded:?}");
        assert!(has(SimState::HalfOpen, SimState::Closed), "{recorded:?}");
        assert!(calls > 1_000, "{calls}");
        assert!(
            trace.rows.iter().any(|r| r.latency.is_some()),
            "successes carry their latency"
        );
        assert_eq!(replayed(&trace), recorded, "seed {seed}");
    }
}

/// The replay is a real replay: with another configuration, the same trace gives other state
/// changes (so the equality above is not the trace's own state rows read back).
#[tokio::test(start_paused = true)]
async fn another_configuration_changes_the_replay() {
    let (csv, _) = recorded_run(1).await;
    let trace = Trace::parse(&csv).unwrap();
    let spec = ConfigSpec {
        failure_threshold: Some(2),
        open: Some(Dur::millis(300)),
        ..ConfigSpec::default()
    };
    let r = run(&spec, Workload::Trace(&trace, 100_000)).unwrap();
    let changes: Changes = r.changes.iter().map(|c| (c.at, c.from, c.to)).collect();
    assert!(!changes.is_empty());
    assert_ne!(changes, trace.state_changes());
}

/// A trace has no ground truth about the upstream: the incidents read from it (bins where half
/// the calls that ended failed, or, with too few, the last calls before) match the two outages
/// of the recorded run (2-4 s and 6-6.5 s after its start, within the bins and the first
/// caller's first gap).
#[tokio::test(start_paused = true)]
async fn incidents_are_read_from_the_trace() {
    let (csv, _) = recorded_run(1).await;
    let trace = Trace::parse(&csv).unwrap();
    let spec = ConfigSpec {
        failure_threshold: Some(4),
        open: Some(Dur::millis(700)),
        ..ConfigSpec::default()
    };
    let r = breaker_sim::report(&run(&spec, Workload::Trace(&trace, 100_000)).unwrap());
    let spans: Vec<(f64, f64)> = r.incidents.iter().map(|i| (i.start_s, i.end_s)).collect();
    assert_eq!(spans.len(), 2, "{spans:?}");
    let near = |a: f64, b: f64| (a - b).abs() <= 0.25;
    assert!(near(spans[0].0, 2.0) && near(spans[0].1, 4.0), "{spans:?}");
    assert!(near(spans[1].0, 6.0) && near(spans[1].1, 6.5), "{spans:?}");
    assert!(r.incidents.iter().all(|i| i.detect_s.is_some()));
}
