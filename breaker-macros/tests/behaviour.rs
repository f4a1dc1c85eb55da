//! What `#[circuit]` does at run time, on tokio's paused clock: defaults, options, fallback,
//! classification, the reachable `static`, and sync functions on `breaker-core`.

use core::future::Future;
use core::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};

use breaker_tokio::{circuit, Config, ConfigBuilder, Duration, Error, NoWindow, State};

#[derive(Debug, PartialEq)]
enum FetchError {
    Timeout,
    Connect(u16),
    NotFound,
}

/// The upstream: fails while `DOWN` is set, counting the calls that reach it.
static DOWN: AtomicBool = AtomicBool::new(true);
static CALLS: AtomicU32 = AtomicU32::new(0);

/// aiocircuitbreaker's quick start: every option at its default.
#[circuit]
async fn external_call(id: u32) -> Result<u32, FetchError> {
    CALLS.fetch_add(1, SeqCst);
    if DOWN.load(SeqCst) {
        return Err(FetchError::Timeout);
    }
    Ok(id * 2)
}

#[tokio::test(start_paused = true)]
async fn defaults_trip_after_five_reject_and_recover_after_thirty_seconds() {
    let b = external_call_breaker();
    assert_eq!(b.name(), "external_call");
    assert_eq!(b.config().settings().failure_threshold(), Some(5));
    for i in 0..4 {
        assert_eq!(
            external_call(i).await,
            Err(Error::Inner(FetchError::Timeout))
        );
    }
    assert_eq!(b.state(), State::Closed);
    // The fifth failure opens the breaker, and says so.
    assert_eq!(
        external_call(4).await,
        Err(Error::Tripped(FetchError::Timeout))
    );
    assert_eq!(b.state(), State::Open);
    assert_eq!(CALLS.load(SeqCst), 5);

    // Open: rejected without running the body, with the rest of the 30 s as the retry time.
    let Err(Error::Rejected(r)) = external_call(5).await else {
        panic!("not rejected")
    };
    assert_eq!(r.name, "external_call");
    assert_eq!(r.retry_after(), Some(Duration::from_secs(30)));
    assert_eq!(CALLS.load(SeqCst), 5);

    tokio::time::advance(core::time::Duration::from_secs(29)).await;
    assert!(external_call(6).await.unwrap_err().is_rejected());
    DOWN.store(false, SeqCst);
    tokio::time::advance(core::time::Duration::from_secs(1)).await;
    // Recovered: the trial runs and closes the breaker.
    assert_eq!(external_call(7).await, Ok(14));
    assert_eq!(b.state(), State::Closed);
    assert_eq!(CALLS.load(SeqCst), 6);
}

static LIMITED_CALLS: AtomicU32 = AtomicU32::new(0);

/// aiocircuitbreaker's `failure_threshold=10, expected_exception=ConnectionError`.
#[circuit(
    failure_threshold = 10,
    recovery = "250ms",
    expected(FetchError::Connect(_))
)]
async fn connect_only(e: FetchError) -> Result<(), FetchError> {
    LIMITED_CALLS.fetch_add(1, SeqCst);
    Err(e)
}

#[tokio::test(start_paused = true)]
async fn expected_errors_alone_count_and_recovery_reads_a_duration_literal() {
    let b = connect_only_breaker();
    // Errors that are not expected are ignored: they neither open nor close the breaker.
    for _ in 0..20 {
        assert_eq!(
            connect_only(FetchError::NotFound).await,
            Err(Error::Inner(FetchError::NotFound))
        );
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(b.stats().consecutive_failures, 0);
    for _ in 0..9 {
        let _ = connect_only(FetchError::Connect(503)).await;
    }
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        connect_only(FetchError::Connect(503)).await,
        Err(Error::Tripped(FetchError::Connect(503)))
    );
    assert_eq!(b.state(), State::Open);
    assert_eq!(b.retry_after(), Some(Duration::from_millis(250)));
    tokio::time::advance(core::time::Duration::from_millis(250)).await;
    assert_eq!(b.state(), State::HalfOpen);
}

/// pybreaker's `exclude`, as a predicate: a "not found" is the caller's problem and counts as a
/// success (it resets the consecutive failures).
fn not_found(e: &FetchError) -> bool {
    *e == FetchError::NotFound
}

#[circuit(failure_threshold = 2, exclude = not_found)]
fn lookup(e: FetchError) -> Result<(), FetchError> {
    Err(e)
}

#[test]
fn excluded_errors_count_as_successes() {
    let b = lookup_breaker();
    let _ = lookup(FetchError::Timeout);
    assert_eq!(b.stats().consecutive_failures, 1);
    assert_eq!(
        lookup(FetchError::NotFound),
        Err(Error::Inner(FetchError::NotFound))
    );
    assert_eq!(b.stats().consecutive_failures, 0);
    let _ = lookup(FetchError::Timeout);
    assert_eq!(
        lookup(FetchError::Timeout),
        Err(Error::Tripped(FetchError::Timeout))
    );
    assert!(lookup(FetchError::NotFound).unwrap_err().is_rejected());
}

