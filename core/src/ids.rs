//! Small identifiers: nodes in the arena, runs of a worker, operator requests.

use std::fmt;

/// A node of the tree (a worker or a supervisor), an index into the engine's arena.
///
/// Ids are only meaningful for the engine that issued them. A slot may be
/// reused after its node is removed (a temporary child that ended, a deleted
/// child), which is why every event also carries a [`RunId::generation`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(pub(crate) u32);

impl NodeId {
    /// The root supervisor; it always exists.
    pub const ROOT: NodeId = NodeId(0);

    /// The arena index, for drivers that keep side tables indexed by node.
    pub const fn index(self) -> usize {
        self.0 as usize
    }

    /// Rebuild an id from [`NodeId::index`] (for decoding traces and fuzz inputs;
    /// an id that names no node is simply stale when used).
    pub const fn from_index(index: u32) -> Self {
        NodeId(index)
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// One run of a worker: the node and the generation the engine gave it when it
/// emitted the `Spawn`. Every command carries it, every input must echo it.
///
/// Generations come from one counter for the whole engine, so they never repeat,
/// not even across nodes whose arena slot was reused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RunId {
    /// The worker.
    pub node: NodeId,
    /// The generation of this run (starts at 1; never reused).
    pub generation: u64,
}

/// Identifies an operator request whose answer is given later, in a
/// [`Notice::Reply`](crate::Notice::Reply).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "req{}", self.0)
    }
}
