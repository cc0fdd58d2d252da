//! The control server for real: a tree served on a temporary socket, driven
//! through the client module and raw bytes. Behaviour only: waiting loops
//! have a safety net against hangs, never a timing assertion.

use std::future::Future;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};
use vigil_core::{ChildSpec, Readiness, SupervisorSpec};
use vigil_tokio::control::client::{Client, ClientError, Message, Worker};
use vigil_tokio::control::protocol::{Op, WireId};
use vigil_tokio::control::{ControlOptions, ControlServer};
use vigil_tokio::monitor::MonitorSettings;
use vigil_tokio::{Children, OutputMode, ProcessSpec, Tree, TreeHandle};

const SAFETY_NET: Duration = Duration::from_secs(30);

struct Fixture {
    _dir: tempfile::TempDir,
    dir: PathBuf,
    server: ControlServer,
    sup: TreeHandle,
}

impl Fixture {
    fn socket(&self) -> &Path {
        self.server.path()
    }

    async fn client(&self) -> Client {
        Client::connect(self.socket()).await.expect("connect")
    }

    async fn op(&self, op: Op) -> Result<Value, ClientError> {
        self.client().await.request(&op).await
    }

    /// Path → (state, generation) of every node.
    async fn states(&self) -> Vec<(String, String, u64)> {
        let s = self.op(Op::Status {}).await.expect("status");
        s["nodes"]
            .as_array()
            .expect("nodes")
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

    /// Wait until every node is running.
    async fn all_running(&self) {
        eventually("all running", || async {
            self.states().await.iter().all(|(_, s, _)| s == "running")
        })
        .await;
    }

    async fn node(&self, path: &str) -> (String, u64) {
        let states = self.states().await;
        let (_, s, g) = states.into_iter().find(|(p, _, _)| p == path).expect("node present");
        (s, g)
    }
}

/// A tree of task workers `a`, `b` and a supervisor `pool` with `c`.
fn task_tree() -> Tree {
    let idle = |ctx: vigil_tokio::RunContext| async move {
        ctx.stopped().await;
        Ok::<(), String>(())
    };
    Tree::new(SupervisorSpec::new().intensity(100))
        .task(ChildSpec::worker("a"), idle)
        .task(ChildSpec::worker("b"), idle)
        .supervisor(
            ChildSpec::supervisor("pool", SupervisorSpec::new()),
            Children::new().task(ChildSpec::worker("c"), idle),
        )
}

fn serve(tree: Tree, options: impl FnOnce(&mut ControlOptions)) -> Fixture {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_owned();
    let mut opts = ControlOptions::new(dir.join("run/ctl.sock"));
    options(&mut opts);
    let server = ControlServer::bind(opts).expect("bind");
    let sup = tree.control(server.clone()).start().expect("valid tree");
    Fixture {
        _dir: tmp,
        dir,
        server,
        sup,
    }
}

async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let wait = async {
        while !check().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(SAFETY_NET, wait)
        .await
        .unwrap_or_else(|_| panic!("safety net: {what}"));
}

fn code(r: Result<Value, ClientError>) -> String {
    match r {
        Err(ClientError::Remote { code, .. }) => code,
        other => panic!("expected a server error, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operator_operation() {
    let f = serve(task_tree(), |_| {});
    f.all_running().await;
    let paths: Vec<String> = f.states().await.into_iter().map(|(p, _, _)| p).collect();
    assert_eq!(paths, ["a", "b", "pool", "pool/c"]);

    let tree = f.op(Op::Tree {}).await.unwrap();
    assert_eq!(tree["children"][2]["name"], "pool");
    assert_eq!(tree["children"][2]["children"][0]["path"], "pool/c");

    let which = f.op(Op::WhichChildren { path: "pool".into() }).await.unwrap();
    assert_eq!(which[0]["name"], "c");
    assert_eq!(which[0]["kind"], "worker");
    let counts = f.op(Op::CountChildren { path: String::new() }).await.unwrap();
    assert_eq!(counts, json!({"specs": 3, "active": 3, "supervisors": 1, "workers": 2}));

    // stop / start
    let (_, g0) = f.node("a").await;
    assert_eq!(f.op(Op::Stop { path: "a".into() }).await.unwrap(), "ok");
    assert_eq!(f.node("a").await.0, "stopped");
    let started = f.op(Op::Start { path: "a".into() }).await.unwrap();
    assert_eq!(started["started"], true);
    let (s, g1) = f.node("a").await;
    assert_eq!(s, "running");
    assert!(g1 > g0);
    assert_eq!(started["generation"], g1);
    // restart a running child
    f.op(Op::Restart { path: "a".into() }).await.unwrap();
    let (s, g2) = f.node("a").await;
    assert_eq!((s.as_str(), g2 > g1), ("running", true));
    // delete needs a stopped child
    assert_eq!(code(f.op(Op::Delete { path: "b".into() }).await), "running");
    f.op(Op::Stop { path: "b".into() }).await.unwrap();
    f.op(Op::Delete { path: "b".into() }).await.unwrap();
    assert!(!f.states().await.iter().any(|(p, _, _)| p == "b"));
    assert_eq!(code(f.op(Op::Stop { path: "nope".into() }).await), "not_found");
    assert_eq!(code(f.op(Op::Start { path: String::new() }).await), "root_not_allowed");
    assert_eq!(
        code(f.op(Op::WhichChildren { path: "a".into() }).await),
        "not_a_supervisor"
    );

    // restart_all, at once and rolling: every running child gets a new run.
    for rolling in [false, true] {
        let before = f.node("a").await.1;
        let c_before = f.node("pool/c").await.1;
        f.op(Op::RestartAll {
            path: String::new(),
            rolling,
            surge: None,
        })
        .await
        .unwrap();
        assert!(f.node("a").await.1 > before);
        assert!(f.node("pool/c").await.1 > c_before, "the pool restarted as a whole");
    }
    f.op(Op::RestartAll {
        path: "pool".into(),
        rolling: true,
        surge: None,
    })
    .await
    .unwrap();

    // metrics: states, restarts, exits by reason.
    let m = f.op(Op::Metrics {}).await.unwrap();
    let m = m.as_str().unwrap();
    assert!(
        m.contains("vigil_child_state{path=\"a\",kind=\"worker\",state=\"running\"} 1"),
        "{m}"
    );
    assert!(
        m.contains("vigil_child_state{path=\"a\",kind=\"worker\",state=\"stopped\"} 0"),
        "{m}"
    );
    assert!(m.contains("vigil_child_restarts_total{path=\"a\"} 4"), "{m}");
    assert!(
        m.contains("vigil_child_exits_total{path=\"a\",reason=\"shutdown\"} 4"),
        "{m}"
    );
    assert!(m.contains("vigil_child_uptime_seconds{path=\"a\"}"), "{m}");
    assert!(m.contains("# TYPE vigil_child_restarts_total counter"), "{m}");
    let status = f.op(Op::Status {}).await.unwrap();
    assert_eq!(status["nodes"][0]["restarts"], 4);
    assert_eq!(status["nodes"][0]["last_exit"], "shutdown");

    assert_eq!(f.op(Op::Workers {}).await.unwrap(), json!([]));

    // shutdown: accepted, the tree goes down, the socket file goes away.
    assert_eq!(f.op(Op::Shutdown {}).await.unwrap(), "shutting_down");
    assert!(f.sup.wait().await.is_normal());
    eventually("socket removed", || async { !f.socket().exists() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_streams_trace_events_until_the_tree_is_down() {
    let f = serve(task_tree(), |_| {});
    eventually("a running", || async { f.node("a").await.0 == "running" }).await;
    let mut sub = f.client().await;
    let id = sub
        .send(&Op::Subscribe {
            trace: true,
            runs: false,
        })
        .await
        .unwrap();
    assert_eq!(
        sub.next_message().await.unwrap(),
        Message::Reply {
            id: Some(id.clone()),
            result: Ok(json!("subscribed"))
        }
    );
    f.op(Op::Restart { path: "a".into() }).await.unwrap();
    let mut seen = Vec::new();
    while seen.last().map(String::as_str) != Some("spawn") {
        match sub.next_message().await.unwrap() {
            Message::Item { id: got, item, text } => {
                assert_eq!(got, Some(id.clone()));
                // The trace line as vigil-trace writes it (docs/TRACE.md key order).
                assert!(text.starts_with("{\"t\":") && text.contains(",\"ev\":"), "{text}");
                if item["path"] == "a" {
                    seen.push(item["ev"].as_str().unwrap().to_owned());
                }
            }
            other => panic!("{other:?}"),
        }
    }
    // The operator's requests are in the stream too.
    assert_eq!(seen, ["request", "stop", "exited", "reply", "request", "spawn"]);
    f.sup.shutdown().await;
    loop {
        match sub.next_message().await.unwrap() {
            Message::End { id: got } => {
                assert_eq!(got, Some(id));
                break;
            }
            Message::Item { .. } => {}
            other => panic!("{other:?}"),
        }
    }
}

/// A deterministic byte generator (xorshift) for garbage.
fn garbage(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let b = (x >> 24) as u8;
            if b == b'\n' {
                b' '
            } else {
                b
            }
        })
        .collect()
}

async fn error_code(c: &mut Client) -> (Option<WireId>, String) {
    match c.next_message().await.unwrap() {
        Message::Reply {
            id,
            result: Err((code, _)),
        } => (id, code),
        other => panic!("expected an error reply, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_gets_error_replies_and_disturbs_nothing() {
    let f = serve(task_tree(), |_| {});
    f.all_running().await;
    let before = f.states().await;
    let mut c = f.client().await;

    for seed in 1..=20 {
        let mut line = garbage(seed, 1 + (seed as usize * 37) % 300);
        line.push(b'\n');
        c.send_raw(&line).await.unwrap();
        let (id, code) = error_code(&mut c).await;
        assert_eq!(id, None);
        assert!(["invalid_utf8", "invalid_json"].contains(&code.as_str()), "{code}");
    }
    // 10 MiB in one line, written in pieces while the server discards it.
    let chunk = vec![b'x'; 1 << 20];
    for _ in 0..10 {
        c.send_raw(&chunk).await.unwrap();
    }
    c.send_raw(b"\n").await.unwrap();
    assert_eq!(error_code(&mut c).await.1, "line_too_long");
    let cases: [(&[u8], &str); 9] = [
        (b"{\"id\":1,\"op\":\"status\"\xff}\n", "invalid_utf8"),
        (b"\xc3\x28\n", "invalid_utf8"),
        (b"{\"id\":2,\"op\":\"restart\",\"path\":7}\n", "bad_request"),
        (
            b"{\"id\":3,\"op\":\"restart_all\",\"rolling\":\"yes\"}\n",
            "bad_request",
        ),
        (b"{\"id\":4,\"op\":[\"status\"]}\n", "bad_request"),
        (b"{\"id\":5,\"op\":\"format_disk\"}\n", "unknown_op"),
        (b"[\"status\"]\n", "bad_request"),
        (b"{\"id\":true,\"op\":\"status\"}\n", "bad_request"),
        (
            b"{\"id\":6,\"op\":\"stop\",\"path\":\"a\",\"force\":1}\n",
            "bad_request",
        ),
    ];
    for (bytes, want) in cases {
        c.send_raw(bytes).await.unwrap();
        assert_eq!(error_code(&mut c).await.1, want, "{}", String::from_utf8_lossy(bytes));
    }
    // The connection still works.
    assert_eq!(
        c.request(&Op::CountChildren { path: String::new() }).await.unwrap()["specs"],
        3
    );

    // Half-written requests: the connection ends mid-line.
    let mut half = f.client().await;
    half.send_raw(b"{\"id\":9,\"op\":\"stop\",\"pa").await.unwrap();
    drop(half);
    let raw = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
    let (mut rd, mut wr) = raw.into_split();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    wr.write_all(b"{\"id\":10,\"op\":\"stop\",\"path\":\"a\"")
        .await
        .unwrap();
    wr.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(SAFETY_NET, rd.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.contains("\"code\":\"incomplete\""), "{answer}");

    // Nothing was disturbed: same runs, same generations.
    assert_eq!(f.states().await, before);
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_concurrent_clients() {
    let f = serve(task_tree(), |_| {});
    f.all_running().await;
    let socket = f.socket().to_owned();
    // Connect all first, so that all 500 are open at once.
    let mut clients = Vec::new();
    for _ in 0..500 {
        clients.push(Client::connect(&socket).await.unwrap());
    }
    let tasks: Vec<_> = clients
        .into_iter()
        .enumerate()
        .map(|(i, mut c)| {
            tokio::spawn(async move {
                let op = if i % 2 == 0 {
                    Op::CountChildren { path: String::new() }
                } else {
                    Op::Status {}
                };
                c.request(&op).await
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().expect("every client is answered");
    }
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn excess_connections_are_refused_and_admitted_again_later() {
    let f = serve(task_tree(), |o| o.max_connections = 2);
    let mut one = f.client().await;
    let mut two = f.client().await;
    one.request(&Op::Workers {}).await.unwrap();
    two.request(&Op::Workers {}).await.unwrap();
    let mut three = f.client().await;
    assert_eq!(error_code(&mut three).await.1, "too_many_connections");
    assert!(matches!(three.next_message().await, Err(ClientError::Closed)));
    drop(one);
    eventually("a slot is free again", || async {
        let mut c = f.client().await;
        c.request(&Op::Workers {}).await.is_ok()
    })
    .await;
    drop(two);
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_vanishes_mid_request_harms_nothing() {
    let f = serve(task_tree(), |_| {});
    eventually("a running", || async { f.node("a").await.0 == "running" }).await;
    let (_, g) = f.node("a").await;
    let mut c = f.client().await;
    c.send(&Op::Restart { path: "a".into() }).await.unwrap();
    c.send(&Op::Status {}).await.unwrap();
    drop(c);
    // The restart still happens, the server still answers.
    eventually("a restarted", || async {
        let (s, g2) = f.node("a").await;
        s == "running" && g2 > g
    })
    .await;
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_a_live_socket_is_refused() {
    let f = serve(task_tree(), |_| {});
    let err = ControlServer::bind(ControlOptions::new(f.socket())).unwrap_err();
    assert!(err.to_string().contains("already running"), "{err}");
    f.sup.shutdown().await;
}

/// Run as `nobody` by [`a_peer_with_another_uid_is_refused`]: connect, print
/// the first line the server sends.
#[test]
#[ignore = "a helper run by another test"]
fn peer_helper() {
    let Some(socket) = std::env::var_os("VIGIL_TEST_PEER_SOCKET") else {
        return;
    };
    use std::io::{BufRead, Write};
    let mut s = std::os::unix::net::UnixStream::connect(socket).expect("connect");
    // The server may already have refused and closed (EPIPE): read anyway.
    let _ = s.write_all(b"{\"id\":1,\"op\":\"status\"}\n");
    let mut line = String::new();
    std::io::BufReader::new(s).read_line(&mut line).expect("read");
    println!("ANSWER {line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_another_uid_is_refused() {
    if !nix::unistd::geteuid().is_root() {
        eprintln!("skipped: needs root to run a client as another user");
        return;
    }
    let f = serve(task_tree(), |_| {});
    // Let `nobody` reach the socket, as a careless chmod would: the
    // credential check must still refuse it.
    for p in [f.dir.as_path(), f.socket().parent().unwrap()] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(f.socket(), std::fs::Permissions::from_mode(0o666)).unwrap();
    // `nobody` may not reach this test binary where it was built (a
    // checkout under /root): run a copy from the scratch directory.
    let helper = f.dir.join("peer-helper");
    std::fs::copy(std::env::current_exe().unwrap(), &helper).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).unwrap();
    use std::os::unix::process::CommandExt;
    let out = std::process::Command::new(&helper)
        .args(["--exact", "peer_helper", "--ignored", "--nocapture", "--test-threads=1"])
        .env("VIGIL_TEST_PEER_SOCKET", f.socket())
        .uid(65534)
        .gid(65534)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ANSWER {\"id\":null,\"ok\":false,\"error\":{\"code\":\"unauthorized\""),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Root (the test) is still served.
    f.op(Op::Workers {}).await.unwrap();
    f.sup.shutdown().await;
}

/// A process child: the Rust worker client, run by the worker tests.
#[test]
#[ignore = "a helper run as a process child by other tests"]
fn worker_helper() {
    if std::env::var_os("VIGIL_TOKEN").is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut w = Worker::from_env().await.expect("register");
        w.publish(json!({ "path": w.path(), "n": 1 })).await.expect("publish");
        w.ready().await.expect("ready");
        while let Some(call) = w.next_call().await.expect("next call") {
            match call.name.as_str() {
                "echo" => {
                    w.item(call.call, json!("first")).await.expect("item");
                    w.answer(call.call, Ok(call.args)).await.expect("answer");
                }
                "never" => {}
                "late" => {
                    // Answered after its caller has gone: not an error.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    w.item(call.call, json!("late")).await.expect("item");
                    w.answer(call.call, Ok(json!("late"))).await.expect("answer");
                }
                other => w
                    .answer(call.call, Err(format!("no `{other}` here")))
                    .await
                    .expect("answer"),
            }
        }
    });
}

fn helper_process(dir: &Path) -> ProcessSpec {
    let mut p = ProcessSpec::new([
        std::env::current_exe().unwrap().to_string_lossy().into_owned(),
        "--exact".into(),
        "worker_helper".into(),
        "--ignored".into(),
        "--test-threads=1".into(),
    ]);
    p.cwd = Some(dir.to_owned());
    p.output = OutputMode::Null;
    p
}

/// A shell child that writes its path, generation and token to `dir/<name>.env`.
fn spy(dir: &Path, name: &str) -> ProcessSpec {
    let file = dir.join(format!("{name}.env"));
    let mut p = ProcessSpec::new([
        "sh".to_owned(),
        "-c".to_owned(),
        format!(
            "printf '%s %s %s %s' \"$VIGIL_PATH\" \"$VIGIL_GENERATION\" \"$VIGIL_TOKEN\" \"$VIGIL_SOCKET\" > {f}.tmp && mv {f}.tmp {f}; exec sleep 1000",
            f = file.display()
        ),
    ]);
    p.output = OutputMode::Null;
    p
}

/// (path, generation, token, socket) the spy wrote, once it wrote generation `min` or later.
async fn spy_env(dir: &Path, name: &str, min: u64) -> (String, u64, String, String) {
    let file = dir.join(format!("{name}.env"));
    let mut found = None;
    eventually("spy wrote its env", || {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let parts: Vec<String> = text.split(' ').map(str::to_owned).collect();
        let ok = parts.len() == 4 && parts[1].parse::<u64>().is_ok_and(|g| g >= min);
        if ok {
            found = Some((
                parts[0].clone(),
                parts[1].parse().unwrap(),
                parts[2].clone(),
                parts[3].clone(),
            ));
        }
        std::future::ready(ok)
    })
    .await;
    found.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_register_report_ready_publish_and_answer_calls() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let tree = Tree::new(SupervisorSpec::new().intensity(100))
        .process(ChildSpec::worker("spy"), spy(&dir, "spy"))
        // Ready only through the control socket: the tree start waits for it.
        .process(
            ChildSpec::worker("svc").readiness(Readiness::Notify),
            helper_process(&dir),
        )
        .process(ChildSpec::worker("other"), spy(&dir, "other"))
        .monitor_settings(fast_monitor());
    let f = serve(tree, |o| o.call_timeout = Duration::from_millis(300));
    // svc becomes ready only through the socket.
    f.all_running().await;

    // The environment of a process run.
    let (path, generation, token, socket) = spy_env(&dir, "spy", 0).await;
    assert_eq!((path.as_str(), socket.as_str()), ("spy", f.socket().to_str().unwrap()));
    assert_eq!(token.len(), 32);
    let (_, other_gen, other_token, _) = spy_env(&dir, "other", 0).await;
    assert_ne!(token, other_token);

    // `workers` and `status` show the registered worker and its state.
    let workers = f.op(Op::Workers {}).await.unwrap();
    assert_eq!(workers[0]["path"], "svc");
    assert_eq!(workers[0]["ready"], true);
    assert_eq!(workers[0]["state"], json!({"path": "svc", "n": 1}));
    let status = f.op(Op::Status {}).await.unwrap();
    assert_eq!(status["nodes"][1]["worker"]["state"]["n"], 1);

    // The process monitor's numbers, in status and metrics.
    eventually("the spy's memory is sampled", || async {
        let s = f.op(Op::Status {}).await.unwrap();
        s["nodes"][0]["rss_bytes"].as_u64().is_some_and(|b| b > 0) && s["nodes"][0]["pid"].is_u64()
    })
    .await;
    let m = f.op(Op::Metrics {}).await.unwrap();
    assert!(
        m.as_str()
            .unwrap()
            .contains("vigil_child_memory_rss_bytes{path=\"spy\"} "),
        "{m}"
    );

    // call: an item, then the final answer; errors and timeouts.
    let mut c = f.client().await;
    let mut items = Vec::new();
    let args = json!({"x": [1, 2]});
    let call = |name: &str, args: Value| Op::Call {
        path: "svc".into(),
        name: name.into(),
        args,
        timeout_ms: None,
    };
    let answer = c
        .request_with(&call("echo", args.clone()), |i| items.push(i))
        .await
        .unwrap();
    assert_eq!((answer, items), (args, vec![json!("first")]));
    assert_eq!(code(c.request(&call("explode", Value::Null)).await), "worker_error");
    assert_eq!(code(c.request(&call("never", Value::Null)).await), "timeout");
    let to_spy = Op::Call {
        path: "spy".into(),
        name: "echo".into(),
        args: Value::Null,
        timeout_ms: None,
    };
    assert_eq!(code(c.request(&to_spy).await), "no_worker");

    // Tokens: only the run's own, and only while it runs.
    let register = |token: &str, path: Option<&str>| Op::Register {
        token: token.into(),
        path: path.map(str::to_owned),
    };
    assert_eq!(code(f.op(register("0123", None)).await), "bad_token");
    assert_eq!(code(f.op(register(&other_token, Some("spy"))).await), "bad_token");
    let mut spy_conn = f.client().await;
    let me = spy_conn.request(&register(&token, Some("spy"))).await.unwrap();
    assert_eq!(me, json!({"path": "spy", "generation": generation}));
    spy_conn.request(&Op::Heartbeat { token: None }).await.unwrap();
    // One run per connection (registering the same run again is fine).
    assert_eq!(
        code(spy_conn.request(&register(&other_token, None)).await),
        "already_registered"
    );
    spy_conn.request(&register(&token, None)).await.unwrap();
    // Without registering: the token in the request.
    f.op(Op::Heartbeat {
        token: Some(other_token.clone()),
    })
    .await
    .unwrap();
    assert_eq!(code(f.op(Op::Ready { token: None }).await), "not_registered");
    let w = f.op(Op::Workers {}).await.unwrap();
    assert_eq!(w.as_array().unwrap().len(), 2);

    // The registration ends with the run; the old token is refused after it.
    f.op(Op::Restart { path: "spy".into() }).await.unwrap();
    let (_, new_gen, new_token, _) = spy_env(&dir, "spy", generation + 1).await;
    assert_ne!(new_token, token);
    eventually("the old registration is gone", || async {
        let w = f.op(Op::Workers {}).await.unwrap();
        !w.as_array().unwrap().iter().any(|w| w["path"] == "spy")
    })
    .await;
    assert_eq!(code(f.op(register(&token, None)).await), "bad_token");
    assert_eq!(
        code(spy_conn.request(&Op::Heartbeat { token: None }).await),
        "bad_token"
    );
    let me = f.op(register(&new_token, None)).await.unwrap();
    assert_eq!(me["generation"], new_gen);
    assert!(other_gen > 0);

    // A worker restart re-registers under its new run.
    let (_, svc_gen) = f.node("svc").await;
    f.op(Op::Restart { path: "svc".into() }).await.unwrap();
    eventually("svc registered again", || async {
        let w = f.op(Op::Workers {}).await.unwrap();
        w.as_array()
            .unwrap()
            .iter()
            .any(|w| w["path"] == "svc" && w["generation"].as_u64().unwrap() > svc_gen)
    })
    .await;
    f.sup.shutdown().await;
}

fn fast_monitor() -> MonitorSettings {
    MonitorSettings {
        interval: Duration::from_millis(50),
        ..MonitorSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_evictions_are_counted_in_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    // `sleep` needs far more than 4 KiB: the memory monitor restarts it
    // with reason `memory` at its first sample.
    let mut hog = spy(tmp.path(), "hog");
    hog.memory_limit = Some(4096);
    let tree = Tree::new(SupervisorSpec::new().intensity(1000).period(Duration::from_secs(1)))
        .process(ChildSpec::worker("hog"), hog)
        .monitor_settings(fast_monitor());
    let f = serve(tree, |_| {});
    eventually("an eviction counted", || async {
        let m = f.op(Op::Metrics {}).await.unwrap();
        let m = m.as_str().unwrap();
        m.contains("vigil_child_evictions_total{path=\"hog\",reason=\"memory\"}")
            && m.contains("vigil_child_exits_total{path=\"hog\",reason=\"memory\"}")
    })
    .await;
    let s = f.op(Op::Status {}).await.unwrap();
    assert!(s["nodes"][0]["restarts"].as_u64().unwrap() >= 1, "{s}");
    f.sup.shutdown().await;
}

/// The worker_helper under `svc` (answers `echo`, never answers `never`),
/// ready once registered.
fn svc_tree(dir: &Path) -> Tree {
    Tree::new(SupervisorSpec::new().intensity(100)).process(
        ChildSpec::worker("svc").readiness(Readiness::Notify),
        helper_process(dir),
    )
}

fn never(timeout_ms: Option<u64>) -> Op {
    Op::Call {
        path: "svc".into(),
        name: "never".into(),
        args: Value::Null,
        timeout_ms,
    }
}

/// A metric's value in the `metrics` answer.
async fn metric(f: &Fixture, name: &str) -> u64 {
    let m = f.op(Op::Metrics {}).await.unwrap();
    let m = m.as_str().unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {m}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_disconnects_cancels_its_calls_and_frees_its_connection() {
    let tmp = tempfile::tempdir().unwrap();
    // Calls that would wait an hour, and room for 4 connections: the
    // worker's, a watcher's and two more.
    let f = serve(svc_tree(tmp.path()), |o| {
        o.max_connections = 4;
        o.call_timeout = Duration::from_secs(3600);
    });
    f.all_running().await;
    let mut watch = f.client().await;
    for _ in 0..2 {
        let mut c = f.client().await;
        for _ in 0..5 {
            c.send(&never(None)).await.unwrap();
        }
        // Forwarded: the worker has them.
        watch_until(&mut watch, "vigil_control_calls_in_flight", |n| n == 5).await;
        drop(c);
        // Gone at once, not in an hour: its calls are forgotten and its slot free.
        watch_until(&mut watch, "vigil_control_calls_in_flight", |n| n == 0).await;
        watch_until(&mut watch, "vigil_control_connections", |n| n == 2).await;
    }
    // A worker that answers after its caller left is not disturbed: it
    // answers the next call (after that one) from the same run.
    let (_, svc_gen) = f.node("svc").await;
    let mut c = f.client().await;
    c.send(&Op::Call {
        path: "svc".into(),
        name: "late".into(),
        args: Value::Null,
        timeout_ms: None,
    })
    .await
    .unwrap();
    watch_until(&mut watch, "vigil_control_calls_in_flight", |n| n == 1).await;
    drop(c);
    watch_until(&mut watch, "vigil_control_calls_in_flight", |n| n == 0).await;
    let echo = Op::Call {
        path: "svc".into(),
        name: "echo".into(),
        args: json!(3),
        timeout_ms: None,
    };
    assert_eq!(f.op(echo).await.unwrap(), json!(3));
    assert_eq!(f.node("svc").await, ("running".to_owned(), svc_gen));
    watch_until(&mut watch, "vigil_control_connections", |n| n == 2).await;

    // Two connections can be open beside the worker and the watcher.
    let (mut a, mut b) = (f.client().await, f.client().await);
    a.request(&Op::Workers {}).await.unwrap();
    b.request(&Op::Workers {}).await.unwrap();

    // A client that only half-closes (it sent everything and waits) still
    // gets its answer.
    drop((a, b));
    watch_until(&mut watch, "vigil_control_connections", |n| n == 2).await;
    let raw = tokio::net::UnixStream::connect(f.socket()).await.unwrap();
    let (mut rd, mut wr) = raw.into_split();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    wr.write_all(b"{\"id\":1,\"op\":\"call\",\"path\":\"svc\",\"name\":\"echo\",\"args\":7}\n")
        .await
        .unwrap();
    wr.shutdown().await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(SAFETY_NET, rd.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.ends_with("{\"id\":1,\"ok\":true,\"result\":7}\n"), "{answer}");
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_in_flight_are_capped_per_connection_and_in_total() {
    let tmp = tempfile::tempdir().unwrap();
    let f = serve(svc_tree(tmp.path()), |o| {
        o.max_calls_per_connection = 2;
        o.max_calls = 3;
        o.call_timeout = Duration::from_secs(3600);
    });
    f.all_running().await;
    let mut one = f.client().await;
    one.send(&never(None)).await.unwrap();
    one.send(&never(None)).await.unwrap();
    eventually("two calls in flight", || async {
        metric(&f, "vigil_control_calls_in_flight").await == 2
    })
    .await;
    one.send(&never(None)).await.unwrap();
    assert_eq!(error_code(&mut one).await.1, "too_many_calls");
    let mut two = f.client().await;
    two.send(&never(None)).await.unwrap();
    eventually("three calls in flight", || async {
        metric(&f, "vigil_control_calls_in_flight").await == 3
    })
    .await;
    match two.request(&never(None)).await {
        Err(ClientError::Remote { code, message }) => {
            assert_eq!(code, "too_many_calls");
            assert!(message.contains("max_calls"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A timeout over the maximum is refused, not clamped.
    let r = f.op(never(Some(3_600_001))).await;
    assert_eq!(code(r), "bad_request");
    // Answered calls free their places.
    drop(one);
    let echo = Op::Call {
        path: "svc".into(),
        name: "echo".into(),
        args: json!(1),
        timeout_ms: Some(30_000),
    };
    eventually("a place is free again", || async { f.op(echo.clone()).await.is_ok() }).await;
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_keys_are_refused_at_every_level() {
    let f = serve(task_tree(), |_| {});
    f.all_running().await;
    let before = f.states().await;
    let mut c = f.client().await;
    let cases: [(&[u8], Option<WireId>); 4] = [
        (b"{\"op\":\"status\",\"op\":\"shutdown\"}\n", None),
        (
            b"{\"id\":2,\"op\":\"shutdown\",\"op\":\"status\"}\n",
            Some(WireId::Num(2)),
        ),
        (b"{\"id\":3,\"id\":4,\"op\":\"status\"}\n", None),
        (
            b"{\"id\":5,\"op\":\"call\",\"path\":\"a\",\"name\":\"n\",\"args\":[{\"k\":1,\"k\":2}]}\n",
            Some(WireId::Num(5)),
        ),
    ];
    for (line, id) in cases {
        c.send_raw(line).await.unwrap();
        assert_eq!(error_code(&mut c).await, (id, "duplicate_key".to_owned()));
    }
    // Nothing happened to the tree.
    assert!(!f.sup.is_down());
    assert_eq!(f.states().await, before);
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed_but_not_subscribers() {
    let f = serve(task_tree(), |o| o.idle_timeout = Some(Duration::from_millis(200)));
    f.all_running().await;
    let mut sub = f.client().await;
    sub.send(&Op::Subscribe {
        trace: true,
        runs: false,
    })
    .await
    .unwrap();
    assert!(matches!(
        sub.next_message().await.unwrap(),
        Message::Reply { result: Ok(_), .. }
    ));
    let mut idle = f.client().await;
    assert_eq!(error_code(&mut idle).await.1, "idle_timeout");
    assert!(matches!(idle.next_message().await, Err(ClientError::Closed)));
    // The subscriber, older than the idle one, still follows the tree.
    f.op(Op::Restart { path: "a".into() }).await.unwrap();
    loop {
        match sub.next_message().await.unwrap() {
            Message::Item { item, .. } if item["ev"] == "spawn" && item["path"] == "a" => break,
            Message::Item { .. } => {}
            other => panic!("{other:?}"),
        }
    }
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_descriptor_budget_leaves_process_children_their_descriptors() {
    use vigil_tokio::descriptors::RESERVE;
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let tree = Tree::new(SupervisorSpec::new())
        .process(ChildSpec::worker("s1"), spy(&dir, "s1"))
        .process(ChildSpec::worker("s2"), spy(&dir, "s2"))
        // Task workers need no descriptor.
        .task(ChildSpec::worker("t"), |ctx: vigil_tokio::RunContext| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        });
    // Room for the two process children (1 descriptor each here: output
    // discarded, not notify, and no guard in a test binary), vigil itself,
    // and 3 connections.
    let limit = (RESERVE + 2 + 3) as u64;
    let f = serve(tree, |o| o.descriptor_limit = Some(limit));
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut c = f.client().await;
        c.request(&Op::Workers {}).await.unwrap();
        open.push(c);
    }
    let mut fourth = f.client().await;
    match fourth.next_message().await.unwrap() {
        Message::Reply {
            result: Err((code, message)),
            ..
        } => {
            assert_eq!(code, "too_many_connections");
            assert!(message.contains(&format!("open-files limit is {limit}")), "{message}");
            assert!(message.contains("its 2 process children reserve"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    // A new process child takes its share: one connection fewer.
    open[0]
        .request(&Op::Workers {})
        .await
        .expect("admitted connections are served");
    f.sup
        .start_process("", ChildSpec::worker("s3"), spy(&dir, "s3"))
        .await
        .unwrap();
    open.truncate(2);
    let closed = async {
        while metric_on(&mut open[0], "vigil_control_connections").await != 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(SAFETY_NET, closed)
        .await
        .expect("safety net: a connection is closed");
    // Two open: before s3 a third was admitted, now it is refused.
    assert_eq!(metric_on(&mut open[0], "vigil_control_connections_allowed").await, 2);
    let mut refused = f.client().await;
    assert_eq!(error_code(&mut refused).await.1, "too_many_connections");
    f.sup.shutdown().await;
}

/// Ask for metric `name` on `watch` until `want` holds (with the safety net).
async fn watch_until(watch: &mut Client, name: &str, want: fn(u64) -> bool) {
    let wait = async {
        while !want(metric_on(watch, name).await) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(SAFETY_NET, wait)
        .await
        .unwrap_or_else(|_| panic!("safety net: {name}"));
}

/// A metric's value, asked on an open connection.
async fn metric_on(c: &mut Client, name: &str) -> u64 {
    let m = c.request(&Op::Metrics {}).await.unwrap();
    let m = m.as_str().unwrap();
    m.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {m}"))
        .parse()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_told_what_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let tree = Tree::new(SupervisorSpec::new())
        .process(ChildSpec::worker("spy"), spy(&dir, "spy"))
        .process(ChildSpec::worker("other"), spy(&dir, "other"));
    let f = serve(tree, |_| {});
    let (_, generation, token, _) = spy_env(&dir, "spy", 0).await;
    let message = |r: Result<Value, ClientError>| match r {
        Err(ClientError::Remote { code, message }) if code == "bad_token" => message,
        other => panic!("expected bad_token, got {other:?}"),
    };
    let register = |token: &str, path: Option<&str>| Op::Register {
        token: token.into(),
        path: path.map(str::to_owned),
    };
    let m = message(f.op(register(&token, Some("other"))).await);
    assert_eq!(
        m,
        format!("the token belongs to run {generation} of `spy`, not to `other`")
    );
    let m = message(f.op(register("0123", None)).await);
    assert!(m.starts_with("the token is no run's: it was never issued"), "{m}");
    let mut conn = f.client().await;
    conn.request(&register(&token, None)).await.unwrap();
    f.op(Op::Restart { path: "spy".into() }).await.unwrap();
    spy_env(&dir, "spy", generation + 1).await;
    let m = message(f.op(register(&token, None)).await);
    assert!(
        m.starts_with(&format!(
            "the token of run {generation} of `spy` is no longer valid: that run has ended"
        )),
        "{m}"
    );
    let m = message(conn.request(&Op::Heartbeat { token: None }).await);
    assert!(
        m.starts_with(&format!(
            "this connection registered for run {generation} of `spy`, which has ended"
        )),
        "{m}"
    );
    f.sup.shutdown().await;
}
