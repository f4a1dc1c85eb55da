//! `recloser` 1.4: lock-free state pointer (crossbeam-epoch) plus a spin-locked ring buffer.
//!
//! * No consecutive-failures policy. "consecutive 5" is approximated by a ring of 5 with
//!   error rate 1.0 (opens when the last 5 calls all failed, once the ring has filled).
//! * window: `closed_len(100)`, `error_rate(0.5)` (100 is also its default ring size).
//! * half-open: `half_open_len(1)`, but `call_permitted` returns `true` for every caller while
//!   `HalfOpen`; the ring length only sets how many outcomes are judged.
//! * async: `AsyncRecloser::from(Recloser)` consumes the breaker and hides it, so the async
//!   path uses a twin breaker with the same configuration, built lazily on first async call.

use std::sync::OnceLock;
use std::time::Duration;

use recloser::{AsyncRecloser, Error};

use crate::{block_on, op_err, op_ok, Probe, Subject};

/// `recloser` 1.4, sync `Recloser::call` and `AsyncRecloser::call`.
#[derive(Debug)]
pub struct Recloser {
    r: recloser::Recloser,
    cfg: (usize, f32, Duration),
    twin: OnceLock<AsyncRecloser>,
}

fn build((len, rate, open_for): (usize, f32, Duration)) -> recloser::Recloser {
    recloser::Recloser::custom()
        .closed_len(len)
        .error_rate(rate)
        .half_open_len(1)
        .error_rate_half_open(0.5)
        .open_wait(open_for)
        .build()
}

#[inline(always)]
fn admitted<T, E>(r: &Result<T, Error<E>>) -> bool {
    !matches!(r, Err(Error::Rejected))
}

impl Recloser {
    fn with(cfg: (usize, f32, Duration)) -> Self {
        Recloser {
            r: build(cfg),
            cfg,
            twin: OnceLock::new(),
        }
    }
}

impl Subject for Recloser {
    const NAME: &'static str = "recloser 1.4";
    const NOTE: &'static str = "recloser: \"consecutive 5\" = ring of 5 at error rate 1.0 (no \
        consecutive policy); async path = a twin `AsyncRecloser` (From consumes the Recloser).";
    const BREAKER_SIZE: usize = std::mem::size_of::<recloser::Recloser>();
    type Local = ();

    fn new_consecutive(open_for: Duration) -> Self {
        Self::with((5, 1.0, open_for))
    }
    fn new_window100(open_for: Duration) -> Option<Self> {
        Some(Self::with((100, 0.5, open_for)))
    }
    fn half_open_limit() -> Option<u32> {
        None
    }
    fn local(&self) {}

    #[inline]
    fn call_ok(&self, _: &mut ()) -> bool {
        admitted(&self.r.call(op_ok))
    }
    #[inline]
    fn call_err(&self, _: &mut ()) -> bool {
        admitted(&self.r.call(op_err))
    }
    fn call_probe(&self, _: &mut (), f: &Probe) -> bool {
        admitted(&self.r.call(|| f()))
    }
    #[inline]
    fn call_async_ok(&self, _: &mut ()) -> Option<bool> {
        let twin = self
            .twin
            .get_or_init(|| AsyncRecloser::from(build(self.cfg)));
        Some(admitted(&block_on(twin.call(std::future::ready(op_ok())))))
    }
}
