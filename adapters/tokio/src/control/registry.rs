//! Registered workers: who they are (by their run's token), what state they
//! published, and the operations forwarded to them and not yet answered.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Map, Value};
use tokio::sync::{mpsc, oneshot};
use vigil_core::RunId;

use super::protocol::WireId;
use super::reply::{self, Failure};
use super::token::{RunTokens, TokenFate};

/// Where a connection's outgoing lines go (its writer task).
pub(crate) type Outbox = mpsc::Sender<Bytes>;

/// The workers registered through the control socket, by run.
#[derive(Debug)]
pub(crate) struct Registry {
    tokens: Arc<RunTokens>,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    workers: HashMap<RunId, Worker>,
    by_path: HashMap<Arc<str>, RunId>,
    calls: HashMap<u64, PendingCall>,
    next_call: u64,
}

#[derive(Debug)]
struct Worker {
    path: Arc<str>,
    /// The connection it registered on.
    conn: u64,
    out: Outbox,
    state: Map<String, Value>,
    ready: bool,
    heartbeats: u64,
}

/// A call forwarded to a worker, waiting for its final answer.
#[derive(Debug)]
struct PendingCall {
    run: RunId,
    caller: Outbox,
    id: Option<WireId>,
    done: oneshot::Sender<Result<Value, Failure>>,
}

/// A registered worker as `workers` and `status` show it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct WorkerInfo {
    pub(crate) path: String,
    pub(crate) generation: u64,
    pub(crate) ready: bool,
    pub(crate) heartbeats: u64,
    pub(crate) state: Map<String, Value>,
}

/// A forwarded call, on its way to the worker.
pub(crate) struct CallTicket {
    pub(crate) call: u64,
    pub(crate) worker: Outbox,
    pub(crate) done: oneshot::Receiver<Result<Value, Failure>>,
}

/// The refusal of a token that is no live run's, saying what it is.
fn bad_token(tokens: &RunTokens, token: &str) -> Failure {
    let message = match tokens.fate(token) {
        TokenFate::Ended(path, generation) => format!(
            "the token of run {generation} of `{path}` is no longer valid: that run has ended (each run has its \
             own token, in its VIGIL_TOKEN)"
        ),
        _ => "the token is no run's: it was never issued, or its run ended long ago (each run has its own \
              token, in its VIGIL_TOKEN)"
            .to_owned(),
    };
    Failure::new("bad_token", message)
}

fn gone(path: &str) -> Failure {
    Failure::new(
        "worker_gone",
        format!("the worker at `{path}` ended or disconnected before answering"),
    )
}

