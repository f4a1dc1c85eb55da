//! The conformance suite: every scenario written once, generic over three axes, and instantiated
//! for each combination by [`conformance!`] in `tests/<runtime>.rs`:
//!
//! - the runtime, a [`Harness`]: how to run a test body, and the runtime's clock, timer and
//!   concurrency limit;
//! - the breaker kind, a [`Kind`]: how to build a breaker on that runtime and look into it. The
//!   scenarios use it only through the seam ([`breaker_core::Breaker`], [`breaker_core::Handle`])
//!   plus the few inspection and manual-control hooks [`Kind`] names, so every kind must pass the
//!   same scenarios: the in-process [`InProcess`] here, the shared Redis breaker in
//!   `tests/redis.rs`;
//! - the call path, a [`Path`]: [`Direct`] (`Handle::call_async`) or [`Tower`] (the request goes
//!   through `breaker_tower::CircuitBreakerLayer` over a `tower::service_fn`). The scenarios
//!   about admission, rejection, half-open trials, cancellation and panics run on both; those
//!   about the timer policy (timeout, wait mode, concurrency limit, fallback) are features of the
//!   direct path (`call_with`, `protect`), which the tower layer leaves to tower's own layers, so
//!   they run on [`Direct`] only.
//!
//! Time is virtual where the runtime allows it (tokio's paused clock, embassy-time's mock
//! driver): durations are then checked exactly. Elsewhere (smol, async-std, and tokio on real
//! time for the Redis kind, whose server clock cannot be paused) timers are real and short, and
//! durations are checked within bounds.
//!
//! Concurrency inside a scenario is many futures polled by one task ([`join_all`]), which every
//! runtime supports the same way; each adapter's own tests add its runtime's threads.

use core::cell::Cell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::boxed::Box;
use std::sync::{Arc, Mutex};
use std::vec::Vec;

use breaker_core::listener::Listener;
use breaker_core::machine::{Machine, Manual};
use breaker_core::policy::ConcurrencyLimit;
use breaker_core::runtime::{Runtime, Timer};
use breaker_core::{
    Breaker, Clock, Config, ConfigError, Duration, Error, GlobalClock, Handle, Instant, Rejected,
    State, Stats, Transition,
};
use tower::{Layer as _, ServiceExt as _};

pub mod scenarios;

/// How the suite runs on one runtime.
pub trait Harness: 'static {
    /// The adapter's clock and timer.
    type Runtime: Runtime + 'static;
    /// The adapter's concurrency limit, as a shareable handle.
    type Limit: ConcurrencyLimit + Clone + 'static;
    /// Whether time is virtual (durations are then checked exactly).
    const VIRTUAL: bool;
    /// Runs a test body to completion on the runtime.
    fn block_on<F: Future<Output = ()> + 'static>(test: F);
    /// The adapter's `Limit` with `permits` slots.
    ///
    /// # Errors
    ///
    /// As the adapter's `Limit` constructor.
    fn try_limit(permits: usize) -> Result<Self::Limit, ConfigError>;
}

/// An in-process breaker on `H`'s runtime, with listener `L`.
pub type InProcessBreaker<H, L = ()> =
    breaker_core::CircuitBreaker<<H as Harness>::Runtime, Config, L>;

/// A breaker kind, as the suite builds and inspects it on `H`'s runtime.
///
/// The scenarios drive a breaker only through the seam (its [`Handle`] and [`Breaker`]
/// methods); what the seam does not cover (building one, manual changes, reading the counters,
/// and waiting for reports that a kind applies asynchronously) goes through these methods.
pub trait Kind<H: Harness>: 'static {
    /// The breaker, measuring time with the harness's clock and timer.
    type Breaker: Breaker<Clock = H::Runtime> + 'static;

    /// How late after it is due a time-driven change (the open duration ending) may be applied,
    /// as the kind documents it: zero for a breaker that applies it at the first look after the
    /// deadline; for one whose changes a timer task drives, until that task has run (a tick of
    /// the timer). Scenarios that expect half-open after the open duration wait this much more.
    const LATENESS: Duration = Duration::ZERO;

    /// A fresh breaker for `config`, sharing no state with any other breaker built (for a
    /// shared kind: its own key), held in an `Arc`.
    fn build(config: Config) -> impl Future<Output = Arc<Self::Breaker>>;

    /// Returns once every report made through `b` so far is applied and visible in
    /// `b.state()` and [`Kind::machine`]. Immediate for a breaker that applies reports in the
    /// reporting call; a kind that applies them in the background (within a staleness bound)
    /// waits for them. Scenarios call it before they inspect the state, never between calls
    /// whose order they test.
    fn settle(b: &Arc<Self::Breaker>) -> impl Future<Output = ()>;

    /// A manual change (open, force open, close, half-open, disable), applied before it returns.
    fn manual(b: &Arc<Self::Breaker>, change: Manual) -> impl Future<Output = ()>;

    /// The breaker's machine as it stands (counters: trials in flight, consecutive failures).
    fn machine(b: &Arc<Self::Breaker>) -> Machine;

    /// How many calls the breaker has rejected so far.
    fn rejections(b: &Arc<Self::Breaker>) -> u64;
}

