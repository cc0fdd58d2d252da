//! A snapshot of the whole tree, read through `which_children` requests and
//! joined with the server's counters and registrations: what `status`,
//! `tree` and `metrics` show.

use std::future::Future;
use std::pin::Pin;

use std::collections::HashMap;

use serde::Serialize;
use vigil_core::{ChildInfo, Reply, Request};

use super::counters::ChildCounters;
use super::registry::{Registry, WorkerInfo};
use super::reply::Failure;
use crate::child_signal::RunFacts;
use crate::handle::TreeHandle;
use crate::monitor::ChildResources;

/// One node (not the root) as `status` shows it, borrowed from a
/// [`Snapshot`] and the counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct NodeStatus<'a> {
    pub(crate) path: &'a str,
    pub(crate) name: &'a str,
    /// `worker` or `supervisor`.
    pub(crate) kind: &'static str,
    pub(crate) state: &'static str,
    /// Of its current or last run (workers; 0 if never run).
    pub(crate) generation: u64,
    /// Added at run time (`start_child`), not part of the config.
    pub(crate) dynamic: bool,
    /// Depth below the root (1 for the root's children).
    pub(crate) depth: usize,
    /// Runs after the first, since the server started.
    pub(crate) restarts: u64,
    /// Seconds since its current run started, if it is up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) uptime_secs: Option<f64>,
    /// How its last run ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) last_exit: Option<&'a str>,
    /// The program's own pid in its current run (process workers; not its
    /// guard's).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pid: Option<u32>,
    /// The pid of the run's guard, the leader of its process group
    /// (guarded process workers).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) guard_pid: Option<u32>,
    /// `healthy`, `late`, `starting` or `failing N/M` for a running worker
    /// with a `health_timeout` or a health probe (docs/CLI.md, "Status
    /// columns").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health: Option<std::borrow::Cow<'static, str>>,
    /// Why the worker's health probe last failed, while it is failing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) health_detail: Option<&'a str>,
    /// The run waits out its `start_delay` (state `starting`, no program yet).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub(crate) start_delayed: bool,
    /// Resident memory of its run's process group, as last sampled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) rss_bytes: Option<u64>,
    /// Proportional memory of the group, where readable.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) pss_bytes: Option<u64>,
    /// CPU % of one core between the last two samples.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) cpu_percent: Option<f64>,
    /// Processes in the run's group at the last sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) processes: Option<u32>,
    /// Its memory limit in bytes, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) memory_limit: Option<u64>,
    /// The registered worker of its current run, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) worker: Option<WorkerInfo>,
}

/// A node's state as `status` shows it: the engine's, except `defined` for
/// a worker that is stopped and never ran (`autostart = false`, or not
/// reached by its supervisor's start).
fn shown_state(c: &ChildInfo) -> &'static str {
    if c.state == vigil_core::ChildState::Stopped && c.generation == 0 && !c.supervisor {
        "defined"
    } else {
        c.state.as_str()
    }
}

/// One node of the `tree` answer.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct TreeNode {
    pub(crate) name: String,
    pub(crate) path: String,
    pub(crate) kind: &'static str,
    pub(crate) state: &'static str,
    pub(crate) generation: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) children: Vec<TreeNode>,
}

/// Every node in depth-first start order, with its path and depth.
pub(crate) async fn walk(sup: &TreeHandle) -> Result<Vec<(String, usize, ChildInfo)>, Failure> {
    let mut out = Vec::new();
    walk_from(sup, String::new(), 1, &mut out).await?;
    Ok(out)
}

fn walk_from<'a>(
    sup: &'a TreeHandle,
    path: String,
    depth: usize,
    out: &'a mut Vec<(String, usize, ChildInfo)>,
) -> Pin<Box<dyn Future<Output = Result<(), Failure>> + Send + 'a>> {
    Box::pin(async move {
        let children = match sup.request(Request::WhichChildren { path: path.clone() }).await {
            Ok(Reply::Children(c)) => c,
            Ok(_) => Vec::new(),
            // The root's answer matters (tree down); a nested supervisor that
            // vanished meanwhile simply has no children any more.
            Err(e) if path.is_empty() => return Err(e.into()),
            Err(_) => Vec::new(),
        };
        for c in children {
            let child_path = if path.is_empty() {
                c.name.clone()
            } else {
                format!("{path}/{}", c.name)
            };
            if c.supervisor {
                out.push((child_path.clone(), depth, c));
                walk_from(sup, child_path, depth + 1, out).await?;
            } else {
                out.push((child_path, depth, c));
            }
        }
        Ok(())
    })
}

fn kind(c: &ChildInfo) -> &'static str {
    if c.supervisor {
        "supervisor"
    } else {
        "worker"
    }
}

