//! Observers of a breaker's events (pybreaker's `CircuitBreakerListener`).
//!
//! Every method has a no-op default, and `()` is the listener of a breaker that has none, so an
//! unused event costs nothing. The breaker calls listeners after its compare-and-swap has
//! succeeded, never inside a retry loop and never under a lock: once per event, and for one call
//! in order (`before_call`, then its outcome, then the state change it caused). Events of
//! different calls on different threads interleave; [`Transition::generation`] orders state
//! changes.
//!
//! Ready-made listeners: `Listeners` (a list changed at run time, with `std`),
//! `Tracing` (feature `tracing`), `Metrics` (feature `metrics`).

use core::fmt::Debug;

use crate::clock::Duration;
use crate::error::{LimitReached, Rejected};
use crate::machine::Transition;
use crate::stats::Stats;

#[cfg(feature = "std")]
mod dynamic;
#[cfg(feature = "metrics")]
mod metrics;
#[cfg(feature = "tracing")]
mod tracing;

#[cfg(feature = "std")]
pub use dynamic::{DynListener, ListenerId, Listeners};
#[cfg(feature = "metrics")]
pub use metrics::Metrics;
#[cfg(feature = "tracing")]
pub use tracing::Tracing;

/// Why a fallback was served: what refused the call.
#[derive(Clone, Copy, Debug)]
pub enum Refused<'a> {
    /// The breaker refused it.
    Breaker(&'a Rejected),
    /// Its concurrency limit was full.
    Limit(&'a LimitReached),
}

/// An event of the timed features (see [`crate::policy`]), as a policy reports it to its breaker
/// through [`crate::Breaker::observe`]; the breaker hands it to its listener's matching method.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub enum Event<'a> {
    /// See [`Listener::on_limit_reached`].
    LimitReached(&'a LimitReached),
    /// See [`Listener::on_timeout`].
    Timeout(Duration),
    /// See [`Listener::on_fallback`].
    Fallback(Refused<'a>),
    /// See [`Listener::on_wait_ended`].
    WaitEnded {
        /// The wait ended in admission (else in refusal).
        admitted: bool,
        /// How long the caller waited.
        waited: Duration,
    },
}

impl Event<'_> {
    /// Hands the event to `listener`'s method for it.
    pub fn dispatch<L: Listener + ?Sized>(&self, name: &'static str, listener: &L) {
        match *self {
            Event::LimitReached(l) => listener.on_limit_reached(name, l),
            Event::Timeout(after) => listener.on_timeout(name, after),
            Event::Fallback(cause) => listener.on_fallback(name, cause),
            Event::WaitEnded { admitted, waited } => listener.on_wait_ended(name, admitted, waited),
        }
    }
}

/// Receives a breaker's events. Listeners must not block: they run on the caller's path.
pub trait Listener {
    /// Whether this listener wants any event at all. Only listeners that ignore every event (like
    /// `()`) set it to `false`, which lets the breaker skip preparing events it would throw away
    /// (the stats snapshot that comes with a state change).
    const ENABLED: bool = true;

    /// A call was admitted and is about to run.
    fn before_call(&self, name: &'static str, trial: bool) {
        let _ = (name, trial);
    }
    /// A call succeeded; `elapsed` is set when the breaker times calls (the slow-call rule).
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
        let _ = (name, elapsed);
    }
    /// A call failed, with its error when the breaker saw one.
    fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
        let _ = (name, error);
    }
    /// A call's outcome was classified as ignored.
    fn on_ignored(&self, name: &'static str) {
        let _ = name;
    }
    /// An admitted call went away without reporting (its permit or future was dropped).
    fn on_cancelled(&self, name: &'static str) {
        let _ = name;
    }
    /// A call was refused.
    fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
        let _ = (name, rejected);
    }
    /// The state changed; `stats` is a snapshot taken just after.
    fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
        let _ = (name, change, stats);
    }
    /// A call under a policy found its concurrency limit full (after waiting, if allowed to):
    /// it did not run. It had been admitted by the breaker (`before_call` came first) and gave
    /// its permit back unused: no outcome event follows.
    fn on_limit_reached(&self, name: &'static str, limit: &LimitReached) {
        let _ = (name, limit);
    }
    /// A call under a policy ran past its timeout; its failure is reported next.
    fn on_timeout(&self, name: &'static str, after: Duration) {
        let _ = (name, after);
    }
    /// A refused call was answered by its fallback.
    fn on_fallback(&self, name: &'static str, cause: Refused<'_>) {
        let _ = (name, cause);
    }
    /// A caller in wait mode stopped waiting for the breaker: admitted, or refused once its
    /// maximum wait had passed. Only waits that slept are reported.
    fn on_wait_ended(&self, name: &'static str, admitted: bool, waited: Duration) {
        let _ = (name, admitted, waited);
    }
}

