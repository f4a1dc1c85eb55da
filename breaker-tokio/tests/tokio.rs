//! tokio-specific behaviour: paused time drives the breaker, futures are `Send` and run on the
//! multi-threaded runtime, panics are not swallowed, named limits are shared.

use core::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use breaker_tokio::{CircuitBreaker, Config, Duration, Error, Limit, Policy, State};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn config(threshold: u32, open: Duration) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .open_for(open)
        .build()
        .unwrap()
}

async fn fail() -> Result<(), &'static str> {
    Err("down")
}

#[tokio::test(start_paused = true)]
async fn paused_time_drives_the_open_duration() {
    let breaker = CircuitBreaker::new(config(2, Duration::from_secs(30)));
    for _ in 0..2 {
        let _ = breaker.call_async(fail()).await;
    }
    assert_eq!(breaker.state(), State::Open);
    tokio::time::advance(Duration::from_secs(29)).await;
    let Err(Error::Rejected(r)) = breaker.call_async(async { Ok::<_, ()>(()) }).await else {
        panic!("still open")
    };
    assert_eq!(r.retry_after(), Some(Duration::from_secs(1)));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(breaker.state(), State::HalfOpen);
    assert_eq!(breaker.call_async(async { Ok::<_, ()>(7) }).await, Ok(7));
    assert_eq!(breaker.state(), State::Closed);
}

#[tokio::test(start_paused = true)]
async fn a_timeout_expires_on_paused_time_and_counts_as_a_failure() {
    let breaker = CircuitBreaker::new(config(1, Duration::from_secs(5)));
    let policy = Policy::builder().timeout(ms(250)).build().unwrap();
    let start = tokio::time::Instant::now();
    let slow = async {
        tokio::time::sleep(core::time::Duration::from_secs(10)).await;
        Ok::<_, ()>(())
    };
    assert_eq!(
        breaker.call_with(&policy, slow).await,
        Err(Error::Timeout { after: ms(250) })
    );
    assert_eq!(start.elapsed(), ms(250));
    assert_eq!(breaker.state(), State::Open);
}

static SHARED: CircuitBreaker = CircuitBreaker::new(Config::default_config());

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_calls_are_send_and_the_limit_holds_across_threads() {
    let limit = Limit::new(3).unwrap();
    let policy = Policy::builder()
        .timeout(Duration::from_secs(5))
        .limit_wait(Duration::MAX)
        .build()
        .unwrap()
        .limit(limit.clone());
    let policy = Arc::new(policy);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let (in_flight, peak, policy) = (in_flight.clone(), peak.clone(), policy.clone());
            let call = async move {
                SHARED
                    .call_with(&policy, async move {
                        let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(now, Ordering::SeqCst);
                        tokio::time::sleep(core::time::Duration::from_millis(2)).await;
                        in_flight.fetch_sub(1, Ordering::SeqCst);
                        Ok::<_, ()>(())
                    })
                    .await
            };
            tokio::spawn(assert_send(call))
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(()));
    }
    assert_eq!(peak.load(Ordering::SeqCst), 3);
    assert_eq!(limit.available(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_panicking_call_is_not_swallowed_and_frees_its_trial_slot() {
    static BREAKER: CircuitBreaker = CircuitBreaker::new(Config::default_config());
    BREAKER.half_open();
    let policy = Policy::builder().timeout(ms(100)).build().unwrap();
    let task = tokio::spawn(async move {
        let call = async {
            tokio::task::yield_now().await;
            panic!("boom");
            #[allow(unreachable_code)]
            Ok::<(), ()>(())
        };
        BREAKER.call_with(&policy, call).await
    });
    let err = task.await.unwrap_err();
    assert!(err.is_panic());
    assert_eq!(BREAKER.machine().trials, 0);
    assert_eq!(BREAKER.state(), State::HalfOpen);
    assert_eq!(BREAKER.call_async(async { Ok::<_, ()>(1) }).await, Ok(1));
    assert_eq!(BREAKER.state(), State::Closed);
}

#[tokio::test]
async fn named_limits_are_shared_by_protected_functions() {
    let a = CircuitBreaker::new(Config::default_config());
    let b = CircuitBreaker::new(Config::default_config());
    let policy = Policy::NONE.limit(Limit::named("tokio-test-pool", 1).unwrap());
    let pa = a.protect(policy.clone(), |x: u32| async move {
        tokio::task::yield_now().await;
        Ok::<_, ()>(x)
    });
    let pb = b
        .protect(policy, |x: u32| async move { Ok::<_, ()>(x) })
        .fallback(|x: u32| async move { Ok(x + 100) });
    // `pa` holds the only slot while it yields, so `pb` finds the shared limit full and falls back.
    let (ra, rb) = tokio::join!(pa.call(1), pb.call(2));
    assert_eq!((ra, rb), (Ok(1), Ok(102)));
    assert_eq!(pb.call(3).await, Ok(3));
}
