//! The embassy limit's lost wake-up (issue 8, item 4), tried on the tokio `Limit`: a waiter woken
//! by a release and dropped before it polls must pass the wake-up on to the next waiter.
//! Run: cargo test -p breaker-tokio --test repro_limit

use core::future::Future;
use core::pin::pin;
use core::sync::atomic::{AtomicUsize, Ordering};
use core::task::{Context, Poll, Waker};
use std::sync::Arc;
use std::task::Wake;

use breaker_core::policy::ConcurrencyLimit;
use breaker_tokio::Limit;

struct CountWakes(AtomicUsize);
impl Wake for CountWakes {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn a_cancelled_woken_waiter_passes_the_wake_up_to_the_next_waiter() {
    let limit = Limit::new(1).unwrap();
    let w1 = Arc::new(CountWakes(AtomicUsize::new(0)));
    let w2 = Arc::new(CountWakes(AtomicUsize::new(0)));
    let (k1, k2) = (Waker::from(w1.clone()), Waker::from(w2.clone()));

    let holder = limit.try_acquire().expect("one free slot");
    let mut first = Box::pin(limit.acquire());
    let mut second = pin!(limit.acquire());
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
    drop(first); // ...and goes away before it polls

    let second_woken = w2.0.load(Ordering::SeqCst);
    let newcomer = limit.try_acquire().is_some();
    let by_hand = matches!(
        second.as_mut().poll(&mut Context::from_waker(&k2)),
        Poll::Ready(Some(_))
    );
    assert!(
        second_woken > 0 || newcomer,
        "a free slot, a sleeping waiter that is never woken, and newcomers refused"
    );
    assert!(newcomer || by_hand, "the free slot went to nobody");
}
