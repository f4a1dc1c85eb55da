//! What the firmware checks: [`scenario`] runs to completion or says what went wrong.
//!
//! `main.rs` prints `scenario: ok` and exits with status 0 when [`scenario`] returns `Ok`, and
//! exits with a failure status when it returns `Err` or panics. Each step prints one line so
//! that the CI log shows how far it got.
//!
//! The `breaker` feature adds the circuit-breaker steps on top of the baseline timer steps, so
//! that `size.sh breaker` measures what the breaker adds to the same firmware.

use cortex_m_semihosting::hprintln;
use embassy_time::{with_timeout, Duration, Instant, Timer};

/// Runs every step in order and stops at the first failure.
pub(crate) async fn scenario() -> Result<(), &'static str> {
    timer_steps().await?;
    timeout_step().await?;
    #[cfg(feature = "breaker")]
    breaker_steps().await?;
    #[cfg(any(feature = "probe-direct", feature = "probe-breaker"))]
    crate::probe::probe_step().await?;
    Ok(())
}

const STEP: Duration = Duration::from_millis(50);
const STEPS: u32 = 5;
/// How late a timer may be seen. Generous: QEMU's clock follows the host's, so a stalled CI
/// host makes the emulated `SysTick` catch up in a burst. Early is never allowed.
const MAX_LATE: Duration = Duration::from_millis(100);

/// Sleeps [`STEPS`] times for [`STEP`] and checks that `Instant::now()` moved accordingly.
async fn timer_steps() -> Result<(), &'static str> {
    let start = Instant::now();
    let mut before = start;
    for step in 1..=STEPS {
        Timer::after(STEP).await;
        let now = Instant::now();
        let slept = now
            .checked_duration_since(before)
            .ok_or("time went backwards")?;
        hprintln!(
            "timer: step {}/{}: slept {} ms, at {} ms",
            step,
            STEPS,
            slept.as_millis(),
            (now - start).as_millis()
        );
        if slept < STEP {
            return Err("timer fired early");
        }
        if slept > STEP + MAX_LATE {
            return Err("timer fired late");
        }
        before = now;
    }
    if Instant::now() - start < STEP * STEPS {
        return Err("total time too short");
    }
    Ok(())
}

/// Two timers pending at once: a 20 ms timeout must cut a 200 ms sleep short.
async fn timeout_step() -> Result<(), &'static str> {
    const LIMIT: Duration = Duration::from_millis(20);
    let start = Instant::now();
    if with_timeout(LIMIT, Timer::after_millis(200)).await.is_ok() {
        return Err("timeout did not fire");
    }
    let waited = start.elapsed();
    hprintln!("timeout: fired after {} ms", waited.as_millis());
    if waited < LIMIT || waited > LIMIT + MAX_LATE {
        return Err("timeout fired at the wrong time");
    }
    Ok(())
}

#[cfg(feature = "breaker")]
use crate::breaker_steps::breaker_steps;
