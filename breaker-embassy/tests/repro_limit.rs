//! Cancelling a woken waiter of the embassy `Limit` (issue 8, item 4).
//! Run: cargo test -p breaker-embassy --test repro_limit -- --nocapture
//!
//! `ConcurrencyLimit`'s contract (breaker-core/src/timer.rs): "Dropping the future of `acquire`
//! MUST cancel the wait without losing a slot or a wake-up." The embassy `Limit` used to be
//! embassy-sync 0.8's `FairSemaphore`, whose cancel only blanks the ticket: when the waiter at
//! the head of the queue has been woken by a release and is then dropped before it polls again
//! (a `select` whose other branch won), nobody woke the next waiter. The freed slot sat unused,
//! the next waiter slept (forever with `limit_wait(Duration::MAX)`), and `try_acquire` refused
//! new callers because the queue was not empty.
//!
//! No test here reads embassy-time's clock, so they need not take turns with the host tests.

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use breaker_core::policy::ConcurrencyLimit;
use breaker_embassy::Limit;
use embassy_sync::blocking_mutex::raw::CriticalSectionRawMutex;

struct CountWakes(AtomicUsize);
impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counted() -> (Arc<CountWakes>, Waker) {
    let w = Arc::new(CountWakes(AtomicUsize::new(0)));
    (w.clone(), Waker::from(w))
}

static LIMIT: Limit = Limit::new(1);

#[test]
fn a_cancelled_woken_waiter_passes_the_wake_up_to_the_next_waiter() {
    let (w1, k1) = counted();
    let (w2, k2) = counted();

    let holder = LIMIT.try_acquire().expect("one free slot");
    let mut first = Box::pin(LIMIT.acquire());
    let mut second = pin!(LIMIT.acquire());
    assert!(first
        .as_mut()
        .poll(&mut Context::from_waker(&k1))
        .is_pending());
    assert!(second
        .as_mut()
        .poll(&mut Context::from_waker(&k2))
        .is_pending());

    drop(holder); // the slot is released: the first waiter is woken
    assert_eq!(w1.0.load(Ordering::SeqCst), 1);
    drop(first); // ...and goes away before it polls (its task's select took another branch)

    let second_woken = w2.0.load(Ordering::SeqCst);
    let newcomer = LIMIT.try_acquire().is_some();
    println!(
        "second waiter woken {second_woken} times; a newcomer's try_acquire got a slot: {newcomer}"
    );
    let by_hand = matches!(
        second.as_mut().poll(&mut Context::from_waker(&k2)),
        Poll::Ready(Some(_))
    );
    println!("polled by hand, the second waiter gets the slot: {by_hand}");
    assert!(
        second_woken > 0 || newcomer,
        "a free slot, a sleeping waiter that is never woken, and newcomers refused"
    );
    assert!(by_hand, "the woken second waiter gets the free slot");
}

#[test]
fn waiters_get_slots_in_order_and_a_cancelled_middle_waiter_keeps_the_order() {
    let limit: Limit = Limit::new(1);
    let (wa, ka) = counted();
    let (wb, kb) = counted();
    let (wc, kc) = counted();
    let holder = limit.try_acquire().unwrap();
    let mut a = pin!(limit.acquire());
    let mut b = Box::pin(limit.acquire());
    let mut c = pin!(limit.acquire());
    assert!(a.as_mut().poll(&mut Context::from_waker(&ka)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&kb)).is_pending());
    assert!(c.as_mut().poll(&mut Context::from_waker(&kc)).is_pending());
    drop(b); // not offered anything: wakes nobody
    assert_eq!(wa.0.load(Ordering::SeqCst) + wc.0.load(Ordering::SeqCst), 0);
    // A newcomer does not jump the queue, even with the slot free.
    drop(holder);
    assert!(limit.try_acquire().is_none());
    assert_eq!(wa.0.load(Ordering::SeqCst), 1);
    // c is not at the front: polled early, it keeps waiting.
    assert!(c.as_mut().poll(&mut Context::from_waker(&kc)).is_pending());
    let Poll::Ready(Some(slot_a)) = a.as_mut().poll(&mut Context::from_waker(&ka)) else {
        panic!("the front waiter gets the free slot");
    };
    assert_eq!(wb.0.load(Ordering::SeqCst), 0);
    assert_eq!(wc.0.load(Ordering::SeqCst), 0, "no slot free yet for c");
    drop(slot_a);
    assert_eq!(wc.0.load(Ordering::SeqCst), 1, "b went away: c is next");
    assert!(matches!(
        c.as_mut().poll(&mut Context::from_waker(&kc)),
        Poll::Ready(Some(_))
    ));
    assert_eq!(limit.available(), 1);
    assert!(limit.try_acquire().is_some());
}

#[test]
fn two_slots_freed_at_once_wake_two_waiters_and_a_full_queue_refuses() {
    let limit: Limit<CriticalSectionRawMutex, 2> = Limit::new(2);
    let (wa, ka) = counted();
    let (wb, kb) = counted();
    let (s1, s2) = (limit.try_acquire().unwrap(), limit.try_acquire().unwrap());
    let mut a = pin!(limit.acquire());
    let mut b = pin!(limit.acquire());
    let mut c = pin!(limit.acquire());
    assert!(a.as_mut().poll(&mut Context::from_waker(&ka)).is_pending());
    assert!(b.as_mut().poll(&mut Context::from_waker(&kb)).is_pending());
    // Two waiters fill the queue: a third is refused at once.
    assert!(matches!(
        c.as_mut().poll(&mut Context::from_waker(&kb)),
        Poll::Ready(None)
    ));
    drop(s1);
    drop(s2);
    assert_eq!(wa.0.load(Ordering::SeqCst), 2, "woken by each release");
    let Poll::Ready(Some(pa)) = a.as_mut().poll(&mut Context::from_waker(&ka)) else {
        panic!("the front waiter gets a free slot");
    };
    // Taking its slot, a handed the second free one on to b.
    assert_eq!(wb.0.load(Ordering::SeqCst), 1);
    let Poll::Ready(Some(pb)) = b.as_mut().poll(&mut Context::from_waker(&kb)) else {
        panic!("the next waiter gets the other free slot");
    };
    assert_eq!(limit.available(), 0);
    drop((pa, pb));
    assert_eq!(limit.available(), 2);
}
