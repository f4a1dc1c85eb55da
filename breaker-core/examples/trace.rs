//! A scripted failure trace on the manual clock: an upstream that fails from t=2s to t=9s.
//! The breaker trips, rejects while open, fails a trial, backs off, and recovers.
//!
//! `cargo run -p breaker-core --example trace`

use breaker_core::listener::Listener;
use breaker_core::{
    CircuitBreaker, Clock, Config, Duration, Error, ManualClock, Stats, Transition,
};

static CLOCK: ManualClock = ManualClock::new();

/// Prints every state change with the (virtual) time it happened.
struct Print;

impl Listener for Print {
    fn on_state_change(&self, name: &'static str, t: &Transition, stats: &Stats) {
        println!(
            "  [{:>6.2}s] {name}: {} -> {} (consecutive failures {}, retry after {:?})",
            secs(),
            t.from,
            t.to,
            stats.consecutive_failures,
            stats.retry_after
        );
    }
}

fn secs() -> f64 {
    CLOCK.now().as_micros() as f64 / 1e6
}

fn upstream(t: f64) -> Result<&'static str, &'static str> {
    if (2.0..9.0).contains(&t) {
        Err("503 service unavailable")
    } else {
        Ok("200 ok")
    }
}

fn main() {
    let config = Config::builder()
        .name("upstream")
        .failure_threshold(3)
        .open_exponential(Duration::from_secs(2), 2, Duration::from_secs(8))
        .build()
        .expect("valid configuration");
    let breaker = CircuitBreaker::with_clock_and_listener(&CLOCK, config, Print);
    let (mut ok, mut failed, mut rejected) = (0, 0, 0);
    println!("t (s)   outcome");
    // One call every 250 ms for 20 s of virtual time.
    for _ in 0..80 {
        let t = secs();
        match breaker.call(|| upstream(t)) {
            Ok(_) => ok += 1,
            Err(Error::Rejected(r)) => {
                rejected += 1;
                if rejected % 4 == 1 {
                    println!("  {t:>6.2}  rejected: {r}");
                }
            }
            Err(e) => {
                failed += 1;
                println!("  {t:>6.2}  failed: {e}");
            }
        }
        CLOCK.advance(Duration::from_millis(250));
    }
    let stats = breaker.stats();
    println!(
        "\nsucceeded {ok}, failed {failed}, rejected {rejected}; final state {}",
        stats.state
    );
    assert_eq!(
        stats.state,
        breaker_core::State::Closed,
        "the breaker recovers"
    );
}
