//! The async call: a named future, no boxing, no allocation, cancel-safe.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::Error;
use crate::permit::{tripped_or_inner, Concluding, Permit};
use crate::seam::{Breaker, Handle, ReportFuture};

pin_project! {
    /// The future of a call through a breaker ([`Handle::call_async`],
    /// `CircuitBreaker::call_async`).
    ///
    /// Admission is decided at the first poll (a future that is never polled never takes a trial
    /// slot). Dropping it mid-call drops its permit, which reports a cancellation and gives back a
    /// half-open trial slot; so does a panic inside the protected future. With an owned handle
    /// (`Arc<CircuitBreaker<..>>`) it is `'static` and can be spawned.
    ///
    /// On a breaker kind that decides reports later ([`Breaker::awaits_reports`]: a breaker
    /// shared through Redis), a failed call waits for its report's answer (bounded by the
    /// breaker kind), so the call whose failure opens the breaker returns [`Error::Tripped`]
    /// when the configuration asks for it. A success never waits.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<H: Handle, F: Future, P> {
        handle: Option<H>,
        permit: Option<Permit<H>>,
        // A failed call's report being decided: the wait, the call's result, `trip_error`.
        reporting: Option<(ReportFuture<H>, F::Output, bool)>,
        classify: P,
        #[pin]
        future: F,
    }
}

impl<H: Handle, F: Future, P> Call<H, F, P> {
    /// A call of `future` through `handle`'s breaker, classified by `classify`.
    #[inline]
    pub fn new(handle: H, classify: P, future: F) -> Self {
        Call {
            handle: Some(handle),
            permit: None,
            reporting: None,
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
        } else if this.reporting.is_some() {
            // The call is over; its report's answer is awaited (never on the first poll).
            return poll_reporting(this.reporting, cx);
        }
        let result = match this.future.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        match this.permit.take() {
            Some(permit) => {
                // Inlined `false` for a breaker kind that decides at once: the plain path.
                if permit.handle().breaker().awaits_reports() {
                    return conclude_awaiting(permit, result, this.classify, this.reporting, cx);
                }
                Poll::Ready(permit.conclude(result, this.classify))
            }
            // Polled again after it finished: pass on what the inner future says, unrecorded.
            None => Poll::Ready(result.map_err(Error::Inner)),
        }
    }
}

/// Concludes a call on a breaker kind that decides reports later: a failure waits for its
/// report's answer in `reporting`.
#[cold]
#[inline(never)]
fn conclude_awaiting<H: Handle, T, E: fmt::Debug>(
    permit: Permit<H>,
    result: Result<T, E>,
    classify: &mut impl Classify<T, E>,
    reporting: &mut Option<(ReportFuture<H>, Result<T, E>, bool)>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>> {
    match permit.conclude_start(result, classify) {
        Concluding::Done(r) => Poll::Ready(r),
        Concluding::Waiting(wait, e, trip_error) => {
            *reporting = Some((wait, Err(e), trip_error));
            poll_reporting(reporting, cx)
        }
    }
}

/// Polls the wait for a failed call's report; once answered, the call's error.
#[cold]
#[inline(never)]
fn poll_reporting<H: Handle, T, E>(
    reporting: &mut Option<(ReportFuture<H>, Result<T, E>, bool)>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>> {
    let Some((wait, _, _)) = reporting.as_mut() else {
        return Poll::Pending;
    };
    let transition = match Pin::new(wait).poll(cx) {
        Poll::Ready(t) => t,
        Poll::Pending => return Poll::Pending,
    };
    match reporting.take() {
        Some((_, Err(e), trip_error)) => {
            Poll::Ready(Err(tripped_or_inner(transition, e, trip_error)))
        }
        Some((_, Ok(v), _)) => Poll::Ready(Ok(v)),
        None => Poll::Pending,
    }
}

impl<H: Handle, F: Future, P> fmt::Debug for Call<H, F, P> {
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
