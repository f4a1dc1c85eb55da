//! [`Limit`]: a concurrency limit over `async_lock::Semaphore`.

use core::fmt;
use std::sync::Arc;

use async_lock::{Semaphore, SemaphoreGuard};
use breaker_core::policy::{check_permits, ConcurrencyLimit};
use breaker_core::registry::Registry;
use breaker_core::ConfigError;

/// At most N calls in flight (kompoz's `limited`), over [`async_lock::Semaphore`].
///
/// A cheap handle: clones share the same slots, so one limit can cap several breakers and
/// protected functions. [`Limit::named`] shares by name across the process, like kompoz's named
/// semaphores. Attach it to a [`crate::Policy`] with `Policy::limit`.
///
/// # Examples
///
/// ```
/// use breaker_async_io::{ConfigError, ConfigErrorKind, Limit};
///
/// let pool = Limit::named("api_pool", 10)?;
/// let again = Limit::named("api_pool", 10)?; // the same 10 slots
/// assert_eq!(again.available(), 10);
/// let conflict = Limit::named("api_pool", 5).unwrap_err();
/// assert_eq!(conflict.kind(), ConfigErrorKind::Conflict { name: "api_pool" });
/// assert_eq!(conflict.to_string(), r#""api_pool" already exists with different permits"#);
/// assert_eq!(Limit::new(0).unwrap_err(), ConfigError::new("permits", ConfigErrorKind::Zero));
/// # drop(pool);
/// # Ok::<(), ConfigError>(())
/// ```
#[derive(Clone)]
pub struct Limit {
    inner: Arc<Inner>,
}

struct Inner {
    name: &'static str,
    permits: usize,
    semaphore: Semaphore,
}

impl Limit {
    fn build(name: &'static str, permits: usize) -> Limit {
        Limit {
            inner: Arc::new(Inner {
                name,
                permits,
                semaphore: Semaphore::new(permits),
            }),
        }
    }

    /// A limit of `permits` calls in flight, shared by its clones only.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] about `"permits"`: [`crate::ConfigErrorKind::Zero`] for no permits,
    /// [`crate::ConfigErrorKind::TooMany`] above [`breaker_core::policy::MAX_PERMITS`].
    pub fn new(permits: usize) -> Result<Limit, ConfigError> {
        check_permits(permits).map(|n| Limit::build("", n))
    }

    /// The process-wide limit called `name`: made with `permits` slots the first time, the same
    /// limit afterwards.
    ///
    /// # Errors
    ///
    /// As [`Limit::new`], and [`crate::ConfigErrorKind::Conflict`] if `name` exists with another number
    /// of permits.
    pub fn named(name: &'static str, permits: usize) -> Result<Limit, ConfigError> {
        let permits = check_permits(permits)?;
        // One registry for the process: breakers and limits (see `breaker_core::registry`).
        Registry::global().limit(name, permits, || Limit::build(name, permits))
    }

    /// The limit's name (empty for [`Limit::new`]).
    pub fn name(&self) -> &'static str {
        self.inner.name
    }

    /// The number of slots.
    pub fn permits(&self) -> usize {
        self.inner.permits
    }

    /// The slots free now.
    pub fn available(&self) -> usize {
        self.inner.semaphore.available_permits()
    }
}

impl ConcurrencyLimit for Limit {
    type Permit<'a> = SemaphoreGuard<'a>;

    #[inline]
    fn try_acquire(&self) -> Option<SemaphoreGuard<'_>> {
        self.inner.semaphore.try_acquire()
    }

    async fn acquire(&self) -> Option<SemaphoreGuard<'_>> {
        Some(self.inner.semaphore.acquire().await)
    }

    fn name(&self) -> &'static str {
        self.inner.name
    }
}

impl fmt::Debug for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("name", &self.inner.name)
            .field("permits", &self.inner.permits)
            .field("available", &self.available())
            .finish()
    }
}
