//! What the restart latency examples share: the tokio runtimes they compare
//! ([`flavor`]) and nearest-rank percentiles of their samples
//! ([`percentiles`]). Not an example itself (Cargo only builds
//! `examples/*.rs` and `examples/*/main.rs`).

pub mod flavor;
pub mod percentiles;
