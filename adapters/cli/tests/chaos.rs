//! `vigil run --chaos SEED` over real processes: chaos demonstrably acts
//! (injected SIGKILLs and start failures, each found by its trace line),
//! the trace replays exactly in the simulator, a SIGTERM ends a chaos run
//! cleanly even while a start is being delayed, and chaos is off unless
//! asked for on the command line (docs/SIMULATION.md, "Chaos on a real
//! run").

mod support;

use support::{sh, vigil_output, Launch, Line, Scratch, Trace, Vigil};

/// A worker that records each start in `name.starts`, then sleeps.
fn sleeper(s: &Scratch, name: &str) -> String {
    sh(&format!(
        "echo $VIGIL_GENERATION >> {}; exec sleep 1000",
        s.p(&format!("{name}.starts"))
    ))
}

/// Three sleepers with short backoffs and a root that tolerates the storm.
fn config(s: &Scratch) -> std::path::PathBuf {
    let backoff = "backoff = { initial = \"10ms\", max = \"20ms\" }";
    let text = format!(
        "[supervisor]\nintensity = 1000\nperiod = \"1s\"\n\n\
         [[child]]\nname = \"a\"\ncommand = {a}\n{backoff}\n\n\
         [[child]]\nname = \"b\"\ncommand = {b}\n{backoff}\n\n\
         [[child]]\nname = \"c\"\ncommand = {c}\n{backoff}\n",
        a = sleeper(s, "a"),
        b = sleeper(s, "b"),
        c = sleeper(s, "c"),
    );
    s.write("tree.toml", &text)
}

fn start(s: &Scratch, config: &std::path::Path, args: &[&str]) -> Vigil {
    let how = Launch {
        args,
        ..Launch::default()
    };
    let v = Vigil::launch(s, config, &how);
    v.wait_for_signal_handlers();
    v
}

/// The trace's lines so far (whole lines only: it is written line by line).
fn lines_so_far(v: &Vigil) -> Vec<Line> {
    let text = std::fs::read_to_string(&v.trace).unwrap_or_default();
    let whole = text.rfind('\n').map_or("", |end| &text[..end]);
    whole.lines().skip(1).map(Line::parse).collect()
}

fn injected_failures(lines: &[Line]) -> usize {
    lines
        .iter()
        .filter(|l| l.ev == "start_failed" && l.raw.contains(r#""error":"injected start failure (chaos seed 7)""#))
        .count()
}

/// `exited ... killed` lines with no `kill` command for that run before
/// them: nobody but chaos killed it (the engine ordered no kill, no
/// operator asked).
fn injected_kills(lines: &[Line]) -> Vec<&Line> {
    lines
        .iter()
        .enumerate()
        .filter(|(i, l)| {
            l.ev == "exited"
                && l.reason == "killed"
                && !lines[..*i]
                    .iter()
                    .any(|k| k.ev == "kill" && k.path == l.path && k.gen == l.gen)
        })
        .map(|(_, l)| l)
        .collect()
}

fn replay(config: &std::path::Path, trace: &std::path::Path) -> (i32, String) {
    let out = vigil_output(&[
        "sim",
        config.to_str().expect("UTF-8"),
        "--replay",
        trace.to_str().expect("UTF-8"),
    ]);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (support::exit_code(&out), text)
}

#[test]
fn chaos_kills_and_fails_starts_and_the_trace_replays_exactly() {
    let s = Scratch::new("chaos");
    let config = config(&s);
    let mut v = start(
        &s,
        &config,
        &[
            "--chaos",
            "7",
            "--chaos-kill-every",
            "100ms",
            "--chaos-start-fail",
            "30%",
            "--chaos-start-delay",
            "20%",
            "--chaos-max-delay",
            "50ms",
            "--chaos-ready-delay",
            "0%",
        ],
    );
    v.wait_for("three injected kills and two injected start failures", || {
        let lines = lines_so_far(&v);
        injected_kills(&lines).len() >= 3 && injected_failures(&lines) >= 2
    });
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
    let log = v.log_text();
    let loud: Vec<&str> = log.lines().filter(|l| l.contains("CHAOS IS ON")).collect();
    assert_eq!(loud.len(), 1, "one line of stderr says so: {log}");
    assert!(
        loud[0].starts_with("vigil: CHAOS IS ON (--chaos 7)")
            && loud[0].contains("30% of starts fail")
            && loud[0].contains("a kill every ~100ms"),
        "{}",
        loud[0]
    );
    let trace = v.trace();
    let meta = &std::fs::read_to_string(&v.trace).expect("the trace");
    let meta = meta.lines().next().expect("a meta line");
    assert!(
        meta.contains(r#""origin":"run","#) && meta.contains(r#","chaos":7,"chaos_faults":"20% of starts delayed up to 50ms, 30% of starts fail, a kill every ~100ms"}"#),
        "{meta}"
    );
    let lines = &trace.0[1..];
    assert!(injected_kills(lines).len() >= 3, "{trace}");
    assert!(injected_failures(lines) >= 2, "{trace}");
    // The shutdown is the ordinary one: nothing is injected once chaos is
    // off (the log says so at the stop signal), and nothing fails to start
    // after the request. A kill injected just before the signal may still be
    // reported after the request (its exit travels through the guard): such
    // an exit must be one of the kills logged before chaos went off.
    let off = log.find("chaos is off").expect("chaos says it is off");
    assert!(
        !log[off..].contains("chaos: killing") && !log[off..].contains("chaos: start failed"),
        "{log}"
    );
    let logged_kills = &log[..off];
    let kill_logged = |l: &Line| format!("path={} generation={}", l.path, l.gen.unwrap_or_default());
    // The needle's form is checked on the kills before the request too.
    for k in injected_kills(&trace.0[..trace.shutdown_request()]) {
        assert!(
            logged_kills.contains(&kill_logged(k)),
            "{} not in the log:\n{log}",
            kill_logged(k)
        );
    }
    let shutdown = trace.shutdown_request();
    for (i, l) in trace.0.iter().enumerate().skip(shutdown) {
        assert_ne!(l.ev, "start_failed", "{trace}");
        let ordered = trace.0[..i]
            .iter()
            .any(|k| k.ev == "kill" && k.path == l.path && k.gen == l.gen);
        if l.ev == "exited" && l.reason == "killed" && !ordered {
            let needle = kill_logged(l);
            assert!(
                logged_kills.contains(&needle),
                "{needle} not injected before chaos went off:\n{log}\n{trace}"
            );
        }
    }
    assert!(
        trace.0.last().is_some_and(|l| l.ev == "reply" && l.op == "shutdown"),
        "{trace}"
    );

    let (code, out) = replay(&config, &v.trace);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("all {} lines identical", trace.0.len())), "{out}");
}

#[test]
fn a_reload_under_chaos_replays_exactly() {
    // Chaos and a SIGHUP reload that adds a child: the reload's request
    // goes through the same hooks (its start may be failed or delayed
    // too), and the whole record still replays against the config the
    // run started with.
    let s = Scratch::new("chaos-reload");
    let config = config(&s);
    let original = s.write("original.toml", &std::fs::read_to_string(&config).expect("the config"));
    let mut v = start(
        &s,
        &config,
        &[
            "--chaos",
            "0",
            "--chaos-kill-every",
            "100ms",
            "--chaos-start-fail",
            "20%",
            "--chaos-start-delay",
            "20%",
            "--chaos-max-delay",
            "30ms",
        ],
    );
    v.wait_for("an injected kill", || !injected_kills(&lines_so_far(&v)).is_empty());
    let more = format!(
        "{}\n[[child]]\nname = \"d\"\ncommand = {}\n",
        std::fs::read_to_string(&config).expect("the config"),
        sleeper(&s, "d")
    );
    s.write("tree.toml", &more);
    v.signal("HUP");
    v.wait_log(&["reloaded"]);
    let before = injected_kills(&lines_so_far(&v)).len();
    v.wait_for("another injected kill after the reload", || {
        injected_kills(&lines_so_far(&v)).len() > before
    });
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
    let trace = v.trace();
    let start_d = trace
        .find(|l| l.ev == "request" && l.op == "start_child" && l.path == "d")
        .unwrap_or_else(|| panic!("the reload's start_child:\n{trace}"));
    assert!(start_d < trace.shutdown_request(), "{trace}");
    let (code, out) = replay(&original, &v.trace);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("all {} lines identical", trace.0.len())), "{out}");
}

