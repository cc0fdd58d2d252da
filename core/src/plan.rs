//! What a supervisor is doing: its mode, its current plan and its mailbox.
//!
//! A supervisor works like OTP's supervisor process: one thing at a time.
//! While a plan runs (a start, a restart round, a stop) it is busy, and what
//! happens meanwhile (children exiting by themselves, retries, operator
//! requests) waits in its FIFO mailbox, handled in order once it is idle.

use crate::tree::NONE;
use crate::{ExitReason, Request, RequestError, RequestId, RequestOp, RestartAllMode};

/// The life of a supervisor.
#[derive(Debug)]
pub(crate) enum Mode {
    /// Not started, or ended.
    Dormant,
    /// Running, nothing in progress.
    Idle,
    /// Running a plan.
    Busy(Plan),
}

/// A sequence of stops (reverse start order) followed by starts (start order),
/// one child at a time. The stop phase walks backward from `cursor` to
/// `stop_to`; the start phase walks forward from `start_from` to `start_to`
/// (`NONE` = the first / last child at the time the phase begins).
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) kind: PlanKind,
    pub(crate) phase: Phase,
    pub(crate) cursor: u32,
    pub(crate) stop_to: u32,
    pub(crate) start_from: u32,
    pub(crate) start_to: u32,
    /// Whether the start of the child under the cursor has been issued.
    pub(crate) initiated: bool,
    /// Whether a start phase follows the stop phase.
    pub(crate) then_start: bool,
}

impl Plan {
    /// Only a start phase, from `from` to `to`.
    pub(crate) fn start(kind: PlanKind, from: u32, to: u32) -> Self {
        Plan {
            kind,
            phase: Phase::Start,
            cursor: from,
            stop_to: NONE,
            start_from: from,
            start_to: to,
            initiated: false,
            then_start: true,
        }
    }

    /// A stop phase from `from` back to `to`, optionally followed by a start phase.
    pub(crate) fn stop(kind: PlanKind, from: u32, to: u32, then_start: Option<(u32, u32)>) -> Self {
        let (start_from, start_to) = then_start.unwrap_or((NONE, NONE));
        Plan {
            kind,
            phase: Phase::Stop,
            cursor: from,
            stop_to: to,
            start_from,
            start_to,
            initiated: false,
            then_start: then_start.is_some(),
        }
    }
}

/// Where a plan is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Stop,
    Start,
}

/// Why the plan runs; decides what happens at each step's end.
#[derive(Debug)]
pub(crate) enum PlanKind {
    /// The supervisor's first start.
    Init,
    /// A child failed during the first start: stop the started ones, then fail.
    InitAbort { reason: ExitReason },
    /// An automatic restart (counted in the intensity window).
    Restart,
    /// Operator `start_child` of the new child.
    StartChild { req: Box<PendingReply>, child: u32 },
    /// Operator `restart_child`.
    RestartChild { req: Box<PendingReply>, child: u32 },
    /// Operator `terminate_child`.
    Terminate { req: Box<PendingReply> },
    /// Operator `restart_all`.
    RestartAll {
        req: Box<PendingReply>,
        mode: RestartAllMode,
        error: Option<Box<RequestError>>,
    },
    /// The supervisor ends: stop everything, then end with `reason`.
    End { reason: ExitReason },
}

impl PlanKind {
    /// Whether this plan ends the supervisor.
    pub(crate) fn is_ending(&self) -> bool {
        matches!(self, PlanKind::End { .. } | PlanKind::InitAbort { .. })
    }

    /// The request this plan answers, if any.
    pub(crate) fn take_request(self) -> Option<Box<PendingReply>> {
        match self {
            PlanKind::StartChild { req, .. }
            | PlanKind::RestartChild { req, .. }
            | PlanKind::Terminate { req }
            | PlanKind::RestartAll { req, .. } => Some(req),
            _ => None,
        }
    }
}

/// A request whose answer is still owed.
#[derive(Clone, Debug)]
pub(crate) struct PendingReply {
    pub(crate) id: RequestId,
    pub(crate) op: RequestOp,
    pub(crate) path: String,
}

/// Work waiting for a busy supervisor.
#[derive(Debug)]
pub(crate) enum Mail {
    /// A child ended by itself.
    Exit { child: u32, generation: u64, normal: bool },
    /// A child ended by itself under one_terminate_all (the reason ends the supervisor).
    TerminateAll {
        child: u32,
        generation: u64,
        reason: ExitReason,
    },
    /// A restart's start failed: decide again and retry.
    Retry { child: u32, generation: u64 },
    /// A one_for_one backoff elapsed: start the child.
    Queued { child: u32, generation: u64 },
    /// An operator request that arrived while the supervisor was busy (boxed:
    /// rare and large, and mail must stay small for the restart path).
    Request(Box<(PendingReply, Request)>),
}
