//! The diff of a reload, as `vigil ctl reload` shows it: which top-level
//! children the reload adds, removes, replaces and leaves alone, the paths
//! below a replaced child that differ, the children of the running tree
//! that no config has (added at run time: a reload leaves them running),
//! and what failed. JSON for the wire ([`ReloadDiff::to_json`]); the text
//! is rendered by `ctl_render.rs` from that JSON.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde_json::{json, Value};
use vigil_config::{ReloadPlan, ReloadStep, TreeConfig};
use vigil_core::{ChildKind, ChildSpec, Reply, Request};
use vigil_tokio::TreeHandle;

/// What a reload did (or, dry, would do).
#[derive(Debug, Clone, PartialEq)]
pub struct ReloadDiff {
    file: String,
    dry_run: bool,
    added: Vec<String>,
    removed: Vec<String>,
    /// Each replaced child, with the paths of its subtree that differ
    /// (`+` added, `-` removed, `~` changed).
    changed: Vec<(String, Vec<(char, String)>)>,
    unchanged: Vec<String>,
    root_changed: bool,
    not_in_config: Vec<String>,
    failed: Vec<(String, String)>,
}

impl ReloadDiff {
    /// The diff of `plan`, from `old` (the config last applied) to `new`;
    /// `running` the paths of the nodes the tree has now.
    pub fn new(
        file: &Path,
        plan: &ReloadPlan,
        old: &TreeConfig,
        new: &TreeConfig,
        running: &[String],
        dry_run: bool,
    ) -> ReloadDiff {
        let mut diff = ReloadDiff {
            file: file.display().to_string(),
            dry_run,
            added: Vec::new(),
            removed: Vec::new(),
            changed: Vec::new(),
            unchanged: Vec::new(),
            root_changed: plan.root_changed,
            not_in_config: Vec::new(),
            failed: Vec::new(),
        };
        let (before, after) = (flatten(old), flatten(new));
        for step in &plan.steps {
            match step {
                ReloadStep::Remove(n) => diff.removed.push(n.clone()),
                ReloadStep::Start(n) => diff.added.push(n.clone()),
                ReloadStep::Replace(n) => {
                    let mut paths = below(n, &before, &after);
                    lost_at_run_time(n, &before, &after, running, &mut paths);
                    diff.changed.push((n.clone(), paths));
                }
                ReloadStep::Replicas {
                    template,
                    count,
                    replace,
                } => diff.replicas([new, old], template, (*count, *replace), running),
            }
        }
        let stepped = |n: &str| plan.steps.iter().any(|s| step_name(s) == n);
        let replica = |c: &TreeConfig, n: &str| {
            c.templates
                .iter()
                .any(|t| t.parent().is_empty() && t.index_of(n).is_some())
        };
        diff.unchanged = new
            .spec
            .children
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| !replica(new, n))
            .chain(
                new.templates
                    .iter()
                    .filter(|t| t.parent().is_empty())
                    .map(|t| t.path.clone()),
            )
            .filter(|n| !stepped(n))
            .collect();
        let in_a_config = |n: &str| {
            [old, new]
                .iter()
                .any(|c| replica(c, n) || c.spec.children.iter().any(|k| k.name == n))
        };
        diff.not_in_config = running
            .iter()
            .filter(|p| !p.contains('/') && !in_a_config(p))
            .cloned()
            .collect();
        diff
    }

    /// REPLICAS: the replicas a `Replicas` step adds, removes and replaces,
    /// from the running ones (`running`) and the template (of `configs`).
    fn replicas(
        &mut self,
        configs: [&TreeConfig; 2],
        template: &str,
        (count, replace): (u32, bool),
        running: &[String],
    ) {
        let Some(t) = configs.iter().flat_map(|c| &c.templates).find(|t| t.path == template) else {
            return;
        };
        let parent = t.parent();
        let mut have: Vec<u32> = running
            .iter()
            .filter_map(|p| {
                let (up, name) = p.rsplit_once('/').unwrap_or(("", p));
                (up == parent).then(|| t.index_of(name)).flatten()
            })
            .collect();
        have.sort_unstable();
        self.removed
            .extend(have.iter().rev().filter(|i| **i >= count).map(|i| t.replica_path(*i)));
        if replace {
            for i in have.iter().filter(|i| **i < count) {
                let p = t.replica_path(*i);
                self.changed.push((p.clone(), vec![('~', p)]));
            }
        }
        self.added.extend(
            (0..count)
                .filter(|i| have.binary_search(i).is_err())
                .map(|i| t.replica_path(i)),
        );
    }

    /// Record the steps that failed (child, why).
    pub fn record(&mut self, failed: Vec<(String, String)>) {
        self.failed = failed;
    }

    /// The diff as the `reload` operation answers it (docs/PROTOCOL.md).
    pub fn to_json(&self) -> Value {
        let changed: Vec<Value> = self
            .changed
            .iter()
            .map(|(path, below)| {
                let paths: Vec<Value> = below
                    .iter()
                    .map(|(c, p)| json!({ "path": p, "change": change_name(*c) }))
                    .collect();
                json!({ "path": path, "paths": paths })
            })
            .collect();
        let failed: Vec<Value> = self
            .failed
            .iter()
            .map(|(p, e)| json!({ "path": p, "error": e }))
            .collect();
        json!({
            "file": self.file,
            "dry_run": self.dry_run,
            "added": self.added,
            "removed": self.removed,
            "changed": changed,
            "unchanged": self.unchanged,
            "root_changed": self.root_changed,
            "not_in_config": self.not_in_config,
            "failed": failed,
        })
    }
}

fn step_name(s: &ReloadStep) -> &str {
    match s {
        ReloadStep::Remove(n) | ReloadStep::Start(n) | ReloadStep::Replace(n) => n,
        ReloadStep::Replicas { template, .. } => template,
    }
}

