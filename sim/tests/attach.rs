//! Attaching behaviour models to a tree's workers (`SimModels`, `SimTree`):
//! every mis-attachment is an `AttachError` naming its path or glob, and
//! the two silent mistakes of hand-copied trees (untagged specs sharing one
//! behaviour, a short behaviour list) are errors or right answers now.

use std::time::Duration;

use vigil_core::{ChildSpec, ExitReason, SpecErrorKind, Strategy, SupervisorSpec};
use vigil_sim::{run_seed, AttachError, Lifetime, SimBehaviour, SimModels, SimOptions, SimTree, TraceWriter};

/// root: db, cache, web (one_for_all): http-1, http-2, admin (rest_for_one): panel
fn spec() -> SupervisorSpec {
    let admin = SupervisorSpec::new()
        .strategy(Strategy::RestForOne)
        .child(ChildSpec::worker("panel"));
    let web = SupervisorSpec::new()
        .strategy(Strategy::OneForAll)
        .child(ChildSpec::worker("http-1"))
        .child(ChildSpec::worker("http-2"))
        .child(ChildSpec::supervisor("admin", admin));
    SupervisorSpec::new()
        .child(ChildSpec::worker("db"))
        .child(ChildSpec::worker("cache"))
        .child(ChildSpec::supervisor("web", web))
}

fn b() -> SimBehaviour {
    SimBehaviour::new()
}

/// A model told apart by its start latency.
fn marked(ms: u64) -> SimBehaviour {
    SimBehaviour::new().start_latency(Duration::from_millis(ms))
}

fn attach(models: SimModels) -> Result<SimTree, AttachError> {
    SimTree::new("t", spec(), &models)
}

fn latencies(tree: &SimTree) -> Vec<(String, u64)> {
    tree.workers()
        .iter()
        .map(|w| (w.path().to_owned(), w.model().start_latency.as_millis() as u64))
        .collect()
}

#[test]
fn paths_globs_and_the_default_attach_in_that_order() {
    let tree = attach(
        SimModels::new()
            .glob("web/http-*", marked(2))
            .path("web/http-2", marked(3))
            .glob("**/panel", marked(4))
            .default(marked(1)),
    )
    .expect("every model attached");
    assert_eq!(
        latencies(&tree),
        [
            ("db".into(), 1),
            ("cache".into(), 1),
            ("web/http-1".into(), 2),
            ("web/http-2".into(), 3), // the exact path overrides the glob
            ("web/admin/panel".into(), 4),
        ]
    );
    // Tags are the workers' indexes in depth-first start order; supervisors' are u64::MAX.
    let tags: Vec<u64> = tree.spec().children.iter().map(|c| c.tag).collect();
    assert_eq!(tags, [0, 1, u64::MAX]);
}

#[test]
fn given_tags_are_ignored() {
    let spec = SupervisorSpec::new()
        .child(ChildSpec::worker("a").tag(7))
        .child(ChildSpec::worker("b").tag(7));
    let tree = SimTree::new("t", spec, &SimModels::new().path("a", marked(1)).path("b", marked(2))).unwrap();
    let tags: Vec<u64> = tree.spec().children.iter().map(|c| c.tag).collect();
    assert_eq!(tags, [0, 1]);
}

