//! The replayer of real runs' traces (sim/src/trace_replay.rs) on traces
//! written here the way the driver writes them: every line stamped with the
//! `now` of the engine call that made it, a request's spec on its line, a
//! `deadline` line for a deadline that wrote nothing.

use std::time::Duration;

use vigil_core::{
    Backoff, ChildSpec, Engine, ExitReason, Input, Instant, Notice, Readiness, Request, RestartAllMode, RunId,
    SupervisorSpec,
};
use vigil_sim::{replay_run, ReplayError, RunReplay};
use vigil_trace::TraceWriter;

const META: &str = r#"{"t":0,"ev":"meta","seed":7,"config":"t.toml","vigil":"0.1.0","origin":"run","digest":null,"t0_utc":"2026-01-01T00:00:00.000000000Z"}"#;

/// A driver in miniature: calls the engine and writes its trace.
struct Recorder {
    engine: Engine,
    writer: TraceWriter,
    text: String,
}

impl Recorder {
    fn new(spec: &SupervisorSpec, t: u64) -> Self {
        let mut r = Recorder {
            engine: Engine::new(spec.clone(), 7).expect("valid"),
            writer: TraceWriter::hashing(),
            text: format!("{META}\n"),
        };
        r.engine.start(at(t));
        r.drain(t, "");
        r
    }

    fn drain(&mut self, t: u64, fields: &str) -> usize {
        let mut n = 0;
        while let Some(notice) = self.engine.poll_notice() {
            let extra = if matches!(notice, Notice::Request { .. }) {
                fields
            } else {
                ""
            };
            self.writer.notice_with(&self.engine, at(t), &notice, extra);
            self.text
                .push_str(std::str::from_utf8(self.writer.last_line()).expect("UTF-8"));
            self.text.push('\n');
            n += 1;
        }
        while self.engine.poll_command().is_some() {}
        n
    }

    fn run(&self, path: &str) -> RunId {
        let node = self.engine.lookup(path).expect("a node");
        self.engine
            .current_run(node)
            .unwrap_or_else(|| panic!("no live run of {path} in\n{}", self.text))
    }

    fn input(&mut self, t: u64, input: Input) {
        self.engine.handle(input, at(t));
        self.drain(t, "");
    }

    fn started(&mut self, t: u64, path: &str) {
        let run = self.run(path);
        self.input(t, Input::Started(run));
    }

    fn exited(&mut self, t: u64, path: &str, reason: ExitReason) {
        let run = self.run(path);
        self.input(t, Input::Exited(run, reason));
    }

    fn request(&mut self, t: u64, request: Request) {
        let fields = vigil_trace::request_fields(&request);
        let _ = self.engine.request(request, at(t));
        self.drain(t, &fields);
    }

    /// Fire the deadlines at `t`; a `deadline` line if nothing came of it.
    fn timeout(&mut self, t: u64) {
        self.engine.handle_timeout(at(t));
        if self.drain(t, "") == 0 {
            self.writer.deadline(at(t));
            self.text
                .push_str(std::str::from_utf8(self.writer.last_line()).expect("UTF-8"));
            self.text.push('\n');
        }
    }
}

fn at(t: u64) -> Instant {
    Instant::from_nanos(t)
}

const S: u64 = 1_000_000_000;

fn spec() -> SupervisorSpec {
    SupervisorSpec::new()
        .intensity(3)
        .period(Duration::from_secs(10))
        .child(ChildSpec::worker("db").backoff(Backoff::exponential(Duration::from_secs(1), Duration::from_secs(8))))
        .child(
            ChildSpec::worker("web")
                .readiness(Readiness::Notify)
                .startup_timeout(Duration::from_secs(2))
                .health_timeout(Duration::from_secs(3)),
        )
}

