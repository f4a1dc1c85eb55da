//! HTTP: classifiers over `http::Response` and the `503 Service Unavailable` answer to a refusal.

use http::header::RETRY_AFTER;
use http::{HeaderValue, Response, StatusCode};

use crate::classify::{Classify, Outcome};
use crate::error::Rejected;

/// A `5xx` response or an error is a failure; every other response (a `4xx` is the caller's
/// mistake, not the upstream's) is a success.
///
/// # Examples
///
/// ```
/// use breaker_tower::classify::{Classify, Outcome};
/// use breaker_tower::http::ServerErrors;
///
/// let reply = |code: u16| Ok::<_, ()>(http::Response::builder().status(code).body(()).unwrap());
/// assert_eq!(ServerErrors.classify(&reply(503)), Outcome::Failure);
/// assert_eq!(ServerErrors.classify(&reply(404)), Outcome::Success);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ServerErrors;

impl<B, E> Classify<Response<B>, E> for ServerErrors {
    #[inline]
    fn classify(&mut self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(r) if !r.status().is_server_error() => Outcome::Success,
            _ => Outcome::Failure,
        }
    }
}

/// A function of the status code decides how a response counts; an error is a failure. See
/// [`status`].
#[derive(Clone, Copy, Debug)]
pub struct Status<F>(F);

/// A classifier that asks `f` about each response's status code; every error is a failure.
///
/// # Examples
///
/// Count `429 Too Many Requests` and every `5xx` but `501 Not Implemented`:
///
/// ```
/// use breaker_tower::classify::{Classify, Outcome};
/// use breaker_tower::http::status;
/// use http::StatusCode;
///
/// let mut c = status(|s: StatusCode| match s.as_u16() {
///     429 => Outcome::Failure,
///     501 => Outcome::Ignored,
///     _ if s.is_server_error() => Outcome::Failure,
///     _ => Outcome::Success,
/// });
/// let reply = |code: u16| Ok::<_, ()>(http::Response::builder().status(code).body(()).unwrap());
/// assert_eq!(c.classify(&reply(429)), Outcome::Failure);
/// assert_eq!(c.classify(&reply(501)), Outcome::Ignored);
/// ```
pub const fn status<F: FnMut(StatusCode) -> Outcome>(f: F) -> Status<F> {
    Status(f)
}

impl<B, E, F: FnMut(StatusCode) -> Outcome> Classify<Response<B>, E> for Status<F> {
    #[inline]
    fn classify(&mut self, result: &Result<Response<B>, E>) -> Outcome {
        match result {
            Ok(r) => (self.0)(r.status()),
            Err(_) => Outcome::Failure,
        }
    }
}

/// The `Retry-After` header value for a refusal: its [`Rejected::retry_after`] in whole
/// seconds, rounded up (so a client that obeys it does not come back too early); `None` when
/// the breaker does not know (forced open).
pub fn retry_after(rejected: &Rejected) -> Option<HeaderValue> {
    let wait = rejected.retry_after()?;
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    Some(HeaderValue::from(secs))
}

/// The answer to a refused request: `503 Service Unavailable`, with `Retry-After` when the
/// breaker knows when to come back, and an empty body.
///
/// # Examples
///
/// With axum, in the function of a `HandleErrorLayer` above the breaker:
///
/// ```
/// use axum::body::Body;
/// use axum::http::{Response, StatusCode};
/// use breaker_tower::error::{BoxError, Rejected};
///
/// async fn handle_error(error: BoxError) -> Response<Body> {
///     match error.downcast_ref::<Rejected>() {
///         Some(rejected) => breaker_tower::http::service_unavailable(rejected),
///         None => {
///             let mut r = Response::new(Body::from(error.to_string()));
///             *r.status_mut() = StatusCode::BAD_GATEWAY;
///             r
///         }
///     }
/// }
/// # let _ = handle_error;
/// ```
pub fn service_unavailable<B: Default>(rejected: &Rejected) -> Response<B> {
    let mut response = Response::new(B::default());
    *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
    if let Some(value) = retry_after(rejected) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response
}