/// Each mis-attachment, with its message.
#[test]
fn every_mis_attachment_is_an_error_naming_it() {
    let cases: Vec<(SimModels, AttachError, &str)> = vec![
        (
            SimModels::new().path("dbb", b()).default(b()),
            AttachError::UnknownPath { path: "dbb".into() },
            "a model is attached to `dbb`, but no worker has that path",
        ),
        (
            SimModels::new().path("web", b()).default(b()),
            AttachError::NotAWorker { path: "web".into() },
            "a model is attached to `web`, which is a supervisor: models belong to workers",
        ),
        (
            SimModels::new().glob("api/*", b()).default(b()),
            AttachError::UnmatchedGlob { glob: "api/*".into() },
            "the glob `api/*` matches no worker",
        ),
        (
            // A glob that matches only a supervisor matches no worker.
            SimModels::new().glob("we*", b()).default(b()),
            AttachError::UnmatchedGlob { glob: "we*".into() },
            "the glob `we*` matches no worker",
        ),
        (
            SimModels::new().glob("web//x", b()).default(b()),
            AttachError::BadGlob {
                glob: "web//x".into(),
                problem: "it has an empty segment (`//`, or a `/` at an end)".into(),
            },
            "the glob `web//x` is not valid: it has an empty segment (`//`, or a `/` at an end)",
        ),
        (
            SimModels::new().glob("web/http**", b()).default(b()),
            AttachError::BadGlob {
                glob: "web/http**".into(),
                problem: "`**` must be a whole segment (`a/**/b`, not `a**`)".into(),
            },
            "the glob `web/http**` is not valid: `**` must be a whole segment (`a/**/b`, not `a**`)",
        ),
        (
            SimModels::new().path("db", b()).path("db", marked(1)).default(b()),
            AttachError::DuplicatePath { path: "db".into() },
            "two models are attached to `db`",
        ),
        (
            SimModels::new().glob("web/*", b()).glob("web/*", b()).default(b()),
            AttachError::DuplicateGlob { glob: "web/*".into() },
            "two models are attached to the glob `web/*`",
        ),
        (
            SimModels::new().default(b()).default(b()),
            AttachError::DuplicateDefault,
            "two default models are given",
        ),
        (
            SimModels::new().glob("web/*", b()).glob("**/http-1", b()).default(b()),
            AttachError::AmbiguousGlobs {
                path: "web/http-1".into(),
                first: "web/*".into(),
                second: "**/http-1".into(),
            },
            "the worker `web/http-1` matches both `web/*` and `**/http-1`: attach its model by its exact path, \
             or narrow a glob",
        ),
        (
            SimModels::new().path("db", b()).glob("web/**", b()),
            AttachError::NoModel { path: "cache".into() },
            "the worker `cache` has no model: attach one by path or glob, or give a default",
        ),
        (
            SimModels::new().path("db", b().start_fail(1.5)).default(b()),
            AttachError::BadProbability {
                target: "db".into(),
                field: "start_fail",
                value: 1.5,
            },
            "the model attached to `db` has start_fail = 1.5, which is not a probability in [0, 1]",
        ),
        (
            SimModels::new().default(b().ignore_stop(-0.1)),
            AttachError::BadProbability {
                target: "default".into(),
                field: "ignore_stop",
                value: -0.1,
            },
            "the model attached to `default` has ignore_stop = -0.1, which is not a probability in [0, 1]",
        ),
    ];
    for (models, error, message) in cases {
        let got = attach(models).unwrap_err();
        assert_eq!(got, error);
        assert_eq!(got.to_string(), message);
    }
}

#[test]
fn an_exact_path_settles_two_matching_globs() {
    let tree = attach(
        SimModels::new()
            .glob("web/*", marked(1))
            .glob("**/http-1", marked(2))
            .path("web/http-1", marked(3))
            .default(b()),
    )
    .expect("the exact path settles it");
    assert_eq!(latencies(&tree)[2], ("web/http-1".into(), 3));
}

