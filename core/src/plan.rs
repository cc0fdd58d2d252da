//! What a supervisor is doing: its mode, its current plan and its mailbox,
//! and the news it sends its parent.
//!
//! A supervisor works like OTP's supervisor process: one thing at a time.
//! While a plan runs (a start, a restart round, a stop) it is busy, and what
//! happens meanwhile (children exiting by themselves, retries, operator
//! requests) waits in its FIFO mailbox, handled in order once it is idle.

use crate::{ExitReason, NodeId, Request, RequestError, RequestId, RequestOp, RestartAllMode};

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

/// One end of a plan's walk over a supervisor's children (inclusive).
///
/// `First` and `Last` name the ends of the sibling list as it is when the
/// walk gets there (children may be removed meanwhile); a walk that ends at
/// `First` (a stop walk, backward) or `Last` (a start walk, forward) goes on
/// until the list runs out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Bound {
    /// The first child in start order.
    First,
    /// The last child in start order.
    Last,
    /// This child.
    Child(NodeId),
}

impl Bound {
    /// Whether a walk that ends at this bound ends at `c`.
    pub(crate) fn ends_at(self, c: NodeId) -> bool {
        self == Bound::Child(c)
    }

    /// The child it names, given the list's current ends.
    pub(crate) fn resolve(self, first: Option<NodeId>, last: Option<NodeId>) -> Option<NodeId> {
        match self {
            Bound::First => first,
            Bound::Last => last,
            Bound::Child(c) => Some(c),
        }
    }
}

/// A sequence of stops (reverse start order) followed by starts (start order),
/// one child at a time. The stop phase walks backward from `cursor` through
/// `stop_to`; the start phase walks forward from `start_from` through
/// `start_to`. `cursor` is `None` when the current phase's walk is over.
#[derive(Debug)]
pub(crate) struct Plan {
    pub(crate) kind: PlanKind,
    pub(crate) phase: Phase,
    pub(crate) cursor: Option<NodeId>,
    pub(crate) stop_to: Bound,
    pub(crate) start_from: Bound,
    pub(crate) start_to: Bound,
    /// Whether the start of the child under the cursor has been issued.
    pub(crate) initiated: bool,
    /// Whether a start phase follows the stop phase.
    pub(crate) then_start: bool,
}

impl Plan {
    /// Only a start phase, from `from` (`None`: nothing to start) through `to`.
    pub(crate) fn start(kind: PlanKind, from: Option<NodeId>, to: Bound) -> Self {
        Plan {
            kind,
            phase: Phase::Start,
            cursor: from,
            stop_to: Bound::First,
            start_from: from.map_or(Bound::First, Bound::Child),
            start_to: to,
            initiated: false,
            then_start: true,
        }
    }

    /// A stop phase from `from` (`None`: nothing to stop) back through `to`,
    /// optionally followed by a start phase `(from, to)`.
    pub(crate) fn stop(kind: PlanKind, from: Option<NodeId>, to: Bound, then_start: Option<(Bound, Bound)>) -> Self {
        let (start_from, start_to) = then_start.unwrap_or((Bound::First, Bound::Last));
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
    /// (The reasons are boxed: a plan stays within 64 bytes, and ending is rare.)
    InitAbort { reason: Box<ExitReason> },
    /// An automatic restart (counted in the intensity window).
    Restart,
    /// Operator `start_child` of the new child.
    StartChild { req: Box<PendingReply>, child: NodeId },
    /// Operator `restart_child`.
    RestartChild { req: Box<PendingReply>, child: NodeId },
    /// Operator `terminate_child`.
    Terminate { req: Box<PendingReply> },
    /// Operator `restart_all`.
    RestartAll {
        req: Box<PendingReply>,
        mode: RestartAllMode,
        error: Option<Box<RequestError>>,
    },
    /// The supervisor ends: stop everything, then end with `reason`.
    End { reason: Box<ExitReason> },
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
    Exit {
        child: NodeId,
        generation: u64,
        normal: bool,
    },
    /// A child ended by itself under one_terminate_all (the reason ends the supervisor).
    TerminateAll {
        child: NodeId,
        generation: u64,
        reason: ExitReason,
    },
    /// A restart's start failed: decide again and retry.
    Retry { child: NodeId, generation: u64 },
    /// A one_for_one backoff elapsed: start the child.
    Queued { child: NodeId, generation: u64 },
    /// An operator request that arrived while the supervisor was busy (boxed:
    /// rare and large, and mail must stay small for the restart path).
    Request(Box<(PendingReply, Request)>),
}

/// Something a child supervisor tells its parent, processed in order after
/// the step that caused it (this keeps the engine free of deep recursion).
#[derive(Debug)]
pub(crate) enum SupEvent {
    /// It started all its children.
    Started(NodeId),
    /// Its first start failed (the error, as the parent reports it).
    StartFailed(NodeId, String),
    /// It ended.
    Exited(NodeId, ExitReason),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_child_bound_ends_a_walk_early() {
        let (a, b) = (NodeId::from_index(3), NodeId::from_index(4));
        assert!(Bound::Child(a).ends_at(a));
        assert!(!Bound::Child(a).ends_at(b));
        // An open end lets the walk run until the list runs out.
        assert!(!Bound::First.ends_at(a));
        assert!(!Bound::Last.ends_at(b));
    }

    #[test]
    fn bounds_resolve_against_the_list_as_it_is_now() {
        let (a, b, c) = (NodeId::from_index(3), NodeId::from_index(4), NodeId::from_index(5));
        assert_eq!(Bound::First.resolve(Some(a), Some(b)), Some(a));
        assert_eq!(Bound::Last.resolve(Some(a), Some(b)), Some(b));
        assert_eq!(Bound::Child(c).resolve(Some(a), Some(b)), Some(c));
        assert_eq!(Bound::First.resolve(None, None), None, "no children: nothing to walk");
    }

    #[test]
    fn a_start_only_plan_begins_in_its_start_phase() {
        let c = NodeId::from_index(2);
        let p = Plan::start(PlanKind::Restart, Some(c), Bound::Child(c));
        assert_eq!(
            (p.phase, p.cursor, p.start_to),
            (Phase::Start, Some(c), Bound::Child(c))
        );
        let p = Plan::stop(PlanKind::Restart, None, Bound::First, None);
        assert_eq!((p.phase, p.cursor, p.then_start), (Phase::Stop, None, false));
    }
}
