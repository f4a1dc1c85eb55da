//! Comparative circuit-breaker benchmark: the [`Subject`] trait every breaker under test
//! implements, the peer implementations ([`peers`]), and the generic measurement kernels the
//! custom harness (`benches/compare.rs`) drives through the object-safe [`DynSubject`].
//!
//! To add a subject: implement [`Subject`] for a wrapper around the breaker and append
//! `subject::<YourType>()` to [`subjects`].

// `Result<(), ()>` is the benchmarked operation.
#![allow(clippy::result_unit_err)]

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, Barrier};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

pub mod alloc_count;
pub mod ours;
pub mod ours_tower;
pub mod peers;

/// An operation run as a half-open trial (see [`Subject::call_probe`]).
pub type Probe = Arc<dyn Fn() -> Result<(), ()> + Send + Sync>;

/// Open timeout used for every closed-state and open-state measurement: long enough that a
/// breaker forced open stays open for the whole run.
pub const LONG_OPEN: Duration = Duration::from_secs(3600);

/// A circuit breaker under test. One value is one breaker; the harness shares it by `&` across
/// threads. All calls are "admitted?" queries: `true` means the breaker ran the operation,
/// `false` means it rejected the call (open, or half-open with no trial slot).
pub trait Subject: Send + Sync + Sized + 'static {
    /// Table label, including the version, e.g. `"failsafe 1.3"`.
    const NAME: &'static str;
    /// Short note printed under tables (how the sync path is done, caveats); may be empty.
    const NOTE: &'static str = "";
    /// `size_of` the peer's own breaker type (not of this wrapper).
    const BREAKER_SIZE: usize;
    /// Whether this is a peer crate (ratios are taken against the fastest peer); false for this
    /// project's breaker and the no-breaker baseline.
    const PEER: bool = true;
    /// Whether the subject has only an async call path (left out of the sync table).
    const ASYNC_ONLY: bool = false;

    /// Per-thread handle, created on the calling thread by [`Subject::local`] and passed to every
    /// call (e.g. a cloned tower `Service`, which needs `&mut self`). `()` for most breakers.
    type Local;

    /// Closed breaker, consecutive-failures policy with threshold 5 (or the peer's nearest
    /// equivalent), open timeout `open_for`, half-open trial limit 1 where configurable.
    fn new_consecutive(open_for: Duration) -> Self;
    /// Closed breaker with a count window of the last 100 calls (failure rate 50 %), if the peer
    /// has a count-based window; `None` otherwise.
    fn new_window100(open_for: Duration) -> Option<Self>;
    /// The half-open trial limit `new_consecutive` configures; `None` if the peer has no such
    /// setting.
    fn half_open_limit() -> Option<u32>;

    /// Create this thread's handle.
    fn local(&self) -> Self::Local;
    /// One synchronous call whose operation returns `Ok(())`.
    fn call_ok(&self, l: &mut Self::Local) -> bool;
    /// One synchronous call whose operation returns `Err(())`.
    fn call_err(&self, l: &mut Self::Local) -> bool;
    /// One call running `f` as the operation (used for half-open trials; not timed).
    fn call_probe(&self, l: &mut Self::Local, f: &Probe) -> bool;
    /// One call through the peer's future-aware API on a ready `Ok(())` future, driven by
    /// [`block_on`]; `None` if the peer has none.
    fn call_async_ok(&self, _l: &mut Self::Local) -> Option<bool> {
        None
    }
    /// One async call on a ready future under a per-call timeout (a runtime timer armed for the
    /// call), driven by [`block_on`]; `None` if the subject has no timeout.
    fn call_timeout_ok(&self, _l: &mut Self::Local) -> Option<bool> {
        None
    }
    /// One call through the peer's tower `Service` (`ServiceExt::ready` + `call`) on an inner
    /// service returning a ready `Ok(())`; `None` if the peer has no tower integration.
    fn call_tower_ok(&self, _l: &mut Self::Local) -> Option<bool> {
        None
    }
    /// Bring the breaker into the open state. Default: fail until a call is rejected.
    fn force_open(&self, l: &mut Self::Local) {
        for _ in 0..1000 {
            if !self.call_err(l) {
                return;
            }
        }
        panic!("{}: still admitting after 1000 failures", Self::NAME);
    }
}

