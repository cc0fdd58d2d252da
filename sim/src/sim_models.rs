//! [`SimModels`]: behaviour models attached to a tree's workers by exact
//! path, by glob, or as a default, and the one rule that resolves them
//! (docs/SIMULATION.md, "Simulating a Rust tree").

use std::collections::{BTreeMap, BTreeSet};

use vigil_config::{SimBehaviour, TreeConfig};

use crate::attach_error::AttachError;
use crate::path_glob::PathGlob;

/// Behaviour models for a tree's workers, attached by exact path, by glob,
/// or as a default. Resolved against a tree by
/// [`SimTree::new`](crate::SimTree::new), which refuses every
/// mis-attachment ([`AttachError`]):
///
/// - a worker's model is the one attached to its exact path, if any (an
///   exact path overrides globs);
/// - else the one of the glob that matches it; two matching globs are an
///   error ([`AttachError::AmbiguousGlobs`]);
/// - else the default, if one was given; without a default a worker with no
///   model is an error ([`AttachError::NoModel`]): nothing is modelled
///   silently. `.default(SimBehaviour::new())` asks for the plain default
///   behaviour (starts, is ready and stops at once, never exits by itself).
///
/// An exact path that names no worker, a glob that matches none, and the
/// same path, glob or default given twice are errors too. Children added at
/// run time (a script's or a random request's `start_child`) run the
/// default if one was given, else [`SimBehaviour::default`].
///
/// ```
/// use std::time::Duration;
/// use vigil_core::ExitReason;
/// use vigil_sim::{Lifetime, SimBehaviour, SimModels};
///
/// let flaky = SimBehaviour::new()
///     .lifetime(Lifetime::Exp { mean: Duration::from_secs(600) })
///     .exit(ExitReason::Error("boom".into()));
/// let models = SimModels::new()
///     .path("db", flaky.clone())
///     .glob("web/*", SimBehaviour::new().start_latency(Duration::from_millis(20)))
///     .default(SimBehaviour::new());
/// # let _ = models;
/// ```
///
/// `SimModels` has no `Default` impl: `SimModels::default` would read as
/// "no models" and its `.default(model)` as something else.
#[derive(Clone, Debug, PartialEq)]
#[must_use = "models do nothing until a SimTree is built with them"]
pub struct SimModels {
    entries: Vec<(Target, SimBehaviour)>,
}

/// Where a model is attached.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    Path(String),
    Glob(String),
    Default,
}

impl Target {
    fn shown(&self) -> String {
        match self {
            Target::Path(p) => p.clone(),
            Target::Glob(g) => g.clone(),
            Target::Default => "default".to_owned(),
        }
    }
}

