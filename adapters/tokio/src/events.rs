//! What a listener of a running tree sees: typed events ([`TreeEvent`]),
//! and the stream of them ([`Events`]) that ends when the tree is down.
//!
//! An event names nodes by path, never by the engine's ids: everything a
//! listener needs is in it, resolved when it happened.

use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::ReusableBoxFuture;
use vigil_core::{
    ChildCounts, Engine, ExitReason, InputKind, Instant, Notice, Outcome, Reply, RequestError, RequestId, RequestOp,
    Strategy,
};

/// One thing that happened in the tree: when, the path of the node it is
/// about (resolved when it happened), and what.
///
/// ```
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::{EventKind, Tree};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tree = Tree::new(SupervisorSpec::new())
///     .task(ChildSpec::worker("db"), |ctx| async move {
///         ctx.stopped().await;
///         Ok::<(), String>(())
///     })
///     .start()
///     .expect("a valid tree");
/// let mut events = tree.events();
/// tree.shutdown().await;
/// let mut exits = Vec::new();
/// while let Some(event) = events.recv().await {
///     let event = event.expect("this listener keeps up");
///     if let EventKind::Exited { reason, .. } = event.kind {
///         exits.push((event.path, reason.to_string()));
///     }
/// }
/// assert_eq!(exits, [("db".to_owned(), "shutdown".to_owned())]);
/// # });
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct TreeEvent {
    /// When it happened: the tree's own clock (nanoseconds since the tree
    /// started, on tokio's clock), as in the trace's `t`.
    pub time: Instant,
    /// The path of the node it is about: the worker of a run, the
    /// supervisor that decided, the child that was removed; the path the
    /// request names for [`EventKind::Request`] and [`EventKind::Reply`];
    /// `""` for the root and for [`EventKind::TreeDown`].
    pub path: String,
    /// What happened.
    pub kind: EventKind,
}

/// What happened, one variant for each notice of the engine
/// ([`vigil_core::Notice`]), with the paths resolved. Runs are named by the
/// event's path and their `generation` (which never repeats in a tree).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum EventKind {
    /// A new run of the worker is starting.
    #[non_exhaustive]
    Spawn {
        /// The new run.
        generation: u64,
    },
    /// The run is asked to stop (`Stop`: a task's [`RunContext::stopped`](crate::RunContext::stopped)
    /// fires, a process gets SIGTERM); its shutdown policy counts from now.
    #[non_exhaustive]
    Stop {
        /// The run.
        generation: u64,
    },
    /// The run is killed: at its shutdown deadline, for a `brutal` shutdown,
    /// for a missed deadline, or by [`TreeHandle::kill_all`](crate::TreeHandle::kill_all).
    #[non_exhaustive]
    Kill {
        /// The run.
        generation: u64,
    },
    /// The run is up.
    #[non_exhaustive]
    Started {
        /// The run.
        generation: u64,
    },
    /// The run could not be started.
    #[non_exhaustive]
    StartFailed {
        /// The run.
        generation: u64,
        /// Why (``cannot start `prog`: No such file or directory (os error 2)``).
        error: String,
    },
    /// The run reported ready (readiness `notify`).
    #[non_exhaustive]
    Ready {
        /// The run.
        generation: u64,
    },
    /// The run reported it is alive.
    #[non_exhaustive]
    Heartbeat {
        /// The run.
        generation: u64,
    },
    /// The run ended.
    #[non_exhaustive]
    Exited {
        /// The run.
        generation: u64,
        /// The reason the supervisor acts on (`health` or `start_timeout`
        /// when it was killed for that deadline).
        reason: ExitReason,
    },
    /// A report about a run was ignored: an old run, or meaningless in the
    /// run's state. The path is `""` when the node is unknown.
    #[non_exhaustive]
    Stale {
        /// The run the report was about.
        generation: u64,
        /// What the report was.
        input: InputKind,
    },
    /// The supervisor at the event's path decided an automatic restart
    /// because `child` ended (or failed to restart).
    #[non_exhaustive]
    Restart {
        /// The path of the child that ended.
        child: String,
        /// The supervisor's strategy, which says what restarts.
        strategy: Strategy,
    },
    /// The automatic restart of the child at the event's path waits first (backoff).
    #[non_exhaustive]
    Backoff {
        /// How long.
        delay: Duration,
    },
    /// The supervisor at the event's path exceeded its restart intensity: it
    /// stops its children and ends.
    GiveUp,
    /// The run missed its readiness or heartbeat deadline and is killed.
    #[non_exhaustive]
    Timeout {
        /// The run.
        generation: u64,
        /// `start_timeout` or `health`.
        reason: ExitReason,
    },
    /// A monitor evicted the run: it is stopped, and its exit will read as `reason`.
    #[non_exhaustive]
    Evicted {
        /// The run.
        generation: u64,
        /// The reason its exit will be reported with (`memory`).
        reason: ExitReason,
    },
    /// The supervisor begins its start (it starts its children in order).
    SupStarting,
    /// The supervisor's parent asks it to stop.
    SupStop,
    /// The supervisor decided to end (gave up, shut down, auto_shutdown,
    /// lifespan, one_terminate_all, or asked by its parent): it stops its
    /// children in reverse order and starts nothing more.
    #[non_exhaustive]
    SupEnding {
        /// The reason it will end with.
        reason: ExitReason,
    },
    /// The supervisor started all its children.
    SupStarted,
    /// The supervisor ended.
    #[non_exhaustive]
    SupExit {
        /// Why.
        reason: ExitReason,
    },
    /// The child at the event's path was removed (a temporary child that
    /// ended, a deleted child, a failed `start_child`).
    Removed,
    /// The root ended: nothing runs any more. The last event but the
    /// answers to requests that waited for it; then the stream ends.
    #[non_exhaustive]
    TreeDown {
        /// Why the root ended.
        reason: ExitReason,
        /// How the tree ended (never [`Outcome::Up`]), as
        /// [`TreeHandle::outcome`](crate::TreeHandle::outcome) says from now on.
        outcome: Outcome,
    },
    /// An operator request was received (from a [`TreeHandle`](crate::TreeHandle),
    /// the control socket, a reload).
    #[non_exhaustive]
    Request {
        /// Its id, which its [`EventKind::Reply`] repeats.
        id: RequestId,
        /// The operation.
        op: RequestOp,
    },
    /// The answer to a request (at once, or later for requests that wait
    /// for children to start or stop).
    #[non_exhaustive]
    Reply {
        /// The request's id.
        id: RequestId,
        /// The operation.
        op: RequestOp,
        /// The answer, without the engine's ids (the requester got the
        /// whole [`Reply`] from [`TreeHandle::request`](crate::TreeHandle::request)).
        result: Result<Answer, RequestError>,
    },
}

