//! The async call: a named future, no boxing, no allocation, cancel-safe.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::Error;
use crate::permit::Permit;
use crate::seam::{Breaker, Handle};

pin_project! {
    /// The future of a call through a breaker ([`Handle::call_async`],
    /// `CircuitBreaker::call_async`).
    ///
    /// Admission is decided at the first poll (a future that is never polled never takes a trial
    /// slot). Dropping it mid-call drops its permit, which reports a cancellation and gives back a
    /// half-open trial slot; so does a panic inside the protected future. With an owned handle
    /// (`Arc<CircuitBreaker<..>>`) it is `'static` and can be spawned.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<H: Handle, F, P> {
        handle: Option<H>,
        permit: Option<Permit<H>>,
        classify: P,
        #[pin]
        future: F,
    }
}

impl<H: Handle, F, P> Call<H, F, P> {
    /// A call of `future` through `handle`'s breaker, classified by `classify`.
    #[inline]
    pub fn new(handle: H, classify: P, future: F) -> Self {
        Call {
            handle: Some(handle),
            permit: None,
            classify,
            future,
        }
    }
}

impl<H, F, P, T, E> Future for Call<H, F, P>
where
    H: Handle,
    F: Future<Output = Result<T, E>>,
    E: fmt::Debug,
    P: Classify<T, E>,
{
    type Output = Result<T, Error<E>>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        if let Some(handle) = this.handle.take() {
            match handle.try_acquire() {
                Ok(permit) => *this.permit = Some(permit),
                Err(rejected) => return Poll::Ready(Err(Error::Rejected(rejected))),
            }
        }
        let result = match this.future.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        match this.permit.take() {
            Some(permit) => Poll::Ready(permit.conclude(result, this.classify)),
            // Polled again after it finished: pass on what the inner future says, unrecorded.
            None => Poll::Ready(result.map_err(Error::Inner)),
        }
    }
}

impl<H: Handle, F, P> fmt::Debug for Call<H, F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match (&self.handle, &self.permit) {
            (Some(h), _) => h.breaker().name(),
            (None, Some(p)) => p.handle().breaker().name(),
            (None, None) => "",
        };
        f.debug_struct("Call")
            .field("breaker", &name)
            .field("admitted", &self.permit.is_some())
            .finish_non_exhaustive()
    }
}