fn change_name(c: char) -> &'static str {
    match c {
        '+' => "added",
        '-' => "removed",
        '!' => "lost",
        _ => "changed",
    }
}

/// The running nodes below the replaced child `top` that no config has
/// (added at run time): its new spec, from the file, does not have them, so
/// they are lost (`!`).
fn lost_at_run_time(
    top: &str,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
    running: &[String],
    out: &mut Vec<(char, String)>,
) {
    let prefix = format!("{top}/");
    let mut lost: Vec<&String> = running
        .iter()
        .filter(|p| p.starts_with(&prefix) && !before.contains_key(*p) && !after.contains_key(*p))
        .collect();
    // Only the highest of them: what is below a lost node goes with it.
    let all = lost.clone();
    lost.retain(|p| !all.iter().any(|q| p.starts_with(&format!("{q}/"))));
    out.extend(lost.into_iter().map(|p| ('!', p.clone())));
    out.sort_by(|a, b| a.1.cmp(&b.1));
}

/// The paths at or below `top` that differ between `before` and `after`.
fn below(top: &str, before: &BTreeMap<String, String>, after: &BTreeMap<String, String>) -> Vec<(char, String)> {
    let prefix = format!("{top}/");
    let inside = |p: &str| p == top || p.starts_with(&prefix);
    let mut out = Vec::new();
    for (p, fp) in after.iter().filter(|(p, _)| inside(p)) {
        match before.get(p) {
            None => out.push(('+', p.clone())),
            Some(old) if old != fp => out.push(('~', p.clone())),
            Some(_) => {}
        }
    }
    for p in before.keys().filter(|p| inside(p) && !after.contains_key(*p)) {
        out.push(('-', p.clone()));
    }
    out.sort_by(|a, b| a.1.cmp(&b.1));
    out
}

/// Every node of `cfg` by path, with a text that changes when anything of
/// the node itself changes (its spec without its children, and a worker's
/// command, environment, directory and memory limit).
fn flatten(cfg: &TreeConfig) -> BTreeMap<String, String> {
    fn walk(cfg: &TreeConfig, parent: &str, children: &[ChildSpec], out: &mut BTreeMap<String, String>) {
        for c in children {
            let path = if parent.is_empty() {
                c.name.clone()
            } else {
                format!("{parent}/{}", c.name)
            };
            let mut own = c.clone();
            own.tag = 0;
            let mut below = Vec::new();
            if let ChildKind::Supervisor(s) = &mut own.kind {
                below = std::mem::take(&mut Arc::make_mut(s).children);
            }
            let run = match c.kind {
                ChildKind::Worker => usize::try_from(c.tag)
                    .ok()
                    .and_then(|t| cfg.workers.get(t))
                    .map(|w| format!("{:?}", (&w.command, &w.env, &w.cwd, w.memory_limit))),
                ChildKind::Supervisor(_) => None,
            };
            out.insert(path.clone(), format!("{own:?} {run:?}"));
            walk(cfg, &path, &below, out);
        }
    }
    let mut out = BTreeMap::new();
    walk(cfg, "", &cfg.spec.children, &mut out);
    out
}

/// The paths of the running tree's nodes (none if it is down), depth first.
pub async fn running_paths(sup: &TreeHandle) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![String::new()];
    while let Some(parent) = stack.pop() {
        let Ok(Reply::Children(children)) = sup.request(Request::WhichChildren { path: parent.clone() }).await else {
            continue;
        };
        for c in children.into_iter().rev() {
            let path = if parent.is_empty() {
                c.name
            } else {
                format!("{parent}/{}", c.name)
            };
            if c.supervisor {
                stack.push(path.clone());
            }
            out.push(path);
        }
    }
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> TreeConfig {
        vigil_config::parse_tree(text, "t.toml").expect("valid")
    }

    #[test]
    fn the_diff_names_the_paths_below_a_changed_child() {
        let old = cfg(
            "[[child]]\nname = \"web\"\nsupervisor = {}\n[[child.child]]\nname = \"w1\"\ncommand = [\"a\"]\n\
                       [[child.child]]\nname = \"w2\"\ncommand = [\"b\"]\n[[child]]\nname = \"db\"\ncommand = [\"d\"]\n\
                       [[child]]\nname = \"old\"\ncommand = [\"o\"]\n",
        );
        let new = cfg(
            "[[child]]\nname = \"web\"\nsupervisor = {}\n[[child.child]]\nname = \"w1\"\ncommand = [\"a2\"]\n\
                       [[child.child]]\nname = \"w3\"\ncommand = [\"c\"]\n[[child]]\nname = \"db\"\ncommand = [\"d\"]\n\
                       [[child]]\nname = \"api\"\ncommand = [\"x\"]\n",
        );
        let plan = vigil_config::AppliedConfig::new(&old).plan(&new);
        let running = ["web", "web/w1", "web/w2", "web/rt", "web/rt/x", "db", "old", "extra"].map(String::from);
        let d = ReloadDiff::new(Path::new("t.toml"), &plan, &old, &new, &running, true).to_json();
        assert_eq!(d["added"], json!(["api"]));
        assert_eq!(d["removed"], json!(["old"]));
        assert_eq!(d["unchanged"], json!(["db"]));
        assert_eq!(d["not_in_config"], json!(["extra"]));
        assert_eq!(
            d["changed"],
            json!([{"path": "web", "paths": [
                {"path": "web/rt", "change": "lost"},
                {"path": "web/w1", "change": "changed"},
                {"path": "web/w2", "change": "removed"},
                {"path": "web/w3", "change": "added"},
            ]}])
        );
    }
}
