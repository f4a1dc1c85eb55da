#![doc = include_str!("../README.md")]
//!
//! # Module map
//!
//! Each layer builds on the ones above it:
//!
//! - [`clock`]: time as whole microseconds ([`Instant`], [`Duration`]) from an injected [`Clock`]
//!   ([`ManualClock`]; `StdClock` with `std`), asked for only when a decision needs it.
//! - [`limits`]: every bit budget and horizon of the machine's state: the contract every store
//!   must hold.
//! - [`config`] and [`window`]: a validated configuration ([`Config`], [`Settings`]), and the
//!   count and time windows, `O(1)` per outcome; [`backoff`] and [`classify`] beside them.
//! - [`machine`]: the pure transitions, `(machine, event, env, settings) -> (machine, change)`,
//!   including which outcomes enter the window.
//! - The store and the breaker: [`CircuitBreaker`] holds the machine in one atomic word (packing,
//!   the compare-and-swap loop, tagged deadlines; `breaker.rs`). [`seam`]: the [`Breaker`] trait
//!   any breaker kind implements (a second one, the Redis breaker, lives in `breaker-redis`), and
//!   the [`Handle`] that holds one (`&B`, `Arc<B>`, a `static`).
//! - The permit and the call: [`Permit`] and the [`Call`] future, generic over the handle.
//! - [`runtime`] and [`policy`]: what a runtime adapter supplies (a timer, the driver of
//!   time-driven changes), and what a call does beyond admission (timeout, wait mode, concurrency
//!   limit, fallback, protected functions).
//! - Around them: [`listener`] (events), [`Stats`], errors ([`Error`], [`Rejected`],
//!   [`ConfigError`]), and with `std` the `registry` of named breakers and limits.
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
pub mod limits;
pub mod listener;
pub mod machine;
mod permit;
pub mod policy;
#[cfg(feature = "std")]
pub mod registry;
pub mod runtime;
pub mod seam;
#[cfg(feature = "serde")]
mod serde;
mod stats;
mod sync;
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
pub use policy::Policy;
pub use seam::{
    AdmitFuture, Admitted, Admitting, Breaker, End, Handle, ReportFuture, Reported, Ticket,
    WaitHint,
};
pub use stats::{Stats, Trip};
pub use window::{CountWindow, Counts, NoWindow, TimeWindow};
