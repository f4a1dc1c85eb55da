//! The main demo: a simulated upstream fails for a while and recovers; calls go through a breaker
//! with a timeout, a concurrency limit and a fallback; every state change is printed with its
//! time, and a table counts what happened to the calls.
//!
//! `cargo run -p breaker-tokio --example demo` (about 10 seconds, real time).

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::Instant as StdInstant;

use breaker_tokio::listener::Listener;
use breaker_tokio::{
    CircuitBreaker, Config, Duration, Error, Limit, Policy, Rejected, Stats, Transition,
};

/// How the simulated upstream behaves over time.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Healthy,
    Outage,
    Recovering,
}

const PHASES: [(f64, Phase); 4] = [
    (0.0, Phase::Healthy),
    (2.0, Phase::Outage),
    (5.0, Phase::Recovering),
    (6.5, Phase::Healthy),
];
const RUN_FOR: f64 = 9.5;
const CLIENTS: usize = 12;
const REQUEST_EVERY: core::time::Duration = core::time::Duration::from_millis(50);

fn start() -> StdInstant {
    static START: OnceLock<StdInstant> = OnceLock::new();
    *START.get_or_init(StdInstant::now)
}

fn elapsed() -> f64 {
    start().elapsed().as_secs_f64()
}

fn phase_at(t: f64) -> Phase {
    PHASES
        .iter()
        .rev()
        .find(|(from, _)| t >= *from)
        .map_or(Phase::Healthy, |(_, p)| *p)
}

/// A small deterministic random source (xorshift), shared by the clients.
fn random() -> u32 {
    static STATE: AtomicU32 = AtomicU32::new(0x1234_5678);
    let mut x = STATE.load(Ordering::Relaxed);
    loop {
        let mut y = x;
        y ^= y << 13;
        y ^= y >> 17;
        y ^= y << 5;
        match STATE.compare_exchange_weak(x, y, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return y,
            Err(now) => x = now,
        }
    }
}

fn between(lo: u64, hi: u64) -> core::time::Duration {
    core::time::Duration::from_millis(lo + u64::from(random()) % (hi - lo + 1))
}

#[derive(Debug)]
enum UpstreamError {
    Unavailable,
}

/// The upstream: fast and healthy, then failing (errors, and requests that hang), then slow
/// while it recovers, then healthy again.
async fn upstream(id: u64) -> Result<String, UpstreamError> {
    match phase_at(elapsed()) {
        Phase::Healthy => {
            tokio::time::sleep(between(10, 40)).await;
            Ok(format!("fresh #{id}"))
        }
        Phase::Outage if random() % 10 < 7 => {
            tokio::time::sleep(between(2, 8)).await;
            Err(UpstreamError::Unavailable)
        }
        Phase::Outage => {
            tokio::time::sleep(core::time::Duration::from_secs(3)).await; // hangs
            Ok(format!("late #{id}"))
        }
        Phase::Recovering => {
            tokio::time::sleep(between(60, 140)).await; // some answers miss the timeout
            Ok(format!("slow #{id}"))
        }
    }
}

/// Counts the breaker's events and prints its state changes.
struct Report {
    admitted: AtomicUsize,
    rejected: AtomicUsize,
    limited: AtomicUsize,
}

impl Listener for Report {
    fn before_call(&self, _: &'static str, _: bool) {
        self.admitted.fetch_add(1, Ordering::Relaxed);
    }
    fn on_cancelled(&self, _: &'static str) {
        // Here only calls admitted by the breaker that found the concurrency limit full.
        self.limited.fetch_add(1, Ordering::Relaxed);
    }
    fn on_rejected(&self, _: &'static str, _: &Rejected) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
    fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
        let why = match change.to {
            breaker_tokio::State::Open => match stats.retry_after {
                Some(d) => format!(
                    "{} consecutive failures; trial in {:.0} ms",
                    stats.consecutive_failures,
                    d.as_micros() as f64 / 1000.0
                ),
                None => format!("{} consecutive failures", stats.consecutive_failures),
            },
            breaker_tokio::State::HalfOpen => "open duration over: trial calls".to_string(),
            breaker_tokio::State::Closed => "trials succeeded".to_string(),
            _ => String::new(),
        };
        println!(
            "[{:6.3}s] {name}: {} -> {} ({why})",
            elapsed(),
            change.from,
            change.to
        );
    }
}

