use core::fmt;
use core::task::{Context, Poll};

use breaker_core::{Admitted, Breaker, Handle, Rejected};
use tower_service::Service;

use crate::classify::{Classify, Errors};
use crate::error::BoxError;
use crate::future::{Lease, ResponseFuture};
use crate::layer::CircuitBreakerLayer;

/// A service that sends requests to its inner service only while its circuit breaker admits
/// them, and reports how each response counts.
///
/// # Where a refusal surfaces, and why
///
/// A refused request fails from [`Service::call`] with a boxed [`Rejected`]; `poll_ready` never
/// fails because of the breaker. An error from `poll_ready` is final for many callers (axum never
/// drops a service whose `poll_ready` failed, `Buffer` closes), while an open breaker is a
/// passing state; so the service does what tower's `LoadShed` does: it says it is ready, and
/// refuses the request in `call`.
///
/// # Readiness
///
/// - While the breaker is open (or forced open), `poll_ready` decides the refusal at once and is
///   ready without polling the inner service: a breaker that is open fails fast even when the
///   inner service is saturated or waiting for a connection that will not come, and reserves
///   none of its capacity.
/// - Otherwise `poll_ready` is the inner service's `poll_ready` (its errors pass through boxed,
///   and count for nothing: no request was made). The breaker is asked in `call`, so no
///   half-open trial slot is held while the inner service gets ready. If `call` is refused all
///   the same (every trial slot taken), the inner service stays ready for the next call.
/// - A call made without `poll_ready` first (a breach of the `Service` contract) goes to the
///   inner service if the breaker admits it; what happens then is the inner service's contract.
///
/// # The permit
///
/// An admitted request's permit travels in the [`ResponseFuture`]. When the inner future
/// completes, the classifier decides how the result counts and the permit reports it, before
/// the caller sees the result. When the response future is dropped first (the client went
/// away, a timeout outside this layer fired), the permit reports a cancellation: in half-open,
/// the trial slot is given back at once. Nothing is allocated per request, and no async runtime
/// is needed: nothing here waits or sleeps.
///
/// # Examples
///
/// ```
/// use std::convert::Infallible;
/// use std::sync::Arc;
/// use breaker_core::{CircuitBreaker, Config, StdClock};
/// use breaker_tower::CircuitBreakerLayer;
/// use tower::{service_fn, ServiceBuilder, ServiceExt};
///
/// # futures_executor::block_on(async {
/// let breaker = Arc::new(CircuitBreaker::<StdClock>::new(Config::default()));
/// let service = ServiceBuilder::new()
///     .layer(CircuitBreakerLayer::new(breaker))
///     .service(service_fn(|n: u32| async move { Ok::<_, Infallible>(n * 2) }));
/// assert_eq!(service.oneshot(21).await.unwrap(), 42);
/// # });
/// ```
pub struct CircuitBreaker<S, H, P = Errors> {
    inner: S,
    handle: H,
    classify: P,
    ready: Ready,
}

/// What the last `poll_ready` decided, for the next `call`.
#[derive(Clone, Copy, Debug)]
enum Ready {
    /// Not polled since the last call.
    No,
    /// The inner service is ready.
    Inner,
    /// The breaker refused: the next call fails with this, without the inner service.
    Shed(Rejected),
}

impl<S, H> CircuitBreaker<S, H> {
    /// `inner` behind the breaker `handle` holds; every `Err` counts as a failure and every
    /// response as a success.
    pub const fn new(inner: S, handle: H) -> Self {
        CircuitBreaker::with_classifier(inner, handle, Errors)
    }

    /// A layer that wraps services in a `CircuitBreaker` over `handle`'s breaker.
    pub const fn layer(handle: H) -> CircuitBreakerLayer<H> {
        CircuitBreakerLayer::new(handle)
    }
}

