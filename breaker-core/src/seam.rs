//! The seam every breaker kind implements, and the handles that hold a breaker.
//!
//! Permits, call futures, protected functions, the timer policy (timeout, wait mode, limit,
//! fallback) and the tower layer are written once, against two small traits:
//!
//! - [`Breaker`]: what a breaker kind provides. [`crate::CircuitBreaker`] (the in-process atomic
//!   breaker) is one; a breaker whose state is shared by many processes is another.
//! - [`Handle`]: how a breaker is held, by reference (`&B`, a `static`) or owned (`Arc<B>`). Every
//!   dependent type is generic over the handle, not over the breaker's parts, so
//!   `Arc<CircuitBreaker<..>>` gives `'static + Send + Clone` permits and protected functions,
//!   and `&'static CircuitBreaker<..>` gives the same on a microcontroller without allocation.
//!
//! ```
//! use std::sync::Arc;
//! use breaker_core::{CircuitBreaker, Config, Handle, StdClock};
//!
//! let breaker = Arc::new(CircuitBreaker::<StdClock>::new(Config::default()));
//! // An owned permit: it can move to another thread, and outlive this scope's borrow.
//! let permit = Arc::clone(&breaker).try_acquire().unwrap();
//! std::thread::spawn(move || permit.success()).join().unwrap();
//! ```

use core::fmt;
use core::future::Future;
use core::task::{Context, Poll};

use crate::classify::{self, Classify};
use crate::clock::{Clock, Duration, Instant};
use crate::error::{Error, Rejected};
use crate::future::Call;
use crate::machine::{Outcome, State, Transition};
use crate::permit::Permit;
use crate::policy::{ConcurrencyLimit, Policy, Protected};
use crate::runtime::Timer;

/// What one admitted call carries from admission to its report: plain data, so that any breaker
/// kind can make one and every permit type can hold one.
///
/// Plain integers only (24 bytes, no padding): a permit is moved by value through the
/// call path, and a ticket of scalars stays in registers once that path is inlined, where one
/// holding an enum (a state change with its reason) went through memory at every move.
//
// `repr(C)`, its 8-byte fields first: with a layout left to the compiler, a 32-bit
// microcontroller copied a `Result` holding a ticket in unaligned parts through `memcpy`
// (linking the 756-byte library routine into the firmware); aligned, the copies are inline.
#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Ticket {
    token: u64,
    // `NO_START` when the call is not timed. Clocks keep instants at or below
    // `MAX_INSTANT_MICROS`, but `Ticket::new` is public: it moves a start at `NO_START` itself
    // one microsecond earlier rather than let it read back as "not timed".
    start: u64,
    generation: u32,
    // 0 or 1: a `u32` rather than a `bool`, so that the ticket has no padding to copy.
    trial: u32,
}

const NO_START: u64 = u64::MAX;

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket")
            .field("generation", &self.generation)
            .field("trial", &self.is_trial())
            .field("start", &self.started_at())
            .field("token", &self.token)
            .finish()
    }
}

impl Ticket {
    /// A ticket for a call admitted in `generation`; `trial` when it is a half-open trial;
    /// `start` when the breaker times calls (the slow-call rule).
    ///
    /// [`Ticket::started_at`] gives `start` back, except that an instant of `u64::MAX` µs (far
    /// past [`crate::clock::MAX_INSTANT_MICROS`], which no clock may report) reads back one
    /// microsecond earlier: a timed call stays timed.
    pub const fn new(generation: u32, trial: bool, start: Option<Instant>) -> Self {
        Ticket {
            generation,
            trial: trial as u32,
            start: match start {
                // `NO_START` stands for "not timed".
                Some(start) if start.as_micros() == NO_START => NO_START - 1,
                Some(start) => start.as_micros(),
                None => NO_START,
            },
            token: 0,
        }
    }

    /// The same ticket, carrying `token`: a number of the breaker kind's own, given back with
    /// the report (the in-process breaker keeps its count of transitions there, which tells a
    /// ticket whose generation came round again from a current one).
    pub const fn with_token(mut self, token: u64) -> Self {
        self.token = token;
        self
    }

    /// The breaker kind's own number (see [`Ticket::with_token`]).
    pub const fn token(&self) -> u64 {
        self.token
    }

    /// The generation the call was admitted in.
    pub const fn generation(&self) -> u32 {
        self.generation
    }

