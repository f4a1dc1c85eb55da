//! What a protected call can return besides its own value.

use core::fmt;

use crate::clock::{Duration, Instant};
use crate::machine::State;

/// The breaker refused the call; the call did not run.
///
/// [`Rejected::retry_after`] says when a call may be admitted again: the rest of the open
/// duration, or, in half-open with every trial slot taken, the time until those trials are given
/// up. `None` means it is not known (forced open: only a manual change re-admits calls).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Rejected {
    /// The breaker's name.
    pub name: &'static str,
    /// The state that refused the call.
    pub state: State,
    retry: Retry,
}

/// When to come back, as the rejecting breaker knew it.
#[derive(Clone, Copy)]
enum Retry {
    /// Worked out when the call was refused.
    After(Option<Duration>),
    /// At `deadline` on the clock `now` reads: a breaker with a driver refuses calls from its
    /// state alone, without reading the clock, and the time left is worked out only if asked.
    At {
        deadline: Instant,
        now: fn() -> Instant,
    },
}

impl fmt::Debug for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Retry::After(d) => f.debug_tuple("After").field(d).finish(),
            Retry::At { deadline, .. } => f.debug_tuple("At").field(deadline).finish(),
        }
    }
}

impl Rejected {
    /// A rejection by the breaker `name` in `state`, to come back after `retry_after` if known.
    pub const fn new(name: &'static str, state: State, retry_after: Option<Duration>) -> Self {
        Rejected {
            name,
            state,
            retry: Retry::After(retry_after),
        }
    }

    /// A rejection by a breaker whose open duration ends at `deadline` on the clock that `now`
    /// reads: the time left is worked out when [`Rejected::retry_after`] asks, so refusing a call
    /// needs no clock read.
    pub const fn until(
        name: &'static str,
        state: State,
        deadline: Instant,
        now: fn() -> Instant,
    ) -> Self {
        Rejected {
            name,
            state,
            retry: Retry::At { deadline, now },
        }
    }

    /// How long until a call may be admitted again, if known (zero once that time has come).
    pub fn retry_after(&self) -> Option<Duration> {
        match self.retry {
            Retry::After(d) => d,
            Retry::At { deadline, now } => Some(deadline - now()),
        }
    }
}

impl PartialEq for Rejected {
    fn eq(&self, other: &Self) -> bool {
        // Two rejections are equal when they say the same now: the same breaker, state and time
        // to wait.
        self.name == other.name
            && self.state == other.state
            && self.retry_after() == other.retry_after()
    }
}

impl Eq for Rejected {}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            write!(f, "circuit breaker is {}", self.state)?;
        } else {
            write!(f, "circuit breaker `{}` is {}", self.name, self.state)?;
        }
        match self.retry_after() {
            Some(d) => write!(f, "; retry after {d:?}"),
            None => Ok(()),
        }
    }
}

impl core::error::Error for Rejected {}

/// A concurrency limit was full (after waiting, when the call was allowed to wait); the call did
/// not run. See [`crate::policy::ConcurrencyLimit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct LimitReached {
    /// The limit's name (empty when it has none).
    pub name: &'static str,
    /// How long the call waited for a slot before giving up: zero when it was not allowed to wait
    /// (or the limit refused it a place in its wait queue).
    pub waited: Duration,
}

impl fmt::Display for LimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.name.is_empty() {
            f.write_str("concurrency limit reached")?;
        } else {
            write!(f, "concurrency limit `{}` reached", self.name)?;
        }
        if self.waited > Duration::ZERO {
            write!(f, " after waiting {:?}", self.waited)?;
        }
        Ok(())
    }
}

impl core::error::Error for LimitReached {}

/// The error of a call made through a breaker.
///
/// Two questions cover most uses, each with one method:
///
/// - "What did my call return?" [`Error::into_inner`] / [`Error::inner`]: the call's own error,
///   if it ran and returned one (whether or not its failure opened the breaker).
/// - "Was it the breaker?" [`Error::is_breaker_error`]: the breaker refused the call, or the
///   call's failure opened it (pybreaker's `CircuitBreakerError`).
///
/// The enum is exhaustive, so a `match` names every case and no `_` arm hides
/// [`Error::Tripped`]. As an error, [`Error::Inner`] is transparent (it displays as the call's
/// error and has the same source); the other variants display their own message and give the
/// call's error, if any, as their [`source`](core::error::Error::source), so an error report
/// prints each message once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error<E> {
    /// The breaker refused the call; it did not run.
    Rejected(Rejected),
    /// The call ran and returned this error.
    Inner(E),
    /// The call ran, returned this error, and its failure opened the breaker (pybreaker's
    /// `throw_new_error_on_trip`, without losing the original error). Turned off with
    /// [`crate::ConfigBuilder::trip_error`], such calls report [`Error::Inner`].
    Tripped(E),
    /// The call ran longer than its timeout, was dropped, and counted as a failure.
    Timeout {
        /// The timeout that expired.
        after: Duration,
    },
    /// A concurrency limit was full; the call did not run (and did not count for the breaker).
    LimitReached(LimitReached),
}