/// The tree as read at one moment: every node, and the process monitor's
/// last sample of each process run.
pub(crate) struct Snapshot {
    nodes: Vec<(String, usize, ChildInfo)>,
    resources: Vec<ChildResources>,
    /// Pids and health of the live runs, sorted by node index.
    facts: Vec<RunFacts>,
    taken: std::time::Instant,
}

impl Snapshot {
    /// Read the tree (through `which_children` requests) and the resources.
    pub(crate) async fn take(sup: &TreeHandle) -> Result<Snapshot, Failure> {
        let nodes = walk(sup).await?;
        let resources = sup.resources().await;
        let facts = sup.run_facts().await;
        Ok(Snapshot {
            nodes,
            resources,
            facts,
            taken: std::time::Instant::now(),
        })
    }

    /// Every node joined with its counters (`counters`, read under their
    /// lock), resources and registration, in depth-first start order.
    pub(crate) fn nodes<'a>(
        &'a self,
        counters: &'a HashMap<String, ChildCounters>,
        registry: &'a Registry,
    ) -> impl ExactSizeIterator<Item = NodeStatus<'a>> + 'a {
        let registered = registry.len() > 0;
        self.nodes.iter().map(move |(path, depth, c)| {
            let k = counters.get(path);
            // Sorted by path: a binary search per node.
            let res = self
                .resources
                .binary_search_by(|r| r.path.as_str().cmp(path))
                .ok()
                .map(|i| &self.resources[i])
                .filter(|r| r.generation == c.generation);
            let facts = self
                .facts
                .binary_search_by_key(&c.node.index(), |f| f.run.node.index())
                .ok()
                .map(|i| &self.facts[i])
                .filter(|f| f.run.generation == c.generation);
            let worker = if registered && !c.supervisor {
                registry.worker_at(path).filter(|w| w.generation == c.generation)
            } else {
                None
            };
            NodeStatus {
                path,
                name: &c.name,
                kind: kind(c),
                state: shown_state(c),
                generation: c.generation,
                dynamic: c.dynamic,
                depth: *depth,
                restarts: k.map_or(0, ChildCounters::restarts),
                uptime_secs: k
                    .and_then(|k| k.up_since)
                    .map(|t| self.taken.saturating_duration_since(t).as_secs_f64()),
                last_exit: k.and_then(|k| k.last_exit.as_deref()),
                pid: facts.and_then(|f| f.pid),
                guard_pid: facts.and_then(|f| f.guard_pid),
                health: facts.and_then(|f| f.health.label()),
                health_detail: facts.and_then(|f| f.health_detail.as_deref()),
                start_delayed: facts.is_some_and(|f| f.delayed),
                rss_bytes: res.map(|r| r.rss_bytes),
                pss_bytes: res.and_then(|r| r.pss_bytes),
                cpu_percent: res.and_then(|r| r.cpu_percent),
                processes: res.map(|r| r.processes),
                memory_limit: res.and_then(|r| r.memory_limit),
                worker,
            }
        })
    }

    /// Nodes in the snapshot.
    pub(crate) fn len(&self) -> usize {
        self.nodes.len()
    }
}

/// The `status` answer: serialized straight from the snapshot, node by node,
/// without building the list first.
pub(crate) struct StatusAnswer<'a> {
    pub(crate) snapshot: &'a Snapshot,
    pub(crate) counters: &'a HashMap<String, ChildCounters>,
    pub(crate) registry: &'a Registry,
}

impl Serialize for StatusAnswer<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        struct Nodes<'b>(&'b StatusAnswer<'b>);
        impl Serialize for Nodes<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_seq(self.0.snapshot.nodes(self.0.counters, self.0.registry))
            }
        }
        let mut s = serializer.serialize_struct("Status", 2)?;
        s.serialize_field("nodes", &Nodes(self))?;
        s.serialize_field("workers", &self.registry.len())?;
        s.end()
    }
}

/// `tree`: the nodes nested under their supervisors.
pub(crate) async fn tree(sup: &TreeHandle) -> Result<Vec<TreeNode>, Failure> {
    let nodes = walk(sup).await?;
    let mut iter = nodes.into_iter().peekable();
    Ok(nest(&mut iter, 1))
}

fn nest(
    iter: &mut std::iter::Peekable<impl Iterator<Item = (String, usize, ChildInfo)>>,
    depth: usize,
) -> Vec<TreeNode> {
    let mut level = Vec::new();
    while let Some((_, d, _)) = iter.peek() {
        if *d < depth {
            break;
        }
        let Some((path, _, c)) = iter.next() else { break };
        let children = if c.supervisor {
            nest(iter, depth + 1)
        } else {
            Vec::new()
        };
        level.push(TreeNode {
            kind: kind(&c),
            state: c.state.as_str(),
            generation: c.generation,
            name: c.name,
            path,
            children,
        });
    }
    level
}
