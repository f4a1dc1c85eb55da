//! The ticket API: acquire a permit, run the call, report how it went (pybreaker's `calling()`,
//! gobreaker's two-step breaker). Usable from sync and async code alike.

use core::borrow::Borrow;
use core::fmt;
use core::mem::ManuallyDrop;

use crate::breaker::CircuitBreaker;
use crate::classify::Classify;
use crate::clock::{Clock, Instant};
use crate::config::Config;
use crate::error::Error;
use crate::listener::Listener;
use crate::machine::{Outcome, State, Transition};
use crate::window::Window;

/// How a permit ended.
pub(crate) enum Finish<'e> {
    Outcome(Outcome, Option<&'e dyn fmt::Debug>),
    Cancelled,
}

/// Leave to make one call, from [`CircuitBreaker::try_acquire`].
///
/// Report the outcome with [`Permit::success`], [`Permit::failure`], [`Permit::ignore`] or
/// [`Permit::record`]. Dropping a permit without reporting counts as a cancellation: a half-open
/// trial slot is given back at once, so a caller that goes away (a dropped future, a panic) never
/// leaves the breaker stuck in half-open.
///
/// # Examples
///
/// ```
/// use breaker_core::{CircuitBreaker, Config, ManualClock};
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::new(&clock, Config::default());
/// match breaker.try_acquire() {
///     Ok(permit) => {
///         let reply: Result<u32, &str> = Ok(42); // the protected work
///         match reply {
///             Ok(_) => permit.success(),
///             Err(e) => {
///                 permit.failure_with(&e);
///             }
///         }
///     }
///     Err(rejected) => println!("not now: {rejected}"),
/// };
/// ```
#[must_use = "dropping a permit reports the call as cancelled"]
pub struct Permit<'a, C, W, L, K>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    breaker: &'a CircuitBreaker<C, W, L, K>,
    generation: u32,
    /// The breaker's transition count when admitted (see `CircuitBreaker::current`).
    since: u64,
    trial: bool,
    start: Option<Instant>,
}

impl<'a, C, W, L, K> Permit<'a, C, W, L, K>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    #[inline]
    pub(crate) fn new(
        breaker: &'a CircuitBreaker<C, W, L, K>,
        generation: u32,
        since: u64,
        trial: bool,
        start: Option<Instant>,
    ) -> Self {
        Permit {
            breaker,
            generation,
            since,
            trial,
            start,
        }
    }

    /// Whether this call is a half-open trial.
    pub const fn is_trial(&self) -> bool {
        self.trial
    }

    /// The generation the call was admitted in.
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// When the call started, if the breaker times calls.
    pub const fn started_at(&self) -> Option<Instant> {
        self.start
    }

    #[inline]
    fn end(self, finish: Finish<'_>) -> Option<Transition> {
        let this = ManuallyDrop::new(self);
        this.breaker
            .finish(this.generation, this.since, this.trial, this.start, finish)
    }

    /// Reports `outcome`; returns whether this report opened the breaker.
    #[inline]
    pub fn record(self, outcome: Outcome) -> bool {
        opened(self.end(Finish::Outcome(outcome, None)))
    }

    /// Reports a success.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Reports a failure; returns whether it opened the breaker.
    pub fn failure(self) -> bool {
        self.record(Outcome::Failure)
    }

    /// Reports a failure with its error, which listeners receive; returns whether it opened the
    /// breaker.
    pub fn failure_with(self, error: &dyn fmt::Debug) -> bool {
        opened(self.end(Finish::Outcome(Outcome::Failure, Some(error))))
    }

    /// Reports that the call neither succeeded nor failed as far as the breaker is concerned.
    pub fn ignore(self) {
        self.record(Outcome::Ignored);
    }

    /// Reports `result` as `classify` says, and turns it into the call's result: an error that
    /// opened the breaker becomes [`Error::Tripped`] when the configuration asks for it.
    #[inline]
    pub fn conclude<T, E: fmt::Debug>(
        self,
        result: Result<T, E>,
        classify: &mut impl Classify<T, E>,
    ) -> Result<T, Error<E>> {
        let outcome = classify.classify(&result);
        match result {
            Ok(v) => {
                self.record(outcome);
                Ok(v)
            }
            Err(e) => {
                // Read only on the error path: a success touches no configuration.
                let trip_error = self.breaker.config().settings().trip_error();
                let tripped = opened(self.end(Finish::Outcome(outcome, Some(&e))));
                Err(if tripped && trip_error {
                    Error::Tripped(e)
                } else {
                    Error::Inner(e)
                })
            }
        }
    }
}

fn opened(t: Option<Transition>) -> bool {
    matches!(
        t,
        Some(Transition {
            to: State::Open,
            ..
        })
    )
}

impl<C, W, L, K> Drop for Permit<'_, C, W, L, K>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    fn drop(&mut self) {
        self.breaker.finish(
            self.generation,
            self.since,
            self.trial,
            self.start,
            Finish::Cancelled,
        );
    }
}

impl<C, W, L, K> fmt::Debug for Permit<'_, C, W, L, K>
where
    C: Clock,
    W: Window,
    L: Listener,
    K: Borrow<Config<W>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.breaker.name())
            .field("generation", &self.generation)
            .field("trial", &self.trial)
            .finish()
    }
}
