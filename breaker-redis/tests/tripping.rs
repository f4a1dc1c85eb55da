//! The call whose failure opens the shared breaker learns it: the call future and the timer
//! policy await a failure's answer from Redis (`Breaker::report_start`), bounded by the Redis
//! timeout; successes neither wait nor send anything.

mod common;

use core::time::Duration as StdDuration;
use std::sync::Arc;

use breaker_core::machine::Manual;
use breaker_core::timer::Policy;
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
