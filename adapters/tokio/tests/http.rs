//! The HTTP endpoint for real: a tree served by a control server, read over
//! TCP with a raw HTTP/1.1 client. Behaviour only: waiting loops have a
//! safety net against hangs, never a timing assertion.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Notify;
use vigil_core::{ChildSpec, Readiness, Reply, Request, SupervisorSpec};
use vigil_tokio::control::client::Client;
use vigil_tokio::control::protocol::Op;
use vigil_tokio::control::{ControlOptions, ControlServer};
use vigil_tokio::http::{HttpError, HttpOptions, HttpServer};
use vigil_tokio::{Tree, TreeHandle};

const SAFETY_NET: Duration = Duration::from_secs(30);

struct Fixture {
    _dir: tempfile::TempDir,
    control: ControlServer,
    http: HttpServer,
    sup: TreeHandle,
    /// Lets the worker `gate` report ready.
    gate: Arc<Notify>,
}

/// A tree of `a` (up at once) and `gate` (ready only once told), served over
/// HTTP with `options` (its address replaced by a free loopback port).
fn fixture(mut options: HttpOptions, extra_workers: usize) -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let control = ControlServer::bind(ControlOptions::new(dir.path().join("ctl.sock"))).expect("bind");
    let gate = Arc::new(Notify::new());
    let g = Arc::clone(&gate);
    let idle = |ctx: vigil_tokio::RunContext| async move {
        ctx.stopped().await;
        Ok::<(), String>(())
    };
    let mut tree = Tree::new(SupervisorSpec::new().intensity(100))
        .task(ChildSpec::worker("a"), idle)
        .task(ChildSpec::worker("gate").readiness(Readiness::Notify), move |ctx| {
            let g = Arc::clone(&g);
            async move {
                g.notified().await;
                ctx.ready();
                ctx.stopped().await;
                Ok::<(), String>(())
            }
        });
    for i in 0..extra_workers {
        tree = tree.task(
            ChildSpec::worker(format!("w{i:04}-with-a-long-name-for-a-larger-status")),
            idle,
        );
    }
    let sup = tree.control(control.clone()).start().expect("valid tree");
    options.addr = "127.0.0.1:0".parse().unwrap();
    let http = HttpServer::bind(options).expect("listen");
    http.serve(&control).expect("serve");
    Fixture {
        _dir: dir,
        control,
        http,
        sup,
        gate,
    }
}

fn defaults() -> HttpOptions {
    HttpOptions::new("127.0.0.1:0".parse().unwrap())
}

/// An answer: status code, lower-cased head, body.
#[derive(Debug)]
struct Answer {
    code: u16,
    head: String,
    body: String,
}

/// Send `raw` and read the whole answer (the server closes after it).
async fn exchange(addr: SocketAddr, raw: &[u8]) -> Answer {
    within("an HTTP exchange", async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        s.write_all(raw).await.expect("write");
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).await.expect("read");
        parse(&String::from_utf8(bytes).expect("UTF-8 answer"))
    })
    .await
}

fn parse(text: &str) -> Answer {
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    Answer {
        code,
        head: head.to_ascii_lowercase(),
        body: body.to_owned(),
    }
}

async fn get(addr: SocketAddr, path: &str) -> Answer {
    exchange(addr, format!("GET {path} HTTP/1.1\r\nHost: vigil\r\n\r\n").as_bytes()).await
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(SAFETY_NET, f)
        .await
        .unwrap_or_else(|_| panic!("hang: {what}"))
}

