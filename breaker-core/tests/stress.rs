//! Many threads on one breaker, on real hardware: counts stay exact, trips happen once, and
//! half-open never lets more trials through than configured. Sized to run in a few seconds in a
//! debug build on two cores; the loom models (`tests/loom.rs`) cover the interleavings
//! exhaustively at a smaller scale.
#![cfg(not(loom))]

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::thread;

use breaker_core::{
    CircuitBreaker, Config, Duration, Listener, ManualClock, State, Stats, Transition,
};

const THREADS: usize = 8;
const FAILURES_PER_THREAD: usize = 50_000;

/// Counts state changes by kind.
#[derive(Default)]
struct Changes {
    closed_to_open: AtomicUsize,
    open_to_half_open: AtomicUsize,
    half_open_to_closed: AtomicUsize,
    half_open_to_open: AtomicUsize,
    other: AtomicUsize,
    rejected: AtomicUsize,
}

impl Listener for Changes {
    fn on_rejected(&self, _: &'static str, _: &breaker_core::Rejected) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
    }
    fn on_state_change(&self, _: &'static str, change: &Transition, _: &Stats) {
        let counter = match (change.from, change.to) {
            (State::Closed, State::Open) => &self.closed_to_open,
            (State::Open, State::HalfOpen) => &self.open_to_half_open,
            (State::HalfOpen, State::Closed) => &self.half_open_to_closed,
            (State::HalfOpen, State::Open) => &self.half_open_to_open,
            _ => &self.other,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

fn get(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::Relaxed)
}

/// Every thread reports only failures. Returns how many reports said they opened the breaker and
/// how many calls were refused.
fn hammer_with_failures<L: Listener + Sync>(
    b: &CircuitBreaker<&ManualClock, breaker_core::Config, L>,
) -> (usize, usize) {
    let opened = AtomicUsize::new(0);
    let rejected = AtomicUsize::new(0);
    let start = Barrier::new(THREADS);
    thread::scope(|s| {
        for _ in 0..THREADS {
            s.spawn(|| {
                start.wait();
                for _ in 0..FAILURES_PER_THREAD {
                    match b.try_acquire() {
                        Ok(permit) => {
                            if permit.failure() {
                                opened.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => {
                            rejected.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            });
        }
    });
    (get(&opened), get(&rejected))
}

/// (a) With a threshold above the total, every failure is counted: none lost to a racing
/// compare-and-swap.
#[test]
fn concurrent_failures_are_counted_exactly() {
    let clock = ManualClock::new();
    let total = (THREADS * FAILURES_PER_THREAD) as u32;
    let config = Config::builder()
        .failure_threshold(total + 1)
        .build()
        .unwrap();
    let changes = Changes::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    let (opened, rejected) = hammer_with_failures(&b);
    assert_eq!((opened, rejected), (0, 0));
    let stats = b.stats();
    assert_eq!(stats.state, State::Closed);
    assert_eq!(stats.consecutive_failures, total);
    assert_eq!(get(&changes.other) + get(&changes.closed_to_open), 0);
}

/// (a) The same while disabled: counted exactly, and never opened.
#[test]
fn concurrent_failures_are_counted_exactly_while_disabled() {
    let clock = ManualClock::new();
    let config = Config::builder().failure_threshold(3).build().unwrap();
    let b = CircuitBreaker::with_clock(&clock, config);
    b.disable();
    let (opened, rejected) = hammer_with_failures(&b);
    assert_eq!((opened, rejected), (0, 0));
    let stats = b.stats();
    assert_eq!(stats.state, State::Disabled);
    assert_eq!(
        stats.consecutive_failures,
        (THREADS * FAILURES_PER_THREAD) as u32
    );
}

/// (a) With a threshold inside the total, the breaker trips exactly once, at exactly the
/// threshold: failures admitted before the trip but reported after it are stale and not counted,
/// and every later call is refused.
#[test]
fn concurrent_failures_trip_exactly_once_at_the_threshold() {
    let clock = ManualClock::new();
    let threshold = (THREADS * FAILURES_PER_THREAD / 2) as u32;
    let config = Config::builder()
        .failure_threshold(threshold)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let changes = Changes::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);
    let (opened, rejected) = hammer_with_failures(&b);
    assert_eq!(opened, 1, "exactly one report opened the breaker");
    assert_eq!(get(&changes.closed_to_open), 1);
    assert_eq!(get(&changes.other), 0);
    let stats = b.stats();
    assert_eq!(stats.state, State::Open);
    assert_eq!(stats.consecutive_failures, threshold);
    assert_eq!(get(&changes.rejected), rejected, "every refusal heard once");
    assert!(
        rejected > 0 && rejected <= THREADS * FAILURES_PER_THREAD / 2,
        "{rejected}"
    );
    assert_eq!(stats.retry_after, Some(Duration::from_secs(60)));
}

/// (b) Many open → half-open → closed episodes, the clock moved by one driver thread while the
/// others call: closed calls fail (tripping the breaker), trials succeed or are cancelled. At no
/// moment are more trials of one half-open period in flight than the limit, and each closed
/// period trips exactly once.
///
/// The limit is per half-open period (generation): a trial still running when its period ends
/// (another trial's success closed the breaker) no longer holds a slot, so the trials of the next
/// period may overlap it. Counted across periods, more than the limit can be seen in flight;
/// `max_in_flight_overall` records that, and only the one-trial cases (where no trial can outlive
/// its period while another closes it) assert it.
fn episodes(trials: u16, success_threshold: u16) {
    const WORKERS: usize = 7;
    const EPISODES: usize = 5_000;
    let open_for = Duration::from_secs(5);
    let clock = ManualClock::new();
    let config = Config::builder()
        .failure_threshold(4)
        .open_for(open_for)
        .half_open_trials(trials)
        .success_threshold(success_threshold)
        // Trials are never given up: the driver moves the clock while trials run.
        .half_open_max_wait(Duration::MAX)
        .build()
        .unwrap();
    let changes = Changes::default();
    let b = CircuitBreaker::with_clock_and_listener(&clock, config, &changes);

    let stop = AtomicBool::new(false);
    // Trials in flight, per generation (fewer than 2^16 generations in this test), and overall.
    let in_flight: Vec<AtomicUsize> = (0..1 << 16).map(|_| AtomicUsize::new(0)).collect();
    let max_in_flight = AtomicUsize::new(0);
    let in_flight_overall = AtomicUsize::new(0);
    let max_in_flight_overall = AtomicUsize::new(0);
    let trial_count = AtomicUsize::new(0);
    let trips_reported = AtomicUsize::new(0);
    let calls = AtomicUsize::new(0);

    let wait_for = |counter: &AtomicUsize, at_least: usize| {
        while get(counter) < at_least {
            thread::yield_now();
        }
    };

    thread::scope(|s| {
        for w in 0..WORKERS {
            let (b, stop, in_flight, max_in_flight) = (&b, &stop, &in_flight, &max_in_flight);
            let (in_flight_overall, max_in_flight_overall) =
                (&in_flight_overall, &max_in_flight_overall);
            let (trial_count, trips_reported, calls) = (&trial_count, &trips_reported, &calls);
            s.spawn(move || {
                let mut n = 0usize;
                while !stop.load(Ordering::Relaxed) {
                    n += 1;
                    match b.try_acquire() {
                        Ok(permit) if permit.is_trial() => {
                            let g = permit.generation() as usize;
                            assert!(g < in_flight.len());
                            let now = in_flight[g].fetch_add(1, Ordering::SeqCst) + 1;
                            max_in_flight.fetch_max(now, Ordering::SeqCst);
                            let now = in_flight_overall.fetch_add(1, Ordering::SeqCst) + 1;
                            max_in_flight_overall.fetch_max(now, Ordering::SeqCst);
                            let k = trial_count.fetch_add(1, Ordering::Relaxed);
                            if (k + w) % 2 == 0 {
                                thread::yield_now(); // let others race for the slots
                            }
                            in_flight_overall.fetch_sub(1, Ordering::SeqCst);
                            in_flight[g].fetch_sub(1, Ordering::SeqCst);
                            if k % 5 == 4 {
                                drop(permit); // cancelled: the slot comes back
                            } else {
                                permit.success();
                            }
                        }
                        Ok(permit) => {
                            if permit.failure() {
                                trips_reported.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        Err(_) => thread::yield_now(),
                    }
                }
                calls.fetch_add(n, Ordering::Relaxed);
            });
        }
        // The driver: once the workers have tripped the breaker, let the open duration pass;
        // then wait for the trials to close it.
        for episode in 1..=EPISODES {
            wait_for(&changes.closed_to_open, episode);
            for _ in 0..4 {
                thread::yield_now(); // some calls are refused while open
            }
            clock.advance(open_for);
            wait_for(&changes.half_open_to_closed, episode);
        }
        stop.store(true, Ordering::Relaxed);
    });

    let max = get(&max_in_flight);
    assert!(
        max <= usize::from(trials),
        "{max} trials in flight, limit {trials}"
    );
    assert!(max >= 1);
    assert_eq!(get(&in_flight_overall), 0);
    if trials == 1 {
        assert_eq!(get(&max_in_flight_overall), 1);
    }
    let closed_to_open = get(&changes.closed_to_open);
    // The workers may have tripped the breaker once more after the last episode closed it.
    let ended_open = usize::from(b.state() == State::Open);
    assert_eq!(
        closed_to_open,
        EPISODES + ended_open,
        "one trip per closed period"
    );
    assert_eq!(get(&trips_reported), closed_to_open);
    assert_eq!(get(&changes.open_to_half_open), EPISODES);
    assert_eq!(get(&changes.half_open_to_closed), EPISODES);
    assert_eq!(get(&changes.half_open_to_open) + get(&changes.other), 0);
    assert!(get(&trial_count) >= EPISODES * usize::from(success_threshold));
    assert!(get(&calls) > EPISODES * 10);
}

#[test]
fn episodes_never_exceed_one_trial() {
    episodes(1, 1);
}

#[test]
fn episodes_never_exceed_two_trials() {
    episodes(2, 3);
}

#[test]
fn episodes_never_exceed_three_trials() {
    episodes(3, 2);
}
