//! The conformance suite on tokio, on paused (virtual) time: the in-process breaker, without and
//! with its driver, directly and through the tower layer.

use std::sync::Arc;

use breaker_conformance::{Harness, InProcess, Kind};
use breaker_core::machine::{Machine, Manual};
use breaker_core::{Breaker, Config, ConfigError};

struct Tokio;

impl Harness for Tokio {
    type Runtime = breaker_tokio::Tokio;
    type Limit = breaker_tokio::Limit;
    const VIRTUAL: bool = true;

    fn block_on<F: core::future::Future<Output = ()> + 'static>(test: F) {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .start_paused(true)
            .build()
            .expect("a tokio runtime")
            .block_on(test);
    }

    fn try_limit(permits: usize) -> Result<Self::Limit, ConfigError> {
        breaker_tokio::Limit::new(permits)
    }
}

breaker_conformance::conformance!(mod in_process: Tokio, InProcess);
breaker_conformance::conformance!(in_process Tokio);

/// The in-process breaker with its driver spawned (`breaker_tokio::spawn_driver`): time-driven
/// changes are applied by the driver when they are due, and an open breaker refuses calls from
/// its state alone, without reading the clock.
struct Driven;

impl Kind<Tokio> for Driven {
    type Breaker = <InProcess as Kind<Tokio>>::Breaker;
    // `breaker_core::runtime::drive`: "a breaker half-opens within the timer's resolution after
    // its open duration (tokio's timer: 1 ms)". Until the driver has run, an open breaker refuses
    // calls from its state alone, though `state()` already reads half-open.
    const LATENESS: breaker_core::Duration = breaker_core::Duration::from_millis(1);

    async fn build(config: Config) -> Arc<Self::Breaker> {
        let b = <InProcess as Kind<Tokio>>::build(config).await;
        let _driver = breaker_tokio::spawn_driver(Arc::downgrade(&b));
        // Let the driver attach before the scenario starts.
        tokio::task::yield_now().await;
        assert!(!b.attach_driver(), "the driver is attached");
        b
    }

    async fn settle(b: &Arc<Self::Breaker>) {
        <InProcess as Kind<Tokio>>::settle(b).await;
    }

    async fn manual(b: &Arc<Self::Breaker>, change: Manual) {
        <InProcess as Kind<Tokio>>::manual(b, change).await;
    }

    fn machine(b: &Arc<Self::Breaker>) -> Machine {
        <InProcess as Kind<Tokio>>::machine(b)
    }

    fn rejections(b: &Arc<Self::Breaker>) -> u64 {
        <InProcess as Kind<Tokio>>::rejections(b)
    }
}

breaker_conformance::conformance!(mod driven: Tokio, Driven);
