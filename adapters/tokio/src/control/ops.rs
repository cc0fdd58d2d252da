//! The operations: each decoded request becomes engine requests through the
//! [`TreeHandle`](crate::TreeHandle) (or a registry update), and
//! its answer a reply line. Requests on one connection are answered in
//! order; `subscribe`, `call` and `shutdown` run beside the connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use vigil_core::{ChildInfo, Eviction, Reply, Request, RequestError, RestartAllMode};

use super::logs;

use super::protocol::{Envelope, Op, WireId};
use super::readout;
use super::reply::{self, Failure};
use super::run_feed::RunFeed;
use super::session::{Conn, Counted};
use super::shared::Shared;
use super::status;
use crate::message::Msg;
use crate::monitor::{evict_through, EvictBy, EvictError, EvictTarget};
use crate::report::RunnerReport;

/// Handle one request of connection `conn`.
pub(crate) async fn dispatch(shared: &Arc<Shared>, conn: &mut Conn, envelope: Envelope) {
    let Envelope { id, op } = envelope;
    let sup = &shared.sup;
    let line = match op {
        Op::Status {} => status_answer(shared, &id).await,
        Op::Tree {} => tree_answer(sup, &id).await,
        Op::WhichChildren { path } => query_answer(sup, &id, Request::WhichChildren { path }).await,
        Op::CountChildren { path } => query_answer(sup, &id, Request::CountChildren { path }).await,
        Op::Start { path } => engine(shared, &id, Request::RestartChild { path }).await,
        Op::Stop { path } => engine(shared, &id, Request::TerminateChild { path }).await,
        Op::Delete { path } => engine(shared, &id, Request::DeleteChild { path }).await,
        Op::Restart { path } => restart_answer(shared, &id, path).await,
        Op::RestartAll { path, rolling, surge } => restart_all_answer(shared, &id, path, rolling, surge).await,
        Op::Scale { path, count } => scale_answer(shared, &id, path, count).await,
        Op::Shutdown {} => shutdown_answer(sup, &id),
        Op::Subscribe { trace, runs } => {
            if runs && !shared.runs.is_attached() {
                reply::error(&id, &runs_unavailable())
            } else {
                subscribe(shared, conn, id, trace, runs);
                return;
            }
        }
        Op::Workers {} => reply::ok(&id, &shared.registry.list()),
        Op::Call {
            path,
            name,
            args,
            timeout_ms,
        } => {
            let timeout = timeout_ms.map_or(shared.options.call_timeout, Duration::from_millis);
            match call(shared, conn, id.clone(), &path, &name, &args, timeout) {
                Ok(()) => return,
                Err(f) => reply::error(&id, &f),
            }
        }
        Op::Metrics {} => metrics_answer(shared, &id).await,
        Op::Register { token, path } => register(shared, conn, &id, &token, path.as_deref()),
        Op::Ready { token } => report(shared, conn, &id, token.as_deref(), RunnerReport::Ready),
        Op::Heartbeat { token } => report(shared, conn, &id, token.as_deref(), RunnerReport::Heartbeat),
        Op::Publish { state, token } => {
            let r = (shared.registry)
                .resolve(token.as_deref(), conn.registered)
                .and_then(|run| shared.registry.publish(run, state));
            reply::result(&id, &r.map(|()| "ok"))
        }
        Op::Evict {
            path,
            generation,
            reason,
            token,
        } => evict(shared, conn, &id, token.as_deref(), path, generation, reason).await,
        Op::Answer {
            call,
            item,
            result,
            error,
        } => answer_call(shared, conn, &id, (call, item, result, error)).await,
        Op::Reload { dry_run } => reload_answer(shared, &id, dry_run).await,
        Op::StartChild {
            parent,
            snippet,
            source,
        } => start_child_answer(shared, &id, parent, snippet, source).await,
        Op::Logs { path, lines, follow } => {
            let lines = lines.unwrap_or(logs::DEFAULT_LINES);
            if !follow {
                logs::answer(shared, &id, &path, lines).await
            } else {
                match logs::follow(shared, conn, id.clone(), path, lines).await {
                    Ok(()) => return,
                    Err(f) => reply::error(&id, &f),
                }
            }
        }
        Op::StartTree {} => reply::result(&id, &super::start_tree::answer(shared).await),
        Op::Signal { path, signal, all } => super::signal_op::signal(sup, &id, &path, &signal, all).await,
        Op::ReloadChild { path } => super::signal_op::reload(sup, &id, &path).await,
    };
    // A client that went away only loses its own answer.
    let _ = conn.out.send(line).await;
}

