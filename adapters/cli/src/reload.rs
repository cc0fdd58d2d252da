//! SIGHUP: apply the config file's current contents to the running tree.
//!
//! The file is read once, as one version ([`config_snapshot::read`]), and
//! validated whole before anything is applied. A reload that would stop and
//! delete every child (an empty or truncated file) is refused. Then the
//! top-level children are compared with what the last reload (or the start)
//! applied: removed ones are stopped and deleted (last first), changed ones
//! (anything in their subtree) replaced in place, new ones started at the end
//! of the root's start order, unchanged ones left alone. Each child acted on
//! is logged by name; a step that fails is logged, and the record of what
//! runs is updated step by step, so a later SIGHUP retries what failed.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::Mutex;

use vigil_config::{ConfigError, TreeConfig};
use vigil_core::{ChildKind, ChildSpec, Readiness, Request, RequestError, SupervisorSpec};
use vigil_tokio::{OutputMode, ProcessSpec, Supervisor};

use crate::config_snapshot::{self, SnapshotError};
use crate::run_cmd::process_spec;

/// What a worker runs (argv, environment, directory): a change means a restart.
type RunSettings = (Vec<String>, BTreeMap<String, String>, Option<PathBuf>);

/// A top-level child with its tags zeroed and its workers' run settings, for comparing.
type Fingerprint = (ChildSpec, Vec<RunSettings>);

/// The root supervisor's own settings (they apply only at start).
type RootSettings = (
    vigil_core::Strategy,
    u32,
    std::time::Duration,
    vigil_core::AutoShutdown,
    vigil_core::Lifespan,
);

/// What the running tree was given from the config: the root's settings and
/// each top-level child in start order, with the fingerprint of the spec it
/// runs, or `None` when a failed step left it in no known version (the next
/// reload replaces or removes it whatever the file says).
#[derive(Debug)]
pub struct Applied {
    root: RootSettings,
    children: Vec<(String, Option<Fingerprint>)>,
}

impl Applied {
    /// The tree as `cfg` starts it.
    pub fn new(cfg: &TreeConfig) -> Self {
        Applied {
            root: root_settings(&cfg.spec),
            children: cfg
                .spec
                .children
                .iter()
                .map(|c| (c.name.clone(), Some(fingerprint(cfg, c))))
                .collect(),
        }
    }

