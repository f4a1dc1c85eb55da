//! The awaited report path of the seam (`Breaker::awaits_reports`): a breaker kind that decides
//! a failure's state change later (a shared breaker) has it awaited by the call future and by
//! `Permit::conclude_async`, so the call that trips learns it; successes never wait; a dropped
//! waiter is forgotten. Driven by hand with a mock breaker kind, no runtime.

use core::cell::{Cell, RefCell};
use core::future::Future;
use core::pin::pin;
use core::task::{Context, Poll, Waker};
use std::vec::Vec;

use breaker_core::classify::Errors;
use breaker_core::machine::{Outcome, Reason};
use breaker_core::{
    Admitted, Breaker, End, Error, Handle, ManualClock, Rejected, Reported, State, Ticket,
    Transition, WaitHint,
};

/// Reports failures "to a remote store": answered when the test says so.
#[derive(Default)]
struct Remote {
    clock: ManualClock,
    answer: Cell<Option<Option<Transition>>>,
    started: Cell<u32>,
    reported: Cell<u32>,
    forgotten: RefCell<Vec<u64>>,
    waker: RefCell<Option<Waker>>,
}

const TRIP: Transition = Transition {
    from: State::Closed,
    to: State::Open,
    generation: 1,
    reason: Reason::Remote,
};

impl Breaker for Remote {
    type Clock = ManualClock;
    fn clock(&self) -> &ManualClock {
        &self.clock
    }
    fn name(&self) -> &'static str {
        "remote"
    }
    fn admit(&self) -> Result<Admitted, Rejected> {
        Ok(Ticket::new(0, false, None).into())
    }
    fn admitted(&self, _: &Ticket, _: Option<Transition>) {}
    fn report(&self, _: &Ticket, _: End<'_>) -> Option<Transition> {
        self.reported.set(self.reported.get() + 1);
        None
    }
    fn trip_error(&self) -> bool {
        true
    }
    fn state(&self) -> State {
        State::Closed
    }
    fn wait_hint(&self, _: breaker_core::Instant) -> WaitHint {
        WaitHint::AskNow
    }
    fn awaits_reports(&self) -> bool {
        true
    }
    fn report_start(&self, ticket: &Ticket, end: End<'_>) -> Reported {
        match end {
            End::Finished(Outcome::Failure, _) => {
                self.started.set(self.started.get() + 1);
                Reported::Later(7)
            }
            _ => Reported::Now(self.report(ticket, end)),
        }
    }
    fn poll_reported(&self, id: u64, cx: &mut Context<'_>) -> Poll<Option<Transition>> {
        assert_eq!(id, 7);
        match self.answer.take() {
            Some(t) => Poll::Ready(t),
            None => {
                *self.waker.borrow_mut() = Some(cx.waker().clone());
                Poll::Pending
            }
        }
    }
    fn forget_reported(&self, id: u64) {
        self.forgotten.borrow_mut().push(id);
    }
}

struct Noop;
impl std::task::Wake for Noop {
    fn wake(self: std::sync::Arc<Self>) {}
}

fn cx() -> Context<'static> {
    // `Waker::noop` is newer than the workspace's MSRV.
    static WAKER: std::sync::OnceLock<Waker> = std::sync::OnceLock::new();
    Context::from_waker(WAKER.get_or_init(|| Waker::from(std::sync::Arc::new(Noop))))
}

#[test]
fn the_call_future_waits_for_a_failures_answer_and_learns_the_trip() {
    let b = Remote::default();
    let mut call = pin!((&b).call_async(async { Err::<(), _>("down") }));
    assert!(call.as_mut().poll(&mut cx()).is_pending());
    assert_eq!(b.started.get(), 1);
    assert!(
        b.waker.borrow().is_some(),
        "the waiter registered its waker"
    );
    assert!(call.as_mut().poll(&mut cx()).is_pending());
    b.answer.set(Some(Some(TRIP)));
    assert_eq!(
        call.as_mut().poll(&mut cx()),
        Poll::Ready(Err(Error::Tripped("down")))
    );
    // Reported once, through `report_start`; nothing forgotten.
    assert_eq!((b.started.get(), b.reported.get()), (1, 0));
    assert!(b.forgotten.borrow().is_empty());
}

#[test]
fn an_answer_without_a_trip_gives_the_calls_own_error() {
    let b = Remote::default();
    let mut call = pin!((&b).call_async(async { Err::<(), _>("down") }));
    b.answer.set(Some(None));
    assert_eq!(
        call.as_mut().poll(&mut cx()),
        Poll::Ready(Err(Error::Inner("down")))
    );
}

