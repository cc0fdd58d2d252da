//! Operator requests (docs/SEMANTICS.md §11) and their typed answers.

use crate::{ChildSpec, NodeId, RequestId, RunId, SpecError};

/// An operator request. Paths name nodes from the root (`web/db`; the root is `""`).
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// Add a dynamic child to the supervisor at `parent` and start it.
    StartChild {
        /// The supervisor.
        parent: String,
        /// The new child.
        spec: ChildSpec,
    },
    /// Stop a child and keep its spec (a temporary child is removed).
    TerminateChild {
        /// The child.
        path: String,
    },
    /// Start a stopped child again.
    RestartChild {
        /// The child.
        path: String,
    },
    /// Remove a stopped child's spec.
    DeleteChild {
        /// The child.
        path: String,
    },
    /// \[ext\] Replace the spec of a stopped child in place, keeping its
    /// position in start order (for config reloads); it stays stopped.
    /// The new spec must have the child's name.
    ReplaceChild {
        /// The child.
        path: String,
        /// Its new spec.
        spec: ChildSpec,
    },
    /// List the children of a supervisor.
    WhichChildren {
        /// The supervisor.
        path: String,
    },
    /// Count the children of a supervisor.
    CountChildren {
        /// The supervisor.
        path: String,
    },
    /// \[ext\] Restart every running child of a supervisor.
    RestartAll {
        /// The supervisor.
        path: String,
        /// All at once or one by one.
        mode: RestartAllMode,
    },
    /// Shut the whole tree down in order.
    Shutdown,
}

impl Request {
    /// The operation's name as it appears in traces.
    pub fn op(&self) -> RequestOp {
        match self {
            Request::StartChild { .. } => RequestOp::StartChild,
            Request::TerminateChild { .. } => RequestOp::TerminateChild,
            Request::RestartChild { .. } => RequestOp::RestartChild,
            Request::DeleteChild { .. } => RequestOp::DeleteChild,
            Request::ReplaceChild { .. } => RequestOp::ReplaceChild,
            Request::WhichChildren { .. } => RequestOp::WhichChildren,
            Request::CountChildren { .. } => RequestOp::CountChildren,
            Request::RestartAll { .. } => RequestOp::RestartAll,
            Request::Shutdown => RequestOp::Shutdown,
        }
    }

    /// The path the request names (for `start_child`: the new child's path).
    pub fn target_path(&self) -> String {
        match self {
            Request::StartChild { parent, spec } => crate::spec::join_path(parent, &spec.name),
            Request::TerminateChild { path }
            | Request::RestartChild { path }
            | Request::DeleteChild { path }
            | Request::ReplaceChild { path, .. }
            | Request::WhichChildren { path }
            | Request::CountChildren { path }
            | Request::RestartAll { path, .. } => path.clone(),
            Request::Shutdown => String::new(),
        }
    }
}

/// The kind of a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RequestOp {
    /// `start_child`
    StartChild,
    /// `terminate_child`
    TerminateChild,
    /// `restart_child`
    RestartChild,
    /// `delete_child`
    DeleteChild,
    /// `replace_child`
    ReplaceChild,
    /// `which_children`
    WhichChildren,
    /// `count_children`
    CountChildren,
    /// `restart_all`
    RestartAll,
    /// `shutdown`
    Shutdown,
}

impl RequestOp {
    /// The trace name.
    pub fn as_str(self) -> &'static str {
        match self {
            RequestOp::StartChild => "start_child",
            RequestOp::TerminateChild => "terminate_child",
            RequestOp::RestartChild => "restart_child",
            RequestOp::DeleteChild => "delete_child",
            RequestOp::ReplaceChild => "replace_child",
            RequestOp::WhichChildren => "which_children",
            RequestOp::CountChildren => "count_children",
            RequestOp::RestartAll => "restart_all",
            RequestOp::Shutdown => "shutdown",
        }
    }
}

/// How `restart_all` proceeds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum RestartAllMode {
    /// Stop every running child (reverse order), then start them (in order).
    #[default]
    AllAtOnce,
    /// One child at a time: stop it, start it, wait until it is started (and
    /// ready), then the next. A zero-downtime reload.
    Rolling,
}

/// A successful answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// Done (terminate, delete, restart_all, shutdown).
    Ok,
    /// The child was started; `run` is its run for a worker, `None` for a supervisor.
    Started {
        /// The child.
        node: NodeId,
        /// Its new run, for a worker.
        run: Option<RunId>,
    },
    /// Children of a supervisor, in start order.
    Children(Vec<ChildInfo>),
    /// Counts of a supervisor's children.
    Counts(ChildCounts),
    /// Accepted; the final answer comes later in a
    /// [`Notice::Reply`](crate::Notice::Reply) with this id (the supervisor was
    /// busy, or the request must wait for a child to start or exit).
    Pending(RequestId),
}

