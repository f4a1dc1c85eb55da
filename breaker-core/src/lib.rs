#![doc = include_str!("../README.md")]
#![cfg_attr(not(any(test, feature = "std")), no_std)]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

#[cfg(feature = "alloc")]
extern crate alloc;

pub mod backoff;
mod breaker;
pub mod classify;
pub mod clock;
pub mod config;
#[cfg(feature = "defmt")]
mod defmt;
mod error;
mod future;
pub mod listener;
pub mod machine;
mod permit;
#[cfg(feature = "std")]
pub mod registry;
pub mod seam;
#[cfg(feature = "serde")]
mod serde;
mod stats;
mod sync;
pub mod timer;
pub mod window;

pub use backoff::{Backoff, Random, XorShift32};
pub use breaker::CircuitBreaker;
/// `#[circuit]` on a function returning `Result<T, E>`, with a `static` breaker on [`StdClock`]
/// (runtime adapters re-export their own, on their runtime's clock).
#[cfg(feature = "macros")]
pub use breaker_macros::circuit_core as circuit;
#[cfg(feature = "std")]
pub use clock::StdClock;
pub use clock::{Clock, Duration, GlobalClock, Instant, ManualClock};
pub use config::{AsConfig, Config, ConfigBuilder, ConfigError, ConfigErrorKind, Settings};
pub use error::{Error, LimitReached, Rejected};
pub use future::Call;
pub use listener::Listener;
pub use machine::{Outcome, Reason, State, Transition};
pub use permit::{Concluded, Permit};
pub use seam::{
    AdmitFuture, Admitting, Breaker, End, Handle, ReportFuture, Reported, Ticket, WaitHint,
};
pub use stats::{Stats, Trip};
pub use timer::Policy;
pub use window::{CountWindow, Counts, NoWindow, TimeWindow};
