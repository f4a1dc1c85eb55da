//! Observers of a breaker's events (pybreaker's `CircuitBreakerListener`).
//!
//! Every method has a no-op default, and `()` is the listener of a breaker that has none, so an
//! unused event costs nothing. The breaker calls listeners after its compare-and-swap has
//! succeeded, never inside a retry loop and never under a lock: once per event, and for one call
//! in order (`before_call`, then its outcome, then the state change it caused). Events of
//! different calls on different threads interleave; [`Transition::generation`] orders state
//! changes.

use core::fmt::Debug;

use crate::clock::Duration;
use crate::error::Rejected;
use crate::machine::Transition;
use crate::stats::Stats;

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
}

impl Listener for () {
    const ENABLED: bool = false;
}

impl<L: Listener + ?Sized> Listener for &L {
    const ENABLED: bool = L::ENABLED;
    fn before_call(&self, name: &'static str, trial: bool) {
        (**self).before_call(name, trial)
    }
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
        (**self).on_success(name, elapsed)
    }
    fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
        (**self).on_failure(name, error)
    }
    fn on_ignored(&self, name: &'static str) {
        (**self).on_ignored(name)
    }
    fn on_cancelled(&self, name: &'static str) {
        (**self).on_cancelled(name)
    }
    fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
        (**self).on_rejected(name, rejected)
    }
    fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
        (**self).on_state_change(name, change, stats)
    }
}

/// A shared listener: the breaker and its owner (a test, a registry) both hold it.
#[cfg(feature = "alloc")]
impl<L: Listener + ?Sized> Listener for alloc::sync::Arc<L> {
    const ENABLED: bool = L::ENABLED;
    fn before_call(&self, name: &'static str, trial: bool) {
        (**self).before_call(name, trial)
    }
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
        (**self).on_success(name, elapsed)
    }
    fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
        (**self).on_failure(name, error)
    }
    fn on_ignored(&self, name: &'static str) {
        (**self).on_ignored(name)
    }
    fn on_cancelled(&self, name: &'static str) {
        (**self).on_cancelled(name)
    }
    fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
        (**self).on_rejected(name, rejected)
    }
    fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
        (**self).on_state_change(name, change, stats)
    }
}

macro_rules! tuple_listener {
    ($($l:ident),+) => {
        /// Several listeners, called in order.
        impl<$($l: Listener),+> Listener for ($($l,)+) {
            const ENABLED: bool = false $(|| $l::ENABLED)+;
            #[allow(non_snake_case)]
            fn before_call(&self, name: &'static str, trial: bool) {
                let ($($l,)+) = self;
                $($l.before_call(name, trial);)+
            }
            #[allow(non_snake_case)]
            fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
                let ($($l,)+) = self;
                $($l.on_success(name, elapsed);)+
            }
            #[allow(non_snake_case)]
            fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
                let ($($l,)+) = self;
                $($l.on_failure(name, error);)+
            }
            #[allow(non_snake_case)]
            fn on_ignored(&self, name: &'static str) {
                let ($($l,)+) = self;
                $($l.on_ignored(name);)+
            }
            #[allow(non_snake_case)]
            fn on_cancelled(&self, name: &'static str) {
                let ($($l,)+) = self;
                $($l.on_cancelled(name);)+
            }
            #[allow(non_snake_case)]
            fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
                let ($($l,)+) = self;
                $($l.on_rejected(name, rejected);)+
            }
            #[allow(non_snake_case)]
            fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
                let ($($l,)+) = self;
                $($l.on_state_change(name, change, stats);)+
            }
        }
    };
}

tuple_listener!(A);
tuple_listener!(A, B);
tuple_listener!(A, B, C);
tuple_listener!(A, B, C, D);
