//! Listeners of every process hear why the shared breaker changed, as the in-process breaker
//! says it: the script returns the core's reason, and publishes it with the change.

mod common;

use core::time::Duration as StdDuration;
use std::sync::Arc;

use breaker_core::machine::Manual;
use breaker_core::{Config, Duration, Handle, Reason, State, StdClock, Transition};
use breaker_redis::{Options, RedisBreaker};
use common::{eventually, leak, Count, RedisServer};

fn heard(c: &Count) -> Vec<Transition> {
    c.changes.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_process_hears_the_reason_of_a_shared_change() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let config = Config::builder()
        .name("why")
        .failure_threshold(3)
        .open_for(Duration::from_secs(60))
        .build()
        .unwrap();
    let opts = || {
        Options::new(server.url())
            .namespace("why")
            .poll_interval(StdDuration::from_secs(60))
    };
    let (ca, cb) = (leak(Count::default()), leak(Count::default()));
    let a = Arc::new(RedisBreaker::new(config, opts(), StdClock, ca).unwrap());
    let b = Arc::new(RedisBreaker::new(config, opts(), StdClock, cb).unwrap());
    assert!(a.wait_synced(StdDuration::from_secs(5)).await);
    assert!(b.wait_synced(StdDuration::from_secs(5)).await);
    // `b` fails three times: it trips the breaker (its reply says why), and `a` hears of it
    // through pub/sub (the message says why).
    for _ in 0..3 {
        let _ = Arc::clone(&b).call(|| Err::<(), _>("down"));
    }
    b.flush().await;
    let trip = Transition {
        from: State::Closed,
        to: State::Open,
        generation: 1,
        reason: Reason::ConsecutiveFailures {
            failures: 3,
            threshold: 3,
        },
    };
    assert!(eventually(StdDuration::from_secs(2), || heard(ca).len() == 1).await);
    assert_eq!(heard(cb), [trip]);
    assert_eq!(heard(ca), [trip]);
    // A manual change by `a`: both hear `Manual(Close)`.
    a.manual(Manual::Close).await.unwrap();
    assert!(eventually(StdDuration::from_secs(2), || heard(cb).len() == 2).await);
    for c in [ca, cb] {
        assert_eq!(
            heard(c)[1],
            Transition {
                from: State::Open,
                to: State::Closed,
                generation: 2,
                reason: Reason::Manual(Manual::Close),
            }
        );
    }
}
