//! The system under test: a `vigil_core::Engine` driven through its public
//! API only (`handle`, `handle_timeout`, `request`, `poll_*`), in the world
//! of `behaviour.rs`, with what it does rendered as the model renders it.

use std::collections::{BTreeMap, BTreeSet};

use vigil_core::{
    Command, Engine, ExitReason, Input, Instant, Notice, Reply, Request, RequestError, RequestId, RunId, SupervisorSpec,
};

use crate::behaviour::{Behaviour, FailMode};
use crate::model::join;
use crate::observation::{child_line, command_line, counts_line, shown, which_children_line};
use crate::transition::Transition;

/// More engine calls than this in one step means the engine does not settle.
const SETTLE_BUDGET: usize = 100_000;

/// The engine, its world and what it did during the current step.
pub struct EngineUnderTest {
    engine: Engine,
    now: Instant,
    behaviour: Behaviour,
    /// Runs asked to stop that ignore it (until they are killed).
    hanging: BTreeSet<RunId>,
    /// Commands of the current step, rendered.
    commands: Vec<String>,
    /// Answers of requests answered `Pending`, from `Notice::Reply`.
    replies: BTreeMap<RequestId, Result<Reply, RequestError>>,
}

impl EngineUnderTest {
    /// An engine for `spec` (seed 0), prepared by `prepare` (a test may
    /// break it on purpose), started at time zero in a world that behaves as
    /// `behaviour` says, and settled.
    pub fn start(spec: SupervisorSpec, behaviour: Behaviour, prepare: fn(&mut Engine)) -> EngineUnderTest {
        let mut engine = Engine::new(spec, 0).expect("generated specs are valid");
        prepare(&mut engine);
        let mut sut = EngineUnderTest {
            engine,
            now: Instant::ZERO,
            behaviour,
            hanging: BTreeSet::new(),
            commands: Vec::new(),
            replies: BTreeMap::new(),
        };
        sut.engine.start(sut.now);
        sut.settle();
        sut
    }

    /// Apply one transition; returns the final answer of its request, if any.
    pub fn apply(&mut self, transition: &Transition) -> Option<String> {
        match transition {
            Transition::Exit { path, reason } => {
                if let Some(run) = self.run(path) {
                    self.engine.handle(Input::Exited(run, reason.clone()), self.now);
                    self.settle();
                }
                None
            }
            Transition::FailStarts { path, count, mode } => {
                self.behaviour.fail_starts(path, *count, *mode);
                None
            }
            Transition::HangOnStop { path } => {
                if let Some(run) = self.run(path) {
                    self.behaviour.hang_on_stop(path, run.generation);
                }
                None
            }
            Transition::Advance(d) => {
                let target = self.now.saturating_add(*d);
                while let Some(at) = self.engine.poll_timeout().filter(|at| *at <= target) {
                    self.now = self.now.max(at);
                    self.engine.handle_timeout(self.now);
                    self.settle();
                }
                self.now = target;
                None
            }
            Transition::Request(op) => {
                let answer = self.engine.request(op.request(), self.now);
                self.settle();
                let answer = match answer {
                    Ok(Reply::Pending(id)) => self.replies.remove(&id),
                    other => Some(other),
                };
                Some(answer.map_or_else(|| "pending, never answered".to_owned(), |a| render_reply(&a)))
            }
        }
    }

    /// The commands of the current step, forgotten here.
    pub fn take_commands(&mut self) -> Vec<String> {
        std::mem::take(&mut self.commands)
    }

    /// `which_children` of every supervisor, asked of the engine, in the
    /// model's order.
    pub fn children_view(&mut self) -> Vec<String> {
        if self.engine.is_down() {
            return vec!["tree down".into()];
        }
        let mut out = Vec::new();
        self.view("", &mut out);
        out
    }

    fn view(&mut self, path: &str, out: &mut Vec<String>) {
        let answer = self
            .engine
            .request(Request::WhichChildren { path: path.to_owned() }, self.now);
        self.settle();
        let counts = self
            .engine
            .request(Request::CountChildren { path: path.to_owned() }, self.now);
        self.settle();
        match counts {
            Ok(Reply::Counts(c)) => out.push(counts_line(path, c.specs, c.active, c.supervisors, c.workers)),
            other => out.push(format!("count_children {}: {other:?}", shown(path))),
        }
        let children = match answer {
            Ok(Reply::Children(children)) => children,
            Err(e) => return out.push(format!("{} error({})", which_children_line(path), e.code())),
            Ok(other) => return out.push(format!("{} {other:?}", which_children_line(path))),
        };
        out.push(which_children_line(path));
        for c in &children {
            out.push(child_line(
                &c.name,
                c.supervisor,
                c.dynamic,
                c.state.as_str(),
                c.generation,
            ));
        }
        for c in children.iter().filter(|c| c.supervisor) {
            self.view(&join(path, &c.name), out);
        }
    }

    /// The current run of the worker at `path`.
    fn run(&self, path: &str) -> Option<RunId> {
        self.engine.current_run(self.engine.lookup(path)?)
    }

    /// Answer commands by the world's behaviour until none is left; while a
    /// run ignores its stop, let time run to the engine's next deadline.
    fn settle(&mut self) {
        for _ in 0..SETTLE_BUDGET {
            self.drain_notices();
            if let Some(cmd) = self.engine.poll_command() {
                self.answer(cmd);
                continue;
            }
            if self.hanging.is_empty() {
                return;
            }
            let Some(at) = self.engine.poll_timeout() else {
                panic!(
                    "runs {:?} ignore their stop and the engine armed no deadline",
                    self.hanging
                );
            };
            self.now = self.now.max(at);
            self.engine.handle_timeout(self.now);
        }
        panic!("the engine did not settle within {SETTLE_BUDGET} calls");
    }

    fn answer(&mut self, cmd: Command) {
        let run = cmd.run();
        let path = self.engine.path(run.node).unwrap_or_else(|| run.node.to_string());
        let (verb, input) = match cmd {
            Command::Spawn(_) => (
                "spawn",
                match self.behaviour.take_start_failure(&path) {
                    Some(FailMode::StartFailed) => Some(Input::StartFailed(run, "scripted".into())),
                    Some(FailMode::ExitBeforeStarted) => Some(Input::Exited(run, ExitReason::Error("early".into()))),
                    None => Some(Input::Started(run)),
                },
            ),
            Command::Stop(_) if self.behaviour.ignores_stop(&path, run.generation) => {
                self.hanging.insert(run);
                ("stop", None)
            }
            Command::Stop(_) => ("stop", Some(Input::Exited(run, ExitReason::shutdown()))),
            Command::Kill(_) => {
                self.hanging.remove(&run);
                ("kill", Some(Input::Exited(run, ExitReason::Killed)))
            }
        };
        self.commands.push(command_line(self.now, verb, &path, run.generation));
        if let Some(input) = input {
            self.engine.handle(input, self.now);
        }
    }

    fn drain_notices(&mut self) {
        while let Some(notice) = self.engine.poll_notice() {
            if let Notice::Reply { id, result, .. } = notice {
                self.replies.insert(id, *result);
            }
        }
    }
}

/// A request's final answer as the model writes it.
fn render_reply(answer: &Result<Reply, RequestError>) -> String {
    match answer {
        Ok(Reply::Ok) => "ok".into(),
        Ok(Reply::Started { run: Some(run), .. }) => format!("started gen={}", run.generation),
        Ok(Reply::Started { run: None, .. }) => "started".into(),
        Ok(other) => format!("{other:?}"),
        Err(e) => format!("error({})", e.code()),
    }
}