/// A failed request.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum RequestError {
    /// No node at that path.
    #[error("no child at `{0}`")]
    NotFound(String),
    /// The path names a worker where a supervisor is needed.
    #[error("`{0}` is not a supervisor")]
    NotASupervisor(String),
    /// The request is about the root, which has no parent to act for it.
    #[error("the root supervisor cannot be the target of this request (use shutdown)")]
    RootNotAllowed,
    /// `start_child`: a running child has that name.
    #[error("a child named `{0}` is already running")]
    AlreadyStarted(String),
    /// `start_child`: a stopped child has that name.
    #[error("a child named `{0}` is already present (stopped)")]
    AlreadyPresent(String),
    /// The child is running.
    #[error("`{0}` is running")]
    Running(String),
    /// The child is being restarted (or waits for its backoff).
    #[error("`{0}` is restarting")]
    Restarting(String),
    /// The start failed; nothing was kept for `start_child`.
    #[error("`{path}` failed to start: {error}")]
    StartFailed {
        /// The child that failed.
        path: String,
        /// Why.
        error: String,
    },
    /// `replace_child`: the new spec has another name than the child.
    #[error("the new spec for `{path}` is named `{name}`; a replacement keeps the child's name")]
    NameMismatch {
        /// The child.
        path: String,
        /// The name in the new spec.
        name: String,
    },
    /// The spec given to `start_child` is invalid.
    #[error(transparent)]
    BadSpec(#[from] SpecError),
    /// The supervisor is not running (stopped, or not started yet).
    #[error("supervisor `{0}` is not running")]
    NotRunning(String),
    /// The supervisor is ending; it accepts no more requests.
    #[error("the supervisor is shutting down")]
    ShuttingDown,
    /// The tree is down; nothing runs any more.
    #[error("the tree is down")]
    TreeDown,
}

impl RequestError {
    /// A short, stable name for traces.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::NotFound(_) => "not_found",
            RequestError::NotASupervisor(_) => "not_a_supervisor",
            RequestError::RootNotAllowed => "root_not_allowed",
            RequestError::AlreadyStarted(_) => "already_started",
            RequestError::AlreadyPresent(_) => "already_present",
            RequestError::Running(_) => "running",
            RequestError::Restarting(_) => "restarting",
            RequestError::StartFailed { .. } => "start_failed",
            RequestError::BadSpec(_) => "bad_spec",
            RequestError::NameMismatch { .. } => "name_mismatch",
            RequestError::NotRunning(_) => "not_running",
            RequestError::ShuttingDown => "shutting_down",
            RequestError::TreeDown => "tree_down",
        }
    }
}

/// The state of a child as operators see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ChildState {
    /// Not running and not going to be started unless asked (never started,
    /// terminated, or a transient child that ended normally).
    Stopped,
    /// A start is in progress (spawned, or waiting to be ready).
    Starting,
    /// Up.
    Running,
    /// Being stopped.
    Stopping,
    /// Ended and waiting for its restart (backoff, or the supervisor is busy).
    Restarting,
}

impl ChildState {
    /// The name used in traces and tables.
    pub fn as_str(self) -> &'static str {
        match self {
            ChildState::Stopped => "stopped",
            ChildState::Starting => "starting",
            ChildState::Running => "running",
            ChildState::Stopping => "stopping",
            ChildState::Restarting => "restarting",
        }
    }
}

/// One child in a `which_children` answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChildInfo {
    /// Its node.
    pub node: NodeId,
    /// Its name.
    pub name: String,
    /// Whether it is a supervisor.
    pub supervisor: bool,
    /// Whether it was added by `start_child` (it is not part of the static
    /// spec, so it is gone when its supervisor is restarted).
    pub dynamic: bool,
    /// Its state.
    pub state: ChildState,
    /// The generation of its current or last run (workers; 0 if never run).
    pub generation: u64,
    /// Its driver tag.
    pub tag: u64,
}

/// A `count_children` answer, as OTP's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChildCounts {
    /// All child specs.
    pub specs: usize,
    /// Children that are running (or starting, or stopping).
    pub active: usize,
    /// Child specs that are supervisors.
    pub supervisors: usize,
    /// Child specs that are workers.
    pub workers: usize,
}
