//! Building a tree: the root ([`Tree`]: its spec, its children, the settings
//! of the whole tree) and the children of a nested supervisor ([`Children`]).
//!
//! Each thing is said once: a supervisor's strategy and limits in its
//! [`SupervisorSpec`] (the root's in [`Tree::new`], a nested one's in its
//! [`ChildSpec::supervisor`]), its children with the builder methods, and
//! the settings of the whole tree (control server, monitors, process guard)
//! on the root only. What the types cannot rule out is refused by
//! [`Tree::start`] with a [`BuildError`].

use std::future::Future;
use std::sync::Arc;

use vigil_core::{ChildKind, ChildSpec, SpecError, SpecErrorKind, SupervisorSpec, MAX_DEPTH};

use crate::context::RunContext;
use crate::control::ControlServer;
use crate::driver;
use crate::handle::TreeHandle;
use crate::monitor::{MonitorList, MonitorSettings};
use crate::payloads::{Payload, NO_PAYLOAD};
use crate::process::ProcessSpec;
use crate::task::task_fn;

/// A supervision tree to run: the root supervisor's spec, its children (each
/// a task, an OS process or a nested supervisor), and the settings that
/// belong to the whole tree (a control server, the monitors, the process
/// guard). [`Tree::start`] starts it on the current tokio runtime.
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, Strategy, SupervisorSpec};
/// use vigil_tokio::{Children, Tree};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let idle = |ctx: vigil_tokio::RunContext| async move {
///     ctx.stopped().await; // work until asked to stop
///     Ok::<(), std::io::Error>(())
/// };
/// let tree = Tree::new(SupervisorSpec::new().intensity(3))
///     .task(ChildSpec::worker("ticker"), idle)
///     .supervisor(
///         ChildSpec::supervisor("pair", SupervisorSpec::new().strategy(Strategy::OneForAll)),
///         Children::new()
///             .task(ChildSpec::worker("producer"), idle)
///             .task(ChildSpec::worker("consumer"), idle),
///     )
///     .start()
///     .expect("a valid tree");
/// let reason = tree.shutdown().await;
/// assert!(reason.is_normal());
/// # });
/// ```
#[derive(Default)]
#[must_use = "a tree does nothing until it is started"]
pub struct Tree {
    /// The root's spec as given (its `children` must be empty: checked at start).
    spec: SupervisorSpec,
    children: Children,
    /// The built-in monitors' settings and the monitors added
    /// (`Tree::monitor`, `Tree::monitor_settings`: adapters/tokio/src/monitor/list.rs).
    pub(crate) monitors: MonitorList,
    control: Option<ControlServer>,
    guard_off: bool,
    /// Where the driver writes the JSON-lines trace (`Tree::trace`).
    trace: Option<Box<dyn std::io::Write + Send>>,
    /// The engine's seed (`Tree::seed`).
    seed: u64,
    /// Faults injected into the real run (`Tree::chaos`, feature `sim`).
    #[cfg(feature = "sim")]
    chaos: Option<crate::chaos::Chaos>,
}

/// The children of a nested supervisor, in start order: tasks, OS processes
/// and supervisors of their own. A nested supervisor is
/// `.supervisor(ChildSpec::supervisor(name, spec), children)`: its strategy
/// and limits are in `spec`, its children here, and nothing else (the
/// settings of the whole tree are the root's, on [`Tree`]).
///
/// ```
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::{Children, ProcessSpec};
///
/// let workers = Children::new()
///     .task(ChildSpec::worker("cache"), |ctx| async move {
///         ctx.stopped().await;
///         Ok::<(), String>(())
///     })
///     .process(ChildSpec::worker("proxy"), ProcessSpec::new(["sleep", "3600"]))
///     .supervisor(ChildSpec::supervisor("empty", SupervisorSpec::new()), Children::new());
/// assert_eq!(workers.len(), 3);
/// ```
#[derive(Default)]
#[must_use = "children do nothing until given to a supervisor"]
pub struct Children {
    list: Vec<(ChildSpec, Node)>,
}

