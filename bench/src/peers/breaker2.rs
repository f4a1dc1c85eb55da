//! `breaker` 2.0: `parking_lot::RwLock<StateMachine>` + atomic half-open permit counter.
//! Async-only API: `CircuitBreaker::call(|| future)`; the "sync" path is that call on a ready
//! future under [`block_on`]. Tower path: `BreakerLayer` (feature `tower`).
//!
//! * consecutive: `consecutive_failures(5)`, `failure_rate_threshold(0.0)` (rate rule off),
//!   `sliding_window_size(1)`.
//! * window: `sliding_window_size(100)`, `failure_rate_threshold(0.5)`,
//!   `consecutive_failures(u32::MAX)` (streak rule off).
//! * half-open: `half_open_max_calls(1)` (success threshold defaults to the same).
//! * open timeout: `wait_duration(open_for)` (= `BackoffStrategy::Fixed`).

use std::time::Duration;

use breaker::{BreakerLayer, BreakerService, CircuitBreakerConfig, CircuitBreakerError};
use tower::{Layer, Service, ServiceExt};

use crate::{block_on, inner_service, op_err, op_ok, InnerSvc, Probe, Req, Subject};

/// `breaker` 2.0.
#[derive(Debug)]
pub struct Breaker2 {
    cb: breaker::CircuitBreaker,
}

#[inline(always)]
fn admitted<T, E>(r: &Result<T, CircuitBreakerError<E>>) -> bool {
    !matches!(
        r,
        Err(CircuitBreakerError::CircuitOpen | CircuitBreakerError::Rejected)
    )
}

impl Subject for Breaker2 {
    const NAME: &'static str = "breaker 2.0";
    const NOTE: &'static str = "breaker 2.0: async-only API, sync rows = `call(|| ready(..))` \
        under a no-op-waker block_on.";
    const BREAKER_SIZE: usize = std::mem::size_of::<breaker::CircuitBreaker>();
    /// A `BreakerService` sharing this breaker (used by the tower path only).
    type Local = BreakerService<InnerSvc>;

    fn new_consecutive(open_for: Duration) -> Self {
        let cfg = CircuitBreakerConfig::builder()
            .consecutive_failures(5)
            .failure_rate_threshold(0.0)
            .sliding_window_size(1)
            .half_open_max_calls(1)
            .wait_duration(open_for)
            .build();
        Breaker2 {
            cb: breaker::CircuitBreaker::new(cfg),
        }
    }
    fn new_window100(open_for: Duration) -> Option<Self> {
        let cfg = CircuitBreakerConfig::builder()
            .consecutive_failures(u32::MAX)
            .failure_rate_threshold(0.5)
            .sliding_window_size(100)
            .half_open_max_calls(1)
            .wait_duration(open_for)
            .build();
        Some(Breaker2 {
            cb: breaker::CircuitBreaker::new(cfg),
        })
    }
    fn half_open_limit() -> Option<u32> {
        Some(1)
    }
    fn local(&self) -> Self::Local {
        BreakerLayer::new(self.cb.clone()).layer(inner_service())
    }

    #[inline]
    fn call_ok(&self, _: &mut Self::Local) -> bool {
        admitted(&block_on(self.cb.call(|| std::future::ready(op_ok()))))
    }
    #[inline]
    fn call_err(&self, _: &mut Self::Local) -> bool {
        admitted(&block_on(self.cb.call(|| std::future::ready(op_err()))))
    }
    fn call_probe(&self, _: &mut Self::Local, f: &Probe) -> bool {
        admitted(&block_on(self.cb.call(|| std::future::ready(f()))))
    }
    #[inline]
    fn call_async_ok(&self, l: &mut Self::Local) -> Option<bool> {
        Some(self.call_ok(l))
    }
    #[inline]
    fn call_tower_ok(&self, svc: &mut Self::Local) -> Option<bool> {
        let r = block_on(async {
            match ServiceExt::<Req>::ready(svc).await {
                Ok(svc) => svc.call(Req::Ok).await,
                Err(e) => Err(e),
            }
        });
        Some(admitted(&r))
    }
}
