//! Proxy health: the snapshot file, the score, and the observations that feed it.

pub mod score;
pub mod select;
pub mod snapshot;

pub use snapshot::{Observation, ProxyHealth, Snapshot, State};
