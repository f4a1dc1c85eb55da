//! Cluster-wide windows and the K-distinct-processes guard, against a real redis-server.

mod common;

use core::time::Duration as StdDuration;
use std::sync::Arc;

use breaker_core::machine::{Env, Fixed, Machine, Manual, Outcome, Report};
use breaker_core::window::{Sample, TimeWindow, Window};
use breaker_core::{machine, Breaker, Config, Duration, Handle, State, StdClock};
use breaker_redis::{Op, Options, RedisBreaker};
use common::{eventually, leak, Count, RedisServer};

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

const BUCKETS: usize = 4;

/// Random records (with slow flags, stale generations, ignored outcomes), manual changes and
/// time passing, applied to the core's pure machine with a `TimeWindow` fed exactly as
/// `CircuitBreaker` feeds it, and to the script's shared window: same machines and transitions
/// at every step, on the server's clock.
async fn window_differential(config: Config<TimeWindow<BUCKETS>>, seed: u64, steps: usize) {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let opts = Options::new(server.url()).namespace(format!("wdiff{seed}"));
    let b = RedisBreaker::new(config, opts, StdClock, ()).unwrap();
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    let s = config.settings();
    let window = <TimeWindow<BUCKETS> as Window>::NEW;
    let mut m = Machine::INITIAL;
    let mut rng = seed;
    let (mut transitions, mut window_trips) = (0, 0);
    for step in 0..steps {
        let r = xorshift(&mut rng);
        let op = match r % 16 {
            0..=2 => Op::Acquire,
            3..=11 => {
                let generation = match (r >> 8) % 8 {
                    0 => m.generation.wrapping_sub(1) & 0xFF_FFFF,
                    _ => m.generation,
                };
                let outcome = match (r >> 16) % 7 {
                    0..=2 => Outcome::Failure,
                    3..=5 => Outcome::Success,
                    _ => Outcome::Ignored,
                };
                let mut report = Report::new(generation, outcome);
                report.slow = (r >> 24) % 3 == 0;
                Op::Record(report)
            }
            12 => {
                Op::Manual([Manual::Close, Manual::Open, Manual::Disable][((r >> 8) % 3) as usize])
            }
            13 => Op::Advance,
            _ => {
                tokio::time::sleep(StdDuration::from_millis((r >> 8) % 15)).await;
                continue;
            }
        };
        let reply = b
            .execute(op)
            .await
            .unwrap_or_else(|e| panic!("step {step}: {e}"));
        let mut env = Fixed {
            now: reply.now,
            random: 0,
        };
        let st = match op {
            Op::Acquire => {
                let st = m.acquire(s, &mut env);
                machine::Step {
                    next: st.next,
                    transition: st.transition,
                    value: (),
                }
            }
            Op::Record(mut rep) => {
                // As CircuitBreaker::finish_slow: the window counts outcomes of the live
                // generation while closed or disabled, and its verdict goes with the report.
                if rep.outcome != Outcome::Ignored
                    && rep.generation == m.generation
                    && m.admits_without_clock()
                {
                    let sample = Sample {
                        failure: rep.outcome == Outcome::Failure,
                        slow: rep.slow,
                    };
                    let counts = window.record(env.now(), s.bucket_micros(), sample);
                    rep.window_trips = machine::window_trips(counts, s);
                }
                let st = m.record(rep, s, &mut env);
                if rep.window_trips && st.transition.is_some() {
                    window_trips += 1;
                }
                st
            }
            Op::Manual(a) => m.manual(a, s, &mut env),
            Op::Advance => m.advance(s, &mut env),
            _ => unreachable!(),
        };
        if let Some(t) = st.transition {
            // As CircuitBreaker::publish: every closed period starts with an empty window.
            if t.to == State::Closed {
                window.reset();
            }
        }
        assert!(!reply.corrupt, "step {step}: {op:?} {reply:?}");
        assert_eq!(
            reply.machine, st.next,
            "step {step}: {op:?} at {:?}",
            reply.now
        );
        // The script does not report reasons yet (the core's `Reason`): compare the change.
        let change = |t: Option<breaker_core::Transition>| t.map(|t| (t.from, t.to, t.generation));
        assert_eq!(
            change(reply.transition()),
            change(st.transition),
            "step {step}: {op:?}"
        );
        transitions += usize::from(st.transition.is_some());
        m = st.next;
    }
    assert!(transitions >= 10, "only {transitions} transitions");
    assert!(
        window_trips >= 3,
        "the window opened the breaker only {window_trips} times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_time_window_mirrors_the_core() {
    let config = Config::builder()
        .name("wdiff")
        .no_failure_threshold()
        .time_window::<BUCKETS>(Duration::from_millis(10))
        .failure_rate(0.5)
        .slow_calls(Duration::from_millis(1), 0.8)
        .minimum_calls(4)
        .open_for(Duration::from_millis(20))
        .half_open_trials(2)
        .success_threshold(1)
        .build()
        .unwrap();
    window_differential(config, 0x5DEE_CE66_D1CE_4E5B, 700).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_window_with_consecutive_threshold_mirrors_the_core() {
    let config = Config::builder()
        .name("wdiff2")
        .failure_threshold(3)
        .time_window::<BUCKETS>(Duration::from_millis(7))
        .failure_rate(0.6)
        .minimum_calls(5)
        .open_for(Duration::from_millis(15))
        .half_open_max_wait(Duration::from_millis(30))
        .build()
        .unwrap();
    window_differential(config, 0x0123_4567_89AB_CDEF, 2000).await;
}

fn rate_config() -> Config<TimeWindow<10>> {
    Config::builder()
        .name("rate")
        .no_failure_threshold()
        .time_window::<10>(Duration::from_secs(1))
        .failure_rate(0.5)
        .minimum_calls(20)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failure_rate_is_cluster_wide_and_successes_are_batched() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    let opts = |ns: &str| {
        Options::new(server.url())
            .namespace(ns)
            .poll_interval(StdDuration::from_secs(60))
            .window_flush(StdDuration::from_millis(50))
    };
    // Two processes' views: `a` only succeeds, `c` only fails; neither alone reaches the
    // minimum of 20 calls, together they do, at a 50 % failure rate.
    let a = Arc::new(RedisBreaker::new(rate_config(), opts("rate"), StdClock, count).unwrap());
    let c = Arc::new(RedisBreaker::new(rate_config(), opts("rate"), StdClock, count).unwrap());
    assert!(a.wait_synced(StdDuration::from_secs(5)).await);
    assert!(c.wait_synced(StdDuration::from_secs(5)).await);
    let before = a.commands_sent();
    for _ in 0..10 {
        Arc::clone(&a).try_acquire().unwrap().success();
    }
    // Ten successes: batched into one window command (or two, if a flush fell in between).
    tokio::time::sleep(StdDuration::from_millis(150)).await;
    let sent = a.commands_sent() - before;
    assert!((1..=2).contains(&sent), "{sent} commands for 10 successes");
    assert_eq!(a.view().state, State::Closed);
    for _ in 0..9 {
        Arc::clone(&c).try_acquire().unwrap().failure();
    }
    tokio::time::sleep(StdDuration::from_millis(100)).await;
    assert_eq!(c.view().state, State::Closed, "19 calls: below the minimum");
    Arc::clone(&c).try_acquire().unwrap().failure();
    assert!(eventually(StdDuration::from_secs(2), || a.view().state == State::Open).await);
    assert_eq!(a.view().generation, 1);
    assert!(Breaker::admit(&*a).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trip_needs_failures_from_k_distinct_processes() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let count = leak(Count::default());
    let config = Config::builder()
        .name("k")
        .failure_threshold(3)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let opts = |id: &str| {
        Options::new(server.url())
            .namespace("k")
            .min_failing_processes(2)
            .process_id(id)
    };
    let bad = RedisBreaker::new(config, opts("bad"), StdClock, count).unwrap();
    let good = RedisBreaker::new(config, opts("good"), StdClock, count).unwrap();
    assert!(bad.wait_synced(StdDuration::from_secs(5)).await);
    assert!(good.wait_synced(StdDuration::from_secs(5)).await);
    // One bad instance alone: it counts past the threshold, and the breaker stays closed.
    for i in 1..=10 {
        let r = bad
            .execute(Op::Record(Report::new(0, Outcome::Failure)))
            .await
            .unwrap();
        assert_eq!((r.machine.state, r.machine.failures), (State::Closed, i));
    }
    // A failure from a second process: now two distinct processes, and the count is past the
    // threshold: it trips, once.
    let r = good
        .execute(Op::Record(Report::new(0, Outcome::Failure)))
        .await
        .unwrap();
    assert_eq!((r.machine.state, r.machine.generation), (State::Open, 1));
    // A new closed period starts the guard afresh: the bad instance alone cannot trip it again.
    good.manual(Manual::Close).await.unwrap();
    for _ in 0..5 {
        let r = bad
            .execute(Op::Record(Report::new(2, Outcome::Failure)))
            .await
            .unwrap();
        assert_eq!(r.machine.state, State::Closed);
    }
    // The set of processes lives under the breaker's hash tag (one cluster slot).
    assert!(bad.store().procs_key().starts_with("{k:k}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn count_windows_are_refused_with_a_typed_error() {
    let config = Config::builder()
        .count_window::<10>()
        .failure_rate(0.5)
        .build()
        .unwrap();
    let r = RedisBreaker::new(config, Options::new("redis://127.0.0.1:1/0"), StdClock, ());
    assert!(matches!(r, Err(breaker_redis::BuildError::Unsupported(_))));
}
