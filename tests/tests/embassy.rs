//! The conformance suite on embassy: each scenario is a task on embassy-executor's std platform,
//! and embassy-time's mock driver is the clock, advanced by the harness (in 100 µs steps) only
//! while the task waits for time to pass, so time is virtual.
//!
//! The mock driver is one clock for the whole process: the scenarios take turns (`SERIAL`).

use core::future::Future;
use core::pin::Pin;
use core::sync::atomic::{AtomicBool, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::{Arc, Mutex};
use std::task::Wake;

use breaker_conformance::{Harness, InProcess};
use breaker_core::ConfigError;
use embassy_executor::raw::TaskStorage;
use embassy_executor::Executor;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;
use embassy_time::MockDriver;

static SERIAL: Mutex<()> = Mutex::new(());

/// Raises `woken`, then wakes the task.
struct Flag {
    inner: Waker,
    woken: Arc<AtomicBool>,
}

impl Wake for Flag {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::SeqCst);
        self.inner.wake_by_ref();
    }
}

/// The scenario's future, polled with one flagging waker (the same one each time, so that
/// embassy's timer queue recognises it), raising `done` when it finishes.
struct Tracked<F> {
    future: Pin<Box<F>>,
    woken: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    waker: Option<(Waker, Waker)>,
}

impl<F: Future<Output = ()>> Future for Tracked<F> {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let flagged = match &self.waker {
            Some((inner, flagged)) if inner.will_wake(cx.waker()) => flagged.clone(),
            _ => {
                let flagged = Waker::from(Arc::new(Flag {
                    inner: cx.waker().clone(),
                    woken: self.woken.clone(),
                }));
                self.waker = Some((cx.waker().clone(), flagged.clone()));
                flagged
            }
        };
        let poll = self
            .future
            .as_mut()
            .poll(&mut Context::from_waker(&flagged));
        if poll.is_ready() {
            self.done.store(true, Ordering::SeqCst);
        }
        poll
    }
}

struct Embassy;

impl Harness for Embassy {
    type Runtime = breaker_embassy::Embassy;
    type Limit = &'static breaker_embassy::Limit<CriticalSectionRawMutex, 64>;
    const VIRTUAL: bool = true;

    fn block_on<F: Future<Output = ()> + 'static>(test: F) {
        let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
        MockDriver::get().reset();
        let woken = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let tracked = Tracked {
            future: Box::pin(test),
            woken: woken.clone(),
            done: done.clone(),
            waker: None,
        };
        let storage: &'static TaskStorage<Tracked<F>> = Box::leak(Box::new(TaskStorage::new()));
        let executor: &'static mut Executor = Box::leak(Box::new(Executor::new()));
        executor.run_until(
            |spawner| spawner.spawn(storage.spawn(|| tracked).expect("a fresh task storage")),
            move || {
                if done.load(Ordering::SeqCst) {
                    return true;
                }
                if woken.swap(false, Ordering::SeqCst) {
                    return false; // ready to run again without time passing
                }
                // Idle: the task waits for a timer. Move time on until one fires.
                for _ in 0..600_000 {
                    MockDriver::get().advance(embassy_time::Duration::from_micros(100));
                    if woken.swap(false, Ordering::SeqCst) {
                        return false;
                    }
                }
                panic!("the task waits and no timer fires within 60 s of virtual time");
            },
        );
    }

    fn try_limit(permits: usize) -> Result<Self::Limit, ConfigError> {
        let limit = breaker_embassy::Limit::try_new(permits)?;
        Ok(Box::leak(Box::new(limit)))
    }
}

breaker_conformance::conformance!(mod in_process: Embassy, InProcess);
breaker_conformance::conformance!(in_process Embassy);
