//! This project's `breaker-core`, on `StdClock`, with its configuration held as `&'static Config`
//! (the recommended form when many breakers are built: the breaker itself is then only atomics).
//! Plus a `baseline` subject: the same operation with no breaker, so tables can show overhead.

use std::time::Duration;

use breaker_core::{CircuitBreaker, Config, CountWindow, Error, StdClock};

use crate::{block_on, op_err, op_ok, Probe, Subject};

type Consecutive = CircuitBreaker<StdClock, &'static Config>;
type Window = CircuitBreaker<StdClock, &'static Config<CountWindow<100>>>;

/// `breaker-core`: either policy; the enum's branch is part of what is measured.
#[derive(Debug)]
pub enum Ours {
    /// Consecutive failures, threshold 5.
    Consecutive(Consecutive),
    /// Count window of the last 100 calls, failure rate 50 %.
    Window(Window),
}

fn admitted<T>(r: &Result<T, Error<()>>) -> bool {
    !matches!(r, Err(Error::Rejected(_)))
}

fn leak<T>(t: T) -> &'static T {
    Box::leak(Box::new(t))
}

impl Subject for Ours {
    const NAME: &'static str = "breaker-core (this project)";
    const NOTE: &'static str =
        "breaker-core: StdClock; config held as &'static Config, which the harness leaks once \
        (the 112 heap bytes of its constructor; a `static` config needs none). Held by value, \
        the config makes the breaker 144 bytes.";
    const BREAKER_SIZE: usize = std::mem::size_of::<Consecutive>();
    const PEER: bool = false;
    type Local = ();

    fn new_consecutive(open_for: Duration) -> Self {
        let config = Config::builder()
            .failure_threshold(5)
            .open_for(open_for)
            .half_open_trials(1)
            .build()
            .expect("valid config");
        Ours::Consecutive(CircuitBreaker::new(leak(config)))
    }
    fn new_window100(open_for: Duration) -> Option<Self> {
        let config = Config::builder()
            .count_window::<100>()
            .no_failure_threshold()
            .failure_rate(0.5)
            .minimum_calls(100)
            .open_for(open_for)
            .build()
            .expect("valid config");
        Some(Ours::Window(CircuitBreaker::new(leak(config))))
    }
    fn half_open_limit() -> Option<u32> {
        Some(1)
    }
    fn local(&self) {}

    #[inline]
    fn call_ok(&self, _: &mut ()) -> bool {
        match self {
            Ours::Consecutive(b) => admitted(&b.call(op_ok)),
            Ours::Window(b) => admitted(&b.call(op_ok)),
        }
    }
    #[inline]
    fn call_err(&self, _: &mut ()) -> bool {
        match self {
            Ours::Consecutive(b) => admitted(&b.call(op_err)),
            Ours::Window(b) => admitted(&b.call(op_err)),
        }
    }
    fn call_probe(&self, _: &mut (), f: &Probe) -> bool {
        match self {
            Ours::Consecutive(b) => admitted(&b.call(|| f())),
            Ours::Window(b) => admitted(&b.call(|| f())),
        }
    }
    #[inline]
    fn call_async_ok(&self, _: &mut ()) -> Option<bool> {
        Some(match self {
            Ours::Consecutive(b) => admitted(&block_on(b.call_async(std::future::ready(op_ok())))),
            Ours::Window(b) => admitted(&block_on(b.call_async(std::future::ready(op_ok())))),
        })
    }
}

/// The baseline's table label.
pub const BASELINE: &str = "baseline (no breaker)";

/// No breaker at all: the operation alone, to subtract from the others.
#[derive(Debug)]
pub struct Baseline;

impl Subject for Baseline {
    const NAME: &'static str = BASELINE;
    const BREAKER_SIZE: usize = 0;
    const PEER: bool = false;
    type Local = ();

    fn new_consecutive(_: Duration) -> Self {
        Baseline
    }
    fn new_window100(_: Duration) -> Option<Self> {
        Some(Baseline)
    }
    fn half_open_limit() -> Option<u32> {
        None
    }
    fn local(&self) {}
    #[inline]
    fn call_ok(&self, _: &mut ()) -> bool {
        let _ = op_ok();
        true
    }
    #[inline]
    fn call_err(&self, _: &mut ()) -> bool {
        let _ = op_err();
        true
    }
    fn call_probe(&self, _: &mut (), f: &Probe) -> bool {
        let _ = f();
        true
    }
    #[inline]
    fn call_async_ok(&self, _: &mut ()) -> Option<bool> {
        let _ = block_on(std::future::ready(op_ok()));
        Some(true)
    }
    /// The peers' inner service alone, driven as every tower row drives its service
    /// (`ServiceExt::ready` + `call` under [`block_on`]): the floor under the tower rows.
    #[inline]
    fn call_tower_ok(&self, _: &mut ()) -> Option<bool> {
        use tower::{Service, ServiceExt};
        let mut svc = crate::inner_service();
        let r = block_on(async {
            match ServiceExt::<crate::Req>::ready(&mut svc).await {
                Ok(svc) => svc.call(crate::Req::Ok).await,
                Err(e) => Err(e),
            }
        });
        Some(r.is_ok())
    }
    fn force_open(&self, _: &mut ()) {}
}

/// A runtime adapter under test: its runtime type and what a calling thread needs first.
pub trait AdapterRuntime: breaker_core::runtime::Runtime + Send + Sync + 'static {
    /// Table label.
    const NAME: &'static str;
    /// Prepares the calling thread (a runtime context for tokio's timer).
    fn enter() {}
}

