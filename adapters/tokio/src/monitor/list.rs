//! A tree's monitors, from the builder to the driver and the handles: what
//! a [`Tree`] is given ([`MonitorList`]), what the driver tells them
//! ([`MonitorSet`]), and what a [`TreeHandle`](crate::TreeHandle) reads of
//! them ([`MonitorHandle`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use vigil_core::RunId;

use super::eviction::Forward;
use super::memory::MemoryMonitor;
use super::monitor_task::{self, Link, Visit};
use super::process_stats::{ChildResources, ProcessMonitor};
use super::run::{MonitoredRun, RunKind};
use super::run_queue::RunNotice;
use super::settings::MonitorSettings;
use super::status::MonitorStatus;
use super::Monitor;
use crate::builder::Tree;

/// Starts one monitor given to the builder, generic code behind a box.
type Starter = Box<dyn FnOnce(&Forward) -> Link + Send>;

/// What a tree is given: the built-ins' settings and the monitors added.
#[derive(Default)]
pub(crate) struct MonitorList {
    settings: MonitorSettings,
    added: Vec<Starter>,
}

impl std::fmt::Debug for MonitorList {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorList")
            .field("settings", &self.settings)
            .field("added", &self.added.len())
            .finish()
    }
}

impl MonitorList {
    /// The built-ins with `settings`, and nothing added.
    pub(crate) fn new(settings: MonitorSettings) -> Self {
        MonitorList {
            settings,
            added: Vec::new(),
        }
    }

    /// Add a monitor (started with the tree, after the others).
    pub(crate) fn add<M: Monitor>(&mut self, monitor: M) {
        self.added
            .push(Box::new(move |tx| monitor_task::spawn(monitor, tx.clone(), None)));
    }

    /// Start every monitor on the current runtime: the built-ins, then
    /// those added, in order. Evictions go to the driver through `forward`.
    pub(crate) fn start(self, forward: &Forward) -> (MonitorSet, MonitorHandle) {
        let (visits, visited) = mpsc::unbounded_channel();
        let mut links = vec![
            monitor_task::spawn(ProcessMonitor::new(self.settings), Arc::clone(forward), Some(visited)),
            monitor_task::spawn(MemoryMonitor::new(self.settings), Arc::clone(forward), None),
        ];
        links.extend(self.added.into_iter().map(|start| start(forward)));
        let handle = MonitorHandle {
            statuses: links.iter().map(|l| Arc::clone(&l.shared)).collect(),
            process: visits,
            min_sample_age: self.settings.min_sample_age,
        };
        (
            MonitorSet {
                links,
                registered: Vec::new(),
                paths: Vec::new(),
                told: false,
            },
            handle,
        )
    }
}

/// Adding monitors to a tree (see [`crate::monitor`]).
impl Tree {
    /// Add a monitor: it is told about the tree's runs and checks at its
    /// interval, in a task of its own, from the start of the tree to its
    /// end (see [`Monitor`]). Any number may be added; they are started in
    /// the order added, after the built-in `process` and `memory` monitors.
    /// Only the root's monitors count.
    ///
    /// See [`Monitor`] for an example.
    #[must_use = "a builder does nothing until it is started"]
    pub fn monitor<M: Monitor>(mut self, monitor: M) -> Self {
        self.monitors.add(monitor);
        self
    }

    /// How the built-in monitors watch the tree's process children (the
    /// sampling interval, a memory limit over the whole tree, leak
    /// detection; each child's own limit is
    /// [`ProcessSpec::memory_limit`](crate::ProcessSpec)). Without it,
    /// [`MonitorSettings::default`]. Only the root's settings count.
    ///
    /// ```
    /// use std::time::Duration;
    /// use vigil_core::SupervisorSpec;
    /// use vigil_tokio::monitor::MonitorSettings;
    /// use vigil_tokio::Tree;
    ///
    /// let tree = Tree::new(SupervisorSpec::new()).monitor_settings(MonitorSettings {
    ///     interval: Duration::from_secs(1),
    ///     tree_memory_limit: Some(4 << 30),
    ///     ..MonitorSettings::default()
    /// });
    /// # let _ = tree;
    /// ```
    #[must_use = "a builder does nothing until it is started"]
    pub fn monitor_settings(mut self, settings: MonitorSettings) -> Self {
        self.monitors.settings = settings;
        self
    }
}

