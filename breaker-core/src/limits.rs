//! The machine's limits, in one place: every bit budget and horizon of the state a store holds.
//!
//! This is the contract every store must hold. A store keeps a [`Machine`] somewhere (the atomic
//! breaker packs it into one `AtomicU64`; the Redis breaker in `breaker-redis` keeps it as the
//! fields of a hash, changed by a Lua script that mirrors [`crate::machine`]) and two stores agree
//! on every transition only if both can hold every value the machine produces, and wrap and
//! saturate at the same points:
//!
//! - **Generations** count modulo [`GENERATION_MASK`]` + 1` (2^24): a store keeps at least that
//!   many bits and wraps there, or an outcome from an old generation would be taken for a
//!   current one at a different point in each store.
//! - **Backoff level** ([`Machine::opens`]) saturates at [`MAX_OPENS`].
//! - **Half-open counts**: trials in flight and successful trials are at most
//!   [`MAX_HALF_OPEN_COUNT`] (the configuration refuses more, [`MAX_TRIALS`]); consecutive
//!   failures while half-open saturate at [`MAX_HALF_OPEN_FAILURES`].
//! - **Time**: instants stay below [`MAX_INSTANT_MICROS`] and configured durations at or below
//!   [`MAX_DURATION_MICROS`], so a deadline (`now` plus an open duration) fits 52 bits, and every
//!   number of microseconds a transition computes stays below 2^53, exact in a Lua number (a
//!   double).
//! - **Rates** are integers in parts per million ([`PPM`]), so every mirror of the transitions
//!   computes the same trip decision.
//! - **Windows**: a count window holds at most [`MAX_COUNT_WINDOW`] calls, a time window at most
//!   [`MAX_TIME_BUCKETS`] buckets of at most [`TIME_BUCKET_CAPACITY`] calls each; the
//!   configuration refuses larger ones, so a store's window need hold no more.
//!
//! A budget of one store's own layout is here too when the machine's limits depend on it:
//! [`DEADLINE_TAG_BITS`] (the atomic store's deadline word).
//!
//! Under `cfg(breaker_verify)` every wrapping or saturating field is shrunk to 2-3 bits, so that
//! the loom models in `tests/loom.rs` reach wrap-around and saturation within a handful of
//! transitions. Nothing else changes: the code paths are the same. (A store whose widths cannot
//! shrink, such as a Lua script, is not built under it.)
//!
//! [`Machine`]: crate::machine::Machine
//! [`Machine::opens`]: crate::machine::Machine::opens

use crate::clock::Duration;

/// Generations are counted modulo 2^24 (they share one atomic word with the state).
#[cfg(not(breaker_verify))]
pub const GENERATION_MASK: u32 = (1 << 24) - 1;
/// Generations are counted modulo 2^3 (shrunk for verification).
#[cfg(breaker_verify)]
pub const GENERATION_MASK: u32 = (1 << 3) - 1;

/// The backoff level saturates here (5 bits; far past any cap a backoff reaches).
#[cfg(not(breaker_verify))]
pub const MAX_OPENS: u8 = 31;
/// The backoff level saturates here (shrunk for verification).
#[cfg(breaker_verify)]
pub const MAX_OPENS: u8 = 3;

/// The largest trial limit and success threshold the packed half-open state can count (10 bits
/// each).
#[cfg(not(breaker_verify))]
pub const MAX_HALF_OPEN_COUNT: u16 = (1 << 10) - 1;
/// The largest trial limit and success threshold (shrunk for verification).
#[cfg(breaker_verify)]
pub const MAX_HALF_OPEN_COUNT: u16 = (1 << 2) - 1;

/// The consecutive-failures counter saturates here while half-open (12 bits of the packed word).
#[cfg(not(breaker_verify))]
pub const MAX_HALF_OPEN_FAILURES: u32 = (1 << 12) - 1;
/// The consecutive-failures counter saturates here while half-open (shrunk for verification).
#[cfg(breaker_verify)]
pub const MAX_HALF_OPEN_FAILURES: u32 = (1 << 2) - 1;

/// The most trials a half-open breaker may run at once, and the largest success threshold: what
/// the configuration accepts ([`MAX_HALF_OPEN_COUNT`]).
pub const MAX_TRIALS: u16 = MAX_HALF_OPEN_COUNT;

/// Bits of the generation that tag the atomic store's deadline word (the rest, 52 bits, hold the
/// deadline in microseconds). Shrunk under `cfg(breaker_verify)` so that the loom models wrap the
/// tag within a few transitions.
#[cfg(not(breaker_verify))]
pub const DEADLINE_TAG_BITS: u32 = 12;
/// Bits of the generation that tag the deadline word (shrunk for verification).
#[cfg(breaker_verify)]
pub const DEADLINE_TAG_BITS: u32 = 2;

/// The largest instant a clock may report: 2^51 µs, about 71 years of uptime.
///
/// The atomic breaker packs deadlines into 52 bits; keeping instants and durations below these
/// bounds is what lets `now + open duration` never overflow that field.
pub const MAX_INSTANT_MICROS: u64 = 1 << 51;

/// The longest duration a configuration may hold: 2^50 µs, about 35 years.
pub const MAX_DURATION_MICROS: u64 = 1 << 50;

/// The longest duration a configuration may hold, as a [`Duration`] ([`MAX_DURATION_MICROS`]).
pub const MAX_DURATION: Duration = Duration::from_micros(MAX_DURATION_MICROS);

/// Parts per million: rates are kept as integers so that every mirror of the transitions (a Lua
/// script, a simulator) computes exactly the same trip decision.
pub const PPM: u32 = 1_000_000;

/// The largest count window: counts are packed 21 bits apiece in one atomic word, and keeping the
/// size below 2^20 leaves room to recognise a momentarily negative field.
pub const MAX_COUNT_WINDOW: u32 = (1 << 20) - 1;

/// The most buckets a time window may have.
pub const MAX_TIME_BUCKETS: u32 = 4096;

/// The most calls one time-window bucket counts (its counts share one atomic word with the
/// bucket's tag); later calls in the same bucket are sampled out. A time window of `B` buckets
/// therefore holds at most `B * TIME_BUCKET_CAPACITY` calls.
pub const TIME_BUCKET_CAPACITY: u32 = (1 << 16) - 1;

// The horizons hold together: a deadline fits the deadline word (and its "never" value, all
// ones, stays out of reach), and every microsecond count stays exact in a double.
const _: () =
    assert!(MAX_INSTANT_MICROS + MAX_DURATION_MICROS < (1 << (64 - DEADLINE_TAG_BITS)) - 1);
const _: () = assert!(MAX_INSTANT_MICROS + MAX_DURATION_MICROS < 1 << 53);
// A whole time window's calls fit the `u32` counts the machine decides on.
const _: () = assert!(MAX_TIME_BUCKETS as u64 * TIME_BUCKET_CAPACITY as u64 <= u32::MAX as u64);
