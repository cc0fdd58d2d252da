//! Operating `vigil run` itself: its systemd notifications (a fake
//! `NOTIFY_SOCKET` listener), its HTTP endpoint, and the shipped unit file.
//! Waits are polls with a safety net, never timing assertions.

mod support;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use support::*;

/// A fake service manager: the datagrams vigil sends it.
struct Manager {
    socket: UnixDatagram,
    seen: Vec<String>,
}

impl Manager {
    fn bind(path: &std::path::Path) -> Manager {
        Manager::from(UnixDatagram::bind(path).expect("bind the notify socket"))
    }

    fn from(socket: UnixDatagram) -> Manager {
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .expect("timeout");
        Manager {
            socket,
            seen: Vec::new(),
        }
    }

    /// Receive until a message satisfies `cond` (the safety net fails the test).
    fn wait(&mut self, what: &str, mut cond: impl FnMut(&str) -> bool) -> String {
        let start = Instant::now();
        let mut buf = [0u8; 4096];
        while start.elapsed() < Duration::from_secs(30) {
            if let Ok(n) = self.socket.recv(&mut buf) {
                let m = String::from_utf8_lossy(&buf[..n]).into_owned();
                self.seen.push(m.clone());
                if cond(&m) {
                    return m;
                }
            }
        }
        panic!("no {what} in {:?}", self.seen);
    }
}

#[test]
fn vigil_notifies_systemd_of_ready_status_watchdog_reload_and_stop() {
    let s = Scratch::new("sdnotify");
    let env_file = s.p("child.env");
    let config = s.write(
        "tree.toml",
        &format!(
            "[[child]]\nname = \"a\"\ncommand = [\"sleep\", \"1000\"]\n\n\
             [[child]]\nname = \"b\"\ncommand = {}\n",
            sh(&format!("env > {env_file}; exec sleep 1000"))
        ),
    );
    let sock = s.path("notify.sock");
    let mut manager = Manager::bind(&sock);
    let how = Launch {
        env: &[("NOTIFY_SOCKET", sock.to_str().unwrap()), ("WATCHDOG_USEC", "400000")],
        ..Launch::default()
    };
    let mut v = Vigil::launch(&s, &config, &how);
    manager.wait("READY=1", |m| m == "READY=1");
    manager.wait("a status", |m| m == "STATUS=2 children running, 0 restarting");
    manager.wait("WATCHDOG=1", |m| m == "WATCHDOG=1");
    v.wait_for_signal_handlers();
    // Children do not see vigil's notify socket or watchdog.
    v.wait_for("the child's environment", || s.exists("child.env"));
    let child_env = std::fs::read_to_string(&env_file).expect("env");
    for var in ["NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID="] {
        assert!(
            !child_env.lines().any(|l| l.starts_with(var)),
            "{var} leaked:\n{child_env}"
        );
    }

    v.signal("HUP");
    let reloading = manager.wait("RELOADING=1", |m| m.starts_with("RELOADING=1"));
    let usec = reloading
        .strip_prefix("RELOADING=1\nMONOTONIC_USEC=")
        .and_then(|u| u.parse::<u64>().ok());
    assert!(usec.is_some_and(|u| u > 0), "{reloading:?}");
    manager.wait("READY=1 after the reload", |m| m == "READY=1");

    v.signal("TERM");
    manager.wait("STOPPING=1", |m| m == "STOPPING=1");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    // READY=1 once at the start and once after the reload, nothing else.
    assert_eq!(
        manager.seen.iter().filter(|m| *m == "READY=1").count(),
        2,
        "{:?}",
        manager.seen
    );
}

#[test]
fn an_abstract_notify_socket_is_used_and_a_give_up_is_reported() {
    use std::os::linux::net::SocketAddrExt;
    let s = Scratch::new("sdabstract");
    let name = unique("vigil-notify");
    let addr = std::os::unix::net::SocketAddr::from_abstract_name(name.as_bytes()).expect("abstract");
    let mut manager = Manager::from(UnixDatagram::bind_addr(&addr).expect("bind abstract"));
    let config = s.write(
        "tree.toml",
        "[supervisor]\nintensity = 1\nperiod = \"60s\"\n\n\
         [[child]]\nname = \"db\"\ncommand = [\"sh\", \"-c\", \"sleep 0.2; exit 3\"]\n",
    );
    let notify = format!("@{name}");
    let how = Launch {
        env: &[("NOTIFY_SOCKET", notify.as_str())],
        ..Launch::default()
    };
    let mut v = Vigil::launch(&s, &config, &how);
    manager.wait("READY=1", |m| m == "READY=1");
    let down = manager.wait("the tree down", |m| m.starts_with("STATUS=tree down"));
    assert_eq!(
        down,
        "STATUS=tree down: root gave up (give-up of the root); last failure: db (error(exit code 3))"
    );
    manager.wait("STOPPING=1", |m| m == "STOPPING=1");
    assert_eq!(v.wait_code(), 1, "log:\n{}", v.log_text());
}

