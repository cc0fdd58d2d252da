//! The engine against a reference model, in the style of Firezone's connlib
//! tests (a reference state machine and the system under test driven by the
//! same transitions, with proptest-state-machine).
//!
//! `model.rs` states the supervision rules of docs/SEMANTICS.md as a small
//! synchronous program: the specification. proptest generates a tree and a
//! sequence of transitions from the model's state (workers exit with any
//! reason, starts fail, runs ignore their stop, time passes, operators call
//! start_child, terminate_child, restart_child, delete_child and shutdown);
//! the model and a real `Engine` (`engine_under_test.rs`) go through each
//! one, and after every step the commands (spawn, stop and kill, in order,
//! with their time and generation), the request's answer and
//! `which_children` of every supervisor must be identical. A divergence is
//! shrunk to a short sequence and printed side by side.
//!
//! What the model does not cover (the invariant oracle of vigil-sim, the rule
//! tests in tests/tests/ and the OTP conformance suite do):
//! - the [ext] features with deadlines or randomness: readiness and startup
//!   timeouts, health deadlines, backoff, eviction;
//! - inputs that arrive while a supervisor is busy (its mailbox): the world
//!   answers every command at once, so each step ends with a settled tree;
//!   exits of runs that are still starting or already stopping; stale inputs;
//! - a stop answered with another reason than `shutdown` (it changes no
//!   command), bad specs given to start_child;
//! - a supervisor under a parallel one (the parallel shutdown order is
//!   modelled for supervisors of workers: a nested supervisor's own stop
//!   would run concurrently with its siblings' deadlines, which the model's
//!   one-thing-at-a-time recursion cannot state).
//!
//! `VIGIL_PROPTEST_CASES` scales the number of cases (default 256).

mod behaviour;
mod engine_under_test;
mod model;
mod observation;
mod outline;
mod strategies;
mod transition;

use std::marker::PhantomData;

use proptest::prelude::*;
use proptest::test_runner::Config;
use proptest_state_machine::{prop_state_machine, ReferenceStateMachine, StateMachineTest};
use vigil_core::Engine;

use engine_under_test::EngineUnderTest;
use model::Model;
use observation::Observation;
use transition::Transition;

/// Transitions per case.
const STEPS: std::ops::Range<usize> = 1..40;

fn config() -> Config {
    Config {
        cases: std::env::var("VIGIL_PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..Config::default()
    }
}

/// The reference state machine: the model, and the transitions it allows.
struct Reference;

impl ReferenceStateMachine for Reference {
    type State = Model;
    type Transition = Transition;

    fn init_state() -> BoxedStrategy<Model> {
        let start = strategies::first_start();
        start
            .prop_map(|(spec, behaviour)| Model::start(spec, behaviour))
            .boxed()
    }

    fn transitions(state: &Model) -> BoxedStrategy<Transition> {
        strategies::transition(state)
    }

    fn apply(mut state: Model, transition: &Transition) -> Model {
        state.apply(transition);
        state
    }

    fn preconditions(state: &Model, transition: &Transition) -> bool {
        strategies::applies(state, transition)
    }
}

/// How the engine under test is prepared before it starts (the tests of the
/// comparison itself break it on purpose).
trait Flavour: 'static {
    /// Prepare a new engine.
    fn prepare(_engine: &mut Engine) {}
}

/// The engine as shipped.
struct Correct;

impl Flavour for Correct {}

/// The engine and the model, step by step.
struct EngineMatchesModel<F>(PhantomData<F>);

impl<F: Flavour> StateMachineTest for EngineMatchesModel<F> {
    type SystemUnderTest = EngineUnderTest;
    type Reference = Reference;

    fn init_test(model: &Model) -> EngineUnderTest {
        let mut sut = EngineUnderTest::start(model.root.spec.clone(), model.initial.clone(), F::prepare);
        let actual = observe(&mut sut, None);
        compare("the first start", &expected(model), &actual);
        sut
    }

    fn apply(mut sut: EngineUnderTest, model: &Model, transition: Transition) -> EngineUnderTest {
        let reply = sut.apply(&transition);
        let actual = observe(&mut sut, reply);
        compare(&format!("{transition:?}"), &expected(model), &actual);
        sut
    }
}

fn expected(model: &Model) -> Observation {
    Observation {
        commands: model.ctx.commands.clone(),
        reply: model.reply.clone(),
        children: model.children_view(),
    }
}

fn observe(sut: &mut EngineUnderTest, reply: Option<String>) -> Observation {
    Observation {
        commands: sut.take_commands(),
        reply,
        children: sut.children_view(),
    }
}

/// Panic with both sides, line by line (`!` marks the lines that differ).
fn compare(step: &str, model: &Observation, engine: &Observation) {
    if model == engine {
        return;
    }
    let mut text = format!("the engine diverges from the model after {step}\n");
    let parts = [
        ("commands", &model.commands, &engine.commands),
        ("children", &model.children, &engine.children),
    ];
    for (name, m, e) in parts {
        if m != e {
            text.push_str(&format!("{name} differ:\n{}", side_by_side(m, e)));
        }
    }
    if model.reply != engine.reply {
        text.push_str(&format!(
            "replies differ: model {:?}, engine {:?}\n",
            model.reply, engine.reply
        ));
    }
    panic!("{text}");
}

