//! # vigil-config: the tree config and the scenario script
//!
//! One TOML format describes a supervision tree; the same file runs for real
//! (`vigil run`) and in simulation (`vigil sim`). This crate turns it into
//! validated [`vigil_core`] specs plus what the adapters need per worker, and
//! reads the scenario scripts of `vigil sim --script`.
//!
//! ```
//! use std::time::Duration;
//! use vigil_config::{parse_tree, Lifetime};
//! use vigil_core::{Restart, Strategy};
//!
//! let config = parse_tree(
//!     r#"
//! [supervisor]
//! strategy = "rest_for_one"
//! intensity = 3
//! period = "10s"
//!
//! [[child]]
//! name = "db"
//! command = ["postgres", "-D", "data"]
//! env = { PGPORT = "5433" }
//! shutdown = "10s"
//! memory_limit = "512MiB"
//! sim = { lifetime = "exp(10m)", start_latency = "20ms" }
//!
//! [[child]]
//! name = "web"
//! supervisor = { strategy = "one_for_all", intensity = 1 }
//!   [[child.child]]
//!   name = "w1"
//!   command = ["./web", "--port", "8080"]
//!   restart = "transient"
//! "#,
//!     "examples/web.toml",
//! )?;
//!
//! assert_eq!(config.name, "web");
//! assert_eq!(config.spec.strategy, Strategy::RestForOne);
//! assert_eq!(config.spec.period, Duration::from_secs(10));
//! // Workers in start order; each worker's tag is its index there.
//! assert_eq!(config.workers[0].memory_limit, Some(512 << 20));
//! assert_eq!(config.workers[0].sim.lifetime, Lifetime::Exp { mean: Duration::from_secs(600) });
//! assert_eq!(config.workers[1].path, "web/w1");
//! let web = &config.spec.children[1];
//! assert_eq!(web.tag, u64::MAX); // a supervisor
//! let vigil_core::ChildKind::Supervisor(web) = &web.kind else { unreachable!() };
//! assert_eq!((web.children[0].tag, web.children[0].restart), (1, Restart::Transient));
//!
//! // Mistakes are reported with the file, the line and the key.
//! let err = parse_tree("[[child]]\nname = \"db\"\ncomand = [\"postgres\"]\n", "examples/web.toml").unwrap_err();
//! assert_eq!(err.line, Some(3));
//! assert!(err.to_string().starts_with(
//!     "examples/web.toml:3:1: unknown key `comand` in [[child]] (did you mean `command`?"
//! ));
//! # Ok::<(), vigil_config::ConfigError>(())
//! ```
//!
//! - [`parse_tree`] / [`load_tree`]: a tree config (docs/CONFIG.md) into a
//!   [`TreeConfig`]; [`TreeConfig::render`] prints it for `vigil check`.
//! - [`parse_script`] / [`load_script`]: a scenario script (docs/CONFIG.md)
//!   into a [`Script`].
//! - [`parse_duration`] / [`format_duration`], [`parse_byte_size`] /
//!   [`format_byte_size`], and [`Lifetime`]'s `FromStr` / `Display`: the value
//!   syntaxes, also for command-line options.
//! - [`AppliedConfig`]: what a running tree was given from its config, and
//!   the [`ReloadPlan`] that takes it to a new version (`vigil run`'s SIGHUP).
//! - [`ConfigError`]: every rejection, with file, line, column and key.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod byte_size;
mod control_group;
mod digest;
mod duration;
mod error;
mod health_probe;
mod identity;
mod keywords;
mod lifecycle;
mod lifetime;
mod listen;
mod log;
mod model;
mod number;
mod parser_stack;
mod position;
mod quantity_kind;
mod raw;
mod reload_plan;
mod render;
mod replicas;
mod script;
mod toml_error;
mod tree;

pub use byte_size::{format_byte_size, parse_byte_size};
pub use control_group::ControlGroup;
pub use digest::{ConfigDigest, ParseDigestError};
pub use duration::{format_duration, parse_duration};
pub use error::{ConfigError, ConfigErrorKind, ValueError};
pub use health_probe::{health_warnings, HealthProbe, HttpTarget, ProbeCheck};
pub use identity::{AccountConfig, CgroupConfig, IdentityConfig, LimitPair, LIMIT_NAMES};
pub use lifecycle::{signal_name, LifecycleConfig, ANY_SIGNALS, CATCHABLE_SIGNALS};
pub use listen::parse_listen;
pub use log::LogConfig;
pub use model::{
    Action, ControlConfig, HttpConfig, Lifetime, MonitorConfig, RunConfig, Script, SimBehaviour, TimedAction,
    TreeConfig, WorkerConfig,
};
pub use reload_plan::{AppliedConfig, ReloadPlan, ReloadStep};
pub use replicas::{expand_replica, PlaceholderError, ReplicaTemplate, MAX_REPLICAS, REPLICA_ENV};
pub use script::{load_script, parse_script};
pub use tree::{load_tree, parse_tree};
