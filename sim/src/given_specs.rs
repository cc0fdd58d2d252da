//! The specs the oracle was given: the root [`SupervisorSpec`] and the
//! specs of accepted `start_child` / `replace_child` requests, kept by path.
//!
//! The oracle reads restart types, readiness, shutdown policies, intensity
//! and sibling order from here, never from the engine it judges
//! (docs/SIMULATION.md, "The oracle").

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{ChildKind, ChildSpec, Readiness, Reply, Request, RequestError, RequestId, Restart, Shutdown, SupervisorSpec};

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

/// The given specs, by path (the root is `""`, its child `a`, a grandchild `a/b`).
#[derive(Debug, Default)]
pub(crate) struct GivenSpecs {
    root: Option<Arc<SupervisorSpec>>,
    /// Each supervisor's children in start order, as of its current incarnation.
    children: BTreeMap<String, Vec<(String, Facts)>>,
    /// The spec of the request being sent, until its `request` notice names it.
    offered: Option<ChildSpec>,
    /// `start_child` / `replace_child` requests not answered yet.
    pending: Vec<(RequestId, String, ChildSpec)>,
}

/// `path` split into its parent's path and its name (`None` for the root).
pub(crate) fn split_path(path: &str) -> Option<(&str, &str)> {
    match path.rsplit_once('/') {
        Some((parent, name)) => Some((parent, name)),
        None if path.is_empty() => None,
        None => Some(("", path)),
    }
}

impl GivenSpecs {
    /// The specs of a tree built from `root`.
    pub(crate) fn new(root: &SupervisorSpec) -> Self {
        GivenSpecs {
            root: Some(Arc::new(root.clone())),
            ..GivenSpecs::default()
        }
    }

    /// What the spec of the node at `path` says (the root's restart type is `None`).
    pub(crate) fn facts(&self, path: &str) -> Option<Facts> {
        let Some((parent, name)) = split_path(path) else {
            return self.root.as_ref().map(|s| Facts {
                restart: None,
                readiness: None,
                shutdown: Shutdown::Infinity,
                sup: Some(Arc::clone(s)),
            });
        };
        let siblings = self.children.get(parent)?;
        siblings.iter().find(|(n, _)| n == name).map(|(_, f)| f.clone())
    }

    /// The supervisor at `path` begins an incarnation: its children are its
    /// spec's, in spec order. Returns its spec.
    pub(crate) fn incarnation(&mut self, path: &str) -> Option<Arc<SupervisorSpec>> {
        let spec = self.facts(path)?.sup?;
        let kids = spec.children.iter().map(|c| (c.name.clone(), Facts::of(c))).collect();
        self.children.insert(path.to_owned(), kids);
        Some(spec)
    }

    /// The names of the children of the supervisor at `path`, in start order.
    pub(crate) fn sibling_names(&self, path: &str) -> impl Iterator<Item = &str> {
        self.children.get(path).into_iter().flatten().map(|(n, _)| n.as_str())
    }

    /// The node at `path` was removed from its supervisor.
    pub(crate) fn removed(&mut self, path: &str) {
        if let Some((parent, name)) = split_path(path) {
            if let Some(kids) = self.children.get_mut(parent) {
                kids.retain(|(n, _)| n != name);
            }
        }
    }

    /// A node at `path` begins a run or incarnation: an accepted
    /// `start_child` for a path the spec does not hold yet takes effect now
    /// (its child starts before its reply is noticed).
    pub(crate) fn starting(&mut self, path: &str) {
        if self.facts(path).is_some() {
            return;
        }
        if let Some(i) = self.pending.iter().position(|(_, p, _)| p == path) {
            let (_, _, spec) = self.pending.remove(i);
            self.add(path, &spec);
        }
    }

    fn add(&mut self, path: &str, spec: &ChildSpec) {
        if let Some((parent, name)) = split_path(path) {
            let kids = self.children.entry(parent.to_owned()).or_default();
            match kids.iter_mut().find(|(n, _)| n == name) {
                Some(slot) => slot.1 = Facts::of(spec),
                None => kids.push((name.to_owned(), Facts::of(spec))),
            }
        }
    }

    /// The world is sending `request`.
    pub(crate) fn offer(&mut self, request: &Request) {
        self.offered = match request {
            Request::StartChild { spec, .. } | Request::ReplaceChild { spec, .. } => Some(spec.clone()),
            _ => None,
        };
    }

    /// The engine noticed request `id` naming `path`.
    pub(crate) fn requested(&mut self, id: RequestId, path: &str) {
        if let Some(spec) = self.offered.take() {
            self.pending.push((id, path.to_owned(), spec));
        }
    }

    /// Request `id` was answered: an accepted spec takes effect.
    pub(crate) fn answered(&mut self, id: RequestId, result: &Result<Reply, RequestError>) {
        let Some(i) = self.pending.iter().position(|(r, _, _)| *r == id) else {
            return;
        };
        if matches!(result, Ok(Reply::Pending(_))) {
            return;
        }
        let (_, path, spec) = self.pending.remove(i);
        if result.is_ok() {
            self.add(&path, &spec);
        }
    }

    /// A supervisor's intensity and period (`u32::MAX` and zero if unknown).
    pub(crate) fn intensity(spec: Option<&SupervisorSpec>) -> (u32, Duration) {
        spec.map_or((u32::MAX, Duration::ZERO), |s| (s.intensity, s.period))
    }
}
