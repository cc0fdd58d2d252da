//! The transitions the model and the engine both go through: what a worker
//! does, what the world's script changes, time, and operator requests.

use std::time::Duration;

use vigil_core::{ChildSpec, ExitReason, Request, RestartAllMode};

use crate::behaviour::FailMode;

/// One step of a test case.
#[derive(Clone, Debug)]
pub enum Transition {
    /// The running worker at `path` exits by itself with `reason`.
    Exit {
        /// The worker.
        path: String,
        /// Why it ends.
        reason: ExitReason,
    },
    /// The next `count` starts of `path` fail (the world's script; no command).
    FailStarts {
        /// The worker.
        path: String,
        /// How many starts fail.
        count: u32,
        /// How each failure is reported.
        mode: FailMode,
    },
    /// The current run of the worker at `path` will ignore `Stop` and end
    /// only when it is killed at its shutdown deadline.
    HangOnStop {
        /// The worker (running, with a shutdown timeout).
        path: String,
    },
    /// Virtual time passes.
    Advance(Duration),
    /// An operator request.
    Request(Op),
}

/// The operator requests the model knows.
#[derive(Clone, Debug)]
pub enum Op {
    /// `start_child(parent, spec)`.
    StartChild {
        /// The supervisor.
        parent: String,
        /// The new child.
        spec: ChildSpec,
    },
    /// `terminate_child(path)`.
    TerminateChild(String),
    /// `restart_child(path)`.
    RestartChild(String),
    /// `delete_child(path)`.
    DeleteChild(String),
    /// \[ext\] `replace_child(path, spec)`.
    ReplaceChild {
        /// The child.
        path: String,
        /// Its new spec.
        spec: ChildSpec,
    },
    /// \[ext\] `restart_all(path, mode)`.
    RestartAll {
        /// The supervisor.
        path: String,
        /// One child at a time (`rolling`), or all at once.
        rolling: bool,
    },
    /// `shutdown`.
    Shutdown,
}

impl Op {
    /// The engine's request for this operation.
    pub fn request(&self) -> Request {
        match self {
            Op::StartChild { parent, spec } => Request::StartChild {
                parent: parent.clone(),
                spec: spec.clone(),
            },
            Op::TerminateChild(path) => Request::TerminateChild { path: path.clone() },
            Op::RestartChild(path) => Request::RestartChild { path: path.clone() },
            Op::DeleteChild(path) => Request::DeleteChild { path: path.clone() },
            Op::ReplaceChild { path, spec } => Request::ReplaceChild {
                path: path.clone(),
                spec: spec.clone(),
            },
            Op::RestartAll { path, rolling } => Request::RestartAll {
                path: path.clone(),
                mode: if *rolling {
                    RestartAllMode::Rolling
                } else {
                    RestartAllMode::AllAtOnce
                },
            },
            Op::Shutdown => Request::Shutdown,
        }
    }
}
