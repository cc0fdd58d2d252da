//! Class 5, the control socket: callers that disconnect, requests that say
//! two things, subscribers that never read. Real `vigil run`, real sockets,
//! a real registered worker (Python, standard library only). Each case:
//! the tree stays up with its PIDs unchanged, operators get in at once, and
//! vigil's memory (VmRSS) stays bounded.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::support::{metric_on, q, sh, Scratch, Vigil, SAFETY};

/// A worker that registers with its run's token, reports ready, writes
/// its pid, and reads every forwarded call without ever answering.
const SILENT_WORKER: &str = r#"
import json, os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(os.environ["VIGIL_SOCKET"])
f = s.makefile("rw")
f.write(json.dumps({"id": 1, "op": "register", "token": os.environ["VIGIL_TOKEN"]}) + "\n")
f.write(json.dumps({"id": 2, "op": "ready"}) + "\n")
f.flush()
open(sys.argv[1] + ".tmp", "w").write("%d\n" % os.getpid())
os.rename(sys.argv[1] + ".tmp", sys.argv[1])
for line in f:
    pass
"#;

fn python(scratch: &Scratch, script: &str, name: &str, args: &[String]) -> String {
    let path = scratch.write(name, script);
    let mut argv = vec![q("python3"), q(path.to_str().unwrap())];
    argv.extend(args.iter().map(|a| q(a)));
    format!("[{}]", argv.join(", "))
}

/// A tree of the silent worker `svc` and a sleeper `idle`, with its socket.
fn silent_tree(s: &Scratch) -> std::path::PathBuf {
    let config = format!(
        "[control]\nsocket = {sock}\n\n\
         [[child]]\nname = \"svc\"\nreadiness = \"notify\"\nshutdown = \"brutal\"\ncommand = {svc}\n\n\
         [[child]]\nname = \"idle\"\nshutdown = \"brutal\"\ncommand = {idle}\n",
        sock = q(&s.p("ctl.sock")),
        svc = python(s, SILENT_WORKER, "worker.py", &[s.p("svc.pid")]),
        idle = sh(&format!("echo $$ > {}; exec sleep 100000", s.p("idle.pid"))),
    );
    s.write("tree.toml", &config)
}

/// One request line on a fresh connection, and the answer line.
fn ask(socket: &Path, line: &str) -> String {
    let mut c = UnixStream::connect(socket).expect("connect");
    c.set_read_timeout(Some(SAFETY)).unwrap();
    c.write_all(line.as_bytes()).unwrap();
    let mut answer = String::new();
    BufReader::new(&c).read_line(&mut answer).expect("an answer");
    answer
}

/// A metric of `vigil ctl metrics`.
fn metric(vigil: &Vigil, socket: &Path, name: &str) -> Option<u64> {
    let out = vigil.ctl(socket, &["metrics"]);
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")).and_then(|v| v.parse().ok()))
}

