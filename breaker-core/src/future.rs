//! The async call: a named future, no boxing, no allocation, cancel-safe.

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::Error;
use crate::permit::settle;
use crate::seam::{Admitted, Breaker, End, Handle, Ticket};

pin_project! {
    /// The future of a call through a breaker ([`Handle::call_async`],
    /// `CircuitBreaker::call_async`).
    ///
    /// Admission is decided at the first poll (a future that is never polled never takes a trial
    /// slot). Dropping it mid-call reports a cancellation and gives back a half-open trial slot,
    /// as a dropped [`crate::Permit`] does; so does a panic inside the protected future. With an
    /// owned handle (`Arc<CircuitBreaker<..>>`) it is `'static` and can be spawned.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<H: Handle, F, P> {
        // The handle and ticket stay in place from admission to report (a `Permit` would be
        // moved in and out of an `Option`), so that the closed path stays a few instructions.
        handle: H,
        ticket: Ticket,
        stage: Stage,
        classify: P,
        #[pin]
        future: F,
    }

    impl<H: Handle, F, P> PinnedDrop for Call<H, F, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.stage == Stage::Running {
                *this.stage = Stage::Done;
                cancelled(this.handle.breaker(), *this.ticket);
            }
        }
    }
}

/// Reports the cancellation of a dropped [`Call`]. Out of line, so that the future's drop stays
/// small enough to inline and the future's state can live in registers.
#[cold]
#[inline(never)]
fn cancelled<B: Breaker + ?Sized>(breaker: &B, ticket: Ticket) {
    breaker.report(&ticket, End::Cancelled);
}

/// Where a [`Call`] is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// Not polled yet: not admitted.
    New,
    /// Admitted: its ticket is to be reported, as a cancellation if the future is dropped.
    Running,
    /// Refused, or reported.
    Done,
}

impl<H: Handle, F, P> Call<H, F, P> {
    /// A call of `future` through `handle`'s breaker, classified by `classify`.
    #[inline]
    pub fn new(handle: H, classify: P, future: F) -> Self {
        Call {
            handle,
            ticket: Ticket::new(0, false, None),
            stage: Stage::New,
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
        if *this.stage == Stage::New {
            let breaker = this.handle.breaker();
            let (ticket, transition) = match breaker.admit_quick() {
                Some(ticket) => (ticket, None),
                None => match breaker.admit() {
                    Ok(Admitted { ticket, transition }) => (ticket, transition),
                    Err(rejected) => {
                        *this.stage = Stage::Done;
                        return Poll::Ready(Err(Error::Rejected(rejected)));
                    }
                },
            };
            // Running before any listener runs: a panicking listener leaves a future whose
            // drop gives a half-open trial slot back.
            *this.ticket = ticket;
            *this.stage = Stage::Running;
            breaker.admitted(this.ticket, transition);
        }
        let result = match this.future.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        if *this.stage != Stage::Running {
            // Polled again after it finished: pass on what the inner future says, unrecorded.
            return Poll::Ready(result.map_err(Error::Inner));
        }
        // A panicking classifier leaves the call running: its drop reports a cancellation.
        let outcome = this.classify.classify(&result);
        *this.stage = Stage::Done;
        Poll::Ready(settle(this.handle.breaker(), this.ticket, result, outcome))
    }
}

impl<H: Handle, F, P> fmt::Debug for Call<H, F, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Call")
            .field("breaker", &self.handle.breaker().name())
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}
