//! `vigil sim CONFIG --replay` on the trace of a real `vigil run`: real
//! processes that crash, a request on the control socket, a SIGHUP reload,
//! an ordered shutdown, and the second signal's kills. The trace must replay
//! exactly; a changed line, a deleted line, a moved time, a half-written
//! last line and a changed config must each be reported as such.

mod support;

use support::{sh, vigil_cmd, vigil_output, Scratch, Vigil};

/// A worker that crashes (exit 3) on its first three runs, then stays up.
fn crasher(s: &Scratch) -> String {
    let count = s.p("crasher.count");
    sh(&format!(
        "n=$(cat {count} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {count}; \
         if [ $n -le 3 ]; then sleep 0.05; exit 3; fi; exec sleep 1000"
    ))
}

/// A worker that records each start in `name.starts`, then sleeps.
fn sleeper(s: &Scratch, name: &str) -> String {
    sh(&format!(
        "echo $VIGIL_GENERATION >> {}; exec sleep 1000",
        s.p(&format!("{name}.starts"))
    ))
}

fn config_v1(s: &Scratch) -> String {
    format!(
        "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
         [[child]]\nname = \"crasher\"\ncommand = {c}\n\
         backoff = {{ initial = \"20ms\", max = \"100ms\", jitter = 0.5 }}\n\n\
         [[child]]\nname = \"sleeper\"\ncommand = {sl}\n\n\
         [[child]]\nname = \"grp\"\nsupervisor = {{ strategy = \"one_for_all\" }}\n\
         \x20 [[child.child]]\n  name = \"w\"\n  command = {w}\n",
        c = crasher(s),
        sl = sleeper(s, "sleeper"),
        w = sleeper(s, "w"),
    )
}

/// v1 with `grp/w` given a brutal shutdown (replaced on reload) and a new
/// child `extra` (started on reload).
fn config_v2(s: &Scratch) -> String {
    format!(
        "{}  shutdown = \"brutal\"\n\n[[child]]\nname = \"extra\"\ncommand = {}\n",
        config_v1(s),
        sleeper(s, "extra")
    )
}

fn wait_lines(s: &Scratch, v: &Vigil, name: &str, n: usize) {
    s.wait_lines(v, name, n);
}

