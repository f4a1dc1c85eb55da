//! The circuit breaker on embassy timers: a flaky peripheral fails, the breaker trips, rejects
//! while open, fails a trial and re-opens, then closes once the peripheral recovers; a call
//! timeout and the wait mode run too. Every expectation that does not hold ends the scenario.

use portable_atomic::{AtomicU32, Ordering};

use breaker_embassy::breaker_core::clock::micros;
use breaker_embassy::{CircuitBreaker, Config, Duration, Error, Policy, State};
use cortex_m_semihosting::hprintln;
use embassy_time::{Instant, Timer};

const OPEN_FOR: Duration = Duration::from_millis(100);

/// The configuration stays in flash; the breaker itself is a handful of atomics in RAM.
static CONFIG: Config = match Config::builder()
    .name("sensor")
    .failure_threshold(3)
    .open_for(OPEN_FOR)
    .build()
{
    Ok(config) => config,
    Err(_) => panic!("invalid breaker configuration"),
};

static BREAKER: CircuitBreaker<&'static Config> = CircuitBreaker::new(&CONFIG);

/// A call that runs past 30 ms is dropped and counts as a failure.
static TIMEOUT: Policy = match Policy::builder().timeout(Duration::from_millis(30)).build() {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

/// Instead of being rejected while open, wait up to 500 ms to be admitted.
static WAIT: Policy = match Policy::builder().wait(Duration::from_millis(500)).build() {
    Ok(policy) => policy,
    Err(_) => panic!("invalid policy"),
};

/// The simulated peripheral: what its next reads do, and how many reads reached it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Healthy = 0,
    Failing = 1,
    Hanging = 2,
}

static MODE: AtomicU32 = AtomicU32::new(Mode::Healthy as u32);
static READS: AtomicU32 = AtomicU32::new(0);

fn set(mode: Mode) {
    MODE.store(mode as u32, Ordering::Relaxed);
}

#[derive(Debug, PartialEq, Eq)]
struct BusError;

/// One read of the peripheral: 2 ms on the bus, then a value or an error (or 1 s when hanging).
async fn read_sensor() -> Result<u16, BusError> {
    READS.fetch_add(1, Ordering::Relaxed);
    match MODE.load(Ordering::Relaxed) {
        m if m == Mode::Failing as u32 => {
            Timer::after_millis(2).await;
            Err(BusError)
        }
        m if m == Mode::Hanging as u32 => {
            Timer::after_millis(1_000).await;
            Ok(0)
        }
        _ => {
            Timer::after_millis(2).await;
            Ok(421)
        }
    }
}

fn check(ok: bool, what: &'static str) -> Result<(), &'static str> {
    if ok {
        Ok(())
    } else {
        Err(what)
    }
}

fn expect_state(want: State) -> Result<(), &'static str> {
    let got = BREAKER.state();
    hprintln!("breaker: state {}", got);
    check(got == want, "unexpected breaker state")
}

/// Fails the peripheral until the breaker opens (3 failures, the third reports `Tripped`).
async fn trip() -> Result<(), &'static str> {
    set(Mode::Failing);
    for n in 1..=3 {
        let r = BREAKER.call_async(read_sensor()).await;
        hprintln!("breaker: failing read {}: {:?}", n, r);
        match (n, r) {
            (1 | 2, Err(Error::Inner(_))) | (3, Err(Error::Tripped(_))) => {}
            _ => return Err("a failing read was not reported as expected"),
        }
    }
    expect_state(State::Open)
}

pub(crate) async fn breaker_steps() -> Result<(), &'static str> {
    hprintln!(
        "breaker: size {} bytes of RAM (config in flash: {} bytes)",
        core::mem::size_of_val(&BREAKER),
        core::mem::size_of_val(&CONFIG)
    );
    set(Mode::Healthy);
    for _ in 0..2 {
        check(
            BREAKER.call_async(read_sensor()).await.is_ok(),
            "a healthy read failed",
        )?;
    }
    expect_state(State::Closed)?;

    // Trip, then rejected without touching the peripheral, told when to come back.
    trip().await?;
    let before = READS.load(Ordering::Relaxed);
    let retry_after = match BREAKER.call_async(read_sensor()).await {
        Err(Error::Rejected(r)) => {
            hprintln!("breaker: rejected: {}", r);
            r.retry_after().ok_or("a rejection without retry_after")?
        }
        _ => return Err("the open breaker admitted a call"),
    };
    check(
        READS.load(Ordering::Relaxed) == before,
        "a rejected call reached the peripheral",
    )?;
    check(
        retry_after > Duration::ZERO && retry_after <= OPEN_FOR,
        "retry_after out of range",
    )?;

    // After the open duration: one trial, which fails and re-opens the breaker.
    Timer::after_micros(micros(retry_after)).await;
    let r = BREAKER.call_async(read_sensor()).await;
    hprintln!("breaker: trial while still failing: {:?}", r);
    check(
        matches!(r, Err(Error::Tripped(_))),
        "the failed trial did not re-open the breaker",
    )?;
    check(
        READS.load(Ordering::Relaxed) == before + 1,
        "not exactly one trial reached the peripheral",
    )?;
    expect_state(State::Open)?;

    // The peripheral recovers: the next trial closes the breaker.
    set(Mode::Healthy);
    Timer::after_micros(micros(OPEN_FOR)).await;
    let r = BREAKER.call_async(read_sensor()).await;
    hprintln!("breaker: trial after recovery: {:?}", r);
    check(r == Ok(421), "the recovery trial failed")?;
    expect_state(State::Closed)?;

    // A hung read is cut off by the timeout and counts as a failure.
    set(Mode::Hanging);
    let start = Instant::now();
    let r = BREAKER.call_with(&TIMEOUT, read_sensor()).await;
    let took = start.elapsed().as_millis();
    hprintln!("breaker: hung read after {} ms: {:?}", took, r);
    check(
        matches!(r, Err(Error::Timeout { .. })),
        "the hung read did not time out",
    )?;
    check(
        (30..200).contains(&took),
        "the timeout fired at the wrong time",
    )?;
    check(
        BREAKER.stats().consecutive_failures == 1,
        "the timeout did not count as a failure",
    )?;
    set(Mode::Healthy);
    check(
        BREAKER.call_async(read_sensor()).await.is_ok(),
        "a healthy read failed",
    )?;
    check(
        BREAKER.stats().consecutive_failures == 0,
        "a success did not reset the failures",
    )?;

    // Wait mode: trip again; a waiting caller is admitted as the trial once the breaker may
    // half-open, instead of being rejected.
    trip().await?;
    set(Mode::Healthy);
    let start = Instant::now();
    let r = BREAKER.call_with(&WAIT, read_sensor()).await;
    let waited = start.elapsed().as_millis();
    hprintln!(
        "breaker: waiting caller admitted after {} ms: {:?}",
        waited,
        r
    );
    check(r == Ok(421), "the waiting caller was not served")?;
    check(
        (90..400).contains(&waited),
        "the waiting caller was admitted at the wrong time",
    )?;
    expect_state(State::Closed)?;

    let stats = BREAKER.stats();
    hprintln!(
        "breaker: done: {} reads reached the peripheral, {} state changes",
        READS.load(Ordering::Relaxed),
        stats.generation
    );
    Ok(())
}
