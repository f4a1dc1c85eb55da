//! The ticket API: acquire a permit, run the call, report how it went (pybreaker's `calling()`,
//! gobreaker's two-step breaker). Usable from sync and async code alike.

use core::fmt;

use crate::classify::Classify;
use crate::error::Error;
use crate::machine::{Outcome, State, Transition};
use crate::seam::{Breaker, End, Handle, ReportFuture, Reported, Ticket};

/// Leave to make one call, from [`Handle::try_acquire`] (or `CircuitBreaker::try_acquire`).
///
/// Report the outcome with [`Permit::success`], [`Permit::failure`], [`Permit::ignore`] or
/// [`Permit::record`]. Dropping a permit without reporting counts as a cancellation: a half-open
/// trial slot is given back at once, so a caller that goes away (a dropped future, a panic) never
/// leaves the breaker stuck in half-open.
///
/// `H` is how the permit holds its breaker: `&CircuitBreaker<..>` (borrowed, or `'static` from a
/// `static`), or `Arc<CircuitBreaker<..>>` (owned: the permit is `'static` and can move to
/// another task or thread).
///
/// # Examples
///
/// ```
/// use breaker_core::{CircuitBreaker, Config, ManualClock};
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::with_clock(&clock, Config::default());
/// match breaker.try_acquire() {
///     Ok(permit) => {
///         let reply: Result<u32, &str> = Ok(42); // the protected work
///         match reply {
///             Ok(_) => permit.success(),
///             Err(e) => {
///                 permit.failure_with(&e);
///             }
///         }
///     }
///     Err(rejected) => println!("not now: {rejected}"),
/// };
/// ```
///
/// Every report consumes the permit, so a call is reported at most once (and a permit is not
/// `Clone`):
///
/// ```compile_fail,E0382
/// use breaker_core::{CircuitBreaker, Config, ManualClock};
///
/// let clock = ManualClock::new();
/// let breaker = CircuitBreaker::with_clock(&clock, Config::default());
/// let permit = breaker.try_acquire().unwrap();
/// permit.success();
/// permit.failure(); // use of a moved value: the permit went with its first report
/// ```
#[must_use = "dropping a permit reports the call as cancelled"]
pub struct Permit<H: Handle> {
    handle: H,
    ticket: Ticket,
    // Cleared by the report, so that `Drop` reports a cancellation only for a permit that was
    // not reported. A flag rather than moving the parts out of an `Option`: the permit is never
    // moved or rewritten on the way, so once the call path is inlined its fields stay in
    // registers. A word rather than a `bool`, so that the permit has no padding to copy.
    live: usize,
}

impl<H: Handle> Permit<H> {
    /// A permit for `ticket`, admitted by `handle`'s breaker. Dropping it reports a
    /// cancellation; implementations of [`crate::Breaker`] and [`Handle`] use this, callers get
    /// permits from [`Handle::try_acquire`].
    #[inline]
    pub fn new(handle: H, ticket: Ticket) -> Self {
        Permit {
            handle,
            ticket,
            live: 1,
        }
    }

    /// The handle this permit holds.
    pub fn handle(&self) -> &H {
        &self.handle
    }

    /// The ticket: what the breaker admitted.
    pub fn ticket(&self) -> &Ticket {
        &self.ticket
    }

    /// Whether this call is a half-open trial.
    pub fn is_trial(&self) -> bool {
        self.ticket().is_trial()
    }

    /// The generation the call was admitted in.
    pub fn generation(&self) -> u32 {
        self.ticket().generation()
    }

    /// When the call started, if the breaker times calls.
    pub fn started_at(&self) -> Option<crate::Instant> {
        self.ticket().started_at()
    }

    #[inline(always)]
    fn end(mut self, end: End<'_>) -> Option<Transition> {
        // Cleared first: a listener that panics in the report must not have the drop report
        // the call a second time.
        self.live = 0;
        self.handle.breaker().report(&self.ticket, end)
    }

