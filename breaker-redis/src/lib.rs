#![doc = include_str!("../README.md")]

mod breaker;
mod connection;
mod executor;
mod options;
pub mod store;

pub use breaker::{BuildError, Events, RedisBreaker};
pub use executor::{Executor, Task};
pub use options::{Options, Outage};
pub use store::{Op, Reply, Store, StoreError};
