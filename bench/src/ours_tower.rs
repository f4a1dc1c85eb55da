//! `breaker-tower` (this project): the tower layer over `breaker-core`, driven like the peers'
//! tower paths (`ServiceExt::ready` + `call` under [`block_on`]), with the breaker held two ways:
//! an `Arc` (an atomic count touched per request: the permit in the response future owns a
//! clone) and a `&'static` (nothing to count).
//!
//! The inner service is the peers' [`inner_service`] behind a `MapErr` that boxes its `()` error
//! as a zero-sized error type (no allocation): the layer's error type is tower's `BoxError`,
//! which needs an `Into<BoxError>` inner error. That adapter is measured as part of this row.

use std::sync::Arc;
use std::time::Duration;

use breaker_core::{CircuitBreaker, Config, Handle, StdClock};
use breaker_tower::error::{BoxError, Rejected};
use tower::util::MapErr;
use tower::{Service, ServiceExt};

use crate::{block_on, inner_service, InnerSvc, Probe, Req, Subject};

/// The breaker under the layer: the `breaker-core` row's.
pub type Core = CircuitBreaker<StdClock, &'static Config>;

/// The inner service's `()` error, as an error type (zero-sized: boxing it allocates nothing).
#[derive(Debug)]
pub struct Failed;

impl std::fmt::Display for Failed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("failed")
    }
}

impl std::error::Error for Failed {}

fn failed(_: ()) -> BoxError {
    Box::new(Failed)
}

type Inner = MapErr<InnerSvc, fn(()) -> BoxError>;
type Svc<H> = breaker_tower::CircuitBreaker<Inner, H>;

/// How the bench holds the breaker.
pub trait TowerHandle: Handle<Breaker = Core> + Send + Sync + 'static {
    /// Table label.
    const NAME: &'static str;
    /// Holds `core`.
    fn hold(core: Core) -> Self;
}

impl TowerHandle for Arc<Core> {
    const NAME: &'static str = "breaker-tower, Arc handle (this project)";
    fn hold(core: Core) -> Self {
        Arc::new(core)
    }
}

impl TowerHandle for &'static Core {
    const NAME: &'static str = "breaker-tower, &'static handle (this project)";
    fn hold(core: Core) -> Self {
        Box::leak(Box::new(core))
    }
}

/// `breaker-tower` over the same breaker as the `breaker-core` row (consecutive failures,
/// threshold 5, one half-open trial, `&'static Config`).
#[derive(Debug)]
pub struct Tower<H: TowerHandle> {
    handle: H,
}

impl<H: TowerHandle> Tower<H> {
    #[inline(always)]
    fn call(l: &mut Svc<H>, req: Req) -> bool {
        let r = block_on(async {
            match ServiceExt::<Req>::ready(l).await {
                Ok(svc) => svc.call(req).await,
                Err(e) => Err(e),
            }
        });
        !matches!(r, Err(e) if e.is::<Rejected>())
    }
}

impl<H: TowerHandle> Subject for Tower<H> {
    const NAME: &'static str = H::NAME;
    const NOTE: &'static str = "breaker-tower: Service-only, every row is `ServiceExt::ready` + \
        `call` under block_on; the inner service's `()` error is boxed as a zero-sized error \
        (measured in the row). A refusal is a boxed `Rejected` (one allocation).";
    const BREAKER_SIZE: usize = std::mem::size_of::<Svc<H>>();
    const PEER: bool = false;
    const ASYNC_ONLY: bool = true;
    type Local = Svc<H>;

    fn new_consecutive(open_for: Duration) -> Self {
        let config = Config::builder()
            .failure_threshold(5)
            .open_for(open_for)
            .half_open_trials(1)
            .build()
            .expect("valid config");
        let config: &'static Config = Box::leak(Box::new(config));
        Tower {
            handle: H::hold(CircuitBreaker::new(config)),
        }
    }
    fn new_window100(_: Duration) -> Option<Self> {
        None
    }
    fn half_open_limit() -> Option<u32> {
        Some(1)
    }
    fn local(&self) -> Svc<H> {
        let inner = inner_service().map_err(failed as fn(()) -> BoxError);
        breaker_tower::CircuitBreaker::new(inner, self.handle.clone())
    }

    #[inline]
    fn call_ok(&self, l: &mut Svc<H>) -> bool {
        Self::call(l, Req::Ok)
    }
    #[inline]
    fn call_err(&self, l: &mut Svc<H>) -> bool {
        Self::call(l, Req::Err)
    }
    fn call_probe(&self, l: &mut Svc<H>, f: &Probe) -> bool {
        Self::call(l, Req::Probe(f.clone()))
    }
    /// Written out as the `breaker` 2.0 row writes its own (an async block of its own, the
    /// request a constant in it), not through [`Tower::call`]: that async block is shared by
    /// every call path here, so the compiler does not inline it into this loop.
    #[inline]
    fn call_tower_ok(&self, l: &mut Svc<H>) -> Option<bool> {
        let r = block_on(async {
            match ServiceExt::<Req>::ready(l).await {
                Ok(svc) => svc.call(Req::Ok).await,
                Err(e) => Err(e),
            }
        });
        Some(!matches!(r, Err(e) if e.is::<Rejected>()))
    }
}