static CONFIG: Config = match Config::builder()
    .name("upstream")
    .failure_threshold(5)
    .open_exponential(Duration::from_millis(250), 2, Duration::from_millis(1000))
    .half_open_trials(2)
    .success_threshold(3)
    .build()
{
    Ok(config) => config,
    Err(_) => panic!("invalid breaker configuration"),
};

static BREAKER: CircuitBreaker<&Config, Report> = CircuitBreaker::with_listener(
    &CONFIG,
    Report {
        admitted: AtomicUsize::new(0),
        rejected: AtomicUsize::new(0),
        limited: AtomicUsize::new(0),
    },
);

struct Tally {
    calls: AtomicUsize,
    fresh: AtomicUsize,
    timed_out: AtomicUsize,
    failed: AtomicUsize,
    fallback: AtomicUsize,
}

static TALLY: Tally = Tally {
    calls: AtomicUsize::new(0),
    fresh: AtomicUsize::new(0),
    timed_out: AtomicUsize::new(0),
    failed: AtomicUsize::new(0),
    fallback: AtomicUsize::new(0),
};

#[tokio::main]
async fn main() -> Result<(), Box<dyn core::error::Error>> {
    start();
    let policy = Policy::builder()
        .timeout(Duration::from_millis(100))
        .limit_wait(Duration::from_millis(5))
        .build()?
        .limit(Limit::named("upstream-pool", 6)?);
    println!(
        "{CLIENTS} clients, one request each every {} ms; timeout 100 ms, at most 6 in flight.",
        REQUEST_EVERY.as_millis()
    );
    println!(
        "The upstream is healthy, fails from 2.0 s (errors and hangs), is slow from 5.0 s, \
         and healthy again from 6.5 s.\n"
    );

    // Print the upstream's phases as they begin, among the breaker's state changes.
    tokio::spawn(async {
        for (from, phase) in PHASES.iter().skip(1) {
            tokio::time::sleep_until(tokio::time::Instant::from_std(
                start() + core::time::Duration::from_secs_f64(*from),
            ))
            .await;
            println!("[{:6.3}s] -- upstream is now {phase:?} --", elapsed());
        }
    });

    let get = BREAKER
        .protect(policy, upstream)
        .fallback(|id: u64| async move {
            TALLY.fallback.fetch_add(1, Ordering::Relaxed);
            Ok(format!("cached #{id}"))
        });

    let clients: Vec<_> = (0..CLIENTS as u64)
        .map(|client| {
            // A protected function is `Clone`: each task owns one (they share the breaker and
            // the limit).
            let get = get.clone();
            tokio::spawn(async move {
                tokio::time::sleep(REQUEST_EVERY * client as u32 / CLIENTS as u32).await;
                let mut tick = tokio::time::interval(REQUEST_EVERY);
                let mut n = 0;
                while elapsed() < RUN_FOR {
                    tick.tick().await;
                    n += 1;
                    let id = client * 10_000 + n;
                    TALLY.calls.fetch_add(1, Ordering::Relaxed);
                    // Each request runs on its own task, so a slow one does not hold up the next.
                    let get = get.clone();
                    tokio::spawn(async move {
                        match get.call(id).await {
                            Ok(reply) if reply.starts_with("cached") => {}
                            Ok(_) => {
                                TALLY.fresh.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(Error::Timeout { .. }) => {
                                TALLY.timed_out.fetch_add(1, Ordering::Relaxed);
                            }
                            Err(_) => {
                                TALLY.failed.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                    });
                }
            })
        })
        .collect();
    for c in clients {
        c.await?;
    }
    // Let the last requests finish (their timeout bounds them).
    tokio::time::sleep(core::time::Duration::from_millis(150)).await;

    let r = BREAKER.listener();
    let load = |a: &AtomicUsize| a.load(Ordering::Relaxed);
    println!("\n{:<44} {:>6}", "calls", load(&TALLY.calls));
    let rows = [
        ("admitted by the breaker", load(&r.admitted)),
        ("  answered in time", load(&TALLY.fresh)),
        ("  failed (upstream error)", load(&TALLY.failed)),
        ("  timed out (counted as failures)", load(&TALLY.timed_out)),
        ("  refused by the concurrency limit", load(&r.limited)),
        (
            "rejected by the breaker (open or half-open)",
            load(&r.rejected),
        ),
        (
            "served by the fallback (rejected or limited)",
            load(&TALLY.fallback),
        ),
    ];
    for (what, n) in rows {
        println!("{what:<44} {n:>6}");
    }
    println!(
        "\nfinal state: {}, finished in {:.1} s",
        BREAKER.state(),
        elapsed()
    );
    Ok(())
}
