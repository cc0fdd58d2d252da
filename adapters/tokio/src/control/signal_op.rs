//! LIFECYCLE: the `signal` and `reload_child` operations (docs/PROTOCOL.md):
//! a signal for a process child's program, answered with the signal sent
//! and the pid it went to.

use bytes::Bytes;
use serde_json::json;

use super::protocol::WireId;
use super::reply::{self, Failure};
use crate::child_signal::{SignalError, SignalTarget};
use crate::handle::TreeHandle;
use crate::lifecycle::ChildSignal;

impl From<SignalError> for Failure {
    fn from(e: SignalError) -> Self {
        Failure::new(e.code(), e.to_string())
    }
}

/// `signal`: `signal` (a name) to the child at `path`, its whole group with `all`.
pub(crate) async fn signal(sup: &TreeHandle, id: &Option<WireId>, path: &str, signal: &str, all: bool) -> Bytes {
    let signal: ChildSignal = match signal.parse() {
        Ok(s) => s,
        Err(e) => return reply::error(id, &Failure::new("bad_request", e.to_string())),
    };
    let target = if all { SignalTarget::Group } else { SignalTarget::Main };
    answer(id, sup.signal_child(path, signal, target).await, all)
}

/// `reload_child`: the child's reload signal to its main process.
pub(crate) async fn reload(sup: &TreeHandle, id: &Option<WireId>, path: &str) -> Bytes {
    answer(id, sup.reload_child(path).await, false)
}

fn answer(id: &Option<WireId>, sent: Result<(ChildSignal, u32), SignalError>, all: bool) -> Bytes {
    let r = sent
        .map(|(signal, pid)| {
            if all {
                json!({ "signal": signal.as_str(), "process_group": pid })
            } else {
                json!({ "signal": signal.as_str(), "pid": pid })
            }
        })
        .map_err(Failure::from);
    reply::result(id, &r)
}