#[test]
fn sigterm_ends_a_chaos_run_cleanly_while_a_start_is_delayed() {
    // Every start waits up to an hour: the first child's start is still
    // being delayed when SIGTERM comes (the root starts its children in
    // order). The shutdown carries it out at once and stops it.
    let s = Scratch::new("chaos-term");
    let config = config(&s);
    let mut v = start(
        &s,
        &config,
        &[
            "--chaos",
            "18446744073709551615",
            "--chaos-start-delay",
            "100%",
            "--chaos-max-delay",
            "1h",
            "--chaos-kill-every",
            "off",
            "--chaos-start-fail",
            "0%",
        ],
    );
    v.wait_log(&["chaos: start delayed (injected)", "path=a"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
    let trace = v.trace();
    let shutdown = trace.shutdown_request();
    let started = trace.first("started", "a");
    assert!(started > shutdown, "{trace}");
    assert!(trace.0.last().is_some_and(|l| l.ev == "reply"), "{trace}");
    // Started once, then stopped as any child at shutdown; nothing else ran.
    assert_eq!(trace.count("spawn", "a"), 1, "{trace}");
    assert_eq!(trace.all("exited", "a")[0].reason, "shutdown", "{trace}");
    assert_eq!(trace.count("spawn", "b") + trace.count("spawn", "c"), 0, "{trace}");
    let (code, out) = replay(&config, &v.trace);
    assert_eq!(code, 0, "{out}");
}

#[test]
fn chaos_is_off_unless_given_on_the_command_line() {
    let s = Scratch::new("chaos-off");
    let config = config(&s);
    // A value is required; its flags need it; a seed is a whole number.
    for args in [
        vec!["--chaos"],
        vec!["--chaos-kill-every", "1s"],
        vec!["--chaos", "-1"],
        vec!["--chaos", "seven"],
        vec!["--chaos", "7", "--chaos-start-fail", "120%"],
    ] {
        let mut all = vec!["run", config.to_str().expect("UTF-8")];
        all.extend(&args);
        let out = vigil_output(&all);
        assert_eq!(support::exit_code(&out), 2, "{args:?}: {out:?}");
        assert!(
            String::from_utf8_lossy(&out.stderr).starts_with("error:"),
            "{args:?}: {out:?}"
        );
    }
    // No environment variable turns it on.
    let how = Launch {
        env: &[("VIGIL_CHAOS", "7"), ("VIGIL_RUN_CHAOS", "7")],
        ..Launch::default()
    };
    let mut v = Vigil::launch(&s, &config, &how);
    v.wait_for_signal_handlers();
    s.wait_lines(&v, "c.starts", 1);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace: Trace = v.trace();
    assert!(!trace.0[0].raw.contains(r#""chaos":"#), "{}", trace.0[0].raw);
    let log = v.log_text();
    assert!(!log.contains("CHAOS IS ON") && !log.contains("chaos:"), "{log}");
    assert_eq!(
        trace.count("start_failed", "a") + trace.count("exited", "a"),
        1,
        "{trace}"
    );
}
