//! An embassy-time driver on the Cortex-M SysTick timer.
//!
//! SysTick interrupts [`TICK_HZ`] times a second (the `tick-hz-*` feature chosen in Cargo.toml)
//! and its handler counts ticks in a 64-bit counter, which does not wrap for 584 million years at
//! 1 kHz. Timers wait in embassy-time-queue-utils' generic [`Queue`], which accepts any waker, not
//! only the executor's; the handler wakes the due ones. This trades power for simplicity (the core
//! wakes on every tick), which suits an emulator and CI, not a battery.

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;
use cortex_m_rt::exception;
use critical_section::{CriticalSection, Mutex};
use embassy_time_driver::{Driver, TICK_HZ};
use embassy_time_queue_utils::Queue;

struct SysTickDriver {
    /// Ticks since [`init`]; written only by the SysTick handler.
    ticks: Mutex<Cell<u64>>,
    /// The tick at which the queue next needs servicing; `u64::MAX` when it is empty.
    alarm: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    ticks: Mutex::new(Cell::new(0)),
    alarm: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

/// Starts SysTick, clocked by the core clock of `core_clock_hz`, so that time advances.
///
/// Before this call `Instant::now()` stays at zero and timers never expire.
///
/// # Panics
///
/// If `core_clock_hz` is not a whole multiple of [`TICK_HZ`] whose quotient fits SysTick's
/// 24-bit reload register.
pub(crate) fn init(mut syst: SYST, core_clock_hz: u32) {
    let clock = u64::from(core_clock_hz);
    assert!(
        clock % TICK_HZ == 0,
        "core clock is not a multiple of the tick rate"
    );
    // SysTick counts from RELOAD down to 0, so a period of N cycles is RELOAD = N - 1 (24 bits).
    let reload = (clock / TICK_HZ)
        .checked_sub(1)
        .and_then(|reload| u32::try_from(reload).ok())
        .filter(|&reload| reload < 1 << 24)
        .expect("SysTick reload out of range");
    syst.set_clock_source(SystClkSource::Core);
    syst.set_reload(reload);
    syst.clear_current();
    syst.enable_interrupt();
    syst.enable_counter();
}

impl SysTickDriver {
    fn tick(&self, cs: CriticalSection<'_>) {
        let now = self.ticks.borrow(cs).get() + 1;
        self.ticks.borrow(cs).set(now);
        if now >= self.alarm.borrow(cs).get() {
            self.service_queue(cs, now);
        }
    }

    /// Wakes the timers due at `now` and records when the next one is due.
    fn service_queue(&self, cs: CriticalSection<'_>, now: u64) {
        let next = self.queue.borrow_ref_mut(cs).next_expiration(now);
        self.alarm.borrow(cs).set(next);
    }
}

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.ticks.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            if self.queue.borrow_ref_mut(cs).schedule_wake(at, waker) {
                // Also wakes the waker at once if `at` has already passed.
                self.service_queue(cs, self.ticks.borrow(cs).get());
            }
        });
    }
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| DRIVER.tick(cs));
}
