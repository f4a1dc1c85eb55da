//! The conformance suite on smol, with short real timers.

use breaker_conformance::Harness;
use breaker_core::ConfigError;

struct Smol;

impl Harness for Smol {
    type Runtime = breaker_smol::AsyncIo;
    type Limit = breaker_smol::Limit;
    const VIRTUAL: bool = false;

    fn block_on<F: core::future::Future<Output = ()> + 'static>(test: F) {
        smol::block_on(test);
    }

    fn try_limit(permits: usize) -> Result<Self::Limit, ConfigError> {
        breaker_smol::Limit::new(permits)
    }
}

breaker_conformance::conformance!(Smol);
