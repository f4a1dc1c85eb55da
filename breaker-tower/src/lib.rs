#![doc = include_str!("../README.md")]
// Everything here is written against `core` and `alloc`; see "no_std" in the README for what the
// tower crates still need.
#![no_std]
#![cfg_attr(docsrs, feature(doc_auto_cfg))]

extern crate alloc;

pub mod classify;
pub mod error;
pub mod future;
#[cfg(feature = "http")]
pub mod http;
mod layer;
mod service;

pub use breaker_core;
pub use error::BoxError;
pub use layer::CircuitBreakerLayer;
pub use service::CircuitBreaker;