    /// Whether the call is a half-open trial.
    pub const fn is_trial(&self) -> bool {
        self.trial != 0
    }

    /// When the call started, if the breaker times calls.
    pub const fn started_at(&self) -> Option<Instant> {
        if self.start == NO_START {
            None
        } else {
            Some(Instant::from_micros(self.start))
        }
    }
}

/// What [`Breaker::admit`] gives: the ticket, and the state change that admitting the call
/// caused (open to half-open), which [`Breaker::admitted`] reports once the permit exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Admitted {
    /// The admitted call's ticket, held by its permit until the report.
    pub ticket: Ticket,
    /// The state change the admission caused, if any: reported by [`Breaker::admitted`], not
    /// kept in the permit.
    pub transition: Option<Transition>,
}

impl From<Ticket> for Admitted {
    #[inline]
    fn from(ticket: Ticket) -> Self {
        Admitted {
            ticket,
            transition: None,
        }
    }
}

/// How an admitted call ended, as its permit reports it.
#[derive(Clone, Copy)]
pub enum End<'e> {
    /// The call finished and counts as `Outcome`; the error, when it returned one, for listeners.
    Finished(Outcome, Option<&'e dyn fmt::Debug>),
    /// The call went away without reporting (its permit or future was dropped, or it panicked).
    Cancelled,
    /// The call never ran: its permit was given back unused (its concurrency limit was full,
    /// and the policy reported that instead). Counts as [`Outcome::Ignored`], with no listener
    /// event of its own.
    Unused,
}

impl fmt::Debug for End<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            End::Finished(o, _) => f.debug_tuple("Finished").field(o).finish(),
            End::Cancelled => f.write_str("Cancelled"),
            End::Unused => f.write_str("Unused"),
        }
    }
}

/// What a breaker kind provides: admission, recording, and what the timed features read.
///
/// Everything else (the [`Permit`] and its drop-as-cancellation, the [`Call`] future, the timer
/// policy, fallbacks, the tower layer, the conformance suite) is written once against this trait.
///
/// # Contract
///
/// A second implementation MUST:
///
/// - admit at most the configured number of half-open trials at once, across everything that
///   shares its state, and give a trial's slot back when its ticket is reported with
///   [`End::Cancelled`] or [`Outcome::Ignored`];
/// - ignore a report whose ticket's generation is not the current one (a stale outcome never
///   changes the new state);
/// - never block in [`Breaker::admit`] or [`Breaker::report`] on anything but its own short
///   critical sections (no lock held across the user's call), and never panic;
/// - answer [`Breaker::state`] with time-driven changes that are due applied.
///
/// It SHOULD answer a steady closed success without shared writes or clock reads.
pub trait Breaker {
    /// The clock the breaker measures with; with a runtime adapter, also its timer.
    type Clock: Clock;

    /// The clock.
    fn clock(&self) -> &Self::Clock;

    /// The breaker's name (empty when it has none).
    fn name(&self) -> &'static str;

    /// Asks to make a call: a ticket and the state change admitting it caused, or why not.
    /// Reports the rejection to listeners; does not report the admission (see
    /// [`Breaker::admitted`]).
    ///
    /// # Errors
    ///
    /// [`Rejected`] while the breaker refuses calls.
    fn admit(&self) -> Result<Admitted, Rejected>;

    /// Called once the admitted call's permit exists: reports the admission, and the state
    /// change `transition` it caused (from [`Admitted::transition`]), to listeners. If a
    /// listener panics here, the permit is dropped on the way out and gives its trial slot back.
    fn admitted(&self, ticket: &Ticket, transition: Option<Transition>);