#[test]
fn a_bad_notify_socket_is_logged_and_the_tree_runs() {
    let s = Scratch::new("sdbad");
    let config = s.write(
        "tree.toml",
        "[[child]]\nname = \"a\"\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let how = Launch {
        env: &[("NOTIFY_SOCKET", "relative/path"), ("WATCHDOG_USEC", "soon")],
        ..Launch::default()
    };
    let mut v = Vigil::launch(&s, &config, &how);
    v.wait_for_signal_handlers();
    v.wait_log(&["NOTIFY_SOCKET=\"relative/path\" is neither an absolute socket path"]);
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

/// One HTTP/1.1 GET over a raw TCP stream: status code and body.
fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(s, "GET {path} HTTP/1.1\r\nHost: vigil\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    let (head, body) = text.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, body.to_owned()))
}

/// A free loopback port (bound, then let go).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[test]
fn vigil_run_serves_http_and_an_address_in_use_stops_it_with_one_line() {
    let s = Scratch::new("http");
    let port = free_port();
    let config = s.write(
        "tree.toml",
        &format!("[http]\nlisten = \"{port}\"\n\n[[child]]\nname = \"a\"\ncommand = [\"sleep\", \"1000\"]\n"),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    let addr = format!("127.0.0.1:{port}");
    v.wait_for("healthz 200", || {
        http_get(&addr, "/healthz").is_some_and(|(c, _)| c == 200)
    });
    v.wait_for("readyz 200", || {
        http_get(&addr, "/readyz").is_some_and(|(c, _)| c == 200)
    });
    let (code, metrics) = http_get(&addr, "/metrics").expect("metrics");
    assert_eq!(code, 200);
    assert!(
        metrics.contains("vigil_child_state{path=\"a\",kind=\"worker\",state=\"running\"} 1"),
        "{metrics}"
    );
    let ctl = vigil_cmd(&s, &["ctl", "--config", config.to_str().unwrap(), "status", "--json"])
        .output()
        .expect("ctl");
    let over_socket: serde_json::Value = serde_json::from_slice(&ctl.stdout).expect("ctl JSON");
    let (code, status) = http_get(&addr, "/status").expect("status");
    assert_eq!(code, 200);
    let over_http: serde_json::Value = serde_json::from_str(&status).expect("HTTP JSON");
    assert_eq!(over_http["nodes"][0]["path"], over_socket["nodes"][0]["path"]);
    assert_eq!(over_http["nodes"][0]["pid"], over_socket["nodes"][0]["pid"]);

    // A second vigil (another socket) on the same address: one line, exit 2,
    // nothing started.
    let other = s.write(
        "other.toml",
        &format!(
            "[control]\nsocket = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n\n\
             [[child]]\nname = \"b\"\ncommand = [\"sh\", \"-c\", \"touch {}\"]\n",
            s.p("other.sock"),
            s.p("b.ran")
        ),
    );
    let out = vigil_output(&["run", other.to_str().unwrap()]);
    assert_eq!(code_of(&out), 2, "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr.trim_end(),
        format!(
            "error: cannot listen for HTTP on 127.0.0.1:{port}: Address already in use (os error 98) \
             (another program listens there; choose another `[http] listen`)"
        ),
    );
    assert!(!s.exists("b.ran"), "the tree must not start");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
    assert!(http_get(&addr, "/healthz").is_none(), "the endpoint ends with vigil");
}

fn code_of(out: &std::process::Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

#[test]
fn vigil_check_names_a_bad_listen_address() {
    let s = Scratch::new("httpcheck");
    for (value, message) in [
        ("\"\"", "the address is empty"),
        ("\"127.0.0.1:99999\"", "the port 99999 is not a number from 0 to 65535"),
        ("\"example.com:80\"", "\"example.com\" is not an IP address"),
        ("\"127.0.0.1\"", "has no port"),
        ("9100", "invalid type: integer `9100`, expected a string"),
    ] {
        let config = s.write("bad.toml", &format!("[http]\nlisten = {value}\n"));
        let out = vigil_output(&["check", config.to_str().unwrap()]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(code_of(&out), 2, "{value}: {stderr}");
        assert!(stderr.contains("bad.toml:2:10:"), "{value}: {stderr}");
        assert!(stderr.contains(message), "{value}: {stderr}");
    }
    let typo = s.write("typo.toml", "[http]\nlisen = \"9100\"\n");
    let out = vigil_output(&["check", typo.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("unknown key `lisen` in [http]"), "{stderr}");
}

/// `vigil ctl ARGS --socket SOCK`: exit code, stdout, stderr.
fn ctl(s: &Scratch, sock: &str, args: &[&str]) -> (i32, String, String) {
    let mut all = vec!["ctl", "--socket", sock];
    all.extend_from_slice(args);
    let out = vigil_cmd(s, &all).output().expect("vigil ctl");
    (
        code_of(&out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn keep_running_survives_a_give_up_says_why_and_starts_the_tree_again() {
    let s = Scratch::new("keep");
    let port = free_port();
    let sock = s.p("ctl.sock");
    // `db` crashes until the file `fixed` exists: the root gives up at once.
    let db = format!("sleep 0.2; [ -e {} ] && exec sleep 1000; exit 3", s.p("fixed"));
    let config = s.write(
        "tree.toml",
        &format!(
            "[control]\nsocket = \"{sock}\"\n[http]\nlisten = \"{port}\"\n\n\
             [supervisor]\nintensity = 1\nperiod = \"60s\"\n\n\
             [[child]]\nname = \"web\"\ncommand = [\"sleep\", \"1000\"]\n\n\
             [[child]]\nname = \"db\"\ncommand = {}\n",
            sh(&db)
        ),
    );
    let how = Launch {
        args: &["--keep-running"],
        ..Launch::default()
    };
    let mut v = Vigil::launch(&s, &config, &how);
    v.wait_for_signal_handlers();
    let addr = format!("127.0.0.1:{port}");
    v.wait_log(&["the tree is down; vigil keeps running"]);

    // Down, and why: the table and the JSON.
    let (code, table, _) = ctl(&s, &sock, &["status"]);
    assert_eq!(code, 0);
    assert!(table.starts_with("tree down: root gave up"), "{table}");
    assert!(table.contains("gave up: the root\n"), "{table}");
    assert!(table.contains("db (generation "), "{table}");
    assert!(table.contains("error(exit code 3)"), "{table}");
    let (_, json, _) = ctl(&s, &sock, &["status", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    assert_eq!(j["tree"]["up"], false, "{j}");
    assert_eq!(j["tree"]["outcome"], "root gave up");
    assert_eq!(j["tree"]["gave_up"], serde_json::json!([""]));
    let failures = j["tree"]["last_failures"].as_array().expect("failures");
    assert_eq!(failures.len(), 2, "{j}");
    assert!(failures
        .iter()
        .all(|f| f["path"] == "db" && f["reason"] == "error(exit code 3)"));
    assert_eq!(j["last_exits"][0]["path"], "db");
    // HTTP and metrics say so.
    assert_eq!(http_get(&addr, "/healthz").map(|r| r.0), Some(503));
    assert_eq!(http_get(&addr, "/readyz").map(|r| r.0), Some(503));
    let (_, metrics, _) = ctl(&s, &sock, &["metrics"]);
    assert!(metrics.lines().any(|l| l == "vigil_tree_up 0"), "{metrics}");

    // Fixed, started again: up, healthy, and start-tree is refused while up.
    s.touch("fixed");
    let (code, out, err) = ctl(&s, &sock, &["start-tree"]);
    assert_eq!((code, out.as_str()), (0, "started the tree\n"), "{err}");
    v.wait_for("healthz 200", || {
        http_get(&addr, "/healthz").is_some_and(|(c, _)| c == 200)
    });
    v.wait_for("both running", || {
        let (_, t, _) = ctl(&s, &sock, &["status"]);
        t.lines().filter(|l| l.contains(" running ")).count() == 2
    });
    let (_, metrics, _) = ctl(&s, &sock, &["metrics"]);
    assert!(metrics.lines().any(|l| l == "vigil_tree_up 1"), "{metrics}");
    let (code, _, err) = ctl(&s, &sock, &["start-tree"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("tree_up: the tree is up"), "{err}");

    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

#[test]
fn sigterm_while_the_tree_is_down_exits_with_the_code_of_its_end() {
    let s = Scratch::new("keepterm");
    let sock = s.p("ctl.sock");
    let config = s.write(
        "tree.toml",
        &format!(
            "[control]\nsocket = \"{sock}\"\n[run]\nkeep_running = true\n\n\
             [supervisor]\nintensity = 0\n\n\
             [[child]]\nname = \"db\"\ncommand = [\"sh\", \"-c\", \"exit 3\"]\n"
        ),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_log(&["the tree is down; vigil keeps running"]);
    assert!(v.alive(v.pid()), "vigil stays up");
    // A config broken meanwhile: start-tree says why, the tree stays down.
    std::fs::write(&config, "[[child]]\nname = \n").expect("break the config");
    let (code, _, err) = ctl(&s, &sock, &["start-tree"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("start_failed: the config does not load, the tree stays down"),
        "{err}"
    );
    v.signal("TERM");
    assert_eq!(v.wait_code(), 1, "the give-up's code; log:\n{}", v.log_text());
}

#[test]
fn without_keep_running_start_tree_is_refused() {
    let s = Scratch::new("nokeep");
    let sock = s.p("ctl.sock");
    let config = s.write(
        "tree.toml",
        &format!("[control]\nsocket = \"{sock}\"\n\n[[child]]\nname = \"a\"\ncommand = [\"sleep\", \"1000\"]\n"),
    );
    let mut v = Vigil::start_supervising(&s, &config);
    v.wait_for("the socket", || std::path::Path::new(&sock).exists());
    let (code, _, err) = ctl(&s, &sock, &["start-tree"]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("unsupported: this vigil exits when its tree is down"),
        "{err}"
    );
    assert!(err.contains("--keep-running"), "{err}");
    v.signal("TERM");
    assert_eq!(v.wait_code(), 0, "log:\n{}", v.log_text());
}

/// The shipped unit, with its paths replaced by this build's binary and `config`.
fn unit_for(config: &std::path::Path) -> String {
    include_str!("../../../examples/systemd/vigil.service")
        .replace("/usr/local/bin/vigil", env!("CARGO_BIN_EXE_vigil"))
        .replace("/etc/vigil/tree.toml", config.to_str().unwrap())
}

/// What `systemd-analyze verify` says of a unit file (its stderr), or
/// `None` without systemd-analyze.
fn systemd_verify(s: &Scratch, name: &str, text: &str) -> Option<String> {
    let path = s.write(name, text);
    let out = std::process::Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .ok()?;
    Some(String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_shipped_unit_file_verifies_and_its_commands_run() {
    let s = Scratch::new("unit");
    let config = s.write(
        "tree.toml",
        "[[child]]\nname = \"a\"\ncommand = [\"sleep\", \"1000\"]\n",
    );
    let unit = unit_for(&config);
    for key in [
        "Type=notify",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "KillMode=mixed",
        "WatchdogSec=",
    ] {
        assert!(unit.lines().any(|l| l.starts_with(key)), "no {key}");
    }
    // ExecStartPre, as systemd runs it: the config checks.
    let pre = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStartPre="))
        .expect("ExecStartPre");
    let words: Vec<&str> = pre.split_whitespace().collect();
    let out = vigil_output(&words[1..]);
    assert_eq!(code_of(&out), 0, "{pre}: {out:?}");
    match systemd_verify(&s, "vigil.service", &unit) {
        None => eprintln!("skipped: systemd-analyze is not installed (Debian's package `systemd` has it)"),
        Some(said) => {
            assert_eq!(said, "", "systemd-analyze verify");
            // The check can fail: a misspelt setting is reported.
            let bad = unit.replace("KillMode=mixed", "KillMode=mixd");
            let said = systemd_verify(&s, "bad.service", &bad).expect("ran before");
            assert!(said.contains("mixd"), "{said}");
        }
    }
}

#[test]
fn with_keep_running_systemd_hears_why_the_tree_is_down_and_the_watchdog_goes_on() {
    let s = Scratch::new("keepsd");
    let sock = s.path("notify.sock");
    let mut manager = Manager::bind(&sock);
    let config = s.write(
        "tree.toml",
        "[supervisor]\nintensity = 0\n\n[[child]]\nname = \"db\"\ncommand = [\"sh\", \"-c\", \"sleep 0.2; exit 3\"]\n",
    );
    let how = Launch {
        env: &[("NOTIFY_SOCKET", sock.to_str().unwrap()), ("WATCHDOG_USEC", "200000")],
        args: &["--keep-running"],
        ..Launch::default()
    };
    let mut v = Vigil::launch(&s, &config, &how);
    manager.wait("the tree down", |m| m.starts_with("STATUS=tree down: root gave up"));
    // Still fed after the tree is down: vigil is alive.
    let seen = manager.seen.len();
    manager.wait("WATCHDOG=1 while down", |m| m == "WATCHDOG=1");
    manager.wait("another WATCHDOG=1", |m| m == "WATCHDOG=1");
    assert!(
        !manager.seen[seen..].iter().any(|m| m == "STOPPING=1"),
        "{:?}",
        manager.seen
    );
    v.signal("TERM");
    manager.wait("STOPPING=1", |m| m == "STOPPING=1");
    assert_eq!(v.wait_code(), 1, "log:\n{}", v.log_text());
}
