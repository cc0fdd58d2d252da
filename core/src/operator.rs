//! Operator requests (docs/SEMANTICS.md §11): resolution, queueing behind a
//! busy supervisor, and execution.

use crate::plan::{Mail, Mode, PendingReply, Plan, PlanKind};
use crate::spec::MAX_DEPTH;
use crate::tree::{flag, NodeState, NONE};
use crate::{
    ChildCounts, ChildInfo, Engine, ExitReason, Instant, NodeId, Notice, Reply, Request, RequestError, RequestId,
    Restart, RestartAllMode, SpecError, SpecErrorKind,
};

impl Engine {
    /// Submit an operator request.
    ///
    /// Read-only requests and those that need no child to start or exit are
    /// answered at once. Otherwise the answer is [`Reply::Pending`] and the
    /// final one arrives later as a [`Notice::Reply`] with the same id: when the
    /// child has started or exited, or, if the supervisor was busy (in the middle
    /// of a restart), after it has finished what it was doing, as OTP's
    /// supervisor handles calls in order. Every request and every answer is
    /// also reported as a notice, so the trace shows both.
    pub fn request(&mut self, request: Request, now: Instant) -> Result<Reply, RequestError> {
        self.begin_call(now);
        self.stats.requests += 1;
        let reply = PendingReply {
            id: RequestId(self.next_request),
            op: request.op(),
            path: request.target_path(),
        };
        self.next_request += 1;
        self.notices.push_back(Notice::Request {
            id: reply.id,
            op: reply.op,
            path: reply.path.clone(),
        });
        let result = self.dispatch(&reply, request);
        if !matches!(result, Ok(Reply::Pending(_))) {
            self.reply(reply, result.clone());
        }
        self.settle();
        result
    }

    fn dispatch(&mut self, reply: &PendingReply, request: Request) -> Result<Reply, RequestError> {
        if self.down {
            return Err(RequestError::TreeDown);
        }
        let s = match &request {
            Request::WhichChildren { path } => return self.which_children(self.sup_at(path)?),
            Request::CountChildren { path } => return self.count_children(self.sup_at(path)?),
            Request::Shutdown => return Ok(self.shutdown(reply)),
            Request::StartChild { parent, .. } => self.sup_at(parent)?,
            Request::RestartAll { path, .. } => self.sup_at(path)?,
            Request::TerminateChild { path }
            | Request::RestartChild { path }
            | Request::DeleteChild { path }
            | Request::ReplaceChild { path, .. } => {
                let c = self.child_at(path)?;
                self.tree.node(c).parent
            }
        };
        match &self.tree.sup(s).mode {
            Mode::Dormant => Err(RequestError::NotRunning(self.path(NodeId(s)).unwrap_or_default())),
            Mode::Busy(p) if p.kind.is_ending() => Err(RequestError::ShuttingDown),
            Mode::Idle if self.tree.sup(s).mailbox.is_empty() => self.execute_request(s, reply, request),
            _ => {
                let queued = Box::new((reply.clone(), request));
                self.tree.sup_mut(s).mailbox.push_back(Mail::Request(queued));
                Ok(Reply::Pending(reply.id))
            }
        }
    }

