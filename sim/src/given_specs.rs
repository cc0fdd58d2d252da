//! The specs the oracle was given: the root [`SupervisorSpec`] and the
//! specs of accepted `start_child` / `replace_child` requests.
//!
//! The oracle reads restart types, readiness, shutdown policies, intensity,
//! shutdown orders and sibling order from here, never from the engine it judges
//! (docs/SIMULATION.md, "The oracle").

use std::sync::Arc;
use std::time::Duration;

use vigil_core::{
    ChildKind, ChildSpec, Readiness, Reply, Request, RequestError, RequestId, Restart, Shutdown, ShutdownOrder,
    SupervisorSpec,
};

/// What a spec says about one node.
#[derive(Clone, Debug)]
pub(crate) struct Facts {
    /// Its restart type (`None` for the root).
    pub(crate) restart: Option<Restart>,
    /// A worker's readiness mode (`None` for a supervisor).
    pub(crate) readiness: Option<Readiness>,
    /// Its effective shutdown policy.
    pub(crate) shutdown: Shutdown,
    /// A supervisor's own spec.
    pub(crate) sup: Option<Arc<SupervisorSpec>>,
}

impl Facts {
    fn of(spec: &ChildSpec) -> Facts {
        let (readiness, sup) = match &spec.kind {
            ChildKind::Worker => (Some(spec.readiness), None),
            ChildKind::Supervisor(s) => (None, Some(Arc::clone(s))),
        };
        Facts {
            restart: Some(spec.restart),
            readiness,
            shutdown: spec.shutdown_policy(),
            sup,
        }
    }
}

/// One child in a supervisor's list.
#[derive(Clone, Debug)]
pub(crate) struct Kid {
    /// Its name.
    pub(crate) name: String,
    /// What its spec says.
    pub(crate) facts: Facts,
    /// Removed from the supervisor (kept in the list so positions stay put).
    pub(crate) removed: bool,
}

/// A supervisor incarnation as its spec gives it: intensity, period, shutdown
/// order and its children in start order (static ones, then those
/// `start_child` added).
#[derive(Clone, Debug, Default)]
pub(crate) struct Family {
    /// Its intensity and period.
    pub(crate) intensity: (u32, Duration),
    /// How it stops its children when it ends.
    pub(crate) shutdown_order: ShutdownOrder,
    /// Its children, removed ones included, in start order.
    pub(crate) kids: Vec<Kid>,
}

impl Family {
    /// The family a new incarnation of a supervisor with `spec` starts with.
    pub(crate) fn of(spec: &SupervisorSpec) -> Family {
        let kid = |c: &ChildSpec| Kid {
            name: c.name.clone(),
            facts: Facts::of(c),
            removed: false,
        };
        Family {
            intensity: (spec.intensity, spec.period),
            shutdown_order: spec.shutdown_order,
            kids: spec.children.iter().map(kid).collect(),
        }
    }

    /// The position of the child called `name` (not removed).
    pub(crate) fn position(&self, name: &str) -> Option<usize> {
        self.kids.iter().position(|k| !k.removed && k.name == name)
    }

    /// An accepted `start_child` (appended) or `replace_child` (in place).
    pub(crate) fn apply(&mut self, spec: &ChildSpec) {
        match self.position(&spec.name) {
            Some(i) => self.kids[i].facts = Facts::of(spec),
            None => self.kids.push(Kid {
                name: spec.name.clone(),
                facts: Facts::of(spec),
                removed: false,
            }),
        }
    }
}

/// `path` split into its parent's path and its name (`None` for the root).
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    match path.rsplit_once('/') {
        Some((parent, name)) => Some((parent, name)),
        None if path.is_empty() => None,
        None => Some(("", path)),
    }
}

/// The given specs: the root's family, and requests whose specs are not
/// applied yet.
#[derive(Debug, Default)]
pub(crate) struct GivenSpecs {
    /// The root's family as its spec gives it.
    pub(crate) root: Family,
    /// The spec of the request being sent, until its `request` notice names it.
    offered: Option<ChildSpec>,
    /// `start_child` / `replace_child` requests not answered yet: id, the
    /// child's path, its spec.
    pending: Vec<(RequestId, String, ChildSpec)>,
}

impl GivenSpecs {
    /// The specs of a tree built from `root`.
    pub(crate) fn new(root: &SupervisorSpec) -> Self {
        GivenSpecs {
            root: Family::of(root),
            ..GivenSpecs::default()
        }
    }

    /// The world is sending `request`.
    pub(crate) fn offer(&mut self, request: &Request) {
        self.offered = match request {
            Request::StartChild { spec, .. } | Request::ReplaceChild { spec, .. } => Some(spec.clone()),
            _ => None,
        };
    }

    /// The engine noticed a `start_child` or `replace_child` request `id`
    /// for the child at `path`.
    pub(crate) fn requested(&mut self, id: RequestId, path: &str) {
        if let Some(spec) = self.offered.take() {
            self.pending.push((id, path.to_owned(), spec));
        }
    }

    /// Request `id` was answered: the path and spec to apply if it was
    /// accepted (none while it is pending, or if it failed).
    pub(crate) fn answered(
        &mut self,
        id: RequestId,
        result: &Result<Reply, RequestError>,
    ) -> Option<(String, ChildSpec)> {
        if matches!(result, Ok(Reply::Pending(_))) {
            return None;
        }
        let i = self.pending.iter().position(|(r, _, _)| *r == id)?;
        let (_, path, spec) = self.pending.remove(i);
        result.is_ok().then_some((path, spec))
    }

    /// A node at `path` that its supervisor's list lacks begins a run: the
    /// pending `start_child` that adds it (its child starts before its reply
    /// is noticed), if any.
    pub(crate) fn take_start(&mut self, path: &str) -> Option<ChildSpec> {
        let i = self.pending.iter().position(|(_, p, _)| p == path)?;
        Some(self.pending.remove(i).2)
    }
}
