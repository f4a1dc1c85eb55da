//! The async call: a named future, no boxing, no allocation, cancel-safe.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::Error;
use crate::permit::{tripped_or_inner, Concluding, Permit};
use crate::seam::{acquire_awaiting, Acquiring, AdmitFuture, Breaker, Handle, ReportFuture};

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
    /// when the configuration asks for it. A success never waits. On one that decides
    /// admissions later ([`Breaker::awaits_admission`]), the first poll may wait for the
    /// admission (a shared half-open trial slot) instead of being refused at once.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<H: Handle, F: Future, P> {
        handle: Option<H>,
        permit: Option<Permit<H>>,
        // An admission, or a failed call's report, being decided.
        waiting: Waiting<H, F::Output>,
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
            waiting: Waiting::No,
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
            // Inlined `false` for a breaker kind that admits at once: the plain path.
            let admitted = if handle.breaker().awaits_admission() {
                match admit_awaiting(handle, this.waiting, cx) {
                    Poll::Ready(admitted) => admitted,
                    Poll::Pending => return Poll::Pending,
                }
            } else {
                handle.try_acquire()
            };
            match admitted {
                Ok(permit) => *this.permit = Some(permit),
                Err(rejected) => return Poll::Ready(Err(Error::Rejected(rejected))),
            }
        } else if !matches!(this.waiting, Waiting::No) {
            // Never on the first poll: an admission or a report is awaited.
            match poll_waiting(this.waiting, cx) {
                Poll::Ready(Step::Admitted(Ok(permit))) => *this.permit = Some(permit),
                Poll::Ready(Step::Admitted(Err(rejected))) => {
                    return Poll::Ready(Err(Error::Rejected(rejected)))
                }
                Poll::Ready(Step::Concluded(result)) => return Poll::Ready(result),
                Poll::Pending => return Poll::Pending,
            }
        }
        let result = match this.future.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        match this.permit.take() {
            Some(permit) => {
                // Inlined `false` for a breaker kind that decides at once: the plain path.
                if permit.handle().breaker().awaits_reports() {
                    return conclude_awaiting(permit, result, this.classify, this.waiting, cx);
                }
                Poll::Ready(permit.conclude(result, this.classify))
            }
            // Polled again after it finished: pass on what the inner future says, unrecorded.
            None => Poll::Ready(result.map_err(Error::Inner)),
        }
    }
}

/// What a [`Call`] awaits besides its own future.
enum Waiting<H: Handle, O> {
    /// Nothing (the plain path).
    No,
    /// Its admission; the call has not started.
    Admission(AdmitFuture<H>),
    /// A failed call's report: the wait, the call's result, `trip_error`.
    Report(ReportFuture<H>, O, bool),
}

/// What an awaited step gave.
enum Step<H: Handle, T, E> {
    Admitted(Result<Permit<H>, crate::error::Rejected>),
    Concluded(Result<T, Error<E>>),
}

/// Asks a breaker kind that decides admissions later; a wait goes to `waiting`.
#[cold]
#[inline(never)]
fn admit_awaiting<H: Handle, O>(
    handle: H,
    waiting: &mut Waiting<H, O>,
    cx: &mut Context<'_>,
) -> Poll<Result<Permit<H>, crate::error::Rejected>> {
    match acquire_awaiting(handle) {
        Acquiring::Now(admitted) => Poll::Ready(admitted),
        Acquiring::Later(wait) => {
            *waiting = Waiting::Admission(wait);
            let Waiting::Admission(wait) = waiting else {
                return Poll::Pending;
            };
            let admitted = match Pin::new(wait).poll(cx) {
                Poll::Ready(admitted) => admitted,
                Poll::Pending => return Poll::Pending,
            };
            *waiting = Waiting::No;
            Poll::Ready(admitted)
        }
    }
}

/// Concludes a call on a breaker kind that decides reports later: a failure waits for its
/// report's answer in `waiting`.
#[cold]
#[inline(never)]
fn conclude_awaiting<H: Handle, T, E: fmt::Debug>(
    permit: Permit<H>,
    result: Result<T, E>,
    classify: &mut impl Classify<T, E>,
    waiting: &mut Waiting<H, Result<T, E>>,
    cx: &mut Context<'_>,
) -> Poll<Result<T, Error<E>>> {
    match permit.conclude_start(result, classify) {
        Concluding::Done(r) => Poll::Ready(r),
        Concluding::Waiting(wait, e, trip_error) => {
            *waiting = Waiting::Report(wait, Err(e), trip_error);
            match poll_waiting(waiting, cx) {
                Poll::Ready(Step::Concluded(r)) => Poll::Ready(r),
                _ => Poll::Pending,
            }
        }
    }
}

/// Polls what the call awaits; once answered, the next step.
#[cold]
#[inline(never)]
fn poll_waiting<H: Handle, T, E>(
    waiting: &mut Waiting<H, Result<T, E>>,
    cx: &mut Context<'_>,
) -> Poll<Step<H, T, E>> {
    let transition = match waiting {
        Waiting::No => return Poll::Pending,
        Waiting::Admission(wait) => {
            let admitted = match Pin::new(wait).poll(cx) {
                Poll::Ready(admitted) => admitted,
                Poll::Pending => return Poll::Pending,
            };
            *waiting = Waiting::No;
            return Poll::Ready(Step::Admitted(admitted));
        }
        Waiting::Report(wait, _, _) => match Pin::new(wait).poll(cx) {
            Poll::Ready(t) => t,
            Poll::Pending => return Poll::Pending,
        },
    };
    match core::mem::replace(waiting, Waiting::No) {
        Waiting::Report(_, Err(e), trip_error) => Poll::Ready(Step::Concluded(Err(
            tripped_or_inner(transition, e, trip_error),
        ))),
        Waiting::Report(_, Ok(v), _) => Poll::Ready(Step::Concluded(Ok(v))),
        _ => Poll::Pending,
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
