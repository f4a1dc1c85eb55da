//! The conformance suite on async-std, with short real timers: the in-process breaker, directly and
//! through the tower layer.

use breaker_conformance::{Harness, InProcess};
use breaker_core::ConfigError;

struct AsyncStd;

impl Harness for AsyncStd {
    type Runtime = breaker_async_std::AsyncIo;
    type Limit = breaker_async_std::Limit;
    const VIRTUAL: bool = false;

    fn block_on<F: core::future::Future<Output = ()> + 'static>(test: F) {
        async_std::task::block_on(test);
    }

    fn try_limit(permits: usize) -> Result<Self::Limit, ConfigError> {
        breaker_async_std::Limit::new(permits)
    }
}

breaker_conformance::conformance!(mod in_process: AsyncStd, InProcess);
breaker_conformance::conformance!(in_process AsyncStd);