/// `which_children` and `count_children`: the engine's answer as it is.
async fn query_answer(sup: &crate::TreeHandle, id: &Option<WireId>, request: Request) -> bytes::Bytes {
    let r = sup.request(request).await;
    reply::result(id, &r.map(reply_value).map_err(Failure::from))
}

/// `restart_all`: all at once or rolling (the engine's), or with `surge`
/// (the operator's).
async fn restart_all_answer(
    shared: &Arc<Shared>,
    id: &Option<WireId>,
    path: String,
    rolling: bool,
    surge: Option<u32>,
) -> bytes::Bytes {
    match surge {
        None => {
            let mode = [RestartAllMode::AllAtOnce, RestartAllMode::Rolling][usize::from(rolling)];
            engine(shared, id, Request::RestartAll { path, mode }).await
        }
        Some(surge) => surge_answer(shared, id, path, rolling, surge).await,
    }
}

/// `answer`: a registered worker's answer (or one streamed item) to a call.
async fn answer_call(
    shared: &Shared,
    conn: &Conn,
    id: &Option<WireId>,
    (call, item, result, error): (u64, Option<Value>, Option<Value>, Option<String>),
) -> bytes::Bytes {
    let r = match conn.registered {
        Some(run) => shared.registry.answer(run, call, item, result, error).await,
        None => Err(Failure::new("not_registered", "only a registered worker answers calls")),
    };
    reply::result(id, &r.map(|()| "ok"))
}

/// `reload`: the operator's reload (the program that runs the tree).
async fn reload_answer(shared: &Arc<Shared>, id: &Option<WireId>, dry_run: bool) -> bytes::Bytes {
    let r = match operator(shared) {
        Ok(o) => o.reload(dry_run).await.map_err(Failure::from),
        Err(f) => Err(f),
    };
    reply::result(id, &r)
}

/// `start_child`: the operator adds the child a config snippet describes.
async fn start_child_answer(
    shared: &Arc<Shared>,
    id: &Option<WireId>,
    parent: String,
    snippet: String,
    source: Option<String>,
) -> bytes::Bytes {
    let source = source.unwrap_or_else(|| "snippet".to_owned());
    let r = match operator(shared) {
        Ok(o) => o.start_child(parent, snippet, source).await.map_err(Failure::from),
        Err(f) => Err(f),
    };
    reply::result(id, &r)
}

/// `restart_all` with `surge`: the operator's surge restart of a template.
async fn surge_answer(
    shared: &Arc<Shared>,
    id: &Option<WireId>,
    path: String,
    rolling: bool,
    surge: u32,
) -> bytes::Bytes {
    let r = if !rolling {
        Err(Failure::new(
            "bad_request",
            "`surge` needs `rolling`: a surge restart is a rolling restart that starts each replacement first",
        ))
    } else if surge == 0 {
        Err(Failure::new(
            "bad_request",
            "`surge` must be at least 1 (extra replicas at a time)",
        ))
    } else {
        match operator(shared) {
            Ok(o) => o.surge_restart(path, surge).await.map_err(Failure::from),
            Err(f) => Err(f),
        }
    };
    reply::result(id, &r)
}

/// `scale`: the operator's scale of a template.
async fn scale_answer(shared: &Arc<Shared>, id: &Option<WireId>, path: String, count: u32) -> bytes::Bytes {
    let r = match operator(shared) {
        Ok(o) => o.scale(path, count).await.map_err(Failure::from),
        Err(f) => Err(f),
    };
    reply::result(id, &r)
}

