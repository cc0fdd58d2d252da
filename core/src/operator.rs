//! Operator requests (docs/SEMANTICS.md §11): resolution, queueing behind a
//! busy supervisor, and execution.

use crate::plan::{Bound, Mail, Mode, PendingReply, Plan, PlanKind};
use crate::spec::MAX_DEPTH;
use crate::tree::{flag, NodeState, SupId};
use crate::{
    ChildCounts, ChildInfo, ChildSpec, Engine, ExitReason, Instant, NodeId, Notice, Outcome, Reply, Request,
    RequestError, RequestId, Restart, RestartAllMode, SpecError, SpecErrorKind,
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
        self.end_call();
        result
    }

    fn dispatch(&mut self, reply: &PendingReply, request: Request) -> Result<Reply, RequestError> {
        if self.is_down() {
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
            | Request::ReplaceChild { path, .. } => self.child_at(path)?.0,
        };
        match &self.tree.sup(s).mode {
            Mode::Dormant => Err(RequestError::NotRunning(self.path(s.node()).unwrap_or_default())),
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
        s: SupId,
        reply: &PendingReply,
        request: Request,
    ) -> Result<Reply, RequestError> {
        match request {
            Request::StartChild { parent, spec } => self.start_child(s, reply, parent, spec),
            Request::TerminateChild { path } => self.terminate_child(s, reply, &path),
            Request::RestartChild { path } => self.restart_child(s, reply, &path),
            Request::DeleteChild { path } => {
                let c = self.child_of(s, &path)?;
                self.require_stopped(c, &path)?;
                self.remove_child(c);
                Ok(Reply::Ok)
            }
            Request::ReplaceChild { path, spec } => self.replace_child(s, path, &spec),
            Request::RestartAll { mode, .. } => Ok(self.restart_all(s, reply, mode)),
            Request::WhichChildren { .. } | Request::CountChildren { .. } | Request::Shutdown => {
                // Answered in `dispatch`, never queued.
                Ok(Reply::Ok)
            }
        }
    }

    /// Put `s` to work on `plan`, which answers `reply` when it is done.
    fn run_plan(&mut self, s: SupId, reply: &PendingReply, plan: Plan) -> Result<Reply, RequestError> {
        self.tree.sup_mut(s).mode = Mode::Busy(plan);
        self.advance(s);
        Ok(Reply::Pending(reply.id))
    }

    /// `start_child`: add `spec` under `s` (named `parent`) and start it.
    fn start_child(
        &mut self,
        s: SupId,
        reply: &PendingReply,
        parent: String,
        spec: ChildSpec,
    ) -> Result<Reply, RequestError> {
        // Re-resolved: the tree may have changed while the request waited.
        if self.tree.lookup(&parent) != Some(s.node()) {
            return Err(RequestError::NotFound(parent));
        }
        let depth = self.tree.depth(s.node()) + 1;
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
        let c = self.tree.add_child(s, &spec, true).map_err(|full| full.at(parent))?;
        let kind = PlanKind::StartChild {
            req: Box::new(reply.clone()),
            child: c,
        };
        self.run_plan(s, reply, Plan::start(kind, Some(c), Bound::Child(c)))
    }

    /// `terminate_child`: stop a live child of `s`, or cancel its pending restart.
    fn terminate_child(&mut self, s: SupId, reply: &PendingReply, path: &str) -> Result<Reply, RequestError> {
        let c = self.child_of(s, path)?;
        if self.tree.node(c).state.is_live() {
            let kind = PlanKind::Terminate {
                req: Box::new(reply.clone()),
            };
            return self.run_plan(s, reply, Plan::stop(kind, Some(c), Bound::Child(c), None));
        }
        // Stopped, or waiting to restart: cancel the restart.
        self.runs.cancel(&mut self.tree, c);
        if self.tree.node(c).restart == Restart::Temporary {
            self.remove_child(c);
        } else {
            self.tree.set_state(c, NodeState::Stopped);
        }
        Ok(Reply::Ok)
    }

    /// `restart_child`: start a stopped child of `s` again.
    fn restart_child(&mut self, s: SupId, reply: &PendingReply, path: &str) -> Result<Reply, RequestError> {
        let c = self.child_of(s, path)?;
        self.require_stopped(c, path)?;
        let kind = PlanKind::RestartChild {
            req: Box::new(reply.clone()),
            child: c,
        };
        self.run_plan(s, reply, Plan::start(kind, Some(c), Bound::Child(c)))
    }

    /// `replace_child`: give a stopped child of `s` a new spec, in place.
    fn replace_child(&mut self, s: SupId, path: String, spec: &ChildSpec) -> Result<Reply, RequestError> {
        let c = self.child_of(s, &path)?;
        self.require_stopped(c, &path)?;
        if spec.name.as_str() != &*self.tree.node(c).name {
            return Err(RequestError::NameMismatch {
                path,
                name: spec.name.clone(),
            });
        }
        let parent_path = path.rsplit_once('/').map_or("", |(p, _)| p);
        let depth = self.tree.depth(c);
        spec.validate_at(parent_path, self.tree.sup(s).spec.auto_shutdown, depth)?;
        self.tree.replace_spec(s, c, spec);
        Ok(Reply::Ok)
    }

    /// `restart_all`: restart every running child of `s`, all at once or one by one.
    fn restart_all(&mut self, s: SupId, reply: &PendingReply, mode: RestartAllMode) -> Reply {
        let mut marked = None;
        let mut at = self.tree.sup(s).first;
        while let Some(c) = at {
            let n = self.tree.node_mut(c);
            if n.state == NodeState::Running {
                n.flags |= flag::MARK;
                marked = marked.or(Some(c));
            }
            at = n.next;
        }
        let Some(first_marked) = marked else {
            return Reply::Ok;
        };
        let kind = PlanKind::RestartAll {
            req: Box::new(reply.clone()),
            mode,
            error: None,
        };
        let plan = match mode {
            RestartAllMode::AllAtOnce => Plan::stop(
                kind,
                self.tree.sup(s).last,
                Bound::First,
                Some((Bound::First, Bound::Last)),
            ),
            RestartAllMode::Rolling => {
                let one = Bound::Child(first_marked);
                Plan::stop(kind, Some(first_marked), one, Some((one, one)))
            }
        };
        self.tree.sup_mut(s).mode = Mode::Busy(plan);
        self.advance(s);
        Reply::Pending(reply.id)
    }

    fn shutdown(&mut self, reply: &PendingReply) -> Reply {
        if !self.started {
            // Nothing ever ran: the tree is down at once.
            self.started = true;
            self.outcome = Outcome::ShutDown;
            self.notices.push_back(Notice::TreeDown {
                reason: ExitReason::shutdown(),
            });
            return Reply::Ok;
        }
        self.shutdown_waiters.push(reply.clone());
        let ending = matches!(&self.tree.sup(SupId::ROOT).mode, Mode::Busy(p) if p.kind.is_ending());
        if !ending {
            self.end_sup(SupId::ROOT, ExitReason::shutdown());
        }
        Reply::Pending(reply.id)
    }

    fn require_stopped(&self, c: NodeId, path: &str) -> Result<(), RequestError> {
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
    fn sup_at(&self, path: &str) -> Result<SupId, RequestError> {
        let n = self
            .tree
            .lookup(path)
            .ok_or_else(|| RequestError::NotFound(path.to_owned()))?;
        self.tree
            .as_sup(n)
            .ok_or_else(|| RequestError::NotASupervisor(path.to_owned()))
    }

    /// The non-root node at `path`, with its parent.
    fn child_at(&self, path: &str) -> Result<(SupId, NodeId), RequestError> {
        let c = self
            .tree
            .lookup(path)
            .ok_or_else(|| RequestError::NotFound(path.to_owned()))?;
        match self.tree.parent(c) {
            Some(s) => Ok((s, c)),
            None => Err(RequestError::RootNotAllowed),
        }
    }

    /// The child at `path`, which must (still) be a child of `s`.
    fn child_of(&self, s: SupId, path: &str) -> Result<NodeId, RequestError> {
        match self.child_at(path)? {
            (parent, c) if parent == s => Ok(c),
            _ => Err(RequestError::NotFound(path.to_owned())),
        }
    }

    fn which_children(&self, s: SupId) -> Result<Reply, RequestError> {
        let list = self
            .tree
            .children(s)
            .map(|c| {
                let n = self.tree.node(c);
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

    fn count_children(&self, s: SupId) -> Result<Reply, RequestError> {
        let sup = self.tree.sup(s);
        let active = self
            .tree
            .children(s)
            .filter(|&c| self.tree.node(c).state.is_live())
            .count();
        Ok(Reply::Counts(ChildCounts {
            specs: sup.n_children,
            active,
            supervisors: sup.n_supervisors,
            workers: sup.n_children - sup.n_supervisors,
        }))
    }
}
