//! The driver: applies a breaker's time-driven changes when they are due, with nobody calling.
//!
//! Without a driver, an open breaker becomes half-open when the first call after the open
//! duration asks (and `state()` reads as half-open from then on), so listeners and dashboards
//! see the change late, and every rejection reads the clock to learn whether the open duration
//! has passed. With one, the change happens (and is reported) when it is due, and a rejection
//! is answered from the state word alone: the driver will change it when the time comes.
//!
//! The driver is a future: runtime adapters spawn it (`breaker_tokio::spawn_driver`), and on
//! embassy a task awaits it. It holds its breaker through a [`Target`]: `&'static` for a
//! `static` breaker, a `Weak` for one in an `Arc` (with `alloc`), so it never keeps a breaker
//! alive, and it ends when its breaker is dropped. One driver per breaker: a second one ends at
//! once.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};

use crate::clock::Clock;
use crate::runtime::Timer;
use crate::seam::{Breaker, Handle};

/// What a driver holds: a way to reach the breaker that does not keep it alive.
pub trait Target {
    /// A strong handle, held only while the driver works on the breaker.
    type Handle: Handle;
    /// The breaker, if it still exists.
    fn upgrade(&self) -> Option<Self::Handle>;
}

impl<B: Breaker + ?Sized + 'static> Target for &'static B {
    type Handle = &'static B;
    fn upgrade(&self) -> Option<&'static B> {
        Some(*self)
    }
}

#[cfg(feature = "alloc")]
impl<B: Breaker + ?Sized> Target for alloc::sync::Weak<B> {
    type Handle = alloc::sync::Arc<B>;
    fn upgrade(&self) -> Option<alloc::sync::Arc<B>> {
        alloc::sync::Weak::upgrade(self)
    }
}

/// Detaches the driver however its future ends (finished, or dropped with its runtime).
struct Attached<'a, T: Target>(&'a T);

impl<T: Target> Drop for Attached<'_, T> {
    fn drop(&mut self) {
        if let Some(h) = self.0.upgrade() {
            h.breaker().detach_driver();
        }
    }
}

/// Completes once the breaker has changed state since `seen`, or is gone.
struct Changed<'a, T> {
    target: &'a T,
    seen: u64,
}

impl<T: Target> Future for Changed<'_, T> {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(h) = self.target.upgrade() else {
            return Poll::Ready(());
        };
        let b = h.breaker();
        // Register first, then look: a change after the look wakes the registered waker.
        b.register_waker(cx.waker());
        if b.changes() != self.seen || b.next_change().is_some() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    }
}

/// Applies `target`'s time-driven changes when they are due, until the breaker is dropped; ends
/// at once if another driver already drives it (or the breaker kind has no driver).
///
/// A change is applied when the runtime's timer fires, so with a driver a breaker half-opens
/// within the timer's resolution after its open duration (tokio's timer: 1 ms).
pub async fn drive<T>(target: T)
where
    T: Target,
    <<T::Handle as Handle>::Breaker as Breaker>::Clock: Timer,
{
    match target.upgrade() {
        Some(h) if h.breaker().attach_driver() => {}
        _ => return,
    }
    let _attached = Attached(&target);
    loop {
        let Some(h) = target.upgrade() else { return };
        let b = h.breaker();
        let seen = b.changes();
        match b.next_change() {
            Some(at) => {
                let now = b.clock().now();
                if at > now {
                    let sleep = b.clock().sleep(at - now);
                    // Sleep without keeping the breaker alive.
                    drop(h);
                    sleep.await;
                } else {
                    b.advance();
                }
            }
            None => {
                drop(h);
                Changed {
                    target: &target,
                    seen,
                }
                .await;
            }
        }
    }
}
