//! `failsafe` 1.3: `StateMachine` behind a `parking_lot::Mutex`.
//!
//! * consecutive: `failure_policy::consecutive_failures(5, backoff::constant(open_for))`
//! * window: none. Its only rate policy, `success_rate_over_time_window`, is a time-decayed
//!   EMA over a time window, not a count window.
//! * half-open: not configurable; `is_call_permitted` returns `true` for every caller while
//!   `HalfOpen`.

use std::time::Duration;

use failsafe::failure_policy::{self, ConsecutiveFailures};
use failsafe::{backoff, Config, Error, StateMachine};

use crate::{block_on, op_err, op_ok, Probe, Subject};

type Sm = StateMachine<ConsecutiveFailures<backoff::Constant>, ()>;

/// `failsafe` 1.3, sync `CircuitBreaker::call` and `futures::CircuitBreaker::call`.
#[derive(Debug)]
pub struct Failsafe {
    sm: Sm,
}

#[inline(always)]
fn admitted<T, E>(r: &Result<T, Error<E>>) -> bool {
    !matches!(r, Err(Error::Rejected))
}

impl Subject for Failsafe {
    const NAME: &'static str = "failsafe 1.3";
    const BREAKER_SIZE: usize = std::mem::size_of::<Sm>();
    type Local = ();

    fn new_consecutive(open_for: Duration) -> Self {
        let policy = failure_policy::consecutive_failures(5, backoff::constant(open_for));
        Failsafe {
            sm: Config::new().failure_policy(policy).build(),
        }
    }
    fn new_window100(_open_for: Duration) -> Option<Self> {
        None
    }
    fn half_open_limit() -> Option<u32> {
        None
    }
    fn local(&self) {}

    #[inline]
    fn call_ok(&self, _: &mut ()) -> bool {
        admitted(&failsafe::CircuitBreaker::call(&self.sm, op_ok))
    }
    #[inline]
    fn call_err(&self, _: &mut ()) -> bool {
        admitted(&failsafe::CircuitBreaker::call(&self.sm, op_err))
    }
    fn call_probe(&self, _: &mut (), f: &Probe) -> bool {
        admitted(&failsafe::CircuitBreaker::call(&self.sm, || f()))
    }
    #[inline]
    fn call_async_ok(&self, _: &mut ()) -> Option<bool> {
        let fut = failsafe::futures::CircuitBreaker::call(&self.sm, std::future::ready(op_ok()));
        Some(admitted(&block_on(fut)))
    }
}