/// Counts the rejections a breaker reports to its listener (a breaker keeps no count itself).
#[derive(Debug, Default)]
pub struct Tally {
    rejected: core::sync::atomic::AtomicU64,
}

impl Tally {
    /// The rejections reported so far.
    pub fn rejected(&self) -> u64 {
        self.rejected.load(core::sync::atomic::Ordering::SeqCst)
    }
}

impl Listener for Tally {
    fn on_rejected(&self, _: &'static str, _: &Rejected) {
        self.rejected
            .fetch_add(1, core::sync::atomic::Ordering::SeqCst);
    }
}

/// The in-process atomic breaker, `breaker_core::CircuitBreaker`, on the harness's runtime,
/// with a [`Tally`] listener.
#[derive(Debug)]
pub struct InProcess;

impl<H: Harness> Kind<H> for InProcess {
    type Breaker = InProcessBreaker<H, Arc<Tally>>;

    async fn build(config: Config) -> Arc<Self::Breaker> {
        Arc::new(InProcessBreaker::<H, _>::with_listener(
            config,
            Arc::default(),
        ))
    }

    async fn settle(_: &Arc<Self::Breaker>) {
        // Reports are applied by the call that makes them.
    }

    async fn manual(b: &Arc<Self::Breaker>, change: Manual) {
        match change {
            Manual::Open => b.open(),
            Manual::ForceOpen => b.force_open(),
            Manual::Close => b.force_closed(),
            Manual::HalfOpen => b.half_open(),
            Manual::Disable => b.disable(),
        }
    }

    fn machine(b: &Arc<Self::Breaker>) -> Machine {
        b.machine()
    }

    fn rejections(b: &Arc<Self::Breaker>) -> u64 {
        b.listener().rejected()
    }
}

/// The error every failing call of the scenarios returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Down;

impl fmt::Display for Down {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("down")
    }
}

impl core::error::Error for Down {}

/// What a call through a [`Path`] returns, whatever the path: the call's value, or why not.
pub type Outcome<T> = Result<T, Error<Down>>;

/// How a scenario's call reaches the breaker.
pub trait Path: 'static {
    /// Whether the call whose failure opens the breaker can say so ([`Error::Tripped`]), when
    /// the breaker kind does ([`Breaker::trip_error`]). The tower layer passes the inner
    /// service's error on unchanged, so through it such a call reports [`Error::Inner`].
    const REPORTS_TRIP: bool;

    /// Runs `body` through the breaker that `handle` holds.
    fn call<'a, B, T, F>(handle: B, body: F) -> Task<'a, Outcome<T>>
    where
        B: Handle + 'a,
        T: 'a,
        F: Future<Output = Result<T, Down>> + 'a;
}

/// The direct path: `Handle::call_async`.
#[derive(Debug)]
pub struct Direct;

impl Path for Direct {
    const REPORTS_TRIP: bool = true;

    fn call<'a, B, T, F>(handle: B, body: F) -> Task<'a, Outcome<T>>
    where
        B: Handle + 'a,
        T: 'a,
        F: Future<Output = Result<T, Down>> + 'a,
    {
        Box::pin(handle.call_async(body))
    }
}

/// The tower path: one request through `breaker_tower::CircuitBreakerLayer` over a
/// `tower::service_fn`, sent with `ServiceExt::oneshot` (`poll_ready`, then `call`). The boxed
/// errors come back as the direct path's: a boxed [`Rejected`] as [`Error::Rejected`], the
/// service's [`Down`] as [`Error::Inner`].
#[derive(Debug)]
pub struct Tower;

impl Path for Tower {
    const REPORTS_TRIP: bool = false;

