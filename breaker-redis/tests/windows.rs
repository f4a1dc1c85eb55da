//! Cluster-wide windows and the K-distinct-processes guard, against a real redis-server.

mod common;

use core::time::Duration as StdDuration;
use std::sync::Arc;

use breaker_core::machine::{Env, Fixed, Machine, Manual, Outcome, Report};
use breaker_core::window::{Sample, TimeWindow, Window};
use breaker_core::{machine, Breaker, Config, Duration, Handle, Reason, State, StdClock};
use breaker_redis::{Op, Options, RedisBreaker};
use common::{eventually, leak, Count, RedisServer};

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

const BUCKETS: usize = 4;

/// A shared count window's counts as the ring's slots hold them, checked against the totals
/// the script keeps beside them (`cc cf cs`) and the ring's bounds.
async fn ring_counts<W: Window>(
    con: &mut redis::aio::MultiplexedConnection,
    b: &RedisBreaker<StdClock, (), W>,
    size: u32,
) -> (u32, u32, u32) {
    let (cc, cf, cs, cp): (Option<u32>, Option<u32>, Option<u32>, Option<u32>) =
        redis::cmd("HMGET")
            .arg(b.store().key())
            .arg(&["cc", "cf", "cs", "cp"])
            .query_async(con)
            .await
            .unwrap();
    let ring: Vec<u8> = redis::cmd("GET")
        .arg(b.store().ring_key())
        .query_async::<Option<Vec<u8>>>(con)
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(ring.len() <= size as usize, "ring of {} bytes", ring.len());
    assert!(cp.unwrap_or(0) < size);
    let mut counted = (0, 0, 0);
    for &slot in &ring {
        assert!(slot == 0 || (4..=7).contains(&slot), "slot byte {slot}");
        counted.0 += u32::from(slot >= 4);
        counted.1 += u32::from(slot & 1);
        counted.2 += u32::from((slot >> 1) & 1);
    }
    let totals = (cc.unwrap_or(0), cf.unwrap_or(0), cs.unwrap_or(0));
    assert_eq!(counted, totals, "the totals are what the slots hold");
    counted
}

/// Feeds one outcome to the model as `CircuitBreaker::finish_slow` does: the window counts
/// outcomes of the live generation while closed or disabled, and its verdict and counts go with
/// the report. Returns the step; every closed period starts with an empty window
/// (`CircuitBreaker::publish`).
fn model_record<W: Window>(
    m: Machine,
    window: &W,
    mut rep: Report,
    s: &breaker_core::Settings,
    env: &mut Fixed,
) -> machine::Step {
    if rep.outcome != Outcome::Ignored && rep.generation == m.generation && m.admits_without_clock()
    {
        let sample = Sample {
            failure: rep.outcome == Outcome::Failure,
            slow: rep.slow,
        };
        let counts = window.record_for(s, env.now(), sample);
        rep.window_trips = machine::window_trips(counts, s);
        rep.window = counts;
    }
    m.record(rep, s, env)
}

