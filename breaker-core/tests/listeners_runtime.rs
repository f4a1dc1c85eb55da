//! Listeners added and removed on a live breaker while other threads call it (issue 11, item 5):
//! every thread finishes, a listener hears every call that started after it was added and none
//! after it was removed, and a listener present throughout hears every event.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use breaker_core::listener::{DynListener, Listeners};
use breaker_core::{CircuitBreaker, Config, Duration, Listener, StdClock};

#[derive(Default)]
struct Count(AtomicU64);

impl Listener for Count {
    fn on_success(&self, _: &'static str, _: Option<Duration>) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

const THREADS: usize = 3;
const CALLS: u64 = 20_000;

#[test]
fn listeners_come_and_go_while_threads_call() {
    let listeners = Arc::new(Listeners::new());
    let always = Arc::new(Count::default());
    listeners.add_shared(always.clone() as Arc<dyn DynListener>);
    let breaker = Arc::new(CircuitBreaker::<StdClock, Config, _>::with_listener(
        Config::default(),
        listeners.clone(),
    ));
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let callers: Vec<_> = (0..THREADS)
        .map(|_| {
            let (b, done) = (breaker.clone(), done.clone());
            thread::spawn(move || {
                for _ in 0..CALLS {
                    b.call(|| Ok::<_, ()>(())).unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mutator = {
        let (listeners, done, stop) = (listeners.clone(), done.clone(), stop.clone());
        thread::spawn(move || {
            let mut checked = 0;
            while !stop.load(Ordering::Relaxed) {
                let c = Arc::new(Count::default());
                let id = listeners.add_shared(c.clone() as Arc<dyn DynListener>);
                let a = done.load(Ordering::Relaxed);
                for _ in 0..50 {
                    thread::yield_now();
                }
                let b = done.load(Ordering::Relaxed);
                assert!(listeners.remove(id));
                let seen = c.0.load(Ordering::Relaxed);
                // Calls completed between `a` and `b` started after the add, except those
                // already in flight then (one per thread).
                assert!(
                    seen + THREADS as u64 >= b - a,
                    "saw {seen} of {} calls",
                    b - a
                );
                checked += 1;
                // Removed: later calls do not reach it (in-flight ones may, one per thread).
                let after = c.0.load(Ordering::Relaxed);
                let d = done.load(Ordering::Relaxed);
                while done.load(Ordering::Relaxed) < d + 100 && !stop.load(Ordering::Relaxed) {
                    thread::yield_now();
                }
                assert!(c.0.load(Ordering::Relaxed) <= after + THREADS as u64);
            }
            checked
        })
    };
    for c in callers {
        c.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    let rounds = mutator.join().unwrap();
    assert!(rounds > 0);
    assert_eq!(always.0.load(Ordering::Relaxed), THREADS as u64 * CALLS);
    assert_eq!(listeners.len(), 1);
}