/// A request's answer as a listener sees it: a [`Reply`] without the
/// engine's ids (the child is the event's path).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// Done (terminate, delete, replace, restart_all, shutdown).
    Ok,
    /// The child was started (start, restart).
    #[non_exhaustive]
    Started {
        /// The new run of a worker; `None` for a supervisor.
        generation: Option<u64>,
    },
    /// The children of a supervisor were listed (`which_children`).
    #[non_exhaustive]
    Children {
        /// How many.
        count: usize,
    },
    /// The children of a supervisor were counted (`count_children`).
    Counts(ChildCounts),
}

impl Answer {
    /// The answer `reply` reads as. `Reply::Pending` is never a final answer
    /// (the engine reports only final ones); it reads as `Ok`.
    fn of(reply: &Reply) -> Answer {
        match reply {
            Reply::Ok | Reply::Pending(_) => Answer::Ok,
            Reply::Started { run, .. } => Answer::Started {
                generation: run.map(|r| r.generation),
            },
            Reply::Children(list) => Answer::Children { count: list.len() },
            Reply::Counts(counts) => Answer::Counts(*counts),
        }
    }
}

impl EventKind {
    /// The event's name in the trace (docs/TRACE.md): `exited`, `restart`, `tree_down` ...
    ///
    /// ```
    /// use vigil_tokio::EventKind;
    /// assert_eq!(EventKind::GiveUp.name(), "give_up");
    /// ```
    #[must_use]
    pub fn name(&self) -> &'static str {
        match self {
            EventKind::Spawn { .. } => "spawn",
            EventKind::Stop { .. } => "stop",
            EventKind::Kill { .. } => "kill",
            EventKind::Started { .. } => "started",
            EventKind::StartFailed { .. } => "start_failed",
            EventKind::Ready { .. } => "ready",
            EventKind::Heartbeat { .. } => "heartbeat",
            EventKind::Exited { .. } => "exited",
            EventKind::Stale { .. } => "stale",
            EventKind::Restart { .. } => "restart",
            EventKind::Backoff { .. } => "backoff",
            EventKind::GiveUp => "give_up",
            EventKind::Timeout { .. } => "timeout",
            EventKind::Evicted { .. } => "evict",
            EventKind::SupStarting => "sup_starting",
            EventKind::SupStop => "sup_stop",
            EventKind::SupEnding { .. } => "sup_ending",
            EventKind::SupStarted => "sup_started",
            EventKind::SupExit { .. } => "sup_exit",
            EventKind::Removed => "removed",
            EventKind::TreeDown { .. } => "tree_down",
            EventKind::Request { .. } => "request",
            EventKind::Reply { .. } => "reply",
        }
    }

    /// The generation of the run the event is about, for events about a run.
    ///
    /// ```
    /// use vigil_tokio::EventKind;
    /// assert_eq!(EventKind::Removed.generation(), None);
    /// ```
    #[must_use]
    pub fn generation(&self) -> Option<u64> {
        match self {
            EventKind::Spawn { generation }
            | EventKind::Stop { generation }
            | EventKind::Kill { generation }
            | EventKind::Started { generation }
            | EventKind::StartFailed { generation, .. }
            | EventKind::Ready { generation }
            | EventKind::Heartbeat { generation }
            | EventKind::Exited { generation, .. }
            | EventKind::Stale { generation, .. }
            | EventKind::Timeout { generation, .. }
            | EventKind::Evicted { generation, .. } => Some(*generation),
            _ => None,
        }
    }
}

