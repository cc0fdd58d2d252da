//! # vigil-sim: seeded virtual-time simulation of supervision trees
//!
//! The same [`vigil_core::Engine`] that supervises real processes, driven by a
//! simulated world in virtual time: workers start, become ready, crash, hang
//! and stop according to behaviour models; each seed picks its own mix of
//! injected faults; an [`Oracle`] checks the supervision rules after every
//! step; every run writes a trace and replays exactly from its seed.
//!
//! ```
//! use std::time::Duration;
//! use vigil_sim::{run_seed, SeedOutcome, SimOptions, TraceWriter};
//!
//! let cfg = vigil_config::parse_tree(r#"
//!     [supervisor]
//!     intensity = 5
//!     [[child]]
//!     name = "db"
//!     command = ["postgres"]
//!     sim = { lifetime = "exp(10m)", exit = "error" }
//! "#, "inline.toml").unwrap();
//! let opts = SimOptions { duration: Duration::from_secs(3600), ..SimOptions::default() };
//! let report = run_seed(&cfg, 7, &opts, TraceWriter::hashing());
//! assert!(report.violation.is_none(), "{:?}", report.violation);
//! // The same seed gives the same run.
//! let again = run_seed(&cfg, 7, &opts, TraceWriter::hashing());
//! assert_eq!(report.trace_hash, again.trace_hash);
//! // How the run ended: the tree's own outcome, or a stop of the simulator.
//! assert!(matches!(report.outcome, SeedOutcome::Tree(_) | SeedOutcome::StepBudget));
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod behaviour;
mod fault_plan;
mod given_specs;
mod happening_queue;
mod manual_world;
mod meta_line;
mod observer;
mod options;
mod oracle;
mod replay;
mod replay_error;
mod report;
mod run;
mod runs;
mod scenario;
mod seed_range;
mod simulation;
#[cfg(feature = "strategies")]
pub mod strategies;
mod watch;
mod world;

pub use fault_plan::FaultPlan;
pub use manual_world::ManualWorld;
pub use meta_line::{meta_line, options_for, parse_meta, TraceMeta};
pub use observer::Observer;
pub use options::{SimOptions, DEFAULT_MAX_STEPS};
pub use oracle::{Oracle, Rule, Violation};
pub use replay::replay;
pub use replay_error::ReplayError;
pub use report::{SeedOutcome, SeedReport};
pub use run::{replay_command, run_seed, run_seed_checked};
pub use runs::{Refused, RunPhase, Runs, ENDED_KEPT};
pub use seed_range::{run_seeds, Summary};
pub use vigil_trace::{event_name, format_time, strategy_name, TraceWriter};
pub use world::{Policy, World};