/// What a child runs: a worker's payload, or a nested supervisor's children.
enum Node {
    Worker(Payload),
    Supervisor(Children),
    /// A pool: a supervisor with no static children, whose payload is its
    /// pool (`adapters/tokio/src/pool.rs`).
    Pool(Payload),
}

/// Why [`Tree::start`] refused a tree: something said in a way that would
/// be ignored, or a spec the engine rejects. Nothing was started.
///
/// ```
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::{BuildError, Children, Tree};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // A worker spec given where a supervisor's is needed.
/// let err = Tree::new(SupervisorSpec::new())
///     .supervisor(ChildSpec::worker("grp"), Children::new())
///     .start()
///     .unwrap_err();
/// assert_eq!(err, BuildError::NotASupervisor { path: "grp".into() });
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// A supervisor's spec lists children (with `SupervisorSpec::child`):
    /// they have nothing to run. The spec given to [`Tree::new`] (`path`
    /// `""`) or to [`ChildSpec::supervisor`] states the strategy and limits;
    /// the children are added with the builder methods.
    #[error(
        "the spec of the supervisor at `{}` lists children ({}), which have nothing to run: add them with the \
         builder (`.task`, `.process`, `.supervisor`) instead",
        shown(.path),
        .children.join(", ")
    )]
    SpecHasChildren {
        /// The supervisor's path (`""` for the root).
        path: String,
        /// The names of the children its spec lists.
        children: Vec<String>,
    },
    /// `.supervisor(spec, children)` was given a worker's spec: a nested
    /// supervisor's spec is `ChildSpec::supervisor(name, SupervisorSpec)`.
    #[error(
        "`{path}` is added with `.supervisor(..)` but its spec is a worker's: use \
         `ChildSpec::supervisor(name, SupervisorSpec)`, which states its strategy and limits"
    )]
    NotASupervisor {
        /// The child's path.
        path: String,
    },
    /// A worker (`.task`, `.process` ...) was given a supervisor's spec.
    #[error(
        "`{path}` is added as a worker but its spec is a supervisor's: use `ChildSpec::worker(name)`, or \
         `.supervisor(spec, children)` for a nested supervisor"
    )]
    NotAWorker {
        /// The child's path.
        path: String,
    },
    /// The engine rejected the spec (a duplicate name, an invalid limit ...).
    #[error(transparent)]
    Spec(#[from] SpecError),
}

/// A path as the errors show it (`/` for the root, as [`SpecError`] does).
fn shown(path: &str) -> &str {
    if path.is_empty() {
        "/"
    } else {
        path
    }
}

/// How [`Tree::start_processes`] runs a tree of OS processes.
///
/// ```
/// use vigil_tokio::ProcessTreeOptions;
/// // No trace, the default monitor settings, no control server.
/// let options = ProcessTreeOptions::default();
/// assert!(options.trace.is_none() && options.control.is_none());
/// ```
#[derive(Default)]
pub struct ProcessTreeOptions {
    /// Where to write the JSON-lines trace (docs/TRACE.md), if anywhere
    /// (default: nowhere).
    pub trace: Option<Box<dyn std::io::Write + Send>>,
    /// How the process children's resources are watched (default:
    /// [`MonitorSettings::default`]).
    pub monitor: MonitorSettings,
    /// A bound control server to serve this tree from its first event; every
    /// process run then gets `VIGIL_SOCKET` and its own `VIGIL_TOKEN`
    /// (default: none).
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

impl std::fmt::Debug for Tree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tree")
            .field("spec", &self.spec)
            .field("children", &self.children)
            .field("trace", &self.trace.is_some())
            .field("seed", &self.seed)
            .finish()
    }
}

/// One level: each child's name, and for a nested supervisor how many
/// children it has (not them: a hostile nesting must not overflow the stack).
impl std::fmt::Debug for Children {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(self.list.iter().map(|(spec, node)| match node {
                Node::Worker(_) | Node::Pool(_) => (spec.name.as_str(), None),
                Node::Supervisor(c) => (spec.name.as_str(), Some(c.len())),
            }))
            .finish()
    }
}