    /// Reports `outcome`; returns whether this report opened the breaker.
    #[inline(always)]
    pub fn record(self, outcome: Outcome) -> bool {
        opened(self.end(End::Finished(outcome, None)))
    }

    /// Reports a success.
    #[inline]
    pub fn success(self) {
        self.record(Outcome::Success);
    }

    /// Reports a failure; returns whether it opened the breaker.
    pub fn failure(self) -> bool {
        self.record(Outcome::Failure)
    }

    /// Reports a failure with its error, which listeners receive; returns whether it opened the
    /// breaker.
    pub fn failure_with(self, error: &dyn fmt::Debug) -> bool {
        opened(self.end(End::Finished(Outcome::Failure, Some(error))))
    }

    /// Reports that the call neither succeeded nor failed as far as the breaker is concerned.
    pub fn ignore(self) {
        self.record(Outcome::Ignored);
    }

    /// Gives the permit back without having made the call, and without a listener event (the
    /// caller reports why itself: a policy whose concurrency limit was full reports
    /// [`crate::Listener::on_limit_reached`]). As for a cancellation, a half-open trial slot
    /// is given back.
    pub fn give_back(self) {
        self.end(End::Unused);
    }

    /// Reports `result` as `classify` says, and turns it into the call's result: an error that
    /// opened the breaker becomes [`Error::Tripped`] when the configuration asks for it.
    ///
    /// A panicking classifier drops the permit, which reports a cancellation.
    #[inline(always)]
    pub fn conclude<T, E: fmt::Debug>(
        mut self,
        result: Result<T, E>,
        classify: &mut impl Classify<T, E>,
    ) -> Result<T, Error<E>> {
        let outcome = classify.classify(&result);
        // Cleared after the classifier (whose panic is a cancellation), before the report.
        self.live = 0;
        settle(self.handle.breaker(), &self.ticket, result, outcome)
    }
}

/// Reports `result`, classified as `outcome`, and turns it into the call's result: the second
/// half of [`Permit::conclude`], shared with the [`crate::Call`] future (which keeps its handle
/// and ticket in place rather than in a `Permit`).
#[inline(always)]
pub(crate) fn settle<B: Breaker + ?Sized, T, E: fmt::Debug>(
    breaker: &B,
    ticket: &Ticket,
    result: Result<T, E>,
    outcome: Outcome,
) -> Result<T, Error<E>> {
    match result {
        Ok(v) => {
            breaker.report(ticket, End::Finished(outcome, None));
            Ok(v)
        }
        Err(e) => {
            // Read only on the error path: a success touches no configuration.
            let trip_error = breaker.trip_error();
            let t = breaker.report(ticket, End::Finished(outcome, Some(&e)));
            Err(tripped_or_inner(t, e, trip_error))
        }
    }
}

/// What [`Permit::conclude_start`] left to do.
pub(crate) enum Concluding<H: Handle, T, E> {
    /// The call's result.
    Done(Result<T, Error<E>>),
    /// A failed call whose report is decided later: await the future, then
    /// [`tripped_or_inner`] with the error and the breaker's `trip_error`.
    Waiting(ReportFuture<H>, E, bool),
}

/// The future of [`Permit::conclude_async`]: the call's result, once its report's answer is
/// in. Dropping it before then tells the breaker ([`Breaker::forget_reported`]); the report
/// itself stands.
#[must_use = "futures do nothing unless polled"]
pub struct Concluded<H: Handle, T, E>(Option<Concluding<H, T, E>>);

// Nothing in it is pinned: the wait and the result move freely.
impl<H: Handle, T, E> Unpin for Concluded<H, T, E> {}

impl<H: Handle, T, E> core::future::Future for Concluded<H, T, E> {
    type Output = Result<T, Error<E>>;

