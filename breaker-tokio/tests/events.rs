//! Issue 11 on tokio's paused clock: the driver's half-open event carries its reason at the
//! deadline; the timed features report distinct events (a limit refusal is not a cancellation;
//! timeouts, fallbacks and the end of a wait have their own).

use std::sync::{Arc, Mutex};

use breaker_tokio::breaker_core::policy::ConcurrencyLimit;
use breaker_tokio::listener::Refused;
use breaker_tokio::{
    spawn_driver, CircuitBreaker, Config, Duration, Error, Limit, LimitReached, Listener, Policy,
    Reason, State, Stats, Transition,
};

#[derive(Default)]
struct Log(Mutex<Vec<String>>);

impl Log {
    fn push(&self, s: String) {
        self.0.lock().unwrap().push(s);
    }
    fn take(&self) -> Vec<String> {
        core::mem::take(&mut *self.0.lock().unwrap())
    }
}

impl Listener for Log {
    fn before_call(&self, _: &'static str, _: bool) {
        self.push("before".into());
    }
    fn on_success(&self, _: &'static str, _: Option<Duration>) {
        self.push("success".into());
    }
    fn on_failure(&self, _: &'static str, _: Option<&dyn core::fmt::Debug>) {
        self.push("failure".into());
    }
    fn on_cancelled(&self, _: &'static str) {
        self.push("cancelled".into());
    }
    fn on_rejected(&self, _: &'static str, _: &breaker_tokio::Rejected) {
        self.push("rejected".into());
    }
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        self.push(format!("{}->{} {}", t.from, t.to, t.reason.as_str()));
    }
    fn on_limit_reached(&self, _: &'static str, l: &LimitReached) {
        self.push(format!("limit {} {}", l.name, l.waited.as_millis()));
    }
    fn on_timeout(&self, _: &'static str, after: Duration) {
        self.push(format!("timeout {}", after.as_millis()));
    }
    fn on_fallback(&self, _: &'static str, cause: Refused<'_>) {
        let cause = match cause {
            Refused::Breaker(_) => "breaker",
            Refused::Limit(_) => "limit",
        };
        self.push(format!("fallback {cause}"));
    }
    fn on_wait_ended(&self, _: &'static str, admitted: bool, waited: Duration) {
        self.push(format!("wait {admitted} {}", waited.as_millis()));
    }
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[tokio::test(start_paused = true)]
async fn the_driver_reports_half_open_with_its_reason_at_the_deadline() {
    let log = Arc::new(Log::default());
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(ms(100))
        .build()
        .unwrap();
    let breaker = Arc::new(CircuitBreaker::with_listener(config, log.clone()));
    let driver = spawn_driver(Arc::downgrade(&breaker));
    tokio::task::yield_now().await;
    let _ = breaker.call(|| Err::<(), _>("down"));
    log.take();
    // Just before the deadline: nothing; just after: the event, with no call made.
    tokio::time::sleep(core::time::Duration::from_millis(99)).await;
    assert!(log.take().is_empty());
    tokio::time::sleep(core::time::Duration::from_millis(2)).await;
    assert_eq!(log.take(), ["open->half-open open_time_elapsed"]);
    assert_eq!(
        breaker.stats().state,
        State::HalfOpen,
        "and the snapshot agrees"
    );
    // The driver task ends with its breaker: no task left behind.
    drop(breaker);
    tokio::time::timeout(core::time::Duration::from_secs(1), driver)
        .await
        .expect("the driver ends when its breaker is dropped")
        .unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_limit_refusal_is_not_a_cancellation() {
    let log = Arc::new(Log::default());
    let breaker = CircuitBreaker::with_listener(Config::default(), log.clone());
    let limit = Limit::new(1).unwrap();
    let held = ConcurrencyLimit::try_acquire(&limit).unwrap();
    let policy = Policy::NONE.limit(limit.clone());
    let r = breaker.call_with(&policy, async { Ok::<_, ()>(1) }).await;
    assert!(matches!(r, Err(Error::LimitReached(_))), "{r:?}");
    assert_eq!(log.take(), ["before", "limit  0"]);
    // With a wait for a slot, the event says how long it waited.
    let policy = Policy::builder()
        .limit_wait(ms(50))
        .build()
        .unwrap()
        .limit(limit.clone());
    let r = breaker.call_with(&policy, async { Ok::<_, ()>(1) }).await;
    assert!(matches!(r, Err(Error::LimitReached(_))));
    assert_eq!(log.take(), ["before", "limit  50"]);
    // A fallback answers a refusal: its own event, after the refusal's.
    let protected = breaker
        .protect(Policy::NONE.limit(limit.clone()), |x: u32| async move {
            Ok::<_, ()>(x)
        })
        .fallback(|x: u32| async move { Ok(x + 100) });
    assert_eq!(protected.call(1).await, Ok(101));
    assert_eq!(log.take(), ["before", "limit  0", "fallback limit"]);
    drop(held);
    assert_eq!(protected.call(1).await, Ok(1));
    assert_eq!(log.take(), ["before", "success"]);
}

#[tokio::test(start_paused = true)]
async fn timeouts_and_waits_have_their_own_events() {
    let log = Arc::new(Log::default());
    let config = Config::builder()
        .failure_threshold(1)
        .open_for(ms(100))
        .build()
        .unwrap();
    let breaker = CircuitBreaker::with_listener(config, log.clone());
    let policy = Policy::builder().timeout(ms(30)).build().unwrap();
    let r = breaker
        .call_with(&policy, async {
            tokio::time::sleep(core::time::Duration::from_secs(1)).await;
            Ok::<_, ()>(())
        })
        .await;
    assert!(matches!(r, Err(Error::Timeout { .. })));
    assert_eq!(
        log.take(),
        [
            "before",
            "timeout 30",
            "failure",
            "closed->open consecutive_failures"
        ]
    );

    // A waiter admitted once the open time has passed (plus up to one poll interval of jitter).
    let policy = Policy::builder()
        .wait(ms(500))
        .poll_interval(ms(10))
        .build()
        .unwrap();
    assert_eq!(
        breaker.call_with(&policy, async { Ok::<_, ()>(7) }).await,
        Ok(7)
    );
    let events = log.take();
    let wait = events.iter().find(|e| e.starts_with("wait")).unwrap();
    let waited: u64 = wait.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        wait.starts_with("wait true") && (70..=110).contains(&waited),
        "{events:?}"
    );

    // A waiter refused at the end of its maximum wait.
    breaker.force_open();
    log.take();
    let policy = Policy::builder().wait(ms(40)).build().unwrap();
    let r = breaker.call_with(&policy, async { Ok::<_, ()>(7) }).await;
    assert!(matches!(r, Err(Error::Rejected(_))));
    assert_eq!(log.take(), ["rejected", "wait false 40"]);
    assert!(matches!(
        breaker.stats().last_trip.map(|t| t.reason),
        Some(Reason::ConsecutiveFailures { .. })
    ));
}
