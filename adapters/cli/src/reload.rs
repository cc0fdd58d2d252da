//! SIGHUP: apply the config file's current contents to the running tree.
//!
//! The file is read once, as one version ([`config_snapshot::read`]), and
//! validated whole before anything is applied. A reload that would stop and
//! delete every child (an empty or truncated file) is refused. Then the
//! top-level children are compared with what the last reload (or the start)
//! applied ([`AppliedConfig::plan`]): removed ones are stopped and deleted
//! (last first), changed ones (anything in their subtree) replaced in place,
//! new ones started at the end of the root's start order, unchanged ones left
//! alone. This module carries the plan out on the running tree. Each child acted on
//! is logged by name; a step that fails is logged, and the record of what
//! runs is updated step by step, so a later SIGHUP retries what failed.
//!
//! `vigil ctl reload` asks for the same reload over the control socket
//! ([`Reloader::reload`], through `operator.rs`) and gets the diff back
//! (`reload_diff.rs`); `--dry-run` computes the diff and applies nothing.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use vigil_config::{AppliedConfig, ConfigError, ReloadStep, TreeConfig};
use vigil_core::{ChildSpec, Request, RequestError};
use vigil_tokio::{OutputMode, ProcessSpec, TreeHandle};

use vigil_tokio::control::OperatorError;

use crate::config_snapshot::{self, SnapshotError};
use crate::reload_diff::ReloadDiff;
use crate::worker_processes;

/// Why a reload was refused before anything was applied.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file could not be read as one version.
    #[error(transparent)]
    Read(#[from] SnapshotError),
    /// The file is not a valid tree config (the error names file, line and key).
    #[error(transparent)]
    Invalid(#[from] ConfigError),
    /// The file has no children: applying it would empty the tree.
    #[error(
        "{} has no children: reloading it would stop and delete all {count} children of the running tree; \
         refused (an empty or half-written file looks the same; to stop the tree, use `vigil ctl shutdown`)",
        path.display()
    )]
    WouldEmpty {
        /// The config file.
        path: PathBuf,
        /// The children the running tree has from the config.
        count: usize,
    },
}

/// Read and validate the new config; refuse one that would empty the tree.
fn load(path: &Path, applied: &AppliedConfig) -> Result<TreeConfig, ReloadError> {
    let text = config_snapshot::read(path)?;
    let new = vigil_config::parse_tree(&text, &path.display().to_string())?;
    if new.spec.children.is_empty() && new.templates.is_empty() && !applied.is_empty() {
        return Err(ReloadError::WouldEmpty {
            path: path.to_owned(),
            count: applied.len(),
        });
    }
    Ok(new)
}

/// What one reload did, by child name.
#[derive(Debug, Default)]
struct Tally {
    started: Vec<String>,
    stopped: Vec<String>,
    replaced: Vec<String>,
    /// Each child whose step failed, and why.
    failed: Vec<(String, String)>,
}

/// The engine refuses every request from now on: the tree is going down.
struct Stopping;

/// The new config being applied: its specs and its workers' processes.
struct Target<'a> {
    cfg: &'a TreeConfig,
    processes: Vec<ProcessSpec>,
    /// REPLICAS: the templates of the config applied before (for removed ones).
    old_templates: Vec<vigil_config::ReplicaTemplate>,
    output: OutputMode,
}

/// What a reload works on: the running tree, the record of what it was
/// given (held while a reload works, so reloads run one after the other),
/// the config file and the output mode of new processes.
#[derive(Clone)]
pub struct Reloader {
    /// The tree: replaced when `vigil ctl start-tree` starts a new one.
    sup: Arc<std::sync::Mutex<TreeHandle>>,
    state: Arc<Mutex<ReloadState>>,
    path: PathBuf,
    output: OutputMode,
}

/// What the running tree was given: per top-level child ([`AppliedConfig`]),
/// and the last config read whole (for the paths of the diff).
struct ReloadState {
    applied: AppliedConfig,
    last: TreeConfig,
}

impl Reloader {
    /// The reloader of a tree just started from `cfg`, read from `path`.
    pub fn new(sup: &TreeHandle, cfg: &TreeConfig, path: &Path, output: &OutputMode) -> Reloader {
        Reloader {
            sup: Arc::new(std::sync::Mutex::new(sup.clone())),
            state: Arc::new(Mutex::new(ReloadState {
                applied: AppliedConfig::new(cfg),
                last: cfg.clone(),
            })),
            path: path.to_owned(),
            output: output.clone(),
        }
    }

