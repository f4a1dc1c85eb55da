//! [`Limit`]: a fair concurrency limit on embassy-sync's blocking mutex.
//!
//! Not embassy-sync's `FairSemaphore`: in 0.8.0, a waiter that is woken by a release and then
//! dropped before it polls again (a `select` whose other branch won) only blanks its ticket, so
//! nobody wakes the next waiter: the slot stays free, the next waiter sleeps, and `try_acquire`
//! refuses newcomers because the queue is not empty. `ConcurrencyLimit` requires that dropping
//! a wait loses no wake-up, so this module keeps its own queue, whose cancel passes the wake-up
//! on (fixed upstream, not released when this was written).

use core::cell::RefCell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use breaker_core::policy::{check_permits, ConcurrencyLimit};
use breaker_core::ConfigError;
use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, RawMutex};
use embassy_sync::blocking_mutex::Mutex;

/// At most N calls in flight (kompoz's `limited`): a fair semaphore on embassy-sync's blocking
/// mutex, whose waiters get slots in the order they asked.
///
/// Build it in a `static` and share it by reference: one limit can cap several breakers and
/// protected functions (attach `&LIMIT` to each [`crate::Policy`] with `Policy::limit`).
///
/// - `M`: the raw mutex guarding the semaphore; [`CriticalSectionRawMutex`] (the default) is
///   safe to share between tasks of different executors and interrupt priorities.
/// - `N`: how many callers may wait for a slot at once (default 8). A caller that finds the
///   wait queue full is refused at once with [`crate::Error::LimitReached`].
///
/// A waiter that is dropped (its call cancelled, its wait timed out) gives up its place; if a
/// slot had already been offered to it, the offer passes to the next waiter.
///
/// # Examples
///
/// ```
/// use breaker_embassy::Limit;
///
/// static I2C: Limit = Limit::new(2).named("i2c");
/// assert_eq!((I2C.name(), I2C.permits()), ("i2c", 2));
/// ```
pub struct Limit<M: RawMutex = CriticalSectionRawMutex, const N: usize = 8> {
    name: &'static str,
    permits: usize,
    state: Mutex<M, RefCell<Queue<N>>>,
}

/// The free slots and the waiters, in the order they asked.
///
/// Invariant (outside the lock): when a slot is free and the queue is not empty, the waiter at
/// the front has been woken since the slot became free. Every change that can break it (a
/// release, the front taking a slot, the front going away) wakes the new front.
struct Queue<const N: usize> {
    free: usize,
    /// The ticket of the waiter at the front; tickets count up (wrapping), one per waiter.
    head: usize,
    len: usize,
    /// A ring of waiters from `start`: a waker, or `None` once its waiter went away (removed when
    /// it reaches the front, so that later tickets keep their places).
    wakers: [Option<Waker>; N],
    start: usize,
}

impl<const N: usize> Queue<N> {
    const fn new(free: usize) -> Self {
        Queue {
            free,
            head: 0,
            len: 0,
            wakers: [const { None }; N],
            start: 0,
        }
    }

    fn slot(&mut self, ticket: usize) -> Option<&mut Option<Waker>> {
        let i = ticket.wrapping_sub(self.head);
        if i < self.len {
            Some(&mut self.wakers[(self.start + i) % N])
        } else {
            None
        }
    }

    fn pop(&mut self) {
        self.wakers[self.start] = None;
        self.start = (self.start + 1) % N;
        self.head = self.head.wrapping_add(1);
        self.len -= 1;
    }

    /// Drops the waiters that went away from the front.
    fn pop_gone(&mut self) {
        while self.len > 0 && self.wakers[self.start].is_none() {
            self.pop();
        }
    }

    /// The front waiter's waker, to wake once the lock is released, if a slot is free for it.
    fn front_to_wake(&mut self) -> Option<Waker> {
        self.pop_gone();
        if self.free > 0 && self.len > 0 {
            self.wakers[self.start].clone()
        } else {
            None
        }
    }
}

impl<M: RawMutex, const N: usize> Limit<M, N> {
    /// A limit of `permits` calls in flight.
    ///
    /// # Panics
    ///
    /// If `permits` is zero or above [`breaker_core::policy::MAX_PERMITS`]: in a `static`, that is
    /// a compile-time error. [`Limit::try_new`] reports it instead.
    pub const fn new(permits: usize) -> Self {
        let permits = match check_permits(permits) {
            Ok(permits) => permits,
            Err(_) => panic!("a concurrency limit needs between 1 and 65535 permits"),
        };
        Limit {
            name: "",
            permits,
            state: Mutex::new(RefCell::new(Queue::new(permits))),
        }
    }

    /// A limit of `permits` calls in flight.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] about `"permits"`: [`crate::ConfigErrorKind::Zero`] for no permits,
    /// [`crate::ConfigErrorKind::TooMany`] above [`breaker_core::policy::MAX_PERMITS`].
    pub const fn try_new(permits: usize) -> Result<Self, ConfigError> {
        match check_permits(permits) {
            Ok(permits) => Ok(Limit {
                name: "",
                permits,
                state: Mutex::new(RefCell::new(Queue::new(permits))),
            }),
            Err(e) => Err(e),
        }
    }

    /// This limit, called `name` (in [`crate::LimitReached`] errors).
    pub const fn named(mut self, name: &'static str) -> Self {
        self.name = name;
        self
    }

    /// The limit's name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The number of slots.
    pub const fn permits(&self) -> usize {
        self.permits
    }

