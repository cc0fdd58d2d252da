//! A monitor outside vigil, on the control socket: it follows the runs
//! registered and removed (`subscribe` with `runs`) and evicts with its own
//! run's token (`evict`), as `vigil run`'s children can. Real processes and
//! a real client; waits have a hang guard, never a timing assertion.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use vigil_core::{ChildSpec, ExitReason, SupervisorSpec};
use vigil_tokio::control::client::{Client, ClientError, Message, Worker};
use vigil_tokio::control::protocol::{Op, WireId};
use vigil_tokio::control::{ControlOptions, ControlServer};
use vigil_tokio::{Children, EventKind, Events, OutputMode, ProcessSpec, Tree, TreeHandle};

const SAFETY: Duration = Duration::from_secs(30);

/// A shell child that writes its generation and token to `dir/<name>.env`, then sleeps.
fn spy(dir: &Path, name: &str) -> ProcessSpec {
    let file = dir.join(format!("{name}.env"));
    let mut p = ProcessSpec::new([
        "sh".to_owned(),
        "-c".to_owned(),
        format!(
            "printf '%s %s' \"$VIGIL_GENERATION\" \"$VIGIL_TOKEN\" > {f}.tmp && mv {f}.tmp {f}; exec sleep 1000",
            f = file.display()
        ),
    ]);
    p.output = OutputMode::Null;
    p
}

