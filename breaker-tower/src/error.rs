//! The errors of a [`crate::CircuitBreaker`] service: tower's [`BoxError`].
//!
//! A refused request fails with a boxed [`Rejected`] (the core's own type, with
//! [`Rejected::retry_after`]); the inner service's errors are passed on boxed and otherwise
//! unchanged. So one `HandleErrorLayer` function tells them apart by downcasting, the way it
//! tells tower's `Elapsed` and `Overloaded` apart:
//!
//! ```
//! use breaker_tower::error::{BoxError, Rejected};
//!
//! fn status_of(error: &BoxError) -> u16 {
//!     match error.downcast_ref::<Rejected>() {
//!         Some(_) => 503, // with `Retry-After` from `retry_after`: see `breaker_tower::http`
//!         None => 500,
//!     }
//! }
//! # let _ = status_of;
//! ```
//!
//! # Why a box, not an enum of our own
//!
//! Every tower middleware that can fail on its own (`Timeout`, `LoadShed`, `Buffer`) returns
//! `BoxError` and passes the inner error through, so layers stack in any order and a single
//! handler downcasts whatever reached it. An enum `Error<E>` would nest once per layer
//! (`Error<Box<..Elapsed..>>`), would not convert into `BoxError` for the layers outside it, and
//! would hide an inner `Elapsed` from the `is::<Elapsed>()` test every axum example uses.
//!
//! The cost is one allocation per *refused* request (a `Rejected` is 40 bytes; tower's own
//! `Overloaded` is zero-sized and boxes for free) and, as everywhere in tower, one per inner
//! error that is not already boxed. Admitted requests that succeed allocate nothing.

pub use breaker_core::Rejected;

/// A type-erased error, the same type as `tower::BoxError` (which lives in the `tower` crate,
/// not in `tower-service`).
pub type BoxError = alloc::boxed::Box<dyn core::error::Error + Send + Sync>;
