//! The atomics behind the breaker's state, swapped for loom's under `cfg(loom)` so that the loom
//! models explore every interleaving of the compare-and-swap loops.

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use portable_atomic::{AtomicU64, Ordering};

/// Declares a function `const` except under loom, whose atomics cannot be built in const context.
macro_rules! const_unless_loom {
    ($(#[$m:meta])* $vis:vis fn $($rest:tt)*) => {
        #[cfg(not(loom))]
        $(#[$m])* $vis const fn $($rest)*
        #[cfg(loom)]
        $(#[$m])* $vis fn $($rest)*
    };
}
pub(crate) use const_unless_loom;
