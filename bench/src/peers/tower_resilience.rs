//! `tower-resilience` 0.13 (`tower-resilience-circuitbreaker`): a tower `Service` only; state in
//! a `tokio::sync::Mutex<Circuit>` plus an `AtomicU8` mirror for the Closed fast path in
//! `poll_ready`. Every row drives `ServiceExt::ready` + `call` under [`block_on`].
//!
//! * consecutive: `builder().consecutive_failures(5)` (`FailureModel::ConsecutiveFailures`).
//! * window: `sliding_window_type(CountBased)`, `sliding_window_size(100)`,
//!   `failure_rate_threshold(0.5)`. Note: "count based" is cumulative counters since the last
//!   state change, evaluated once 100 calls were seen, not a sliding ring of the last 100.
//! * half-open: `permitted_calls_in_half_open(1)` (a fresh `tokio::sync::Semaphore` per cycle).
//! * open timeout: `wait_duration_in_open(open_for)`.
//!
//! When the circuit is not Closed and its mutex is contended, `poll_ready` arms
//! `tokio::time::sleep(1ms)`, which panics outside a tokio runtime; each thread's handle
//! therefore enters a shared runtime (1 worker, timer enabled) whose idle worker drives timers.

use std::sync::OnceLock;
use std::time::Duration;

use tokio::runtime::{EnterGuard, Runtime};
use tower::{Layer, Service, ServiceExt};
use tower_resilience::circuitbreaker::{
    CircuitBreaker, CircuitBreakerError, CircuitBreakerLayer, DefaultClassifier, SlidingWindowType,
};

use crate::{block_on, inner_service, InnerSvc, Probe, Req, Subject};

type Svc = CircuitBreaker<InnerSvc, DefaultClassifier>;

/// `tower-resilience` 0.13 circuit-breaker layer around [`inner_service`].
pub struct TowerResilience {
    svc: Svc,
}

static RT: OnceLock<Runtime> = OnceLock::new();

fn runtime() -> &'static Runtime {
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_time()
            .thread_name("tower-resilience-timer")
            .build()
            .expect("tokio runtime")
    })
}

/// Per-thread handle: a clone of the service (shares the circuit) and a runtime context.
pub struct Local {
    svc: Svc,
    _rt: EnterGuard<'static>,
}

impl TowerResilience {
    #[inline(always)]
    fn call(l: &mut Local, req: Req) -> bool {
        let r = block_on(async {
            match ServiceExt::<Req>::ready(&mut l.svc).await {
                Ok(svc) => svc.call(req).await,
                Err(e) => Err(e),
            }
        });
        !matches!(r, Err(CircuitBreakerError::OpenCircuit))
    }
}

impl Subject for TowerResilience {
    const NAME: &'static str = "tower-resilience 0.13";
    const NOTE: &'static str = "tower-resilience: Service-only API, every row is \
        `ServiceExt::ready` + `call` under block_on.";
    const BREAKER_SIZE: usize = std::mem::size_of::<Svc>();
    type Local = Local;

    fn new_consecutive(open_for: Duration) -> Self {
        let layer = CircuitBreakerLayer::builder()
            .consecutive_failures(5)
            .wait_duration_in_open(open_for)
            .permitted_calls_in_half_open(1)
            .build()
            .expect("valid config");
        TowerResilience {
            svc: layer.layer(inner_service()),
        }
    }
    fn new_window100(open_for: Duration) -> Option<Self> {
        let layer = CircuitBreakerLayer::builder()
            .sliding_window_type(SlidingWindowType::CountBased)
            .sliding_window_size(100)
            .failure_rate_threshold(0.5)
            .wait_duration_in_open(open_for)
            .permitted_calls_in_half_open(1)
            .build()
            .expect("valid config");
        Some(TowerResilience {
            svc: layer.layer(inner_service()),
        })
    }
    fn half_open_limit() -> Option<u32> {
        Some(1)
    }
    fn local(&self) -> Local {
        Local {
            svc: self.svc.clone(),
            _rt: runtime().enter(),
        }
    }

    #[inline]
    fn call_ok(&self, l: &mut Local) -> bool {
        Self::call(l, Req::Ok)
    }
    #[inline]
    fn call_err(&self, l: &mut Local) -> bool {
        Self::call(l, Req::Err)
    }
    fn call_probe(&self, l: &mut Local, f: &Probe) -> bool {
        Self::call(l, Req::Probe(f.clone()))
    }
    #[inline]
    fn call_tower_ok(&self, l: &mut Local) -> Option<bool> {
        Some(Self::call(l, Req::Ok))
    }
}
