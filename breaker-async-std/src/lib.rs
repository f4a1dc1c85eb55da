#![doc = include_str!("../README.md")]

pub use breaker_async_io::*;
/// `#[circuit]` on an `async fn` or `fn` returning `Result<T, E>`, with a `static` breaker on the async-io clock.
#[cfg(feature = "macros")]
pub use breaker_macros::circuit_async_std as circuit;
