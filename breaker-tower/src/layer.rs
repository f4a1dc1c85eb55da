use tower_layer::Layer;

use crate::classify::Errors;
use crate::service::CircuitBreaker;

/// Wraps services in a [`CircuitBreaker`] over one shared breaker.
///
/// `H` is how the breaker is held, a [`breaker_core::Handle`]: `Arc<breaker_core::CircuitBreaker<..>>`,
/// a `&'static` one (a `static`, or leaked), or any other breaker kind behind the seam. Every
/// service the layer makes holds a clone of the handle, so they all count into, and are refused
/// by, the same breaker. `P` classifies responses ([`crate::classify`]); by default every `Err`
/// is a failure and every response a success.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use breaker_core::{CircuitBreaker, Config, StdClock};
/// use breaker_tower::{http::ServerErrors, CircuitBreakerLayer};
///
/// let breaker = Arc::new(CircuitBreaker::<StdClock>::new(Config::default()));
/// // HTTP 5xx responses count as failures, 4xx do not.
/// let layer = CircuitBreakerLayer::new(breaker).classify(ServerErrors);
/// # let _ = layer;
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreakerLayer<H, P = Errors> {
    handle: H,
    classify: P,
}

impl<H> CircuitBreakerLayer<H> {
    /// A layer over the breaker `handle` holds, counting every `Err` as a failure and every
    /// response as a success.
    pub const fn new(handle: H) -> Self {
        CircuitBreakerLayer {
            handle,
            classify: Errors,
        }
    }
}

impl<H, P> CircuitBreakerLayer<H, P> {
    /// The same layer, with `classify` deciding how each response counts.
    pub fn classify<Q>(self, classify: Q) -> CircuitBreakerLayer<H, Q> {
        CircuitBreakerLayer {
            handle: self.handle,
            classify,
        }
    }

    /// The handle of the breaker.
    pub const fn handle(&self) -> &H {
        &self.handle
    }
}

impl<S, H: Clone, P: Clone> Layer<S> for CircuitBreakerLayer<H, P> {
    type Service = CircuitBreaker<S, H, P>;

    fn layer(&self, inner: S) -> Self::Service {
        CircuitBreaker::with_classifier(inner, self.handle.clone(), self.classify.clone())
    }
}