impl TreeEvent {
    /// The event for notice `n` of `engine` at `time`, about the node at
    /// `path` (already resolved by the driver). Only a restart's child path
    /// is rendered here; requests and replies carry their own path.
    pub(crate) fn of_notice(engine: &Engine, time: Instant, path: &str, n: Notice) -> TreeEvent {
        let mut path_of_request = None;
        let kind = match n {
            Notice::Spawn(r) => EventKind::Spawn {
                generation: r.generation,
            },
            Notice::Stop(r) => EventKind::Stop {
                generation: r.generation,
            },
            Notice::Kill(r) => EventKind::Kill {
                generation: r.generation,
            },
            Notice::Started(r) => EventKind::Started {
                generation: r.generation,
            },
            Notice::StartFailed(r, error) => EventKind::StartFailed {
                generation: r.generation,
                error,
            },
            Notice::Ready(r) => EventKind::Ready {
                generation: r.generation,
            },
            Notice::Heartbeat(r) => EventKind::Heartbeat {
                generation: r.generation,
            },
            Notice::Exited(r, reason) => EventKind::Exited {
                generation: r.generation,
                reason,
            },
            Notice::Stale(r, input) => EventKind::Stale {
                generation: r.generation,
                input,
            },
            Notice::Restart { child, strategy, .. } => EventKind::Restart {
                child: engine.path(child).unwrap_or_default(),
                strategy,
            },
            Notice::Backoff { delay_ns, .. } => EventKind::Backoff {
                delay: Duration::from_nanos(delay_ns),
            },
            Notice::GiveUp { .. } => EventKind::GiveUp,
            Notice::Timeout { run, reason } => EventKind::Timeout {
                generation: run.generation,
                reason,
            },
            Notice::Evicted { run, reason } => EventKind::Evicted {
                generation: run.generation,
                reason,
            },
            Notice::SupStarting { .. } => EventKind::SupStarting,
            Notice::SupStop { .. } => EventKind::SupStop,
            Notice::SupEnding { reason, .. } => EventKind::SupEnding { reason },
            Notice::SupStarted { .. } => EventKind::SupStarted,
            Notice::SupExit { reason, .. } => EventKind::SupExit { reason },
            Notice::Removed { .. } => EventKind::Removed,
            Notice::TreeDown { reason } => EventKind::TreeDown {
                reason,
                outcome: engine.outcome(),
            },
            Notice::Request { id, op, path } => {
                path_of_request = Some(path);
                EventKind::Request { id, op }
            }
            Notice::Reply { id, op, path, result } => {
                path_of_request = Some(path);
                let result = match *result {
                    Ok(reply) => Ok(Answer::of(&reply)),
                    Err(e) => Err(e),
                };
                EventKind::Reply { id, op, result }
            }
        };
        TreeEvent {
            time,
            path: path_of_request.unwrap_or_else(|| path.to_owned()),
            kind,
        }
    }
}

/// A listener fell behind: it missed this many events, the oldest ones
/// (the tree keeps the latest 4096 for its listeners). The stream goes on
/// with the oldest event still kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the listener fell behind and missed {0} events")]
pub struct Lagged(pub u64);

type Next = (Result<TreeEvent, RecvError>, broadcast::Receiver<TreeEvent>);