    /// Reports how an admitted call ended; returns the state change the report caused.
    fn report(&self, ticket: &Ticket, end: End<'_>) -> Option<Transition>;

    /// Whether the call whose failure opens the breaker reports [`Error::Tripped`] rather than
    /// [`Error::Inner`]. Read only on the error path.
    fn trip_error(&self) -> bool;

    /// The state, with time-driven changes that are due applied.
    fn state(&self) -> State;

    /// Whether a call asking now would be refused because the breaker is open or forced open,
    /// judged without asking for a ticket (which would count a rejection): an adapter's
    /// readiness check (the tower layer's `poll_ready`). The default reads [`Breaker::state`];
    /// a breaker kind overrides it to answer the closed case without reading the clock.
    #[inline]
    fn refuses_now(&self) -> bool {
        matches!(self.state(), State::Open | State::ForcedOpen)
    }

    /// The common admission, cheap enough to inline into an adapter's per-request path: a
    /// ticket when the breaker admits the call from its state alone (closed, nothing to time),
    /// the same ticket [`Breaker::admit`] would give (with no state change); `None` otherwise, and then the caller asks
    /// [`Breaker::admit`], which decides (and may refuse). It refuses nothing, writes no shared
    /// memory and reports nothing: listeners hear of the admission through
    /// [`Breaker::admitted`], as after `admit`. The default: `None` (always ask `admit`).
    #[inline]
    fn admit_quick(&self) -> Option<Ticket> {
        None
    }

    /// For a caller waiting to be admitted (wait mode): whether to ask now, or how long to
    /// sleep first, judged without asking for a ticket (which would count a rejection).
    fn wait_hint(&self, now: Instant) -> WaitHint;

    /// When the breaker will next change state with nobody calling (the open duration ending,
    /// trials in flight given up), if it will; a driver sleeps until then and calls
    /// [`Breaker::advance`]. The default: never (a breaker kind without timed changes of its own).
    fn next_change(&self) -> Option<Instant> {
        None
    }

    /// Applies the time-driven changes due now and reports them to listeners, as a call would
    /// have; returns the state change, if any.
    fn advance(&self) -> Option<Transition> {
        None
    }

    /// The number of state changes so far (wrapping): a driver waits for it to move. Together
    /// with [`Breaker::register_waker`], it tells a driver that a new timed change may be due.
    fn changes(&self) -> u64 {
        0
    }

    /// Asks to have `waker` woken at the next state change (one waker: the driver's). A breaker
    /// kind without a driver ignores it.
    fn register_waker(&self, waker: &core::task::Waker) {
        let _ = waker;
    }

    /// Claims the breaker for a driver (see [`crate::runtime::drive`]): `true` for the first claim.
    /// While claimed, the driver applies time-driven changes when they are due, so an open breaker
    /// may answer rejections from its state alone, without reading the clock. A breaker kind
    /// without a driver says `false`.
    fn attach_driver(&self) -> bool {
        false
    }

    /// Releases the claim of [`Breaker::attach_driver`] (the driver stopped): rejections read the
    /// clock again.
    fn detach_driver(&self) {}

    /// Reports an event of the timed features (a limit refusal, a timeout, a fallback, the end
    /// of a wait) to the breaker's listeners. The default: none.
    fn observe(&self, event: &crate::listener::Event<'_>) {
        let _ = event;
    }

    /// Whether this breaker kind may decide a report's state change only after
    /// [`Breaker::report`] has returned (a breaker whose state lives in a remote store decides
    /// there, a round trip later). When it says so, the call future ([`Handle::call_async`]),
    /// the timer policy ([`Handle::call_with`]) and [`Permit::conclude_async`] report a failed
    /// call with [`Breaker::report_start`] and await the decision, so that the call whose
    /// failure opens the breaker learns it ([`Error::Tripped`]). The default, `false`, is
    /// inlined into those paths: a breaker kind that decides at once (the in-process breaker)
    /// takes the synchronous path, whose code is as before.
    ///
    /// The answer MUST stay the same for as long as the breaker lives (a constant of the
    /// kind, as both in-tree kinds give): the call future asks it again at each poll and at
    /// its drop to tell whether it holds a wait, and a wait it no longer sees would never be
    /// dropped (its handle and the breaker kind's record of the waiter would leak).
    #[inline(always)]
    fn awaits_reports(&self) -> bool {
        false
    }

    /// Reports how an admitted call ended, as [`Breaker::report`] does, but may leave the state
    /// change to be decided later: [`Reported::Later`] with an id for
    /// [`Breaker::poll_reported`]. Called instead of `report` (never as well) on the paths
    /// that await, and only when [`Breaker::awaits_reports`] says so. The default: `report`'s
    /// answer, now.
    fn report_start(&self, ticket: &Ticket, end: End<'_>) -> Reported {
        Reported::Now(self.report(ticket, end))
    }

    /// The state change of the report taken as [`Reported::Later`]`(id)`, once decided;
    /// registers `cx`'s waker until then. A breaker kind MUST answer within a bound of its own
    /// (a remote store's timeout), with `None` when it cannot tell, so that no call waits
    /// unboundedly for its own report. Asked until it answers once, then never again for
    /// `id`. The default: `None`.
    fn poll_reported(&self, id: u64, cx: &mut Context<'_>) -> Poll<Option<Transition>> {
        let _ = (id, cx);
        Poll::Ready(None)
    }

    /// The waiter for [`Reported::Later`]`(id)` went away before the answer (its future was
    /// dropped): the breaker kind may forget it. The report itself stands. The default:
    /// nothing.
    fn forget_reported(&self, id: u64) {
        let _ = id;
    }

    /// Whether this breaker kind may decide an admission only after [`Breaker::admit`] would
    /// have to answer (a shared breaker in half-open asks its remote store for a trial slot).
    /// When it says so, the call future and the timer policy ask with
    /// [`Breaker::admit_start`] and await the answer instead of being refused at once. The
    /// default, `false`, is inlined into those paths: the in-process breaker's admission is
    /// as before.
    ///
    /// The answer MUST stay the same for as long as the breaker lives, as for
    /// [`Breaker::awaits_reports`]: a call future that awaits its admission and then sees
    /// `false` would neither poll nor drop its wait (a trial slot granted to it would not be
    /// given back) and would run its future unadmitted.
    #[inline(always)]
    fn awaits_admission(&self) -> bool {
        false
    }

    /// Asks to make a call, as [`Breaker::admit`] does, but may leave the answer for later:
    /// [`Admitting::Later`] with an id for [`Breaker::poll_admitted`]. Called instead of
    /// `admit`, only when [`Breaker::awaits_admission`] says so. The default: `admit`'s answer.
    fn admit_start(&self) -> Admitting {
        Admitting::Now(self.admit())
    }

    /// The answer to [`Admitting::Later`]`(id)`, once decided (a ticket is then reported with
    /// [`Breaker::admitted`] by the caller, as after `admit`); registers `cx`'s waker until
    /// then. A breaker kind MUST answer within a bound of its own. Asked until it answers once.
    /// The default: `admit`'s answer.
    ///
    /// # Errors
    ///
    /// [`Rejected`] when the call is refused.
    fn poll_admitted(&self, id: u64, cx: &mut Context<'_>) -> Poll<Result<Admitted, Rejected>> {
        let _ = (id, cx);
        Poll::Ready(self.admit())
    }

    /// The waiter for [`Admitting::Later`]`(id)` went away before the answer: a ticket granted
    /// to it MUST be given back (as a cancelled call's is). The default: nothing.
    fn forget_admitted(&self, id: u64) {
        let _ = id;
    }
}

/// How [`Breaker::admit_start`] took a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admitting {
    /// Decided now.
    Now(Result<Admitted, Rejected>),
    /// Decided later: [`Breaker::poll_admitted`] with this id answers.
    Later(u64),
}