/// The token the spy `name` wrote.
async fn token(dir: &Path, name: &str) -> String {
    let file = dir.join(format!("{name}.env"));
    tokio::time::timeout(SAFETY, async {
        loop {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            if let Some((_, token)) = text.split_once(' ') {
                return token.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the spy wrote its token")
}

/// What a subscriber to runs knows: the live runs (path → generation and
/// the register line), and every line in order.
struct Feed {
    client: Client,
    id: Option<WireId>,
    live: BTreeMap<String, (u64, Value)>,
    lines: Vec<Value>,
    ended: bool,
}

impl Feed {
    async fn subscribe(socket: &Path) -> Feed {
        let mut client = Client::connect(socket).await.expect("connect");
        let id = Some(
            client
                .send(&Op::Subscribe {
                    trace: false,
                    runs: true,
                })
                .await
                .expect("send"),
        );
        let mut feed = Feed {
            client,
            id,
            live: BTreeMap::new(),
            lines: Vec::new(),
            ended: false,
        };
        match feed.message().await {
            Message::Reply { result, .. } => assert_eq!(result, Ok(Value::from("subscribed"))),
            other => panic!("{other:?}"),
        }
        feed
    }

    async fn message(&mut self) -> Message {
        tokio::time::timeout(SAFETY, self.client.next_message())
            .await
            .expect("a message within the hang guard")
            .expect("a message")
    }

    /// Read one item (or the end) and apply it.
    async fn next(&mut self) {
        match self.message().await {
            Message::Item { id, item, .. } => {
                assert_eq!(id, self.id);
                self.apply(item);
            }
            Message::End { id } => {
                assert_eq!(id, self.id);
                self.ended = true;
            }
            other => panic!("{other:?}"),
        }
    }

    fn apply(&mut self, item: Value) {
        let path = item["path"].as_str().unwrap_or_default().to_owned();
        let generation = item["gen"].as_u64().unwrap_or_default();
        match item["ev"].as_str() {
            Some("runs") => {
                self.live.clear();
                for r in item["runs"].as_array().expect("runs") {
                    let path = r["path"].as_str().unwrap().to_owned();
                    self.live.insert(path, (r["gen"].as_u64().unwrap(), r.clone()));
                }
            }
            Some("register") => {
                let before = self.live.insert(path.clone(), (generation, item.clone()));
                assert!(before.is_none(), "{path} registered while live: {before:?}");
            }
            Some("remove") => {
                let before = self.live.remove(&path);
                assert_eq!(before.map(|(g, _)| g), Some(generation), "{path} removed: {item}");
            }
            other => panic!("not a run line: {other:?} {item}"),
        }
        self.lines.push(item);
    }

    /// Read until `f` holds for what is known.
    async fn until(&mut self, f: impl Fn(&Feed) -> bool) {
        while !f(self) {
            assert!(!self.ended, "the feed ended first");
            self.next().await;
        }
    }

    fn generation(&self, path: &str) -> Option<u64> {
        self.live.get(path).map(|(g, _)| *g)
    }
}

struct Fixture {
    _tmp: tempfile::TempDir,
    server: ControlServer,
    sup: TreeHandle,
}

fn start() -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().to_owned();
    let server = ControlServer::bind(ControlOptions::new(dir.join("ctl.sock"))).expect("bind");
    let sup = Tree::new(SupervisorSpec::new().intensity(100))
        .process(ChildSpec::worker("mon"), spy(&dir, "mon"))
        .process(ChildSpec::worker("victim"), spy(&dir, "victim"))
        .task(ChildSpec::worker("tasky"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .supervisor(
            ChildSpec::supervisor("grp", SupervisorSpec::new()),
            Children::new().process(ChildSpec::worker("inner"), spy(&dir, "inner")),
        )
        .control(server.clone())
        .start()
        .expect("valid tree");
    Fixture { _tmp: tmp, server, sup }
}

async fn evict(socket: &Path, path: &str, generation: u64, token: Option<&str>) -> Result<Value, ClientError> {
    let mut c = Client::connect(socket).await.expect("connect");
    c.request(&Op::Evict {
        path: path.to_owned(),
        generation,
        reason: "queue too deep".to_owned(),
        token: token.map(str::to_owned),
    })
    .await
}

fn code(r: Result<Value, ClientError>) -> (String, String) {
    match r {
        Err(ClientError::Remote { code, message }) => (code, message),
        other => panic!("an error, not {other:?}"),
    }
}

async fn next_exit(events: &mut Events, path: &str) -> ExitReason {
    tokio::time::timeout(SAFETY, async {
        loop {
            let e = events.recv().await.expect("an event before the tree's end");
            let Ok(e) = e else { continue };
            if let (EventKind::Exited { reason, .. }, true) = (&e.kind, e.path == path) {
                return reason.clone();
            }
        }
    })
    .await
    .expect("an exit")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_external_monitor_follows_the_runs_and_evicts_with_its_token() {
    let f = start();
    let socket = f.server.path().to_owned();
    let mut events = f.sup.events();
    let mut feed = Feed::subscribe(&socket).await;
    // The live runs first, then each one that comes up: every worker, tasks too.
    feed.until(|f| {
        ["mon", "victim", "tasky", "grp/inner"]
            .iter()
            .all(|p| f.live.contains_key(*p))
    })
    .await;
    let victim = &feed.live["victim"].1;
    assert_eq!(victim["kind"], "process");
    assert!(victim["pgid"].as_u64().is_some_and(|p| p > 1), "{victim}");
    assert_eq!(feed.live["tasky"].1["kind"], "task");
    assert_eq!(feed.live["tasky"].1.get("pgid"), None);
    let g1 = feed.generation("victim").unwrap();
    let mon = token(f._tmp.path(), "mon").await;

    let ok = evict(&socket, "victim", g1, Some(&mon)).await.expect("evicted");
    assert_eq!(ok, serde_json::json!({ "path": "victim", "generation": g1 }));
    assert_eq!(
        next_exit(&mut events, "victim").await,
        ExitReason::Evicted("queue too deep".into())
    );
    // The subscriber sees the run go and its successor come.
    feed.until(|f| f.generation("victim").is_some_and(|g| g > g1)).await;
    let g2 = feed.generation("victim").unwrap();

    // A stale eviction: precise, and harmless.
    let (c, message) = code(evict(&socket, "victim", g1, Some(&mon)).await);
    assert_eq!(c, "stale");
    assert_eq!(
        message,
        format!("`victim`: run {g1} was not evicted: it has ended; the child's current run is {g2} (running)")
    );
    // Authorised like a worker: a live run's token, or a registered connection.
    assert_eq!(code(evict(&socket, "victim", g2, None).await).0, "not_registered");
    assert_eq!(code(evict(&socket, "victim", g2, Some("0123")).await).0, "bad_token");
    assert_eq!(code(evict(&socket, "grp", 1, Some(&mon)).await).0, "not_a_worker");
    assert_eq!(code(evict(&socket, "nope", 1, Some(&mon)).await).0, "not_found");
    let mut worker = Worker::register(&socket, &mon).await.expect("register");
    worker
        .evict("victim", g2, "again")
        .await
        .expect("evicted by a registered worker");
    assert_eq!(
        next_exit(&mut events, "victim").await,
        ExitReason::Evicted("again".into())
    );
    let Err(ClientError::Remote { code, .. }) = worker.evict("victim", g2, "again").await else {
        panic!("stale")
    };
    assert_eq!(code, "stale");

    // Shutdown: every live run is removed, then the stream ends.
    assert!(f.sup.shutdown().await.is_normal());
    while !feed.ended {
        feed.next().await;
    }
    assert!(feed.live.is_empty(), "never removed: {:?}", feed.live.keys());
    // Every run it was told about (in the first `runs` line or a
    // `register`) was removed once.
    let run = |l: &Value| (l["path"].as_str().unwrap().to_owned(), l["gen"].as_u64().unwrap());
    let mut told: Vec<_> = feed.lines[0]["runs"].as_array().unwrap().iter().map(run).collect();
    told.extend(feed.lines.iter().filter(|l| l["ev"] == "register").map(run));
    let mut removed: Vec<_> = feed.lines.iter().filter(|l| l["ev"] == "remove").map(run).collect();
    told.sort();
    removed.sort();
    assert_eq!(told, removed);
    assert!(told.len() >= 6, "four workers and two more victims: {told:?}");
    let control = f.sup.monitors().await.into_iter().find(|m| m.name == "control");
    assert!(control.is_some(), "the control server's feed is a monitor");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_after_the_start_gets_the_live_runs_first() {
    let f = start();
    let socket = f.server.path().to_owned();
    let mut first = Feed::subscribe(&socket).await;
    first
        .until(|f| {
            ["mon", "victim", "tasky", "grp/inner"]
                .iter()
                .all(|p| f.live.contains_key(*p))
        })
        .await;
    let mut late = Feed::subscribe(&socket).await;
    late.next().await;
    assert_eq!(late.lines[0]["ev"], "runs");
    let gens = |f: &Feed| f.live.iter().map(|(p, (g, _))| (p.clone(), *g)).collect::<Vec<_>>();
    assert_eq!(gens(&late), gens(&first), "one view of the same runs");
    // Only runs unless the trace is asked for too.
    assert!(late.lines.iter().all(|l| l.get("t").is_none()));
    f.sup.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_cannot_be_followed_on_a_server_the_tree_was_not_given() {
    let tmp = tempfile::tempdir().unwrap();
    let server = ControlServer::bind(ControlOptions::new(tmp.path().join("ctl.sock"))).expect("bind");
    let sup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("a"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .start()
        .expect("valid tree");
    server.serve(sup.clone()).expect("serve");
    let mut c = Client::connect(server.path()).await.expect("connect");
    let r = c
        .request(&Op::Subscribe {
            trace: false,
            runs: true,
        })
        .await;
    let Err(ClientError::Remote { code, message }) = r else {
        panic!("{r:?}")
    };
    assert_eq!(code, "unavailable");
    assert!(message.contains("Tree::control"), "{message}");
    sup.shutdown().await;
}
