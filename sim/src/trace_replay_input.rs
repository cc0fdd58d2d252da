//! Reading a real run's trace line back into what the driver gave the
//! engine: the input of a `started`, `start_failed`, `ready`, `heartbeat`,
//! `exited`, `stale` or `evict` line, the request of a `request` line, the
//! run a line names.

use serde_json::Value;
use vigil_core::{Engine, Eviction, ExitReason, Input, NodeId, Request, RunId};

/// What the driver fed the engine, as a line records it.
#[derive(Debug)]
pub(crate) enum Fed {
    /// A report about a run (`Engine::handle`).
    Input(Input),
    /// An operator request (`Engine::request`).
    Request(Request),
}

/// The events a driver's input writes: each such line starts an engine call.
pub(crate) fn is_input(ev: &str) -> bool {
    matches!(
        ev,
        "started" | "start_failed" | "ready" | "heartbeat" | "exited" | "stale" | "evict" | "request"
    )
}

/// The input or request that line `v` (event `ev`) records, its nodes
/// resolved through `engine` as it is before the call.
pub(crate) fn fed(engine: &Engine, ev: &str, v: &Value) -> Result<Fed, String> {
    if ev == "request" {
        let op = text(v, "op")?;
        let path = text(v, "path")?;
        return vigil_trace::read_request(op, path, v)
            .map(Fed::Request)
            .map_err(|e| e.to_string());
    }
    let run = run_of(engine, v)?;
    Ok(Fed::Input(match ev {
        "started" => Input::Started(run),
        "ready" => Input::Ready(run),
        "heartbeat" => Input::Heartbeat(run),
        "start_failed" => Input::StartFailed(run, text(v, "error")?.to_owned()),
        "exited" => Input::Exited(run, reason(v)?),
        "evict" => Input::Evict(
            run,
            match reason(v)? {
                ExitReason::Memory => Eviction::Memory,
                ExitReason::Evicted(why) => Eviction::Monitor(why),
                ExitReason::Health => Eviction::Health,
                other => {
                    return Err(format!(
                        "an eviction's reason is `memory`, `health` or `evicted(..)`, not `{other}`"
                    ))
                }
            },
        ),
        "stale" => stale(run, text(v, "input")?)?,
        other => return Err(format!("`{other}` is not an input")),
    }))
}

/// A stale input of kind `kind`: the engine ignores it whatever it carries,
/// so the payload the line does not record is a placeholder.
fn stale(run: RunId, kind: &str) -> Result<Input, String> {
    Ok(match kind {
        "started" => Input::Started(run),
        "start_failed" => Input::StartFailed(run, String::new()),
        "ready" => Input::Ready(run),
        "heartbeat" => Input::Heartbeat(run),
        "exited" => Input::Exited(run, ExitReason::Killed),
        "evict" => Input::Evict(run, Eviction::Memory),
        other => return Err(format!("unknown stale input `{other}`")),
    })
}

/// The run a line names: its `path` (or `#index`) and `gen`.
pub(crate) fn run_of(engine: &Engine, v: &Value) -> Result<RunId, String> {
    let path = text(v, "path")?;
    let generation = v
        .get("gen")
        .and_then(Value::as_u64)
        .ok_or_else(|| "no `gen`".to_owned())?;
    let node = match path.strip_prefix('#').map(str::parse::<u32>) {
        Some(Ok(index)) => NodeId::from_index(index),
        Some(Err(_)) => return Err(format!("`{path}` is not a node index")),
        None => engine
            .lookup(path)
            .ok_or_else(|| format!("the replayed tree has no node `{path}`"))?,
    };
    Ok(RunId { node, generation })
}

/// An exit reason (`reason`), in the trace's spelling.
fn reason(v: &Value) -> Result<ExitReason, String> {
    let r = text(v, "reason")?;
    r.parse().map_err(|_| format!("`{r}` is not an exit reason"))
}

/// A string field.
pub(crate) fn text<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no `{key}` string"))
}