    /// The tree this reloader changes.
    pub fn tree(&self) -> TreeHandle {
        self.sup
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A new tree started from `cfg` (`vigil ctl start-tree` under
    /// `--keep-running`): later reloads compare the file with `cfg` and
    /// change `sup`. Waits for a reload still running.
    pub async fn reset(&self, sup: &TreeHandle, cfg: &TreeConfig) {
        let mut state = self.state.lock().await;
        state.applied = AppliedConfig::new(cfg);
        state.last = cfg.clone();
        *self.sup.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = sup.clone();
    }

    /// REPLICAS: `vigil ctl scale`: bring the replicas of the template at
    /// `path` (of the config last applied) to `count`, after any reload
    /// still running; the answer lists what was started and stopped.
    pub async fn scale(&self, path: &str, count: u32) -> Result<serde_json::Value, OperatorError> {
        if count > vigil_config::MAX_REPLICAS {
            let max = vigil_config::MAX_REPLICAS;
            return Err(OperatorError::new(
                "bad_request",
                format!("at most {max} replicas, asked for {count}"),
            ));
        }
        let state = self.state.lock().await;
        let t = crate::replica_ops::find_template(&state.last, path)?;
        let change = crate::replica_ops::reconcile(&self.tree(), t, count, false, &self.output).await;
        tracing::info!(template = %path, count, started = ?change.started, stopped = ?change.stopped, "scaled (vigil ctl scale)");
        if let Some((replica, e)) = &change.failed {
            tracing::error!(template = %path, child = %replica, error = %e, "scale stopped at a failure");
        }
        Ok(change.to_json(t, count))
    }

    /// REPLICAS: `vigil ctl restart-all --rolling --surge K`: the surge
    /// restart of the replicas of the template at `path`
    /// (`replica_ops.rs`), after any reload still running.
    pub async fn surge(&self, path: &str, surge: u32) -> Result<serde_json::Value, OperatorError> {
        let state = self.state.lock().await;
        let t = crate::replica_ops::find_template(&state.last, path)?;
        match crate::replica_ops::surge_restart(&self.tree(), t, surge, &self.output).await {
            Ok(rolled) => {
                tracing::info!(template = %path, surge, rolled = ?rolled, "surge restart done");
                Ok(serde_json::json!({ "template": path, "surge": surge, "rolled": rolled }))
            }
            Err(e) => {
                tracing::error!(template = %path, error = %e, "surge restart stopped");
                Err(OperatorError::new("surge_failed", e.to_string()))
            }
        }
    }

    /// SIGHUP: reload in a task of its own, beside the signal handling (a
    /// slow stop must not delay SIGTERM), after any reload still running.
    /// The task ends when the reload is applied (or failed).
    pub fn spawn(&self) -> tokio::task::JoinHandle<()> {
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.reload(false).await;
        })
    }

    /// Apply the config file to the running tree (see the module
    /// documentation), or with `dry_run` only compute what that would do;
    /// either way the diff. Everything is logged as well.
    pub async fn reload(&self, dry_run: bool) -> Result<ReloadDiff, ReloadError> {
        let mut state = self.state.lock().await;
        let path = &self.path;
        let new = match load(path, &state.applied) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, dry_run, "reload failed; the running tree is unchanged");
                return Err(e);
            }
        };
        let plan = state.applied.plan(&new);
        let running = crate::reload_diff::running_paths(&self.tree()).await;
        let mut diff = ReloadDiff::new(path, &plan, &state.last, &new, &running, dry_run);
        if dry_run {
            return Ok(diff);
        }
        let old_templates = state.last.templates.clone();
        let tally = self.apply_plan(&mut state.applied, &new, plan, old_templates).await;
        diff.record(tally.failed);
        state.last = new;
        Ok(diff)
    }

    /// Carry `plan` out, step by step; what it did.
    async fn apply_plan(
        &self,
        applied: &mut AppliedConfig,
        new: &TreeConfig,
        plan: vigil_config::ReloadPlan,
        old_templates: Vec<vigil_config::ReplicaTemplate>,
    ) -> Tally {
        let (sup, path) = (&self.tree(), &self.path);
        if plan.root_changed {
            tracing::warn!(
                file = %path.display(),
                "the root supervisor's settings changed; they apply when vigil is restarted"
            );
        }
        let target = Target {
            cfg: new,
            processes: worker_processes::processes(new, &self.output),
            old_templates,
            output: self.output.clone(),
        };
        let mut tally = Tally::default();
        let mut result = Ok(());
        for step in plan.steps {
            result = apply(sup, applied, &target, step, &mut tally).await;
            if result.is_err() {
                break;
            }
        }
        let names =
            |v: &[(String, String)]| format!("[{}]", v.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", "));
        let plain = |v: &[String]| format!("[{}]", v.join(", "));
        tracing::info!(
            started = tally.started.len(),
            stopped = tally.stopped.len(),
            replaced = tally.replaced.len(),
            "reloaded {}: started {}, stopped {}, replaced {}",
            path.display(),
            plain(&tally.started),
            plain(&tally.stopped),
            plain(&tally.replaced)
        );
        if result.is_err() {
            tracing::warn!(file = %path.display(), "the tree is shutting down: the rest of the reload was not applied");
        } else if !tally.failed.is_empty() {
            tracing::error!(
                file = %path.display(),
                "reload applied in part: {} failed (logged above); the tree runs as logged; send SIGHUP again to retry",
                names(&tally.failed)
            );
        }
        tally
    }
}