impl Listener for () {
    const ENABLED: bool = false;
}

/// Writes the forwarding methods of a listener that hands every event to `$target` (an
/// expression over `$s`, the listener).
macro_rules! forward_all {
    (|$s:ident| $target:expr) => {
        fn before_call(&self, name: &'static str, trial: bool) {
            let $s = self;
            $target.before_call(name, trial)
        }
        fn on_success(&self, name: &'static str, elapsed: Option<$crate::clock::Duration>) {
            let $s = self;
            $target.on_success(name, elapsed)
        }
        fn on_failure(&self, name: &'static str, error: Option<&dyn core::fmt::Debug>) {
            let $s = self;
            $target.on_failure(name, error)
        }
        fn on_ignored(&self, name: &'static str) {
            let $s = self;
            $target.on_ignored(name)
        }
        fn on_cancelled(&self, name: &'static str) {
            let $s = self;
            $target.on_cancelled(name)
        }
        fn on_rejected(&self, name: &'static str, rejected: &$crate::error::Rejected) {
            let $s = self;
            $target.on_rejected(name, rejected)
        }
        fn on_state_change(
            &self,
            name: &'static str,
            change: &$crate::machine::Transition,
            stats: &$crate::stats::Stats,
        ) {
            let $s = self;
            $target.on_state_change(name, change, stats)
        }
        fn on_limit_reached(&self, name: &'static str, limit: &$crate::error::LimitReached) {
            let $s = self;
            $target.on_limit_reached(name, limit)
        }
        fn on_timeout(&self, name: &'static str, after: $crate::clock::Duration) {
            let $s = self;
            $target.on_timeout(name, after)
        }
        fn on_fallback(&self, name: &'static str, cause: $crate::listener::Refused<'_>) {
            let $s = self;
            $target.on_fallback(name, cause)
        }
        fn on_wait_ended(
            &self,
            name: &'static str,
            admitted: bool,
            waited: $crate::clock::Duration,
        ) {
            let $s = self;
            $target.on_wait_ended(name, admitted, waited)
        }
    };
}
#[cfg(feature = "std")]
pub(crate) use forward_all;

impl<L: Listener + ?Sized> Listener for &L {
    const ENABLED: bool = L::ENABLED;
    forward_all!(|s| (**s));
}

/// A shared listener: the breaker and its owner (a test, a registry) both hold it.
#[cfg(feature = "alloc")]
impl<L: Listener + ?Sized> Listener for alloc::sync::Arc<L> {
    const ENABLED: bool = L::ENABLED;
    forward_all!(|s| (**s));
}

macro_rules! tuple_listener {
    ($($l:ident $i:tt),+) => {
        /// Several listeners, called in order.
        impl<$($l: Listener),+> Listener for ($($l,)+) {
            const ENABLED: bool = false $(|| $l::ENABLED)+;
            fn before_call(&self, name: &'static str, trial: bool) {
                $(self.$i.before_call(name, trial);)+
            }
            fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
                $(self.$i.on_success(name, elapsed);)+
            }
            fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
                $(self.$i.on_failure(name, error);)+
            }
            fn on_ignored(&self, name: &'static str) {
                $(self.$i.on_ignored(name);)+
            }
            fn on_cancelled(&self, name: &'static str) {
                $(self.$i.on_cancelled(name);)+
            }
            fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
                $(self.$i.on_rejected(name, rejected);)+
            }
            fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
                $(self.$i.on_state_change(name, change, stats);)+
            }
            fn on_limit_reached(&self, name: &'static str, limit: &LimitReached) {
                $(self.$i.on_limit_reached(name, limit);)+
            }
            fn on_timeout(&self, name: &'static str, after: Duration) {
                $(self.$i.on_timeout(name, after);)+
            }
            fn on_fallback(&self, name: &'static str, cause: Refused<'_>) {
                $(self.$i.on_fallback(name, cause);)+
            }
            fn on_wait_ended(&self, name: &'static str, admitted: bool, waited: Duration) {
                $(self.$i.on_wait_ended(name, admitted, waited);)+
            }
        }
    };
}

tuple_listener!(A 0);
tuple_listener!(A 0, B 1);
tuple_listener!(A 0, B 1, C 2);
tuple_listener!(A 0, B 1, C 2, D 3);
