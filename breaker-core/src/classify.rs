//! Deciding how a call's result counts: the Rust form of pybreaker's `exclude` and
//! aiocircuitbreaker's `expected_exception`.
//!
//! By default every `Err` is a failure and every `Ok` a success. A classifier can look at the
//! error (and at the success value: an HTTP 503 returned as `Ok` can count as a failure):
//!
//! ```
//! use breaker_core::classify::{exclude, Classify};
//! use breaker_core::Outcome;
//!
//! #[derive(Debug)]
//! enum ApiError { NotFound, Unavailable }
//!
//! // pybreaker's `exclude`: a "not found" is the caller's problem, not the upstream's, and counts
//! // as a success.
//! let mut c = exclude(|e: &ApiError| matches!(e, ApiError::NotFound));
//! assert_eq!(c.classify(&Err::<(), _>(ApiError::NotFound)), Outcome::Success);
//! assert_eq!(c.classify(&Err::<(), _>(ApiError::Unavailable)), Outcome::Failure);
//! ```

use crate::machine::Outcome;

/// Decides how a call's result counts.
pub trait Classify<T, E> {
    /// The outcome of `result`.
    fn classify(&mut self, result: &Result<T, E>) -> Outcome;
}

impl<T, E, F: FnMut(&Result<T, E>) -> Outcome> Classify<T, E> for F {
    fn classify(&mut self, result: &Result<T, E>) -> Outcome {
        self(result)
    }
}

/// The default: `Ok` is a success, every `Err` a failure.
#[derive(Clone, Copy, Debug, Default)]
pub struct Errors;

impl<T, E> Classify<T, E> for Errors {
    #[inline]
    fn classify(&mut self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// Errors for which the predicate holds count as successes (pybreaker's `exclude`); other errors
/// are failures.
#[derive(Clone, Copy, Debug)]
pub struct Exclude<P>(P);

/// See [`Exclude`].
pub const fn exclude<P>(predicate: P) -> Exclude<P> {
    Exclude(predicate)
}

impl<T, E, P: FnMut(&E) -> bool> Classify<T, E> for Exclude<P> {
    fn classify(&mut self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if (self.0)(e) => Outcome::Success,
            Err(_) => Outcome::Failure,
        }
    }
}

/// Only errors for which the predicate holds are failures (aiocircuitbreaker's
/// `expected_exception`); other errors are ignored: they neither open nor close the breaker.
#[derive(Clone, Copy, Debug)]
pub struct Expected<P>(P);

/// See [`Expected`].
pub const fn expected<P>(predicate: P) -> Expected<P> {
    Expected(predicate)
}

impl<T, E, P: FnMut(&E) -> bool> Classify<T, E> for Expected<P> {
    fn classify(&mut self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(_) => Outcome::Success,
            Err(e) if (self.0)(e) => Outcome::Failure,
            Err(_) => Outcome::Ignored,
        }
    }
}