/// The operation of a successful call (`black_box`ed so the result is not constant-folded).
#[inline(always)]
pub fn op_ok() -> Result<(), ()> {
    black_box(Ok(()))
}

/// The operation of a failing call.
#[inline(always)]
pub fn op_err() -> Result<(), ()> {
    black_box(Err(()))
}

/// Drive a future to completion by polling it in a loop with a no-op waker (no runtime).
#[inline(always)]
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::hint::spin_loop();
    }
}

/// Request type of the inner tower service used by tower-path subjects.
pub enum Req {
    /// Return `Ok(())`.
    Ok,
    /// Return `Err(())`.
    Err,
    /// Run the probe.
    Probe(Probe),
}

/// The inner tower service type: `service_fn` over a plain function returning a ready future.
pub type InnerSvc = tower::util::ServiceFn<fn(Req) -> std::future::Ready<Result<(), ()>>>;

fn inner_handle(r: Req) -> std::future::Ready<Result<(), ()>> {
    std::future::ready(match r {
        Req::Ok => op_ok(),
        Req::Err => op_err(),
        Req::Probe(f) => f(),
    })
}

/// The inner service wrapped by tower-path subjects.
pub fn inner_service() -> InnerSvc {
    tower::service_fn(inner_handle as fn(Req) -> std::future::Ready<Result<(), ()>>)
}

// ---------------------------------------------------------------------------------------------
// Measurement kernels
// ---------------------------------------------------------------------------------------------

/// Which single-thread call loop to run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Closed, consecutive policy, sync `call_ok`.
    ClosedSync,
    /// Closed, count window of 100, sync `call_ok`.
    Window100,
    /// Closed, consecutive policy, `call_async_ok`.
    ClosedAsync,
    /// Closed, consecutive policy, `call_tower_ok`.
    Tower,
    /// Closed, consecutive policy, `call_timeout_ok` (an async call under a per-call timeout).
    AsyncTimeout,
    /// Forced open (open timeout [`LONG_OPEN`]), sync `call_ok` (rejected).
    OpenReject,
}

/// A breaker plus this thread's handle, ready to run a call loop.
pub trait Prepared {
    /// Run `n` calls; returns how many were admitted.
    fn run(&mut self, n: u64) -> u64;
}

struct Loop<S: Subject> {
    s: S,
    l: S::Local,
    kind: Kind,
}

impl<S: Subject> Prepared for Loop<S> {
    #[inline(never)]
    fn run(&mut self, n: u64) -> u64 {
        let s = &self.s;
        let l = &mut self.l;
        let mut admitted = 0u64;
        match self.kind {
            Kind::ClosedSync | Kind::Window100 | Kind::OpenReject => {
                for _ in 0..n {
                    admitted += black_box(black_box(s).call_ok(l)) as u64;
                }
            }
            Kind::ClosedAsync => {
                for _ in 0..n {
                    admitted += black_box(black_box(s).call_async_ok(l) == Some(true)) as u64;
                }
            }
            Kind::Tower => {
                for _ in 0..n {
                    admitted += black_box(black_box(s).call_tower_ok(l) == Some(true)) as u64;
                }
            }
            Kind::AsyncTimeout => {
                for _ in 0..n {
                    admitted += black_box(black_box(s).call_timeout_ok(l) == Some(true)) as u64;
                }
            }
        }
        admitted
    }
}

/// Heap activity while constructing a breaker.
#[derive(Clone, Copy, Debug, Default)]
pub struct HeapUse {
    /// Allocations (realloc counts as one).
    pub allocs: u64,
    /// Bytes requested.
    pub bytes: u64,
    /// Bytes still live afterwards (requested minus freed).
    pub live_bytes: i64,
}

/// Result of one half-open race.
#[derive(Clone, Copy, Debug, Default)]
pub struct RaceResult {
    /// Trial operations actually run.
    pub admitted: usize,
    /// Calls the breaker rejected.
    pub rejected: usize,
}

