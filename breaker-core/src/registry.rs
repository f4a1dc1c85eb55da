//! One registry of named breakers and named concurrency limits (Resilience4j's
//! `CircuitBreakerRegistry`, aiobreaker's monitor, kompoz's named semaphores), with `std`.
//!
//! - **Breakers** of any kind, held as `Arc<dyn Managed>`: an object-safe view with the name,
//!   state, stats and manual control. List them, filter by state, read each one's stats, and
//!   force one open or closed by name (an admin endpoint's work).
//! - **Concurrency limits** by name: the same name gives the same limit, so several protected
//!   functions share its slots. The runtime adapters' `Limit::named` keep theirs in
//!   [`Registry::global`].
//! - **Listeners for every breaker that reports to the registry**: a registry is itself a
//!   [`Listener`] that hands each event to the listeners added with [`Registry::listeners`]. Build
//!   a breaker with `&'static Registry` (or a tuple holding it) as its listener to have them.
//!
//! # Duplicate names
//!
//! [`Registry::register`] refuses a second breaker under a name already registered
//! ([`RegistryError::Duplicate`]); the first one stays. [`Registry::replace`] swaps it
//! explicitly (a breaker rebuilt from a reloaded configuration), and [`Registry::remove`] takes
//! it out. A limit name asked for again with the same number of permits gives the existing limit;
//! with another number, or by another adapter's limit type,
//! [`crate::ConfigErrorKind::Conflict`].
//!
//! Names are owned strings: breakers built at run time (from a configuration file) register
//! like `static` ones.
//!
//! # Examples
//!
//! ```
//! use std::sync::Arc;
//! use breaker_core::registry::{Control, Registry};
//! use breaker_core::{CircuitBreaker, Config, State, StdClock};
//!
//! let registry = Registry::new();
//! let config = Config::builder().name("payments").build()?;
//! let payments = Arc::new(CircuitBreaker::<StdClock>::new(config));
//! registry.register(payments.clone()).unwrap();
//!
//! registry.control("payments", Control::ForceOpen).unwrap();
//! assert_eq!(payments.state(), State::ForcedOpen);
//! assert_eq!(registry.in_state(State::ForcedOpen)[0].name, "payments");
//! # Ok::<(), breaker_core::ConfigError>(())
//! ```

use core::any::Any;
use core::fmt;
use std::boxed::Box;
use std::collections::BTreeMap;
use std::string::String;
use std::sync::{Arc, Mutex, RwLock};
use std::vec::Vec;

use crate::breaker::CircuitBreaker;
use crate::clock::Clock;
use crate::config::{AsConfig, ConfigError, ConfigErrorKind};
use crate::listener::{Listener, Listeners};
use crate::machine::State;
use crate::stats::Stats;

/// A change asked for by hand, by name (see [`Registry::control`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// Open for the usual open duration.
    Open,
    /// Open until another manual change.
    ForceOpen,
    /// Close, resetting the counters.
    ForceClosed,
    /// Half-open: the next calls are trials.
    HalfOpen,
    /// Let every call through without changing state on its own.
    Disable,
    /// Close, empty the window and forget the last trip: as good as new.
    Reset,
}

/// What a registry needs of a breaker: an object-safe view of any breaker kind.
pub trait Managed: Send + Sync {
    /// The breaker's name.
    fn name(&self) -> &'static str;
    /// The state, with time-driven changes that are due applied.
    fn state(&self) -> State;
    /// A snapshot.
    fn stats(&self) -> Stats;
    /// Applies a manual change.
    fn control(&self, action: Control);
}

impl<C, K, L> Managed for CircuitBreaker<C, K, L>
where
    C: Clock + Send + Sync,
    K: AsConfig + Send + Sync,
    K::Window: Send + Sync,
    L: Listener + Send + Sync,
{
    fn name(&self) -> &'static str {
        CircuitBreaker::name(self)
    }
    fn state(&self) -> State {
        CircuitBreaker::state(self)
    }
    fn stats(&self) -> Stats {
        CircuitBreaker::stats(self)
    }
    fn control(&self, action: Control) {
        match action {
            Control::Open => self.open(),
            Control::ForceOpen => self.force_open(),
            Control::ForceClosed => self.force_closed(),
            Control::HalfOpen => self.half_open(),
            Control::Disable => self.disable(),
            Control::Reset => self.reset(),
        }
    }
}

/// Why a registry refused a request.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RegistryError {
    /// A breaker is already registered under this name (the first one stays).
    Duplicate(String),
    /// No breaker is registered under this name.
    Unknown(String),
    /// A breaker without a name cannot be registered.
    Unnamed,
}

impl fmt::Display for RegistryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegistryError::Duplicate(n) => write!(f, "a breaker named `{n}` is already registered"),
            RegistryError::Unknown(n) => write!(f, "no breaker named `{n}` is registered"),
            RegistryError::Unnamed => f.write_str("a breaker without a name cannot be registered"),
        }
    }
}

impl core::error::Error for RegistryError {}

struct LimitEntry {
    name: &'static str,
    permits: usize,
    limit: Box<dyn Any + Send + Sync>,
}

/// Named breakers and concurrency limits, and listeners for the breakers that report to it; see
/// the [module documentation](self).
pub struct Registry {
    breakers: RwLock<BTreeMap<String, Arc<dyn Managed>>>,
    // Few names are expected; looked up once per `limit` call (not per protected call).
    limits: Mutex<Vec<LimitEntry>>,
    listeners: Listeners,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("breakers", &self.names())
            .field("listeners", &self.listeners)
            .finish_non_exhaustive()
    }
}