impl Children {
    /// No children yet.
    pub fn new() -> Self {
        Children::default()
    }

    /// How many children were added (nested supervisors count as one).
    #[must_use]
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// Whether no child was added.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Add a task worker: `f` is called for every run with that run's
    /// [`RunContext`], and the future it returns is spawned as a tokio task.
    /// `Ok` ends the run normally (`shutdown` if it was asked to stop),
    /// `Err(e)` with `error(e)`, a panic with `panic(..)`. `spec` must be a
    /// worker's ([`ChildSpec::worker`]).
    pub fn task<F, Fut, E>(self, spec: ChildSpec, f: F) -> Self
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.push_worker(spec, Payload::Task(task_fn(f)))
    }

    /// Add an OS process worker. `spec` must be a worker's ([`ChildSpec::worker`]).
    pub fn process(self, spec: ChildSpec, process: ProcessSpec) -> Self {
        self.push_worker(spec, Payload::Process(Box::new(process)))
    }

    /// Add a nested supervisor: `spec` (from [`ChildSpec::supervisor`]) gives
    /// its name, restart and shutdown attributes, strategy and limits, and
    /// `children` its children.
    pub fn supervisor(mut self, spec: ChildSpec, children: Children) -> Self {
        self.list.push((spec, Node::Supervisor(children)));
        self
    }

    /// Add a worker that runs `payload`: every kind of worker is added
    /// through here (its builder method is this one line).
    pub(crate) fn push_worker(mut self, spec: ChildSpec, payload: Payload) -> Self {
        self.list.push((spec, Node::Worker(payload)));
        self
    }

    /// Add a pool supervisor whose payload is its pool (see `pool.rs`).
    pub(crate) fn push_pool(mut self, spec: ChildSpec, pool: Payload) -> Self {
        self.list.push((spec, Node::Pool(pool)));
        self
    }

    /// The engine's specs of these children, under the supervisor at
    /// `parent`, `depth` deep (the root's children are at 1), and then
    /// their payloads: every worker's tag is its index in `payloads`, as the
    /// driver takes them (see [`crate::payloads`]). [`Tree::start`] does the
    /// same in two steps.
    #[cfg(test)]
    fn build(self, parent: &str, depth: usize, payloads: &mut Vec<Payload>) -> Result<Vec<ChildSpec>, BuildError> {
        let mut next_tag = payloads.len() as u64;
        let specs = self.specs(parent, depth, &mut next_tag)?;
        self.into_payloads(payloads);
        Ok(specs)
    }

    /// The engine's specs of these children, without taking anything (the
    /// shape [`Tree::start`] would start, and `Tree::simulation` simulates):
    /// each worker and pool is tagged with `next_tag`, counting up in
    /// depth-first start order, the order [`Children::into_payloads`] lists
    /// their payloads. Deeper than the engine accepts is refused here,
    /// before recursing, as the engine would refuse it.
    pub(crate) fn specs(&self, parent: &str, depth: usize, next_tag: &mut u64) -> Result<Vec<ChildSpec>, BuildError> {
        if depth > MAX_DEPTH && !self.list.is_empty() {
            return Err(BuildError::Spec(SpecError {
                path: parent.to_owned(),
                kind: SpecErrorKind::TooDeep { max: MAX_DEPTH },
            }));
        }
        let mut specs = Vec::with_capacity(self.list.len());
        for (child, node) in &self.list {
            let mut child = child.clone();
            let path = join(parent, &child.name);
            match (node, &mut child.kind) {
                (Node::Worker(_), ChildKind::Worker) => child.tag = take_tag(next_tag),
                (Node::Worker(_), ChildKind::Supervisor(_)) => return Err(BuildError::NotAWorker { path }),
                (Node::Supervisor(children), ChildKind::Supervisor(spec)) => {
                    refuse_listed_children(&path, spec)?;
                    let built = children.specs(&path, depth + 1, next_tag)?;
                    Arc::make_mut(spec).children = built;
                    // A plain supervisor runs nothing of its own.
                    child.tag = NO_PAYLOAD;
                }
                (Node::Pool(pool), ChildKind::Supervisor(spec)) => {
                    refuse_listed_children(&path, spec)?;
                    if let Payload::Pool(p) = pool {
                        // Its children run the pool's task: a worker's spec.
                        if p.template().is_supervisor() {
                            let path = join(&path, &p.template().name);
                            return Err(BuildError::NotAWorker { path });
                        }
                    }
                    child.tag = take_tag(next_tag);
                }
                (Node::Supervisor(_) | Node::Pool(_), ChildKind::Worker) => {
                    return Err(BuildError::NotASupervisor { path })
                }
            }
            specs.push(child);
        }
        Ok(specs)
    }

    /// Every payload, in the order [`Children::specs`] tagged them. Called
    /// only after `specs` accepted the children, so at most `MAX_DEPTH` deep.
    fn into_payloads(mut self, payloads: &mut Vec<Payload>) {
        for (_, node) in std::mem::take(&mut self.list) {
            match node {
                Node::Worker(payload) | Node::Pool(payload) => payloads.push(payload),
                Node::Supervisor(children) => children.into_payloads(payloads),
            }
        }
    }
}

