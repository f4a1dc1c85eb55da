//! The async call: a named future, no boxing, no allocation, cancel-safe.

use core::fmt;
use core::future::Future;
use core::mem::ManuallyDrop;
use core::pin::Pin;
use core::task::{Context, Poll};

use pin_project_lite::pin_project;

use crate::classify::Classify;
use crate::error::{Error, Rejected};
use crate::permit::{settle, tripped_or_inner, Concluding, Permit};
use crate::seam::{
    acquire_awaiting, Acquiring, AdmitFuture, Admitted, Breaker, End, Handle, ReportFuture, Ticket,
};

pin_project! {
    /// The future of a call through a breaker ([`Handle::call_async`],
    /// `CircuitBreaker::call_async`).
    ///
    /// Admission is decided at the first poll (a future that is never polled never takes a trial
    /// slot). Dropping it mid-call reports a cancellation and gives back a half-open trial slot,
    /// as a dropped [`Permit`] does; so does a panic inside the protected future. With an
    /// owned handle (`Arc<CircuitBreaker<..>>`) it is `'static` and can be spawned.
    ///
    /// On a breaker kind that decides reports later ([`Breaker::awaits_reports`]: a breaker
    /// shared through Redis), a failed call waits for its report's answer (bounded by the
    /// breaker kind), so the call whose failure opens the breaker returns [`Error::Tripped`]
    /// when the configuration asks for it. A success never waits. On one that decides
    /// admissions later ([`Breaker::awaits_admission`]), the first poll may wait for the
    /// admission (a shared half-open trial slot) instead of being refused at once.
    #[must_use = "futures do nothing unless polled"]
    pub struct Call<H: Handle, F: Future, P> {
        // The handle and ticket stay in place from admission to report (a `Permit` would be
        // moved in and out of an `Option`), so that the closed path stays a few instructions.
        handle: H,
        ticket: Ticket,
        stage: Stage,
        // An admission, or a failed call's report, being decided (breaker kinds that await).
        // Dropped by hand (out of line, only when something is awaited), so that the drop of a
        // plain call stays small.
        waiting: ManuallyDrop<Waiting<H, F::Output>>,
        classify: P,
        #[pin]
        future: F,
    }

    impl<H: Handle, F: Future, P> PinnedDrop for Call<H, F, P> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if *this.stage == Stage::Running {
                *this.stage = Stage::Done;
                cancelled(this.handle.breaker(), *this.ticket);
            }
            // Nothing is ever awaited with a breaker kind that decides at once: folds away.
            let breaker = this.handle.breaker();
            if (breaker.awaits_admission() || breaker.awaits_reports())
                && !matches!(**this.waiting, Waiting::No)
            {
                forget_waiting(this.waiting);
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

/// Drops what a dropped [`Call`] was awaiting (which tells the breaker kind it went away).
#[cold]
#[inline(never)]
fn forget_waiting<H: Handle, O>(waiting: &mut Waiting<H, O>) {
    drop(core::mem::replace(waiting, Waiting::No));
}

/// Where a [`Call`] is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Stage {
    /// Not polled yet: not admitted.
    New,
    /// Waiting for its admission (a breaker kind that decides admissions later).
    Admitting,
    /// Admitted: its ticket is to be reported, as a cancellation if the future is dropped.
    Running,
    /// Its failure reported, waiting for the answer (a breaker kind that decides later).
    Reporting,
    /// Refused, or reported and answered.
    Done,
}

impl<H: Handle, F: Future, P> Call<H, F, P> {
    /// A call of `future` through `handle`'s breaker, classified by `classify`.
    #[inline]
    pub fn new(handle: H, classify: P, future: F) -> Self {
        Call {
            handle,
            ticket: Ticket::new(0, false, None),
            stage: Stage::New,
            waiting: ManuallyDrop::new(Waiting::No),
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
        match *this.stage {
            Stage::New => {
                let breaker = this.handle.breaker();
                // Inlined `false` for a breaker kind that admits at once: the plain path.
                if breaker.awaits_admission() {
                    *this.stage = Stage::Admitting;
                    let admitted = match admit_awaiting(this.handle.clone(), this.waiting, cx) {
                        Poll::Ready(admitted) => admitted,
                        Poll::Pending => return Poll::Pending,
                    };
                    if let Err(rejected) = enter(this.stage, this.ticket, admitted) {
                        return Poll::Ready(Err(Error::Rejected(rejected)));
                    }
                } else {
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
                    // Running before any listener runs: a panicking listener leaves a future
                    // whose drop gives a half-open trial slot back.
                    *this.ticket = ticket;
                    *this.stage = Stage::Running;
                    breaker.admitted(this.ticket, transition);
                }
            }
            // Guarded by the breaker kind's inlined answers: for a kind that decides at once
            // (which never enters these stages) the arm, and the wait's state, fold away.
            Stage::Admitting | Stage::Reporting
                if this.handle.breaker().awaits_admission()
                    || this.handle.breaker().awaits_reports() =>
            {
                match poll_waiting(this.waiting, cx) {
                    Poll::Ready(Step::Admitted(admitted)) => {
                        if let Err(rejected) = enter(this.stage, this.ticket, admitted) {
                            return Poll::Ready(Err(Error::Rejected(rejected)));
                        }
                    }
                    Poll::Ready(Step::Concluded(result)) => {
                        *this.stage = Stage::Done;
                        return Poll::Ready(result);
                    }
                    Poll::Pending => return Poll::Pending,
                }
            }
            _ => {}
        }
        let result = match this.future.poll(cx) {
            Poll::Ready(result) => result,
            Poll::Pending => return Poll::Pending,
        };
        if *this.stage != Stage::Running {
            // Polled again after it finished: pass on what the inner future says, unrecorded.
            return Poll::Ready(result.map_err(Error::Inner));
        }
        // Inlined `false` for a breaker kind that decides at once: the plain path.
        if this.handle.breaker().awaits_reports() {
            // The report moves to a permit of its own (whose drop covers a panicking
            // classifier); this future no longer reports anything itself.
            *this.stage = Stage::Done;
            let permit = Permit::new(this.handle.clone(), *this.ticket);
            let answer = conclude_awaiting(permit, result, this.classify, this.waiting, cx);
            if answer.is_pending() {
                *this.stage = Stage::Reporting;
            }
            return answer;
        }
        // A panicking classifier leaves the call running: its drop reports a cancellation.
        let outcome = this.classify.classify(&result);
        *this.stage = Stage::Done;
        Poll::Ready(settle(this.handle.breaker(), this.ticket, result, outcome))
    }
}

/// A call admitted by an awaited admission starts running with the permit's ticket (the permit
/// has told the listeners); a refused one is done.
#[cold]
fn enter<H: Handle>(
    stage: &mut Stage,
    ticket: &mut Ticket,
    admitted: Result<Permit<H>, Rejected>,
) -> Result<(), Rejected> {
    match admitted {
        Ok(permit) => {
            *ticket = permit.disarm();
            *stage = Stage::Running;
            Ok(())
        }
        Err(rejected) => {
            *stage = Stage::Done;
            Err(rejected)
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
    Admitted(Result<Permit<H>, Rejected>),
    Concluded(Result<T, Error<E>>),
}

/// Asks a breaker kind that decides admissions later; a wait goes to `waiting`.
#[cold]
#[inline(never)]
fn admit_awaiting<H: Handle, O>(
    handle: H,
    waiting: &mut Waiting<H, O>,
    cx: &mut Context<'_>,
) -> Poll<Result<Permit<H>, Rejected>> {
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
        f.debug_struct("Call")
            .field("breaker", &self.handle.breaker().name())
            .field("stage", &self.stage)
            .finish_non_exhaustive()
    }
}
