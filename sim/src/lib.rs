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
//! use vigil_sim::{run_seed, Outcome, SimOptions, TraceWriter};
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
//! # let _ = Outcome::Up;
//! ```

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod behaviour;
mod fault_plan;
mod manual_world;
mod oracle;
mod replay;
mod run;
mod seed_range;
pub mod strategies;
mod world;

pub use fault_plan::FaultPlan;
pub use manual_world::{ManualWorld, RunPhase};
pub use oracle::{Oracle, Rule, Violation};
pub use replay::{options_for, parse_meta, replay, ReplayError, TraceMeta};
pub use run::{
    meta_line, replay_command, run_seed, run_seed_checked, Outcome, RunReport, SimOptions, DEFAULT_MAX_STEPS,
};
pub use seed_range::{run_seeds, Summary};
pub use vigil_trace::{event_name, format_time, strategy_name, TraceWriter};
