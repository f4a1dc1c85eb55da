//! The response future of [`crate::CircuitBreaker`].

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{ready, Context, Poll};

use alloc::boxed::Box;
use breaker_core::{Breaker, End, Handle, Outcome, Rejected, Ticket, Transition};
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
            permit: Lease<H>,
            classify: P,
        },
        Rejected {
            rejected: Rejected,
        },
    }
}

impl<F, H: Handle, P> ResponseFuture<F, H, P> {
    #[inline]
    pub(crate) fn admitted(future: F, permit: Lease<H>, classify: P) -> Self {
        ResponseFuture {
            kind: Kind::Admitted {
                future,
                permit,
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

    #[inline(always)]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Admitted {
                future,
                permit,
                classify,
            } => {
                let result = ready!(future.poll(cx));
                if permit.is_reported() {
                    return Poll::Ready(result.map_err(Into::into));
                }
                // A panicking classifier leaves the permit to the future's drop: a
                // cancellation.
                let outcome = classify.classify(&result);
                Poll::Ready(match result {
                    Ok(response) => {
                        permit.report(End::Finished(outcome, None));
                        Ok(response)
                    }
                    Err(e) => Err(failed(permit, outcome, e)),
                })
            }
            KindProj::Rejected { rejected } => Poll::Ready(Err(refused(rejected))),
        }
    }
}

/// Reports an inner error as `outcome` says; listeners get the error of a failure.
#[inline(never)]
fn failed<H: Handle, E: Into<BoxError>>(permit: &mut Lease<H>, outcome: Outcome, e: E) -> BoxError {
    let e = e.into();
    let error: Option<&dyn fmt::Debug> = match outcome {
        Outcome::Failure => Some(&e),
        _ => None,
    };
    permit.report(End::Finished(outcome, error));
    e
}

/// `Rejected` is `Copy`: polled again, the future refuses again.
#[cold]
#[inline(never)]
fn refused(rejected: &Rejected) -> BoxError {
    Box::new(*rejected)
}

/// The permit of an admitted request: its breaker's handle and ticket, reported once. Dropped
/// unreported, it reports a cancellation (a half-open trial slot is given back), as the core's
/// `Permit` does.
///
/// Not the core's `Permit`, whose report the compiler keeps out of line (one function for every
/// way of reporting), which left the response future's state in memory: here the report of a
/// closed-path ticket is inlined into `poll` and everything else is out of line. A ticket of
/// the closed path is kept as its two numbers (generation and token).
pub(crate) struct Lease<H: Handle> {
    handle: H,
    held: Held,
}

#[derive(Clone, Copy, Debug)]
enum Held {
    /// `Ticket::new(generation, false, None).with_token(token)`: no trial, not timed (what
    /// `Breaker::admit_quick` gives).
    Closed { generation: u32, token: u64 },
    /// Any other ticket.
    Ticket(Ticket),
    /// Reported: nothing left to do.
    Reported,
}

impl Held {
    #[inline]
    fn ticket(self) -> Option<Ticket> {
        match self {
            Held::Closed { generation, token } => Some(closed_ticket(generation, token)),
            Held::Ticket(ticket) => Some(ticket),
            Held::Reported => None,
        }
    }
}

#[inline]
const fn closed_ticket(generation: u32, token: u64) -> Ticket {
    Ticket::new(generation, false, None).with_token(token)
}

impl<H: Handle> Lease<H> {
    /// The lease of a ticket from [`Breaker::admit_quick`].
    #[inline]
    pub(crate) fn quick(handle: H, ticket: &Ticket) -> Self {
        let held = if ticket.is_trial() || ticket.started_at().is_some() {
            // Not what `admit_quick` promises; kept whole all the same.
            Held::Ticket(*ticket)
        } else {
            Held::Closed {
                generation: ticket.generation(),
                token: ticket.token(),
            }
        };
        Lease { handle, held }
    }

    /// The lease of any other ticket.
    #[inline]
    pub(crate) fn new(handle: H, ticket: Ticket) -> Self {
        Lease {
            handle,
            held: Held::Ticket(ticket),
        }
    }

    /// Tells the listeners of the admission (see [`Breaker::admitted`]); a listener that panics
    /// drops the lease on the way out, which gives a trial slot back.
    #[inline]
    pub(crate) fn admitted(&self, transition: Option<Transition>) {
        if let Some(ticket) = self.held.ticket() {
            self.handle.breaker().admitted(&ticket, transition);
        }
    }

    #[inline]
    fn is_reported(&self) -> bool {
        matches!(self.held, Held::Reported)
    }

    /// Reports how the call ended, once: the closed path inline, the rest out of line.
    #[inline(always)]
    fn report(&mut self, end: End<'_>) {
        if let Held::Closed { generation, token } = self.held {
            // Marked reported first: a listener that panics does not have it reported again.
            self.held = Held::Reported;
            self.handle
                .breaker()
                .report(&closed_ticket(generation, token), end);
        } else {
            self.report_held(end);
        }
    }

    #[inline(never)]
    fn report_held(&mut self, end: End<'_>) {
        match core::mem::replace(&mut self.held, Held::Reported) {
            Held::Closed { generation, token } => {
                self.handle
                    .breaker()
                    .report(&closed_ticket(generation, token), end);
            }
            Held::Ticket(ticket) => {
                self.handle.breaker().report(&ticket, end);
            }
            Held::Reported => {}
        }
    }
}

impl<H: Handle> Drop for Lease<H> {
    #[inline]
    fn drop(&mut self) {
        if !self.is_reported() {
            self.cancel();
        }
    }
}

impl<H: Handle> Lease<H> {
    #[cold]
    #[inline(never)]
    fn cancel(&mut self) {
        self.report(End::Cancelled);
    }
}

impl<F, H: Handle, P> fmt::Debug for ResponseFuture<F, H, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Admitted { permit, .. } => f
                .debug_struct("ResponseFuture")
                .field("breaker", &permit.handle.breaker().name())
                .field("permit", &permit.held.ticket())
                .finish_non_exhaustive(),
            Kind::Rejected { rejected } => f
                .debug_struct("ResponseFuture")
                .field("rejected", rejected)
                .finish(),
        }
    }
}
