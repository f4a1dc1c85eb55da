//! The conformance suite on smol, with short real timers: the in-process breaker, directly and
//! through the tower layer.

use breaker_conformance::{Harness, InProcess};
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

breaker_conformance::conformance!(mod in_process: Smol, InProcess);
breaker_conformance::conformance!(in_process Smol);