    fn poll(
        self: core::pin::Pin<&mut Self>,
        cx: &mut core::task::Context<'_>,
    ) -> core::task::Poll<Self::Output> {
        use core::task::Poll;
        let this = self.get_mut();
        let transition = match &mut this.0 {
            Some(Concluding::Waiting(wait, _, _)) => match core::pin::Pin::new(wait).poll(cx) {
                Poll::Ready(t) => t,
                Poll::Pending => return Poll::Pending,
            },
            _ => None,
        };
        match this.0.take() {
            Some(Concluding::Done(r)) => Poll::Ready(r),
            Some(Concluding::Waiting(_, e, trip_error)) => {
                Poll::Ready(Err(tripped_or_inner(transition, e, trip_error)))
            }
            // Polled after it finished.
            None => Poll::Pending,
        }
    }
}

impl<H: Handle, T, E> fmt::Debug for Concluded<H, T, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Concluded")
            .field("waiting", &matches!(self.0, Some(Concluding::Waiting(..))))
            .finish()
    }
}

/// The error of a failed call, once its report's state change `t` is known.
pub(crate) fn tripped_or_inner<E>(t: Option<Transition>, e: E, trip_error: bool) -> Error<E> {
    if opened(t) && trip_error {
        Error::Tripped(e)
    } else {
        Error::Inner(e)
    }
}

impl<H: Handle> Permit<H> {
    /// [`Permit::conclude`], awaiting the breaker's decision on a failed call when the breaker
    /// kind decides reports later ([`Breaker::awaits_reports`]: a breaker shared through a
    /// remote store), so that the call whose failure opens the breaker learns it
    /// ([`Error::Tripped`], when the configuration asks for it). A success, and every report to
    /// a breaker kind that decides at once, is [`Permit::conclude`] with no wait.
    ///
    /// The report is made at once (as by `conclude`); the future returned only waits for its
    /// answer, and holds neither the classifier nor the permit.
    pub fn conclude_async<T, E: fmt::Debug>(
        self,
        result: Result<T, E>,
        classify: &mut impl Classify<T, E>,
    ) -> Concluded<H, T, E> {
        Concluded(Some(self.conclude_start(result, classify)))
    }

    /// The first half of [`Permit::conclude_async`]: reports `result`, and says what is left.
    #[inline]
    pub(crate) fn conclude_start<T, E: fmt::Debug>(
        mut self,
        result: Result<T, E>,
        classify: &mut impl Classify<T, E>,
    ) -> Concluding<H, T, E> {
        // A success never waits.
        if !self.handle().breaker().awaits_reports() || result.is_ok() {
            return Concluding::Done(self.conclude(result, classify));
        }
        let outcome = classify.classify(&result);
        // Cleared after the classifier (whose panic is a cancellation), before the report.
        self.live = 0;
        let e = match result {
            Err(e) => e,
            // Not reached (a success was concluded above); settled all the same, not a panic.
            ok => {
                return Concluding::Done(settle(self.handle.breaker(), &self.ticket, ok, outcome))
            }
        };
        let trip_error = self.handle().breaker().trip_error();
        match self
            .handle
            .breaker()
            .report_start(&self.ticket, End::Finished(outcome, Some(&e)))
        {
            Reported::Now(t) => Concluding::Done(Err(tripped_or_inner(t, e, trip_error))),
            Reported::Later(id) => {
                Concluding::Waiting(ReportFuture::new(self.handle.clone(), id), e, trip_error)
            }
        }
    }

    /// The ticket of an admitted call, the permit given up without a report: the caller (the
    /// [`crate::Call`] future, which holds its own handle) reports it.
    #[inline]
    pub(crate) fn disarm(mut self) -> Ticket {
        self.live = 0;
        self.ticket
    }
}

fn opened(t: Option<Transition>) -> bool {
    matches!(
        t,
        Some(Transition {
            to: State::Open,
            ..
        })
    )
}

impl<H: Handle> Drop for Permit<H> {
    fn drop(&mut self) {
        if self.live != 0 {
            self.live = 0;
            self.handle.breaker().report(&self.ticket, End::Cancelled);
        }
    }
}

impl<H: Handle> fmt::Debug for Permit<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Permit")
            .field("breaker", &self.handle.breaker().name())
            .field("ticket", &self.ticket)
            .finish()
    }
}
