//! Named, process-wide concurrency limits (kompoz's named semaphores), for the `std` adapters.

use std::sync::Mutex;
use std::vec::Vec;

use crate::config::{ConfigError, ConfigErrorKind};

/// A process-wide table of named limits: the same name gives the same limit, so several
/// protected functions share its slots (kompoz's `limited(..., name="api_pool")`).
///
/// A `std` adapter keeps one in a `static` and builds its `Limit::named` on it. Few names are
/// expected; lookups scan a short list under a mutex, once per `named` call (not per call).
#[derive(Debug)]
pub struct Registry<S> {
    entries: Mutex<Vec<(&'static str, usize, S)>>,
}

impl<S> Registry<S> {
    /// An empty registry (a `const`, for a `static`).
    pub const fn new() -> Self {
        Registry {
            entries: Mutex::new(Vec::new()),
        }
    }
}

impl<S> Default for Registry<S> {
    fn default() -> Self {
        Registry::new()
    }
}

impl<S: Clone> Registry<S> {
    /// The limit registered as `name`, or a new one made by `make` and registered.
    ///
    /// # Errors
    ///
    /// A [`ConfigErrorKind::Conflict`] about `"permits"` if `name` is registered with another
    /// number of permits.
    pub fn get_or_insert_with(
        &self,
        name: &'static str,
        permits: usize,
        make: impl FnOnce() -> S,
    ) -> Result<S, ConfigError> {
        // A panic elsewhere while holding the lock cannot leave the list half-updated (pushes
        // are atomic as far as readers can tell), so a poisoned lock is still usable.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((_, n, limit)) = entries.iter().find(|(k, _, _)| *k == name) {
            return if *n == permits {
                Ok(limit.clone())
            } else {
                Err(ConfigError::new(
                    "permits",
                    ConfigErrorKind::Conflict { name },
                ))
            };
        }
        let limit = make();
        entries.push((name, permits, limit.clone()));
        Ok(limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_name_same_limit_and_conflicts_are_refused() {
        static REGISTRY: Registry<u32> = Registry::new();
        let mut made = 0;
        let a = REGISTRY.get_or_insert_with("pool", 4, || {
            made += 1;
            7
        });
        let b = REGISTRY.get_or_insert_with("pool", 4, || 8);
        assert_eq!((a, b, made), (Ok(7), Ok(7), 1));
        assert_eq!(
            REGISTRY.get_or_insert_with("pool", 5, || 9),
            Err(ConfigError::new(
                "permits",
                ConfigErrorKind::Conflict { name: "pool" }
            ))
        );
        assert_eq!(REGISTRY.get_or_insert_with("other", 5, || 9), Ok(9));
    }
}
