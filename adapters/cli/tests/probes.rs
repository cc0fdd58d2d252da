//! Health probes (`health = { exec | http | tcp }`, `readiness = "probe"`) and
//! the systemd watchdog variables of children with a `health_timeout`, end
//! to end with `vigil run` and real processes.
//!
//! Nothing here sleeps to assert: a test waits for a file a child or a probe
//! writes, a process gone, or a log line, and reads the engine's decisions in
//! the trace once vigil has exited.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use support::*;

/// The trace's evict, exit, restart and next spawn of `path` after a failed
/// probe: every eviction reads `health`, its exit too, and a restart follows.
fn assert_health_restarts(trace: &Trace, path: &str) {
    let evicts = trace.all("evict", path);
    assert!(!evicts.is_empty(), "no evict of {path}: {trace}");
    for e in &evicts {
        assert_eq!(e.reason, "health", "{}", e.raw);
        let i = trace.find(|l| l.raw == e.raw).expect("the evict line");
        let exit = trace.0[i..]
            .iter()
            .find(|l| l.is("exited", path) && l.gen == e.gen)
            .unwrap_or_else(|| panic!("no exit after {}: {trace}", e.raw));
        assert_eq!(exit.reason, "health", "{}", exit.raw);
    }
    assert!(trace.count("spawn", path) > evicts.len().min(1), "{trace}");
}

/// A failing exec probe makes the child unhealthy after `retries` failures:
/// it is stopped with reason `health` and restarted; its healthy sibling is
/// left alone.
#[test]
fn a_failing_exec_probe_restarts_the_child_with_reason_health() {
    let s = Scratch::new("exec-probe");
    let sick = format!("echo $VIGIL_GENERATION >> {}; exec sleep 1000", s.p("sick.starts"));
    let probe_log = s.p("probes");
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"sick\"\ncommand = {}\n\
             health = {{ exec = [\"sh\", \"-c\", {}], interval = \"50ms\", retries = 2 }}\n\n\
             [[child]]\nname = \"fine\"\ncommand = [\"sleep\", \"1000\"]\n\
             health = {{ exec = [\"true\"], interval = \"50ms\", retries = 1 }}\n",
            sh(&sick),
            q(&format!(
                "echo \"$VIGIL_PATH ${{VIGIL_TOKEN:-no-token}}\" >> {probe_log}; echo 'db down' >&2; exit 1"
            ))
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "sick.starts", 3);
    v.wait_log(&["health probe", "unhealthy", "path=\"sick\"", "db down"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_health_restarts(&trace, "sick");
    assert_eq!(trace.count("spawn", "fine"), 1, "{trace}");
    assert_eq!(trace.count("evict", "fine"), 0, "{trace}");
    // The probe ran with the child's environment, without its control token.
    assert!(
        s.lines("probes").iter().all(|l| l == "sick no-token"),
        "{:?}",
        s.lines("probes")
    );
    v.wait_nothing_left();
}

/// A tcp probe that decides readiness: the next sibling starts only once
/// the child listens; when the child closes its listener, it is unhealthy.
#[test]
fn a_tcp_probe_gates_the_next_sibling_and_fails_when_the_listener_closes() {
    let s = Scratch::new("tcp-probe");
    let port = free_port();
    let server = s.write(
        "server.py",
        &format!(
            "import os, socket, time\n\
             with open({starts}, 'a') as f:\n    f.write(os.environ['VIGIL_GENERATION'] + '\\n')\n\
             while not os.path.exists({listen}):\n    time.sleep(0.02)\n\
             l = socket.socket(); l.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n\
             l.bind(('127.0.0.1', {port})); l.listen(16)\n\
             while not os.path.exists({close}):\n    time.sleep(0.02)\n\
             l.close()\n\
             time.sleep(1000)\n",
            starts = q(&s.p("server.starts")),
            listen = q(&s.p("listen")),
            close = q(&s.p("close")),
        ),
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"db\"\nreadiness = \"probe\"\nstartup_timeout = \"1m\"\n\
             command = [\"python3\", {}]\n\
             health = {{ tcp = \"127.0.0.1:{port}\", interval = \"50ms\", retries = 2 }}\n\n\
             [[child]]\nname = \"app\"\ncommand = {}\n",
            q(server.to_str().expect("UTF-8")),
            sh(&format!("echo $$ > {}; exec sleep 1000", s.p("app.pid"))),
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "server.starts", 1);
    // Its probes fail (nothing listens), and do not count before the first
    // pass: `app` waits, `db` is not restarted.
    v.wait_log(&["health probe failed", "path=\"db\""]);
    assert!(!s.exists("app.pid"));
    s.touch("listen");
    s.wait_pid(&v, "app.pid");
    s.touch("close");
    s.wait_lines(&v, "server.starts", 2);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert!(trace.first("spawn", "app") > trace.first("ready", "db"), "{trace}");
    assert_eq!(trace.count("evict", "db"), 1, "{trace}");
    assert_health_restarts(&trace, "db");
    v.wait_nothing_left();
}

/// A tiny HTTP server in the test: 200 until `fail` is set, then 500. It
/// records each request's first lines.
struct HttpServer {
    port: u16,
    fail: Arc<AtomicBool>,
    requests: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl HttpServer {
    fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (fail, requests, heads) = (Arc::default(), Arc::default(), Arc::default());
        let server = HttpServer {
            port,
            fail: Arc::clone(&fail),
            requests: Arc::clone(&requests),
            heads: Arc::clone(&heads),
        };
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut reader = BufReader::new(&stream);
                let mut head = String::new();
                for _ in 0..2 {
                    let mut line = String::new();
                    let _ = reader.read_line(&mut line);
                    head.push_str(&line);
                }
                heads.lock().unwrap().push(head);
                let status = if fail.load(Ordering::SeqCst) {
                    "500 Internal Server Error"
                } else {
                    "200 OK"
                };
                let _ = (&stream).write_all(format!("HTTP/1.1 {status}\r\nContent-Length: 2\r\n\r\nok").as_bytes());
                requests.fetch_add(1, Ordering::SeqCst);
            }
        });
        server
    }
}

