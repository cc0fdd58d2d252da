//! # vigil-sim: seeded virtual-time simulation of vigil supervision trees
//!
//! This crate will drive [`vigil_core::Engine`] in a seeded virtual world
//! (behaviour models, injected faults, an invariant oracle checked after every
//! step, replay from a seed). It is filled by the simulation milestone; today it
//! only re-exports the engine it will drive, so that the workspace layout of
//! `docs/ARCHITECTURE.md` is in place.
//!
//! ```
//! let spec = vigil_sim::core::SupervisorSpec::new();
//! assert!(vigil_sim::core::Engine::new(spec, 0).is_ok());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The engine the simulator drives.
pub use vigil_core as core;