/// Path -> (state, generation) of every node, from `vigil ctl --json status`.
fn states(vigil: &Vigil, socket: &Path) -> Vec<(String, String, u64)> {
    let out = vigil.ctl(socket, &["--json", "status"]);
    assert!(out.status.success(), "{out:?}");
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    status["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| {
            (
                n["path"].as_str().unwrap().to_owned(),
                n["state"].as_str().unwrap().to_owned(),
                n["generation"].as_u64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn a_thousand_callers_that_disconnect_leave_no_lockout_and_no_memory() {
    let s = Scratch::new("ctl-calls");
    let cfg = silent_tree(&s);
    let mut vigil = Vigil::start_supervising(&s, &cfg);
    let socket = s.path("ctl.sock");
    let svc = s.wait_pid(&vigil, "svc.pid");
    let idle = s.wait_pid(&vigil, "idle.pid");
    vigil.wait_for("svc registered", || {
        metric(&vigil, &socket, "vigil_workers_registered") == Some(1)
    });
    let call = "{\"op\":\"call\",\"path\":\"svc\",\"name\":\"hang\",\"timeout_ms\":3600000}\n";
    let observer = UnixStream::connect(&socket).expect("connect");
    observer.set_read_timeout(Some(SAFETY)).unwrap();
    let rss_before = vigil.rss_kib();
    for round in 0..8 {
        // 1,030 callers at once, each with a call that would wait an hour...
        let callers: Vec<UnixStream> = (0..1030)
            .map(|_| {
                let mut c = UnixStream::connect(&socket).expect("connect");
                let _ = c.write_all(call.as_bytes());
                c
            })
            .collect();
        if round == 0 {
            // (Asked on a connection opened before them: the callers hold
            // every other place.)
            vigil.wait_for("a thousand calls in flight", || {
                metric_on(&observer, "vigil_control_calls_in_flight") > 1000
            });
        }
        // ... then gone: an operator gets in at once.
        drop(callers);
        vigil.wait_for("vigil ctl status is answered", || {
            vigil.ctl(&socket, &["status"]).status.success()
        });
        vigil.wait_for("every call is cancelled", || {
            metric_on(&observer, "vigil_control_calls_in_flight") == 0
                && metric_on(&observer, "vigil_control_connections") == 2
        });
    }
    let rss_after = vigil.rss_kib();
    eprintln!("VmRSS {rss_before} kB before 8 x 1,030 calls, {rss_after} kB after");
    // 8,240 calls used to keep about 61 kB each (490 MB); now they end with
    // their callers.
    assert!(
        rss_after < rss_before + 64 * 1024,
        "VmRSS {rss_before} kB -> {rss_after} kB"
    );
    assert!(vigil.alive(svc) && vigil.alive(idle));
    assert_eq!(s.lines("svc.pid"), [svc.to_string()]);
    vigil.signal("TERM");
    assert_eq!(vigil.wait_code(), 0, "{}", vigil.log_text());
    vigil.wait_nothing_left();
    let trace = vigil.trace();
    assert_eq!((trace.count("spawn", "svc"), trace.count("spawn", "idle")), (1, 1));
}

#[test]
fn a_request_with_a_duplicate_key_is_refused_and_changes_nothing() {
    let s = Scratch::new("ctl-dup");
    let cfg = silent_tree(&s);
    let mut vigil = Vigil::start_supervising(&s, &cfg);
    let socket = s.path("ctl.sock");
    let svc = s.wait_pid(&vigil, "svc.pid");
    let idle = s.wait_pid(&vigil, "idle.pid");
    let before = states(&vigil, &socket);
    for (line, id) in [
        ("{\"op\":\"status\",\"op\":\"shutdown\"}\n", "null"),
        ("{\"id\":7,\"op\":\"stop\",\"path\":\"idle\",\"path\":\"svc\"}\n", "7"),
        (
            "{\"id\":8,\"op\":\"call\",\"path\":\"svc\",\"name\":\"x\",\"args\":{\"a\":[{\"b\":1,\"b\":2}]}}\n",
            "8",
        ),
    ] {
        let answer = ask(&socket, line);
        assert!(
            answer.starts_with(&format!(
                "{{\"id\":{id},\"ok\":false,\"error\":{{\"code\":\"duplicate_key\""
            )),
            "{line} -> {answer}"
        );
    }
    // Still up, nothing restarted or stopped.
    assert_eq!(states(&vigil, &socket), before);
    assert!(vigil.alive(svc) && vigil.alive(idle));
    vigil.signal("TERM");
    assert_eq!(vigil.wait_code(), 0);
    vigil.wait_nothing_left();
    // The only shutdown is SIGTERM's; nothing was stopped before it.
    let trace = vigil.trace();
    let shutdowns = trace
        .0
        .iter()
        .filter(|l| l.ev == "request" && l.op == "shutdown")
        .count();
    assert_eq!(shutdowns, 1, "{trace}");
    let first_stop = trace.find(|l| l.ev == "stop" || l.ev == "kill").unwrap();
    assert!(first_stop > trace.shutdown_request(), "{trace}");
}

/// A notify worker that, once `go` exists, sends `count` heartbeats as fast
/// as vigil takes them, then writes `done`.
const HEARTBEATS: &str = r#"
import os, socket, sys, time
pidfile, go, done, count = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
n = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
addr = os.environ["NOTIFY_SOCKET"]
n.sendto(b"READY=1", addr)
open(pidfile, "w").write("%d\n" % os.getpid())
while not os.path.exists(go):
    time.sleep(0.02)
for _ in range(count):
    n.sendto(b"WATCHDOG=1", addr)
open(done, "w").write("done\n")
time.sleep(100000)
"#;

#[test]
fn a_subscriber_that_never_reads_costs_bounded_memory_and_is_told_it_lagged() {
    const BEATS: usize = 60_000;
    let s = Scratch::new("ctl-sub");
    let args = [s.p("hb.pid"), s.p("go"), s.p("done"), BEATS.to_string()];
    let config = format!(
        "[control]\nsocket = {sock}\n\n\
         [[child]]\nname = \"hb\"\nreadiness = \"notify\"\nshutdown = \"brutal\"\ncommand = {hb}\n",
        sock = q(&s.p("ctl.sock")),
        hb = python(&s, HEARTBEATS, "hb.py", &args),
    );
    let cfg = s.write("tree.toml", &config);
    let mut vigil = Vigil::start_supervising(&s, &cfg);
    let socket = s.path("ctl.sock");
    let hb = s.wait_pid(&vigil, "hb.pid");
    let mut sub = UnixStream::connect(&socket).unwrap();
    sub.set_read_timeout(Some(SAFETY)).unwrap();
    sub.write_all(b"{\"id\":1,\"op\":\"subscribe\"}\n").unwrap();
    let mut reader = BufReader::new(sub.try_clone().unwrap());
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert_eq!(line, "{\"id\":1,\"ok\":true,\"result\":\"subscribed\"}\n");
    let rss_before = vigil.rss_kib();

    // 60,000 events while the subscriber reads nothing.
    s.touch("go");
    let beats = || {
        std::fs::read_to_string(&vigil.trace)
            .unwrap_or_default()
            .matches("\"ev\":\"heartbeat\"")
            .count()
    };
    vigil.wait_for("every heartbeat handled", || s.exists("done") && beats() >= BEATS);
    let rss_after = vigil.rss_kib();
    eprintln!("VmRSS {rss_before} kB before {BEATS} events to a subscriber that does not read, {rss_after} kB after");
    assert!(
        rss_after < rss_before + 16 * 1024,
        "VmRSS {rss_before} kB -> {rss_after} kB"
    );

    // Reading now: what was queued, then a `lagged` notice, not 60,000 lines.
    let mut read = 0;
    let lagged = loop {
        line.clear();
        reader.read_line(&mut line).expect("the stream goes on");
        read += 1;
        if line.contains("\"item\":{\"lagged\":") {
            break line.clone();
        }
        assert!(read < BEATS / 2, "no lagged notice in {read} lines");
    };
    assert!(lagged.starts_with("{\"id\":1,\"item\":{\"lagged\":"), "{lagged}");
    assert!(vigil.alive(hb));
    assert_eq!(s.lines("hb.pid"), [hb.to_string()]);
    vigil.signal("TERM");
    assert_eq!(vigil.wait_code(), 0);
    vigil.wait_nothing_left();
}

#[test]
fn a_token_for_another_path_is_refused_with_whose_it_is() {
    let s = Scratch::new("ctl-token");
    let config = format!(
        "[control]\nsocket = {sock}\n\n[[child]]\nname = \"spy\"\nshutdown = \"brutal\"\ncommand = {spy}\n",
        sock = q(&s.p("ctl.sock")),
        spy = sh(&format!(
            "echo $VIGIL_TOKEN > {t}.tmp && mv {t}.tmp {t}; exec sleep 100000",
            t = s.p("token")
        )),
    );
    let cfg = s.write("tree.toml", &config);
    let mut vigil = Vigil::start_supervising(&s, &cfg);
    let socket = s.path("ctl.sock");
    let token = s.wait_lines(&vigil, "token", 1)[0].clone();
    let generation = states(&vigil, &socket)[0].2;
    let answer = ask(
        &socket,
        &format!("{{\"id\":1,\"op\":\"register\",\"token\":\"{token}\",\"path\":\"web\"}}\n"),
    );
    assert!(answer.contains("\"code\":\"bad_token\""), "{answer}");
    assert!(
        answer.contains(&format!("the token belongs to run {generation} of `spy`, not to `web`")),
        "{answer}"
    );
    vigil.signal("TERM");
    assert_eq!(vigil.wait_code(), 0);
    vigil.wait_nothing_left();
}