    fn entry(&mut self, name: &str) -> Option<&mut Option<Fingerprint>> {
        self.children.iter_mut().find(|(n, _)| n == name).map(|(_, f)| f)
    }
}

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
fn load(path: &Path, applied: &Applied) -> Result<TreeConfig, ReloadError> {
    let text = config_snapshot::read(path)?;
    let new = vigil_config::parse_tree(&text, &path.display().to_string())?;
    if new.spec.children.is_empty() && !applied.children.is_empty() {
        return Err(ReloadError::WouldEmpty {
            path: path.to_owned(),
            count: applied.children.len(),
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
    failed: Vec<String>,
}

/// The engine refuses every request from now on: the tree is going down.
struct Stopping;

/// Reload in a task of its own, beside the signal handling (a slow stop must
/// not delay SIGTERM), after any reload still running: each holds `applied`
/// while it works.
pub fn spawn(sup: &Supervisor, applied: &Arc<Mutex<Applied>>, path: &Path, output: &OutputMode) {
    let (sup, applied, path, output) = (sup.clone(), Arc::clone(applied), path.to_owned(), output.clone());
    tokio::spawn(async move {
        let mut applied = applied.lock().await;
        reload(&sup, &mut applied, &path, &output).await;
    });
}

/// Apply the config file at `path` to the running tree (see the module documentation).
async fn reload(sup: &Supervisor, applied: &mut Applied, path: &Path, output: &OutputMode) {
    let new = match load(path, applied) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(file = %path.display(), error = %e, "reload failed; the running tree is unchanged");
            return;
        }
    };
    if applied.root != root_settings(&new.spec) {
        tracing::warn!(
            file = %path.display(),
            "the root supervisor's settings changed; they apply when vigil is restarted"
        );
    }
    let mut tally = Tally::default();
    let result = apply(sup, applied, &new, output, &mut tally).await;
    let names = |v: &[String]| format!("[{}]", v.join(", "));
    tracing::info!(
        started = tally.started.len(),
        stopped = tally.stopped.len(),
        replaced = tally.replaced.len(),
        "reloaded {}: started {}, stopped {}, replaced {}",
        path.display(),
        names(&tally.started),
        names(&tally.stopped),
        names(&tally.replaced)
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
}

async fn apply(
    sup: &Supervisor,
    applied: &mut Applied,
    new: &TreeConfig,
    output: &OutputMode,
    tally: &mut Tally,
) -> Result<(), Stopping> {
    let fresh: BTreeMap<&str, &ChildSpec> = new.spec.children.iter().map(|c| (c.name.as_str(), c)).collect();
    // Removed children, last first.
    let gone: Vec<String> = applied
        .children
        .iter()
        .rev()
        .filter(|(n, _)| !fresh.contains_key(n.as_str()))
        .map(|(n, _)| n.clone())
        .collect();
    for name in gone {
        match remove(sup, &name).await {
            Ok(()) => {
                tracing::info!(child = %name, "reload: stopped and deleted a child the config no longer has");
                applied.children.retain(|(n, _)| *n != name);
                tally.stopped.push(name);
            }
            Err(e) => failed(applied, tally, &name, "stop and delete", &e)?,
        }
    }
    for c in &new.spec.children {
        let print = fingerprint(new, c);
        let Some(old) = applied.entry(&c.name) else {
            start_new(sup, applied, new, c, print, output, tally).await?;
            continue;
        };
        if old.as_ref() == Some(&print) {
            continue;
        }
        match replace(sup, new, c, output).await {
            // Deleted meanwhile (`vigil ctl delete`): the config wants it, so start it.
            Err(ReplaceError::Stop(RequestError::NotFound(_))) => {
                applied.children.retain(|(n, _)| *n != c.name);
                start_new(sup, applied, new, c, print, output, tally).await?;
            }
            result => replaced(applied, tally, c, print, result)?,
        }
    }
    Ok(())
}

/// Start `c`, which the running tree does not have.
async fn start_new(
    sup: &Supervisor,
    applied: &mut Applied,
    new: &TreeConfig,
    c: &ChildSpec,
    print: Fingerprint,
    output: &OutputMode,
    tally: &mut Tally,
) -> Result<(), Stopping> {
    match add(sup, new, c, output).await {
        Ok(()) => {
            tracing::info!(child = %c.name, "reload: started a new child");
            applied.children.push((c.name.clone(), Some(print)));
            tally.started.push(c.name.clone());
            Ok(())
        }
        Err(e) => {
            tracing::error!(child = %c.name, error = %e, "reload: could not start a new child");
            tally.failed.push(c.name.clone());
            stopping(&e)
        }
    }
}

/// Record a failed removal: the child is in no known version now.
fn failed(applied: &mut Applied, tally: &mut Tally, name: &str, what: &str, e: &RequestError) -> Result<(), Stopping> {
    tracing::error!(child = %name, error = %e, "reload: could not {what} a child the config no longer has");
    if let Some(entry) = applied.entry(name) {
        *entry = None;
    }
    tally.failed.push(name.to_owned());
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

/// Record the outcome of replacing `c`.
fn replaced(
    applied: &mut Applied,
    tally: &mut Tally,
    c: &ChildSpec,
    print: Fingerprint,
    result: Result<(), ReplaceError>,
) -> Result<(), Stopping> {
    let name = c.name.as_str();
    // Whether the old version still runs (else: no known version).
    let (old_runs, error) = match result {
        Ok(()) => {
            tracing::info!(child = %name, "reload: replaced a changed child (stopped, new spec, started)");
            tally.replaced.push(name.to_owned());
            if let Some(entry) = applied.entry(name) {
                *entry = Some(print);
            }
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
        if let Some(entry) = applied.entry(name) {
            *entry = None;
        }
    }
    tally.failed.push(name.to_owned());
    stopping(&error)
}

/// Stop and delete the child `name`; one already gone counts as removed.
async fn remove(sup: &Supervisor, name: &str) -> Result<(), RequestError> {
    let gone = |r: Result<_, RequestError>| match r {
        Ok(_) | Err(RequestError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    };
    gone(sup.request(Request::TerminateChild { path: name.to_owned() }).await)?;
    gone(sup.request(Request::DeleteChild { path: name.to_owned() }).await)
}

/// Stop a changed child, give it its new spec in place (so it keeps its
/// position in start order), and start it again.
async fn replace(
    sup: &Supervisor,
    cfg: &TreeConfig,
    child: &ChildSpec,
    output: &OutputMode,
) -> Result<(), ReplaceError> {
    let name = child.name.clone();
    sup.request(Request::TerminateChild { path: name.clone() })
        .await
        .map_err(ReplaceError::Stop)?;
    let (spec, processes) = detach(cfg, child, output);
    if let Err(error) = sup.replace_processes(&name, spec, processes).await {
        let restored = sup.request(Request::RestartChild { path: name }).await.is_ok();
        return Err(ReplaceError::Apply { error, restored });
    }
    sup.request(Request::RestartChild { path: name })
        .await
        .map(drop)
        .map_err(ReplaceError::Start)
}

async fn add(sup: &Supervisor, cfg: &TreeConfig, child: &ChildSpec, output: &OutputMode) -> Result<(), RequestError> {
    let (spec, processes) = detach(cfg, child, output);
    sup.start_processes("", spec, processes).await.map(drop)
}

fn root_settings(s: &SupervisorSpec) -> RootSettings {
    (s.strategy, s.intensity, s.period, s.auto_shutdown, s.lifespan)
}

fn fingerprint(cfg: &TreeConfig, child: &ChildSpec) -> Fingerprint {
    let mut workers = Vec::new();
    let mut c = child.clone();
    normalise(cfg, &mut c, &mut workers);
    (c, workers)
}

fn normalise(cfg: &TreeConfig, c: &mut ChildSpec, workers: &mut Vec<RunSettings>) {
    match &mut c.kind {
        ChildKind::Worker => {
            if let Some(w) = cfg.workers.get(c.tag as usize) {
                workers.push((w.command.clone(), w.env.clone(), w.cwd.clone()));
            }
            c.tag = 0;
        }
        ChildKind::Supervisor(s) => {
            let s = std::sync::Arc::make_mut(s);
            for k in &mut s.children {
                normalise(cfg, k, workers);
            }
            c.tag = 0;
        }
    }
}

/// `child` (from `cfg`) with its workers' tags renumbered from 0, and their processes.
fn detach(cfg: &TreeConfig, child: &ChildSpec, output: &OutputMode) -> (ChildSpec, Vec<ProcessSpec>) {
    fn walk(cfg: &TreeConfig, c: &mut ChildSpec, out: &mut Vec<ProcessSpec>, output: &OutputMode) {
        match &mut c.kind {
            ChildKind::Worker => {
                if let Some(w) = cfg.workers.get(c.tag as usize) {
                    out.push(process_spec(w, c.readiness == Readiness::Notify, output));
                }
                c.tag = out.len().saturating_sub(1) as u64;
            }
            ChildKind::Supervisor(s) => {
                for k in &mut std::sync::Arc::make_mut(s).children {
                    walk(cfg, k, out, output);
                }
            }
        }
    }
    let mut c = child.clone();
    let mut out = Vec::new();
    walk(cfg, &mut c, &mut out, output);
    (c, out)
}
