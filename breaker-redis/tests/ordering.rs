//! One process's reports reach Redis in the order they were made, and none that changes the
//! count is skipped: bursts of outcomes reported back to back (no await between them, so the
//! view cannot have learnt of the earlier ones) leave the shared machine where the core's
//! consecutive-failures rule leaves it. Trial slots are reserved only by a process that wants
//! them, and never more than configured across processes.

mod common;

use core::time::Duration as StdDuration;
use std::sync::Arc;

use breaker_core::machine::Manual;
use breaker_core::{Config, Duration, Handle, State, StdClock};
use breaker_redis::{Op, Options, RedisBreaker};
use common::{eventually, RedisServer};

async fn breaker(url: &str, ns: &str, config: Config) -> Arc<RedisBreaker<StdClock>> {
    let opts = Options::new(url).namespace(ns);
    let b = Arc::new(RedisBreaker::new(config, opts, StdClock, ()).unwrap());
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    b
}

fn xorshift(x: &mut u64) -> u64 {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    *x
}

/// The conformance suite's finding: with threshold 3, fail, fail, success, fail must leave one
/// failure counted (the success resets the count), even though the success is reported before
/// any failure's reply is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_right_after_failures_resets_the_count() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = Config::builder()
        .failure_threshold(3)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let b = breaker(&server.url(), "reset", config).await;
    let before = b.commands_sent();
    Arc::clone(&b).try_acquire().unwrap().failure();
    Arc::clone(&b).try_acquire().unwrap().failure();
    Arc::clone(&b).try_acquire().unwrap().success();
    Arc::clone(&b).try_acquire().unwrap().failure();
    b.flush().await;
    let r = b.execute(Op::Read).await.unwrap();
    assert_eq!((r.machine.state, r.machine.failures), (State::Closed, 1));
    // A burst of successes after that failure: the first one resets the count; the others
    // find the count at zero when their turn comes and are dropped without a command.
    let sent = b.commands_sent();
    for _ in 0..100 {
        Arc::clone(&b).try_acquire().unwrap().success();
    }
    b.flush().await;
    assert_eq!(b.view().failures, 0);
    // 4 reports + 1 read above, 1 success here, and at most a few polls.
    assert!(
        b.commands_sent() - sent <= 1 + 2,
        "{}",
        b.commands_sent() - sent
    );
    assert!(sent - before <= 5 + 2, "{}", sent - before);
}

/// Random bursts of successes and failures from several tasks of one process, with a flush
/// between bursts: the shared count is the core's (trailing failures, or one trip at the
/// threshold), whatever the driver's scheduling.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bursts_of_reports_are_applied_in_order() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    const THRESHOLD: u32 = 6;
    let config = Config::builder()
        .failure_threshold(THRESHOLD)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut rng = 0x9E37_79B9_7F4A_7C15_u64;
    for case in 0..40 {
        let b = breaker(&server.url(), &format!("order{case}"), config).await;
        // The model: the core's consecutive-failures rule.
        let (mut count, mut tripped) = (0, false);
        for _burst in 0..4 {
            let len = xorshift(&mut rng) % 8 + 1;
            for _ in 0..len {
                // Mostly failures, so that some cases trip and some end between trips.
                let fail = xorshift(&mut rng) % 5 < 3;
                let Ok(permit) = Arc::clone(&b).try_acquire() else {
                    // The view learnt of the trip: the core would refuse too.
                    assert!(tripped, "case {case}: refused while the model is closed");
                    continue;
                };
                if fail {
                    permit.failure();
                } else {
                    permit.success();
                }
                if !tripped {
                    count = if fail { count + 1 } else { 0 };
                    tripped = count == THRESHOLD;
                }
            }
            // Sometimes let replies land in the middle of the case.
            if xorshift(&mut rng) % 2 == 0 {
                b.flush().await;
            }
        }
        b.flush().await;
        let m = b.execute(Op::Read).await.unwrap().machine;
        if tripped {
            assert_eq!(
                (m.state, m.failures, m.generation),
                (State::Open, THRESHOLD, 1),
                "case {case}"
            );
        } else {
            assert_eq!(
                (m.state, m.failures, m.generation),
                (State::Closed, count, 0),
                "case {case}"
            );
        }
    }
}

/// At the end of the open duration only the process that wants trials (its calls failed)
/// reserves the slots, and an idle one holds none; slots nobody claims go back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_process_with_callers_reserves_trial_slots() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(Duration::from_millis(100))
        .half_open_trials(2)
        .half_open_max_wait(Duration::from_secs(60))
        .build()
        .unwrap();
    let opts = |ns: &str| {
        Options::new(server.url())
            .namespace(ns)
            .trial_claim(StdDuration::from_millis(300))
    };
    let busy = Arc::new(RedisBreaker::new(config, opts("reserve"), StdClock, ()).unwrap());
    let idle = Arc::new(RedisBreaker::new(config, opts("reserve"), StdClock, ()).unwrap());
    assert!(busy.wait_synced(StdDuration::from_secs(5)).await);
    assert!(idle.wait_synced(StdDuration::from_secs(5)).await);
    Arc::clone(&busy).try_acquire().unwrap().failure();
    busy.flush().await;
    assert!(
        eventually(StdDuration::from_secs(2), || idle.view().state
            == State::Open)
        .await
    );
    // After the open duration: the busy process holds both slots, the idle one none.
    assert!(eventually(StdDuration::from_secs(2), || busy.reserved_trials() == 2).await);
    let r = busy.execute(Op::Read).await.unwrap();
    assert_eq!((r.machine.state, r.machine.trials), (State::HalfOpen, 2));
    assert_eq!(idle.reserved_trials(), 0);
    let trial = Arc::clone(&busy).try_acquire().unwrap();
    assert!(trial.is_trial());
    // The other slot is not claimed: it goes back after the claim time.
    assert!(eventually(StdDuration::from_secs(2), || busy.reserved_trials() == 0).await);
    busy.flush().await;
    let r = busy.execute(Op::Read).await.unwrap();
    assert_eq!((r.machine.state, r.machine.trials), (State::HalfOpen, 1));
    drop(trial); // cancelled: its slot goes back too
    busy.flush().await;
    let r = busy.execute(Op::Read).await.unwrap();
    assert_eq!((r.machine.state, r.machine.trials), (State::HalfOpen, 0));
    // A manual half-open by the idle process reserves for it (it is about to probe).
    idle.manual(Manual::Close).await.unwrap();
    idle.manual(Manual::HalfOpen).await.unwrap();
    assert_eq!(idle.reserved_trials(), 2);
    assert!(Arc::clone(&idle).try_acquire().unwrap().is_trial());
}