/// The events of a running tree, from [`TreeHandle::events`](crate::TreeHandle::events):
/// every event from the moment it was created, then the end, once the tree
/// is down (after its [`EventKind::TreeDown`] and the answers that follow
/// it), whether or not handles of the tree are still alive. It also ends
/// when the tree ends otherwise ([`TreeHandle::kill_all`](crate::TreeHandle::kill_all),
/// a driver panic), and at once if it was created after the tree was down.
///
/// A listener more than 4096 events behind gets [`Lagged`] with the count
/// it missed, then the events that follow. It is also a
/// [`futures_util::Stream`] of the same items.
///
/// Receiving is cancel safe: an event is never lost because a `recv()`
/// future was dropped (in a `tokio::select!` branch that lost).
///
/// ```
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::{EventKind, Tree};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tree = Tree::new(SupervisorSpec::new())
///     .task(ChildSpec::worker("idle"), |ctx| async move {
///         ctx.stopped().await;
///         Ok::<(), String>(())
///     })
///     .start()
///     .expect("a valid tree");
/// let mut events = tree.events();
/// let printer = tokio::spawn(async move {
///     let mut names = Vec::new();
///     while let Some(event) = events.recv().await {
///         match event {
///             Ok(e) => names.push(e.kind.name()),
///             Err(lagged) => eprintln!("{lagged}"),
///         }
///     }
///     names // the stream ended: the tree is down
/// });
/// tree.shutdown().await;
/// let names = printer.await.unwrap();
/// assert!(names.contains(&"tree_down"));
/// // `tree` is still alive, and a new stream ends at once.
/// assert!(tree.events().recv().await.is_none());
/// # });
/// ```
#[must_use = "events are only received through the stream"]
pub struct Events {
    /// The next receive, kept across `recv()` calls; `None` once ended.
    next: Option<ReusableBoxFuture<'static, Next>>,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").field("ended", &self.next.is_none()).finish()
    }
}

async fn receive(mut rx: broadcast::Receiver<TreeEvent>) -> Next {
    let result = rx.recv().await;
    (result, rx)
}

impl Events {
    /// A stream over `rx`: it ends when every sender is gone (the driver's
    /// is the only one; it goes when the driver ends).
    pub(crate) fn new(rx: broadcast::Receiver<TreeEvent>) -> Self {
        Events {
            next: Some(ReusableBoxFuture::new(receive(rx))),
        }
    }

    /// A stream that has ended (the tree is down).
    pub(crate) fn ended() -> Self {
        Events { next: None }
    }

    /// The next event; `Some(Err(Lagged(n)))` if `n` events were missed
    /// since the last call; `None` once the tree is down and every event
    /// was received. Cancel safe.
    pub async fn recv(&mut self) -> Option<Result<TreeEvent, Lagged>> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Poll for the next event, as [`Events::recv`] (for hand-written futures).
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<TreeEvent, Lagged>>> {
        let Some(next) = self.next.as_mut() else {
            return Poll::Ready(None);
        };
        let (result, rx) = ready!(next.poll(cx));
        let item = match result {
            Ok(event) => Ok(event),
            Err(RecvError::Lagged(n)) => Err(Lagged(n)),
            Err(RecvError::Closed) => {
                self.next = None;
                return Poll::Ready(None);
            }
        };
        next.set(receive(rx));
        Poll::Ready(Some(item))
    }

    /// Whether the stream has ended (the tree is down and every event was
    /// received). A stream that has not ended yet may still end at the next
    /// [`Events::recv`].
    #[must_use]
    pub fn is_ended(&self) -> bool {
        self.next.is_none()
    }
}

impl futures_util::Stream for Events {
    type Item = Result<TreeEvent, Lagged>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}

#[cfg(test)]
mod tests {
    use vigil_core::{ChildSpec, NodeId, RunId, SupervisorSpec};

    use super::*;

