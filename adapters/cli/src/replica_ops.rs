//! What `vigil run` does to the replicas of a template (`count`,
//! docs/CONFIG.md "replicas") on the running tree: bring them to a count
//! (`vigil ctl scale`, and a reload that changed `count`), replace them in
//! place (a reload that changed the template), and the surge restart
//! (`vigil ctl restart-all --rolling --surge K`).
//!
//! Replicas are found in the running tree by name (`web-0`, `web-1`… among
//! the children of the template's supervisor). New replicas are started at
//! the end of the supervisor's start order (OTP's simple_one_for_one
//! appends too); scaling down stops and deletes the highest indices first,
//! each with its own `shutdown`.
//!
//! A surge restart keeps every replica's name: for replica `web-i` it starts
//! a copy, `web-i~surge` (the same command, `VIGIL_REPLICA=i`), waits until
//! the copy is up (started, and ready per its readiness), restarts `web-i`
//! itself (stop, start, wait until up), and only then stops and deletes the
//! copy. At most `surge` copies run at a time; each replica's new program
//! starts twice, the price of stable names (logs, `ctl status`, `{replica}`
//! stay those of `web-i`). The first failure stops the roll.

use serde_json::{json, Value};
use tokio::task::JoinSet;
use vigil_config::ReplicaTemplate;
use vigil_core::{ChildState, Reply, Request, RequestError};
use vigil_tokio::{OutputMode, ProcessSpec, TreeHandle};

/// The suffix of a replica's surge copy (`web-0~surge`).
pub(crate) const SURGE_SUFFIX: &str = "~surge";

/// What was done to a template's replicas, by path.
#[derive(Debug, Default)]
pub(crate) struct ReplicaChange {
    pub started: Vec<String>,
    pub stopped: Vec<String>,
    pub replaced: Vec<String>,
    /// The replica whose step failed, and why (the work stops there).
    pub failed: Option<(String, RequestError)>,
}

impl ReplicaChange {
    /// As the `scale` operation answers it (docs/PROTOCOL.md, "Replicas").
    pub fn to_json(&self, t: &ReplicaTemplate, count: u32) -> Value {
        let failed: Vec<Value> = self
            .failed
            .iter()
            .map(|(p, e)| json!({ "path": p, "error": e.to_string() }))
            .collect();
        json!({
            "template": t.path,
            "count": count,
            "started": self.started,
            "stopped": self.stopped,
            "replaced": self.replaced,
            "failed": failed,
        })
    }
}

/// The replicas of `t` the running tree has: (index, state), by index.
pub(crate) async fn present(sup: &TreeHandle, t: &ReplicaTemplate) -> Result<Vec<(u32, ChildState)>, RequestError> {
    let reply = sup
        .request(Request::WhichChildren {
            path: t.parent().to_owned(),
        })
        .await?;
    let Reply::Children(children) = reply else {
        return Ok(Vec::new());
    };
    let mut out: Vec<(u32, ChildState)> = children
        .iter()
        .filter_map(|c| t.index_of(&c.name).map(|i| (i, c.state)))
        .collect();
    out.sort_unstable_by_key(|(i, _)| *i);
    Ok(out)
}

/// Replica `index` of `t` (or its surge copy) as a spec and its process.
fn replica(
    t: &ReplicaTemplate,
    index: u32,
    copy: bool,
    output: &OutputMode,
) -> Result<(vigil_core::ChildSpec, [ProcessSpec; 1]), RequestError> {
    let (mut spec, worker) = t.replica(index, 0).map_err(|e| RequestError::StartFailed {
        path: t.replica_path(index),
        error: e.to_string(),
    })?;
    if copy {
        spec.name.push_str(SURGE_SUFFIX);
    }
    Ok((spec, [ProcessSpec::from_worker(&worker, output)]))
}

/// A path below the template's supervisor.
fn path_of(t: &ReplicaTemplate, name: &str) -> String {
    match t.parent() {
        "" => name.to_owned(),
        parent => format!("{parent}/{name}"),
    }
}

/// Stop and delete the child at `path` (one already gone is fine).
async fn remove(sup: &TreeHandle, path: &str) -> Result<(), RequestError> {
    let gone = |r: Result<Reply, RequestError>| match r {
        Ok(_) | Err(RequestError::NotFound(_)) => Ok(()),
        Err(e) => Err(e),
    };
    gone(sup.request(Request::TerminateChild { path: path.to_owned() }).await)?;
    gone(sup.request(Request::DeleteChild { path: path.to_owned() }).await)
}

