use core::sync::atomic::{AtomicUsize, Ordering};
use std::format;
use std::string::ToString;
use std::sync::Barrier;
use std::thread;

use super::*;
use crate::clock::ManualClock;
use crate::config::Config;
use crate::machine::Transition;

static CLOCK: ManualClock = ManualClock::new();

type Plain = CircuitBreaker<&'static ManualClock, Config>;

fn breaker(name: &'static str) -> Arc<Plain> {
    let config = Config::builder()
        .name(name)
        .failure_threshold(2)
        .build()
        .unwrap();
    Arc::new(CircuitBreaker::with_clock(&CLOCK, config))
}

#[test]
fn duplicates_are_refused_and_the_first_stays() {
    let r = Registry::new();
    let first = breaker("db");
    let second = breaker("db");
    r.register(first.clone()).unwrap();
    assert_eq!(
        r.register(second.clone()),
        Err(RegistryError::Duplicate("db".to_string()))
    );
    // The registered one is the first: a change by name reaches it, not the second.
    r.control("db", Control::ForceOpen).unwrap();
    assert_eq!(first.state(), State::ForcedOpen);
    assert_eq!(second.state(), State::Closed);
    // `replace` swaps explicitly and hands the old one back.
    let old = r.replace(second.clone()).unwrap().unwrap();
    assert_eq!(old.state(), State::ForcedOpen);
    assert_eq!(r.stats("db").unwrap().state, State::Closed);
    assert!(r.remove("db").is_some());
    assert!(r.get("db").is_none());
    assert_eq!(r.register(breaker("")), Err(RegistryError::Unnamed));
}

#[test]
fn manual_control_by_name_and_filters() {
    let r = Registry::new();
    for name in ["a", "b", "c"] {
        r.register(breaker(name)).unwrap();
    }
    assert_eq!(
        r.control("nope", Control::ForceOpen),
        Err(RegistryError::Unknown("nope".to_string()))
    );
    assert_eq!(
        r.control("a", Control::ForceOpen).unwrap().state,
        State::ForcedOpen
    );
    assert_eq!(r.control("b", Control::Open).unwrap().state, State::Open);
    assert_eq!(
        r.control("c", Control::Disable).unwrap().state,
        State::Disabled
    );
    let names = |v: Vec<Stats>| v.iter().map(|s| s.name).collect::<Vec<_>>();
    assert_eq!(names(r.list()), ["a", "b", "c"]);
    assert_eq!(names(r.in_state(State::Open)), ["b"]);
    assert_eq!(names(r.in_state(State::ForcedOpen)), ["a"]);
    assert_eq!(
        r.control("a", Control::ForceClosed).unwrap().state,
        State::Closed
    );
    assert_eq!(
        r.control("c", Control::HalfOpen).unwrap().state,
        State::HalfOpen
    );
    let reset = r.control("b", Control::Reset).unwrap();
    assert_eq!((reset.state, reset.last_trip), (State::Closed, None));
    assert_eq!(names(r.in_state(State::Closed)), ["a", "b"]);
}

#[test]
fn concurrent_registration_keeps_exactly_one_per_name() {
    // 4 threads register the same 50 names at once: every name ends up registered once, each
    // registration either succeeds or is refused as a duplicate, and exactly one succeeds per name.
    const THREADS: usize = 4;
    const NAMES: usize = 50;
    let names: &'static [&'static str] = Vec::leak(
        (0..NAMES)
            .map(|i| &*std::string::String::leak(format!("b{i:02}")))
            .collect(),
    );
    let r = Arc::new(Registry::new());
    let won = Arc::new(AtomicUsize::new(0));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|_| {
            let (r, won, barrier) = (r.clone(), won.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                for name in names {
                    match r.register(breaker(name)) {
                        Ok(()) => {
                            won.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(RegistryError::Duplicate(n)) => assert_eq!(n, *name),
                        Err(e) => panic!("{e}"),
                    }
                    // Readers run alongside writers.
                    assert!(r.get(name).is_some());
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(won.load(Ordering::Relaxed), NAMES);
    assert_eq!(r.names().len(), NAMES);
}

#[test]
fn same_limit_name_same_limit_and_conflicts_are_refused() {
    let r = Registry::new();
    let mut made = 0;
    let a = r.limit("pool", 4, || {
        made += 1;
        7u32
    });
    let b = r.limit("pool", 4, || 8u32);
    assert_eq!((a, b, made), (Ok(7), Ok(7), 1));
    assert_eq!(
        r.limit("pool", 5, || 9u32),
        Err(ConfigError::new(
            "permits",
            crate::config::ConfigErrorKind::Conflict { name: "pool" }
        ))
    );
    // Another adapter's limit type under the same name is a conflict too.
    assert_eq!(
        r.limit("pool", 4, || 9u64),
        Err(ConfigError::new(
            "permits",
            crate::config::ConfigErrorKind::Conflict { name: "pool" }
        ))
    );
    assert_eq!(r.limit("other", 5, || 9u32), Ok(9));
    assert_eq!(r.limits(), [("pool", 4), ("other", 5)]);
}

#[test]
fn listeners_added_to_the_registry_hear_every_breaker_reporting_to_it() {
    static REGISTRY: Registry = Registry::new();
    #[derive(Default)]
    struct Count(AtomicUsize);
    impl Listener for Count {
        fn on_state_change(&self, _: &'static str, _: &Transition, _: &Stats) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
    let count = Arc::new(Count::default());
    let make = |name| {
        let config = Config::builder().name(name).build().unwrap();
        Arc::new(CircuitBreaker::with_clock_and_listener(
            &CLOCK, config, &REGISTRY,
        ))
    };
    let (x, y) = (make("x"), make("y"));
    REGISTRY.register(x.clone()).unwrap();
    REGISTRY.register(y.clone()).unwrap();
    let id = REGISTRY
        .listeners()
        .add_shared(count.clone() as Arc<dyn crate::listener::DynListener>);
    REGISTRY.control("x", Control::ForceOpen).unwrap();
    REGISTRY.control("y", Control::ForceOpen).unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), 2);
    assert!(REGISTRY.listeners().remove(id));
    REGISTRY.control("x", Control::ForceClosed).unwrap();
    assert_eq!(count.0.load(Ordering::Relaxed), 2);
}
