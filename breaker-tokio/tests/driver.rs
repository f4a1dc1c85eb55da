//! The driver on tokio's paused clock: time-driven changes happen, and reach listeners, when they
//! are due with nobody calling; a driven breaker refuses calls from its state alone; the driver
//! ends with its breaker and leaves no task behind.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use breaker_tokio::breaker_core;
use breaker_tokio::{
    spawn_driver, CircuitBreaker, Config, Duration, Listener, State, Stats, Transition,
};

#[derive(Default)]
struct Changes(Mutex<Vec<(State, State, tokio::time::Instant)>>);

impl Listener for Changes {
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        self.0
            .lock()
            .unwrap()
            .push((t.from, t.to, tokio::time::Instant::now()));
    }
}

fn config() -> Config {
    Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_millis(100))
        .build()
        .unwrap()
}

#[tokio::test(start_paused = true)]
async fn the_half_open_change_is_reported_when_due_with_no_calls() {
    let changes = Arc::new(Changes::default());
    let breaker = Arc::new(CircuitBreaker::with_listener(config(), changes.clone()));
    let driver = spawn_driver(Arc::downgrade(&breaker));
    tokio::task::yield_now().await; // the driver attaches and waits for a change

    let opened = tokio::time::Instant::now();
    let _ = breaker.call(|| Err::<(), _>("down"));
    assert_eq!(breaker.state(), State::Open);

    // Nobody calls: the driver applies the change at the deadline and the listener hears it.
    tokio::time::sleep(core::time::Duration::from_millis(150)).await;
    let seen = changes.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!((seen[1].0, seen[1].1), (State::Open, State::HalfOpen));
    let at = seen[1].2 - opened;
    assert!(
        at >= core::time::Duration::from_millis(100)
            && at <= core::time::Duration::from_millis(102),
        "half-open reported {at:?} after the trip"
    );
    assert_eq!(
        breaker.machine().state,
        State::HalfOpen,
        "applied, not just computed"
    );

    // The driver ends with its breaker: no task is left behind.
    drop(breaker);
    tokio::time::timeout(core::time::Duration::from_secs(1), driver)
        .await
        .expect("the driver ended with its breaker")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_second_driver_ends_at_once_and_a_static_breaker_can_be_driven() {
    static B: CircuitBreaker = CircuitBreaker::new(Config::default_config());
    let first = spawn_driver(&B);
    tokio::task::yield_now().await;
    let second = spawn_driver(&B);
    tokio::time::timeout(core::time::Duration::from_millis(1), second)
        .await
        .expect("a second driver ends at once")
        .unwrap();
    first.abort();
    let _ = first.await;
}

/// A clock that counts its readings, over tokio's.
#[derive(Clone, Copy, Default)]
struct Counting;
static READS: AtomicUsize = AtomicUsize::new(0);

impl breaker_core::Clock for Counting {
    fn now(&self) -> breaker_core::Instant {
        READS.fetch_add(1, Ordering::Relaxed);
        breaker_tokio::Tokio.now()
    }
    fn reader(&self) -> Option<fn() -> breaker_core::Instant> {
        Some(|| breaker_tokio::Tokio.now())
    }
}
impl breaker_core::GlobalClock for Counting {
    const NEW: Self = Counting;
}
impl breaker_core::runtime::Timer for Counting {
    type Sleep = tokio::time::Sleep;
    fn sleep(&self, d: Duration) -> tokio::time::Sleep {
        breaker_tokio::Tokio.sleep(d)
    }
}

#[tokio::test(start_paused = true)]
async fn a_driven_breaker_refuses_without_reading_the_clock() {
    let breaker = Arc::new(breaker_core::CircuitBreaker::<Counting>::new(config()));
    let _ = breaker.call(|| Err::<(), _>("down"));

    // Without a driver, every refusal reads the clock.
    let before = READS.load(Ordering::Relaxed);
    for _ in 0..10 {
        assert!(breaker.try_acquire().is_err());
    }
    assert_eq!(READS.load(Ordering::Relaxed) - before, 10);

    let driver = tokio::spawn(breaker_core::runtime::drive(Arc::downgrade(&breaker)));
    tokio::task::yield_now().await;
    let before = READS.load(Ordering::Relaxed);
    let mut last = None;
    for _ in 0..10 {
        last = Some(breaker.try_acquire().unwrap_err());
    }
    assert_eq!(READS.load(Ordering::Relaxed) - before, 0, "no clock read");
    // The time left is worked out when asked (from the reader, not the counted clock).
    let left = last.unwrap().retry_after().unwrap();
    assert!(
        left <= Duration::from_millis(100) && left > Duration::ZERO,
        "{left:?}"
    );

    // When the driver stops, refusals read the clock again.
    driver.abort();
    let _ = driver.await;
    let before = READS.load(Ordering::Relaxed);
    assert!(breaker.try_acquire().is_err());
    assert_eq!(READS.load(Ordering::Relaxed) - before, 1);
}
