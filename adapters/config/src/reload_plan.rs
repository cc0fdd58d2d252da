//! Reloading a running tree from a new version of its config: which
//! top-level children to stop and delete, to replace, and to start.
//!
//! [`AppliedConfig`] records what the running tree was given, child by
//! child; [`AppliedConfig::plan`] compares a new config with it. Top-level
//! children are compared as whole subtrees, by name: one whose subtree
//! changed in any way that reaches the engine or the process (its spec and
//! every spec below it, and each worker's command, environment, working
//! directory, `memory_limit` and log files) is replaced; one whose spec only moved
//! (other children were added or removed before it, so its workers' tags
//! changed) is not. The simulator's `sim` table is not compared: changing
//! only it changes nothing in the running tree.
//! `vigil run` applies the plan on SIGHUP (docs/ADAPTER.md, the **Reloads** paragraph).
//!
//! Replicas (`count`, `replicas.rs`) are compared by template, not child by
//! child: a template whose `count` changed is scaled to its new count, one
//! whose other settings changed has its replicas replaced in place, and the
//! fingerprints of the top-level children leave replicas out. A template
//! below a top-level child that is itself removed, started or replaced has
//! no step of its own: its replicas go with their supervisor.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{AutoShutdown, ChildKind, ChildSpec, Lifespan, ShutdownOrder, Strategy, SupervisorSpec};

use crate::model::TreeConfig;
use crate::replicas::{template_of, ReplicaTemplate};

/// What a worker runs and how it is watched (argv, environment, directory,
/// memory limit, health probe, identity, log files, signals and exit
/// codes): a change means a restart. Its `sim` table is left out: it
/// changes nothing that runs.
pub(crate) type RunSettings = (
    Vec<String>,
    BTreeMap<String, String>,
    Option<PathBuf>,
    Option<u64>,
    Option<crate::HealthProbe>,
    crate::IdentityConfig,
    Option<crate::LogConfig>,
    crate::LifecycleConfig,
);

/// The [`RunSettings`] of `w`.
pub(crate) fn run_settings(w: &crate::WorkerConfig) -> RunSettings {
    (
        w.command.clone(),
        w.env.clone(),
        w.cwd.clone(),
        w.memory_limit,
        w.health.clone(),
        w.identity.clone(),
        w.log.clone(),
        w.lifecycle.clone(),
    )
}

/// A top-level child with its tags zeroed and its workers' run settings,
/// for comparing.
type Fingerprint = (ChildSpec, Vec<RunSettings>);

/// The root supervisor's own settings (they apply only at start).
type RootSettings = (Strategy, u32, Duration, AutoShutdown, Lifespan, ShutdownOrder);

/// What a running tree was given from its configs: the root's settings and
/// each top-level child in start order, with the version it runs, or none
/// known (a step that failed left it in no known version: the next reload
/// replaces or removes it whatever the config says).
#[derive(Clone, Debug, PartialEq)]
pub struct AppliedConfig {
    root: RootSettings,
    /// The top-level children that are not replicas.
    children: Vec<(String, Option<Fingerprint>)>,
    /// Every template (`count`) by path, with the version applied (none:
    /// unknown, its replicas are replaced by the next reload).
    templates: Vec<(String, Option<ReplicaTemplate>)>,
}

/// One step of a reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadStep {
    /// The new config no longer has this child: stop and delete it.
    Remove(String),
    /// The child's subtree changed, or its version is unknown: stop it,
    /// give it its new spec in place (it keeps its position in start
    /// order), start it again.
    Replace(String),
    /// The running tree does not have this child: start it, at the end of
    /// the root's start order.
    Start(String),
    /// Bring the replicas of the template at `template` (a path) to
    /// `count`: stop and delete those at `count` or above (highest index
    /// first); with `replace`, replace each remaining one in place (stop,
    /// new spec, start), lowest index first; then start the missing ones
    /// below `count` at the end of their supervisor's start order.
    Replicas {
        /// The template's path (`main/web`).
        template: String,
        /// How many replicas the new config asks for (0: the template was removed).
        count: u32,
        /// Whether the replicas' settings changed (or their version is unknown).
        replace: bool,
    },
}