/// Object-safe view of a [`Subject`] type, for the harness.
pub trait DynSubject {
    /// [`Subject::NAME`].
    fn name(&self) -> &'static str;
    /// [`Subject::PEER`].
    fn is_peer(&self) -> bool;
    /// [`Subject::NOTE`].
    fn note(&self) -> &'static str;
    /// [`Subject::BREAKER_SIZE`].
    fn breaker_size(&self) -> usize;
    /// [`Subject::half_open_limit`].
    fn half_open_limit(&self) -> Option<u32>;
    /// A fresh breaker in the state `kind` needs, or `None` if the subject lacks that path.
    fn prepare(&self, kind: Kind) -> Option<Box<dyn Prepared>>;
    /// Heap used by `new_consecutive` (`window = false`) or `new_window100` (`true`).
    fn construct_heap(&self, window: bool) -> Option<HeapUse>;
    /// `threads` threads (pinned to `cores[i % len]`) hammer one breaker with `call_ok` for
    /// `dur`: closed (returns the calls admitted) or, with `open`, forced open (returns the calls
    /// refused); and the elapsed time.
    fn multi_thread(
        &self,
        threads: usize,
        cores: &[core_affinity::CoreId],
        dur: Duration,
        open: bool,
    ) -> (u64, Duration);
    /// Force open with open timeout `open_for`, wait it out, then let `threads` threads each
    /// attempt one trial call at once. Trials block until every thread has been admitted or
    /// rejected (or 500 ms pass), so a breaker that limits trials must reject the rest.
    fn half_open_race(
        &self,
        threads: usize,
        cores: &[core_affinity::CoreId],
        open_for: Duration,
    ) -> RaceResult;
}

struct Erased<S>(std::marker::PhantomData<fn() -> S>);

/// Erase a [`Subject`] type for the harness.
pub fn subject<S: Subject>() -> Box<dyn DynSubject> {
    Box::new(Erased::<S>(std::marker::PhantomData))
}

/// Every subject, in table order. The lead appends this project's breaker here.
pub fn subjects() -> Vec<Box<dyn DynSubject>> {
    vec![
        subject::<ours::Baseline>(),
        subject::<ours::Ours>(),
        subject::<ours::Driven>(),
        subject::<ours::Adapter<breaker_tokio::Tokio>>(),
        subject::<ours::Adapter<breaker_smol::AsyncIo>>(),
        subject::<peers::failsafe::Failsafe>(),
        subject::<peers::recloser::Recloser>(),
        subject::<peers::breaker2::Breaker2>(),
        subject::<peers::tower_resilience::TowerResilience>(),
        subject::<ours_tower::Tower<Arc<ours_tower::Core>>>(),
        subject::<ours_tower::Tower<&'static ours_tower::Core>>(),
    ]
}

fn pin_to(cores: &[core_affinity::CoreId], i: usize) {
    if !cores.is_empty() {
        core_affinity::set_for_current(cores[i % cores.len()]);
    }
}

