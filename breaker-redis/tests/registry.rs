//! A shared breaker is listed and controlled in the core's registry like the in-process ones.

mod common;

use core::time::Duration as StdDuration;
use std::sync::Arc;

use breaker_core::registry::{Control, Registry};
use breaker_core::{CircuitBreaker, Config, State, StdClock};
use breaker_redis::{Options, RedisBreaker};
use common::{eventually, RedisServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_breaker_is_managed_by_the_registry() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let registry = Registry::new();
    let shared = Arc::new(
        RedisBreaker::new(
            Config::builder().name("shared").build().unwrap(),
            Options::new(server.url()).namespace("reg"),
            StdClock,
            (),
        )
        .unwrap(),
    );
    // Another process's view of the same breaker.
    let other = RedisBreaker::new(
        Config::builder().name("shared").build().unwrap(),
        Options::new(server.url()).namespace("reg"),
        StdClock,
        (),
    )
    .unwrap();
    let local = Arc::new(CircuitBreaker::<StdClock>::new(
        Config::builder().name("local").build().unwrap(),
    ));
    assert!(shared.wait_synced(StdDuration::from_secs(5)).await);
    assert!(other.wait_synced(StdDuration::from_secs(5)).await);
    registry.register(shared.clone()).unwrap();
    registry.register(local.clone()).unwrap();
    assert_eq!(registry.in_state(State::Closed).len(), 2);
    // Forced open by name: the change goes to Redis, and every view follows.
    registry.control("shared", Control::ForceOpen).unwrap();
    shared.flush().await;
    assert_eq!(shared.view().state, State::ForcedOpen);
    assert!(
        eventually(StdDuration::from_secs(2), || other.view().state
            == State::ForcedOpen)
        .await
    );
    let open = registry.in_state(State::ForcedOpen);
    assert_eq!(open.len(), 1);
    assert_eq!(open[0].name, "shared");
    registry.control("shared", Control::Reset).unwrap();
    shared.flush().await;
    assert_eq!(shared.view().state, State::Closed);
    assert_eq!(shared.view().generation, 2);
}