/// What a reload does, in order: removals first (last in start order
/// first), then each child of the new config in its order, replaced or
/// started as needed. Unchanged children have no step.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReloadPlan {
    /// The root supervisor's own settings (strategy, intensity, period,
    /// auto_shutdown, lifespan, shutdown_order) differ: they apply only at the next start.
    pub root_changed: bool,
    /// The steps, in the order to take them.
    pub steps: Vec<ReloadStep>,
}

impl AppliedConfig {
    /// The tree as `cfg` starts it.
    pub fn new(cfg: &TreeConfig) -> Self {
        AppliedConfig {
            root: root_settings(&cfg.spec),
            children: top_level(cfg)
                .map(|c| (c.name.clone(), Some(fingerprint(cfg, c))))
                .collect(),
            templates: cfg
                .templates
                .iter()
                .map(|t| (t.path.clone(), Some(t.clone())))
                .collect(),
        }
    }

    /// How many top-level children (a template counts as one) the running
    /// tree has from its configs.
    pub fn len(&self) -> usize {
        self.children.len() + self.templates.iter().filter(|(p, _)| !p.contains('/')).count()
    }

    /// Whether the running tree has no top-level child from its configs.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The steps that take the running tree from what it was given to `new`.
    pub fn plan(&self, new: &TreeConfig) -> ReloadPlan {
        let wanted: BTreeMap<&str, &ChildSpec> = top_level(new).map(|c| (c.name.as_str(), c)).collect();
        let removals = self
            .children
            .iter()
            .rev()
            .filter(|(name, _)| !wanted.contains_key(name.as_str()))
            .map(|(name, _)| ReloadStep::Remove(name.clone()));
        let updates = top_level(new).filter_map(|c| match self.version(&c.name) {
            None => Some(ReloadStep::Start(c.name.clone())),
            Some(Some(old)) if *old == fingerprint(new, c) => None,
            Some(_) => Some(ReloadStep::Replace(c.name.clone())),
        });
        let mut steps: Vec<ReloadStep> = removals.chain(updates).collect();
        let stepped: Vec<String> = steps.iter().map(|s| step_name(s).to_owned()).collect();
        // A template has its own step only where its supervisor stays as it is.
        let own = |path: &str| {
            let top = path.split('/').next().unwrap_or(path);
            !path.contains('/') || (wanted.contains_key(top) && !stepped.iter().any(|s| s == top))
        };
        let gone = self
            .templates
            .iter()
            .rev()
            .filter(|(p, _)| own(p) && !new.templates.iter().any(|t| t.path == *p))
            .map(|(p, _)| ReloadStep::Replicas {
                template: p.clone(),
                count: 0,
                replace: false,
            });
        let scaled = new.templates.iter().filter(|t| own(&t.path)).filter_map(|t| {
            let replace = match self.templates.iter().find(|(p, _)| *p == t.path) {
                None => false,
                Some((_, None)) => true,
                Some((_, Some(old))) if old.same_replicas(t) && old.count == t.count => return None,
                Some((_, Some(old))) => !old.same_replicas(t),
            };
            Some(ReloadStep::Replicas {
                template: t.path.clone(),
                count: t.count,
                replace,
            })
        });
        steps.splice(0..0, gone.collect::<Vec<_>>());
        steps.extend(scaled);
        ReloadPlan {
            root_changed: self.root != root_settings(&new.spec),
            steps,
        }
    }

    /// Record that the template at `path` now runs as `cfg` has it (none:
    /// `cfg` has no such template, it is forgotten).
    pub fn applied_template(&mut self, cfg: &TreeConfig, path: &str) {
        self.templates.retain(|(p, _)| p != path);
        if let Some(t) = cfg.templates.iter().find(|t| t.path == path) {
            self.templates.push((path.to_owned(), Some(t.clone())));
        }
    }