/// The driver's side of the monitors: it tells them about runs, and never
/// waits for them.
#[derive(Debug)]
pub(crate) struct MonitorSet {
    links: Vec<Link>,
    /// By node index: the generation of the node's run that monitors were
    /// told about (0: none), so that only those runs are removed.
    registered: Vec<u64>,
    /// By node index: the path of the run being spawned, kept from its
    /// spawn for its register (the driver renders it once per run).
    paths: Vec<Option<(u64, Arc<str>)>>,
    /// Something was pushed since the last [`wake`](Self::wake).
    told: bool,
}

impl MonitorSet {
    /// A run is being spawned at `path`: kept for its register, if a
    /// monitor watches its kind.
    pub(crate) fn spawning(&mut self, run: RunId, process: bool, path: &Arc<str>) {
        if !self.links.iter().any(|l| l.watch.covers(process)) {
            return;
        }
        let i = run.node.index();
        if i >= self.paths.len() {
            self.paths.resize(i + 1, None);
        }
        self.paths[i] = Some((run.generation, Arc::clone(path)));
    }

    /// A run is up: tell every monitor that watches its kind. When none
    /// does, nothing is built nor recorded (a task restart then costs a
    /// loop over the monitors, no allocation).
    pub(crate) fn register(&mut self, run: RunId, kind: RunKind, path: impl FnOnce() -> Arc<str>) {
        let process = matches!(kind, RunKind::Process { .. });
        if !self.links.iter().any(|l| l.watch.covers(process)) {
            return;
        }
        let i = run.node.index();
        if i >= self.registered.len() {
            self.registered.resize(i + 1, 0);
        }
        self.registered[i] = run.generation;
        let kept = self.paths.get_mut(i).and_then(Option::take);
        let path = match kept {
            Some((generation, path)) if generation == run.generation => path,
            _ => path(),
        };
        let monitored = MonitoredRun {
            run,
            path,
            kind,
            started: tokio::time::Instant::now(),
        };
        self.told = true;
        self.links
            .retain_mut(|l| !l.watch.covers(process) || l.tell(RunNotice::Register(monitored.clone())));
    }

    /// A run ended (its one teardown): tell every monitor that was told
    /// about it (`process`: whether it is a process run). Nothing for a run
    /// that was never registered (it never came up).
    pub(crate) fn remove(&mut self, run: RunId, process: bool) {
        match self.registered.get_mut(run.node.index()) {
            Some(g) if *g == run.generation => *g = 0,
            _ => return,
        }
        self.told = true;
        self.links
            .retain_mut(|l| !l.watch.covers(process) || l.tell(RunNotice::Remove(run)));
    }

    /// Wake the monitors that were told something since the last wake
    /// (the driver does once per step, after carrying out its commands).
    pub(crate) fn wake(&mut self) {
        if self.told {
            self.told = false;
            for l in self.links.iter_mut().filter(|l| l.told) {
                l.told = false;
                l.queue.wake();
            }
        }
    }

    /// The tree is down and every run removed: each monitor takes what is
    /// left in its queue, then ends.
    pub(crate) fn finish(&mut self) {
        for l in self.links.drain(..) {
            l.queue.close();
        }
    }
}

impl Drop for MonitorSet {
    fn drop(&mut self) {
        self.finish();
    }
}

/// The handles' side of the monitors: their status, and the process
/// monitor's resources. Cheap to clone.
#[derive(Clone)]
pub(crate) struct MonitorHandle {
    statuses: Arc<[Arc<super::status::MonitorShared>]>,
    process: mpsc::UnboundedSender<Visit<ProcessMonitor>>,
    min_sample_age: Duration,
}

impl std::fmt::Debug for MonitorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MonitorHandle")
            .field("monitors", &self.statuses.len())
            .finish()
    }
}

impl MonitorHandle {
    /// The resources of every live process run, sorted by path (empty once
    /// the process monitor has ended with the tree).
    pub(crate) async fn resources(&self) -> Vec<ChildResources> {
        let (tx, rx) = oneshot::channel();
        let min_age = self.min_sample_age;
        let visit: Visit<ProcessMonitor> = Box::new(move |m| {
            Box::pin(async move {
                let _ = tx.send(m.resources(min_age).await);
            })
        });
        if self.process.send(visit).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Every monitor's status, in the order they were started.
    pub(crate) async fn status(&self) -> Vec<MonitorStatus> {
        self.statuses.iter().map(|s| s.status()).collect()
    }
}
