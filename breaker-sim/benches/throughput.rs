//! Simulated calls per second, per rule: `cargo bench -p breaker-sim --bench throughput`.
//!
//! One thread, the real breaker on a manual clock, a Poisson load with latencies, an outage and a
//! brown-out: the whole simulation is timed (arrivals, upstream model, event queue, breaker,
//! metrics), not the breaker alone. `BENCH_QUICK=1` runs a tenth of the calls.

use std::time::Instant;

use breaker_sim::{run, ConfigSpec, Dur, Scenario, WindowSpec, Workload};

fn scenario(rps: u64, secs: u64) -> Scenario {
    Scenario::from_toml(&format!(
        r#"
        seed = 1
        duration = "{secs}s"
        load = {{ rps = {rps} }}
        [upstream]
        error_rate = 0.01
        latency = {{ median = "20ms", p99 = "120ms" }}
        [[upstream.phase]]
        kind = "outage"
        start = "{o}s"
        duration = "{d}s"
        [[upstream.phase]]
        kind = "brownout"
        start = "{b}s"
        duration = "{d}s"
        error_rate = 0.3
        "#,
        o = secs / 4,
        b = secs / 2,
        d = secs / 20,
    ))
    .expect("valid scenario")
}

fn main() {
    let quick = std::env::var_os("BENCH_QUICK").is_some();
    let secs = if quick { 6 } else { 60 };
    let base = ConfigSpec {
        open: Some(Dur::secs(5)),
        ..ConfigSpec::default()
    };
    let rules = [
        (
            "consecutive (5)",
            ConfigSpec {
                failure_threshold: Some(5),
                ..base.clone()
            },
        ),
        (
            "count window (100, 50%)",
            ConfigSpec {
                window: Some(WindowSpec::Count { size: 100 }),
                failure_rate: Some(0.5),
                minimum_calls: Some(20),
                ..base.clone()
            },
        ),
        (
            "time window (10 x 1s, 50%)",
            ConfigSpec {
                window: Some(WindowSpec::Time {
                    buckets: 10,
                    bucket: Dur::secs(1),
                }),
                failure_rate: Some(0.5),
                ..base.clone()
            },
        ),
        (
            "slow calls (100ms, 50%, count 100)",
            ConfigSpec {
                window: Some(WindowSpec::Count { size: 100 }),
                slow_call: Some(Dur::millis(100)),
                slow_rate: Some(0.5),
                ..base.clone()
            },
        ),
    ];
    for (rps, label) in [(100_000, "100k rps"), (200, "200 rps")] {
        // The same number of calls at either rate: 6 M (600 k quick).
        let duration = secs * 100_000 / rps;
        let s = scenario(rps, duration);
        println!("load {label}, {duration} s simulated:");
        for (name, spec) in &rules {
            let started = Instant::now();
            let r = run(spec, Workload::Scenario(&s)).expect("runs");
            let wall = started.elapsed().as_secs_f64();
            let calls = r.totals.attempts;
            println!(
                "  {name:<36} {calls:>9} calls in {wall:>6.3} s: {:>6.2} M calls/s ({:.0}x real time)",
                calls as f64 / wall / 1e6,
                duration as f64 / wall
            );
        }
    }
}
