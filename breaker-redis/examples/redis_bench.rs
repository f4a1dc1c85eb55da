//! The Rust side of `bench/run.sh` (the comparison with pybreaker's `CircuitRedisStorage`):
//! not a user example. Every mode prints one JSON object on stdout.
//!
//! - `latency <url> <ns> <n>`: Redis commands per call (deltas of `INFO commandstats`, taken by
//!   this process while it is the server's only client) and the time the breaker adds to a call
//!   (p50/p99 of single timed calls) for a closed success, a failure and a rejection.
//! - `storm <url> <ns> <tasks> <start_at> <trial_at>`: one process of the 8-process failure
//!   storm; times are Unix seconds, shared by every process of the run (one host, one clock).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Instant as StdInstant, SystemTime, UNIX_EPOCH};

use breaker_core::machine::{Manual, Outcome, Report};
use breaker_core::{Config, Duration, Handle, StdClock};
use breaker_redis::{Op, Options, RedisBreaker};

type Shared = Arc<RedisBreaker<StdClock, ()>>;

const FAIL_MAX: u32 = 5;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

async fn sleep_until_unix(t: f64) {
    let left = t - unix_now();
    if left > 0.0 {
        tokio::time::sleep(core::time::Duration::from_secs_f64(left)).await;
    }
}