    /// The slots free now.
    pub fn available(&self) -> usize {
        self.state.lock(|q| q.borrow().free)
    }

    fn release(&self) {
        let wake = self.state.lock(|q| {
            let mut q = q.borrow_mut();
            q.free += 1;
            q.front_to_wake()
        });
        // Woken outside the lock: a waker may run arbitrary code.
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

/// A slot of a [`Limit`], given back (and the next waiter woken) on drop.
#[must_use = "the slot is given back when the permit is dropped"]
pub struct LimitPermit<'a, M: RawMutex = CriticalSectionRawMutex, const N: usize = 8> {
    limit: &'a Limit<M, N>,
}

impl<M: RawMutex, const N: usize> Drop for LimitPermit<'_, M, N> {
    fn drop(&mut self) {
        self.limit.release();
    }
}

impl<M: RawMutex, const N: usize> fmt::Debug for LimitPermit<'_, M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LimitPermit")
            .field("limit", &self.limit.name)
            .finish()
    }
}

/// The future of [`ConcurrencyLimit::acquire`] on a [`Limit`]: a slot in turn, or `None` when
/// the wait queue is full. Dropping it gives up its place, passing a slot offered to it on.
#[must_use = "futures do nothing unless polled"]
struct Acquire<'a, M: RawMutex = CriticalSectionRawMutex, const N: usize = 8> {
    limit: &'a Limit<M, N>,
    /// The place in the queue, once it has one; `None` again once it has its slot.
    ticket: Option<usize>,
}

/// What a poll of [`Acquire`] found, decided under the lock.
enum Step {
    Got,
    Queued(usize),
    Waiting,
    QueueFull,
}

impl<'a, M: RawMutex, const N: usize> Future for Acquire<'a, M, N> {
    type Output = Option<LimitPermit<'a, M, N>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let limit = self.limit;
        let ticket = self.ticket;
        let (step, wake) = limit.state.lock(|q| {
            let mut q = q.borrow_mut();
            q.pop_gone();
            match ticket {
                // First poll: a free slot with nobody waiting, or a place at the back.
                None if q.free > 0 && q.len == 0 => {
                    q.free -= 1;
                    (Step::Got, None)
                }
                None if q.len == N => (Step::QueueFull, None),
                None => {
                    let ticket = q.head.wrapping_add(q.len);
                    q.len += 1;
                    if let Some(slot) = q.slot(ticket) {
                        *slot = Some(cx.waker().clone());
                    }
                    (Step::Queued(ticket), None)
                }
                // At the front with a slot free: take it, and hand the next free one on.
                Some(t) if t == q.head && q.free > 0 => {
                    q.free -= 1;
                    q.pop();
                    (Step::Got, q.front_to_wake())
                }
                Some(t) => {
                    if let Some(Some(waker)) = q.slot(t) {
                        if !waker.will_wake(cx.waker()) {
                            *waker = cx.waker().clone();
                        }
                    }
                    (Step::Waiting, None)
                }
            }
        });
        if let Some(waker) = wake {
            waker.wake();
        }
        match step {
            Step::Got => {
                self.ticket = None;
                Poll::Ready(Some(LimitPermit { limit }))
            }
            Step::Queued(t) => {
                self.ticket = Some(t);
                Poll::Pending
            }
            Step::Waiting => Poll::Pending,
            Step::QueueFull => Poll::Ready(None),
        }
    }
}

impl<M: RawMutex, const N: usize> Drop for Acquire<'_, M, N> {
    fn drop(&mut self) {
        let Some(ticket) = self.ticket.take() else {
            return;
        };
        let wake = self.limit.state.lock(|q| {
            let mut q = q.borrow_mut();
            let front = ticket == q.head;
            if let Some(slot) = q.slot(ticket) {
                *slot = None;
            }
            // Only the front can have been offered a slot: its offer goes to the next waiter.
            if front {
                q.front_to_wake()
            } else {
                None
            }
        });
        if let Some(waker) = wake {
            waker.wake();
        }
    }
}

impl<M: RawMutex, const N: usize> fmt::Debug for Acquire<'_, M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acquire")
            .field("limit", &self.limit.name)
            .field("ticket", &self.ticket)
            .finish()
    }
}

impl<M: RawMutex, const N: usize> ConcurrencyLimit for Limit<M, N> {
    type Permit<'a>
        = LimitPermit<'a, M, N>
    where
        Self: 'a;

    #[inline]
    fn try_acquire(&self) -> Option<LimitPermit<'_, M, N>> {
        let taken = self.state.lock(|q| {
            let mut q = q.borrow_mut();
            q.pop_gone();
            // Waiters go first: a newcomer takes a slot only when nobody is waiting for one.
            if q.free > 0 && q.len == 0 {
                q.free -= 1;
                true
            } else {
                false
            }
        });
        // Not `then_some`: a permit built for nothing would give back a slot when dropped.
        if taken {
            Some(LimitPermit { limit: self })
        } else {
            None
        }
    }

    fn acquire(&self) -> impl Future<Output = Option<LimitPermit<'_, M, N>>> {
        // `None` only when the wait queue is full: refused like a limit that stayed full.
        Acquire {
            limit: self,
            ticket: None,
        }
    }

    fn name(&self) -> &'static str {
        self.name
    }
}

impl<M: RawMutex, const N: usize> fmt::Debug for Limit<M, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limit")
            .field("name", &self.name)
            .field("permits", &self.permits)
            .field("available", &self.available())
            .field("waiters", &N)
            .finish()
    }
}
