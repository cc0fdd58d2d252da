//! The hostile suite: every class of input and fault that once crashed, hung,
//! starved or silently emptied the tree, driven with real processes, real
//! sockets and real files against the `vigil` binary. Each case asserts the
//! outcome: the tree stays up with its PIDs unchanged, or vigil gives a clear
//! error and a documented exit code; descriptors and memory stay bounded; and
//! nothing is left behind. `docs/TESTING.md` lists the classes.

#[path = "../support/mod.rs"]
mod support;

mod arithmetic;
mod control;
mod descriptors;
mod inputs;
mod leftovers;
mod messages;
mod pipes;
mod progress;
mod reload;
mod suspended;
mod temporary;
mod trace_disk;