/// Crashes, backoffs, missed health and readiness deadlines, heartbeats,
/// a deadline that writes nothing, requests with specs, a rolling
/// restart_all, a stale input, then shutdown.
fn recorded() -> String {
    let mut r = Recorder::new(&spec(), 1_000);
    r.started(2_000, "db");
    r.started(3_000, "web");
    let web = r.run("web");
    r.input(4_000, Input::Ready(web));
    r.input(S, Input::Heartbeat(web));
    // The health deadline armed at ready moved with the heartbeat: when its
    // first time comes, nothing happens (a `deadline` line).
    r.timeout(3 * S + 4_000);
    // No heartbeat since 1 s: killed for health at 4 s.
    r.timeout(4 * S);
    r.exited(4 * S + 10, "web", ExitReason::Killed);
    // Restarted, but never ready: killed for start_timeout 2 s later.
    r.started(4 * S + 20, "web");
    r.timeout(6 * S + 20);
    r.exited(6 * S + 30, "web", ExitReason::Killed);
    r.started(6 * S + 40, "web");
    let web2 = r.run("web");
    r.input(6 * S + 50, Input::Ready(web2));
    r.exited(7 * S, "db", ExitReason::Error("exit code 3".into()));
    // db's backoff of 1 s.
    r.timeout(8 * S);
    r.started(8 * S + 5, "db");
    r.input(8 * S + 6, Input::Exited(web, ExitReason::Killed));
    r.input(8 * S + 10, Input::Heartbeat(web2));
    r.request(
        9 * S,
        Request::StartChild {
            parent: String::new(),
            spec: ChildSpec::worker("cache").restart(vigil_core::Restart::Transient),
        },
    );
    r.started(9 * S + 1, "cache");
    r.request(
        10 * S,
        Request::RestartAll {
            path: String::new(),
            mode: RestartAllMode::Rolling,
        },
    );
    for _ in 0..12 {
        let due = r.engine.poll_timeout();
        let t = 10 * S + 100;
        if due.is_some_and(|d| d.as_nanos() <= t) {
            r.timeout(t);
        }
        for path in ["db", "web", "cache"] {
            let node = r.engine.lookup(path).expect("node");
            match (r.engine.current_run(node), r.engine.state(node)) {
                (Some(run), Some(vigil_core::ChildState::Stopping)) => {
                    r.input(t, Input::Exited(run, ExitReason::Shutdown(String::new())))
                }
                (Some(run), Some(vigil_core::ChildState::Starting)) => {
                    r.input(t, Input::Started(run));
                    if path == "web" {
                        r.input(t, Input::Ready(run));
                    }
                }
                _ => {}
            }
        }
    }
    r.request(11 * S, Request::Shutdown);
    for path in ["cache", "web", "db"] {
        let node = r.engine.lookup(path).expect("node");
        if let Some(run) = r.engine.current_run(node) {
            r.input(11 * S + 1, Input::Exited(run, ExitReason::Shutdown(String::new())));
        }
    }
    r.text
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn join(lines: &[String]) -> String {
    let mut s = lines.join("\n");
    s.push('\n');
    s
}

/// The number (1-based) of the first line matching `pred`.
fn find(lines: &[String], pred: impl Fn(&str) -> bool) -> usize {
    lines.iter().position(|l| pred(l)).expect("such a line") + 1
}

#[test]
fn a_recorded_run_replays_exactly() {
    let text = recorded();
    // What the scenario was meant to contain, so that the test means something.
    for needle in [
        r#""ev":"deadline""#,
        r#""ev":"backoff","path":"db""#,
        r#""op":"start_child","id":1,"spec":{"name":"cache","kind":"worker","restart":"transient""#,
        r#""op":"restart_all","id":2,"mode":"rolling""#,
        r#""input":"exited""#,
        r#""reason":"health""#,
        r#""reason":"start_timeout""#,
        r#""ev":"tree_down""#,
    ] {
        assert!(text.contains(needle), "{needle} not in\n{text}");
    }
    let n = text.lines().count();
    assert_eq!(
        replay_run(&spec(), 7, &text),
        Ok(RunReplay {
            lines: n,
            partial_tail: None
        })
    );
}

#[test]
fn another_seed_or_config_is_a_difference() {
    let text = recorded();
    // The backoff has no jitter, so the seed changes nothing here; the
    // config does: intensity 0 gives up at the first crash.
    let strict = SupervisorSpec { intensity: 0, ..spec() };
    let err = replay_run(&strict, 7, &text).unwrap_err();
    let line = find(&lines(&text), |l| l.contains(r#""ev":"restart""#));
    assert_eq!(err.line(), Some(line), "{err}");
}

#[test]
fn a_tampered_output_line_is_reported_at_its_number() {
    let original = lines(&recorded());
    let backoff = find(&original, |l| l.contains(r#""ev":"backoff""#));
    let spawn = backoff + find(&original[backoff..], |l| l.contains(r#""ev":"spawn","path":"db""#));
    let gen = |l: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(l).expect("JSON");
        format!("\"gen\":{}", v["gen"])
    };
    let spawn_gen = gen(&original[spawn - 1]);
    let bumped = spawn_gen.replace("\"gen\":", "\"gen\":1");
    let restart = find(&original, |l| l.contains(r#""ev":"restart""#));
    let down = find(&original, |l| l.contains(r#""ev":"tree_down""#));
    for (k, from, to) in [
        (spawn, spawn_gen.as_str(), bumped.as_str()),
        (restart, "one_for_one", "one_for_all"),
        (down, r#""reason":"shutdown""#, r#""reason":"error""#),
    ] {
        let mut tampered = original.clone();
        tampered[k - 1] = tampered[k - 1].replacen(from, to, 1);
        assert_ne!(tampered[k - 1], original[k - 1]);
        match replay_run(&spec(), 7, &join(&tampered)) {
            Err(ReplayError::Diverged {
                line,
                recorded,
                replayed,
            }) => {
                assert_eq!(line, k);
                assert_eq!(recorded.as_deref(), Some(tampered[k - 1].as_str()));
                assert_eq!(replayed.as_deref(), Some(original[k - 1].as_str()));
            }
            other => panic!("{from} -> {to}: {other:?}"),
        }
    }
}

#[test]
fn a_deleted_line_a_moved_time_and_a_changed_input_are_found_where_they_are() {
    let original = lines(&recorded());
    // A deleted consequence: the next line is compared with it.
    let restart = find(&original, |l| l.contains(r#""ev":"restart""#));
    let mut deleted = original.clone();
    deleted.remove(restart - 1);
    let err = replay_run(&spec(), 7, &join(&deleted)).unwrap_err();
    assert_eq!(err.line(), Some(restart), "{err}");
    // A time changed on a line the engine wrote.
    let backoff = find(&original, |l| l.contains(r#""ev":"backoff""#));
    let mut moved = original.clone();
    moved[backoff - 1] = moved[backoff - 1].replacen(r#"{"t":7"#, r#"{"t":6"#, 1);
    assert_ne!(moved, original);
    let err = replay_run(&spec(), 7, &join(&moved)).unwrap_err();
    assert_eq!(err.line(), Some(backoff), "{err}");
    // An input's generation changed: the engine ignores it as stale.
    let exit = find(&original, |l| l.contains(r#""ev":"exited","path":"db""#));
    let mut stale = original.clone();
    stale[exit - 1] = stale[exit - 1].replacen(r#""gen":"#, r#""gen":99"#, 1);
    assert_ne!(stale, original);
    match replay_run(&spec(), 7, &join(&stale)).unwrap_err() {
        ReplayError::Diverged { line, replayed, .. } => {
            assert_eq!(line, exit);
            assert!(replayed.expect("a line").contains(r#""ev":"stale""#));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_line_nothing_caused_is_named() {
    let mut l = lines(&recorded());
    let k = find(&l, |x| x.contains(r#""ev":"sup_started""#)) + 1;
    l.insert(k - 1, format!(r#"{{"t":{},"ev":"give_up","path":""}}"#, 4_000));
    assert_eq!(
        replay_run(&spec(), 7, &join(&l)),
        Err(ReplayError::NoCause {
            line: k,
            recorded: l[k - 1].clone()
        })
    );
    let mut garbage = lines(&recorded());
    garbage.insert(3, "{\"t\":".into());
    assert!(matches!(
        replay_run(&spec(), 7, &join(&garbage)),
        Err(ReplayError::BadLine { line: 4, .. })
    ));
    // A time that goes back on an input line (the engine would take it as
    // the latest it saw; the record cannot be right).
    let mut back = lines(&recorded());
    let last_exit = back
        .iter()
        .rposition(|l| l.contains(r#""ev":"exited""#))
        .expect("an exit")
        + 1;
    back[last_exit - 1] = back[last_exit - 1].replacen(&format!("{{\"t\":{}", 11 * S + 1), "{\"t\":5", 1);
    assert!(back[last_exit - 1].starts_with("{\"t\":5,"), "{}", back[last_exit - 1]);
    assert!(
        matches!(replay_run(&spec(), 7, &join(&back)), Err(ReplayError::BadLine { line, .. }) if line == last_exit)
    );
}

#[test]
fn a_trace_cut_short_replays_to_its_last_whole_line() {
    let text = recorded();
    let l = lines(&text);
    // Cut in the middle of line 20: 19 whole lines and a partial one.
    let whole = join(&l[..19]);
    let cut = format!("{whole}{}", &l[19][..10]);
    assert_eq!(
        replay_run(&spec(), 7, &cut),
        Ok(RunReplay {
            lines: 19,
            partial_tail: Some(10)
        })
    );
    // Without the partial line, the engine's own lines after it are missing.
    let spawn = find(&l, |x| x.contains(r#""ev":"spawn","path":"web""#));
    let err = replay_run(&spec(), 7, &join(&l[..spawn - 1])).unwrap_err();
    assert_eq!(
        err,
        ReplayError::Diverged {
            line: spawn,
            recorded: None,
            replayed: Some(l[spawn - 1].clone())
        }
    );
}

#[test]
fn the_second_signals_kills_end_the_trace() {
    let mut r = Recorder::new(&spec(), 1_000);
    r.started(2_000, "db");
    r.started(3_000, "web");
    let db = r.run("db");
    let web = r.run("web");
    let kill = |run: RunId, path: &str| {
        format!(
            r#"{{"t":{},"ev":"kill","path":"{path}","gen":{},"cause":"kill_all"}}"#,
            5 * S,
            run.generation
        )
    };
    let base = r.text.clone();
    let good = format!("{base}{}\n{}\n", kill(db, "db"), kill(web, "web"));
    assert!(replay_run(&spec(), 7, &good).is_ok(), "{good}");
    let dead = format!("{base}{}\n", kill(RunId { generation: 99, ..db }, "db"));
    assert!(matches!(
        replay_run(&spec(), 7, &dead),
        Err(ReplayError::BadLine { .. })
    ));
    let after = format!(
        "{base}{}\n{{\"t\":{},\"ev\":\"heartbeat\",\"path\":\"web\",\"gen\":{}}}\n",
        kill(db, "db"),
        6 * S,
        web.generation
    );
    let k = after.lines().count();
    assert!(matches!(replay_run(&spec(), 7, &after), Err(ReplayError::BadLine { line, .. }) if line == k));
}

#[test]
fn meta_lines_of_both_origins_and_the_digest_check() {
    let meta = vigil_sim::parse_recorded_meta(META).expect("a run's meta line");
    assert!(matches!(&meta, vigil_sim::RecordedMeta::Run(m) if m.seed == 7 && m.t0_utc.starts_with("2026")));
    assert!(
        vigil_sim::parse_meta(META).is_err(),
        "a real run's trace is not a simulated one"
    );
    let cfg = vigil_config::parse_tree("[[child]]\nname = \"w\"\ncommand = [\"x\"]\n", "t.toml").expect("valid");
    let tree = vigil_sim::SimTree::from_config(&cfg).expect("every worker modelled");
    let sim = vigil_sim::meta_line(&tree, 3, &vigil_sim::SimOptions::default());
    let digest = cfg.digest.expect("parsed from text").to_string();
    assert!(
        sim.ends_with(&format!(r#","origin":"sim","digest":"{digest}"}}"#)),
        "{sim}"
    );
    let parsed = vigil_sim::parse_recorded_meta(&sim).expect("a sim meta line");
    assert_eq!(parsed.digest(), Some(digest.as_str()));
    assert_eq!(vigil_sim::check_digest(parsed.digest(), cfg.digest), Ok(()));
    let other = vigil_config::parse_tree("[[child]]\nname = \"w\"\ncommand = [\"y\"]\n", "t.toml").expect("valid");
    assert!(matches!(
        vigil_sim::check_digest(parsed.digest(), other.digest),
        Err(ReplayError::DigestMismatch { .. })
    ));
    // Old traces (no digest, no origin) still read, unchecked.
    let old = sim.replacen(&format!(r#","origin":"sim","digest":"{digest}""#), "", 1);
    let old = vigil_sim::parse_recorded_meta(&old).expect("an old meta line");
    assert!(matches!(&old, vigil_sim::RecordedMeta::Sim(m) if m.digest.is_none()));
    assert_eq!(vigil_sim::check_digest(old.digest(), other.digest), Ok(()));
    assert!(vigil_sim::parse_recorded_meta(&META.replace("\"run\"", "\"moon\"")).is_err());
}

/// Hostile traces: every one is an error at its line (or a clean result),
/// never a panic.
#[test]
fn hostile_lines_are_errors_not_panics() {
    let base = format!("{META}\n");
    let start = r#"{"t":10,"ev":"sup_starting","path":""}"#;
    let deep = format!(
        r#"{{"t":20,"ev":"request","path":"x","op":"start_child","id":1,"spec":{}{}}}"#,
        "[".repeat(100_000),
        "]".repeat(100_000)
    );
    for (what, line) in [
        ("no path", r#"{"t":20,"ev":"started","gen":1}"#.to_owned()),
        (
            "a negative index",
            r##"{"t":20,"ev":"stale","path":"#-1","gen":1,"input":"started"}"##.to_owned(),
        ),
        (
            "a gen past u64",
            r#"{"t":20,"ev":"started","path":"db","gen":18446744073709551616}"#.to_owned(),
        ),
        (
            "a bad reason",
            r#"{"t":20,"ev":"exited","path":"db","gen":2,"reason":"error(x"}"#.to_owned(),
        ),
        (
            "a bad eviction",
            r#"{"t":20,"ev":"evict","path":"db","gen":2,"reason":"normal"}"#.to_owned(),
        ),
        (
            "an unknown stale kind",
            r#"{"t":20,"ev":"stale","path":"db","gen":2,"input":"dance"}"#.to_owned(),
        ),
        (
            "an unknown op",
            r#"{"t":20,"ev":"request","path":"db","op":"dance","id":1}"#.to_owned(),
        ),
        ("a spec nested past any limit", deep),
        (
            "a string t",
            r#"{"t":"20","ev":"started","path":"db","gen":2}"#.to_owned(),
        ),
        ("not an object", "[1,2,3]".to_owned()),
    ] {
        let text = format!(
            "{base}{start}\n{r}\n",
            r = r#"{"t":10,"ev":"spawn","path":"db","gen":2}"#
        );
        let text = format!("{text}{line}\n");
        match replay_run(&spec(), 7, &text) {
            Err(ReplayError::BadLine { line: 4, .. }) => {}
            other => panic!("{what}: {other:?}"),
        }
    }
    // A stale input for an index the arena never had is fed as such; an
    // index no id can carry (past `NodeId::MAX_INDEX`) is not what the
    // engine writes: a difference at its line.
    let stale = |index: u32| {
        format!(
            "{base}{start}\n{}\n{{\"t\":20,\"ev\":\"stale\",\"path\":\"#{index}\",\"gen\":1,\"input\":\"heartbeat\"}}\n",
            r#"{"t":10,"ev":"spawn","path":"db","gen":2}"#
        )
    };
    assert_eq!(
        replay_run(&spec(), 7, &stale(vigil_core::NodeId::MAX_INDEX)),
        Ok(RunReplay {
            lines: 4,
            partial_tail: None
        })
    );
    assert!(matches!(
        replay_run(&spec(), 7, &stale(u32::MAX)),
        Err(ReplayError::Diverged { line: 4, .. })
    ));
    // Only a meta line: vigil ended before its first step.
    assert_eq!(
        replay_run(&spec(), 7, &base),
        Ok(RunReplay {
            lines: 1,
            partial_tail: None
        })
    );
    assert_eq!(
        replay_run(&spec(), 7, ""),
        Ok(RunReplay {
            lines: 0,
            partial_tail: None
        })
    );
}

/// A backoff that ends while its supervisor is busy (waiting for another
/// child to be ready) writes nothing: the restart is queued. The driver
/// records the firing as a `deadline` line, and the replay fires it there.
#[test]
fn a_silent_deadline_is_recorded_and_replayed() {
    let spec = SupervisorSpec::new()
        .intensity(10)
        .period(Duration::from_secs(60))
        .child(ChildSpec::worker("a").backoff(Backoff::exponential(Duration::from_secs(1), Duration::from_secs(1))))
        .child(ChildSpec::worker("b").readiness(Readiness::Notify));
    let mut r = Recorder::new(&spec, 0);
    r.started(10, "a");
    r.started(20, "b");
    let b = r.run("b");
    r.input(30, Input::Ready(b));
    // a crashes: its restart waits 1 s.
    r.exited(S, "a", ExitReason::Error("x".into()));
    // b crashes: restarted at once, and the supervisor waits for it to be ready.
    r.exited(S + S / 2, "b", ExitReason::Error("y".into()));
    r.started(S + S / 2 + 10, "b");
    // a's backoff ends while b is not ready: nothing visible.
    r.timeout(2 * S);
    // A request queued behind the same busy supervisor, after a's restart.
    r.request(
        2 * S + S / 2,
        Request::StartChild {
            parent: String::new(),
            spec: ChildSpec::worker("c"),
        },
    );
    let b = r.run("b");
    r.input(3 * S, Input::Ready(b));
    let text = r.text.clone();
    assert!(text.contains(r#"{"t":2000000000,"ev":"deadline"}"#), "{text}");
    let n = text.lines().count();
    assert_eq!(
        replay_run(&spec, 7, &text),
        Ok(RunReplay {
            lines: n,
            partial_tail: None
        })
    );
    // When b is ready, the supervisor takes its mail in order: a's restart
    // (queued at 2 s) before the request (2.5 s).
    let l = lines(&text);
    let spawn_a = find(&l, |x| x.contains(r#""ev":"spawn","path":"a","gen":5"#));
    assert!(l[spawn_a - 2].contains(r#""ev":"ready""#), "{text}");
    // Without its `deadline` line, the restart would be queued only when
    // a later line needs a deadline, after the request: the replay starts
    // c first, and differs at a's spawn.
    let dropped: Vec<String> = l
        .iter()
        .filter(|x| !x.contains(r#""ev":"deadline""#))
        .cloned()
        .collect();
    match replay_run(&spec, 7, &join(&dropped)) {
        Err(ReplayError::Diverged { line, replayed, .. }) => {
            assert_eq!(line, spawn_a - 1);
            assert!(replayed.expect("a line").contains(r#""ev":"spawn","path":"c""#));
        }
        other => panic!("{other:?}\n{text}"),
    }
}