impl<S, H, P> CircuitBreaker<S, H, P> {
    /// `inner` behind the breaker `handle` holds, with `classify` deciding how each response
    /// counts.
    pub const fn with_classifier(inner: S, handle: H, classify: P) -> Self {
        CircuitBreaker {
            inner,
            handle,
            classify,
            ready: Ready::No,
        }
    }

    /// The inner service.
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The inner service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }

    /// The handle of the breaker.
    pub const fn handle(&self) -> &H {
        &self.handle
    }
}

/// A clone shares the breaker and starts not ready, like a clone of tower's `ConcurrencyLimit`:
/// a refusal decided for this service is not handed to its clone.
impl<S: Clone, H: Clone, P: Clone> Clone for CircuitBreaker<S, H, P> {
    fn clone(&self) -> Self {
        CircuitBreaker {
            inner: self.inner.clone(),
            handle: self.handle.clone(),
            classify: self.classify.clone(),
            ready: Ready::No,
        }
    }
}

impl<S: fmt::Debug, H: Handle, P> fmt::Debug for CircuitBreaker<S, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CircuitBreaker")
            .field("inner", &self.inner)
            .field("breaker", &self.handle.breaker().name())
            .field("ready", &self.ready)
            .finish_non_exhaustive()
    }
}

impl<S, H, P, R> Service<R> for CircuitBreaker<S, H, P>
where
    S: Service<R>,
    S::Error: Into<BoxError>,
    H: Handle,
    P: Classify<S::Response, S::Error> + Clone,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ResponseFuture<S::Future, H, P>;

    #[inline(always)]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        if !matches!(self.ready, Ready::No) {
            return Poll::Ready(Ok(()));
        }
        // Closed costs one load here (no clock read); only an open breaker is asked for a
        // permit, which then counts as the refusal `call` will deliver.
        if self.handle.breaker().refuses_now() {
            if let Some(rejected) = shed(self.handle.breaker()) {
                self.ready = Ready::Shed(rejected);
                return Poll::Ready(Ok(()));
            }
        }
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => {
                self.ready = Ready::Inner;
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e.into())),
            Poll::Pending => Poll::Pending,
        }
    }

    #[inline(always)]
    fn call(&mut self, request: R) -> Self::Future {
        // Only the discriminant is read on the common path: a `Rejected` is copied out only
        // when there is one.
        if let Ready::Shed(rejected) = self.ready {
            self.ready = Ready::No;
            return ResponseFuture::rejected(rejected);
        }
        let handle = self.handle.clone();
        // The closed path inline (one load, no clock read); everything else out of line.
        let (permit, transition) = match handle.breaker().admit_quick() {
            Some(ticket) => (Lease::quick(handle, &ticket), None),
            None => match admit(handle.breaker()) {
                Ok(Admitted { ticket, transition }) => (Lease::new(handle, ticket), transition),
                // The inner service was not called: whatever readiness it had is kept.
                Err(rejected) => return ResponseFuture::rejected(rejected),
            },
        };
        // As `Handle::try_acquire`: the permit exists before any listener runs.
        permit.admitted(transition);
        self.ready = Ready::No;
        ResponseFuture::admitted(self.inner.call(request), permit, self.classify.clone())
    }
}

/// `poll_ready` of an open breaker: the refusal `call` will deliver, or `None` when the open
/// duration ended between the two reads. Then the trial slot is given back (the permit's drop
/// is a cancellation) rather than held while the inner service gets ready; `call` asks again.
#[cold]
#[inline(never)]
fn shed<B: Breaker + ?Sized>(breaker: &B) -> Option<Rejected> {
    // Borrowed, so a refusal does not touch an `Arc`'s count.
    Handle::try_acquire(breaker).err()
}

/// Admission off the closed path (half-open trials, timed calls, refusals).
#[cold]
#[inline(never)]
fn admit<B: Breaker + ?Sized>(breaker: &B) -> Result<Admitted, Rejected> {
    breaker.admit()
}