/// Take one step of the plan.
async fn apply(
    sup: &TreeHandle,
    applied: &mut AppliedConfig,
    target: &Target<'_>,
    step: ReloadStep,
    tally: &mut Tally,
) -> Result<(), Stopping> {
    let (name, replacing) = match step {
        ReloadStep::Remove(name) => return remove(sup, applied, &name, tally).await,
        ReloadStep::Start(name) => (name, false),
        ReloadStep::Replace(name) => (name, true),
        ReloadStep::Replicas {
            template,
            count,
            replace,
        } => return replicas(sup, applied, target, &template, (count, replace), tally).await,
    };
    // The plan names only children of the new config.
    let Some(spec) = target.cfg.spec.children.iter().find(|c| c.name == name).cloned() else {
        return Ok(());
    };
    if !replacing {
        return start_new(sup, applied, target, spec, tally).await;
    }
    match replace(sup, target, spec.clone()).await {
        // Deleted meanwhile (`vigil ctl delete`): the config wants it, so start it.
        Err(ReplaceError::Stop(RequestError::NotFound(_))) => {
            applied.removed(&name);
            start_new(sup, applied, target, spec, tally).await
        }
        result => replaced(applied, tally, target.cfg, &name, result),
    }
}

/// REPLICAS: bring the replicas of the template at `path` to `count`
/// (replaced in place with `replace`), as `replica_ops.rs` does.
async fn replicas(
    sup: &TreeHandle,
    applied: &mut AppliedConfig,
    target: &Target<'_>,
    path: &str,
    (count, replace): (u32, bool),
    tally: &mut Tally,
) -> Result<(), Stopping> {
    let Some(t) = (target.cfg.templates.iter())
        .chain(&target.old_templates)
        .find(|t| t.path == path)
    else {
        return Ok(());
    };
    let change = crate::replica_ops::reconcile(sup, t, count, replace, &target.output).await;
    tracing::info!(template = %path, count, started = ?change.started, stopped = ?change.stopped, replaced = ?change.replaced, "reload: replicas");
    tally.started.extend(change.started);
    tally.stopped.extend(change.stopped);
    tally.replaced.extend(change.replaced);
    match change.failed {
        None => {
            applied.applied_template(target.cfg, path);
            Ok(())
        }
        Some((replica, e)) => {
            tracing::error!(template = %path, child = %replica, error = %e, "reload: replicas not brought to the new count");
            if replace {
                applied.template_unknown(path);
            }
            tally.failed.push((replica, e.to_string()));
            stopping(&e)
        }
    }
}

