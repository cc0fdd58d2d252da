//! [`SimTree`]: the simulator's one input, a validated tree with a
//! behaviour model for every worker.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use vigil_config::{ConfigDigest, SimBehaviour, TreeConfig};
use vigil_core::{ChildKind, ChildSpec, Shutdown, SupervisorSpec};

use crate::attach_error::AttachError;
use crate::sim_models::SimModels;

/// The tag of a supervisor in a [`SimTree`]'s spec (it has no model).
const SUPERVISOR_TAG: u64 = u64::MAX;

/// A tree ready to simulate: a name (a config's path, or one a Rust user
/// gives; replay commands and trace meta lines show it), the engine's spec,
/// and a behaviour model for every worker, in depth-first start order. The
/// spec's worker tags are the workers' indexes in that order (assigned here:
/// tags given in the spec are ignored). It is only built validated, so a
/// simulation never falls back to a default it was not asked for.
///
/// Built three ways: [`SimTree::new`] from a spec and [`SimModels`];
/// [`SimTree::from_config`] from a TOML config; and, with vigil-tokio's
/// feature `sim`, `vigil_tokio::Tree::simulation` from the very `Tree` that
/// `.start()` runs for real (docs/SIMULATION.md, "Simulating a Rust tree").
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, Strategy, SupervisorSpec};
/// use vigil_sim::{run_seed, Lifetime, SimBehaviour, SimModels, SimOptions, SimTree, TraceWriter};
///
/// let web = SupervisorSpec::new()
///     .strategy(Strategy::OneForAll)
///     .child(ChildSpec::worker("w1"))
///     .child(ChildSpec::worker("w2"));
/// let spec = SupervisorSpec::new().child(ChildSpec::worker("db")).child(ChildSpec::supervisor("web", web));
/// let models = SimModels::new()
///     .path("db", SimBehaviour::new().lifetime(Lifetime::Exp { mean: Duration::from_secs(600) }))
///     .glob("web/*", SimBehaviour::new());
/// let tree = SimTree::new("my-tree", spec, &models)?;
/// assert_eq!(tree.workers().iter().map(|w| w.path()).collect::<Vec<_>>(), ["db", "web/w1", "web/w2"]);
/// let report = run_seed(&tree, 7, &SimOptions::default(), TraceWriter::hashing());
/// assert!(report.violation.is_none(), "{:?}", report.violation);
/// # Ok::<(), vigil_sim::AttachError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SimTree {
    name: String,
    spec: SupervisorSpec,
    workers: Vec<SimWorker>,
    /// The model of children added at run time.
    dynamic: SimBehaviour,
    liveness_bound: Duration,
    /// The digest of the config text it was built from, if any.
    digest: Option<ConfigDigest>,
}

/// One worker of a [`SimTree`]: its path and its model.
#[derive(Clone, Debug, PartialEq)]
pub struct SimWorker {
    path: String,
    model: SimBehaviour,
    /// From its spec: the world heartbeats it (a third of this).
    pub(crate) health_timeout: Option<Duration>,
}

impl SimWorker {
    /// Its path in the tree (`web/w1`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Its behaviour model.
    pub fn model(&self) -> &SimBehaviour {
        &self.model
    }
}

impl SimTree {
    /// The tree of `spec` with `models` attached to its workers, named `name`.
    /// Refused if the engine would reject `spec` ([`AttachError::Spec`]) or
    /// any model is mis-attached (the rules are [`SimModels`]'). A supervisor
    /// spec's children are the tree's static children; tags are assigned here.
    pub fn new(name: impl Into<String>, mut spec: SupervisorSpec, models: &SimModels) -> Result<SimTree, AttachError> {
        spec.validate()?;
        let mut shape = Shape::default();
        assign_tags(&mut spec, "", &mut shape);
        let supervisors = shape.supervisors;
        let (resolved, default) = models.resolve(&shape.workers, &|p| supervisors.contains(p))?;
        let workers: Vec<SimWorker> = shape
            .workers
            .into_iter()
            .zip(resolved)
            .zip(shape.health)
            .map(|((path, model), health_timeout)| SimWorker {
                path,
                model,
                health_timeout,
            })
            .collect();
        let liveness_bound = liveness_bound(&workers, &spec);
        Ok(SimTree {
            name: name.into(),
            spec,
            workers,
            dynamic: default.unwrap_or_default(),
            liveness_bound,
            digest: None,
        })
    }