/// A permit decided later: a future over [`Breaker::poll_admitted`], holding the breaker's
/// handle (see [`acquire_awaiting`]). Dropping it before the answer tells the breaker
/// ([`Breaker::forget_admitted`]), which gives back a ticket granted meanwhile.
#[must_use = "futures do nothing unless polled"]
pub struct AdmitFuture<H: Handle> {
    waiting: Option<(H, u64)>,
}

// No field is pinned.
impl<H: Handle> Unpin for AdmitFuture<H> {}

impl<H: Handle> Future for AdmitFuture<H> {
    type Output = Result<Permit<H>, Rejected>;

    fn poll(self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some((handle, id)) = &this.waiting else {
            // Polled after it answered.
            return Poll::Pending;
        };
        let answer = match handle.breaker().poll_admitted(*id, cx) {
            Poll::Ready(answer) => answer,
            Poll::Pending => return Poll::Pending,
        };
        let Some((handle, _)) = this.waiting.take() else {
            return Poll::Pending;
        };
        Poll::Ready(answer.map(|a| admitted(handle, a.ticket, a.transition)))
    }
}

impl<H: Handle> Drop for AdmitFuture<H> {
    fn drop(&mut self) {
        if let Some((handle, id)) = self.waiting.take() {
            handle.breaker().forget_admitted(id);
        }
    }
}