impl SimModels {
    /// No models yet.
    #[allow(
        clippy::new_without_default,
        reason = "`SimModels::default(model)` is the builder method"
    )]
    pub fn new() -> Self {
        SimModels { entries: Vec::new() }
    }

    /// The models of a tree config: each worker's `sim` table (absent: the
    /// default behaviour) attached to its exact path, so every worker of the
    /// config has one, as `vigil sim` has always simulated it.
    pub fn from_config(cfg: &TreeConfig) -> Self {
        let entries = cfg
            .workers
            .iter()
            .map(|w| (Target::Path(w.path.clone()), w.sim.clone()))
            .collect();
        SimModels { entries }
    }

    /// Attach `model` to the worker at exactly `path` (`web/w1`; no wildcards).
    pub fn path(mut self, path: impl Into<String>, model: SimBehaviour) -> Self {
        self.entries.push((Target::Path(path.into()), model));
        self
    }

    /// Attach `model` to every worker whose path matches `glob`: `*` is any
    /// run of characters within one segment, a `**` segment any number of
    /// segments (none included).
    pub fn glob(mut self, glob: impl Into<String>, model: SimBehaviour) -> Self {
        self.entries.push((Target::Glob(glob.into()), model));
        self
    }

    /// The model of every worker no path or glob names (and of children
    /// added at run time).
    pub fn default(mut self, model: SimBehaviour) -> Self {
        self.entries.push((Target::Default, model));
        self
    }

    /// The model for each of `workers` (their paths, in tag order) and the
    /// default, or the first mis-attachment: the entries' own problems in the
    /// order given, then the workers' in tag order. `is_supervisor` tells a
    /// supervisor's path from one nothing has.
    pub(crate) fn resolve(
        &self,
        workers: &[String],
        is_supervisor: &dyn Fn(&str) -> bool,
    ) -> Result<(Vec<SimBehaviour>, Option<SimBehaviour>), AttachError> {
        let globs = self.check_entries(workers, is_supervisor)?;
        let default = self.entries.iter().find(|(t, _)| *t == Target::Default).map(|(_, m)| m);
        // Exact paths by path: a config of many workers resolves in n log n.
        let exact: BTreeMap<&str, &SimBehaviour> = self
            .entries
            .iter()
            .filter_map(|(t, m)| match t {
                Target::Path(p) => Some((p.as_str(), m)),
                _ => None,
            })
            .collect();
        let mut models = Vec::with_capacity(workers.len());
        for path in workers {
            let model = match exact.get(path.as_str()) {
                Some(m) => *m,
                None => self
                    .by_glob(path, &globs)?
                    .or(default)
                    .ok_or_else(|| AttachError::NoModel { path: path.clone() })?,
            };
            models.push(model.clone());
        }
        Ok((models, default.cloned()))
    }

    /// The model of the one glob matching `path`, if any.
    fn by_glob<'s>(
        &'s self,
        path: &str,
        globs: &[(usize, PathGlob<'s>)],
    ) -> Result<Option<&'s SimBehaviour>, AttachError> {
        let mut matching = globs.iter().filter(|(_, g)| g.matches(path)).map(|(i, _)| *i);
        let Some(first) = matching.next() else {
            return Ok(None);
        };
        if let Some(second) = matching.next() {
            return Err(AttachError::AmbiguousGlobs {
                path: path.to_owned(),
                first: self.entries[first].0.shown(),
                second: self.entries[second].0.shown(),
            });
        }
        Ok(Some(&self.entries[first].1))
    }

    /// Each entry's own problems, in the order given: a bad probability, a
    /// duplicate, a path that names no worker, a glob that is invalid or
    /// matches none. The checked globs, with their entry's index.
    fn check_entries(
        &self,
        workers: &[String],
        is_supervisor: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<(usize, PathGlob<'_>)>, AttachError> {
        let known: BTreeSet<&str> = workers.iter().map(String::as_str).collect();
        let mut seen: BTreeSet<&Target> = BTreeSet::new();
        let mut globs = Vec::new();
        for (i, (target, model)) in self.entries.iter().enumerate() {
            check_probabilities(target, model)?;
            if !seen.insert(target) {
                return Err(match target {
                    Target::Path(path) => AttachError::DuplicatePath { path: path.clone() },
                    Target::Glob(glob) => AttachError::DuplicateGlob { glob: glob.clone() },
                    Target::Default => AttachError::DuplicateDefault,
                });
            }
            match target {
                Target::Path(path) if !known.contains(path.as_str()) => {
                    return Err(if is_supervisor(path) {
                        AttachError::NotAWorker { path: path.clone() }
                    } else {
                        AttachError::UnknownPath { path: path.clone() }
                    });
                }
                Target::Glob(glob) => {
                    let checked = PathGlob::new(glob).map_err(|problem| AttachError::BadGlob {
                        glob: glob.clone(),
                        problem: problem.to_string(),
                    })?;
                    if !workers.iter().any(|w| checked.matches(w)) {
                        return Err(AttachError::UnmatchedGlob { glob: glob.clone() });
                    }
                    globs.push((i, checked));
                }
                Target::Path(_) | Target::Default => {}
            }
        }
        Ok(globs)
    }
}

/// Both probabilities of a model are in [0, 1].
fn check_probabilities(target: &Target, model: &SimBehaviour) -> Result<(), AttachError> {
    for (field, value) in [("start_fail", model.start_fail), ("ignore_stop", model.ignore_stop)] {
        if !(0.0..=1.0).contains(&value) {
            return Err(AttachError::BadProbability {
                target: target.shown(),
                field,
                value,
            });
        }
    }
    Ok(())
}
