//! async-std-specific checks: calls under a policy are `Send` futures that run on async-std's
//! threads, and a static breaker and a named limit are shared by them. (Behaviour shared with
//! the other runtimes is checked by the conformance suite in `tests/`.)

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration as StdDuration;

use breaker_async_std::{CircuitBreaker, Config, Duration, Error, Limit, Policy, State};

static BREAKER: CircuitBreaker = CircuitBreaker::new(Config::default_config());

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn spawned_calls_share_a_static_breaker_and_a_named_limit() {
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    let limit = Limit::named("async-std-test-pool", 2).unwrap();
    let policy = Policy::builder()
        .timeout(Duration::from_secs(5))
        .limit_wait(Duration::MAX)
        .build()
        .unwrap()
        .limit(limit.clone());
    async_std::task::block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let policy = policy.clone();
                async_std::task::spawn(assert_send(async move {
                    let call = async {
                        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
                        PEAK.fetch_max(now, Ordering::SeqCst);
                        async_std::task::sleep(StdDuration::from_millis(2)).await;
                        IN_FLIGHT.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    };
                    BREAKER.call_with(&policy, call).await
                }))
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await, Ok(()));
        }
    });
    assert_eq!(PEAK.load(Ordering::SeqCst), 2);
    assert_eq!(limit.available(), 2);
    assert_eq!(BREAKER.state(), State::Closed);
}

#[test]
fn a_short_real_timeout_counts_as_a_failure() {
    let breaker = CircuitBreaker::new(Config::builder().failure_threshold(1).build().unwrap());
    let policy = Policy::builder()
        .timeout(Duration::from_millis(10))
        .build()
        .unwrap();
    let slow = async {
        async_std::task::sleep(StdDuration::from_secs(5)).await;
        Ok::<_, ()>(())
    };
    let start = std::time::Instant::now();
    let r = async_std::task::block_on(breaker.call_with(&policy, slow));
    assert_eq!(
        r,
        Err(Error::Timeout {
            after: Duration::from_millis(10)
        })
    );
    assert!(start.elapsed() < StdDuration::from_secs(1));
    assert_eq!(breaker.state(), State::Open);
}