/// The operator that carries out `reload`, `start_child`, `scale` and the
/// surge restart, or why they are refused: a server without one
/// ([`super::ControlServer::set_operator`]).
fn operator(shared: &Shared) -> Result<&Arc<dyn super::operator::Operator>, Failure> {
    shared.operator.get().ok_or_else(|| {
        Failure::new(
            "unavailable",
            "this server has no config to reload or read children from (an embedded tree: ControlServer::set_operator)",
        )
    })
}

/// `tree`: the whole tree, nested.
async fn tree_answer(sup: &crate::TreeHandle, id: &Option<WireId>) -> bytes::Bytes {
    #[derive(serde::Serialize)]
    struct TreeAnswer {
        children: Vec<status::TreeNode>,
    }
    let r = status::tree(sup).await.map(|children| TreeAnswer { children });
    reply::result(id, &r)
}

/// `restart`: stop the child, then start it again.
async fn restart_answer(shared: &Arc<Shared>, id: &Option<WireId>, path: String) -> bytes::Bytes {
    let stopped = shared.sup.request(Request::TerminateChild { path: path.clone() }).await;
    match stopped {
        Ok(_) => engine(shared, id, Request::RestartChild { path }).await,
        Err(e) => reply::error(id, &e.into()),
    }
}

/// Why `subscribe` with `runs` is refused by a server the tree was not given.
fn runs_unavailable() -> Failure {
    Failure::new(
        "unavailable",
        "this server was not given to the tree when it started (Tree::control), so it is told nothing about runs",
    )
}

/// `shutdown`: answered once the request is made; the tree, and this
/// server with it, then goes down in order.
fn shutdown_answer(sup: &crate::TreeHandle, id: &Option<WireId>) -> bytes::Bytes {
    if sup.is_down() {
        return reply::error(id, &RequestError::TreeDown.into());
    }
    let s = sup.clone();
    tokio::spawn(async move { s.shutdown().await });
    reply::ok(id, &"shutting_down")
}

/// `status`: every node of a fresh snapshot (control/readout.rs).
async fn status_answer(shared: &Shared, id: &Option<WireId>) -> bytes::Bytes {
    match readout::status_json(shared).await {
        Ok(json) => match serde_json::value::RawValue::from_string(String::from_utf8_lossy(&json).into_owned()) {
            Ok(raw) => reply::ok_sized(id, &raw, json.len() + 32),
            Err(e) => reply::error(id, &Failure::new("internal", e.to_string())),
        },
        Err(f) => reply::error(id, &f),
    }
}

/// `metrics`: the exposition of a fresh snapshot and the server's gauges.
async fn metrics_answer(shared: &Shared, id: &Option<WireId>) -> bytes::Bytes {
    reply::ok(id, &readout::metrics(shared).await)
}

/// `register`: this connection becomes the worker of `token`'s run.
fn register(shared: &Shared, conn: &mut Conn, id: &Option<WireId>, token: &str, path: Option<&str>) -> bytes::Bytes {
    // One run per connection: another run's registration would outlive
    // this connection's bookkeeping.
    let other_run = conn
        .registered
        .filter(|r| shared.registry.resolve(Some(token), None).is_ok_and(|run| run != *r));
    let r = match other_run {
        Some(_) => Err(Failure::new(
            "already_registered",
            "this connection is registered for another run; use one connection per run",
        )),
        None => shared.registry.register(token, path, conn.id, conn.out.clone()),
    };
    match r {
        Ok((run, path)) => {
            conn.registered = Some(run);
            reply::ok(id, &json!({ "path": &*path, "generation": run.generation }))
        }
        Err(f) => reply::error(id, &f),
    }
}

/// An engine request whose reply is the answer.
async fn engine(shared: &Shared, id: &Option<WireId>, request: Request) -> bytes::Bytes {
    let r = shared.sup.request(request).await;
    reply::result(id, &r.map(reply_value).map_err(Failure::from))
}

/// An engine reply as JSON.
fn reply_value(r: Reply) -> Value {
    match r {
        Reply::Ok => json!("ok"),
        Reply::Started { run, .. } => json!({ "started": true, "generation": run.map(|r| r.generation) }),
        Reply::Children(children) => Value::Array(children.iter().map(child_value).collect()),
        Reply::Counts(c) => json!({
            "specs": c.specs,
            "active": c.active,
            "supervisors": c.supervisors,
            "workers": c.workers,
        }),
        Reply::Pending(_) => json!("pending"),
    }
}

