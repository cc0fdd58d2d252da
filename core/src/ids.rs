//! Small identifiers: nodes in the arena, runs of a worker, operator requests.

use std::fmt;
use std::num::NonZeroU32;

/// A node of the tree (a worker or a supervisor), an index into the engine's arena.
///
/// Ids are only meaningful for the engine that issued them. A slot may be
/// reused after its node is removed (a temporary child that ended, a deleted
/// child), which is why every event also carries a [`RunId::generation`].
///
/// The id stores its index plus one in a `NonZeroU32`, so `Option<NodeId>`
/// is 4 bytes, like the id itself: the engine's links (parent, children,
/// siblings) are `Option<NodeId>`, with no sentinel value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct NodeId(NonZeroU32);

impl NodeId {
    /// The root supervisor; it always exists.
    pub const ROOT: NodeId = NodeId(NonZeroU32::MIN);

    /// The largest index an id can carry. The arena never holds that many
    /// nodes (it would need hundreds of gigabytes), so an id built from a
    /// larger index names no node either.
    pub const MAX_INDEX: u32 = u32::MAX - 1;

    /// The arena index, for drivers that keep side tables indexed by node.
    pub const fn index(self) -> usize {
        // `get() >= 1`: no underflow.
        (self.0.get() - 1) as usize
    }

    /// Rebuild an id from [`NodeId::index`] (for decoding traces and fuzz inputs;
    /// an id that names no node is simply stale when used). An index above
    /// [`NodeId::MAX_INDEX`] (only `u32::MAX`) is read as `MAX_INDEX`, which
    /// names no node either.
    pub const fn from_index(index: u32) -> Self {
        let plus_one = if index > Self::MAX_INDEX { u32::MAX } else { index + 1 };
        match NonZeroU32::new(plus_one) {
            Some(v) => NodeId(v),
            // `plus_one >= 1` by construction.
            None => NodeId::ROOT,
        }
    }

    /// The arena slot of this id: the index plus one. The arena keeps slot 0
    /// unused, so the engine reads a node with no arithmetic on the id.
    #[inline(always)]
    pub(crate) const fn slot(self) -> usize {
        self.0.get() as usize
    }

    /// The id of arena slot `slot` (at least 1), if an id can carry it.
    pub(crate) fn from_slot(slot: usize) -> Option<Self> {
        u32::try_from(slot).ok().and_then(NonZeroU32::new).map(NodeId)
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The index, as when the id was a plain index.
        f.debug_tuple("NodeId").field(&self.index()).finish()
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.index())
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_absent_node_costs_no_space() {
        assert_eq!(std::mem::size_of::<NodeId>(), 4);
        assert_eq!(std::mem::size_of::<Option<NodeId>>(), 4);
    }

    #[test]
    fn ids_round_trip_their_index_and_print_it() {
        for i in [0u32, 1, 7, 9999, NodeId::MAX_INDEX] {
            let id = NodeId::from_index(i);
            assert_eq!(id.index(), i as usize);
            assert_eq!(id.to_string(), format!("#{i}"));
            assert_eq!(format!("{id:?}"), format!("NodeId({i})"));
        }
        assert_eq!(NodeId::from_index(0), NodeId::ROOT);
        assert!(NodeId::from_index(3) < NodeId::from_index(4));
    }

    #[test]
    fn an_index_beyond_the_largest_saturates_instead_of_wrapping_to_the_root() {
        let id = NodeId::from_index(u32::MAX);
        assert_eq!(id.index(), NodeId::MAX_INDEX as usize);
        assert_ne!(id, NodeId::ROOT);
        assert_eq!(NodeId::from_slot(u32::MAX as usize + 1), None);
        assert_eq!(NodeId::from_slot(0), None);
        assert_eq!(NodeId::from_slot(6), Some(NodeId::from_index(5)));
        assert_eq!(NodeId::from_index(5).slot(), 6);
    }
}