    /// The tree of a TOML config, each worker with its `sim` table
    /// ([`SimModels::from_config`]), named by the config's source. A config
    /// from [`vigil_config::parse_tree`] is never refused; one assembled by
    /// hand may be.
    pub fn from_config(cfg: &TreeConfig) -> Result<SimTree, AttachError> {
        Ok(SimTree::new(cfg.source.clone(), cfg.spec.clone(), &SimModels::from_config(cfg))?.with_digest(cfg.digest))
    }

    /// The same tree, recorded as built from the config text whose digest
    /// is `digest` (what [`vigil_config::parse_tree`] computed): trace meta
    /// lines carry it, so a replay against a changed config is refused.
    #[must_use]
    pub fn with_digest(mut self, digest: Option<ConfigDigest>) -> SimTree {
        self.digest = digest;
        self
    }

    /// The digest of the config text the tree was built from (`None` for a
    /// tree built in code).
    #[must_use]
    pub fn digest(&self) -> Option<ConfigDigest> {
        self.digest
    }

    /// Its name: the config's path, or the name a Rust user gave.
    #[must_use]
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The engine's spec (worker tags index [`SimTree::workers`]).
    #[must_use]
    pub fn spec(&self) -> &SupervisorSpec {
        &self.spec
    }

    /// Every worker with its model, in depth-first start order (a worker's
    /// tag is its index here).
    #[must_use]
    pub fn workers(&self) -> &[SimWorker] {
        &self.workers
    }

    /// The model of the worker with `tag`; a tag of no worker (a child added
    /// at run time) runs the default model.
    pub(crate) fn model(&self, tag: Option<u64>) -> &SimBehaviour {
        match tag
            .and_then(|t| usize::try_from(t).ok())
            .and_then(|t| self.workers.get(t))
        {
            Some(w) => &w.model,
            None => &self.dynamic,
        }
    }

    /// The health timeout of the worker with `tag`, if it has one.
    pub(crate) fn health_timeout(&self, tag: Option<u64>) -> Option<Duration> {
        let i = usize::try_from(tag?).ok()?;
        self.workers.get(i)?.health_timeout
    }

    /// How long faults must be off before every permanent child must be up
    /// again: a minute, plus twice every latency, backoff, timeout and
    /// shutdown deadline in the tree added together (generous; virtual time
    /// is cheap).
    #[must_use]
    pub fn liveness_bound(&self) -> Duration {
        self.liveness_bound
    }
}

/// What the walk of a spec collects, in depth-first start order.
#[derive(Default)]
struct Shape {
    workers: Vec<String>,
    health: Vec<Option<Duration>>,
    supervisors: BTreeSet<String>,
}

/// Give every worker under `spec` its index in depth-first start order as
/// its tag, and every supervisor [`SUPERVISOR_TAG`]. The spec is validated,
/// so the recursion is at most `MAX_DEPTH` deep.
fn assign_tags(spec: &mut SupervisorSpec, parent: &str, shape: &mut Shape) {
    for child in &mut spec.children {
        let path = if parent.is_empty() {
            child.name.clone()
        } else {
            format!("{parent}/{}", child.name)
        };
        match &mut child.kind {
            ChildKind::Worker => {
                child.tag = shape.workers.len() as u64;
                shape.workers.push(path);
                shape.health.push(child.health_timeout);
            }
            ChildKind::Supervisor(nested) => {
                child.tag = SUPERVISOR_TAG;
                assign_tags(Arc::make_mut(nested), &path, shape);
                shape.supervisors.insert(path);
            }
        }
    }
}

/// See [`SimTree::liveness_bound`].
fn liveness_bound(workers: &[SimWorker], spec: &SupervisorSpec) -> Duration {
    let mut total = Duration::from_secs(60);
    let twice = |d: Duration| d.saturating_mul(2);
    for w in workers {
        let m = &w.model;
        let latencies = m
            .start_latency
            .saturating_add(m.ready_latency)
            .saturating_add(m.stop_latency);
        total = total.saturating_add(twice(latencies));
    }
    add_spec_bounds(&spec.children, &mut total);
    total
}

/// Adds twice every backoff maximum, startup timeout and shutdown timeout
/// under `children`, saturating at `Duration::MAX`.
fn add_spec_bounds(children: &[ChildSpec], total: &mut Duration) {
    for c in children {
        let twice = |d: Duration| d.saturating_mul(2);
        if let Some(b) = &c.backoff {
            *total = total.saturating_add(twice(b.max));
        }
        if let Some(t) = c.startup_timeout {
            *total = total.saturating_add(twice(t));
        }
        if let Shutdown::Timeout(t) = c.shutdown_policy() {
            *total = total.saturating_add(twice(t));
        }
        if let ChildKind::Supervisor(s) = &c.kind {
            add_spec_bounds(&s.children, total);
        }
    }
}
