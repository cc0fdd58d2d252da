//! Generated trees, and transitions chosen from what the model's tree holds
//! now (running workers to crash, paths to name in requests), with the
//! preconditions that keep a shrunk sequence meaningful.

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use vigil_core::{
    AutoShutdown, ChildKind, ChildSpec, ExitReason, Lifespan, Restart, Shutdown, ShutdownOrder, Strategy as Strat,
    SupervisorSpec,
};

use crate::behaviour::{Behaviour, FailMode};
use crate::model::{join, Model};
use crate::transition::{Op, Transition};

/// Supervisor levels below the root.
const DEPTH: u32 = 2;

/// A valid tree: the root and up to two levels of supervisors below it,
/// one to four children each, every strategy the model knows, intensity 0
/// to 3, periods of 1, 5 and 30 s, auto_shutdown with significant children,
/// lifespan permanent or transient, the parallel shutdown order (three
/// supervisors of workers in ten),
/// every restart type, worker shutdowns brutal, 1 s, 5 s and infinity,
/// supervisor children infinity, brutal or 2.7 s; and, one time in ten, a
/// worker whose first starts fail (the world before the first start).
pub fn first_start() -> BoxedStrategy<(SupervisorSpec, Behaviour)> {
    supervisor(DEPTH)
        .prop_flat_map(|spec| {
            let failing = (select(static_workers(&spec, "")), 1u32..=2, fail_mode());
            (Just(spec), proptest::option::weighted(0.1, failing))
        })
        .prop_map(|(spec, failing)| {
            let mut behaviour = Behaviour::default();
            if let Some((path, count, mode)) = failing {
                behaviour.fail_starts(&path, count, mode);
            }
            (spec, behaviour)
        })
        .boxed()
}

/// The paths of the static workers of the tree `spec` (rooted at `path`).
fn static_workers(spec: &SupervisorSpec, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for c in &spec.children {
        let child_path = join(path, &c.name);
        match &c.kind {
            ChildKind::Supervisor(inner) => out.extend(static_workers(inner, &child_path)),
            ChildKind::Worker => out.push(child_path),
        }
    }
    out
}

fn fail_mode() -> impl Strategy<Value = FailMode> {
    prop_oneof![Just(FailMode::StartFailed), Just(FailMode::ExitBeforeStarted)]
}

fn supervisor(depth: u32) -> BoxedStrategy<SupervisorSpec> {
    let strategy = prop_oneof![
        3 => Just(Strat::OneForOne),
        3 => Just(Strat::OneForAll),
        3 => Just(Strat::RestForOne),
        1 => Just(Strat::OneTerminateAll),
    ];
    let lifespan = prop_oneof![4 => Just(Lifespan::Permanent), 1 => Just(Lifespan::Transient)];
    let period = select(vec![1u64, 5, 30]).prop_map(Duration::from_secs);
    let auto = prop_oneof![
        3 => Just(AutoShutdown::Never),
        1 => Just(AutoShutdown::AnySignificant),
        1 => Just(AutoShutdown::AllSignificant),
    ];
    let children = proptest::collection::vec((child(depth), any::<bool>()), 1..=4);
    let parallel = prop::bool::weighted(0.3);
    (strategy, 0u32..=3, period, (auto, lifespan, parallel), children)
        .prop_map(|(strategy, intensity, period, (auto, lifespan, parallel), children)| {
            // The model knows the parallel order for a supervisor of workers.
            let order = if parallel && children.iter().all(|(c, _)| !c.is_supervisor()) {
                ShutdownOrder::Parallel
            } else {
                ShutdownOrder::Reverse
            };
            let mut spec = SupervisorSpec::new()
                .strategy(strategy)
                .intensity(intensity)
                .period(period)
                .auto_shutdown(auto)
                .lifespan(lifespan)
                .shutdown_order(order);
            for (i, (mut c, significant)) in children.into_iter().enumerate() {
                c.name = format!("{}{i}", if c.is_supervisor() { "s" } else { "w" });
                c.significant = significant && c.restart != Restart::Permanent && auto != AutoShutdown::Never;
                spec = spec.child(c);
            }
            spec
        })
        .boxed()
}

fn restart() -> impl Strategy<Value = Restart> {
    prop_oneof![
        2 => Just(Restart::Permanent),
        1 => Just(Restart::Transient),
        1 => Just(Restart::Temporary)
    ]
}

fn worker_shutdown() -> impl Strategy<Value = Shutdown> {
    prop_oneof![
        Just(Shutdown::Brutal),
        Just(Shutdown::Timeout(Duration::from_secs(1))),
        Just(Shutdown::Timeout(Duration::from_secs(5))),
        Just(Shutdown::Infinity),
    ]
}

fn worker() -> impl Strategy<Value = ChildSpec> {
    (restart(), worker_shutdown()).prop_map(|(r, s)| ChildSpec::worker("w").restart(r).shutdown(s))
}

fn child(depth: u32) -> BoxedStrategy<ChildSpec> {
    if depth == 0 {
        return worker().boxed();
    }
    // 2.7 s: no sum of worker timeouts (1 s, 5 s) that a test reaches is a
    // multiple of it, so a subtree deadline never ties with a worker's.
    let shutdown = prop_oneof![
        Just(Shutdown::Infinity),
        Just(Shutdown::Brutal),
        Just(Shutdown::Timeout(Duration::from_millis(2_700))),
    ];
    let sup = (supervisor(depth - 1), restart(), shutdown)
        .prop_map(|(spec, r, shutdown)| ChildSpec::supervisor("s", spec).restart(r).shutdown(shutdown));
    prop_oneof![3 => worker(), 1 => sup].boxed()
}

