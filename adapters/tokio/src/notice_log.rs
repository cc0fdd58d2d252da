//! The driver's log lines: one `tracing` event per lifecycle notice of the
//! engine (target `vigil::tree`), each with the `path` of the child it is
//! about.
//!
//! | notice | level | message | fields |
//! |---|---|---|---|
//! | a run is up | INFO | `started` | `path`, `generation`, `pgid` (process runs) |
//! | a `notify` run said READY=1 | INFO | `ready` | `path`, `generation` |
//! | a run is asked to stop | INFO | `stopping` | `path`, `generation`, `pgid` |
//! | a run is killed | WARN | `killing` | `path`, `generation`, `pgid` |
//! | a run ended normally (or by shutdown) | INFO | `exited` | `path`, `generation`, `reason` |
//! | a run ended otherwise | WARN | `exited` | `path`, `generation`, `reason` |
//! | a start failed | WARN | `start failed` | `path`, `generation`, `reason` |
//! | a restart is decided | INFO | `restart` | `path` (the child that ended), `supervisor`, `strategy` |
//! | a restart waits first | INFO | `restart delayed` | `path`, `delay_ms` |
//! | a readiness or heartbeat deadline passed | WARN | `timeout` | `path`, `generation`, `reason` |
//! | a monitor evicts a run | WARN | `evicted` | `path`, `generation`, `reason` |
//! | a supervisor gives up | ERROR | `gave up: restart intensity exceeded` | `path` |
//! | a supervisor ends | INFO | `supervisor ended` | `path`, `reason` |
//! | the tree is down | INFO | `tree down` | `reason` |
//!
//! Everything else (spawns, heartbeats, replies...) is at DEBUG. The path is
//! rendered only when a subscriber may take the level ([`log_level`]), so
//! steady-state heartbeats cost nothing at INFO.

use vigil_core::{Engine, Notice};

/// The level [`log_notice`] logs `n` at.
pub(crate) fn log_level(n: &Notice) -> tracing::Level {
    match n {
        Notice::Exited(_, reason) if !reason.is_normal() => tracing::Level::WARN,
        Notice::Timeout { .. } | Notice::Evicted { .. } | Notice::Kill(_) | Notice::StartFailed(..) => {
            tracing::Level::WARN
        }
        Notice::GiveUp { .. } => tracing::Level::ERROR,
        Notice::Started(_)
        | Notice::Ready(_)
        | Notice::Stop(_)
        | Notice::Exited(..)
        | Notice::Restart { .. }
        | Notice::Backoff { .. }
        | Notice::SupExit { .. }
        | Notice::TreeDown { .. } => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    }
}

/// Log `n`, which is about the node at `path` (the notice's main node, see
/// the driver's `notice_node`); `pgid`: the process group of the notice's
/// run, when it is a process run.
pub(crate) fn log_notice(engine: &Engine, path: &str, n: &Notice, pgid: Option<u32>) {
    match n {
        Notice::Started(r) => match pgid {
            Some(pgid) => tracing::info!(target: "vigil::tree", path, generation = r.generation, pgid, "started"),
            None => tracing::info!(target: "vigil::tree", path, generation = r.generation, "started"),
        },
        Notice::Ready(r) => tracing::info!(target: "vigil::tree", path, generation = r.generation, "ready"),
        Notice::Stop(r) => match pgid {
            Some(pgid) => tracing::info!(target: "vigil::tree", path, generation = r.generation, pgid, "stopping"),
            None => tracing::info!(target: "vigil::tree", path, generation = r.generation, "stopping"),
        },
        Notice::Kill(r) => match pgid {
            Some(pgid) => tracing::warn!(target: "vigil::tree", path, generation = r.generation, pgid, "killing"),
            None => tracing::warn!(target: "vigil::tree", path, generation = r.generation, "killing"),
        },
        Notice::Exited(r, reason) if reason.is_normal() => {
            tracing::info!(target: "vigil::tree", path, generation = r.generation, %reason, "exited")
        }
        Notice::Exited(r, reason) => {
            tracing::warn!(target: "vigil::tree", path, generation = r.generation, %reason, "exited")
        }
        Notice::StartFailed(r, reason) => {
            tracing::warn!(target: "vigil::tree", path, generation = r.generation, reason, "start failed")
        }
        Notice::Restart { child, strategy, .. } => {
            let child = engine.path(*child).unwrap_or_default();
            tracing::info!(target: "vigil::tree", path = child.as_str(), supervisor = path, ?strategy, "restart")
        }
        Notice::Backoff { delay_ns, .. } => {
            tracing::info!(target: "vigil::tree", path, delay_ms = delay_ns / 1_000_000, "restart delayed")
        }
        Notice::GiveUp { .. } => tracing::error!(target: "vigil::tree", path, "gave up: restart intensity exceeded"),
        Notice::Timeout { run, reason } => {
            tracing::warn!(target: "vigil::tree", path, generation = run.generation, %reason, "timeout")
        }
        Notice::Evicted { run, reason } => {
            tracing::warn!(target: "vigil::tree", path, generation = run.generation, %reason, "evicted")
        }
        Notice::SupExit { reason, .. } => tracing::info!(target: "vigil::tree", path, %reason, "supervisor ended"),
        Notice::TreeDown { reason } => tracing::info!(target: "vigil::tree", %reason, "tree down"),
        other => tracing::debug!(target: "vigil::tree", path, notice = ?other, "event"),
    }
}
