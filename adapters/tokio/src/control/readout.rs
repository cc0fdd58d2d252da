//! What a serving control server reads out of its tree for people and
//! scrapers: the `status` JSON, the `metrics` exposition and the probes'
//! answers. The control socket's `status` and `metrics` and the HTTP
//! endpoint (`crate::http`, feature `http`) serve the same text from here.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use serde::Serialize;
use vigil_core::ChildState;

use super::metrics::{self, ServerGauges};
use super::reply::Failure;
use super::shared::Shared;
use super::status::{self, Snapshot, StatusAnswer};
use super::tree_end::TreeEnd;

/// The `metrics` exposition: every node of a fresh snapshot, the counters,
/// the server's gauges and `vigil_tree_up`. A tree that is down still has
/// its counters and gauges, with `vigil_tree_up 0` and no per-node states.
pub(crate) async fn metrics(shared: &Shared) -> String {
    let snapshot = Snapshot::take(&shared.sup).await.ok();
    let gauges = ServerGauges {
        connections: shared.open.load(Ordering::Relaxed),
        connections_allowed: shared
            .options
            .max_connections
            .min(shared.budget.allowance().connections),
        calls: shared.registry.calls_in_flight(),
        workers: shared.registry.len(),
        events_lost: shared.counters.lost(),
    };
    let mut text = shared.counters.with(|counters| match &snapshot {
        Some(s) => {
            let nodes: Vec<_> = s.nodes(counters, &shared.registry).collect();
            metrics::render(&nodes, counters, &gauges)
        }
        None => metrics::render(&[], counters, &gauges),
    });
    let up = snapshot.is_some() && !shared.sup.is_down();
    text.push_str("# HELP vigil_tree_up 1 while the supervision tree is up, 0 once it is down.\n");
    text.push_str("# TYPE vigil_tree_up gauge\n");
    let _ = writeln!(text, "vigil_tree_up {}", u8::from(up));
    text
}

/// The `status` answer as JSON (the `result` of the `status` op), or why
/// there is none (the tree is down). A server that keeps serving
/// (`--keep-running`) answers for a tree that is down with how it ended
/// ([`DownStatus`]).
pub(crate) async fn status_json(shared: &Shared) -> Result<Vec<u8>, Failure> {
    let snapshot = match Snapshot::take(&shared.sup).await {
        Ok(s) => s,
        Err(_) if shared.starts.is_some() && shared.sup.is_down() => return Ok(down_status(shared).await),
        Err(f) => return Err(f),
    };
    shared.counters.with(|counters| {
        let answer = StatusAnswer {
            snapshot: &snapshot,
            counters,
            registry: &shared.registry,
        };
        let mut out = Vec::with_capacity(64 + snapshot.len() * 160);
        serde_json::to_writer(&mut out, &answer).map_err(|e| Failure::new("internal", e.to_string()))?;
        Ok(out)
    })
}

/// The workers that are not ready now (starting, or waiting for their
/// restart), by path in start order; empty when every worker that is meant
/// to run is up. Workers that are stopped (on purpose, or a transient that
/// finished) or being stopped are not waited for. `Err` when the tree is down.
#[cfg_attr(not(feature = "http"), allow(dead_code))]
pub(crate) async fn not_ready(shared: &Shared) -> Result<Vec<String>, Failure> {
    let nodes = status::walk(&shared.sup).await?;
    Ok(nodes
        .into_iter()
        .filter(|(_, _, c)| !c.supervisor && matches!(c.state, ChildState::Starting | ChildState::Restarting))
        .map(|(path, _, _)| path)
        .collect())
}

/// How many workers are in each state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct WorkerCounts {
    pub(crate) running: usize,
    pub(crate) starting: usize,
    pub(crate) restarting: usize,
    pub(crate) stopping: usize,
    pub(crate) stopped: usize,
}

/// Count the tree's workers by state; `Err` when the tree is down.
pub(crate) async fn worker_counts(sup: &crate::TreeHandle) -> Result<WorkerCounts, Failure> {
    let mut counts = WorkerCounts::default();
    for (_, _, c) in status::walk(sup).await? {
        if c.supervisor {
            continue;
        }
        let slot = match c.state {
            ChildState::Running => &mut counts.running,
            ChildState::Starting => &mut counts.starting,
            ChildState::Restarting => &mut counts.restarting,
            ChildState::Stopping => &mut counts.stopping,
            ChildState::Stopped => &mut counts.stopped,
        };
        *slot += 1;
    }
    Ok(counts)
}

impl WorkerCounts {
    /// One line for people: `12 children running, 0 restarting`, and the
    /// other states when some are in them.
    pub(crate) fn line(&self) -> String {
        let mut line = format!(
            "{} {} running, {} restarting",
            self.running,
            if self.running == 1 { "child" } else { "children" },
            self.restarting
        );
        for (n, what) in [
            (self.starting, "starting"),
            (self.stopping, "stopping"),
            (self.stopped, "stopped"),
        ] {
            if n > 0 {
                let _ = write!(line, ", {n} {what}");
            }
        }
        line
    }
}

/// `status` of a tree that is down: `tree` says how it ended, `nodes` is
/// empty, `last_exits` has each child's last exit.
#[derive(Serialize)]
struct DownStatus<'a> {
    tree: Down,
    nodes: [(); 0],
    workers: usize,
    last_exits: Vec<LastExit<'a>>,
}

#[derive(Serialize)]
struct Down {
    up: bool,
    /// `root gave up`, `tree failed to start`.
    outcome: &'static str,
    /// The root's exit reason.
    reason: String,
    #[serde(flatten)]
    end: TreeEnd,
}

#[derive(Serialize)]
struct LastExit<'a> {
    path: &'a str,
    last_exit: &'a str,
    restarts: u64,
}

async fn down_status(shared: &Shared) -> Vec<u8> {
    let reason = shared.sup.wait().await.to_string();
    let down = Down {
        up: false,
        outcome: shared.sup.outcome().as_str(),
        reason,
        end: shared.counters.end(),
    };
    shared.counters.with(|counters| {
        let mut last_exits: Vec<LastExit<'_>> = counters
            .iter()
            .filter_map(|(path, c)| {
                c.last_exit.as_deref().map(|last_exit| LastExit {
                    path,
                    last_exit,
                    restarts: c.restarts(),
                })
            })
            .collect();
        last_exits.sort_by(|a, b| a.path.cmp(b.path));
        let status = DownStatus {
            tree: down,
            nodes: [],
            workers: 0,
            last_exits,
        };
        serde_json::to_vec(&status).unwrap_or_default()
    })
}