#[circuit(failure_threshold = 1, exclude(FetchError::NotFound), expected = |e| matches!(e, FetchError::Timeout | FetchError::NotFound))]
fn both_rules(e: FetchError) -> Result<(), FetchError> {
    Err(e)
}

#[test]
fn exclude_wins_over_expected_and_other_errors_are_ignored() {
    let b = both_rules_breaker();
    let _ = both_rules(FetchError::NotFound); // excluded: a success
    let _ = both_rules(FetchError::Connect(1)); // not expected: ignored
    assert_eq!(b.state(), State::Closed);
    assert_eq!(
        both_rules(FetchError::Timeout),
        Err(Error::Tripped(FetchError::Timeout))
    );
}

/// The fallback: called with the same arguments when the call is refused.
async fn cached(user: String, (a, b): (u32, u32)) -> Result<String, FetchError> {
    Ok(format!("cached {user} {}", a + b))
}

#[circuit(failure_threshold = 1, name = "profile-service", fallback = cached)]
async fn profile(user: String, (a, b): (u32, u32)) -> Result<String, FetchError> {
    if a == 0 {
        return Err(FetchError::Connect(b as u16));
    }
    Ok(format!("fresh {user} {}", a + b))
}

#[tokio::test(start_paused = true)]
async fn fallback_gets_the_same_arguments_when_rejected() {
    let b = profile_breaker();
    assert_eq!(b.name(), "profile-service");
    assert_eq!(profile("ann".into(), (1, 2)).await.unwrap(), "fresh ann 3");
    // A failure is reported as such: the fallback is for refused calls only.
    assert_eq!(
        profile("ann".into(), (0, 7)).await,
        Err(Error::Tripped(FetchError::Connect(7)))
    );
    assert_eq!(profile("bob".into(), (4, 5)).await.unwrap(), "cached bob 9");
    assert_eq!(
        b.state(),
        breaker_tokio::State::Open,
        "the fallback ran because the breaker refused"
    );
}

/// A team's defaults, set once: the Rust form of aiocircuitbreaker's subclass with class-level
/// defaults. Any `const` builder works; each use overrides what it needs.
const TEAM: ConfigBuilder<NoWindow> = Config::builder()
    .failure_threshold(3)
    .open_for(Duration::from_secs(60))
    .success_threshold(2);

#[circuit(preset = TEAM)]
fn with_preset() -> Result<(), FetchError> {
    Ok(())
}

#[circuit(preset = TEAM, failure_threshold = 7, recovery = Duration::from_secs(5))]
fn with_preset_overridden() -> Result<(), FetchError> {
    Ok(())
}

#[test]
fn presets_set_defaults_that_options_override() {
    let s = with_preset_breaker().config().settings();
    assert_eq!(s.failure_threshold(), Some(3));
    assert_eq!(s.success_threshold(), 2);
    assert_eq!(s.name(), "with_preset");
    let s = with_preset_overridden_breaker().config().settings();
    assert_eq!(s.failure_threshold(), Some(7));
    assert_eq!(s.success_threshold(), 2);
    assert_eq!(with_preset_overridden_breaker().retry_after(), None);
    with_preset_overridden_breaker().open();
    // Outside a runtime, tokio's clock is real time: some of the 5 s may have passed already.
    let left = with_preset_overridden_breaker().retry_after().unwrap();
    assert!(
        left <= Duration::from_secs(5) && left > Duration::from_secs(4),
        "{left:?}"
    );
    assert!(with_preset_overridden().unwrap_err().is_rejected());
}

/// Methods: the breaker is an associated function, one `static` for every instance.
struct Client {
    base: &'static str,
}

impl Client {
    #[circuit(failure_threshold = 2, fallback = Self::offline)]
    async fn get(&self, path: &str) -> Result<String, FetchError> {
        if path.is_empty() {
            return Err(FetchError::NotFound);
        }
        let _ = FetchError::Timeout;
        Ok(format!("{}{path}", self.base))
    }

    async fn offline(&self, path: &str) -> Result<String, FetchError> {
        Ok(format!("offline {}{path}", self.base))
    }

    #[circuit]
    fn parse(&self, text: &str) -> Result<u32, core::num::ParseIntError> {
        let n: u32 = text.parse()?; // `?` keeps converting into the original error type
        Ok(n + self.base.len() as u32)
    }
}