    /// Record that the replicas of the template at `path` run no known
    /// version: the next reload replaces them.
    pub fn template_unknown(&mut self, path: &str) {
        if let Some((_, version)) = self.templates.iter_mut().find(|(p, _)| p == path) {
            *version = None;
        }
    }

    /// Record that the running tree no longer has the child `name`.
    pub fn removed(&mut self, name: &str) {
        self.children.retain(|(n, _)| n != name);
        let below = format!("{name}/");
        self.templates.retain(|(p, _)| !p.starts_with(&below));
    }

    /// Record that the child `name` now runs its version of `cfg`: a child
    /// new to the running tree is added at the end of its start order.
    pub fn applied(&mut self, cfg: &TreeConfig, name: &str) {
        let Some(spec) = top_level(cfg).find(|c| c.name == name) else {
            return;
        };
        let print = Some(fingerprint(cfg, spec));
        // The templates below it run as `cfg` has them now.
        let below = format!("{name}/");
        self.templates.retain(|(p, _)| !p.starts_with(&below));
        self.templates.extend(
            cfg.templates
                .iter()
                .filter(|t| t.path.starts_with(&below))
                .map(|t| (t.path.clone(), Some(t.clone()))),
        );
        match self.children.iter_mut().find(|(n, _)| n == name) {
            Some((_, version)) => *version = print,
            None => self.children.push((name.to_owned(), print)),
        }
    }

    /// Record that the child `name` runs no known version (a step failed
    /// halfway): the next reload replaces or removes it.
    pub fn unknown(&mut self, name: &str) {
        if let Some((_, version)) = self.children.iter_mut().find(|(n, _)| n == name) {
            *version = None;
        }
    }

    /// `Some(version)` for a child the running tree has.
    fn version(&self, name: &str) -> Option<&Option<Fingerprint>> {
        self.children.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }
}

/// The name a step is about (a child's, or a template's path).
fn step_name(s: &ReloadStep) -> &str {
    match s {
        ReloadStep::Remove(n) | ReloadStep::Start(n) | ReloadStep::Replace(n) => n,
        ReloadStep::Replicas { template, .. } => template,
    }
}

/// The top-level children of `cfg` that are not replicas.
fn top_level(cfg: &TreeConfig) -> impl Iterator<Item = &ChildSpec> {
    cfg.spec
        .children
        .iter()
        .filter(|c| template_of(&cfg.templates, &c.name).is_none())
}

fn root_settings(s: &SupervisorSpec) -> RootSettings {
    (
        s.strategy,
        s.intensity,
        s.period,
        s.auto_shutdown,
        s.lifespan,
        s.shutdown_order,
    )
}