impl<H: Handle> fmt::Debug for AdmitFuture<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdmitFuture")
            .field("id", &self.waiting.as_ref().map(|(_, id)| *id))
            .finish()
    }
}

/// How the awaiting paths ask for a permit from a breaker kind that decides admissions later
/// ([`Breaker::awaits_admission`]): the answer now, or a future for it.
pub enum Acquiring<H: Handle> {
    /// Decided now.
    Now(Result<Permit<H>, Rejected>),
    /// Decided later.
    Later(AdmitFuture<H>),
}

/// Asks `handle`'s breaker for a permit with [`Breaker::admit_start`].
pub fn acquire_awaiting<H: Handle>(handle: H) -> Acquiring<H> {
    match handle.breaker().admit_start() {
        Admitting::Now(answer) => {
            Acquiring::Now(answer.map(|a| admitted(handle, a.ticket, a.transition)))
        }
        Admitting::Later(id) => Acquiring::Later(AdmitFuture {
            waiting: Some((handle, id)),
        }),
    }
}

impl<H: Handle> fmt::Debug for Acquiring<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Acquiring::Now(a) => f.debug_tuple("Now").field(&a.is_ok()).finish(),
            Acquiring::Later(w) => f.debug_tuple("Later").field(w).finish(),
        }
    }
}

/// How [`Breaker::report_start`] took a report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reported {
    /// Decided now: the state change the report caused, if any.
    Now(Option<Transition>),
    /// Decided later: [`Breaker::poll_reported`] with this id answers.
    Later(u64),
}

/// The state change of a report decided later: a future over [`Breaker::poll_reported`],
/// holding the breaker's handle. Dropping it before the answer tells the breaker
/// ([`Breaker::forget_reported`]); the report itself stands.
#[must_use = "futures do nothing unless polled"]
pub struct ReportFuture<H: Handle> {
    waiting: Option<(H, u64)>,
}

impl<H: Handle> ReportFuture<H> {
    /// Waits for [`Reported::Later`]`(id)` of `handle`'s breaker.
    pub fn new(handle: H, id: u64) -> Self {
        ReportFuture {
            waiting: Some((handle, id)),
        }
    }
}

// No field is pinned: the handle and the id move freely.
impl<H: Handle> Unpin for ReportFuture<H> {}

impl<H: Handle> Future for ReportFuture<H> {
    type Output = Option<Transition>;

    fn poll(self: core::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let Some((handle, id)) = &this.waiting else {
            // Polled after it answered.
            return Poll::Ready(None);
        };
        let answer = handle.breaker().poll_reported(*id, cx);
        if answer.is_ready() {
            this.waiting = None;
        }
        answer
    }
}

impl<H: Handle> Drop for ReportFuture<H> {
    fn drop(&mut self) {
        if let Some((handle, id)) = self.waiting.take() {
            handle.breaker().forget_reported(id);
        }
    }
}

impl<H: Handle> fmt::Debug for ReportFuture<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReportFuture")
            .field("id", &self.waiting.as_ref().map(|(_, id)| *id))
            .finish()
    }
}

/// What a waiting caller should do next; see [`Breaker::wait_hint`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitHint {
    /// Ask for a ticket now: it may be admitted.
    AskNow,
    /// Nothing can be admitted for this long (the rest of the open duration).
    Sleep(Duration),
    /// Nothing can be admitted now, and the breaker cannot know for how long (trial slots all
    /// taken, forced open, a deadline still being published): look again after the caller's
    /// poll interval.
    Poll,
}

/// How a breaker is held: by reference (`&B`, `&'static B`) or owned (`Arc<B>`, with `alloc`).
///
/// Permits, call futures and protected functions are generic over the handle: borrowed handles
/// cost nothing, owned ones make them `'static`. The methods take the handle by value, so clone
/// an `Arc` to keep it: `Arc::clone(&breaker).try_acquire()`.
pub trait Handle: Clone {
    /// The breaker held.
    type Breaker: Breaker + ?Sized;

    /// The breaker.
    fn breaker(&self) -> &Self::Breaker;