#[test]
fn successes_never_wait() {
    let b = Remote::default();
    let mut call = pin!((&b).call_async(async { Ok::<_, ()>(5) }));
    assert_eq!(call.as_mut().poll(&mut cx()), Poll::Ready(Ok(5)));
    assert_eq!((b.started.get(), b.reported.get()), (0, 1));
}

#[test]
fn a_dropped_waiter_is_forgotten_and_the_report_stands() {
    let b = Remote::default();
    {
        let mut call = Box::pin((&b).call_async(async { Err::<(), _>("down") }));
        assert!(call.as_mut().poll(&mut cx()).is_pending());
    }
    assert_eq!(*b.forgotten.borrow(), [7]);
    assert_eq!(b.started.get(), 1);
}

#[test]
fn conclude_async_awaits_as_the_call_future_does() {
    let b = Remote::default();
    let permit = (&b).try_acquire().unwrap();
    let mut done = pin!(permit.conclude_async(Err::<(), _>("down"), &mut Errors));
    assert!(done.as_mut().poll(&mut cx()).is_pending());
    b.answer.set(Some(Some(TRIP)));
    assert_eq!(
        done.as_mut().poll(&mut cx()),
        Poll::Ready(Err(Error::Tripped("down")))
    );
    // The in-process breaker decides at once: `conclude_async` is `conclude`.
    let config = breaker_core::Config::builder()
        .failure_threshold(1)
        .build()
        .unwrap();
    let local = breaker_core::CircuitBreaker::with_clock(ManualClock::new(), config);
    let permit = local.try_acquire().unwrap();
    let mut done = pin!(permit.conclude_async(Err::<(), _>("down"), &mut Errors));
    assert_eq!(
        done.as_mut().poll(&mut cx()),
        Poll::Ready(Err(Error::Tripped("down")))
    );
}

/// Admits "through a remote store": answered when the test says so.
#[derive(Default)]
struct Gate {
    clock: ManualClock,
    answer: Cell<Option<bool>>,
    admitted: Cell<u32>,
    forgotten: RefCell<Vec<u64>>,
}

impl Breaker for Gate {
    type Clock = ManualClock;
    fn clock(&self) -> &ManualClock {
        &self.clock
    }
    fn name(&self) -> &'static str {
        "gate"
    }
    fn admit(&self) -> Result<Admitted, Rejected> {
        Err(Rejected::new("gate", State::HalfOpen, None))
    }
    fn admitted(&self, _: &Ticket, _: Option<Transition>) {
        self.admitted.set(self.admitted.get() + 1);
    }
    fn report(&self, _: &Ticket, _: End<'_>) -> Option<Transition> {
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
    fn admit_start(&self) -> breaker_core::Admitting {
        breaker_core::Admitting::Later(9)
    }
    fn poll_admitted(&self, id: u64, _: &mut Context<'_>) -> Poll<Result<Admitted, Rejected>> {
        assert_eq!(id, 9);
        match self.answer.take() {
            Some(true) => Poll::Ready(Ok(Ticket::new(3, true, None).into())),
            Some(false) => Poll::Ready(self.admit()),
            None => Poll::Pending,
        }
    }
    fn forget_admitted(&self, id: u64) {
        self.forgotten.borrow_mut().push(id);
    }
}

#[test]
fn the_call_future_awaits_an_admission_decided_later() {
    let g = Gate::default();
    let mut call = pin!((&g).call_async(async { Ok::<_, ()>(4) }));
    assert!(call.as_mut().poll(&mut cx()).is_pending());
    assert!(call.as_mut().poll(&mut cx()).is_pending());
    assert_eq!(g.admitted.get(), 0);
    g.answer.set(Some(true));
    assert_eq!(call.as_mut().poll(&mut cx()), Poll::Ready(Ok(4)));
    assert_eq!(g.admitted.get(), 1, "the admission was reported once");
    // Refused later: the call's answer is the refusal, and its future never ran.
    let mut call = pin!((&g).call_async(async { Ok::<_, ()>(5) }));
    assert!(call.as_mut().poll(&mut cx()).is_pending());
    g.answer.set(Some(false));
    assert!(matches!(
        call.as_mut().poll(&mut cx()),
        Poll::Ready(Err(Error::Rejected(_)))
    ));
    // Dropped while waiting: forgotten, so a slot granted meanwhile can go back.
    {
        let mut call = Box::pin((&g).call_async(async { Ok::<_, ()>(6) }));
        assert!(call.as_mut().poll(&mut cx()).is_pending());
    }
    assert_eq!(*g.forgotten.borrow(), [9]);
}
