//! # vigil-core: the supervision engine as a pure state machine
//!
//! Erlang/OTP's supervisor semantics (restart types, one_for_one /
//! one_for_all / rest_for_one, restart intensity with escalation, ordered
//! shutdown, significant children) plus opt-in extensions (readiness, health
//! deadlines, backoff, one_terminate_all, rolling restarts), as a sans-IO state
//! machine in the style of quinn-proto: it never spawns, kills, sleeps or reads
//! a clock. It consumes timed inputs and hands out commands.
//!
//! ```
//! use std::time::Duration;
//! use vigil_core::{ChildSpec, Command, Engine, ExitReason, Input, Instant, SupervisorSpec};
//!
//! let spec = SupervisorSpec::new()
//!     .intensity(3)
//!     .child(ChildSpec::worker("db"))
//!     .child(ChildSpec::worker("web"));
//! let mut engine = Engine::new(spec, 42).expect("valid spec");
//! let t0 = Instant::ZERO;
//! engine.start(t0);
//!
//! // Starts are sequential: only `db` is spawned until it reports Started.
//! let Some(Command::Spawn(db)) = engine.poll_command() else { panic!() };
//! assert_eq!(engine.poll_command(), None);
//! engine.handle(Input::Started(db), t0);
//! let Some(Command::Spawn(web)) = engine.poll_command() else { panic!() };
//! engine.handle(Input::Started(web), t0);
//!
//! // `web` crashes: one_for_one restarts just `web`, with a new generation.
//! let t1 = t0 + Duration::from_secs(1);
//! engine.handle(Input::Exited(web, ExitReason::Error("boom".into())), t1);
//! let Some(Command::Spawn(web2)) = engine.poll_command() else { panic!() };
//! assert_eq!(web2.node, web.node);
//! assert!(web2.generation > web.generation);
//!
//! // An event for the old run is stale: ignored and counted.
//! engine.handle(Input::Exited(web, ExitReason::Normal), t1);
//! assert_eq!(engine.stats().stale_inputs, 1);
//!
//! // Everything that happened is in the notices (the trace).
//! let notices: Vec<_> = std::iter::from_fn(|| engine.poll_notice()).collect();
//! assert!(notices.len() >= 8);
//! ```
//!
//! The driver's loop: feed [`Engine::handle`], [`Engine::handle_timeout`] and
//! [`Engine::request`]; after each call drain [`Engine::poll_command`] and
//! [`Engine::poll_notice`]; sleep until [`Engine::poll_timeout`].
//! `docs/SEMANTICS.md` in the repository states the semantics rule by rule.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod backoff;
mod command;
mod engine;
mod exit_reason;
mod ids;
mod injected_bug;
mod input;
mod notice;
mod operator;
mod outcome;
mod plan;
mod request;
mod restart_window;
mod runs;
mod spec;
mod spec_error;
mod stats;
mod supervisor;
mod time;
mod timer_queue;
mod tree;

pub use command::Command;
pub use engine::Engine;
pub use exit_reason::{ExitReason, ParseExitReasonError};
pub use ids::{NodeId, RequestId, RunId};
pub use injected_bug::InjectedBug;
pub use input::{Eviction, Input, InputKind};
pub use notice::Notice;
pub use outcome::Outcome;
pub use request::{ChildCounts, ChildInfo, ChildState, Reply, Request, RequestError, RequestOp, RestartAllMode};
pub use restart_window::MAX_EXACT_INTENSITY;
pub use spec::{
    AutoShutdown, Backoff, ChildKind, ChildSpec, Lifespan, Readiness, Restart, Shutdown, ShutdownOrder, Strategy,
    SupervisorSpec, DEFAULT_WORKER_SHUTDOWN, MAX_DEPTH,
};
pub use spec_error::{SpecError, SpecErrorKind};
pub use stats::Stats;
pub use time::Instant;