fn child_value(c: &ChildInfo) -> Value {
    json!({
        "name": c.name,
        "kind": if c.supervisor { "supervisor" } else { "worker" },
        "state": c.state.as_str(),
        "generation": c.generation,
        "dynamic": c.dynamic,
    })
}

/// `ready` / `heartbeat`: a report for the worker's run, as from its runner.
fn report(
    shared: &Shared,
    conn: &Conn,
    id: &Option<WireId>,
    token: Option<&str>,
    report: RunnerReport,
) -> bytes::Bytes {
    match shared.registry.resolve(token, conn.registered) {
        Ok(run) => {
            shared.registry.note(run, report == RunnerReport::Ready);
            shared.sup.report(run, report);
            reply::ok(id, &"ok")
        }
        Err(f) => reply::error(id, &f),
    }
}

/// `evict`: a worker of this tree (an external monitor) asks the engine to
/// restart a run; answered with the engine's verdict.
async fn evict(
    shared: &Shared,
    conn: &Conn,
    id: &Option<WireId>,
    token: Option<&str>,
    path: String,
    generation: u64,
    reason: String,
) -> bytes::Bytes {
    let by = match shared.registry.resolve(token, conn.registered) {
        Ok(run) => run,
        Err(f) => return reply::error(id, &f),
    };
    let target = EvictTarget::Path {
        path: path.clone(),
        generation,
    };
    let forward = |m| shared.sup.tx.send(Msg::Evict(Box::new(m))).is_ok();
    let answer = evict_through(&forward, target, Eviction::Monitor(reason), EvictBy::Worker(by)).await;
    match answer {
        Ok(run) => reply::ok(id, &json!({ "path": path, "generation": run.generation })),
        Err(e) => {
            let code = match &e {
                EvictError::NotFound { .. } => "not_found",
                EvictError::NotAWorker { .. } => "not_a_worker",
                EvictError::Stale { .. } => "stale",
                _ => "tree_down",
            };
            let message = match &e {
                EvictError::Stale { .. } => format!("`{path}`: {e}"),
                _ => e.to_string(),
            };
            reply::error(id, &Failure::new(code, message))
        }
    }
}

/// `subscribe`: acknowledge, then every trace line (with `trace`) and every
/// run registered and removed (with `runs`, after the live runs) as items,
/// until the tree is down (then `end`), the client stops reading, or it is
/// gone.
fn subscribe(shared: &Shared, conn: &Conn, id: Option<WireId>, trace: bool, runs: bool) {
    let mut lines = trace.then(|| shared.sup.trace());
    let first = if runs { shared.runs.subscribe() } else { None };
    let source = Arc::clone(&shared.runs);
    let sup = shared.sup.clone();
    let out = conn.out.clone();
    let gone = conn.gone.clone();
    let running = Counted::new(&conn.streams);
    tokio::spawn(async move {
        let _running = running;
        let stream = async {
            if out.send(reply::ok(&id, &"subscribed")).await.is_err() {
                return;
            }
            let mut feed = None;
            if let Some((snapshot, rx)) = first {
                if out.send(reply::raw_item(&id, &snapshot)).await.is_err() {
                    return;
                }
                feed = Some(rx);
            }
            let mut down = false;
            while lines.is_some() || feed.is_some() {
                let item = tokio::select! {
                    biased;
                    item = next_trace_item(&mut lines, down) => item,
                    item = next_run_item(&mut feed, &source) => item,
                    _ = sup.wait(), if !down => {
                        down = true;
                        None
                    }
                };
                let line = match item {
                    Some(StreamItem::Line(l)) => reply::raw_item(&id, &l),
                    Some(StreamItem::Lagged(n)) => reply::item(&id, &json!({ "lagged": n })),
                    None => continue,
                };
                if out.send(line).await.is_err() {
                    return;
                }
            }
            let _ = out.send(reply::end(&id)).await;
        };
        tokio::select! {
            _ = stream => {}
            _ = gone.cancelled() => {}
        }
    });
}