/// `INFO commandstats` as command -> calls, without `info` itself (the measurement's own).
async fn commandstats(con: &mut redis::aio::MultiplexedConnection) -> BTreeMap<String, u64> {
    let text: String = redis::cmd("INFO")
        .arg("commandstats")
        .query_async(con)
        .await
        .expect("INFO commandstats");
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("cmdstat_") else {
            continue;
        };
        let Some((name, stats)) = rest.split_once(':') else {
            continue;
        };
        if name == "info" {
            continue;
        }
        let calls = stats
            .split(',')
            .find_map(|kv| kv.strip_prefix("calls="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        out.insert(name.to_owned(), calls);
    }
    out
}

/// (all commands, top-level commands = round trips) between two readings. Commands a Lua
/// script runs (`TIME`, `HMGET`, `HSET`, `PUBLISH`, ...) count in `commandstats` too; the
/// round trips are the `EVALSHA`/`EVAL` calls and anything else not run by a script.
fn delta(a: &BTreeMap<String, u64>, b: &BTreeMap<String, u64>) -> (u64, u64) {
    const IN_SCRIPT: [&str; 6] = ["time", "type", "hmget", "hset", "publish", "del"];
    let mut all = 0;
    let mut top = 0;
    for (k, v) in b {
        let d = v - a.get(k).copied().unwrap_or(0);
        all += d;
        if !IN_SCRIPT.contains(&k.as_str()) {
            top += d;
        }
    }
    (all, top)
}

fn percentile(sorted: &[u64], p: f64) -> u64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn timed(n: usize, mut f: impl FnMut()) -> (u64, u64) {
    let mut ns = Vec::with_capacity(n);
    for _ in 0..n {
        let t = StdInstant::now();
        f();
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    (percentile(&ns, 0.5), percentile(&ns, 0.99))
}

fn options(url: &str, ns: &str) -> Options {
    // Polling is set far apart so that the counted commands are the calls' alone; with the
    // default 500 ms each process adds 2 EVALSHA a second, whatever its call rate.
    Options::new(url)
        .namespace(ns)
        .poll_interval(core::time::Duration::from_secs(120))
        .redis_timeout(core::time::Duration::from_secs(1))
}

async fn settle(b: &Shared, failures: u32) {
    let end = StdInstant::now() + core::time::Duration::from_secs(10);
    while b.view().failures != failures && StdInstant::now() < end {
        tokio::time::sleep(core::time::Duration::from_millis(5)).await;
    }
    // The last replies may still be in flight after the view has seen their PUBLISH.
    tokio::time::sleep(core::time::Duration::from_millis(100)).await;
}

async fn latency(url: &str, ns: &str, n: usize) {
    let config = Config::builder()
        .name("bench")
        .failure_threshold(u32::MAX)
        .open_for(Duration::from_secs(3600))
        .build()
        .expect("config");
    let b: Shared =
        Arc::new(RedisBreaker::new(config, options(url, ns), StdClock, ()).expect("breaker"));
    assert!(
        b.wait_synced(core::time::Duration::from_secs(5)).await,
        "not synced"
    );
    let client = redis::Client::open(url).expect("url");
    let mut con = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    let mut json = Vec::new();

    let base = timed(n, || core::hint::black_box(()));
    json.push(format!(
        "\"baseline\":{{\"p50_ns\":{},\"p99_ns\":{}}}",
        base.0, base.1
    ));

    // Closed success (steady: no failure counted).
    for _ in 0..1000 {
        Arc::clone(&b).try_acquire().expect("closed").success();
    }
    let s0 = commandstats(&mut con).await;
    let lat = timed(n, || {
        Arc::clone(&b).try_acquire().expect("closed").success();
    });
    tokio::time::sleep(core::time::Duration::from_millis(100)).await;
    let (all, top) = delta(&s0, &commandstats(&mut con).await);
    json.push(row("success", n, all, top, lat));

    // Failure through the seam (what `call` and permits do): the caller sends it to the
    // driver, which runs one EVALSHA in the background.
    let nf = n.min(5000);
    let s0 = commandstats(&mut con).await;
    let lat = timed(nf, || {
        let _ = Arc::clone(&b).try_acquire().expect("closed").failure();
    });
    settle(&b, nf as u32).await;
    let (all, top) = delta(&s0, &commandstats(&mut con).await);
    json.push(row("failure", nf, all, top, lat));

    // The same failure awaited (`execute`): the round trip the background send hides.
    let generation = b.view().generation;
    let s0 = commandstats(&mut con).await;
    let mut ns = Vec::with_capacity(nf);
    for _ in 0..nf {
        let t = StdInstant::now();
        b.execute(Op::Record(Report::new(generation, Outcome::Failure)))
            .await
            .expect("record");
        ns.push(t.elapsed().as_nanos() as u64);
    }
    ns.sort_unstable();
    let lat = (percentile(&ns, 0.5), percentile(&ns, 0.99));
    settle(&b, 2 * nf as u32).await;
    let (all, top) = delta(&s0, &commandstats(&mut con).await);
    json.push(row("failure_awaited", nf, all, top, lat));

    // Rejection: open (by hand, for an hour).
    b.manual(Manual::Open).await.expect("open");
    tokio::time::sleep(core::time::Duration::from_millis(100)).await;
    let s0 = commandstats(&mut con).await;
    let lat = timed(n, || {
        assert!(Arc::clone(&b).try_acquire().is_err());
    });
    tokio::time::sleep(core::time::Duration::from_millis(100)).await;
    let (all, top) = delta(&s0, &commandstats(&mut con).await);
    json.push(row("rejection", n, all, top, lat));
    println!("{{{}}}", json.join(","));
}

fn row(name: &str, n: usize, all: u64, top: u64, lat: (u64, u64)) -> String {
    format!(
        "\"{name}\":{{\"calls\":{n},\"commands\":{all},\"round_trips\":{top},\"p50_ns\":{},\"p99_ns\":{}}}",
        lat.0, lat.1
    )
}

async fn storm(url: &str, ns: &str, tasks: usize, start_at: f64, trial_at: f64) {
    let config = Config::builder()
        .name("storm")
        .failure_threshold(FAIL_MAX)
        .open_for(Duration::from_secs(1))
        .half_open_trials(1)
        .success_threshold(1)
        .build()
        .expect("config");
    let opts = options(url, ns).poll_interval(core::time::Duration::from_millis(500));
    let b: Shared = Arc::new(RedisBreaker::new(config, opts, StdClock, ()).expect("breaker"));
    assert!(
        b.wait_synced(core::time::Duration::from_secs(5)).await,
        "not synced"
    );

    // Storm: every task fails through the seam until its breaker rejects it.
    sleep_until_unix(start_at).await;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let b = Arc::clone(&b);
        handles.push(tokio::spawn(async move {
            let mut failed = 0u32;
            for _ in 0..200 {
                let Ok(p) = Arc::clone(&b).try_acquire() else {
                    break;
                };
                tokio::time::sleep(core::time::Duration::from_millis(1)).await; // the failing call
                let _ = p.failure();
                failed += 1;
            }
            failed
        }));
    }
    let mut failed = 0;
    for h in handles {
        failed += h.await.expect("task");
    }

    // Trials: every task asks through the seam every 5 ms for 600 ms; an admitted call takes
    // 200 ms and succeeds. The driver counts the calls that started before the first ended.
    sleep_until_unix(trial_at).await;
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let b = Arc::clone(&b);
        handles.push(tokio::spawn(async move {
            let mut calls = Vec::new();
            let end = trial_at + 0.6;
            while unix_now() < end {
                match Arc::clone(&b).try_acquire() {
                    Ok(p) => {
                        let start = unix_now();
                        tokio::time::sleep(core::time::Duration::from_millis(200)).await;
                        p.success();
                        calls.push((start, unix_now()));
                    }
                    Err(_) => tokio::time::sleep(core::time::Duration::from_millis(5)).await,
                }
            }
            calls
        }));
    }
    let mut calls = Vec::new();
    for h in handles {
        calls.extend(h.await.expect("task"));
    }
    let list = |f: fn(&(f64, f64)) -> f64| {
        calls
            .iter()
            .map(|c| format!("{:.6}", f(c)))
            .collect::<Vec<_>>()
            .join(",")
    };
    println!(
        "{{\"failures_sent\":{failed},\"starts\":[{}],\"ends\":[{}]}}",
        list(|c| c.0),
        list(|c| c.1)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args.get(i).map(String::as_str).unwrap_or_default();
    match arg(1) {
        "latency" => latency(arg(2), arg(3), arg(4).parse().unwrap_or(20_000)).await,
        "storm" => {
            storm(
                arg(2),
                arg(3),
                arg(4).parse().unwrap_or(8),
                arg(5).parse().unwrap_or(0.0),
                arg(6).parse().unwrap_or(0.0),
            )
            .await;
        }
        _ => eprintln!(
            "usage: redis_bench latency URL NS [N] | storm URL NS TASKS START_AT TRIAL_AT"
        ),
    }
}