/// Bring the replicas of `t` to `count`: stop and delete those at `count`
/// or above, highest first; with `replace`, give each remaining one `t`'s
/// spec in place (stop, new spec, start), lowest first; then start the
/// missing ones below `count`, lowest first. Stops at the first failure.
pub(crate) async fn reconcile(
    sup: &TreeHandle,
    t: &ReplicaTemplate,
    count: u32,
    replace: bool,
    output: &OutputMode,
) -> ReplicaChange {
    let mut change = ReplicaChange::default();
    let have = match present(sup, t).await {
        Ok(h) => h,
        Err(e) => {
            change.failed = Some((t.path.clone(), e));
            return change;
        }
    };
    for &(i, _) in have.iter().rev().filter(|(i, _)| *i >= count) {
        let path = t.replica_path(i);
        match remove(sup, &path).await {
            Ok(()) => change.stopped.push(path),
            Err(e) => {
                change.failed = Some((path, e));
                return change;
            }
        }
    }
    if replace {
        for &(i, _) in have.iter().filter(|(i, _)| *i < count) {
            let path = t.replica_path(i);
            match replace_one(sup, t, i, output).await {
                Ok(()) => change.replaced.push(path),
                Err(e) => {
                    change.failed = Some((path, e));
                    return change;
                }
            }
        }
    }
    for i in (0..count).filter(|i| !have.iter().any(|(h, _)| h == i)) {
        let path = t.replica_path(i);
        let started = match replica(t, i, false, output) {
            Ok((spec, processes)) => sup.start_processes(t.parent(), spec, &processes).await,
            Err(e) => Err(e),
        };
        match started {
            Ok(_) => change.started.push(path),
            Err(e) => {
                change.failed = Some((path, e));
                return change;
            }
        }
    }
    change
}

/// Give replica `i` the spec of `t` in place: stop it, replace, start.
async fn replace_one(sup: &TreeHandle, t: &ReplicaTemplate, i: u32, output: &OutputMode) -> Result<(), RequestError> {
    let path = t.replica_path(i);
    let (spec, processes) = replica(t, i, false, output)?;
    sup.request(Request::TerminateChild { path: path.clone() }).await?;
    sup.replace_processes(&path, spec, &processes).await?;
    sup.request(Request::RestartChild { path }).await.map(drop)
}

/// The answer of `scale`, for people (docs/PROTOCOL.md, "Replicas").
pub(crate) fn render_scale(v: &Value) -> String {
    let list = |key: &str| -> String {
        let items: Vec<&str> = v[key]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        if items.is_empty() {
            "none".to_owned()
        } else {
            items.join(", ")
        }
    };
    let mut out = format!(
        "scaled {} to {}: started {}; stopped {}\n",
        v["template"].as_str().unwrap_or("?"),
        v["count"],
        list("started"),
        list("stopped")
    );
    for f in v["failed"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "failed: {}: {}\n",
            f["path"].as_str().unwrap_or("?"),
            f["error"].as_str().unwrap_or("?")
        ));
    }
    out
}

/// Why a surge restart stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SurgeError {
    /// A replacement did not come up: the replica still runs its old run.
    #[error(
        "the replacement of `{replica}` failed: {error}; `{replica}` keeps its old run; \
         the roll stopped (rolled so far: {})",
        list(rolled)
    )]
    Copy {
        replica: String,
        error: RequestError,
        rolled: Vec<String>,
    },
    /// The replica itself did not come up again after its copy took over:
    /// the copy keeps running in its place.
    #[error(
        "`{replica}` failed to start again after its copy took over: {error}; `{copy}` keeps running in its \
         place (stop and delete it once `{replica}` runs); the roll stopped (rolled so far: {})",
        list(rolled)
    )]
    Restart {
        replica: String,
        copy: String,
        error: RequestError,
        rolled: Vec<String>,
    },
    /// The tree could not be read, or a copy could not be removed.
    #[error("{0}")]
    Tree(RequestError),
}

fn list(paths: &[String]) -> String {
    if paths.is_empty() {
        "none".to_owned()
    } else {
        paths.join(", ")
    }
}