#[test]
fn a_nan_probability_is_refused() {
    let err = attach(SimModels::new().default(b().start_fail(f64::NAN))).unwrap_err();
    assert!(
        matches!(
            err,
            AttachError::BadProbability {
                field: "start_fail",
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn an_invalid_spec_is_refused_with_the_engines_error() {
    let spec = SupervisorSpec::new()
        .child(ChildSpec::worker("a"))
        .child(ChildSpec::worker("a"));
    let err = SimTree::new("t", spec, &SimModels::new().default(b())).unwrap_err();
    let AttachError::Spec(e) = &err else { panic!("{err}") };
    assert_eq!(e.kind, SpecErrorKind::DuplicateName { name: "a".into() });
}

#[test]
fn no_models_and_no_default_is_an_error_even_for_one_worker() {
    let spec = SupervisorSpec::new().child(ChildSpec::worker("only"));
    let err = SimTree::new("t", spec, &SimModels::new()).unwrap_err();
    assert_eq!(err, AttachError::NoModel { path: "only".into() });
    // An empty tree needs no model.
    assert!(SimTree::new("t", SupervisorSpec::new(), &SimModels::new()).is_ok());
}

/// The trace of a run with no random faults, as lines.
fn trace(tree: &SimTree) -> String {
    let sink = SharedBuffer::default();
    let opts = SimOptions {
        duration: Duration::from_secs(10),
        random_faults: false,
        ..SimOptions::default()
    };
    run_seed(tree, 0, &opts, TraceWriter::to_sink(Box::new(sink.clone())));
    let bytes = sink.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[derive(Clone, Default)]
struct SharedBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Regression: specs written by hand all had tag 0, so every worker ran the
/// behaviour of the first. Each now runs its own.
#[test]
fn untagged_workers_each_run_their_own_model() {
    let spec = SupervisorSpec::new()
        .intensity(100)
        .child(ChildSpec::worker("steady"))
        .child(ChildSpec::worker("crasher"));
    let crashes = SimBehaviour::new()
        .lifetime(Lifetime::Fixed(Duration::from_secs(3)))
        .exit(ExitReason::Error("boom".into()));
    let models = SimModels::new()
        .path("steady", SimBehaviour::new())
        .path("crasher", crashes);
    let text = trace(&SimTree::new("t", spec, &models).unwrap());
    let exits = |path: &str| {
        text.lines()
            .filter(|l| l.contains(r#""ev":"exited""#) && l.contains(&format!(r#""path":"{path}""#)))
            .count()
    };
    assert_eq!(exits("steady"), 0, "{text}");
    assert!(exits("crasher") >= 3, "crashes every 3 s for 10 s:\n{text}");
}

/// Regression: a behaviour list shorter than the workers gave the missing
/// ones the default silently. A worker without a model is now an error.
#[test]
fn a_worker_left_without_a_model_is_an_error() {
    let spec = SupervisorSpec::new()
        .child(ChildSpec::worker("a"))
        .child(ChildSpec::worker("b"))
        .child(ChildSpec::worker("c"));
    let models = SimModels::new().path("a", b()).path("b", b());
    assert_eq!(
        SimTree::new("t", spec, &models).unwrap_err(),
        AttachError::NoModel { path: "c".into() }
    );
}

/// Children added at run time run the default model when one is given.
#[test]
fn the_default_models_children_started_at_run_time() {
    use vigil_config::{Action, Script, TimedAction};
    use vigil_core::Request;
    let spec = SupervisorSpec::new().intensity(100).child(ChildSpec::worker("a"));
    let dying = SimBehaviour::new()
        .lifetime(Lifetime::Fixed(Duration::from_secs(2)))
        .exit(ExitReason::Error("late".into()));
    let start = |name: &str| TimedAction {
        time: Duration::from_secs(1),
        line: 1,
        action: Action::Request(Request::StartChild {
            parent: String::new(),
            spec: ChildSpec::worker(name).restart(vigil_core::Restart::Temporary),
        }),
    };
    let script = Script {
        source: "s.toml".into(),
        actions: vec![start("extra")],
    };
    let opts = SimOptions {
        duration: Duration::from_secs(10),
        random_faults: false,
        ..SimOptions::default()
    }
    .with_script(script);
    let run = |models: SimModels| {
        let tree = SimTree::new("t", spec.clone(), &models).unwrap();
        let sink = SharedBuffer::default();
        run_seed(&tree, 0, &opts, TraceWriter::to_sink(Box::new(sink.clone())));
        let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .any(|l| l.contains(r#""path":"extra""#) && l.contains("error(late)"))
    };
    assert!(run(SimModels::new().path("a", b()).default(dying)));
    assert!(
        !run(SimModels::new().path("a", b())),
        "no default: SimBehaviour::default, which never exits"
    );
}
