//! Two sensor tasks share an I2C bus (a concurrency limit of 1) through their own breakers; one
//! sensor stops answering for a while, its calls time out, its breaker opens, and its task waits
//! (wait mode) to be admitted again. The other sensor's task is never held up.
//!
//! On the host, with embassy-time's mock driver: a `clock` task plays the time driver and moves
//! time forward 1 ms per turn, so the run takes simulated seconds and no real time.
//!
//! `cargo run -p breaker-embassy --example embassy`

use core::sync::atomic::{AtomicUsize, Ordering};

use breaker_embassy::listener::Listener;
use breaker_embassy::{CircuitBreaker, Config, Duration, Error, Limit, Policy, Stats, Transition};
use embassy_executor::Spawner;
use embassy_time::{MockDriver, Timer};

fn now() -> f64 {
    embassy_time::Instant::now().as_millis() as f64 / 1000.0
}

/// Prints every state change with the (simulated) time.
struct Print;

impl Listener for Print {
    fn on_state_change(&self, name: &'static str, change: &Transition, _: &Stats) {
        println!("[{:6.3}s] {name}: {} -> {}", now(), change.from, change.to);
    }
}

const fn config(name: &'static str) -> Config {
    match Config::builder()
        .name(name)
        .failure_threshold(3)
        .open_for(Duration::from_millis(500))
        .build()
    {
        Ok(c) => c,
        Err(_) => panic!("invalid configuration"),
    }
}

static TEMPERATURE: CircuitBreaker<Config, Print> =
    CircuitBreaker::with_listener(config("temperature"), Print);
static HUMIDITY: CircuitBreaker<Config, Print> =
    CircuitBreaker::with_listener(config("humidity"), Print);
static I2C: Limit = Limit::new(1).named("i2c");
static POLICY: Policy<&Limit> = match Policy::builder()
    .timeout(Duration::from_millis(20))
    .wait(Duration::from_secs(2))
    .limit_wait(Duration::from_millis(50))
    .build()
{
    Ok(p) => p.limit(&I2C),
    Err(_) => panic!("invalid policy"),
};

static DONE: AtomicUsize = AtomicUsize::new(0);

/// A sensor read over the bus: the humidity sensor hangs between 1 s and 2 s.
async fn read(sensor: &'static str) -> Result<u16, &'static str> {
    let hangs = sensor == "humidity" && (1.0..2.0).contains(&now());
    Timer::after_millis(if hangs { 1_000 } else { 2 }).await;
    Ok(if sensor == "humidity" { 48 } else { 21 })
}

#[embassy_executor::task(pool_size = 2)]
async fn sensor(name: &'static str, breaker: &'static CircuitBreaker<Config, Print>) {
    let mut ok = 0;
    let mut failed = 0;
    while now() < 3.0 {
        match breaker.call_with(&POLICY, read(name)).await {
            Ok(_) => ok += 1,
            Err(Error::Timeout { after }) => {
                failed += 1;
                println!("[{:6.3}s] {name}: no answer within {after:?}", now());
            }
            Err(e) => println!("[{:6.3}s] {name}: {e}", now()),
        }
        Timer::after_millis(100).await;
    }
    println!("{name}: {ok} readings, {failed} timed out");
    DONE.fetch_add(1, Ordering::SeqCst);
}

/// The simulated time driver: 1 ms per turn of the executor.
#[embassy_executor::task]
async fn clock() {
    while DONE.load(Ordering::SeqCst) < 2 {
        MockDriver::get().advance(embassy_time::Duration::from_millis(1));
        YieldNow(false).await;
    }
    std::process::exit(0);
}

struct YieldNow(bool);

impl core::future::Future for YieldNow {
    type Output = ();
    fn poll(
        mut self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<()> {
        if self.0 {
            return core::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        core::task::Poll::Pending
    }
}

#[embassy_executor::main]
async fn main(spawner: Spawner) {
    spawner.spawn(sensor("temperature", &TEMPERATURE).unwrap());
    spawner.spawn(sensor("humidity", &HUMIDITY).unwrap());
    spawner.spawn(clock().unwrap());
}
