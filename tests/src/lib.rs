//! The conformance suite: every scenario written once, generic over a [`Harness`] (how to run a
//! test body on a runtime, and the runtime's clock, timer and concurrency limit), and
//! instantiated for each runtime by [`conformance!`] in `tests/<runtime>.rs`.
//!
//! Time is virtual where the runtime allows it (tokio's paused clock, embassy-time's mock
//! driver): durations are then checked exactly. Elsewhere (smol, async-std) timers are real and
//! short, and durations are checked within bounds.
//!
//! Concurrency inside a scenario is many futures polled by one task ([`join_all`]), which every
//! runtime supports the same way; each adapter's own tests add its runtime's threads.

use core::cell::Cell;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::boxed::Box;
use std::sync::Mutex;
use std::vec::Vec;

use breaker_core::listener::Listener;
use breaker_core::timer::{ConcurrencyLimit, Runtime, Timer};
use breaker_core::{
    Clock, Config, ConfigError, Duration, GlobalClock, Instant, Rejected, State, Stats, Transition,
};

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

/// A breaker on `H`'s runtime, with listener `L`.
pub type Breaker<H, L = ()> = breaker_core::CircuitBreaker<<H as Harness>::Runtime, Config, L>;

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

/// Instantiates every scenario of [`scenarios`] as a `#[test]` for harness `$h`.
#[macro_export]
macro_rules! conformance {
    ($h:ty) => {
        $crate::conformance!(@tests $h;
            trips_after_n_failures,
            rejects_while_open_with_the_time_left,
            half_opens_after_the_open_duration,
            success_threshold_closes_after_enough_trials,
            admits_exactly_the_permitted_trials_under_many_callers,
            a_cancelled_call_gives_its_trial_slot_back,
            a_timeout_counts_as_a_failure,
            wait_mode_admits_waiters_after_reclosing_without_a_stampede,
            the_concurrency_limit_holds,
            the_fallback_runs_when_the_call_is_refused,
            listeners_see_every_event_in_order,
            a_panicking_call_is_not_swallowed_and_frees_its_trial_slot,
        );
    };
    (@tests $h:ty; $($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                <$h as $crate::Harness>::block_on($crate::scenarios::$name::<$h>());
            }
        )*
    };
}

/// The repository's README, included so that its examples run as doctests.
#[doc = include_str!("../../README.md")]
pub mod readme {}
