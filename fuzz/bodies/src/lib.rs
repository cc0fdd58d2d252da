//! # vigil-fuzz-bodies: the fuzz targets of vigil as plain functions
//!
//! Each target is one module with `pub fn run(data: &[u8]) -> Result<(), String>`:
//! `Ok` when the input is fine (or uninteresting), `Err` with a readable
//! description when a rule is broken; a panic is a crash. Two callers:
//!
//! - the cargo-fuzz binaries in `fuzz/fuzz_targets/` (nightly, libFuzzer),
//!   which panic on `Err` so that libFuzzer records the input;
//! - `tests/corpus.rs` (stable `cargo test`), which replays the committed
//!   corpus `fuzz/corpus/<target>/`, the crash regressions
//!   `fuzz/regressions/<target>/`, and a few thousand seeded mutations of them
//!   ([`replay`]).
//!
//! | target | input | what must hold |
//! |---|---|---|
//! | [`engine`] | a tree and a sequence of world actions | no panic; the simulator's oracle after every step; the tree comes down after shutdown; same bytes, same trace |
//! | [`config`] | bytes as a tree config | no panic; an error names a line and column inside the text; an accepted config is valid for the engine |
//! | [`script`] | bytes as a scenario script | no panic; an error names a line and column inside the text; accepted actions are in time order |
//! | [`control_protocol`] | bytes as request lines to the control socket | no panic; a decoded request encodes to one line that decodes to the same request; a rejected line gets a reply code and a message |

#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod config;
pub mod control_protocol;
pub mod engine;
mod engine_tree;
mod error_position;
mod mutate;
mod replay;
pub mod script;

pub use replay::{replay, Replayed};
