//! The `Call` future on a breaker kind that decides admissions and failure reports later
//! (`Breaker::awaits_admission`, `Breaker::awaits_reports`: a shared breaker): every admission
//! is still reported exactly once (an outcome or a cancellation), whatever panics and wherever
//! the future is dropped; a wait dropped before its answer is forgotten and reports nothing.
//! Driven by hand with a mock breaker kind that counts every report.
//! Run: cargo test -p breaker-core --test call_future_awaited
#![cfg(not(loom))]

use core::cell::{Cell, RefCell};
use core::future::Future;
use core::panic::AssertUnwindSafe;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::panic::catch_unwind;
use std::sync::Arc;
use std::task::Wake;

use breaker_core::machine::Outcome;
use breaker_core::{
    Admitted, Admitting, Breaker, End, Error, Handle, ManualClock, Rejected, Reported, State,
    Ticket, Transition, WaitHint,
};

/// Admits and decides failures "through a remote store", answered when the test says so;
/// counts every admission told and every report, by kind.
#[derive(Default)]
struct Shared {
    clock: ManualClock,
    /// `admit_start` answers at once (`Admitting::Now`) rather than later.
    admit_now: Cell<bool>,
    /// The answer `poll_admitted` gives next: admitted (a trial) or refused.
    admission: Cell<Option<bool>>,
    /// The answer `poll_reported` gives next.
    report_answer: Cell<Option<Option<Transition>>>,
    /// `admitted` panics once.
    panic_admitted: Cell<bool>,
    told: Cell<u32>,
    finished: Cell<u32>,
    cancelled: Cell<u32>,
    unused: Cell<u32>,
    forgotten_admissions: RefCell<Vec<u64>>,
    forgotten_reports: RefCell<Vec<u64>>,
}

impl Shared {
    /// Reports of every kind (an admitted call has exactly one).
    fn ends(&self) -> u32 {
        self.finished.get() + self.cancelled.get() + self.unused.get()
    }
    fn trial() -> Admitted {
        Ticket::new(3, true, None).into()
    }
}

impl Breaker for Shared {
    type Clock = ManualClock;
    fn clock(&self) -> &ManualClock {
        &self.clock
    }
    fn name(&self) -> &'static str {
        "shared"
    }
    fn admit(&self) -> Result<Admitted, Rejected> {
        Err(Rejected::new("shared", State::HalfOpen, None))
    }
    fn admitted(&self, _: &Ticket, _: Option<Transition>) {
        self.told.set(self.told.get() + 1);
        if self.panic_admitted.replace(false) {
            panic!("listener bug in admitted");
        }
    }
    fn report(&self, _: &Ticket, end: End<'_>) -> Option<Transition> {
        let c = match end {
            End::Finished(..) => &self.finished,
            End::Cancelled => &self.cancelled,
            End::Unused => &self.unused,
        };
        c.set(c.get() + 1);
        None
    }
    fn trip_error(&self) -> bool {
        true
    }
    fn state(&self) -> State {
        State::HalfOpen
    }
    fn wait_hint(&self, _: breaker_core::Instant) -> WaitHint {
        WaitHint::Poll
    }
    fn awaits_admission(&self) -> bool {
        true
    }
    fn admit_start(&self) -> Admitting {
        if self.admit_now.get() {
            Admitting::Now(Ok(Self::trial()))
        } else {
            Admitting::Later(9)
        }
    }
    fn poll_admitted(&self, id: u64, _: &mut Context<'_>) -> Poll<Result<Admitted, Rejected>> {
        assert_eq!(id, 9);
        match self.admission.take() {
            Some(true) => Poll::Ready(Ok(Self::trial())),
            Some(false) => Poll::Ready(self.admit()),
            None => Poll::Pending,
        }
    }
    fn forget_admitted(&self, id: u64) {
        self.forgotten_admissions.borrow_mut().push(id);
    }
    fn awaits_reports(&self) -> bool {
        true
    }
    fn report_start(&self, ticket: &Ticket, end: End<'_>) -> Reported {
        let later = matches!(end, End::Finished(Outcome::Failure, _));
        let now = self.report(ticket, end);
        if later {
            Reported::Later(7)
        } else {
            Reported::Now(now)
        }
    }
    fn poll_reported(&self, id: u64, _: &mut Context<'_>) -> Poll<Option<Transition>> {
        assert_eq!(id, 7);
        match self.report_answer.take() {
            Some(t) => Poll::Ready(t),
            None => Poll::Pending,
        }
    }
    fn forget_reported(&self, id: u64) {
        self.forgotten_reports.borrow_mut().push(id);
    }
}

struct Noop;
impl Wake for Noop {
    fn wake(self: Arc<Self>) {}
}

fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    let waker = Waker::from(Arc::new(Noop));
    f.poll(&mut Context::from_waker(&waker))
}

