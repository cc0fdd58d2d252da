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
//! A tree is its root ([`Tree`]: the root's spec, its children, the settings
//! of the whole tree) and the children of each nested supervisor
//! ([`Children`]); [`Tree::start`] refuses what would be ignored
//! ([`BuildError`]). The [`TreeHandle`] it returns sends requests, streams
//! typed [`TreeEvent`]s ([`Events`], which ends once the tree is down) and
//! says how the tree ended ([`TreeHandle::outcome`], the engine's
//! [`Outcome`](vigil_core::Outcome)).
//!
//! ```
//! use std::time::Duration;
//! use vigil_core::{ChildSpec, Outcome, Readiness, SupervisorSpec};
//! use vigil_tokio::{EventKind, Tree};
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
//! while let Some(e) = events.recv().await {
//!     let e = e.expect("this listener keeps up");
//!     if let EventKind::Restart { child, .. } = &e.kind {
//!         assert_eq!((e.path.as_str(), child.as_str()), ("", "web")); // the root restarts web
//!         break;
//!     }
//! }
//! sup.shutdown().await;
//! assert_eq!(sup.outcome(), Outcome::ShutDown);
//! # });
//! ```

#![deny(unsafe_code)]
#![warn(missing_docs)]

mod blocking;
mod builder;
// IDENTITY: user, group, umask, limits, cgroup, environment of process children.
mod cgroup;
#[cfg(feature = "sim")]
pub mod chaos;
#[cfg(feature = "sim")]
mod chaos_hooks;
mod child_ref;
mod child_signal;
mod clock;
mod context;
pub mod control;
pub mod descriptors;
mod driver;
mod driver_panic;
mod driver_queue;
mod environment_file;
mod events;
#[cfg(feature = "sim")]
mod from_config;
mod handle;
#[cfg(feature = "http")]
pub mod http;
pub mod identity;
mod inbox;
mod lifecycle;
pub mod log_file;
mod mailbox;
mod message;
mod payloads;
mod pool;
mod report;
mod sim_hooks;
#[cfg(feature = "sim")]
mod simulation;
mod spawn_setup;
mod start_delay;
mod stop_signal;
pub mod systemd;
mod task;

#[cfg(feature = "sim")]
pub mod dst;

pub mod guard;
mod guard_kill;
mod guard_park;
mod guard_pool;
pub mod monitor;
mod notice_log;
mod notify;
mod output;
pub mod own_children;
mod probe;
mod probe_exec;
mod probe_http;
mod process;
pub mod reaper;
pub mod recent_output;
mod spawn_attributes;
pub mod spawner;
mod spawner_buffer;
mod spawner_process;
mod spawner_protocol;

pub use blocking::{BlockingContext, BlockingOptions};
pub use builder::{BuildError, Children, ProcessTreeOptions, Tree};
pub use child_ref::{CallError, CastError, ChildRef, ChildRefError, TryCastError};
pub use child_signal::{SignalError, SignalTarget};
pub use context::RunContext;
pub use driver_panic::DriverPanic;
pub use events::{Answer, EventKind, Events, Lagged, TreeEvent};
pub use handle::TreeHandle;
pub use inbox::{Inbox, TryRecvError};
pub use lifecycle::{ChildSignal, Lifecycle, ParseSignalError};
pub use log_file::LogFiles;
pub use output::OutputMode;
pub use pool::{NoInbox, Pool, PoolChild, PoolError, PoolRef, PoolRefError};
pub use probe::{HealthProbe, ProbeCheck};
pub use process::ProcessSpec;
#[cfg(feature = "sim")]
pub use simulation::SimulationError;

/// The engine this adapter drives.
pub use vigil_core as core;

/// docs/EMBEDDING.md's code blocks, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/EMBEDDING.md")]
mod embedding_guide {}

/// docs/SIMULATION.md's code blocks (they simulate `Tree`s and run your own
/// task code: features `sim` and `dst`), compiled and run as doc tests.
#[cfg(all(doctest, feature = "dst"))]
#[doc = include_str!("../../../docs/SIMULATION.md")]
mod simulation_guide {}