    /// Run a request on idle supervisor `s` (it may start a plan and answer later).
    pub(crate) fn execute_request(
        &mut self,
        s: u32,
        reply: &PendingReply,
        request: Request,
    ) -> Result<Reply, RequestError> {
        let pending = Ok(Reply::Pending(reply.id));
        match request {
            Request::StartChild { parent, spec } => {
                // Re-resolved: the tree may have changed while the request waited.
                if self.tree.lookup(self.root, &parent) != Some(s) {
                    return Err(RequestError::NotFound(parent));
                }
                let depth = self.tree.depth(s) + 1;
                if depth > MAX_DEPTH {
                    return Err(SpecError {
                        path: parent,
                        kind: SpecErrorKind::TooDeep { max: MAX_DEPTH },
                    }
                    .into());
                }
                spec.validate_at(&parent, self.tree.sup(s).spec.auto_shutdown, depth)?;
                if let Some(c) = self.tree.child_named(s, &spec.name) {
                    return Err(if self.tree.node(c).state.is_live() {
                        RequestError::AlreadyStarted(reply.path.clone())
                    } else {
                        RequestError::AlreadyPresent(reply.path.clone())
                    });
                }
                let c = self.tree.add_child(s, &spec, true);
                let kind = PlanKind::StartChild {
                    req: Box::new(reply.clone()),
                    child: c,
                };
                self.tree.sup_mut(s).mode = Mode::Busy(Plan::start(kind, c, c));
                self.advance(s);
                pending
            }
            Request::TerminateChild { path } => {
                let c = self.child_of(s, &path)?;
                let state = self.tree.node(c).state;
                if state.is_live() {
                    let kind = PlanKind::Terminate {
                        req: Box::new(reply.clone()),
                    };
                    self.tree.sup_mut(s).mode = Mode::Busy(Plan::stop(kind, c, c, None));
                    self.advance(s);
                    return pending;
                }
                // Stopped, or waiting to restart: cancel the restart.
                self.cancel_timer(c);
                if self.tree.node(c).restart == Restart::Temporary {
                    self.remove_child(c);
                } else {
                    self.tree.set_state(c, NodeState::Stopped);
                }
                Ok(Reply::Ok)
            }
            Request::RestartChild { path } => {
                let c = self.child_of(s, &path)?;
                self.require_stopped(c, &path)?;
                let kind = PlanKind::RestartChild {
                    req: Box::new(reply.clone()),
                    child: c,
                };
                self.tree.sup_mut(s).mode = Mode::Busy(Plan::start(kind, c, c));
                self.advance(s);
                pending
            }
            Request::DeleteChild { path } => {
                let c = self.child_of(s, &path)?;
                self.require_stopped(c, &path)?;
                self.remove_child(c);
                Ok(Reply::Ok)
            }
            Request::ReplaceChild { path, spec } => {
                let c = self.child_of(s, &path)?;
                self.require_stopped(c, &path)?;
                if spec.name.as_str() != &*self.tree.node(c).name {
                    return Err(RequestError::NameMismatch { path, name: spec.name });
                }
                let parent_path = path.rsplit_once('/').map_or("", |(p, _)| p);
                let depth = self.tree.depth(c);
                spec.validate_at(parent_path, self.tree.sup(s).spec.auto_shutdown, depth)?;
                self.tree.replace_spec(c, &spec);
                Ok(Reply::Ok)
            }
            Request::RestartAll { mode, .. } => {
                let mut marked = 0usize;
                let mut c = self.tree.sup(s).first;
                while c != NONE {
                    let n = self.tree.node_mut(c);
                    if n.state == NodeState::Running {
                        n.flags |= flag::MARK;
                        marked += 1;
                    }
                    c = n.next;
                }
                if marked == 0 {
                    return Ok(Reply::Ok);
                }
                let kind = PlanKind::RestartAll {
                    req: Box::new(reply.clone()),
                    mode,
                    error: None,
                };
                let plan = match mode {
                    RestartAllMode::AllAtOnce => Plan::stop(kind, self.tree.sup(s).last, NONE, Some((NONE, NONE))),
                    RestartAllMode::Rolling => {
                        let m = self.next_marked(self.tree.sup(s).first);
                        Plan::stop(kind, m, m, Some((m, m)))
                    }
                };
                self.tree.sup_mut(s).mode = Mode::Busy(plan);
                self.advance(s);
                pending
            }
            Request::WhichChildren { .. } | Request::CountChildren { .. } | Request::Shutdown => {
                // Answered in `dispatch`, never queued.
                Ok(Reply::Ok)
            }
        }
    }

    fn shutdown(&mut self, reply: &PendingReply) -> Reply {
        if !self.started {
            // Nothing ever ran: the tree is down at once.
            self.started = true;
            self.down = true;
            self.notices.push_back(Notice::TreeDown {
                reason: ExitReason::shutdown(),
            });
            return Reply::Ok;
        }
        self.shutdown_waiters.push(reply.clone());
        let root = self.root;
        let ending = matches!(&self.tree.sup(root).mode, Mode::Busy(p) if p.kind.is_ending());
        if !ending {
            self.end_sup(root, ExitReason::shutdown());
        }
        Reply::Pending(reply.id)
    }

    fn require_stopped(&self, c: u32, path: &str) -> Result<(), RequestError> {
        let state = self.tree.node(c).state;
        if state.is_live() {
            Err(RequestError::Running(path.to_owned()))
        } else if state != NodeState::Stopped {
            Err(RequestError::Restarting(path.to_owned()))
        } else {
            Ok(())
        }
    }

    /// The supervisor at `path`.
    fn sup_at(&self, path: &str) -> Result<u32, RequestError> {
        let n = self
            .tree
            .lookup(self.root, path)
            .ok_or_else(|| RequestError::NotFound(path.to_owned()))?;
        if self.tree.is_sup(n) {
            Ok(n)
        } else {
            Err(RequestError::NotASupervisor(path.to_owned()))
        }
    }

    /// The non-root node at `path`.
    fn child_at(&self, path: &str) -> Result<u32, RequestError> {
        match self.tree.lookup(self.root, path) {
            None => Err(RequestError::NotFound(path.to_owned())),
            Some(n) if n == self.root => Err(RequestError::RootNotAllowed),
            Some(n) => Ok(n),
        }
    }

    /// The child at `path`, which must (still) be a child of `s`.
    fn child_of(&self, s: u32, path: &str) -> Result<u32, RequestError> {
        let c = self.child_at(path)?;
        if self.tree.node(c).parent == s {
            Ok(c)
        } else {
            Err(RequestError::NotFound(path.to_owned()))
        }
    }

    fn which_children(&self, s: u32) -> Result<Reply, RequestError> {
        let list = self
            .children(NodeId(s))
            .map(|c| {
                let n = self.tree.node(c.0);
                ChildInfo {
                    node: c,
                    name: n.name.to_string(),
                    supervisor: n.sup.is_some(),
                    dynamic: n.has(flag::DYNAMIC),
                    state: n.state.public(),
                    generation: n.generation,
                    tag: n.tag,
                }
            })
            .collect();
        Ok(Reply::Children(list))
    }

    fn count_children(&self, s: u32) -> Result<Reply, RequestError> {
        let sup = self.tree.sup(s);
        let active = self
            .children(NodeId(s))
            .filter(|c| self.tree.node(c.0).state.is_live())
            .count();
        Ok(Reply::Counts(ChildCounts {
            specs: sup.n_children,
            active,
            supervisors: sup.n_supervisors,
            workers: sup.n_children - sup.n_supervisors,
        }))
    }
}
