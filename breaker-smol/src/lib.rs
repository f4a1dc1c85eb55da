#![doc = include_str!("../README.md")]

pub use breaker_async_io::*;