impl AdapterRuntime for breaker_tokio::Tokio {
    const NAME: &'static str = "breaker-tokio (this project)";
    /// Enters a leaked current-thread runtime on this thread, once, for good: tokio's timer needs
    /// a runtime context, and guards that are never dropped cannot be dropped out of order.
    fn enter() {
        thread_local!(static ENTERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
        if !ENTERED.with(|e| e.replace(true)) {
            let rt: &'static tokio::runtime::Runtime = leak(
                tokio::runtime::Builder::new_current_thread()
                    .enable_time()
                    .build()
                    .expect("tokio runtime"),
            );
            std::mem::forget(rt.enter());
        }
    }
}

impl AdapterRuntime for breaker_smol::AsyncIo {
    const NAME: &'static str = "breaker-smol (this project)";
}

type AdapterBreaker<R> = CircuitBreaker<R, &'static Config>;

/// An adapter's call path: `call` (the core's future, no timer) and `call_with` under a one-hour
/// timeout (a runtime timer armed per call).
#[derive(Debug)]
pub struct Adapter<R: AdapterRuntime> {
    breaker: AdapterBreaker<R>,
    timeout: breaker_core::Policy,
}

impl<R: AdapterRuntime> Subject for Adapter<R> {
    const NAME: &'static str = R::NAME;
    const BREAKER_SIZE: usize = std::mem::size_of::<AdapterBreaker<R>>();
    const PEER: bool = false;
    const ASYNC_ONLY: bool = true;
    type Local = ();

    fn new_consecutive(open_for: Duration) -> Self {
        let config = Config::builder()
            .failure_threshold(5)
            .open_for(open_for)
            .build()
            .expect("valid config");
        Adapter {
            breaker: AdapterBreaker::new(leak(config)),
            timeout: breaker_core::Policy::builder()
                .timeout(breaker_core::Duration::from_secs(3600))
                .build()
                .expect("valid policy"),
        }
    }
    fn new_window100(_: Duration) -> Option<Self> {
        None
    }
    fn half_open_limit() -> Option<u32> {
        Some(1)
    }
    fn local(&self) {
        R::enter();
    }
    #[inline]
    fn call_ok(&self, _: &mut ()) -> bool {
        admitted(&block_on(
            self.breaker.call_async(std::future::ready(op_ok())),
        ))
    }
    #[inline]
    fn call_err(&self, _: &mut ()) -> bool {
        admitted(&block_on(
            self.breaker.call_async(std::future::ready(op_err())),
        ))
    }
    fn call_probe(&self, _: &mut (), f: &Probe) -> bool {
        // Lazy: the probe must run only once the call is admitted.
        admitted(&block_on(self.breaker.call_async(async { f() })))
    }
    #[inline]
    fn call_async_ok(&self, l: &mut ()) -> Option<bool> {
        Some(self.call_ok(l))
    }
    #[inline]
    fn call_timeout_ok(&self, _: &mut ()) -> Option<bool> {
        let call = self
            .breaker
            .call_with(&self.timeout, std::future::ready(op_ok()));
        Some(admitted(&block_on(call)))
    }
}

/// `breaker-core` on tokio's clock with its driver running (`breaker_tokio::spawn_driver`): the
/// driver applies the change to half-open when the open duration ends, so a refusal is answered
/// from the state word without reading the clock. Calls are the same sync `call` as [`Ours`];
/// the driver runs on one shared tokio runtime thread and ends when its breaker is dropped.
#[derive(Debug)]
pub struct Driven {
    breaker: std::sync::Arc<DrivenBreaker>,
}

type DrivenBreaker = CircuitBreaker<breaker_tokio::Tokio, Config>;

fn driver_runtime() -> &'static tokio::runtime::Runtime {
    static RT: std::sync::OnceLock<tokio::runtime::Runtime> = std::sync::OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .build()
            .expect("a tokio runtime")
    })
}

impl Subject for Driven {
    const NAME: &'static str = "breaker-core, driven (this project)";
    const NOTE: &'static str =
        "breaker-core, driven: tokio's clock, the driver task on a one-thread tokio runtime; \
        the same sync `call` as breaker-core.";
    const BREAKER_SIZE: usize = std::mem::size_of::<DrivenBreaker>();
    const PEER: bool = false;
    type Local = ();

    fn new_consecutive(open_for: Duration) -> Self {
        let config = Config::builder()
            .failure_threshold(5)
            .open_for(open_for)
            .build()
            .expect("valid config");
        let breaker = std::sync::Arc::new(DrivenBreaker::new(config));
        let weak = std::sync::Arc::downgrade(&breaker);
        driver_runtime().spawn(breaker_core::runtime::drive(weak));
        // Wait until the driver has attached, so that every measured refusal is a driven one.
        let t0 = std::time::Instant::now();
        while !breaker.is_driven() {
            assert!(
                t0.elapsed() < Duration::from_secs(5),
                "the driver never attached"
            );
            std::thread::yield_now();
        }
        Driven { breaker }
    }
    fn new_window100(_: Duration) -> Option<Self> {
        None
    }
    fn half_open_limit() -> Option<u32> {
        Some(1)
    }
    fn local(&self) {}
    #[inline]
    fn call_ok(&self, _: &mut ()) -> bool {
        admitted(&self.breaker.call(op_ok))
    }
    #[inline]
    fn call_err(&self, _: &mut ()) -> bool {
        admitted(&self.breaker.call(op_err))
    }
    fn call_probe(&self, _: &mut (), f: &Probe) -> bool {
        admitted(&self.breaker.call(|| f()))
    }
}
