//! smol-specific checks: calls under a policy are `Send` futures that run on smol's executor
//! threads, and a static breaker and a named limit are shared by them. (Behaviour shared with
//! the other runtimes is checked by the conformance suite in `tests/`.)

use core::sync::atomic::{AtomicUsize, Ordering};
use core::time::Duration as StdDuration;

use breaker_smol::{CircuitBreaker, Config, Duration, Error, Limit, Policy, State};

static BREAKER: CircuitBreaker = CircuitBreaker::new(Config::default_config());

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[test]
fn spawned_calls_share_a_static_breaker_and_a_named_limit() {
    static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
    static PEAK: AtomicUsize = AtomicUsize::new(0);
    let limit = Limit::named("smol-test-pool", 2).unwrap();
    let policy = Policy::builder()
        .timeout(Duration::from_secs(5))
        .limit_wait(Duration::MAX)
        .build()
        .unwrap()
        .limit(limit.clone());
    smol::block_on(async {
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let policy = policy.clone();
                smol::spawn(assert_send(async move {
                    let call = async {
                        let now = IN_FLIGHT.fetch_add(1, Ordering::SeqCst) + 1;
                        PEAK.fetch_max(now, Ordering::SeqCst);
                        smol::Timer::after(StdDuration::from_millis(2)).await;
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
        smol::Timer::after(StdDuration::from_secs(5)).await;
        Ok::<_, ()>(())
    };
    let start = std::time::Instant::now();
    let r = smol::block_on(breaker.call_with(&policy, slow));
    assert_eq!(
        r,
        Err(Error::Timeout {
            after: Duration::from_millis(10)
        })
    );
    assert!(start.elapsed() < StdDuration::from_secs(1));
    assert_eq!(breaker.state(), State::Open);
}

/// The driver on smol: the half-open change reaches listeners with no calls, with its reason,
/// and the driver task ends with its breaker.
#[test]
fn the_driver_reports_half_open_with_no_calls() {
    use std::sync::{Arc, Mutex};

    #[derive(Default)]
    struct Seen(Mutex<Vec<(breaker_smol::State, breaker_smol::Reason)>>);
    impl breaker_smol::Listener for Seen {
        fn on_state_change(
            &self,
            _: &'static str,
            t: &breaker_smol::Transition,
            _: &breaker_smol::Stats,
        ) {
            self.0.lock().unwrap().push((t.to, t.reason));
        }
    }
    smol::block_on(async {
        let seen = Arc::new(Seen::default());
        let config = breaker_smol::Config::builder()
            .failure_threshold(1)
            .open_for(breaker_smol::Duration::from_millis(20))
            .build()
            .unwrap();
        let b = Arc::new(breaker_smol::CircuitBreaker::with_listener(
            config,
            seen.clone(),
        ));
        let driver = smol::spawn(breaker_smol::driver(Arc::downgrade(&b)));
        let _ = b.call(|| Err::<(), _>("down"));
        // Bounded: the change is due after 20 ms; give it up to 2 s of real time.
        let mut waited = 0;
        while seen.0.lock().unwrap().len() < 2 && waited < 200 {
            smol::Timer::after(core::time::Duration::from_millis(10)).await;
            waited += 1;
        }
        let events = seen.0.lock().unwrap().clone();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!(events[1].0, breaker_smol::State::HalfOpen);
        assert!(matches!(
            events[1].1,
            breaker_smol::Reason::OpenTimeElapsed { .. }
        ));
        assert_eq!(b.machine().state, breaker_smol::State::HalfOpen);
        drop(b);
        let ended = futures_lite_or(driver).await;
        assert!(ended, "the driver ends when its breaker is dropped");
    });
}

/// `driver` finishing within 2 s.
async fn futures_lite_or(driver: smol::Task<()>) -> bool {
    let timeout = async {
        smol::Timer::after(core::time::Duration::from_secs(2)).await;
        false
    };
    smol::future::or(
        async {
            driver.await;
            true
        },
        timeout,
    )
    .await
}