/// The surge restart of every running replica of `t`, at most `surge` at
/// a time (see the module documentation); the paths rolled.
pub(crate) async fn surge_restart(
    sup: &TreeHandle,
    t: &ReplicaTemplate,
    surge: u32,
    output: &OutputMode,
) -> Result<Vec<String>, SurgeError> {
    let running: Vec<u32> = present(sup, t)
        .await
        .map_err(SurgeError::Tree)?
        .into_iter()
        .filter(|(_, s)| *s == ChildState::Running)
        .map(|(i, _)| i)
        .collect();
    let mut rolled = Vec::new();
    let group = usize::try_from(surge).unwrap_or(usize::MAX).max(1);
    for chunk in running.chunks(group) {
        let copies = start_copies(sup, t, chunk, output).await;
        if let Some((i, error)) = copies
            .iter()
            .find_map(|(i, r)| r.as_ref().err().map(|e| (*i, e.clone())))
        {
            // Roll back the copies that came up: the old runs stay.
            for (c, _) in copies.iter().filter(|(_, r)| r.is_ok()) {
                remove(sup, &copy_path(t, *c)).await.map_err(SurgeError::Tree)?;
            }
            return Err(SurgeError::Copy {
                replica: t.replica_path(i),
                error,
                rolled,
            });
        }
        for &i in chunk {
            let path = t.replica_path(i);
            let again = match sup.request(Request::TerminateChild { path: path.clone() }).await {
                Ok(_) => sup.request(Request::RestartChild { path: path.clone() }).await,
                Err(e) => Err(e),
            };
            if let Err(error) = again {
                return Err(SurgeError::Restart {
                    replica: path,
                    copy: copy_path(t, i),
                    error,
                    rolled,
                });
            }
            remove(sup, &copy_path(t, i)).await.map_err(SurgeError::Tree)?;
            rolled.push(path);
        }
    }
    Ok(rolled)
}

fn copy_path(t: &ReplicaTemplate, i: u32) -> String {
    path_of(t, &format!("{}{SURGE_SUFFIX}", t.replica_name(i)))
}

/// Start the copies of the replicas `chunk` at once; each one's result
/// (up, or why not), by index.
async fn start_copies(
    sup: &TreeHandle,
    t: &ReplicaTemplate,
    chunk: &[u32],
    output: &OutputMode,
) -> Vec<(u32, Result<(), RequestError>)> {
    let mut set = JoinSet::new();
    for &i in chunk {
        let (sup, parent) = (sup.clone(), t.parent().to_owned());
        let made = replica(t, i, true, output);
        set.spawn(async move {
            let r = match made {
                Ok((spec, processes)) => sup.start_processes(&parent, spec, &processes).await.map(drop),
                Err(e) => Err(e),
            };
            (i, r)
        });
    }
    let mut out = Vec::with_capacity(chunk.len());
    while let Some(joined) = set.join_next().await {
        // A start task does not panic; if it did, its copy is unknown: say so.
        out.push(joined.unwrap_or_else(|e| {
            (
                u32::MAX,
                Err(RequestError::StartFailed {
                    path: t.path.clone(),
                    error: format!("the start task failed: {e}"),
                }),
            )
        }));
    }
    out.sort_unstable_by_key(|(i, _)| *i);
    out
}

/// The template at `path` in `cfg`, or an error that says what `path` is
/// instead (a replica, a supervisor with templates, nothing).
pub(crate) fn find_template<'c>(
    cfg: &'c vigil_config::TreeConfig,
    path: &str,
) -> Result<&'c ReplicaTemplate, vigil_tokio::control::OperatorError> {
    if let Some(t) = cfg.templates.iter().find(|t| t.path == path) {
        return Ok(t);
    }
    let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
    let of = cfg
        .templates
        .iter()
        .find(|t| t.parent() == parent && t.index_of(name.trim_end_matches(SURGE_SUFFIX)).is_some());
    let under: Vec<&str> = cfg
        .templates
        .iter()
        .filter(|t| t.parent() == path)
        .map(|t| t.path.as_str())
        .collect();
    let message = match of {
        Some(t) => format!("`{path}` is a replica of `{}`: name the template, `{}`", t.path, t.path),
        None if !under.is_empty() => format!(
            "{} is a supervisor, not a replica template; the templates under it: {}",
            if path.is_empty() {
                "the root".to_owned()
            } else {
                format!("`{path}`")
            },
            under.join(", ")
        ),
        None => {
            let all: Vec<&str> = cfg.templates.iter().map(|t| t.path.as_str()).collect();
            if all.is_empty() {
                format!("no replica template at `{path}`: the config has none (give a worker `count = N`)")
            } else {
                format!("no replica template at `{path}` (templates: {})", all.join(", "))
            }
        }
    };
    Err(vigil_tokio::control::OperatorError::new("not_found", message))
}