    /// Asks to make a call: a [`Permit`] holding this handle, or why not.
    ///
    /// # Errors
    ///
    /// [`Rejected`] while the breaker refuses calls.
    // Always inlined: left to the compiler, it is kept out of line wherever a binary has a
    // few more callers of it, and its result (a 40-byte ticket in a `Result`) then goes through
    // memory: the benchmark's closed sync call went from 17 to 31 ns that way.
    #[inline(always)]
    fn try_acquire(self) -> Result<Permit<Self>, Rejected>
    where
        Self: Sized,
    {
        // The common case first: admitted from the state alone (closed, no call timed). Its
        // ticket never meets `admit`'s (which comes with a state change and a rejection) in one
        // value, so that it stays in registers.
        match self.breaker().admit_quick() {
            Some(ticket) => Ok(admitted(self, ticket, None)),
            None => match self.breaker().admit() {
                Ok(Admitted { ticket, transition }) => Ok(admitted(self, ticket, transition)),
                Err(rejected) => Err(rejected),
            },
        }
    }

    /// Runs `f` through the breaker; every `Err` counts as a failure.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] if the breaker refused the call (then `f` did not run),
    /// [`Error::Tripped`] if `f` failed and that opened the breaker, [`Error::Inner`] otherwise.
    #[inline]
    fn call<T, E: fmt::Debug>(self, f: impl FnOnce() -> Result<T, E>) -> Result<T, Error<E>>
    where
        Self: Sized,
    {
        self.call_classified(classify::Errors, f)
    }

    /// Runs `f` through the breaker, with `classify` deciding how its result counts.
    ///
    /// # Errors
    ///
    /// As [`Handle::call`].
    #[inline]
    fn call_classified<T, E: fmt::Debug>(
        self,
        mut classify: impl Classify<T, E>,
        f: impl FnOnce() -> Result<T, E>,
    ) -> Result<T, Error<E>>
    where
        Self: Sized,
    {
        let permit = self.try_acquire()?;
        permit.conclude(f(), &mut classify)
    }

    /// Runs `future` through the breaker; every `Err` counts as a failure. Admission is decided
    /// at the first poll.
    #[inline]
    fn call_async<F>(self, future: F) -> Call<Self, F, classify::Errors>
    where
        Self: Sized,
        F: Future,
    {
        Call::new(self, classify::Errors, future)
    }

    /// Runs `future` through the breaker, with `classify` deciding how its result counts.
    #[inline]
    fn call_async_classified<F, P>(self, classify: P, future: F) -> Call<Self, F, P>
    where
        Self: Sized,
        F: Future,
    {
        Call::new(self, classify, future)
    }

    /// Runs `future` through the breaker under `policy` (timeout, wait mode, concurrency
    /// limit): see `CircuitBreaker::call_with`. The future holds this handle: with an `Arc`,
    /// it borrows only the policy.
    ///
    /// # Errors
    ///
    /// As `CircuitBreaker::call_with`.
    fn call_with<'a, S, F, T, E>(
        self,
        policy: &'a Policy<S>,
        future: F,
    ) -> impl Future<Output = Result<T, Error<E>>> + use<'a, Self, S, F, T, E>
    where
        Self: Sized + 'a,
        <Self::Breaker as Breaker>::Clock: Timer,
        S: ConcurrencyLimit,
        F: Future<Output = Result<T, E>>,
        E: fmt::Debug,
    {
        crate::policy::protected::call_with(self, policy, future)
    }

    /// A function protected by this handle's breaker under `policy` (see [`Protected`]). With
    /// an `Arc`, the protected function is `'static` and `Clone` (when `f` is).
    fn protect<S, F>(self, policy: Policy<S>, f: F) -> Protected<Self, S, F>
    where
        Self: Sized,
    {
        Protected::new(self, policy, f)
    }
}

/// The permit of an admitted call, made before any listener runs: a panicking listener drops
/// it, which gives a half-open trial slot back.
#[inline(always)]
fn admitted<H: Handle>(handle: H, ticket: Ticket, transition: Option<Transition>) -> Permit<H> {
    let permit = Permit::new(handle, ticket);
    permit.handle().breaker().admitted(&ticket, transition);
    permit
}

impl<B: Breaker + ?Sized> Handle for &B {
    type Breaker = B;
    #[inline]
    fn breaker(&self) -> &B {
        self
    }
}

#[cfg(feature = "alloc")]
impl<B: Breaker + ?Sized> Handle for alloc::sync::Arc<B> {
    type Breaker = B;
    #[inline]
    fn breaker(&self) -> &B {
        self
    }
}
