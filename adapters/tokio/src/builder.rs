//! Building a tree whose workers are tasks, processes or nested supervisors.

use std::future::Future;

use vigil_core::{ChildKind, ChildSpec, SpecError, SupervisorSpec};

use crate::context::RunContext;
use crate::control::ControlServer;
use crate::driver;
use crate::handle::TreeHandle;
use crate::monitor::{MonitorList, MonitorSettings};
use crate::payloads::Payload;
use crate::process::ProcessSpec;
use crate::task::task_fn;

/// A supervision tree to run: the root's spec plus its children, each a task,
/// an OS process or a nested [`Tree`].
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::Tree;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sup = Tree::new(SupervisorSpec::new().intensity(3))
///     .task(ChildSpec::worker("ticker"), |ctx| async move {
///         ctx.stopped().await; // work until asked to stop
///         Ok::<(), std::io::Error>(())
///     })
///     .start()
///     .expect("valid tree");
/// let reason = sup.shutdown().await;
/// assert!(reason.is_normal());
/// # });
/// ```
#[derive(Default)]
pub struct Tree {
    spec: SupervisorSpec,
    children: Vec<(ChildSpec, Node)>,
    /// The built-in monitors' settings and the monitors added
    /// (`Tree::monitor`, `Tree::monitor_settings`: adapters/tokio/src/monitor/list.rs).
    pub(crate) monitors: MonitorList,
    control: Option<ControlServer>,
    guard_off: bool,
}

/// How [`Tree::start_processes`] runs a tree of OS processes.
#[derive(Default)]
pub struct ProcessTreeOptions {
    /// Where to write the JSON-lines trace (docs/TRACE.md), if anywhere.
    pub trace: Option<Box<dyn std::io::Write + Send>>,
    /// How the process children's resources are watched.
    pub monitor: MonitorSettings,
    /// A bound control server to serve this tree from its first event; every
    /// process run then gets `VIGIL_SOCKET` and its own `VIGIL_TOKEN`.
    pub control: Option<ControlServer>,
}

impl std::fmt::Debug for ProcessTreeOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProcessTreeOptions")
            .field("trace", &self.trace.is_some())
            .field("monitor", &self.monitor)
            .field("control", &self.control)
            .finish()
    }
}

enum Node {
    Leaf(Payload),
    Sup(Tree),
}

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("spec", &self.spec)
            .field(
                "children",
                &self.children.iter().map(|(c, _)| c.name.as_str()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Tree {
    /// A tree whose root supervisor has `spec`'s strategy and limits (its
    /// `children` are ignored: add them with the builder methods).
    pub fn new(spec: SupervisorSpec) -> Self {
        Tree {
            spec: SupervisorSpec {
                children: Vec::new(),
                ..spec
            },
            children: Vec::new(),
            monitors: MonitorList::default(),
            control: None,
            guard_off: false,
        }
    }

    /// Serve this tree on a bound control server (see [`crate::control`]):
    /// the server starts with the tree, and every process run gets
    /// `VIGIL_SOCKET` and its own `VIGIL_TOKEN`. Only the root's setting counts.
    pub fn control(mut self, server: ControlServer) -> Self {
        self.control = Some(server);
        self
    }

    /// Add a task worker: `f` is called for every run with that run's [`RunContext`].
    /// `Ok` ends the run normally, `Err(e)` with `error(e)`, a panic with `panic(..)`.
    pub fn task<F, Fut, E>(mut self, spec: ChildSpec, f: F) -> Self
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.children.push((spec, Node::Leaf(Payload::Task(task_fn(f)))));
        self
    }

    /// Add an OS process worker.
    pub fn process(mut self, spec: ChildSpec, process: ProcessSpec) -> Self {
        self.children.push((spec, Node::Leaf(Payload::Process(process))));
        self
    }

    /// Whether OS process workers run under a process guard (the default is
    /// `true`). The guard only exists where the binary calls
    /// [`guard::enter_if_guard`](crate::guard::enter_if_guard) at the top of
    /// `main`: elsewhere processes are forked with `PR_SET_PDEATHSIG`
    /// whatever this says (see [`crate::guard`] for the difference). Only the
    /// root's setting counts; it applies to every process of the tree,
    /// those added later with [`TreeHandle::start_process`] included.
    ///
    /// [`TreeHandle::start_process`]: crate::TreeHandle::start_process
    pub fn process_guard(mut self, on: bool) -> Self {
        self.guard_off = !on;
        self
    }

    /// Add a nested supervisor: `spec` gives its name and restart/shutdown
    /// attributes, `tree` its strategy, limits and children.
    pub fn supervisor(mut self, spec: ChildSpec, tree: Tree) -> Self {
        self.children.push((spec, Node::Sup(tree)));
        self
    }

    /// Flatten into an engine spec and the payloads: every worker's tag is
    /// its index in `payloads`, as the driver takes them (see
    /// [`crate::payloads`]).
    fn build(self, payloads: &mut Vec<Payload>) -> SupervisorSpec {
        let mut spec = self.spec;
        for (mut child, node) in self.children {
            match node {
                Node::Leaf(p) => {
                    child.kind = ChildKind::Worker;
                    child.tag = payloads.len() as u64;
                    payloads.push(p);
                }
                Node::Sup(tree) => {
                    child.kind = ChildKind::Supervisor(std::sync::Arc::new(tree.build(payloads)));
                }
            }
            spec.children.push(child);
        }
        spec
    }

    /// Start a tree from an engine spec whose workers are all OS processes:
    /// every worker's [`ChildSpec::tag`] is its index in `processes` (as
    /// `vigil-config` builds them). This is what `vigil run` uses.
    pub fn start_processes(
        spec: SupervisorSpec,
        processes: Vec<ProcessSpec>,
        options: ProcessTreeOptions,
    ) -> Result<TreeHandle, SpecError> {
        let payloads: Vec<Payload> = processes.into_iter().map(Payload::Process).collect();
        driver::spawn(
            spec,
            &payloads,
            driver::Options {
                seed: 0,
                trace: options.trace,
                monitors: MonitorList::new(options.monitor),
                control: options.control,
                // Guarded wherever the binary can serve as a guard.
                guard_off: false,
            },
        )
    }

    /// Validate the tree and start it on the current tokio runtime: a driver
    /// task owns the engine; the returned handle talks to it.
    pub fn start(mut self) -> Result<TreeHandle, SpecError> {
        let mut payloads = Vec::new();
        let monitors = std::mem::take(&mut self.monitors);
        let control = self.control.take();
        let guard_off = self.guard_off;
        let spec = self.build(&mut payloads);
        driver::spawn(
            spec,
            &payloads,
            driver::Options {
                monitors,
                control,
                guard_off,
                ..driver::Options::default()
            },
        )
    }
}
