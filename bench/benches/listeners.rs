//! The closed-path cost of a breaker's listener, per successful call (`call(|| Ok(()))`), one
//! thread: no listener (`()`), an empty run-time `Listeners` list, the `Tracing` listener with no
//! subscriber and with a subscriber that filters out per-call events (INFO), and the `Metrics`
//! listener with no recorder and with the Prometheus recorder installed.
//!
//! `cargo bench -p breaker-bench --bench listeners` (best of 7 runs of 2M calls each, ns/call).

use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;

use breaker_core::listener::{Listeners, Metrics, Tracing};
use breaker_core::{CircuitBreaker, Config, Listener, StdClock};

const CALLS: u32 = 2_000_000;

fn measure<L: Listener>(b: &CircuitBreaker<StdClock, Config, L>) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..7 {
        let start = Instant::now();
        for _ in 0..CALLS {
            black_box(b.call(|| black_box(Ok::<_, ()>(()))).is_ok());
        }
        best = best.min(start.elapsed().as_nanos() as f64 / CALLS as f64);
    }
    best
}

fn row<L: Listener>(what: &str, listener: L) {
    let config = Config::builder().name("bench").build().unwrap();
    let b = CircuitBreaker::<StdClock, Config, L>::with_listener(config, listener);
    println!("| {what} | {:.2} |", measure(&b));
}

fn main() {
    println!("| listener | ns per closed success |");
    println!("|---|---|");
    row("none `()`", ());
    row("empty `Arc<Listeners>`", Arc::new(Listeners::new()));
    row("`Tracing`, no subscriber", Tracing);
    let info = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::INFO)
        .finish();
    tracing::subscriber::with_default(info, || {
        row(
            "`Tracing`, INFO subscriber (per-call events filtered)",
            Tracing,
        )
    });
    row("`Metrics`, no recorder", Metrics::new());
    let _handle = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .unwrap();
    row("`Metrics`, Prometheus recorder", Metrics::new());
    let one = Arc::new(Listeners::new());
    one.add(Metrics::new());
    row("`Arc<Listeners>` holding `Metrics` (Prometheus)", one);
}