/// Pending at its first poll, then ready with `result`.
struct PendingOnce<T>(Option<T>, bool);
impl<T: Unpin> Future for PendingOnce<T> {
    type Output = T;
    fn poll(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<T> {
        if core::mem::replace(&mut self.1, true) {
            Poll::Ready(self.0.take().expect("polled after it finished"))
        } else {
            Poll::Pending
        }
    }
}
fn pending_once<T>(t: T) -> PendingOnce<T> {
    PendingOnce(Some(t), false)
}

/// Admitted later or at once, then completed: one admission told, one report. The permit the
/// awaited admission made gives its ticket to the call without reporting it (a cancellation
/// from it would be a second report).
#[test]
fn an_awaited_admission_then_an_outcome_is_one_report() {
    for now in [false, true] {
        let b = Shared::default();
        b.admit_now.set(now);
        let mut call = Box::pin((&b).call_async(pending_once(Ok::<u32, &str>(4))));
        assert!(poll_once(call.as_mut()).is_pending());
        if !now {
            assert_eq!(b.told.get(), 0, "not admitted yet");
            b.admission.set(Some(true));
            assert!(
                poll_once(call.as_mut()).is_pending(),
                "admitted; the call runs"
            );
        }
        assert_eq!((b.told.get(), b.ends()), (1, 0), "now={now}");
        assert_eq!(poll_once(call.as_mut()), Poll::Ready(Ok(4)));
        drop(call);
        assert_eq!(
            (b.told.get(), b.finished.get(), b.ends()),
            (1, 1, 1),
            "now={now}"
        );
    }
}

/// Admitted later, then dropped while its future is pending: one cancellation.
#[test]
fn an_awaited_admission_dropped_while_running_is_one_cancellation() {
    let b = Shared::default();
    let mut call = Box::pin((&b).call_async(core::future::pending::<Result<u32, &str>>()));
    assert!(poll_once(call.as_mut()).is_pending());
    b.admission.set(Some(true));
    assert!(poll_once(call.as_mut()).is_pending());
    drop(call);
    assert_eq!((b.told.get(), b.cancelled.get(), b.ends()), (1, 1, 1));
    assert!(
        b.forgotten_admissions.borrow().is_empty(),
        "it was answered"
    );
}

/// Dropped while its admission is being decided: the wait is forgotten (a slot granted
/// meanwhile goes back through `forget_admitted`), and nothing is reported: it never ran.
#[test]
fn a_call_dropped_while_admitting_is_forgotten_not_reported() {
    let b = Shared::default();
    let mut call = Box::pin((&b).call_async(core::future::pending::<Result<u32, &str>>()));
    assert!(poll_once(call.as_mut()).is_pending());
    drop(call);
    assert_eq!(*b.forgotten_admissions.borrow(), [9]);
    assert_eq!((b.told.get(), b.ends()), (0, 0));
}

/// The listener told of an awaited admission panics: the permit that was being made reports a
/// cancellation, and the call, dropped afterwards, reports nothing more.
#[test]
fn a_panicking_listener_on_an_awaited_admission_is_one_cancellation() {
    for now in [false, true] {
        let b = Shared::default();
        b.admit_now.set(now);
        b.panic_admitted.set(true);
        let mut call = Box::pin((&b).call_async(core::future::pending::<Result<u32, &str>>()));
        if !now {
            assert!(poll_once(call.as_mut()).is_pending());
            b.admission.set(Some(true));
        }
        let r = catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut())));
        assert!(r.is_err(), "now={now}: the listener panicked");
        drop(call);
        assert_eq!(
            (b.told.get(), b.cancelled.get(), b.ends()),
            (1, 1, 1),
            "now={now}"
        );
    }
}

/// A classifier that panics on the awaited-report path: the call ran but its outcome is
/// unknown: one cancellation, and nothing from the call's own drop.
#[test]
fn a_panicking_classifier_on_the_awaited_report_path_is_one_cancellation() {
    let b = Shared::default();
    b.admit_now.set(true);
    let classify = |_: &Result<u32, &str>| -> Outcome { panic!("classifier bug") };
    let mut call = Box::pin((&b).call_async_classified(classify, async { Err("down") }));
    let r = catch_unwind(AssertUnwindSafe(|| poll_once(call.as_mut())));
    assert!(r.is_err());
    drop(call);
    assert_eq!((b.told.get(), b.cancelled.get(), b.ends()), (1, 1, 1));
    assert!(b.forgotten_reports.borrow().is_empty());
}

/// A failure whose report is being decided: dropping the call forgets the wait, and the report
/// stands (no cancellation on top of it). Answered, the call's result comes, once.
#[test]
fn a_failure_awaiting_its_answer_is_reported_once_whether_dropped_or_answered() {
    // Dropped while waiting.
    let b = Shared::default();
    b.admit_now.set(true);
    let mut call = Box::pin((&b).call_async(async { Err::<u32, _>("down") }));
    assert!(
        poll_once(call.as_mut()).is_pending(),
        "waiting for the answer"
    );
    assert_eq!((b.finished.get(), b.ends()), (1, 1));
    drop(call);
    assert_eq!(*b.forgotten_reports.borrow(), [7]);
    assert_eq!((b.finished.get(), b.cancelled.get(), b.ends()), (1, 0, 1));

    // Answered.
    let b = Shared::default();
    b.admit_now.set(true);
    let mut call = Box::pin((&b).call_async(async { Err::<u32, _>("down") }));
    assert!(poll_once(call.as_mut()).is_pending());
    b.report_answer.set(Some(None));
    assert_eq!(
        poll_once(call.as_mut()),
        Poll::Ready(Err(Error::Inner("down")))
    );
    drop(call);
    assert!(b.forgotten_reports.borrow().is_empty());
    assert_eq!((b.finished.get(), b.ends()), (1, 1));
}