fn reason() -> impl Strategy<Value = ExitReason> {
    prop_oneof![
        Just(ExitReason::Normal),
        Just(ExitReason::shutdown()),
        Just(ExitReason::Shutdown("detail".into())),
        Just(ExitReason::Error("crash".into())),
        Just(ExitReason::Panic("boom".into())),
        Just(ExitReason::Killed),
    ]
}

/// A child `start_child` adds: a worker, or a small supervisor of two
/// workers; its name is new, or taken by a static child (`w0`).
fn dynamic_child() -> impl Strategy<Value = ChildSpec> {
    let name = select(vec!["d0", "d1", "w0"]);
    let small = SupervisorSpec::new()
        .child(ChildSpec::worker("x"))
        .child(ChildSpec::worker("y"));
    prop_oneof![
        4 => (name.clone(), worker()).prop_map(|(n, mut c)| { c.name = n.into(); c }),
        1 => (name, restart()).prop_map(move |(n, r)| ChildSpec::supervisor(n, small.clone()).restart(r)),
    ]
}

/// The next transition, from what the model's tree holds now.
pub fn transition(model: &Model) -> BoxedStrategy<Transition> {
    let running = model.running_workers();
    let hangable: Vec<String> = running
        .iter()
        .filter(|(_, s)| matches!(s, Shutdown::Timeout(_)))
        .map(|(p, _)| p.clone())
        .collect();
    let running: Vec<String> = running.into_iter().map(|(p, _)| p).collect();
    let mut workers = model.worker_paths();
    workers.extend(["d0".to_owned(), "d1".to_owned()]);
    let mut options: Vec<(u32, BoxedStrategy<Transition>)> = Vec::new();
    if !running.is_empty() {
        let exit = (select(running), reason()).prop_map(|(path, reason)| Transition::Exit { path, reason });
        options.push((8, exit.boxed()));
    }
    if !hangable.is_empty() {
        let hang = select(hangable).prop_map(|path| Transition::HangOnStop { path });
        options.push((2, hang.boxed()));
    }
    let fail = (select(workers), 1u32..=3, fail_mode()).prop_map(|(path, count, mode)| Transition::FailStarts {
        path,
        count,
        mode,
    });
    options.push((3, fail.boxed()));
    let advance = select(vec![1u64, 999, 1_000, 4_999, 5_000, 30_000])
        .prop_map(|ms| Transition::Advance(Duration::from_millis(ms)));
    options.push((2, advance.boxed()));
    options.push((4, request(model).prop_map(Transition::Request).boxed()));
    options.push((1, Just(Transition::Request(Op::Shutdown)).boxed()));
    Union::new_weighted(options).boxed()
}

/// An operator request naming a node of the tree (a stopped child half the
/// time, when there is one: most requests mean something only for those),
/// the root, or a path that names nothing.
fn request(model: &Model) -> BoxedStrategy<Op> {
    let mut paths = model.paths();
    paths.extend(["".to_owned(), "nope".to_owned(), "w0/nope".to_owned()]);
    let stopped = model.stopped_paths();
    let path = if stopped.is_empty() {
        select(paths).boxed()
    } else {
        prop_oneof![select(paths), select(stopped)].boxed()
    };
    let mut sups = model.supervisor_paths();
    sups.extend(["nope".to_owned(), "w0".to_owned()]);
    let parallel: Vec<String> = sups.iter().filter(|p| model.is_parallel(p)).cloned().collect();
    let under_parallel = move |parent: &str, spec: ChildSpec| -> ChildSpec {
        // Only workers under a parallel supervisor (what the model knows).
        if spec.is_supervisor() && parallel.iter().any(|p| p == parent) {
            ChildSpec::worker(spec.name).restart(spec.restart)
        } else {
            spec
        }
    };
    let fix = under_parallel.clone();
    let replace = (path.clone(), dynamic_child(), prop::bool::weighted(0.9)).prop_map(move |(path, mut spec, same)| {
        if same {
            spec.name = path.rsplit('/').next().unwrap_or_default().to_owned();
        }
        let spec = fix(parent_of(&path), spec);
        Op::ReplaceChild { path, spec }
    });
    prop_oneof![
        path.clone().prop_map(Op::TerminateChild),
        path.clone().prop_map(Op::RestartChild),
        path.prop_map(Op::DeleteChild),
        (select(sups.clone()), dynamic_child()).prop_map(move |(parent, spec)| {
            let spec = under_parallel(&parent, spec);
            Op::StartChild { parent, spec }
        }),
        replace,
        (select(sups), any::<bool>()).prop_map(|(path, rolling)| Op::RestartAll { path, rolling }),
    ]
    .boxed()
}

/// The path of the supervisor of the node at `path` (`""` for the root's children).
fn parent_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(parent, _)| parent)
}

/// Whether `transition` still means something in `model` (after shrinking
/// removed the steps that led to it): an exit or a hang needs that worker
/// running (with a shutdown timeout, for a hang); a supervisor spec may not
/// go under a parallel supervisor (the model knows workers only there).
pub fn applies(model: &Model, transition: &Transition) -> bool {
    let running = |path: &str| model.running_workers().into_iter().find(|(p, _)| p == path);
    match transition {
        Transition::Exit { path, .. } => running(path).is_some(),
        Transition::HangOnStop { path } => matches!(running(path), Some((_, Shutdown::Timeout(_)))),
        Transition::Request(Op::StartChild { parent, spec }) => !(spec.is_supervisor() && model.is_parallel(parent)),
        Transition::Request(Op::ReplaceChild { path, spec }) => {
            !(spec.is_supervisor() && model.is_parallel(parent_of(path)))
        }
        _ => true,
    }
}
