//! The conformance suite on tokio, on paused (virtual) time: the in-process breaker, directly
//! and through the tower layer.

use breaker_conformance::{Harness, InProcess};
use breaker_core::ConfigError;

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