/// Random records (with slow flags, stale generations, ignored outcomes), manual changes and
/// time passing, applied to the core's pure machine with a window `W` fed exactly as
/// `CircuitBreaker` feeds it, and to the script's shared window: same machines and transitions
/// (reasons and their numbers included) at every step, on the server's clock. With `batches`,
/// also batched successes (`Op::Window`), modelled as the script states it applies them: the
/// plain successes, then the slow ones, each recorded as one call, the first trip ending the
/// batch.
async fn window_differential<W: Window + Send + 'static>(
    config: Config<W>,
    seed: u64,
    steps: usize,
    batches: bool,
) {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let opts = Options::new(server.url()).namespace(format!("wdiff{seed}"));
    let b = RedisBreaker::new(config, opts, StdClock, ()).unwrap();
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    let mut con = server
        .client()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let s = config.settings();
    let window = <W as Window>::NEW;
    let mut m = Machine::INITIAL;
    let mut rng = seed;
    let (mut transitions, mut window_trips, mut batch_trips) = (0, 0, 0);
    for step in 0..steps {
        let r = xorshift(&mut rng);
        let op = match r % 16 {
            15 if batches => {
                let calls = ((r >> 8) % 40) as u32;
                let slow = ((r >> 16) % 8) as u32;
                Op::Window {
                    generation: if (r >> 24) % 8 == 0 {
                        m.generation.wrapping_sub(1) & 0xFF_FFFF
                    } else {
                        m.generation
                    },
                    calls,
                    slow: slow.min(calls),
                }
            }
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
            Op::Record(rep) => {
                let st = model_record(m, &window, rep, s, &mut env);
                if matches!(
                    st.transition.map(|t| t.reason),
                    Some(Reason::FailureRate { .. } | Reason::SlowCallRate { .. })
                ) {
                    window_trips += 1;
                }
                st
            }
            Op::Window {
                generation,
                calls,
                slow,
            } => {
                // The plain successes, then the slow ones, one record each, until one trips.
                // Only successes of the live generation while closed or disabled are batched
                // (the others are reported one by one): the script drops any other batch.
                let mut st = machine::Step {
                    next: m,
                    transition: None,
                    value: (),
                };
                let live = generation == m.generation && m.admits_without_clock();
                for i in (0..calls).filter(|_| live) {
                    let mut rep = Report::new(generation, Outcome::Success);
                    rep.slow = i >= calls - slow;
                    st = model_record(m, &window, rep, s, &mut env);
                    if st.transition.is_some() {
                        batch_trips += 1;
                        break;
                    }
                    m = st.next;
                }
                st
            }
            Op::Manual(a) => m.manual(a, s, &mut env),
            Op::Advance => m.advance(s, &mut env),
            Op::Read => unreachable!(),
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
        // The whole change: with the window's counts and rates when the window tripped it.
        assert_eq!(reply.transition(), st.transition, "step {step}: {op:?}");
        if let breaker_core::window::WindowKind::Count { size } = W::KIND {
            // The ring in Redis: its totals are what its slots hold, and what the core's
            // window holds after the same outcomes.
            let (calls, failures, slow) = ring_counts(&mut con, &b, size).await;
            let core = window.counts(reply.now, s.bucket_micros());
            assert_eq!(
                (calls, failures, slow),
                (core.calls, core.failures, core.slow),
                "step {step}: {op:?}"
            );
        }
        transitions += usize::from(st.transition.is_some());
        m = st.next;
    }
    assert!(transitions >= 10, "only {transitions} transitions");
    assert!(
        window_trips >= 3,
        "the window opened the breaker only {window_trips} times"
    );
    if batches {
        assert!(batch_trips >= 1, "no batch opened the breaker");
    }
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
    window_differential(config, 0x5DEE_CE66_D1CE_4E5B, 700, false).await;
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
    window_differential(config, 0x0123_4567_89AB_CDEF, 2000, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_count_window_mirrors_the_core() {
    // A small ring (7 slots), so outcomes wrap round it many times; the failure-rate and
    // slow-call rules both on; batches of successes (some slow, some stale) in between.
    let config = Config::builder()
        .name("cdiff")
        .no_failure_threshold()
        .count_window::<7>()
        .failure_rate(0.5)
        .slow_calls(Duration::from_millis(1), 0.6)
        .minimum_calls(5)
        .open_for(Duration::from_millis(20))
        .half_open_trials(2)
        .success_threshold(1)
        .build()
        .unwrap();
    window_differential(config, 0x2545_F491_4F6C_DD1D, 1500, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_count_window_with_consecutive_threshold_mirrors_the_core() {
    let config = Config::builder()
        .name("cdiff2")
        .failure_threshold(5)
        .count_window::<12>()
        .failure_rate(0.4)
        .minimum_calls(10)
        .open_for(Duration::from_millis(15))
        .half_open_max_wait(Duration::from_millis(30))
        .build()
        .unwrap();
    window_differential(config, 0x9E37_79B9_7F4A_7C15, 2000, true).await;
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
async fn count_window_is_cluster_wide_and_successes_are_batched() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = Config::builder()
        .name("crate")
        .no_failure_threshold()
        .count_window::<20>()
        .failure_rate(0.5)
        .minimum_calls(20)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let count = leak(Count::default());
    let opts = || {
        Options::new(server.url())
            .namespace("crate")
            .poll_interval(StdDuration::from_secs(60))
            .window_flush(StdDuration::from_millis(50))
    };
    // Two processes' views: `a` only succeeds, `c` only fails; the last 20 outcomes of the
    // fleet are 10 and 10: a 50 % failure rate over the minimum of 20 calls.
    let a = Arc::new(RedisBreaker::new(config, opts(), StdClock, count).unwrap());
    let c = Arc::new(RedisBreaker::new(config, opts(), StdClock, count).unwrap());
    assert!(a.wait_synced(StdDuration::from_secs(5)).await);
    assert!(c.wait_synced(StdDuration::from_secs(5)).await);
    let before = a.commands_sent();
    for _ in 0..10 {
        Arc::clone(&a).try_acquire().unwrap().success();
    }
    tokio::time::sleep(StdDuration::from_millis(150)).await;
    let sent = a.commands_sent() - before;
    assert!((1..=2).contains(&sent), "{sent} commands for 10 successes");
    for _ in 0..9 {
        Arc::clone(&c).try_acquire().unwrap().failure();
    }
    c.flush().await;
    assert_eq!(c.view().state, State::Closed, "19 calls: below the minimum");
    // The ring and its totals live under the breaker's hash tag (one cluster slot).
    assert!(a.store().ring_key().starts_with("{crate:crate}"));
    let r = c.execute(Op::Read).await.unwrap();
    assert_eq!(r.machine.failures, 9);
    Arc::clone(&c).try_acquire().unwrap().failure();
    assert!(eventually(StdDuration::from_secs(2), || a.view().state == State::Open).await);
    assert_eq!(a.view().generation, 1);
    assert!(Breaker::admit(&*a).is_err());
    // Closing empties the shared window: 19 more failures are below the minimum again.
    a.manual(Manual::Close).await.unwrap();
    for _ in 0..19 {
        let r = c
            .execute(Op::Record(Report::new(2, Outcome::Failure)))
            .await
            .unwrap();
        assert_eq!(r.machine.state, State::Closed);
    }
    let r = c
        .execute(Op::Record(Report::new(2, Outcome::Failure)))
        .await
        .unwrap();
    assert_eq!(r.machine.state, State::Open);
    match r.transition().map(|t| t.reason) {
        Some(Reason::FailureRate {
            window,
            rate_ppm: 1_000_000,
            threshold_ppm: 500_000,
        }) => assert_eq!((window.calls, window.failures), (20, 20)),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_count_window_holds_the_last_n_outcomes_of_the_fleet() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = Config::builder()
        .name("ring")
        .no_failure_threshold()
        .count_window::<4>()
        .failure_rate(0.75)
        .minimum_calls(4)
        .build()
        .unwrap();
    let b = RedisBreaker::new(
        config,
        Options::new(server.url()).namespace("ring"),
        StdClock,
        (),
    )
    .unwrap();
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    let rec = |o| Op::Record(Report::new(0, o));
    // The window slides: the oldest outcome leaves it as each new one comes in.
    for (i, o) in [
        Outcome::Success,
        Outcome::Failure,
        Outcome::Failure,
        Outcome::Success, // window S F F S: 2/4
        Outcome::Success, // F F S S: 2/4
        Outcome::Failure, // F S S F: 2/4
    ]
    .into_iter()
    .enumerate()
    {
        let r = b.execute(rec(o)).await.unwrap();
        assert_eq!(r.machine.state, State::Closed, "outcome {i}");
    }
    // S S F F: 2/4; then S F F F: 3/4 -> trips.
    let r = b.execute(rec(Outcome::Failure)).await.unwrap();
    assert_eq!(r.machine.state, State::Closed);
    let r = b.execute(rec(Outcome::Failure)).await.unwrap();
    assert_eq!(r.machine.state, State::Open);
    // A batch of 10^6 successes costs O(N) in the script, not O(calls): it answers at once.
    b.manual(Manual::Close).await.unwrap();
    let r = b
        .execute(Op::Window {
            generation: 2,
            calls: 1_000_000,
            slow: 0,
        })
        .await
        .unwrap();
    assert_eq!(r.machine.state, State::Closed);
    // The ring key, corrupted by another program, is detected and the window restarts.
    let client = redis::Client::open(server.url()).unwrap();
    let mut con = client.get_multiplexed_async_connection().await.unwrap();
    let _: () = redis::cmd("SET")
        .arg(b.store().ring_key())
        .arg("xxxx")
        .query_async(&mut con)
        .await
        .unwrap();
    let r = b
        .execute(Op::Record(Report::new(2, Outcome::Failure)))
        .await
        .unwrap();
    assert!(r.corrupt);
    assert_eq!(r.machine.state, State::Closed);
}
