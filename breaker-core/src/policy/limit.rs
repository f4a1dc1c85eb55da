//! The concurrency limit of a [`Policy`](super::Policy): at most N calls in flight, over the
//! runtime adapter's semaphore.

use core::future::Future;

use crate::config::{ConfigError, ConfigErrorKind};

/// A limit on the calls in flight: a semaphore with one permit per call.
///
/// Adapters implement it over their runtime's semaphore. Implement it on a handle that is cheap to
/// share (an `Arc` on `std`, a `&'static` reference on a microcontroller); it is also implemented
/// for references, so a [`Policy`](super::Policy) can hold either.
///
/// # Contract
///
/// - At most the configured number of permits MUST exist at once; dropping a permit MUST give its
///   slot back and wake a waiter.
/// - `try_acquire` MUST NOT block or wait.
/// - Dropping the future of `acquire` MUST cancel the wait without losing a slot or a wake-up.
///   The future resolves to `None` only if the semaphore can never grant a permit (closed).
pub trait ConcurrencyLimit {
    /// A slot, given back on drop.
    type Permit<'a>
    where
        Self: 'a;

    /// A slot if one is free now.
    fn try_acquire(&self) -> Option<Self::Permit<'_>>;

    /// Waits for a slot.
    fn acquire(&self) -> impl Future<Output = Option<Self::Permit<'_>>>;

    /// The limit's name, for [`crate::LimitReached`] (empty by default).
    fn name(&self) -> &'static str {
        ""
    }
}

impl<S: ConcurrencyLimit + ?Sized> ConcurrencyLimit for &S {
    type Permit<'a>
        = S::Permit<'a>
    where
        Self: 'a;

    #[inline]
    fn try_acquire(&self) -> Option<Self::Permit<'_>> {
        (**self).try_acquire()
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = Option<Self::Permit<'_>>> {
        (**self).acquire()
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }
}

/// The most permits a concurrency limit may have.
pub const MAX_PERMITS: usize = u16::MAX as usize;

/// Checks the number of permits of a concurrency limit, as every adapter's `Limit` does when it
/// is built.
///
/// # Errors
///
/// A [`ConfigError`] about the field `"permits"`: [`ConfigErrorKind::Zero`] for no permits,
/// [`ConfigErrorKind::TooMany`] above [`MAX_PERMITS`].
pub const fn check_permits(permits: usize) -> Result<usize, ConfigError> {
    if permits == 0 {
        Err(ConfigError::new("permits", ConfigErrorKind::Zero))
    } else if permits > MAX_PERMITS {
        Err(ConfigError::new(
            "permits",
            ConfigErrorKind::TooMany {
                value: permits as u64,
                max: MAX_PERMITS as u64,
            },
        ))
    } else {
        Ok(permits)
    }
}

/// The absence of a concurrency limit (the default of a [`Policy`](super::Policy)): every call
/// gets a slot.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLimit;

impl ConcurrencyLimit for NoLimit {
    type Permit<'a> = ();

    #[inline]
    fn try_acquire(&self) -> Option<()> {
        Some(())
    }

    #[inline]
    fn acquire(&self) -> impl Future<Output = Option<()>> {
        core::future::ready(Some(()))
    }
}
