//! How a response counts: success, failure, or ignored.
//!
//! The service asks a classifier, the core's [`Classify`] trait, about every finished request,
//! with the inner service's `Result<Response, Error>`. So a response can be a failure too: an
//! HTTP 5xx (see [`crate::http::ServerErrors`]) or a gRPC `UNAVAILABLE`, while a 4xx, the
//! caller's own mistake, is not.
//!
//! - [`Errors`] (the default): every `Err` fails, every response succeeds.
//! - [`responses`]: a function of the response decides; every `Err` fails.
//! - [`exclude`], [`expected`]: the core's pybreaker/aiocircuitbreaker forms, over the error.
//! - Any `FnMut(&Result<T, E>) -> Outcome`.
//!
//! A classifier is cloned into each response future (so a `FnMut` needs no lock); the
//! ready-made ones and capture-free closures are zero-sized and copy for free.
//!
//! # Examples
//!
//! gRPC puts the status of a failed call in the `grpc-status` header of a trailers-only
//! response; `14` is `UNAVAILABLE`:
//!
//! ```
//! use breaker_tower::classify::{responses, Classify, Outcome};
//!
//! let mut unavailable = responses(|r: &http::Response<()>| {
//!     match r.headers().get("grpc-status").map(|v| v.as_bytes()) {
//!         Some(b"14") => Outcome::Failure,
//!         _ => Outcome::Success,
//!     }
//! });
//! let reply = http::Response::builder().header("grpc-status", "14").body(()).unwrap();
//! assert_eq!(unavailable.classify(&Ok::<_, ()>(reply)), Outcome::Failure);
//! ```

pub use breaker_core::classify::{exclude, expected, Classify, Errors, Exclude, Expected};
pub use breaker_core::Outcome;

/// A function of the response decides how it counts; every error is a failure. See
/// [`responses`].
#[derive(Clone, Copy, Debug)]
pub struct Responses<F>(F);

/// A classifier that asks `f` about each response and counts every error as a failure.
pub const fn responses<F>(f: F) -> Responses<F> {
    Responses(f)
}

impl<T, E, F: FnMut(&T) -> Outcome> Classify<T, E> for Responses<F> {
    #[inline]
    fn classify(&mut self, result: &Result<T, E>) -> Outcome {
        match result {
            Ok(response) => (self.0)(response),
            Err(_) => Outcome::Failure,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn responses_decide_and_errors_fail() {
        let mut c = responses(|n: &u16| {
            if *n >= 500 {
                Outcome::Failure
            } else {
                Outcome::Success
            }
        });
        assert_eq!(c.classify(&Ok::<_, ()>(200)), Outcome::Success);
        assert_eq!(c.classify(&Ok::<_, ()>(503)), Outcome::Failure);
        assert_eq!(c.classify(&Err::<u16, _>(())), Outcome::Failure);
    }
}