/// An http probe passes on 2xx and fails on 500: the child is then
/// stopped with reason `health` and restarted. The request has a `Host`.
#[test]
fn an_http_probe_passes_on_2xx_and_fails_on_500() {
    let s = Scratch::new("http-probe");
    let server = HttpServer::start();
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"web\"\ncommand = {}\n\
             health = {{ http = \"http://127.0.0.1:{}/health?full=1\", interval = \"50ms\", retries = 2 }}\n",
            sh(&format!(
                "echo $VIGIL_GENERATION >> {}; exec sleep 1000",
                s.p("web.starts")
            )),
            server.port
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "web.starts", 1);
    v.wait_for("three passing probes", || server.requests.load(Ordering::SeqCst) >= 3);
    server.fail.store(true, Ordering::SeqCst);
    s.wait_lines(&v, "web.starts", 2);
    v.wait_log(&["HTTP status 500"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_health_restarts(&trace, "web");
    let head = server.heads.lock().unwrap()[0].clone();
    assert_eq!(
        head,
        format!("GET /health?full=1 HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n", server.port)
    );
    v.wait_nothing_left();
}

/// Failures during `start_period` do not count: a probe that always fails
/// runs many times and the child is never evicted.
#[test]
fn failures_during_the_start_period_do_not_count() {
    let s = Scratch::new("start-period");
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"slow\"\ncommand = [\"sleep\", \"1000\"]\n\
             health = {{ exec = [\"sh\", \"-c\", {}], interval = \"20ms\", retries = 1, start_period = \"1h\" }}\n",
            q(&format!("echo x >> {}; exit 1", s.p("probes")))
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    s.wait_lines(&v, "probes", 5);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert_eq!(trace.count("evict", "slow"), 0, "{trace}");
    assert_eq!(trace.count("spawn", "slow"), 1, "{trace}");
    v.wait_nothing_left();
}

/// A probe over its timeout fails, and its whole process group (the probe
/// and what it started) is killed and reaped: nothing leaks. The probe is
/// reaped by vigil; its orphaned descendant by vigil's reaper (`--init`;
/// without it, by the system's init, which the test machine's does not do).
#[test]
fn a_probe_over_its_timeout_has_its_process_group_killed() {
    let s = Scratch::new("probe-timeout");
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"hung\"\ncommand = [\"sleep\", \"1000\"]\n\
             health = {{ exec = [\"sh\", \"-c\", {}], interval = \"50ms\", timeout = \"1s\", retries = 1000 }}\n",
            q(&format!("sleep 1000 & echo \"$$ $!\" >> {}; wait", s.p("probe.pids")))
        ),
    );
    let how = Launch {
        args: &["--init"],
        ..Launch::default()
    };
    let mut v = Vigil::launch(&s, &config, &how);
    v.wait_for_signal_handlers();
    // The first probe, seen while it runs (it has a second to live).
    let lines = s.wait_lines(&v, "probe.pids", 1);
    let procs: Vec<Proc> = lines[0]
        .split_whitespace()
        .filter_map(|pid| Proc::of(pid.parse().expect("a pid")))
        .collect();
    assert_eq!(procs.len(), 2, "the probe's shell and its sleep: {lines:?}");
    v.wait_log(&["health probe failed", "timed out after 1s"]);
    // It timed out: its shell and its background sleep are killed and reaped.
    wait_reaped(&v, &procs);
    assert!(s.wait_lines(&v, "probe.pids", 2).len() >= 2, "probes go on");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    v.wait_nothing_left();
}

