//! # vigil-tokio: the vigil engine driving real tokio tasks and OS processes
//!
//! This crate will bind [`vigil_core::Engine`] to the real world: one driver
//! task owning the engine, task and process children, readiness, the control
//! socket. It is filled by the tokio milestone; today it only re-exports the
//! engine, so that the workspace layout of `docs/ARCHITECTURE.md` is in place.
//!
//! ```
//! let spec = vigil_tokio::core::SupervisorSpec::new();
//! assert!(vigil_tokio::core::Engine::new(spec, 0).is_ok());
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

/// The engine this adapter drives.
pub use vigil_core as core;