    /// Every notice the engine can emit, once.
    fn every_notice() -> Vec<Notice> {
        let run = RunId {
            node: NodeId::from_index(1),
            generation: 7,
        };
        let node = NodeId::from_index(1);
        let id = RequestId(3);
        vec![
            Notice::Spawn(run),
            Notice::Stop(run),
            Notice::Kill(run),
            Notice::Started(run),
            Notice::StartFailed(run, "no".into()),
            Notice::Ready(run),
            Notice::Heartbeat(run),
            Notice::Exited(run, ExitReason::Killed),
            Notice::Stale(run, InputKind::Ready),
            Notice::Restart {
                sup: NodeId::ROOT,
                child: node,
                strategy: Strategy::OneForAll,
            },
            Notice::Backoff {
                child: node,
                delay_ns: 1_500,
            },
            Notice::GiveUp { sup: NodeId::ROOT },
            Notice::Timeout {
                run,
                reason: ExitReason::Health,
            },
            Notice::Evicted {
                run,
                reason: ExitReason::Memory,
            },
            Notice::SupStarting { sup: NodeId::ROOT },
            Notice::SupStop { sup: NodeId::ROOT },
            Notice::SupEnding {
                sup: NodeId::ROOT,
                reason: ExitReason::shutdown(),
            },
            Notice::SupStarted { sup: NodeId::ROOT },
            Notice::SupExit {
                sup: NodeId::ROOT,
                reason: ExitReason::shutdown(),
            },
            Notice::Removed { child: node },
            Notice::TreeDown {
                reason: ExitReason::shutdown(),
            },
            Notice::Request {
                id,
                op: RequestOp::RestartChild,
                path: "w".into(),
            },
            Notice::Reply {
                id,
                op: RequestOp::RestartChild,
                path: "w".into(),
                result: Box::new(Ok(Reply::Ok)),
            },
        ]
    }

    /// 4096 events are kept for the listeners: an event stays within 104 B
    /// (with the paths' heap bytes apart) on a 64-bit target.
    #[test]
    #[cfg(target_pointer_width = "64")]
    fn an_event_stays_within_its_size_budget() {
        assert!(
            std::mem::size_of::<TreeEvent>() <= 104,
            "{}",
            std::mem::size_of::<TreeEvent>()
        );
    }

    #[test]
    fn every_notice_maps_to_an_event_named_as_in_the_trace() {
        let engine = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("w")), 0).unwrap();
        for n in every_notice() {
            let name = vigil_trace::event_name(&n);
            let e = TreeEvent::of_notice(&engine, Instant::from_nanos(5), "p", n.clone());
            assert_eq!(e.kind.name(), name, "{n:?}");
            assert_eq!(e.time, Instant::from_nanos(5));
            assert_eq!(e.kind.generation(), n.run().map(|r| r.generation), "{n:?}");
        }
    }

    #[test]
    fn paths_are_resolved_and_values_typed() {
        let engine = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("w")), 0).unwrap();
        let w = engine.lookup("w").unwrap();
        let at = Instant::ZERO;
        let restart = Notice::Restart {
            sup: NodeId::ROOT,
            child: w,
            strategy: Strategy::RestForOne,
        };
        let e = TreeEvent::of_notice(&engine, at, "", restart);
        assert_eq!(e.path, "");
        assert_eq!(
            e.kind,
            EventKind::Restart {
                child: "w".into(),
                strategy: Strategy::RestForOne
            }
        );
        let backoff = Notice::Backoff {
            child: w,
            delay_ns: 2_000_000,
        };
        let e = TreeEvent::of_notice(&engine, at, "w", backoff);
        assert_eq!(
            e.kind,
            EventKind::Backoff {
                delay: Duration::from_millis(2)
            }
        );
        let request = Notice::Request {
            id: RequestId(1),
            op: RequestOp::DeleteChild,
            path: "w".into(),
        };
        assert_eq!(TreeEvent::of_notice(&engine, at, "", request).path, "w");
        let started = Notice::Reply {
            id: RequestId(2),
            op: RequestOp::RestartChild,
            path: "w".into(),
            result: Box::new(Ok(Reply::Started {
                node: w,
                run: Some(vigil_core::RunId { node: w, generation: 9 }),
            })),
        };
        let e = TreeEvent::of_notice(&engine, at, "", started);
        assert_eq!(e.path, "w");
        assert_eq!(
            e.kind,
            EventKind::Reply {
                id: RequestId(2),
                op: RequestOp::RestartChild,
                result: Ok(Answer::Started { generation: Some(9) })
            }
        );
        let refused = Notice::Reply {
            id: RequestId(3),
            op: RequestOp::DeleteChild,
            path: "x".into(),
            result: Box::new(Err(RequestError::NotFound("x".into()))),
        };
        let EventKind::Reply { result, .. } = TreeEvent::of_notice(&engine, at, "", refused).kind else {
            panic!("a reply")
        };
        assert_eq!(result, Err(RequestError::NotFound("x".into())));
        let down = Notice::TreeDown {
            reason: ExitReason::shutdown(),
        };
        // An engine that never ran is up: the outcome is the engine's.
        let e = TreeEvent::of_notice(&engine, at, "", down);
        assert_eq!(
            e.kind,
            EventKind::TreeDown {
                reason: ExitReason::shutdown(),
                outcome: Outcome::Up
            }
        );
    }
}
