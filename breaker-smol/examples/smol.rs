//! A flaky upstream behind a breaker on smol: a timeout, a fallback while open, then a caller in
//! wait mode that is admitted once the breaker lets trials through.
//!
//! `cargo run -p breaker-smol --example smol`

use core::time::Duration as StdDuration;
use std::time::Instant as StdInstant;

use breaker_smol::listener::Listener;
use breaker_smol::{CircuitBreaker, Config, Duration, Error, Policy, Stats, Transition};

/// Prints every state change with the time since the program started.
struct PrintChanges(StdInstant);

impl Listener for PrintChanges {
    fn on_state_change(&self, name: &'static str, change: &Transition, _: &Stats) {
        let t = self.0.elapsed().as_secs_f64();
        println!("[{t:5.3}s] {name}: {} -> {}", change.from, change.to);
    }
}

async fn upstream(healthy: bool) -> Result<&'static str, &'static str> {
    smol::Timer::after(StdDuration::from_millis(if healthy { 5 } else { 500 })).await;
    if healthy {
        Ok("fresh")
    } else {
        Err("unreachable")
    }
}

fn main() -> Result<(), breaker_smol::ConfigError> {
    let config = Config::builder()
        .name("upstream")
        .failure_threshold(3)
        .open_for(Duration::from_millis(300))
        .build()?;
    let breaker: CircuitBreaker<Config, PrintChanges> =
        CircuitBreaker::with_listener(config, PrintChanges(StdInstant::now()));
    let policy = Policy::builder()
        .timeout(Duration::from_millis(50))
        .build()?;
    let get = breaker
        .protect(policy, upstream)
        .fallback(|_healthy| async { Ok("cached") });

    smol::block_on(async {
        for _ in 0..3 {
            // The upstream hangs: each call times out after 50 ms, and counts as a failure.
            let r = get.call(false).await;
            println!("        call: {r:?}");
        }
        // Open: calls are not made; the fallback answers at once.
        println!("        call: {:?}", get.call(true).await);

        // Wait mode: wait up to a second to be admitted instead of taking the fallback.
        let patient = Policy::builder().wait(Duration::from_secs(1)).build()?;
        let r = breaker.call_with(&patient, upstream(true)).await;
        println!("        waited, then: {r:?}");
        assert_eq!(r, Ok::<_, Error<&str>>("fresh"));
        Ok(())
    })
}
