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
//! use vigil_sim::{run_seed, SeedOutcome, SimOptions, SimTree, TraceWriter};
//!
//! let cfg = vigil_config::parse_tree(r#"
//!     [supervisor]
//!     intensity = 5
//!     [[child]]
//!     name = "db"
//!     command = ["postgres"]
//!     sim = { lifetime = "exp(10m)", exit = "error" }
//! "#, "inline.toml").unwrap();
//! let tree = SimTree::from_config(&cfg).unwrap();
//! let opts = SimOptions { duration: Duration::from_secs(3600), ..SimOptions::default() };
//! let report = run_seed(&tree, 7, &opts, TraceWriter::hashing());
//! assert!(report.violation.is_none(), "{:?}", report.violation);
//! // The same seed gives the same run.
//! let again = run_seed(&tree, 7, &opts, TraceWriter::hashing());
//! assert_eq!(report.trace_hash, again.trace_hash);
//! // How the run ended: the tree's own outcome, or a stop of the simulator.
//! assert!(matches!(report.outcome, SeedOutcome::Tree(_) | SeedOutcome::StepBudget));
//! ```
//!
//! The simulator's one input is a [`SimTree`]: a validated tree with a
//! behaviour model for every worker. A TOML config gives one
//! ([`SimTree::from_config`]); a tree written in Rust gives one from its
//! spec and [`SimModels`] attached by path or glob ([`SimTree::new`]), or,
//! with vigil-tokio's feature `sim`, from the very `vigil_tokio::Tree` that
//! runs for real (`Tree::simulation`). Every mis-attached model is an
//! [`AttachError`]. docs/SIMULATION.md, "Simulating a Rust tree", has the
//! rules; the module `strategies` (feature `strategies`) property-tests a tree.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod attach_error;
mod behaviour;
mod explain;
mod fault_plan;
mod given_specs;
mod happening_queue;
mod manual_world;
mod meta_line;
mod observer;
mod options;
mod oracle;
mod path_glob;
mod replay;
mod replay_error;
mod report;
mod run;
mod runs;
mod scenario;
mod seed_range;
mod shard;
mod sim_models;
mod sim_tree;
mod simulation;
#[cfg(feature = "strategies")]
pub mod strategies;
mod summary_json;
mod sweep;
mod sweep_error;
mod sweep_merge;
mod trace_replay;
mod trace_replay_input;
mod watch;
mod world;

pub use attach_error::AttachError;
pub use explain::{
    explain, format_wall_clock, Cause, Decision, Entry, EntryKind, ExplainError, Explanation, MetaInfo, RequestInfo,
    WindowView,
};
pub use fault_plan::FaultPlan;
pub use manual_world::ManualWorld;
pub use meta_line::{
    check_digest, meta_line, options_for, parse_meta, parse_recorded_meta, RecordedMeta, RunTraceMeta, TraceMeta,
};
pub use observer::Observer;
pub use options::{SimOptions, DEFAULT_MAX_STEPS};
pub use oracle::{Oracle, Rule, Violation};
pub use replay::replay;
pub use replay_error::ReplayError;
pub use report::{SeedOutcome, SeedReport};
pub use run::{replay_command, run_seed, run_seed_checked};
pub use runs::{Refused, RunPhase, Runs, ENDED_KEPT};
pub use seed_range::{run_seeds, Summary};
pub use shard::{Shard, ShardError};
pub use sim_models::SimModels;
pub use sim_tree::{SimTree, SimWorker};
pub use sweep::{fnv1a64, DeterminismCheck, Sweep, SweepOptions, SweepSetup, FORMAT as SWEEP_FORMAT};
pub use sweep_error::SweepError;
pub use sweep_merge::merge_sweeps;
pub use trace_replay::{replay_run, RunReplay};
pub use vigil_config::{Lifetime, SimBehaviour};
pub use vigil_trace::{event_name, format_time, strategy_name, TraceWriter};
pub use world::{Policy, World};