/// One item of a subscription.
enum StreamItem {
    Line(Arc<str>),
    Lagged(u64),
}

/// The next trace line; once the tree is down, only what is already
/// buffered, then the trace stream is over (`lines` becomes `None`).
async fn next_trace_item(lines: &mut Option<broadcast::Receiver<Arc<str>>>, down: bool) -> Option<StreamItem> {
    let Some(rx) = lines else {
        return std::future::pending().await;
    };
    let got = if down {
        rx.try_recv().map_err(|e| match e {
            TryRecvError::Lagged(n) => RecvError::Lagged(n),
            TryRecvError::Empty | TryRecvError::Closed => RecvError::Closed,
        })
    } else {
        rx.recv().await
    };
    match got {
        Ok(l) => Some(StreamItem::Line(l)),
        Err(RecvError::Lagged(n)) => Some(StreamItem::Lagged(n)),
        Err(RecvError::Closed) => {
            *lines = None;
            None
        }
    }
}

/// The next run registered or removed. A subscriber that fell behind gets
/// the live runs anew instead of what it missed; the runs stream is over
/// (`feed` becomes `None`) once the tree is down and every remove is sent.
async fn next_run_item(feed: &mut Option<broadcast::Receiver<Arc<str>>>, source: &RunFeed) -> Option<StreamItem> {
    let Some(rx) = feed else {
        return std::future::pending().await;
    };
    let got = rx.recv().await;
    match got {
        Ok(l) => Some(StreamItem::Line(l)),
        Err(RecvError::Lagged(_)) => {
            let again = source.subscribe();
            let snapshot = again.as_ref().map(|(line, _)| Arc::clone(line));
            *feed = again.map(|(_, rx)| rx);
            snapshot.map(StreamItem::Line)
        }
        Err(RecvError::Closed) => {
            *feed = None;
            None
        }
    }
}

/// `call`: forward to the worker; its items reach the caller directly, its
/// final answer (or a timeout) through this task. Refused (the caller
/// answers with the error) over the caps on calls in flight. The call is
/// cancelled and forgotten when the caller is gone.
fn call(
    shared: &Shared,
    conn: &Conn,
    id: Option<WireId>,
    path: &str,
    name: &str,
    args: &Value,
    timeout: Duration,
) -> Result<(), Failure> {
    let per_conn = shared.options.max_calls_per_connection;
    if conn.calls.load(Ordering::SeqCst) >= per_conn {
        return Err(Failure::new(
            "too_many_calls",
            format!("this connection has {per_conn} calls in flight, its maximum; wait for an answer first"),
        ));
    }
    let ticket = shared
        .registry
        .start_call(path, conn.out.clone(), id.clone(), shared.options.max_calls)?;
    let registry = Arc::clone(&shared.registry);
    let out = conn.out.clone();
    let gone = conn.gone.clone();
    let forwarded = reply::forward(ticket.call, name, args);
    let path = path.to_owned();
    let counted = (Counted::new(&conn.calls), Counted::new(&conn.streams));
    tokio::spawn(async move {
        let _counted = counted;
        let call = ticket.call;
        let worker_gone = |why: &str| Failure::new("worker_gone", format!("the worker at `{path}` {why}"));
        // The timeout covers the forwarding too: a worker that does not read
        // its socket must not hold the call for ever.
        let exchange = async {
            if ticket.worker.send(forwarded).await.is_err() {
                return Err(worker_gone("disconnected"));
            }
            ticket.done.await.unwrap_or_else(|_| Err(worker_gone("is gone")))
        };
        let answer = tokio::select! {
            r = tokio::time::timeout(timeout, exchange) => r,
            _ = gone.cancelled() => {
                // Nobody waits for the answer any more.
                registry.cancel_call(call);
                return;
            }
        };
        let answer = answer.unwrap_or_else(|_| {
            Err(Failure::new(
                "timeout",
                format!("the worker at `{path}` did not answer within {timeout:?}"),
            ))
        });
        if answer.is_err() {
            registry.cancel_call(call);
        }
        let _ = out.send(reply::result(&id, &answer)).await;
    });
    Ok(())
}