fn text(out: &std::process::Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `vigil sim CONFIG --replay TRACE [more]`: exit code, stdout, stderr.
fn replay(config: &std::path::Path, trace: &std::path::Path, more: &[&str]) -> (i32, String, String) {
    let mut args = vec![
        "sim",
        config.to_str().expect("UTF-8"),
        "--replay",
        trace.to_str().expect("UTF-8"),
    ];
    args.extend_from_slice(more);
    let out = vigil_output(&args);
    let (o, e) = text(&out);
    (out.status.code().unwrap_or(-1), o, e)
}

/// Record a real run: three crashes with backoff, `vigil ctl restart`, a
/// SIGHUP reload (a child replaced, one started), SIGTERM. Returns the
/// scratch, the config as the run started with it, and the trace.
fn record() -> (Scratch, std::path::PathBuf, String) {
    let s = Scratch::new("replay-real");
    let original = s.write("original.toml", &config_v1(&s));
    let config = s.write("tree.toml", &config_v1(&s));
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_for("the crasher's fourth run", || {
        std::fs::read_to_string(s.path("crasher.count")).is_ok_and(|c| c.trim() == "4")
    });
    wait_lines(&s, &v, "sleeper.starts", 1);
    wait_lines(&s, &v, "w.starts", 1);
    let ctl = vigil_cmd(
        &s,
        &["ctl", "--config", config.to_str().expect("UTF-8"), "restart", "sleeper"],
    )
    .output()
    .expect("vigil ctl runs");
    assert!(
        ctl.status.success(),
        "vigil ctl restart: {:?}\n{}",
        text(&ctl),
        v.log_text()
    );
    wait_lines(&s, &v, "sleeper.starts", 2);
    s.write("tree.toml", &config_v2(&s));
    v.signal("HUP");
    wait_lines(&s, &v, "extra.starts", 1);
    wait_lines(&s, &v, "w.starts", 2);
    v.wait_log(&["reloaded"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = std::fs::read_to_string(&v.trace).expect("the trace");
    v.wait_nothing_left();
    (s, original, trace)
}

fn lines(text: &str) -> Vec<String> {
    text.lines().map(str::to_owned).collect()
}

fn write_lines(s: &Scratch, name: &str, lines: &[String]) -> std::path::PathBuf {
    let mut text = lines.join("\n");
    text.push('\n');
    s.write(name, &text)
}

/// The 1-based number of the first line containing `needle`.
fn line_of(lines: &[String], needle: &str) -> usize {
    lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no line with {needle}:\n{}", lines.join("\n")))
        + 1
}

#[test]
fn a_real_run_replays_exactly_and_every_change_is_found() {
    let (s, original, trace) = record();
    let l = lines(&trace);
    // What the run was meant to hold.
    assert!(l[0].starts_with(r#"{"t":0,"ev":"meta","seed":0,"config":"#), "{}", l[0]);
    for needle in [r#""origin":"run","digest":"fnv1a64:"#, r#""t0_utc":""#] {
        assert!(l[0].contains(needle), "{needle}: {}", l[0]);
    }
    for needle in [
        r#""ev":"exited","path":"crasher""#,
        r#""reason":"error(exit code 3)""#,
        r#""ev":"backoff","path":"crasher""#,
        r#""op":"terminate_child""#,
        r#""op":"restart_child""#,
        r#""op":"replace_child","id":"#,
        r#","spec":{"name":"grp","kind":"supervisor""#,
        r#""op":"start_child","id":"#,
        r#","spec":{"name":"extra","kind":"worker""#,
        r#""op":"shutdown""#,
        r#""ev":"tree_down""#,
    ] {
        line_of(&l, needle);
    }
    let recorded = s.path("trace.jsonl");

    // (a) The whole trace replays against the config the run started with.
    let (code, out, err) = replay(&original, &recorded, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("all {} lines identical", l.len())), "{out}");

    // (b) Changes to the record are found at their line.
    let restart = line_of(&l, r#""ev":"restart""#);
    let backoff = line_of(&l, r#""ev":"backoff""#);
    // The restart after the backoff: a line the deadline wrote.
    let spawn = backoff + 1;
    assert!(
        l[spawn - 1].contains(r#""ev":"spawn","path":"crasher""#),
        "{}",
        l[spawn - 1]
    );
    let mut changes: Vec<(&str, Vec<String>, usize)> = Vec::new();
    let mut strategy = l.clone();
    strategy[restart - 1] = strategy[restart - 1].replacen("one_for_one", "rest_for_one", 1);
    changes.push(("a changed strategy", strategy, restart));
    let mut deleted = l.clone();
    deleted.remove(restart - 1);
    changes.push(("a deleted line", deleted, restart));
    let mut generation = l.clone();
    let g = |x: &str| support::number_field(x, "gen").expect("a gen");
    let gen = g(&l[spawn - 1]);
    generation[spawn - 1] =
        generation[spawn - 1].replacen(&format!("\"gen\":{gen}"), &format!("\"gen\":{}", gen + 1), 1);
    changes.push(("a changed generation", generation, spawn));
    let mut time = l.clone();
    let t = support::number_field(&l[backoff - 1], "t").expect("a time");
    time[backoff - 1] = time[backoff - 1].replacen(&format!("{{\"t\":{t}"), &format!("{{\"t\":{}", t + 1), 1);
    changes.push(("a moved time", time, backoff));
    for (what, changed, at) in changes {
        assert_ne!(changed, l, "{what}");
        let file = write_lines(&s, "changed.jsonl", &changed);
        let (code, out, err) = replay(&original, &file, &[]);
        assert_eq!(code, 1, "{what}: {out}{err}");
        assert!(out.contains(&format!("differs at line {at}:")), "{what}: {out}");
    }

    // (c) The edited config (the reload's) is refused by its digest, unless
    // told to try anyway: then it differs.
    let (code, out, err) = replay(&s.path("tree.toml"), &recorded, &[]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(err.contains("not the one the trace was recorded with"), "{err}");
    let (code, out, err) = replay(&s.path("tree.toml"), &recorded, &["--ignore-digest"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("differs at line"), "{out}");

    // (d) A half-written last line: replayed to the last whole line.
    let whole = l.len() / 2;
    let mut cut = l[..whole].join("\n");
    cut.push('\n');
    cut.push_str(&l[whole][..l[whole].len() / 2]);
    let file = s.write("cut.jsonl", &cut);
    let (code, out, err) = replay(&original, &file, &[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains(&format!("all {whole} lines identical")), "{out}");
    assert!(
        out.contains(&format!("replayed up to line {whole}, its last whole line")),
        "{out}"
    );
}

/// The second signal kills every process at once: those kills are in the
/// trace (with `"cause":"kill_all"`), and the trace still replays.
#[test]
fn the_second_signals_kills_replay() {
    let s = Scratch::new("replay-kill-all");
    let stubborn = sh(&format!(
        "trap '' TERM; echo up >> {}; while :; do sleep 1; done",
        s.p("stubborn.starts")
    ));
    let config = s.write(
        "tree.toml",
        &format!("[[child]]\nname = \"stubborn\"\nshutdown = \"30s\"\ncommand = {stubborn}\n"),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "stubborn.starts", 1);
    v.signal("TERM");
    v.wait_log(&["shutting the tree down in order"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 130, "log:\n{}", v.log_text());
    let trace = std::fs::read_to_string(&v.trace).expect("the trace");
    v.wait_nothing_left();
    assert!(
        trace.contains(r#""ev":"kill","path":"stubborn","gen":"#) && trace.contains(r#""cause":"kill_all"}"#),
        "{trace}"
    );
    let (code, out, err) = replay(&config, &v.trace, &[]);
    assert_eq!(code, 0, "{out}{err}\n{trace}");
}

/// sd_notify readiness and heartbeats, a run killed for `health`, and vigil
/// suspended (SIGSTOP) past a health deadline while its child keeps beating:
/// the late wake-up handles the queued heartbeats first. All of it replays.
#[test]
fn readiness_health_kills_and_a_suspended_vigil_replay() {
    let s = Scratch::new("replay-health");
    let beat = s.write(
        "beat.py",
        &format!(
            "import os, socket, time\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             first = not os.path.exists({runs})\n\
             open({runs}, 'a').write('run\\n')\n\
             s.sendto(b'READY=1', os.environ['NOTIFY_SOCKET'])\n\
             n = 0\n\
             while True:\n    \
                 if not first or n < 4:\n        \
                     s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET'])\n        \
                     open({beats}, 'a').write('beat\\n')\n    \
                 n += 1\n    \
                 time.sleep(0.2)\n",
            runs = support::q(&s.p("runs")),
            beats = support::q(&s.p("beats")),
        ),
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"hb\"\nreadiness = \"notify\"\nhealth_timeout = \"1s\"\nshutdown = \"200ms\"\n\
             command = [\"python3\", {}]\n",
            support::q(beat.to_str().expect("UTF-8"))
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    // The first run goes silent after 4 beats and is killed for health.
    s.wait_lines(&v, "runs", 2);
    let beats = s.lines("beats").len();
    s.wait_lines(&v, "beats", beats + 3);
    v.signal("STOP");
    v.wait_for("vigil to be stopped", || support::state(v.pid()) == Some('T'));
    // 8 beats at 200 ms: 1.6 s, past the health deadline (and fewer than
    // the 10 datagrams a notify socket queues by default).
    let beats = s.lines("beats").len();
    s.wait_lines(&v, "beats", beats + 8);
    v.signal("CONT");
    v.wait_log(&["the driver ran late"]);
    let beats = s.lines("beats").len();
    s.wait_lines(&v, "beats", beats + 3);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = std::fs::read_to_string(&v.trace).expect("the trace");
    v.wait_nothing_left();
    for needle in [
        r#""ev":"ready""#,
        r#""ev":"heartbeat""#,
        r#""reason":"health""#,
        r#""ev":"deadline""#,
    ] {
        assert!(trace.contains(needle), "{needle}:\n{trace}");
    }
    assert_eq!(s.lines("runs").len(), 2, "only the silent run was killed:\n{trace}");
    let (code, out, err) = replay(&config, &v.trace, &[]);
    assert_eq!(code, 0, "{out}{err}\n{trace}");
}