#[tokio::test(start_paused = true)]
async fn methods_share_one_static_breaker() {
    let (a, b) = (Client { base: "a/" }, Client { base: "b/" });
    assert_eq!(a.get("x").await.unwrap(), "a/x");
    let _ = a.get("").await;
    let _ = b.get("").await;
    assert_eq!(Client::get_breaker().state(), State::Open);
    assert_eq!(a.get("x").await.unwrap(), "offline a/x");
    assert_eq!(b.parse("40"), Ok(42));
    assert!(matches!(b.parse("x"), Err(Error::Inner(_))));
    assert_eq!(Client::parse_breaker().stats().consecutive_failures, 1);
}

#[tokio::test(start_paused = true)]
async fn manual_control_through_the_static() {
    #[circuit]
    async fn ping() -> Result<(), FetchError> {
        Ok(())
    }
    ping_breaker().force_open();
    assert!(ping().await.unwrap_err().is_rejected());
    ping_breaker().force_closed();
    assert_eq!(ping().await, Ok(()));
    // The breaker is a plain `&'static`: it can be stored, shared and handed to a registry.
    let b: &'static breaker_tokio::CircuitBreaker = ping_breaker();
    assert!(core::ptr::eq(b, ping_breaker()));
}

#[tokio::test(start_paused = true)]
async fn a_dropped_call_gives_its_half_open_trial_back() {
    #[circuit(failure_threshold = 1, recovery = "1s")]
    async fn slow() -> Result<(), FetchError> {
        tokio::time::sleep(core::time::Duration::from_secs(10)).await;
        Ok(())
    }
    slow_breaker().open();
    tokio::time::advance(core::time::Duration::from_secs(1)).await;
    // The trial starts and holds the only slot...
    let mut trial = Box::pin(slow());
    let first = core::future::poll_fn(|cx| core::task::Poll::Ready(trial.as_mut().poll(cx))).await;
    assert!(first.is_pending());
    assert_eq!(slow_breaker().stats().half_open_trials, 1);
    assert!(slow().await.unwrap_err().is_rejected());
    // ...until it is dropped mid-call: its slot is free again.
    drop(trial);
    assert_eq!(slow_breaker().stats().half_open_trials, 0);
    assert_eq!(slow_breaker().state(), State::HalfOpen);
}

/// Sync functions without an async runtime: `breaker_core::circuit`, on `StdClock`.
mod sync_core {
    use breaker_core::{circuit, Error, State};

    #[circuit(failure_threshold = 2, recovery = "1h")]
    pub(super) fn parse(text: &str) -> Result<u8, core::num::ParseIntError> {
        text.parse()
    }

    #[test]
    fn sync_fn_on_breaker_core() {
        assert_eq!(parse("7"), Ok(7));
        let _ = parse("x");
        assert!(matches!(parse("y"), Err(Error::Tripped(_))));
        assert_eq!(parse_breaker().state(), State::Open);
        assert!(parse("7").unwrap_err().is_rejected());
    }
}

/// The same attribute from `breaker_smol`, on the async-io clock.
mod on_smol {
    #[breaker_smol::circuit(failure_threshold = 1)]
    async fn call(ok: bool) -> Result<(), &'static str> {
        if ok {
            Ok(())
        } else {
            Err("down")
        }
    }

    #[test]
    fn smol_runs_it() {
        let b: &'static breaker_smol::CircuitBreaker = call_breaker();
        assert_eq!(block_on(call(true)), Ok(()));
        assert!(block_on(call(false)).is_err());
        assert!(block_on(call(true)).unwrap_err().is_rejected());
        assert_eq!(b.state(), breaker_smol::State::Open);
    }

    /// No timer is involved on these paths: any executor will do.
    fn block_on<F: core::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }
}

/// Generic functions share one breaker across their instantiations.
#[circuit(failure_threshold = 2)]
fn parse_as<T: core::str::FromStr>(text: &str) -> Result<T, T::Err>
where
    T::Err: core::fmt::Debug,
{
    text.parse::<T>()
}

#[test]
fn generic_functions_share_one_breaker() {
    assert_eq!(parse_as::<u8>("7"), Ok(7));
    let _ = parse_as::<u8>("x");
    assert!(matches!(parse_as::<i64>("y"), Err(Error::Tripped(_))));
    assert!(parse_as::<u16>("1").unwrap_err().is_rejected());
}

/// `crate = path` names the runtime crate when it is not reachable as `::breaker_tokio` (a
/// renamed dependency, a re-export).
mod renamed {
    use breaker_smol as runtime;

    #[breaker_tokio::circuit(crate = runtime)]
    pub(super) fn on_smol() -> Result<(), ()> {
        Ok(())
    }

    #[test]
    fn crate_option_picks_the_runtime() {
        // The breaker is the one of the crate named, not of the crate the attribute came from.
        let b: &'static breaker_smol::CircuitBreaker = on_smol_breaker();
        assert_eq!(on_smol(), Ok(()));
        assert_eq!(b.name(), "on_smol");
    }
}
