//! Peer crates, each wrapped as a [`Subject`](crate::Subject).

pub mod breaker2;
pub mod failsafe;
pub mod recloser;
pub mod tower_resilience;