/// A child with a `health_timeout` gets `NOTIFY_SOCKET`, `WATCHDOG_USEC` and
/// `WATCHDOG_PID` (its own pid) without `readiness = "notify"`, and its
/// `WATCHDOG=1` keeps it alive; a sibling that never pings is restarted
/// meanwhile.
#[test]
fn a_health_timeout_child_gets_the_watchdog_variables_and_its_pings_count() {
    let s = Scratch::new("watchdog-env");
    let beat = s.write(
        "beat.py",
        &format!(
            "import os, socket, time\n\
             with open({env}, 'w') as f:\n    f.write(os.environ.get('WATCHDOG_USEC', '-') + ' ' + os.environ.get('WATCHDOG_PID', '-') + ' ' + str(os.getpid()) + ' ' + ('yes' if os.environ.get('NOTIFY_SOCKET') else 'no') + '\\n')\n\
             s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)\n\
             while True:\n    s.sendto(b'WATCHDOG=1', os.environ['NOTIFY_SOCKET'])\n    time.sleep(0.05)\n",
            env = q(&s.p("beat.env"))
        ),
    );
    let config = s.write(
        "tree.toml",
        &format!(
            "[supervisor]\nintensity = 20\nperiod = \"10s\"\n\n\
             [[child]]\nname = \"beating\"\nhealth_timeout = \"1500ms\"\ncommand = [\"python3\", {}]\n\n\
             [[child]]\nname = \"silent\"\nhealth_timeout = \"300ms\"\ncommand = {}\n",
            q(beat.to_str().expect("UTF-8")),
            sh(&format!(
                "echo $VIGIL_GENERATION >> {}; exec sleep 1000",
                s.p("silent.starts")
            ))
        ),
    );
    let mut v = Vigil::start_supervising_with_env(&s, &config, &[("WATCHDOG_PID", "1"), ("WATCHDOG_USEC", "7")]);
    let env = s.wait_lines(&v, "beat.env", 1);
    // vigil's own WATCHDOG_* (from its systemd) are not passed on: the
    // child's are its own, WATCHDOG_PID its own pid (libsystemd's check).
    let fields: Vec<&str> = env[0].split(' ').collect();
    assert_eq!(fields.len(), 4, "{env:?}");
    assert_eq!((fields[0], fields[3]), ("1500000", "yes"), "{env:?}");
    assert_eq!(fields[1], fields[2], "WATCHDOG_PID is the program's pid: {env:?}");
    // Long enough for `beating` to have died twice without its pings.
    s.wait_lines(&v, "silent.starts", 8);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    let trace = v.trace();
    assert!(trace.count("heartbeat", "beating") > 0, "{trace}");
    assert_eq!(trace.count("spawn", "beating"), 1, "{trace}");
    assert_eq!(trace.count("timeout", "beating"), 0, "{trace}");
    v.wait_nothing_left();
}

/// `vigil check` prints warnings for settings that cannot work (exit 0),
/// and errors with their position for invalid probes (exit 2).
#[test]
fn check_warns_about_probe_settings_and_rejects_invalid_ones() {
    let s = Scratch::new("check-probe");
    let warn = s.write(
        "warn.toml",
        "[[child]]\nname = \"w\"\ncommand = [\"w\"]\nhealth = { tcp = \"127.0.0.1:1\", interval = \"1s\", timeout = \"1s\" }\n",
    );
    let out = vigil_output(&["check", warn.to_str().expect("UTF-8")]);
    assert_eq!(exit_code(&out), 0);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "warning: {}: child `w`: the health probe's timeout (1s) is not shorter than its interval (1s)",
            warn.display()
        )),
        "{stderr}"
    );
    let bad = s.write(
        "bad.toml",
        "[[child]]\nname = \"w\"\ncommand = [\"w\"]\nreadiness = \"probe\"\n",
    );
    let out = vigil_output(&["check", bad.to_str().expect("UTF-8")]);
    assert_eq!(exit_code(&out), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!(
            "error: {}:4:13: bad value for `readiness`: \"probe\" needs a health probe",
            bad.display()
        )),
        "{stderr}"
    );
}

/// A port nothing listens on now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
