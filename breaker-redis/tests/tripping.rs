//! The call whose failure opens the shared breaker learns it: the call future and the timer
//! policy await a failure's answer from Redis (`Breaker::report_start`), bounded by the Redis
//! timeout; successes neither wait nor send anything.

mod common;

use core::time::Duration as StdDuration;
use std::sync::Arc;

use breaker_core::machine::Manual;
use breaker_core::policy::Policy;
use breaker_core::{Config, Duration, Error, Handle, State};
use breaker_redis::{Options, RedisBreaker};
use common::RedisServer;

fn config(trip_error: bool) -> Config {
    Config::builder()
        .name("trip")
        .failure_threshold(3)
        .open_for(Duration::from_secs(60))
        .trip_error(trip_error)
        .build()
        .unwrap()
}

async fn down() -> Result<(), &'static str> {
    Err("down")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_that_trips_the_shared_breaker_gets_tripped() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let opts = Options::new(server.url()).namespace("trip");
    let b = Arc::new(RedisBreaker::new(config(true), opts, breaker_tokio::Tokio, ()).unwrap());
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    // Through the call future.
    for _ in 0..2 {
        assert_eq!(
            Arc::clone(&b).call_async(down()).await,
            Err(Error::Inner("down"))
        );
    }
    assert_eq!(
        Arc::clone(&b).call_async(down()).await,
        Err(Error::Tripped("down"))
    );
    assert_eq!(b.view().state, State::Open);
    // Through the timer policy.
    b.manual(Manual::Close).await.unwrap();
    let policy = Policy::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for _ in 0..2 {
        let r = Arc::clone(&b).call_with(&policy, down()).await;
        assert_eq!(r, Err(Error::Inner("down")));
    }
    let r = Arc::clone(&b).call_with(&policy, down()).await;
    assert_eq!(r, Err(Error::Tripped("down")));
    // Successes wait for nothing and send nothing.
    b.manual(Manual::Close).await.unwrap();
    let before = b.commands_sent();
    for _ in 0..100 {
        assert_eq!(
            Arc::clone(&b).call_async(async { Ok::<_, ()>(1) }).await,
            Ok(1)
        );
    }
    assert_eq!(b.commands_sent(), before);
    // The synchronous path cannot wait: its tripping call reports its own error.
    for _ in 0..3 {
        assert_eq!(
            Arc::clone(&b).call(|| Err::<(), _>("down")),
            Err(Error::Inner("down"))
        );
    }
    b.flush().await;
    assert_eq!(b.view().state, State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_trip_error_the_tripping_call_reports_its_own_error() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let opts = Options::new(server.url()).namespace("trip");
    let b = Arc::new(RedisBreaker::new(config(false), opts, breaker_tokio::Tokio, ()).unwrap());
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    for _ in 0..3 {
        assert_eq!(
            Arc::clone(&b).call_async(down()).await,
            Err(Error::Inner("down"))
        );
    }
    assert_eq!(b.view().state, State::Open);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_redis_bounds_the_wait_by_its_timeout() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let opts = Options::new(server.url())
        .namespace("trip")
        .redis_timeout(StdDuration::from_millis(100));
    let b = Arc::new(RedisBreaker::new(config(true), opts, breaker_tokio::Tokio, ()).unwrap());
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    server.signal("-STOP");
    let start = std::time::Instant::now();
    let r = Arc::clone(&b).call_async(down()).await;
    let waited = start.elapsed();
    server.signal("-CONT");
    // Its own error, after at most the Redis timeout (and some scheduling slack), not a hang.
    assert_eq!(r, Err(Error::Inner("down")));
    assert!(waited < StdDuration::from_secs(2), "waited {waited:?}");
}

mod admission {
    use super::*;
    use breaker_core::Breaker;
    use breaker_redis::Op;
    use futures_util::FutureExt;

    fn half_open_config() -> Config {
        Config::builder()
            .name("admit")
            .failure_threshold(1)
            .open_for(Duration::from_secs(60))
            .half_open_trials(1)
            .success_threshold(1)
            .build()
            .unwrap()
    }

    /// A view of a half-open shared breaker that holds no trial slot (the change came by
    /// `execute`, which reserves nothing).
    async fn half_open(server: &RedisServer, ns: &str) -> Arc<RedisBreaker<breaker_tokio::Tokio>> {
        let opts = Options::new(server.url()).namespace(ns);
        let b = Arc::new(
            RedisBreaker::new(half_open_config(), opts, breaker_tokio::Tokio, ()).unwrap(),
        );
        assert!(b.wait_synced(StdDuration::from_secs(5)).await);
        b.execute(Op::Manual(Manual::HalfOpen)).await.unwrap();
        assert_eq!(b.view().state, State::HalfOpen);
        assert_eq!(b.reserved_trials(), 0);
        b
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_first_caller_in_half_open_awaits_a_trial_slot_instead_of_a_refusal() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        // The call future.
        let b = half_open(&server, "admit1").await;
        assert_eq!(
            Arc::clone(&b).call_async(async { Ok::<_, ()>(1) }).await,
            Ok(1)
        );
        b.flush().await;
        assert_eq!(b.view().state, State::Closed, "the trial closed it");
        // The timer policy.
        b.execute(Op::Manual(Manual::HalfOpen)).await.unwrap();
        let policy = Policy::builder().build().unwrap();
        let r = Arc::clone(&b)
            .call_with(&policy, async { Ok::<_, ()>(2) })
            .await;
        assert_eq!(r, Ok(2));
        b.flush().await;
        assert_eq!(b.view().state, State::Closed);
        // The synchronous admission still cannot wait: refused once (it then reserves).
        b.execute(Op::Manual(Manual::HalfOpen)).await.unwrap();
        assert!(Breaker::admit(&*b).is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn awaited_admission_grants_no_more_trials_than_configured() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let b = half_open(&server, "admit2").await;
        let other = half_open(&server, "admit2").await;
        // One trial in flight (the first call holds it for 200 ms): the second process's
        // caller awaits Redis's answer, which is a refusal.
        let first = tokio::spawn({
            let b = Arc::clone(&b);
            async move {
                b.call_async(async {
                    tokio::time::sleep(StdDuration::from_millis(200)).await;
                    Ok::<_, ()>(1)
                })
                .await
            }
        });
        assert!(common::eventually(StdDuration::from_secs(2), || other.view().trials == 1).await);
        let second = Arc::clone(&other)
            .call_async(async { Ok::<_, ()>(2) })
            .await;
        assert!(matches!(second, Err(Error::Rejected(_))), "{second:?}");
        assert_eq!(first.await.unwrap(), Ok(1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_caller_that_goes_away_while_awaiting_gives_its_slot_back() {
        let Some(server) = RedisServer::start() else {
            return;
        };
        let b = half_open(&server, "admit3").await;
        // Polled once (the acquire is sent), then dropped before the answer.
        let gone = Arc::clone(&b)
            .call_async(async { Ok::<_, ()>(1) })
            .now_or_never();
        assert!(gone.is_none(), "the admission was awaited");
        b.flush().await;
        let r = b.execute(Op::Read).await.unwrap();
        assert_eq!(
            (r.machine.state, r.machine.trials),
            (State::HalfOpen, 0),
            "the slot granted to nobody went back"
        );
    }
}