impl<E> Error<E> {
    /// Whether the breaker refused the call.
    pub const fn is_rejected(&self) -> bool {
        matches!(self, Error::Rejected(_))
    }
    /// Whether the breaker is the reason for the error: it refused the call, or the call's
    /// failure opened it (pybreaker's `CircuitBreakerError`, raised for both with its default
    /// `throw_new_error_on_trip`).
    pub const fn is_breaker_error(&self) -> bool {
        matches!(self, Error::Rejected(_) | Error::Tripped(_))
    }
    /// Whether the call did not run: the breaker refused it or a concurrency limit was full
    /// (the cases in which a fallback runs).
    pub const fn is_refused(&self) -> bool {
        matches!(self, Error::Rejected(_) | Error::LimitReached(_))
    }
    /// The call's own error, if it ran and returned one.
    pub fn into_inner(self) -> Option<E> {
        match self {
            Error::Inner(e) | Error::Tripped(e) => Some(e),
            _ => None,
        }
    }
    /// The call's own error, by reference.
    pub const fn inner(&self) -> Option<&E> {
        match self {
            Error::Inner(e) | Error::Tripped(e) => Some(e),
            _ => None,
        }
    }
    /// When to retry, if the breaker refused the call.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Rejected(r) => r.retry_after(),
            _ => None,
        }
    }
    /// Maps the call's own error.
    pub fn map_inner<F, G: FnOnce(E) -> F>(self, g: G) -> Error<F> {
        match self {
            Error::Rejected(r) => Error::Rejected(r),
            Error::Inner(e) => Error::Inner(g(e)),
            Error::Tripped(e) => Error::Tripped(g(e)),
            Error::Timeout { after } => Error::Timeout { after },
            Error::LimitReached(l) => Error::LimitReached(l),
        }
    }
}

impl<E> From<Rejected> for Error<E> {
    fn from(r: Rejected) -> Self {
        Error::Rejected(r)
    }
}

impl<E> From<LimitReached> for Error<E> {
    fn from(l: LimitReached) -> Self {
        Error::LimitReached(l)
    }
}

impl<E: fmt::Display> fmt::Display for Error<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(r) => fmt::Display::fmt(r, f),
            // Transparent: the call's own error is the whole message.
            Error::Inner(e) => fmt::Display::fmt(e, f),
            // The call's error is the source: an error reporter prints it next.
            Error::Tripped(_) => f.write_str("the call failed and opened the circuit breaker"),
            Error::Timeout { after } => write!(f, "call timed out after {after:?}"),
            Error::LimitReached(l) => fmt::Display::fmt(l, f),
        }
    }
}

impl<E: core::error::Error + 'static> core::error::Error for Error<E> {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            // Transparent: the same source as the call's error, which was displayed already.
            Error::Inner(e) => e.source(),
            Error::Tripped(e) => Some(e),
            Error::Rejected(_) | Error::Timeout { .. } | Error::LimitReached(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::error::Error as _;

    #[derive(Debug)]
    struct Refused;
    impl fmt::Display for Refused {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("connection refused")
        }
    }
    impl core::error::Error for Refused {}

    /// Every message of an error chain, as an error reporter (anyhow, eyre) prints it.
    fn report(e: &dyn core::error::Error) -> std::string::String {
        let mut out = e.to_string();
        let mut next = e.source();
        while let Some(s) = next {
            out += ": ";
            out += &s.to_string();
            next = s.source();
        }
        out
    }

    #[test]
    fn a_report_prints_each_message_once() {
        assert_eq!(report(&Error::Inner(Refused)), "connection refused");
        assert_eq!(
            report(&Error::Tripped(Refused)),
            "the call failed and opened the circuit breaker: connection refused"
        );
        let r = Rejected::new("payments", crate::State::Open, Some(Duration::from_secs(3)));
        assert_eq!(
            report(&Error::<Refused>::Rejected(r)),
            "circuit breaker `payments` is open; retry after 3s"
        );
        assert!(Error::<Refused>::Rejected(r).source().is_none());
    }

    #[test]
    fn one_question_one_method() {
        let tripped = Error::Tripped(Refused);
        assert!(tripped.is_breaker_error() && tripped.inner().is_some());
        assert!(!Error::Inner(Refused).is_breaker_error());
        let timeout = Error::<Refused>::Timeout {
            after: Duration::from_millis(5),
        };
        assert!(!timeout.is_breaker_error() && timeout.inner().is_none());
    }
}