fn side_by_side(model: &[String], engine: &[String]) -> String {
    let width = model.iter().map(String::len).max().unwrap_or(0).max(5);
    let mut out = format!("    {:width$} | engine\n", "model");
    for i in 0..model.len().max(engine.len()) {
        let m = model.get(i).map_or("", String::as_str);
        let e = engine.get(i).map_or("", String::as_str);
        let mark = if m == e { ' ' } else { '!' };
        out.push_str(&format!("  {mark} {m:width$} | {e}\n"));
    }
    out
}

prop_state_machine! {
    #![proptest_config(config())]

    #[test]
    fn the_engine_matches_the_reference_model(sequential STEPS => EngineMatchesModel<Correct>);
}

/// The divergences the search found while the model was built, replayed as
/// fixed cases (docs/TESTING.md, "The reference model").
mod found {
    use vigil_core::{ChildSpec, ExitReason, Restart, Strategy, SupervisorSpec};

    use super::*;
    use crate::behaviour::Behaviour;
    use crate::transition::Op;

    fn replay(spec: SupervisorSpec, transitions: Vec<Transition>) {
        let model = Model::start(spec, Behaviour::default());
        EngineMatchesModel::<Correct>::test_sequential(Config::default(), model, transitions, None);
    }

    #[test]
    fn a_stopped_supervisor_child_lists_no_children() {
        let inner = SupervisorSpec::new().child(ChildSpec::worker("w0"));
        let spec = SupervisorSpec::new().child(ChildSpec::supervisor("s0", inner));
        replay(spec, vec![Transition::Request(Op::TerminateChild("s0".into()))]);
    }

    /// `t` ends normally (transient: it stays stopped), is replaced by a
    /// temporary spec, then `a` crashes.
    fn stopped_temporary(strategy: Strategy) {
        let spec = SupervisorSpec::new()
            .strategy(strategy)
            .intensity(5)
            .child(ChildSpec::worker("a"))
            .child(ChildSpec::worker("t").restart(Restart::Transient));
        let temporary = ChildSpec::worker("t").restart(Restart::Temporary);
        let exit = |path: &str, reason| Transition::Exit {
            path: path.into(),
            reason,
        };
        replay(
            spec,
            vec![
                exit("t", ExitReason::Normal),
                Transition::Request(Op::ReplaceChild {
                    path: "t".into(),
                    spec: temporary,
                }),
                exit("a", ExitReason::Error("crash".into())),
                Transition::Request(Op::RestartChild("t".into())),
            ],
        );
    }

    #[test]
    fn a_round_removes_a_stopped_temporary_child_it_walks() {
        stopped_temporary(Strategy::OneForAll);
        stopped_temporary(Strategy::RestForOne);
    }

    #[test]
    fn a_one_for_one_restart_leaves_a_stopped_temporary_child_alone() {
        stopped_temporary(Strategy::OneForOne);
    }
}

/// The comparison is not a test that cannot fail: an engine broken on
/// purpose (feature `bug-injection`) diverges from the model, and the
/// divergence names what differs.
#[cfg(feature = "bug-injection")]
mod broken_engines {
    use proptest::test_runner::{RngAlgorithm, TestError, TestRng, TestRunner};
    use vigil_core::InjectedBug;

    use super::*;

    macro_rules! broken {
        ($name:ident, $bug:expr) => {
            struct $name;
            impl Flavour for $name {
                fn prepare(engine: &mut Engine) {
                    engine.inject_bug($bug);
                }
            }
        };
    }

    broken!(SkipIntensity, InjectedBug::SkipIntensity);
    broken!(EarlyKill, InjectedBug::EarlyKill);
    broken!(RestartTransientAlways, InjectedBug::RestartTransientAlways);
    broken!(KeepFailedTemporary, InjectedBug::KeepFailedTemporary);

    /// The failure message of the same search as the main test (a fixed
    /// generator seed, at most `cases` cases), run against engine flavour `F`.
    fn divergence<F: Flavour>(cases: u32) -> String {
        let config = Config {
            cases,
            failure_persistence: None,
            ..Config::default()
        };
        let rng = TestRng::deterministic_rng(RngAlgorithm::ChaCha);
        let mut runner = TestRunner::new_with_rng(config.clone(), rng);
        let result = runner.run(&Reference::sequential_strategy(STEPS), |(state, transitions, seen)| {
            EngineMatchesModel::<F>::test_sequential(config.clone(), state, transitions, seen);
            Ok(())
        });
        match result {
            Err(TestError::Fail(reason, _)) => reason.message().to_owned(),
            other => panic!("the broken engine matched the model: {other:?}"),
        }
    }

    #[test]
    fn an_engine_that_never_gives_up_diverges() {
        let text = divergence::<SkipIntensity>(256);
        assert!(text.contains("commands differ"), "{text}");
    }

    #[test]
    fn an_engine_that_kills_early_diverges() {
        let text = divergence::<EarlyKill>(256);
        assert!(text.contains("commands differ") && text.contains(" kill "), "{text}");
    }

    #[test]
    fn an_engine_that_restarts_a_transient_child_after_a_normal_exit_diverges() {
        let text = divergence::<RestartTransientAlways>(256);
        let normal_exit = ["reason: Normal", "reason: Shutdown"].iter().any(|r| text.contains(r));
        assert!(text.contains("after Exit") && normal_exit, "{text}");
    }

    #[test]
    fn an_engine_that_keeps_a_temporary_child_after_a_failed_start_diverges() {
        let text = divergence::<KeepFailedTemporary>(4000);
        assert!(
            text.contains("children differ") && text.contains("after Request("),
            "{text}"
        );
    }

    #[test]
    fn the_correct_engine_passes_the_same_search() {
        assert!(std::panic::catch_unwind(|| divergence::<Correct>(256)).is_err());
    }
}
