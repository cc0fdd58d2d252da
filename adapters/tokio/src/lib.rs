//! # vigil-tokio: the vigil engine driving real tokio tasks and OS processes
//!
//! One driver task owns a [`vigil_core::Engine`]; children report to it over
//! a channel; it sleeps until the engine's next deadline and carries out its
//! `Spawn`, `Stop` and `Kill` commands. A task worker gets a [`RunContext`]
//! (`Stop` cancels its token, `Kill` drops its future); an OS process worker
//! runs in its own process group (`Stop` is SIGTERM, `Kill` SIGKILL, to the group).
//! A binary whose `main` first calls [`guard::enter_if_guard`] runs each
//! process under a small guard that kills the whole group when vigil dies,
//! even by SIGKILL, and spawns without forking vigil (see [`guard`]).
//!
//! ```
//! use std::time::Duration;
//! use vigil_core::{ChildSpec, Readiness, SupervisorSpec};
//! use vigil_tokio::Tree;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sup = Tree::new(SupervisorSpec::new().intensity(5))
//!     .task(ChildSpec::worker("db").readiness(Readiness::Notify), |ctx| async move {
//!         // ... connect ...
//!         ctx.ready(); // the next sibling starts only now
//!         ctx.stopped().await;
//!         Ok::<(), String>(())
//!     })
//!     .task(ChildSpec::worker("web"), |ctx| async move {
//!         tokio::select! {
//!             _ = ctx.stopped() => Ok(()),
//!             _ = tokio::time::sleep(Duration::from_millis(5)) => Err("lost the db"),
//!         }
//!     })
//!     .start()
//!     .expect("valid tree");
//! let mut events = sup.events();
//! // `web` fails after 5 ms and is restarted by one_for_one.
//! while let Ok(e) = events.recv().await {
//!     if matches!(e.notice, vigil_core::Notice::Restart { .. }) {
//!         assert_eq!(e.path, "");  // the root decided
//!         break;
//!     }
//! }
//! sup.shutdown().await;
//! # });
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod blocking;
mod builder;
mod clock;
mod context;
pub mod control;
pub mod descriptors;
mod driver;
mod driver_panic;
mod handle;
mod message;
mod payloads;
mod report;
mod task;

pub mod guard;
pub mod monitor;
mod notify;
mod output;
mod process;

pub use blocking::{BlockingContext, BlockingOptions};
pub use builder::{ProcessTreeOptions, Tree};
pub use context::RunContext;
pub use driver_panic::DriverPanic;
pub use handle::{TreeEvent, TreeHandle};
pub use output::OutputMode;
pub use process::ProcessSpec;
pub use report::RunnerReport;

/// The engine this adapter drives.
pub use vigil_core as core;