/// `child` (from `cfg`) with every tag zeroed and without its replicas
/// (templates are compared on their own), and its workers' run settings in
/// start order.
fn fingerprint(cfg: &TreeConfig, child: &ChildSpec) -> Fingerprint {
    fn walk(cfg: &TreeConfig, path: &str, c: &mut ChildSpec, workers: &mut Vec<RunSettings>) {
        if let ChildKind::Worker = c.kind {
            if let Some(w) = usize::try_from(c.tag).ok().and_then(|t| cfg.workers.get(t)) {
                workers.push(run_settings(w));
            }
        }
        if let ChildKind::Supervisor(s) = &mut c.kind {
            let children = &mut Arc::make_mut(s).children;
            children.retain(|k| template_of(&cfg.templates, &format!("{path}/{}", k.name)).is_none());
            for k in children {
                let below = format!("{path}/{}", k.name);
                walk(cfg, &below, k, workers);
            }
        }
        c.tag = 0;
    }
    let mut workers = Vec::new();
    let mut c = child.clone();
    walk(cfg, &child.name, &mut c, &mut workers);
    (c, workers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_tree;

    fn config(text: &str) -> TreeConfig {
        parse_tree(text, "test.toml").expect("valid config")
    }

    const BASE: &str = r#"
[[child]]
name = "a"
command = ["a"]

[[child]]
name = "b"
command = ["b"]

[[child]]
name = "pool"
supervisor = {}
  [[child.child]]
  name = "w"
  command = ["w", "--port", "1"]
"#;

    fn steps(old: &str, new: &str) -> ReloadPlan {
        AppliedConfig::new(&config(old)).plan(&config(new))
    }

    #[test]
    fn the_same_config_plans_nothing() {
        assert_eq!(steps(BASE, BASE), ReloadPlan::default());
    }

    #[test]
    fn removals_come_first_last_first_then_starts_and_replacements_in_the_new_order() {
        let new = r#"
[[child]]
name = "c"
command = ["c"]

[[child]]
name = "pool"
supervisor = {}
  [[child.child]]
  name = "w"
  command = ["w", "--port", "2"]
"#;
        assert_eq!(
            steps(BASE, new).steps,
            [
                ReloadStep::Remove("b".into()),
                ReloadStep::Remove("a".into()),
                ReloadStep::Start("c".into()),
                ReloadStep::Replace("pool".into()),
            ]
        );
    }

    #[test]
    fn a_child_whose_workers_only_moved_is_unchanged() {
        // A new first child shifts every worker's tag by one.
        let new = format!("[[child]]\nname = \"first\"\ncommand = [\"f\"]\n{BASE}");
        assert_eq!(steps(BASE, &new).steps, [ReloadStep::Start("first".into())]);
    }

    #[test]
    fn each_run_setting_and_spec_attribute_is_a_change_and_sim_is_not() {
        let with = |extra: &str| BASE.replacen("command = [\"b\"]", &format!("command = [\"b\"]\n{extra}"), 1);
        for extra in [
            "env = { X = \"1\" }",
            "cwd = \"/tmp\"",
            "memory_limit = \"64MiB\"",
            "log = { dir = \"logs\" }",
            "restart = \"transient\"",
            "shutdown = \"9s\"",
        ] {
            assert_eq!(
                steps(BASE, &with(extra)).steps,
                [ReloadStep::Replace("b".into())],
                "{extra}"
            );
        }
        assert_eq!(steps(BASE, &with("sim = { start_fail = 0.5 }")), ReloadPlan::default());
        assert!(steps(BASE, &format!("[supervisor]\nintensity = 7\n{BASE}")).root_changed);
        let parallel = steps(BASE, &format!("[supervisor]\nshutdown_order = \"parallel\"\n{BASE}"));
        assert!(parallel.root_changed);
        assert!(parallel.steps.is_empty(), "no child is touched");
        // A nested supervisor's order is part of its spec: it is replaced.
        let pool = BASE.replace("supervisor = {}", "supervisor = { shutdown_order = \"parallel\" }");
        assert_eq!(steps(BASE, &pool).steps, [ReloadStep::Replace("pool".into())]);
    }

    #[test]
    fn the_record_follows_what_was_applied() {
        let (old, new) = (
            config(BASE),
            config(&BASE.replace("\"--port\", \"1\"", "\"--port\", \"2\"")),
        );
        let mut applied = AppliedConfig::new(&old);
        assert_eq!(applied.len(), 3);
        // A failed step: the child is in no known version, so even the old
        // config replaces it.
        applied.unknown("a");
        assert_eq!(applied.plan(&old).steps, [ReloadStep::Replace("a".into())]);
        applied.applied(&old, "a");
        applied.applied(&new, "pool");
        assert_eq!(applied.plan(&new), ReloadPlan::default());
        applied.removed("b");
        assert_eq!(applied.plan(&new).steps, [ReloadStep::Start("b".into())]);
        applied.applied(&new, "b");
        assert_eq!(applied.plan(&new), ReloadPlan::default());
        assert!(!applied.is_empty());
    }
}
