//! # vigil-config: the tree config and the scenario script
//!
//! One TOML format describes a supervision tree; the same file runs for real
//! (`vigil run`) and in simulation (`vigil sim`). This crate turns it into
//! validated [`vigil_core`] specs plus what the adapters need per worker.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod model;

pub use model::{Action, ControlConfig, Lifetime, Script, SimBehaviour, TimedAction, TreeConfig, WorkerConfig};