    fn call<'a, B, T, F>(handle: B, body: F) -> Task<'a, Outcome<T>>
    where
        B: Handle + 'a,
        T: 'a,
        F: Future<Output = Result<T, Down>> + 'a,
    {
        let mut body = Some(body);
        let service =
            breaker_tower::CircuitBreakerLayer::new(handle).layer(tower::service_fn(move |()| {
                body.take().expect("one request per service")
            }));
        Box::pin(async move {
            service.oneshot(()).await.map_err(|e| {
                let e = match e.downcast::<Rejected>() {
                    Ok(r) => return Error::Rejected(*r),
                    Err(e) => e,
                };
                match e.downcast::<Down>() {
                    Ok(_) => Error::Inner(Down),
                    Err(e) => panic!("an error the scenarios do not make: {e}"),
                }
            })
        })
    }
}

/// What the call whose failure opens `b` returns through path `P`.
pub fn tripped<P: Path, B: Breaker + ?Sized>(b: &B) -> Error<Down> {
    if P::REPORTS_TRIP && b.trip_error() {
        Error::Tripped(Down)
    } else {
        Error::Inner(Down)
    }
}

/// The runtime's clock.
pub fn now<H: Harness>() -> Instant {
    <H::Runtime as GlobalClock>::NEW.now()
}

/// Sleeps on the runtime's timer.
pub async fn sleep<H: Harness>(d: Duration) {
    <H::Runtime as GlobalClock>::NEW.sleep(d).await
}

/// `n` milliseconds.
pub const fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A boxed future borrowing from the scenario.
pub type Task<'a, T> = Pin<Box<dyn Future<Output = T> + 'a>>;

