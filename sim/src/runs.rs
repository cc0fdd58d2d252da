//! The world's own truth about runs: which run of each worker is live and in
//! what phase, as the engine's commands and the world's inputs made it, and
//! the latest runs that ended (for stale inputs).
//!
//! A run becomes live with its `Spawn`, moves to `Up` with its `Started`
//! (and `ready` with its `Ready`), to `Stopping` with its `Stop` or `Kill`,
//! and ends with its `StartFailed` or `Exited`. Lookups are by node index,
//! O(1).

use vigil_core::{Input, NodeId, RunId};

/// How many ended runs the world remembers, the latest ones (a ring).
pub const ENDED_KEPT: usize = 64;

/// Where a live run is, as far as the world knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunPhase {
    /// The engine sent `Spawn`; the world has not answered yet.
    Spawning,
    /// The world reported `Started`.
    Up {
        /// The world reported `Ready` (meaningful for `notify` workers only).
        ready: bool,
    },
    /// The engine sent `Stop` or `Kill`; the run has not exited yet.
    Stopping,
}

/// One live run.
#[derive(Clone, Copy, Debug)]
struct Live {
    run: RunId,
    phase: RunPhase,
    /// The engine sent `Kill`.
    killed: bool,
    /// Spawn order among all runs (for [`Runs::in_spawn_order`]).
    order: u64,
}

/// What a valid input does to its live run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Effect {
    /// The run moves to this phase.
    Phase(RunPhase),
    /// The run ends.
    End,
    /// Nothing changes.
    Keep,
}

/// Whether `input` is valid for a live run in `phase` (`notify`: whether
/// its worker reports ready), and what it does; `None` if it is stale.
fn judge(phase: RunPhase, input: &Input, notify: impl FnOnce() -> bool) -> Option<Effect> {
    let valid = match input {
        Input::Started(_) => {
            return (phase == RunPhase::Spawning).then_some(Effect::Phase(RunPhase::Up { ready: false }))
        }
        Input::StartFailed(..) => return (phase == RunPhase::Spawning).then_some(Effect::End),
        Input::Exited(..) => return Some(Effect::End),
        Input::Ready(_) => {
            let valid = phase == RunPhase::Up { ready: false } && notify();
            return valid.then_some(Effect::Phase(RunPhase::Up { ready: true }));
        }
        Input::Heartbeat(_) => phase != RunPhase::Spawning,
        // A monitor evicts a run that is up (ready or not), never one
        // already told to stop.
        Input::Evict(..) => matches!(phase, RunPhase::Up { .. }),
    };
    valid.then_some(Effect::Keep)
}

/// Why the world refused a command: what it says about the run it names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// A `Spawn` for a worker whose run (this one) is still live.
    AlreadyLive(RunId),
    /// A `Stop` or `Kill` for the live run before it reported `Started`.
    NotStarted,
    /// A `Stop` or `Kill` for a run that is not the worker's live one.
    NotItsLiveRun,
    /// A `Stop` or `Kill` for a worker with no live run.
    NotLive,
}

/// The live runs by node, and the latest ended runs.
#[derive(Clone, Debug, Default)]
pub struct Runs {
    by_node: Vec<Option<Live>>,
    live: usize,
    spawned: u64,
    ended: Vec<RunId>,
    ended_next: usize,
}

impl Runs {
    /// The phase of `run` if it is the live run of its worker.
    pub fn phase(&self, run: RunId) -> Option<RunPhase> {
        self.slot(run.node).filter(|l| l.run == run).map(|l| l.phase)
    }

    /// Whether `run` is the live run of its worker.
    pub fn is_live(&self, run: RunId) -> bool {
        self.phase(run).is_some()
    }

    /// The live run of `node`, if any.
    pub fn live_run(&self, node: NodeId) -> Option<RunId> {
        self.slot(node).map(|l| l.run)
    }

    /// Whether the engine sent `Kill` to the live run `run`.
    pub fn is_killed(&self, run: RunId) -> bool {
        self.slot(run.node).is_some_and(|l| l.run == run && l.killed)
    }

