//! Owned use: a breaker built at run time and shared through an `Arc` hands out `'static`
//! permits, futures and protected functions, so they can be spawned on a multi-thread runtime
//! and kept in a server's state (what an axum `State` requires: `Clone + Send + Sync + 'static`).

use std::sync::Arc;

use breaker_tokio::{CircuitBreaker, Config, Duration, Error, Handle, Policy, State};

/// What an axum `State` (or any shared server state) needs.
fn assert_state<S: Clone + Send + Sync + 'static>(s: S) -> S {
    s
}

fn assert_spawnable<F: core::future::Future + Send + 'static>(f: F) -> F {
    f
}

#[derive(Debug)]
struct Down;

async fn fetch(id: u32) -> Result<u32, Down> {
    if id == 0 {
        Err(Down)
    } else {
        Ok(id * 2)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_arc_breaker_gives_static_protected_functions_for_spawned_tasks_and_server_state() {
    // Built at run time (a threshold read from somewhere), no `static`, no `Box::leak`.
    let threshold = std::env::var("NO_SUCH_VARIABLE").map_or(2, |v| v.parse().unwrap_or(2));
    let config = Config::builder()
        .failure_threshold(threshold)
        .open_for(Duration::from_secs(30))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::new(config));

    // A protected function that owns its breaker handle: `'static + Send + Sync + Clone`.
    let policy = Policy::builder()
        .timeout(Duration::from_secs(1))
        .build()
        .unwrap();
    let protected = Arc::clone(&breaker).protect(policy, fetch);

    #[derive(Clone)]
    struct AppState<P> {
        fetch: P,
    }
    let state = assert_state(AppState { fetch: protected });

    // Spawned on the multi-thread runtime: each task owns a clone.
    let tasks: Vec<_> = (1..=8)
        .map(|id| {
            let state = state.clone();
            tokio::spawn(assert_spawnable(async move { state.fetch.call(id).await }))
        })
        .collect();
    for (id, t) in (1..=8).zip(tasks) {
        assert_eq!(t.await.unwrap().unwrap(), id * 2);
    }

    // Owned permits and call futures move across tasks too.
    let permit = Arc::clone(&breaker).try_acquire().unwrap();
    tokio::spawn(async move { permit.failure() }).await.unwrap();
    let call = Arc::clone(&breaker).call_async(fetch(0));
    let r = tokio::spawn(assert_spawnable(call)).await.unwrap();
    assert!(matches!(r, Err(Error::Tripped(Down))), "{r:?}");
    assert_eq!(breaker.state(), State::Open);
    let refused = state.fetch.call(5).await;
    assert!(matches!(refused, Err(Error::Rejected(_))), "{refused:?}");
}