/// Stop and delete the child `name`, which the new config no longer has;
/// one already gone counts as removed.
async fn remove(sup: &TreeHandle, applied: &mut AppliedConfig, name: &str, tally: &mut Tally) -> Result<(), Stopping> {
    let gone = |r: Result<_, RequestError>| match r {
        Ok(_) | Err(RequestError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    };
    let removed = match gone(sup.request(Request::TerminateChild { path: name.to_owned() }).await) {
        Ok(()) => gone(sup.request(Request::DeleteChild { path: name.to_owned() }).await),
        Err(e) => Err(e),
    };
    match removed {
        Ok(()) => {
            tracing::info!(child = %name, "reload: stopped and deleted a child the config no longer has");
            applied.removed(name);
            tally.stopped.push(name.to_owned());
            Ok(())
        }
        Err(e) => failed(applied, tally, name, "stop and delete", &e),
    }
}

/// Start `spec`, a child the running tree does not have.
async fn start_new(
    sup: &TreeHandle,
    applied: &mut AppliedConfig,
    target: &Target<'_>,
    spec: ChildSpec,
    tally: &mut Tally,
) -> Result<(), Stopping> {
    let name = spec.name.clone();
    match sup.start_processes("", spec, &target.processes).await {
        Ok(_) => {
            tracing::info!(child = %name, "reload: started a new child");
            applied.applied(target.cfg, &name);
            tally.started.push(name);
            Ok(())
        }
        Err(e) => {
            tracing::error!(child = %name, error = %e, "reload: could not start a new child");
            tally.failed.push((name, format!("could not start: {e}")));
            stopping(&e)
        }
    }
}

/// Record a failed removal: the child is in no known version now.
fn failed(
    applied: &mut AppliedConfig,
    tally: &mut Tally,
    name: &str,
    what: &str,
    e: &RequestError,
) -> Result<(), Stopping> {
    tracing::error!(child = %name, error = %e, "reload: could not {what} a child the config no longer has");
    applied.unknown(name);
    tally.failed.push((name.to_owned(), format!("could not {what}: {e}")));
    stopping(e)
}

/// `Err(Stopping)` for the errors of a tree that is going down.
fn stopping(e: &RequestError) -> Result<(), Stopping> {
    match e {
        RequestError::ShuttingDown | RequestError::TreeDown => Err(Stopping),
        _ => Ok(()),
    }
}

/// Where a replacement failed.
enum ReplaceError {
    /// Stopping the old version: it still runs, unchanged.
    Stop(RequestError),
    /// Giving it the new spec; `restored` tells whether the old version runs again.
    Apply { error: RequestError, restored: bool },
    /// Starting the new version: it has the new spec and is stopped.
    Start(RequestError),
}

/// Record the outcome of replacing `name` with its version in `cfg`.
fn replaced(
    applied: &mut AppliedConfig,
    tally: &mut Tally,
    cfg: &TreeConfig,
    name: &str,
    result: Result<(), ReplaceError>,
) -> Result<(), Stopping> {
    // Whether the old version still runs (else: no known version).
    let (old_runs, error) = match result {
        Ok(()) => {
            tracing::info!(child = %name, "reload: replaced a changed child (stopped, new spec, started)");
            tally.replaced.push(name.to_owned());
            applied.applied(cfg, name);
            return Ok(());
        }
        Err(ReplaceError::Stop(e)) => {
            tracing::error!(child = %name, error = %e, "reload: could not stop a changed child; it runs its old spec");
            (true, e)
        }
        Err(ReplaceError::Apply { error, restored }) => {
            if restored {
                tracing::error!(child = %name, error = %error, "reload: could not give a changed child its new spec; it runs its old spec again");
            } else {
                tracing::error!(child = %name, error = %error, "reload: could not give a changed child its new spec; it is stopped");
            }
            (restored, error)
        }
        Err(ReplaceError::Start(e)) => {
            tracing::error!(child = %name, error = %e, "reload: a changed child has its new spec but could not start; it is stopped");
            (false, e)
        }
    };
    if !old_runs {
        applied.unknown(name);
    }
    let state = if old_runs {
        "it runs its old spec"
    } else {
        "it is stopped"
    };
    tally
        .failed
        .push((name.to_owned(), format!("could not replace: {error}; {state}")));
    stopping(&error)
}

/// Stop a changed child, give it its new spec in place (so it keeps its
/// position in start order), and start it again.
async fn replace(sup: &TreeHandle, target: &Target<'_>, spec: ChildSpec) -> Result<(), ReplaceError> {
    let name = spec.name.clone();
    sup.request(Request::TerminateChild { path: name.clone() })
        .await
        .map_err(ReplaceError::Stop)?;
    if let Err(error) = sup.replace_processes(&name, spec, &target.processes).await {
        let restored = sup.request(Request::RestartChild { path: name }).await.is_ok();
        return Err(ReplaceError::Apply { error, restored });
    }
    sup.request(Request::RestartChild { path: name })
        .await
        .map(drop)
        .map_err(ReplaceError::Start)
}