impl Default for Registry {
    fn default() -> Self {
        Registry::new()
    }
}

// A panic elsewhere while holding one of these locks cannot leave a table half-updated (each
// change is one insert, remove or push), so a poisoned lock is still usable.
macro_rules! unpoison {
    ($e:expr) => {
        $e.unwrap_or_else(|e| e.into_inner())
    };
}

impl Registry {
    /// An empty registry (`const`, for a `static`).
    pub const fn new() -> Self {
        Registry {
            breakers: RwLock::new(BTreeMap::new()),
            limits: Mutex::new(Vec::new()),
            listeners: Listeners::new(),
        }
    }

    /// The process-wide registry: the one the runtime adapters' `Limit::named` use.
    pub fn global() -> &'static Registry {
        static GLOBAL: Registry = Registry::new();
        &GLOBAL
    }

    /// Registers `breaker` under its name.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Duplicate`] if a breaker is registered under that name (it stays);
    /// [`RegistryError::Unnamed`] for a breaker without a name.
    pub fn register(&self, breaker: Arc<dyn Managed>) -> Result<(), RegistryError> {
        let name = breaker.name();
        if name.is_empty() {
            return Err(RegistryError::Unnamed);
        }
        let mut map = unpoison!(self.breakers.write());
        if map.contains_key(name) {
            return Err(RegistryError::Duplicate(name.into()));
        }
        map.insert(name.into(), breaker);
        Ok(())
    }

    /// Registers `breaker` under its name, replacing (and returning) one registered under it.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Unnamed`] for a breaker without a name.
    pub fn replace(
        &self,
        breaker: Arc<dyn Managed>,
    ) -> Result<Option<Arc<dyn Managed>>, RegistryError> {
        let name = breaker.name();
        if name.is_empty() {
            return Err(RegistryError::Unnamed);
        }
        Ok(unpoison!(self.breakers.write()).insert(name.into(), breaker))
    }

    /// Takes out the breaker registered as `name`.
    pub fn remove(&self, name: &str) -> Option<Arc<dyn Managed>> {
        unpoison!(self.breakers.write()).remove(name)
    }

    /// The breaker registered as `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn Managed>> {
        unpoison!(self.breakers.read()).get(name).cloned()
    }

    /// The names of the registered breakers, in order.
    pub fn names(&self) -> Vec<String> {
        unpoison!(self.breakers.read()).keys().cloned().collect()
    }

    /// The registered breakers, in the order of their names (taken out of the lock, so the
    /// caller may call them at leisure).
    pub fn breakers(&self) -> Vec<Arc<dyn Managed>> {
        unpoison!(self.breakers.read()).values().cloned().collect()
    }

    /// A snapshot of every registered breaker, in the order of their names.
    pub fn list(&self) -> Vec<Stats> {
        self.breakers().iter().map(|b| b.stats()).collect()
    }

    /// A snapshot of every registered breaker in `state` (with due time-driven changes applied).
    pub fn in_state(&self, state: State) -> Vec<Stats> {
        self.list()
            .into_iter()
            .filter(|s| s.state == state)
            .collect()
    }

    /// A snapshot of the breaker registered as `name`.
    pub fn stats(&self, name: &str) -> Option<Stats> {
        self.get(name).map(|b| b.stats())
    }

    /// Applies a manual change to the breaker registered as `name`; returns its stats after.
    ///
    /// # Errors
    ///
    /// [`RegistryError::Unknown`] if no breaker is registered as `name`.
    pub fn control(&self, name: &str, action: Control) -> Result<Stats, RegistryError> {
        let b = self
            .get(name)
            .ok_or_else(|| RegistryError::Unknown(name.into()))?;
        // Outside the lock: the breaker's listeners run here.
        b.control(action);
        Ok(b.stats())
    }

    /// The listeners every breaker reporting to this registry hands its events to.
    pub fn listeners(&self) -> &Listeners {
        &self.listeners
    }

    /// The concurrency limit registered as `name`, or a new one made by `make` and registered.
    ///
    /// # Errors
    ///
    /// [`crate::ConfigErrorKind::Conflict`] if `name` is registered with another number of
    /// permits or as another type of limit.
    pub fn limit<S: Clone + Send + Sync + 'static>(
        &self,
        name: &'static str,
        permits: usize,
        make: impl FnOnce() -> S,
    ) -> Result<S, ConfigError> {
        let mut limits = unpoison!(self.limits.lock());
        if let Some(e) = limits.iter().find(|e| e.name == name) {
            return match e.limit.downcast_ref::<S>() {
                Some(limit) if e.permits == permits => Ok(limit.clone()),
                _ => Err(ConfigError::new(
                    "permits",
                    ConfigErrorKind::Conflict { name },
                )),
            };
        }
        let limit = make();
        limits.push(LimitEntry {
            name,
            permits,
            limit: Box::new(limit.clone()),
        });
        Ok(limit)
    }

    /// The names and sizes of the registered limits, in the order they were registered.
    pub fn limits(&self) -> Vec<(&'static str, usize)> {
        unpoison!(self.limits.lock())
            .iter()
            .map(|e| (e.name, e.permits))
            .collect()
    }
}

/// A breaker built with the registry as (part of) its listener hands every event to the
/// registry's [`Registry::listeners`].
impl Listener for Registry {
    crate::listener::forward_all!(|s| s.listeners);
}

#[cfg(test)]
mod tests;
