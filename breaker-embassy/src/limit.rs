//! [`Limit`]: a concurrency limit over embassy-sync's `FairSemaphore`.

use core::fmt;

use breaker_core::timer::{check_permits, ConcurrencyLimit};
use breaker_core::ConfigError;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use embassy_sync::semaphore::{FairSemaphore, Semaphore, SemaphoreReleaser};

/// At most N calls in flight (kompoz's `limited`), over embassy-sync's [`FairSemaphore`]:
/// waiters get slots in the order they asked.
///
/// Build it in a `static` and share it by reference: one limit can cap several breakers and
/// protected functions (attach `&LIMIT` to each [`crate::Policy`] with `Policy::limit`).
///
/// - `M`: the raw mutex guarding the semaphore; [`CriticalSectionRawMutex`] (the default) is
///   safe to share between tasks of different executors and interrupt priorities.
/// - `N`: how many callers may wait for a slot at once (default 8). A caller that finds the
///   wait queue full is refused at once with [`crate::Error::LimitReached`].
///
/// # Examples
///
/// ```
/// use breaker_embassy::Limit;
///
/// static I2C: Limit = Limit::new(2).named("i2c");
/// assert_eq!((I2C.name(), I2C.permits()), ("i2c", 2));
/// ```
pub struct Limit<M: RawMutex = CriticalSectionRawMutex, const N: usize = 8> {
    name: &'static str,
    permits: usize,
    semaphore: FairSemaphore<M, N>,
}

impl<M: RawMutex, const N: usize> Limit<M, N> {
    /// A limit of `permits` calls in flight.
    ///
    /// # Panics
    ///
    /// If `permits` is zero or above [`breaker_core::timer::MAX_PERMITS`]: in a `static`, that is
    /// a compile-time error. [`Limit::try_new`] reports it instead.
    pub const fn new(permits: usize) -> Self {
        let permits = match check_permits(permits) {
            Ok(permits) => permits,
            Err(_) => panic!("a concurrency limit needs between 1 and 65535 permits"),
        };
        Limit {
            name: "",
            permits,
            semaphore: FairSemaphore::new(permits),
        }
    }

    /// A limit of `permits` calls in flight.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Zero`] for no permits, [`ConfigError::TooMany`] above
    /// [`breaker_core::timer::MAX_PERMITS`].
    pub const fn try_new(permits: usize) -> Result<Self, ConfigError> {
        match check_permits(permits) {
            Ok(permits) => Ok(Limit {
                name: "",
                permits,
                semaphore: FairSemaphore::new(permits),
            }),
            Err(e) => Err(e),
        }
    }

    /// This limit, called `name` (in [`crate::LimitReached`] errors).
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The limit's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The number of slots.
    pub const fn permits(&self) -> usize {
        self.permits
    }
}

impl<M: RawMutex, const N: usize> ConcurrencyLimit for Limit<M, N> {
    type Permit<'a>
        = SemaphoreReleaser<'a, FairSemaphore<M, N>>
    where
        Self: 'a;

    #[inline]
    fn try_acquire(&self) -> Option<Self::Permit<'_>> {
        self.semaphore.try_acquire(1)
    }

    async fn acquire(&self) -> Option<Self::Permit<'_>> {
        // `Err` only when the wait queue is full: refused like a limit that stayed full.
        self.semaphore.acquire(1).await.ok()
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

impl<M: RawMutex, const N: usize> fmt::Debug for Limit<M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("name", &self.name)
            .field("permits", &self.permits)
            .field("waiters", &N)
            .finish()
    }
}
