//! The size probe: a sensor loop whose reads go straight to the peripheral (`probe-direct`) or
//! through a consecutive-policy breaker (`probe-breaker`). Both print the same integers and
//! nothing else, so `size.sh` sees what the breaker alone adds to flash and RAM.

use cortex_m_semihosting::hprintln;
use embassy_time::Timer;

async fn sensor(fail: bool) -> Result<u16, ()> {
    Timer::after_millis(1).await;
    if fail {
        Err(())
    } else {
        Ok(7)
    }
}

#[cfg(feature = "probe-direct")]
async fn read(fail: bool) -> Result<u16, ()> {
    sensor(fail).await
}

#[cfg(feature = "probe-breaker")]
async fn read(fail: bool) -> Result<u16, ()> {
    use breaker_embassy::{CircuitBreaker, Config};

    static CONFIG: Config = Config::default_config();
    static BREAKER: CircuitBreaker<&'static Config> = CircuitBreaker::new(&CONFIG);
    BREAKER.call_async(sensor(fail)).await.map_err(|_| ())
}

pub(crate) async fn probe_step() -> Result<(), &'static str> {
    let (mut ok, mut failed) = (0u32, 0u32);
    for i in 0..40u32 {
        // A burst of failures long enough to trip the default threshold of 5.
        match read((10..20).contains(&i)).await {
            Ok(_) => ok += 1,
            Err(()) => failed += 1,
        }
    }
    hprintln!("probe: {} ok, {} failed", ok, failed);
    Ok(())
}