/// The next tag, counted up.
fn take_tag(next_tag: &mut u64) -> u64 {
    let tag = *next_tag;
    *next_tag += 1;
    tag
}

/// Nested children are dropped one level at a time, not recursively: a
/// hostile nesting (far deeper than [`MAX_DEPTH`], which `start` refuses)
/// must not overflow the stack when it is dropped.
impl Drop for Children {
    fn drop(&mut self) {
        let mut lists = vec![std::mem::take(&mut self.list)];
        while let Some(list) = lists.pop() {
            for (_, node) in list {
                if let Node::Supervisor(mut nested) = node {
                    lists.push(std::mem::take(&mut nested.list));
                }
            }
        }
    }
}

/// A supervisor's spec must not list children of its own (they would run nothing).
fn refuse_listed_children(path: &str, spec: &SupervisorSpec) -> Result<(), BuildError> {
    if spec.children.is_empty() {
        return Ok(());
    }
    Err(BuildError::SpecHasChildren {
        path: path.to_owned(),
        children: spec.children.iter().map(|c| c.name.clone()).collect(),
    })
}

fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}

impl Tree {
    /// A tree whose root supervisor has `spec`'s strategy and limits
    /// (intensity, period, auto_shutdown, lifespan). Its children are added
    /// with the builder methods: a `spec` that lists children of its own is
    /// refused by [`Tree::start`] ([`BuildError::SpecHasChildren`]).
    ///
    /// The settings of the whole tree start at their defaults: no control
    /// server ([`Tree::control`]), [`MonitorSettings::default`]
    /// ([`Tree::monitor_settings`]), processes under the guard where there is one
    /// ([`Tree::process_guard`]).
    pub fn new(spec: SupervisorSpec) -> Self {
        Tree {
            spec,
            ..Tree::default()
        }
    }

    /// Serve this tree on a bound control server (see [`crate::control`]):
    /// the server starts with the tree, and every process run gets
    /// `VIGIL_SOCKET` and its own `VIGIL_TOKEN`. Default: no server.
    pub fn control(mut self, server: ControlServer) -> Self {
        self.control = Some(server);
        self
    }

    /// Whether OS process workers run under a process guard. Default: `true`.
    /// The guard only exists where the binary calls
    /// [`guard::enter_if_guard`](crate::guard::enter_if_guard) at the top of
    /// `main`: elsewhere processes are forked with `PR_SET_PDEATHSIG`
    /// whatever this says (see [`crate::guard`] for the difference). It
    /// applies to every process of the tree, those added later with
    /// [`TreeHandle::start_process`] included.
    ///
    /// [`TreeHandle::start_process`]: crate::TreeHandle::start_process
    pub fn process_guard(mut self, on: bool) -> Self {
        self.guard_off = !on;
        self
    }