async fn eventually<F, Fut>(what: &str, mut f: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    within(what, async {
        while !f().await {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
}

async fn ctl(control: &ControlServer, op: Op) -> Value {
    let mut c = Client::connect(control.path()).await.expect("connect");
    c.request(&op).await.expect("answer")
}

/// The metric names (`# TYPE` lines) of an exposition, in order.
fn families(text: &str) -> Vec<&str> {
    text.lines().filter(|l| l.starts_with("# TYPE ")).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_resource_answers_while_the_tree_is_up() {
    let f = fixture(defaults(), 0);
    let addr = f.http.local_addr();
    eventually("a running", || async { get(addr, "/healthz").await.code == 200 }).await;

    // `gate` has not reported ready: not ready, and named.
    let r = get(addr, "/readyz").await;
    assert_eq!(r.code, 503, "{r:?}");
    assert!(r.body.contains("gate") && !r.body.contains(" a"), "{r:?}");
    let h = get(addr, "/healthz").await;
    assert_eq!((h.code, h.body.as_str()), (200, "ok\n"));

    f.gate.notify_one();
    eventually("ready", || async { get(addr, "/readyz").await.code == 200 }).await;
    assert_eq!(get(addr, "/readyz").await.body, "ready\n");

    // /metrics: the families of `ctl metrics`, as Prometheus text, tree up.
    let m = get(addr, "/metrics").await;
    assert_eq!(m.code, 200);
    assert!(m.head.contains("content-type: text/plain; version=0.0.4"), "{}", m.head);
    assert!(m.body.lines().any(|l| l == "vigil_tree_up 1"), "{}", m.body);
    let over_socket = ctl(&f.control, Op::Metrics {}).await;
    assert_eq!(families(&m.body), families(over_socket.as_str().expect("text")));

    // /status: the JSON of `ctl status`.
    let s = get(addr, "/status").await;
    assert_eq!(s.code, 200);
    assert!(s.head.contains("content-type: application/json"));
    let json: Value = serde_json::from_str(&s.body).expect("JSON");
    let over_socket = ctl(&f.control, Op::Status {}).await;
    let states = |v: &Value| -> Vec<(String, String)> {
        v["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .map(|n| {
                (
                    n["path"].as_str().unwrap().to_owned(),
                    n["state"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(states(&json), states(&over_socket));
    assert_eq!(
        states(&json),
        [
            ("a".to_owned(), "running".to_owned()),
            ("gate".to_owned(), "running".to_owned())
        ]
    );
    f.sup.shutdown().await;
    f.http.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tree_that_is_down_is_unhealthy_and_unready() {
    let f = fixture(defaults(), 0);
    let addr = f.http.local_addr();
    f.sup.shutdown().await;
    let h = get(addr, "/healthz").await;
    assert_eq!(h.code, 503, "{h:?}");
    assert!(h.body.starts_with("down: "), "{h:?}");
    assert_eq!(get(addr, "/readyz").await.code, 503);
    let s = get(addr, "/status").await;
    assert_eq!(s.code, 503);
    let json: Value = serde_json::from_str(&s.body).expect("JSON error");
    assert_eq!(json["error"]["code"], "tree_down", "{json}");
    // Metrics still answer: the counters, and the tree down.
    let m = get(addr, "/metrics").await;
    assert_eq!(m.code, 200);
    assert!(m.body.lines().any(|l| l == "vigil_tree_up 0"), "{}", m.body);
    assert!(
        m.body
            .contains("vigil_child_exits_total{path=\"a\",reason=\"shutdown\"} 1"),
        "{}",
        m.body
    );
    f.http.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_methods_paths_and_bodies_are_refused() {
    let f = fixture(defaults(), 0);
    let addr = f.http.local_addr();
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        let r = exchange(
            addr,
            format!("{method} /healthz HTTP/1.1\r\nHost: v\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(r.code, 405, "{method}: {r:?}");
        assert!(r.head.contains("allow: get, head"), "{r:?}");
    }
    for path in ["/", "/metricsx", "/status/a", "/../etc/passwd"] {
        assert_eq!(get(addr, path).await.code, 404, "{path}");
    }
    // A query string does not change the resource.
    assert_eq!(get(addr, "/healthz?verbose=1").await.code, 200);
    let with_body = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: v\r\nContent-Length: 5\r\n\r\nhello",
    )
    .await;
    assert_eq!(with_body.code, 413, "{with_body:?}");
    let chunked = exchange(
        addr,
        b"GET /healthz HTTP/1.1\r\nHost: v\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert_eq!(chunked.code, 413, "{chunked:?}");
    let head = exchange(addr, b"HEAD /healthz HTTP/1.1\r\nHost: v\r\n\r\n").await;
    assert_eq!((head.code, head.body.as_str()), (200, ""));
    let garbage = exchange(addr, b"\x00\x01 not http at all\r\n\r\n").await;
    assert_eq!(garbage.code, 400, "{garbage:?}");
    // Headers over the buffer limit: refused, not buffered.
    let huge = format!(
        "GET /healthz HTTP/1.1\r\nHost: v\r\nX-Big: {}\r\n\r\n",
        "x".repeat(64 * 1024)
    );
    let r = exchange(addr, huge.as_bytes()).await;
    assert_eq!(r.code, 431, "{r:?}");
    f.sup.shutdown().await;
    f.http.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_head_that_never_finishes_is_closed_by_the_header_timeout() {
    let mut options = defaults();
    options.header_timeout = Duration::from_millis(200);
    options.connection_timeout = Duration::from_secs(3600);
    let f = fixture(options, 0);
    let mut s = TcpStream::connect(f.http.local_addr()).await.expect("connect");
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: vig").await.expect("write");
    // Never finished: the server closes (with a 408 or without an answer).
    let mut rest = Vec::new();
    within("the slowloris closed", s.read_to_end(&mut rest))
        .await
        .expect("read");
    let text = String::from_utf8_lossy(&rest);
    assert!(text.is_empty() || text.starts_with("HTTP/1.1 408"), "{text}");
    eventually("no connection open", || async { f.http.connections() == 0 }).await;
    f.sup.shutdown().await;
    f.http.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_limit_are_refused_at_once() {
    let mut options = defaults();
    options.max_connections = 2;
    let f = fixture(options, 0);
    let addr = f.http.local_addr();
    let idle1 = TcpStream::connect(addr).await.expect("connect");
    let idle2 = TcpStream::connect(addr).await.expect("connect");
    eventually("two open", || async { f.http.connections() == 2 }).await;
    for _ in 0..5 {
        let refused = get(addr, "/healthz").await;
        assert_eq!(refused.code, 503, "{refused:?}");
        assert_eq!(refused.body, "too many connections\r\n");
    }
    assert_eq!(f.http.connections(), 2);
    drop((idle1, idle2));
    eventually("both closed", || async { f.http.connections() == 0 }).await;
    assert_eq!(get(addr, "/healthz").await.code, 200);
    f.sup.shutdown().await;
    f.http.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_hold_nothing_past_their_time() {
    let mut options = defaults();
    options.max_connections = 2;
    options.connection_timeout = Duration::from_millis(500);
    // Enough workers that `/status` (some 5 MB) does not fit the socket
    // buffers (Linux lets a send buffer grow to 4 MB).
    let f = fixture(options, 20_000);
    let addr = f.http.local_addr();
    let mut stuck = Vec::new();
    for _ in 0..2 {
        let socket = TcpSocket::new_v4().expect("socket");
        socket.set_recv_buffer_size(4096).expect("rcvbuf");
        let mut s = socket.connect(addr).await.expect("connect");
        s.write_all(b"GET /status HTTP/1.1\r\nHost: v\r\n\r\n")
            .await
            .expect("write");
        stuck.push(s);
    }
    eventually("both open", || async { f.http.connections() == 2 }).await;
    // The tree answers meanwhile: nothing waits for those clients.
    let count = within(
        "a request to the tree",
        f.sup.request(Request::CountChildren { path: String::new() }),
    )
    .await
    .expect("tree up");
    assert!(matches!(count, Reply::Counts(c) if c.specs == 20_002), "{count:?}");
    // Their time runs out; the endpoint serves again, whole answers.
    eventually("the stuck ones closed", || async { f.http.connections() == 0 }).await;
    let s = get(addr, "/status").await;
    assert_eq!(s.code, 200);
    let json: Value = serde_json::from_str(&s.body).expect("whole JSON");
    assert_eq!(json["nodes"].as_array().map(Vec::len), Some(20_002));
    // What the stuck clients can still read is cut short: they were closed
    // mid-answer, not served to the end.
    for mut c in stuck {
        let mut got = Vec::new();
        let _ = within("read the cut answer", c.read_to_end(&mut got)).await;
        assert!(got.len() < s.body.len(), "{} of {} bytes", got.len(), s.body.len());
    }
    f.sup.shutdown().await;
    f.http.close();
}

#[tokio::test]
async fn an_address_in_use_is_refused_with_the_reason() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let err = HttpServer::bind(HttpOptions::new(taken.local_addr().unwrap())).unwrap_err();
    assert!(matches!(&err, HttpError::Bind { source, .. } if source.kind() == std::io::ErrorKind::AddrInUse));
    let text = err.to_string();
    assert!(
        text.starts_with(&format!("cannot listen for HTTP on {}", taken.local_addr().unwrap())),
        "{text}"
    );
    assert!(text.contains("choose another `[http] listen`"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serving_twice_is_refused_and_close_stops_accepting() {
    let f = fixture(defaults(), 0);
    assert!(matches!(f.http.serve(&f.control), Err(HttpError::AlreadyServing)));
    let addr = f.http.local_addr();
    assert_eq!(get(addr, "/healthz").await.code, 200);
    f.http.close();
    eventually("refused after close", || async {
        match TcpStream::connect(addr).await {
            Err(_) => true,
            Ok(mut s) => {
                let _ = s.write_all(b"GET /healthz HTTP/1.1\r\n\r\n").await;
                let mut buf = Vec::new();
                matches!(s.read_to_end(&mut buf).await, Ok(0) | Err(_)) && buf.is_empty()
            }
        }
    })
    .await;
    f.sup.shutdown().await;
}

/// `promtool check metrics` on the exposition, when promtool is installed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_accepts_the_metrics() {
    let Ok(found) = std::process::Command::new("promtool").arg("--version").output() else {
        eprintln!("skipped: promtool is not on PATH (Debian's package `prometheus` has it)");
        return;
    };
    assert!(found.status.success());
    let f = fixture(defaults(), 2);
    f.gate.notify_one();
    let addr = f.http.local_addr();
    eventually("ready", || async { get(addr, "/readyz").await.code == 200 }).await;
    let body = get(addr, "/metrics").await.body;
    f.sup.shutdown().await;
    let down = get(addr, "/metrics").await.body;
    for text in [body, down] {
        let mut child = std::process::Command::new("promtool")
            .args(["check", "metrics"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("promtool");
        let mut stdin = child.stdin.take().expect("stdin");
        std::io::Write::write_all(&mut stdin, text.as_bytes()).expect("write to promtool");
        drop(stdin);
        let out = child.wait_with_output().expect("promtool output");
        assert!(
            out.status.success(),
            "promtool: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    f.http.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_endpoint_follows_a_tree_started_again_on_a_server_that_keeps_serving() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control = ControlServer::bind(ControlOptions::new(dir.path().join("ctl.sock"))).expect("bind");
    let mut starts = control.keep_serving().expect("first call");
    assert!(control.keep_serving().is_none(), "one owner of the starts");
    let tree = || {
        Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("w"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
    };
    let first = tree().control(control.clone()).start().expect("valid");
    let http = HttpServer::bind(defaults()).expect("listen");
    http.serve(&control).expect("serve");
    let addr = http.local_addr();
    eventually("up", || async { get(addr, "/healthz").await.code == 200 }).await;
    // While up, start_tree is refused and reaches nobody.
    let refused = Client::connect(control.path())
        .await
        .unwrap()
        .request(&Op::StartTree {})
        .await;
    assert!(format!("{refused:?}").contains("tree_up"), "{refused:?}");
    first.shutdown().await;
    assert_eq!(get(addr, "/healthz").await.code, 503);
    // Down, the socket still answers: status says how the tree ended.
    let status = ctl(&control, Op::Status {}).await;
    assert_eq!(status["tree"]["up"], false, "{status}");
    assert_eq!(status["tree"]["outcome"], "tree shut down");

    let path = control.path().to_owned();
    let asking = tokio::spawn(async move { Client::connect(&path).await?.request(&Op::StartTree {}).await });
    let request = within("the start request", starts.next()).await.expect("a request");
    let second = tree().control(control.clone()).start().expect("valid");
    request.started();
    assert_eq!(
        within("the answer", asking).await.unwrap().expect("answered"),
        "started"
    );
    eventually("up again", || async { get(addr, "/healthz").await.code == 200 }).await;
    let s: Value = serde_json::from_str(&get(addr, "/status").await.body).expect("JSON");
    assert_eq!(s["nodes"][0]["path"], "w");
    // A request the owner drops is answered, not left hanging.
    second.shutdown().await;
    let path = control.path().to_owned();
    let asking = tokio::spawn(async move { Client::connect(&path).await?.request(&Op::StartTree {}).await });
    drop(within("the second request", starts.next()).await.expect("a request"));
    let answer = within("the answer", asking).await.unwrap();
    assert!(format!("{answer:?}").contains("start_failed"), "{answer:?}");
    http.close();
    control.close();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn before_the_control_server_serves_a_tree_every_resource_is_unavailable() {
    let dir = tempfile::tempdir().expect("tempdir");
    let control = ControlServer::bind(ControlOptions::new(dir.path().join("ctl.sock"))).expect("bind");
    let http = HttpServer::bind(defaults()).expect("listen");
    http.serve(&control).expect("serve");
    let addr = http.local_addr();
    for path in ["/metrics", "/healthz", "/readyz", "/status"] {
        let r = get(addr, path).await;
        assert_eq!((r.code, r.body.as_str()), (503, "no tree is served yet\n"), "{path}");
    }
    // Refusals do not depend on a tree.
    assert_eq!(get(addr, "/nope").await.code, 404);
    http.close();
    control.close();
}
