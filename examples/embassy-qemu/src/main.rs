//! Embassy firmware for QEMU's `lm3s6965evb` (Cortex-M3), run by `run.sh` in CI.
//!
//! The firmware starts the SysTick time driver, runs [`scenario::scenario`] on the embassy
//! thread-mode executor, prints `scenario: ok` and exits with status 0 through semihosting.
//! A scenario error, a panic or a fault prints a reason and exits with a non-zero status.
//! Everything specific to what is being checked lives in `scenario.rs`; this file and
//! `time_driver.rs` know nothing about it.

#![no_std]
#![no_main]

#[cfg(feature = "breaker")]
mod breaker_steps;
#[cfg(any(feature = "probe-direct", feature = "probe-breaker"))]
mod probe;
mod scenario;
mod time_driver;

use core::cell::Cell;
use core::fmt::Write as _;
use core::panic::PanicInfo;

use cortex_m_rt::{exception, ExceptionFrame};
use cortex_m_semihosting::debug::{self, ExitStatus, EXIT_FAILURE, EXIT_SUCCESS};
use cortex_m_semihosting::{hio, hprintln};
use embassy_executor::Spawner;

/// Core clock of QEMU's `lm3s6965evb` out of reset: the 200 MHz PLL divided by
/// `RCC.SYSDIV + 1` = 16 gives 12.5 MHz (QEMU `hw/arm/stellaris.c`).
const CORE_CLOCK_HZ: u32 = 12_500_000;

#[embassy_executor::main]
async fn main(_spawner: Spawner) -> ! {
    let peripherals = cortex_m::Peripherals::take().expect("peripherals are taken once");
    time_driver::init(peripherals.SYST, CORE_CLOCK_HZ);
    hprintln!("firmware: start");
    match scenario::scenario().await {
        Ok(()) => {
            hprintln!("scenario: ok");
            exit(EXIT_SUCCESS)
        }
        Err(reason) => {
            hprintln!("scenario: FAILED: {}", reason);
            exit(EXIT_FAILURE)
        }
    }
}

/// Ends the QEMU session with `status` (0 for success, 1 for failure).
fn exit(status: ExitStatus) -> ! {
    debug::exit(status);
    // Reached only when no semihosting host is attached.
    loop {
        cortex_m::asm::wfi();
    }
}

/// Writes one line to the host's stderr with a fresh handle, so that it works even when the
/// failure happened in the middle of an `hprintln!` (whose shared handle is then borrowed).
fn report(args: core::fmt::Arguments<'_>) {
    // Report only the first failure: a second one (a panic while reporting) must not recurse.
    // A critical section rather than `AtomicBool::swap`, which thumbv6m lacks.
    static REPORTED: critical_section::Mutex<Cell<bool>> =
        critical_section::Mutex::new(Cell::new(false));
    if !critical_section::with(|cs| REPORTED.borrow(cs).replace(true)) {
        if let Ok(mut stderr) = hio::hstderr() {
            let _ = writeln!(stderr, "{args}");
        }
    }
}

#[panic_handler]
fn panic(info: &PanicInfo<'_>) -> ! {
    report(format_args!("panic: {info}"));
    exit(EXIT_FAILURE)
}

#[exception]
unsafe fn HardFault(frame: &ExceptionFrame) -> ! {
    report(format_args!("hard fault: {frame:?}"));
    exit(EXIT_FAILURE)
}

#[exception]
unsafe fn DefaultHandler(irqn: i16) {
    report(format_args!("unexpected exception or interrupt {irqn}"));
    exit(EXIT_FAILURE)
}