impl<S: Subject> DynSubject for Erased<S> {
    fn name(&self) -> &'static str {
        S::NAME
    }
    fn is_peer(&self) -> bool {
        S::PEER
    }
    fn note(&self) -> &'static str {
        S::NOTE
    }
    fn breaker_size(&self) -> usize {
        S::BREAKER_SIZE
    }
    fn half_open_limit(&self) -> Option<u32> {
        S::half_open_limit()
    }

    fn prepare(&self, kind: Kind) -> Option<Box<dyn Prepared>> {
        let s = match kind {
            Kind::Window100 => S::new_window100(LONG_OPEN)?,
            _ => S::new_consecutive(LONG_OPEN),
        };
        let mut l = s.local();
        match kind {
            Kind::ClosedAsync => {
                s.call_async_ok(&mut l)?;
            }
            Kind::Tower => {
                s.call_tower_ok(&mut l)?;
            }
            Kind::AsyncTimeout => {
                s.call_timeout_ok(&mut l)?;
            }
            Kind::OpenReject if S::NAME == ours::BASELINE => return None,
            Kind::OpenReject => {
                s.force_open(&mut l);
                assert!(!s.call_ok(&mut l), "{}: not open after force_open", S::NAME);
            }
            Kind::ClosedSync if S::ASYNC_ONLY => return None,
            Kind::ClosedSync | Kind::Window100 => {}
        }
        Some(Box::new(Loop { s, l, kind }))
    }

    fn construct_heap(&self, window: bool) -> Option<HeapUse> {
        // Warm up lazily-initialised globals (thread-locals, epoch collectors) first.
        drop(S::new_window100(LONG_OPEN));
        drop(S::new_consecutive(LONG_OPEN));
        alloc_count::start();
        let s = if window {
            S::new_window100(LONG_OPEN)
        } else {
            Some(S::new_consecutive(LONG_OPEN))
        };
        let snap = alloc_count::stop();
        let s = s?;
        drop(s);
        Some(HeapUse {
            allocs: snap.allocs,
            bytes: snap.bytes,
            live_bytes: snap.bytes as i64 - snap.freed_bytes as i64,
        })
    }

    fn multi_thread(
        &self,
        threads: usize,
        cores: &[core_affinity::CoreId],
        dur: Duration,
        open: bool,
    ) -> (u64, Duration) {
        let s = S::new_consecutive(LONG_OPEN);
        if open {
            s.force_open(&mut s.local());
        }
        let stop = AtomicBool::new(false);
        let total = AtomicU64::new(0);
        let barrier = Barrier::new(threads + 1);
        let mut elapsed = Duration::ZERO;
        std::thread::scope(|sc| {
            for i in 0..threads {
                let (s, stop, total, barrier) = (&s, &stop, &total, &barrier);
                sc.spawn(move || {
                    pin_to(cores, i);
                    let mut l = s.local();
                    // Warm this thread's lazies (thread-locals) before the clock starts.
                    for _ in 0..64 {
                        black_box(s.call_ok(&mut l));
                    }
                    barrier.wait();
                    let mut n = 0u64;
                    while !stop.load(Relaxed) {
                        for _ in 0..64 {
                            // Closed: count admissions; open: count refusals.
                            n += (black_box(black_box(s).call_ok(&mut l)) != open) as u64;
                        }
                    }
                    total.fetch_add(n, Relaxed);
                });
            }
            barrier.wait();
            let t0 = Instant::now();
            std::thread::sleep(dur);
            stop.store(true, Relaxed);
            // `elapsed` is read after the scope joins every thread.
            elapsed = t0.elapsed();
        });
        (total.load(Relaxed), elapsed)
    }

    fn half_open_race(
        &self,
        threads: usize,
        cores: &[core_affinity::CoreId],
        open_for: Duration,
    ) -> RaceResult {
        let s = S::new_consecutive(open_for);
        let admitted = Arc::new(AtomicUsize::new(0));
        let rejected = Arc::new(AtomicUsize::new(0));
        let probe: Probe = {
            let (admitted, rejected) = (admitted.clone(), rejected.clone());
            Arc::new(move || {
                admitted.fetch_add(1, Relaxed);
                let t0 = Instant::now();
                while admitted.load(Relaxed) + rejected.load(Relaxed) < threads
                    && t0.elapsed() < Duration::from_millis(500)
                {
                    std::thread::yield_now();
                }
                Ok(())
            })
        };
        {
            let mut l = s.local();
            s.force_open(&mut l);
        }
        let opened_at = Instant::now();
        let go_at = opened_at + open_for + Duration::from_millis(5);
        let barrier = Barrier::new(threads);
        let returned_true = AtomicUsize::new(0);
        std::thread::scope(|sc| {
            for i in 0..threads {
                let (s, probe, barrier, rejected, returned_true) =
                    (&s, &probe, &barrier, &rejected, &returned_true);
                sc.spawn(move || {
                    pin_to(cores, i);
                    let mut l = s.local();
                    barrier.wait();
                    if let Some(d) = go_at.checked_duration_since(Instant::now()) {
                        std::thread::sleep(d.saturating_sub(Duration::from_millis(1)));
                    }
                    while Instant::now() < go_at {
                        std::hint::spin_loop();
                    }
                    if s.call_probe(&mut l, probe) {
                        returned_true.fetch_add(1, Relaxed);
                    } else {
                        rejected.fetch_add(1, Relaxed);
                    }
                });
            }
        });
        let r = RaceResult {
            admitted: admitted.load(Relaxed),
            rejected: rejected.load(Relaxed),
        };
        assert_eq!(
            r.admitted,
            returned_true.load(Relaxed),
            "{}: admitted-count mismatch",
            S::NAME
        );
        r
    }
}