impl Registry {
    pub(crate) fn new(tokens: Arc<RunTokens>) -> Self {
        Registry {
            tokens,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Register the connection `conn` as the worker of `token`'s run (a
    /// second registration of the same run replaces the first). With
    /// `claimed`, the token's path must be that path.
    pub(crate) fn register(
        &self,
        token: &str,
        claimed: Option<&str>,
        conn: u64,
        out: Outbox,
    ) -> Result<(RunId, Arc<str>), Failure> {
        let (run, path) = self
            .tokens
            .lookup(token)
            .ok_or_else(|| bad_token(&self.tokens, token))?;
        if let Some(claimed) = claimed.filter(|c| *c != &*path) {
            return Err(Failure::new(
                "bad_token",
                format!(
                    "the token belongs to run {} of `{path}`, not to `{claimed}`",
                    run.generation
                ),
            ));
        }
        let mut inner = self.lock();
        if let Some(old) = inner.by_path.insert(Arc::clone(&path), run) {
            if old != run {
                remove_worker(&mut inner, old);
            }
        }
        let previous = inner.workers.insert(
            run,
            Worker {
                path: Arc::clone(&path),
                conn,
                out,
                state: Map::new(),
                ready: false,
                heartbeats: 0,
            },
        );
        if let Some(p) = previous {
            // Re-registration: keep what it published.
            if let Some(w) = inner.workers.get_mut(&run) {
                w.state = p.state;
                w.ready = p.ready;
                w.heartbeats = p.heartbeats;
            }
        }
        Ok((run, path))
    }

    /// The run a worker request is about: its token's, or else the run this
    /// connection registered for (if that run is still live).
    pub(crate) fn resolve(&self, token: Option<&str>, registered: Option<RunId>) -> Result<RunId, Failure> {
        match (token, registered) {
            (Some(t), _) => self
                .tokens
                .lookup(t)
                .map(|(run, _)| run)
                .ok_or_else(|| bad_token(&self.tokens, t)),
            (None, Some(run)) if self.tokens.is_live(run) => Ok(run),
            (None, Some(run)) => Err(Failure::new(
                "bad_token",
                format!(
                    "this connection registered for run {} of `{}`, which has ended; the next run registers \
                     with its own token",
                    run.generation,
                    self.path_of(run)
                ),
            )),
            (None, None) => Err(Failure::new(
                "not_registered",
                "register first, or give the run's `token`",
            )),
        }
    }

    /// The path of an ended run registered on some connection (its token
    /// is remembered for a while), or `?`.
    fn path_of(&self, run: RunId) -> String {
        self.tokens
            .ended_path(run)
            .map_or_else(|| "?".to_owned(), |p| p.to_string())
    }

    /// Note a worker's ready / heartbeat (for `workers`).
    pub(crate) fn note(&self, run: RunId, ready: bool) {
        if let Some(w) = self.lock().workers.get_mut(&run) {
            if ready {
                w.ready = true;
            } else {
                w.heartbeats += 1;
            }
        }
    }

    /// Replace a registered worker's published state.
    pub(crate) fn publish(&self, run: RunId, state: Map<String, Value>) -> Result<(), Failure> {
        match self.lock().workers.get_mut(&run) {
            Some(w) => {
                w.state = state;
                Ok(())
            }
            None => Err(Failure::new(
                "not_registered",
                "only a registered worker can publish state",
            )),
        }
    }

    /// The connection `conn` closed: end its registration (if still its).
    pub(crate) fn disconnected(&self, run: RunId, conn: u64) {
        let mut inner = self.lock();
        if inner.workers.get(&run).is_some_and(|w| w.conn == conn) {
            remove_worker(&mut inner, run);
        }
    }

    /// Run `generation` of the worker at `path` ended (as an event names
    /// it): its registration ends with it. Found through the path's current
    /// registration; a run whose path is registered again already (its exit
    /// was read late) is looked for among all.
    pub(crate) fn end_run(&self, path: &str, generation: u64) {
        let mut inner = self.lock();
        let run = match inner.by_path.get(path) {
            Some(r) if r.generation == generation => Some(*r),
            _ => inner.workers.keys().copied().find(|r| r.generation == generation),
        };
        if let Some(run) = run {
            remove_worker(&mut inner, run);
        }
    }

    /// Drop registrations whose run is no longer live (after missed events).
    pub(crate) fn sweep(&self) {
        let mut inner = self.lock();
        let dead: Vec<RunId> = inner
            .workers
            .keys()
            .copied()
            .filter(|r| !self.tokens.is_live(*r))
            .collect();
        for run in dead {
            remove_worker(&mut inner, run);
        }
    }

    /// Every registered worker, sorted by path.
    pub(crate) fn list(&self) -> Vec<WorkerInfo> {
        let inner = self.lock();
        let mut list: Vec<WorkerInfo> = inner
            .workers
            .iter()
            .map(|(run, w)| WorkerInfo {
                path: w.path.to_string(),
                generation: run.generation,
                ready: w.ready,
                heartbeats: w.heartbeats,
                state: w.state.clone(),
            })
            .collect();
        list.sort_by(|a, b| a.path.cmp(&b.path));
        list
    }

    /// The registered worker at `path`, if any.
    pub(crate) fn worker_at(&self, path: &str) -> Option<WorkerInfo> {
        let inner = self.lock();
        let run = inner.by_path.get(path)?;
        inner.workers.get(run).map(|w| WorkerInfo {
            path: w.path.to_string(),
            generation: run.generation,
            ready: w.ready,
            heartbeats: w.heartbeats,
            state: w.state.clone(),
        })
    }

    /// Calls forwarded and not answered (nor timed out, nor cancelled) yet.
    pub(crate) fn calls_in_flight(&self) -> usize {
        self.lock().calls.len()
    }

    /// Number of registered workers.
    pub(crate) fn len(&self) -> usize {
        self.lock().workers.len()
    }

    /// Start forwarding a call to the worker at `path`; its items go straight
    /// to `caller` tagged with `id`, its final answer to the ticket.
    /// At most `max` calls wait at once (`too_many_calls` beyond).
    pub(crate) fn start_call(
        &self,
        path: &str,
        caller: Outbox,
        id: Option<WireId>,
        max: usize,
    ) -> Result<CallTicket, Failure> {
        let mut inner = self.lock();
        if inner.calls.len() >= max {
            return Err(Failure::new(
                "too_many_calls",
                format!("{max} calls are in flight, the server's maximum (max_calls); try again later"),
            ));
        }
        let run = *inner
            .by_path
            .get(path)
            .ok_or_else(|| Failure::new("no_worker", format!("no worker is registered at `{path}`")))?;
        let worker = inner
            .workers
            .get(&run)
            .map(|w| w.out.clone())
            .ok_or_else(|| gone(path))?;
        inner.next_call += 1;
        let call = inner.next_call;
        let (done, rx) = oneshot::channel();
        inner.calls.insert(call, PendingCall { run, caller, id, done });
        Ok(CallTicket { call, worker, done: rx })
    }

    /// Forget a call (it timed out, or could not be sent).
    pub(crate) fn cancel_call(&self, call: u64) {
        self.lock().calls.remove(&call);
    }

    /// A worker of `run` answers call `call`.
    pub(crate) async fn answer(
        &self,
        run: RunId,
        call: u64,
        item: Option<Value>,
        result: Option<Value>,
        error: Option<String>,
    ) -> Result<(), Failure> {
        let unknown = || Failure::new("unknown_call", format!("no call {call} is waiting for this worker"));
        let finals = usize::from(result.is_some()) + usize::from(error.is_some());
        if finals + usize::from(item.is_some()) != 1 {
            return Err(Failure::new(
                "bad_request",
                "an answer has exactly one of `item`, `result` or `error`",
            ));
        }
        if let Some(item) = item {
            let (caller, id) = {
                let inner = self.lock();
                let c = inner.calls.get(&call).filter(|c| c.run == run).ok_or_else(unknown)?;
                (c.caller.clone(), c.id.clone())
            };
            // A vanished caller is no error of the worker's.
            let _ = caller.send(reply::item(&id, &item)).await;
            return Ok(());
        }
        let pending = {
            let mut inner = self.lock();
            if inner.calls.get(&call).is_none_or(|c| c.run != run) {
                return Err(unknown());
            }
            inner.calls.remove(&call).ok_or_else(unknown)?
        };
        let answer = match (result, error) {
            (Some(v), _) => Ok(v),
            (None, e) => Err(Failure::new("worker_error", e.unwrap_or_default())),
        };
        let _ = pending.done.send(answer);
        Ok(())
    }
}

/// Remove `run`'s worker and fail the calls waiting for it.
fn remove_worker(inner: &mut Inner, run: RunId) {
    let Some(w) = inner.workers.remove(&run) else {
        return;
    };
    if inner.by_path.get(&w.path) == Some(&run) {
        inner.by_path.remove(&w.path);
    }
    let calls: Vec<u64> = inner
        .calls
        .iter()
        .filter(|(_, c)| c.run == run)
        .map(|(k, _)| *k)
        .collect();
    for k in calls {
        if let Some(c) = inner.calls.remove(&k) {
            let _ = c.done.send(Err(gone(&w.path)));
        }
    }
}