    /// How many runs are live.
    pub fn len(&self) -> usize {
        self.live
    }

    /// Whether no run is live.
    pub fn is_empty(&self) -> bool {
        self.live == 0
    }

    /// The live runs and their phases, by node index.
    pub fn iter(&self) -> impl Iterator<Item = (RunId, RunPhase)> + '_ {
        self.by_node.iter().flatten().map(|l| (l.run, l.phase))
    }

    /// The live runs in the order they were spawned.
    pub fn in_spawn_order(&self) -> Vec<RunId> {
        let mut live: Vec<&Live> = self.by_node.iter().flatten().collect();
        live.sort_by_key(|l| l.order);
        live.into_iter().map(|l| l.run).collect()
    }

    /// The latest runs that ended (at most [`ENDED_KEPT`], in no particular order).
    pub fn ended(&self) -> &[RunId] {
        &self.ended
    }

    /// Whether `input` is valid: about a live run, and meaningful in its
    /// phase (`notify`: whether its worker reports ready).
    pub fn is_valid(&self, input: &Input, notify: impl FnOnce() -> bool) -> bool {
        let run = input.run();
        self.slot(run.node)
            .filter(|l| l.run == run)
            .is_some_and(|l| judge(l.phase, input, notify).is_some())
    }

    /// Record a delivered `input`: returns whether it was valid, and if so
    /// moves or ends its run. (Public for drivers that own their engine, such
    /// as vigil-tokio's own-code simulation, `adapters/tokio/src/dst/`.)
    pub fn accept(&mut self, input: &Input, notify: impl FnOnce() -> bool) -> bool {
        let run = input.run();
        let Some(slot) = self.by_node.get_mut(run.node.index()) else {
            return false;
        };
        let Some(live) = slot.as_mut().filter(|l| l.run == run) else {
            return false;
        };
        match judge(live.phase, input, notify) {
            None => false,
            Some(Effect::Keep) => true,
            Some(Effect::Phase(phase)) => {
                live.phase = phase;
                true
            }
            Some(Effect::End) => {
                *slot = None;
                self.remember_ended(run);
                true
            }
        }
    }

    fn slot(&self, node: NodeId) -> Option<&Live> {
        self.by_node.get(node.index()).and_then(Option::as_ref)
    }

    /// The engine spawned `run`.
    pub fn spawn(&mut self, run: RunId) -> Result<(), Refused> {
        let i = run.node.index();
        if i >= self.by_node.len() {
            self.by_node.resize(i + 1, None);
        }
        if let Some(l) = &self.by_node[i] {
            return Err(Refused::AlreadyLive(l.run));
        }
        self.spawned += 1;
        self.live += 1;
        self.by_node[i] = Some(Live {
            run,
            phase: RunPhase::Spawning,
            killed: false,
            order: self.spawned,
        });
        Ok(())
    }

    /// The engine asked `run` to stop (`kill`: killed it).
    pub fn stop(&mut self, run: RunId, kill: bool) -> Result<(), Refused> {
        let slot = self.by_node.get_mut(run.node.index()).and_then(Option::as_mut);
        match slot {
            Some(l) if l.run == run && l.phase != RunPhase::Spawning => {
                l.phase = RunPhase::Stopping;
                l.killed |= kill;
                Ok(())
            }
            Some(l) if l.run == run => Err(Refused::NotStarted),
            Some(_) => Err(Refused::NotItsLiveRun),
            None => Err(Refused::NotLive),
        }
    }

    /// `run` ended: one run fewer live, and remembered among the ended runs.
    fn remember_ended(&mut self, run: RunId) {
        self.live = self.live.saturating_sub(1);
        if self.ended.len() < ENDED_KEPT {
            self.ended.push(run);
        } else {
            self.ended[self.ended_next] = run;
            self.ended_next = (self.ended_next + 1) % ENDED_KEPT;
        }
    }
}
