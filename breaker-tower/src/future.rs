//! The response future of [`crate::CircuitBreaker`].

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use alloc::boxed::Box;
use breaker_core::{Breaker, Handle, Outcome, Permit, Rejected};
use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::BoxError;

pin_project! {
    /// The future of a request through [`crate::CircuitBreaker`]: the inner service's future
    /// with the request's permit, or a refusal.
    ///
    /// On completion it classifies the result and reports it through the permit; dropped
    /// before that, its permit reports a cancellation (a half-open trial slot is given back).
    /// Polled again after it completed, it passes on what the inner future says, unrecorded.
    #[must_use = "futures do nothing unless polled"]
    pub struct ResponseFuture<F, H: Handle, P> {
        #[pin]
        kind: Kind<F, H, P>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F, H: Handle, P> {
        Admitted {
            #[pin]
            future: F,
            permit: Option<Permit<H>>,
            classify: P,
        },
        Rejected {
            rejected: Rejected,
        },
    }
}

impl<F, H: Handle, P> ResponseFuture<F, H, P> {
    #[inline]
    pub(crate) fn admitted(future: F, permit: Permit<H>, classify: P) -> Self {
        ResponseFuture {
            kind: Kind::Admitted {
                future,
                permit: Some(permit),
                classify,
            },
        }
    }

    #[inline]
    pub(crate) fn rejected(rejected: Rejected) -> Self {
        ResponseFuture {
            kind: Kind::Rejected { rejected },
        }
    }
}

impl<F, H, P, T, E> Future for ResponseFuture<F, H, P>
where
    F: Future<Output = Result<T, E>>,
    E: Into<BoxError>,
    H: Handle,
    P: Classify<T, E>,
{
    type Output = Result<T, BoxError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Admitted {
                future,
                permit,
                classify,
            } => {
                let result = ready!(future.poll(cx));
                let Some(permit) = permit.take() else {
                    return Poll::Ready(result.map_err(Into::into));
                };
                // A panicking classifier drops the permit: a cancellation.
                let outcome = classify.classify(&result);
                Poll::Ready(match result {
                    Ok(response) => {
                        permit.record(outcome);
                        Ok(response)
                    }
                    Err(e) => {
                        let e = e.into();
                        if outcome == Outcome::Failure {
                            // Listeners get the error.
                            permit.failure_with(&e);
                        } else {
                            permit.record(outcome);
                        }
                        Err(e)
                    }
                })
            }
            // `Rejected` is `Copy`: polled again, it refuses again.
            KindProj::Rejected { rejected } => Poll::Ready(Err(Box::new(*rejected))),
        }
    }
}

impl<F, H: Handle, P> fmt::Debug for ResponseFuture<F, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Admitted { permit, .. } => f
                .debug_struct("ResponseFuture")
                .field(
                    "breaker",
                    &permit.as_ref().map(|p| p.handle().breaker().name()),
                )
                .field("permit", &permit.as_ref().map(|p| p.ticket()))
                .finish_non_exhaustive(),
            Kind::Rejected { rejected } => f
                .debug_struct("ResponseFuture")
                .field("rejected", rejected)
                .finish(),
        }
    }
}