    /// Write the tree's JSON-lines trace (docs/TRACE.md) to `sink`, every
    /// event from the first. Default: no trace.
    pub fn trace(mut self, sink: Box<dyn std::io::Write + Send>) -> Self {
        self.trace = Some(sink);
        self
    }

    /// The engine's seed: it draws the jitter of restart backoffs from it.
    /// Default: 0.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Inject `chaos`'s faults into this tree when it runs for real (random
    /// kills, delayed and failing starts, late readiness: see
    /// [`crate::chaos`]). Default: none. An own-code simulation
    /// (`vigil_tokio::dst::Dst`, feature `dst`) ignores it: it injects its own.
    #[cfg(feature = "sim")]
    pub fn chaos(mut self, chaos: crate::chaos::Chaos) -> Self {
        self.chaos = Some(chaos);
        self
    }

    /// The engine's spec of the whole tree, as [`Tree::start`] would start
    /// it, without starting anything or taking the tree: every worker's and
    /// pool's tag is its index in depth-first start order. Refused as
    /// [`Tree::start`] refuses it.
    pub(crate) fn spec(&self) -> Result<SupervisorSpec, BuildError> {
        refuse_listed_children("", &self.spec)?;
        let mut spec = self.spec.clone();
        spec.children = self.children.specs("", 1, &mut 0)?;
        Ok(spec)
    }

    /// Add a task worker to the root: see [`Children::task`].
    pub fn task<F, Fut, E>(self, spec: ChildSpec, f: F) -> Self
    where
        F: Fn(RunContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.with_children(|c| c.task(spec, f))
    }

    /// Add an OS process worker to the root: see [`Children::process`].
    pub fn process(self, spec: ChildSpec, process: ProcessSpec) -> Self {
        self.with_children(|c| c.process(spec, process))
    }

    /// Add a nested supervisor to the root: see [`Children::supervisor`].
    pub fn supervisor(self, spec: ChildSpec, children: Children) -> Self {
        self.with_children(|c| c.supervisor(spec, children))
    }

    /// Add children to the root with `add`, a method of [`Children`]: each
    /// builder method of `Tree` is this one line over its `Children` twin
    /// (a new kind of child adds a `Children` method that calls
    /// [`Children::push_worker`], and a `Tree` method that calls this).
    pub(crate) fn with_children(mut self, add: impl FnOnce(Children) -> Children) -> Self {
        self.children = add(std::mem::take(&mut self.children));
        self
    }

    /// Start a tree from an engine spec whose workers are all OS processes:
    /// every worker's [`ChildSpec::tag`] is its index in `processes` (as
    /// `vigil-config` builds them). `vigil run` used it before a config
    /// became one way to build a tree (`Tree::from_config`, feature `sim`);
    /// it stays for programs that build such a spec themselves.
    ///
    /// ```
    /// use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{ProcessSpec, ProcessTreeOptions, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let spec = SupervisorSpec::new().child(ChildSpec::worker("sleeper").tag(0));
    /// let processes = vec![ProcessSpec::new(["sleep", "3600"])];
    /// let tree = Tree::start_processes(spec, processes, ProcessTreeOptions::default()).expect("a valid spec");
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub fn start_processes(
        spec: SupervisorSpec,
        processes: Vec<ProcessSpec>,
        options: ProcessTreeOptions,
    ) -> Result<TreeHandle, SpecError> {
        let payloads: Vec<Payload> = processes.into_iter().map(|p| Payload::Process(Box::new(p))).collect();
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
                hooks: Default::default(),
            },
        )
    }

    /// Validate the tree and start it on the current tokio runtime: a driver
    /// task owns the engine; the returned handle talks to it. Nothing starts
    /// if the tree is refused ([`BuildError`]).
    pub fn start(self) -> Result<TreeHandle, BuildError> {
        let (spec, payloads, options) = self.into_parts()?;
        Ok(driver::spawn(spec, &payloads, options)?)
    }

    /// The tree flattened for the driver: the root's spec (every worker's
    /// tag indexes the payloads), the payloads, and the driver's options.
    /// What [`Tree::start`] starts, and what an own-code simulation
    /// (`adapters/tokio/src/dst/`) inspects and starts with its hooks.
    pub(crate) fn into_parts(self) -> Result<(SupervisorSpec, Vec<Payload>, driver::Options), BuildError> {
        let spec = self.spec()?;
        let Tree {
            children,
            monitors,
            control,
            guard_off,
            trace,
            seed,
            #[cfg(feature = "sim")]
            chaos,
            ..
        } = self;
        #[cfg(feature = "sim")]
        let hooks = match chaos {
            Some(chaos) => crate::sim_hooks::Hooks::new(Box::new(crate::chaos_hooks::ChaosHooks::new(chaos))),
            None => crate::sim_hooks::Hooks::default(),
        };
        #[cfg(not(feature = "sim"))]
        let hooks = crate::sim_hooks::Hooks::default();
        let mut payloads = Vec::new();
        children.into_payloads(&mut payloads);
        let options = driver::Options {
            seed,
            trace,
            monitors,
            control,
            guard_off,
            hooks,
        };
        Ok((spec, payloads, options))
    }
}

