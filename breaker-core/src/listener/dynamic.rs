//! Listeners added and removed while the breaker runs (pybreaker's `add_listener` /
//! `remove_listener`).

use core::fmt::{self, Debug};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::vec::Vec;

use super::{Listener, Refused};
use crate::clock::Duration;
use crate::error::{LimitReached, Rejected};
use crate::machine::Transition;
use crate::stats::Stats;

/// [`Listener`] as a trait object (`Listener` has an associated constant, so it cannot be one
/// itself). Every `Listener + Send + Sync` is one.
pub trait DynListener: Send + Sync {
    /// See [`Listener::before_call`].
    fn before_call(&self, name: &'static str, trial: bool);
    /// See [`Listener::on_success`].
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>);
    /// See [`Listener::on_failure`].
    fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>);
    /// See [`Listener::on_ignored`].
    fn on_ignored(&self, name: &'static str);
    /// See [`Listener::on_cancelled`].
    fn on_cancelled(&self, name: &'static str);
    /// See [`Listener::on_rejected`].
    fn on_rejected(&self, name: &'static str, rejected: &Rejected);
    /// See [`Listener::on_state_change`].
    fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats);
    /// See [`Listener::on_limit_reached`].
    fn on_limit_reached(&self, name: &'static str, limit: &LimitReached);
    /// See [`Listener::on_timeout`].
    fn on_timeout(&self, name: &'static str, after: Duration);
    /// See [`Listener::on_fallback`].
    fn on_fallback(&self, name: &'static str, cause: Refused<'_>);
    /// See [`Listener::on_wait_ended`].
    fn on_wait_ended(&self, name: &'static str, admitted: bool, waited: Duration);
}

impl<L: Listener + Send + Sync> DynListener for L {
    fn before_call(&self, name: &'static str, trial: bool) {
        Listener::before_call(self, name, trial)
    }
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
        Listener::on_success(self, name, elapsed)
    }
    fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
        Listener::on_failure(self, name, error)
    }
    fn on_ignored(&self, name: &'static str) {
        Listener::on_ignored(self, name)
    }
    fn on_cancelled(&self, name: &'static str) {
        Listener::on_cancelled(self, name)
    }
    fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
        Listener::on_rejected(self, name, rejected)
    }
    fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
        Listener::on_state_change(self, name, change, stats)
    }
    fn on_limit_reached(&self, name: &'static str, limit: &LimitReached) {
        Listener::on_limit_reached(self, name, limit)
    }
    fn on_timeout(&self, name: &'static str, after: Duration) {
        Listener::on_timeout(self, name, after)
    }
    fn on_fallback(&self, name: &'static str, cause: Refused<'_>) {
        Listener::on_fallback(self, name, cause)
    }
    fn on_wait_ended(&self, name: &'static str, admitted: bool, waited: Duration) {
        Listener::on_wait_ended(self, name, admitted, waited)
    }
}

/// Names a listener added to [`Listeners`], to remove it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListenerId(u64);

type List = Arc<[(ListenerId, Arc<dyn DynListener>)]>;

/// A list of listeners that changes while the breaker runs: the listener of a breaker whose
/// observers are not known when it is built (a registry's, an admin endpoint's).
///
/// Use it as the breaker's listener (`CircuitBreaker<C, K, Arc<Listeners>>`, or in a tuple with
/// fixed ones). Only such breakers pay for it: a breaker built with `()` is unchanged.
///
/// # Cost
///
/// With no listener in the list, an event costs one relaxed load of a count. With some, an
/// event takes a snapshot of the list (a read lock and an `Arc` clone, both shared writes), and
/// calls each listener outside the lock, so a listener may add or remove listeners.
///
/// # Ordering
///
/// A listener added (or removed) while events are in flight on other threads may miss (or
/// still receive) those events; it receives every event that starts after `add` returned, and
/// none that starts after `remove` returned.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use breaker_core::listener::Listeners;
/// use breaker_core::{CircuitBreaker, Config, Listener, StdClock};
///
/// struct Print;
/// impl Listener for Print {
///     fn on_rejected(&self, name: &'static str, r: &breaker_core::Rejected) {
///         println!("{name}: {r}");
///     }
/// }
///
/// let listeners = Arc::new(Listeners::new());
/// let breaker = CircuitBreaker::<StdClock, Config, _>::with_listener(Config::default(), Arc::clone(&listeners));
/// let id = listeners.add(Print);
/// breaker.force_open();
/// let _ = breaker.call(|| Ok::<_, ()>(()));   // printed
/// assert!(listeners.remove(id));
/// ```
pub struct Listeners {
    /// How many listeners the list holds: the one load an event costs when it holds none.
    count: AtomicUsize,
    list: RwLock<Option<List>>,
    next: AtomicU64,
}