/// Polls every future with the caller's context until all are done (one task, one waker: the
/// same on every runtime, and friendly to embassy's timer queue).
pub async fn join_all<T>(tasks: Vec<Task<'_, T>>) -> Vec<T> {
    let mut tasks: Vec<(Task<'_, T>, Option<T>)> = tasks.into_iter().map(|t| (t, None)).collect();
    core::future::poll_fn(|cx| {
        let mut pending = false;
        for (task, out) in tasks.iter_mut() {
            if out.is_none() {
                match task.as_mut().poll(cx) {
                    Poll::Ready(v) => *out = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    tasks
        .into_iter()
        .map(|(_, out)| out.expect("finished"))
        .collect()
}

/// Which of two futures finished first.
#[derive(Debug, PartialEq, Eq)]
pub enum First<A, B> {
    /// The first one.
    Left(A),
    /// The second one.
    Right(B),
}

/// Polls both; the first to finish wins and the other is dropped.
pub async fn race<A: Future, B: Future>(a: A, b: B) -> First<A::Output, B::Output> {
    let mut a = core::pin::pin!(a);
    let mut b = core::pin::pin!(b);
    core::future::poll_fn(|cx: &mut Context<'_>| {
        if let Poll::Ready(v) = a.as_mut().poll(cx) {
            return Poll::Ready(First::Left(v));
        }
        b.as_mut().poll(cx).map(First::Right)
    })
    .await
}

/// Tracks how many calls run at once, and the most at any time.
#[derive(Debug, Default)]
pub struct InFlight {
    now: Cell<usize>,
    peak: Cell<usize>,
}

impl InFlight {
    /// Runs `body` counted as in flight.
    pub async fn run<T>(&self, body: impl Future<Output = T>) -> T {
        self.now.set(self.now.get() + 1);
        self.peak.set(self.peak.get().max(self.now.get()));
        let v = body.await;
        self.now.set(self.now.get() - 1);
        v
    }

    /// The most calls in flight at once.
    pub fn peak(&self) -> usize {
        self.peak.get()
    }
}

/// A breaker event, as a listener saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// `before_call(trial)`.
    Before(bool),
    /// `on_success`.
    Success,
    /// `on_failure`.
    Failure,
    /// `on_ignored`.
    Ignored,
    /// `on_cancelled`.
    Cancelled,
    /// `on_rejected`, with the state that refused.
    Rejected(State),
    /// `on_state_change(from, to)`.
    Change(State, State),
}

/// Records every event in order.
#[derive(Debug, Default)]
pub struct Recorder(Mutex<Vec<Event>>);

impl Recorder {
    fn push(&self, e: Event) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).push(e);
    }

    /// Takes the events recorded so far.
    pub fn take(&self) -> Vec<Event> {
        core::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

impl Listener for Recorder {
    fn before_call(&self, _: &'static str, trial: bool) {
        self.push(Event::Before(trial));
    }
    fn on_success(&self, _: &'static str, _: Option<Duration>) {
        self.push(Event::Success);
    }
    fn on_failure(&self, _: &'static str, _: Option<&dyn core::fmt::Debug>) {
        self.push(Event::Failure);
    }
    fn on_ignored(&self, _: &'static str) {
        self.push(Event::Ignored);
    }
    fn on_cancelled(&self, _: &'static str) {
        self.push(Event::Cancelled);
    }
    fn on_rejected(&self, _: &'static str, r: &Rejected) {
        self.push(Event::Rejected(r.state));
    }
    fn on_state_change(&self, _: &'static str, t: &Transition, _: &Stats) {
        self.push(Event::Change(t.from, t.to));
    }
}

/// A configuration: open after `threshold` consecutive failures, for `open`.
pub fn config(threshold: u32, open: Duration) -> Config {
    Config::builder()
        .failure_threshold(threshold)
        .open_for(open)
        .build()
        .expect("valid configuration")
}

/// Instantiates the scenarios of [`scenarios`] as `#[test]`s.
///
/// - `conformance!(mod name: Harness, Kind)` makes a module `name` with one module per call
///   path: `direct` (every scenario generic over the kind) and `tower` (the scenarios about
///   admission, rejection, half-open, cancellation and panics; the policy features stay
///   direct). The types are resolved where the macro is called.
/// - `conformance!(in_process Harness)` adds the scenarios that read the in-process breaker's
///   own listener (kind-specific).
/// - For a kind that cannot pass some scenario for a documented reason, list the tests by hand,
///   marking those: `conformance!(@tests Harness, Kind, Path; #[ignore = "why"] name, ...)`
///   (see `tests/redis.rs`).
#[macro_export]
macro_rules! conformance {
    (mod $m:ident: $h:ty, $k:ty) => {
        mod $m {
            #[allow(unused_imports)]
            use super::*;
            mod direct {
                #[allow(unused_imports)]
                use super::*;
                $crate::conformance!(@direct $h, $k);
            }
            mod tower {
                #[allow(unused_imports)]
                use super::*;
                $crate::conformance!(@tower $h, $k);
            }
        }
    };
    // The scenarios every kind runs, on the direct path.
    (@direct $h:ty, $k:ty) => {
        $crate::conformance!(@tests $h, $k, $crate::Direct;
            trips_after_n_failures,
            rejects_while_open_with_the_time_left,
            half_opens_after_the_open_duration,
            success_threshold_closes_after_enough_trials,
            admits_exactly_the_permitted_trials_under_many_callers,
            a_cancelled_call_gives_its_trial_slot_back,
            a_panicking_call_is_not_swallowed_and_frees_its_trial_slot,
            a_timeout_counts_as_a_failure,
            wait_mode_admits_waiters_after_reclosing_without_a_stampede,
            the_concurrency_limit_holds,
            the_fallback_runs_when_the_call_is_refused,
        );
    };
    // The scenarios every kind runs through the tower layer.
    (@tower $h:ty, $k:ty) => {
        $crate::conformance!(@tests $h, $k, $crate::Tower;
            trips_after_n_failures,
            rejects_while_open_with_the_time_left,
            half_opens_after_the_open_duration,
            success_threshold_closes_after_enough_trials,
            admits_exactly_the_permitted_trials_under_many_callers,
            a_cancelled_call_gives_its_trial_slot_back,
            a_panicking_call_is_not_swallowed_and_frees_its_trial_slot,
        );
    };
    (@tests $h:ty, $k:ty, $p:ty; $($(#[$attr:meta])* $name:ident),* $(,)?) => {
        $(
            #[test]
            $(#[$attr])*
            fn $name() {
                <$h as $crate::Harness>::block_on($crate::scenarios::$name::<$h, $k, $p>());
            }
        )*
    };
    // The scenarios that read the in-process breaker's own listener (kind-specific).
    (in_process $h:ty) => {
        #[test]
        fn listeners_see_every_event_in_order() {
            <$h as $crate::Harness>::block_on(
                $crate::scenarios::listeners_see_every_event_in_order::<$h>(),
            );
        }
    };
}

/// The repository's README, included so that its examples run as doctests.
#[doc = include_str!("../../README.md")]
pub mod readme {}