#[cfg(test)]
mod tests {
    use vigil_core::{ChildSpec, Strategy, SupervisorSpec};

    use super::*;

    fn idle() -> Payload {
        Payload::Process(Box::new(ProcessSpec::new(["true"])))
    }

    #[test]
    fn a_nested_supervisor_keeps_the_strategy_of_its_child_spec() {
        let one_for_all = SupervisorSpec::new().strategy(Strategy::OneForAll).intensity(7);
        let children = Children::new()
            .supervisor(
                ChildSpec::supervisor("grp", one_for_all),
                Children::new().push_worker(ChildSpec::worker("a"), idle()),
            )
            .push_worker(ChildSpec::worker("b"), idle());
        let mut payloads = Vec::new();
        let specs = children.build("", 1, &mut payloads).unwrap();
        let ChildKind::Supervisor(grp) = &specs[0].kind else {
            panic!("grp is a supervisor")
        };
        assert_eq!((grp.strategy, grp.intensity), (Strategy::OneForAll, 7));
        assert_eq!(grp.children.len(), 1);
        assert_eq!((grp.children[0].name.as_str(), grp.children[0].tag), ("a", 0));
        assert_eq!((specs[1].name.as_str(), specs[1].tag), ("b", 1));
        assert_eq!(payloads.len(), 2);
    }

    #[test]
    fn mismatched_kinds_are_refused_with_their_path() {
        let nested =
            |inner: Children| Children::new().supervisor(ChildSpec::supervisor("s", SupervisorSpec::new()), inner);
        let worker_as_sup = nested(Children::new().supervisor(ChildSpec::worker("w"), Children::new()));
        assert_eq!(
            worker_as_sup.build("", 1, &mut Vec::new()).unwrap_err(),
            BuildError::NotASupervisor { path: "s/w".into() }
        );
        let sup_as_worker =
            nested(Children::new().push_worker(ChildSpec::supervisor("x", SupervisorSpec::new()), idle()));
        assert_eq!(
            sup_as_worker.build("", 1, &mut Vec::new()).unwrap_err(),
            BuildError::NotAWorker { path: "s/x".into() }
        );
    }

    #[test]
    fn listed_children_are_refused_naming_them() {
        let listing = SupervisorSpec::new()
            .child(ChildSpec::worker("ghost"))
            .child(ChildSpec::worker("spook"));
        let children = Children::new().supervisor(ChildSpec::supervisor("grp", listing), Children::new());
        let err = children.build("top", 2, &mut Vec::new()).unwrap_err();
        assert_eq!(
            err,
            BuildError::SpecHasChildren {
                path: "top/grp".into(),
                children: vec!["ghost".into(), "spook".into()]
            }
        );
        assert!(
            err.to_string().contains("`top/grp` lists children (ghost, spook)"),
            "{err}"
        );
    }
}