impl Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl Default for Listeners {
    fn default() -> Self {
        Listeners::new()
    }
}

impl Listeners {
    /// An empty list (`const`, for a `static`).
    pub const fn new() -> Self {
        Listeners {
            count: AtomicUsize::new(0),
            list: RwLock::new(None),
            next: AtomicU64::new(0),
        }
    }

    /// Adds `listener`; it receives the events that start from now on.
    pub fn add(&self, listener: impl Listener + Send + Sync + 'static) -> ListenerId {
        self.add_shared(Arc::new(listener))
    }

    /// Adds a shared listener (one also held elsewhere, or added to several lists).
    pub fn add_shared(&self, listener: Arc<dyn DynListener>) -> ListenerId {
        let id = ListenerId(self.next.fetch_add(1, Ordering::Relaxed));
        self.update(|list| list.push((id, listener)));
        id
    }

    /// Removes the listener `id`; `false` if the list does not hold it.
    pub fn remove(&self, id: ListenerId) -> bool {
        let mut found = false;
        self.update(|list| {
            let before = list.len();
            list.retain(|(i, _)| *i != id);
            found = list.len() != before;
        });
        found
    }

    /// How many listeners the list holds.
    pub fn len(&self) -> usize {
        self.count.load(Ordering::Relaxed)
    }

    /// Whether the list holds none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn update(&self, f: impl FnOnce(&mut Vec<(ListenerId, Arc<dyn DynListener>)>)) {
        // A listener that panicked elsewhere cannot leave the list half-written (it is replaced
        // whole), so a poisoned lock is still usable.
        let mut slot = self.list.write().unwrap_or_else(|e| e.into_inner());
        let mut list: Vec<_> = slot.as_deref().map(<[_]>::to_vec).unwrap_or_default();
        f(&mut list);
        self.count.store(list.len(), Ordering::Relaxed);
        *slot = (!list.is_empty()).then(|| List::from(list));
    }

    /// The listeners now in the list, to call outside the lock.
    #[inline]
    fn snapshot(&self) -> Option<List> {
        if self.count.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.snapshot_slow()
    }

    #[cold]
    fn snapshot_slow(&self) -> Option<List> {
        self.list.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

macro_rules! each {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        if let Some(list) = $self.snapshot() {
            for (_, l) in list.iter() {
                l.$method($($arg),*);
            }
        }
    };
}

impl Listener for Listeners {
    #[inline]
    fn before_call(&self, name: &'static str, trial: bool) {
        each!(self, before_call(name, trial));
    }
    #[inline]
    fn on_success(&self, name: &'static str, elapsed: Option<Duration>) {
        each!(self, on_success(name, elapsed));
    }
    fn on_failure(&self, name: &'static str, error: Option<&dyn Debug>) {
        each!(self, on_failure(name, error));
    }
    fn on_ignored(&self, name: &'static str) {
        each!(self, on_ignored(name));
    }
    fn on_cancelled(&self, name: &'static str) {
        each!(self, on_cancelled(name));
    }
    fn on_rejected(&self, name: &'static str, rejected: &Rejected) {
        each!(self, on_rejected(name, rejected));
    }
    fn on_state_change(&self, name: &'static str, change: &Transition, stats: &Stats) {
        each!(self, on_state_change(name, change, stats));
    }
    fn on_limit_reached(&self, name: &'static str, limit: &LimitReached) {
        each!(self, on_limit_reached(name, limit));
    }
    fn on_timeout(&self, name: &'static str, after: Duration) {
        each!(self, on_timeout(name, after));
    }
    fn on_fallback(&self, name: &'static str, cause: Refused<'_>) {
        each!(self, on_fallback(name, cause));
    }
    fn on_wait_ended(&self, name: &'static str, admitted: bool, waited: Duration) {
        each!(self, on_wait_ended(name, admitted, waited));
    }
}
