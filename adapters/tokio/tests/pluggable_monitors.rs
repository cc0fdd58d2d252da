//! Monitors of your own (the `Monitor` trait) on real trees: every run a
//! monitor registers is removed once, after its register, however it ends;
//! a monitor's errors and panics stay inside it (the tree and the other
//! monitors go on); an eviction restarts the run with the monitor's reason
//! and counts in the restart intensity. Task trees run in tokio's paused
//! time; process trees for real, with timeouts only as hang guards.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::FutureExt;
use vigil_core::{ChildSpec, ChildState, ExitReason, Request, RunId, Shutdown, SupervisorSpec};
use vigil_tokio::monitor::{
    EvictError, Monitor, MonitorContext, MonitorState, MonitorStatus, MonitoredRun, RunKind, Watch,
};
use vigil_tokio::{EventKind, Events, ProcessSpec, Tree, TreeEvent, TreeHandle};

// What `common/guard_hook.rs` calls.
use vigil_tokio::guard;

#[path = "common/guard_hook.rs"]
mod guard_hook;

/// A hang guard (in paused time it costs nothing).
const SAFETY: Duration = Duration::from_secs(60);

#[derive(Clone, Debug, PartialEq, Eq)]
enum Call {
    Register(RunId, String, RunKind),
    Remove(RunId),
    Check,
}

/// The monitor's methods, where a fault may be put.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    Name,
    Watches,
    Interval,
    Register,
    Remove,
    Check,
    Detail,
    Drop,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fault {
    Healthy,
    /// Every register, remove and check returns an error.
    Fails,
    /// Every register returns an error whose `Display` panics.
    UnprintableError,
    /// The method panics (interval and detail: once a run was registered).
    Panics(Method),
}

#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<Call>>>);

impl Log {
    fn push(&self, c: Call) {
        self.0.lock().unwrap().push(c);
    }

    fn calls(&self) -> Vec<Call> {
        self.0.lock().unwrap().clone()
    }
}

struct Recorder {
    name: String,
    log: Log,
    fault: Fault,
    interval: Option<Duration>,
    watch: Watch,
    registered_any: bool,
}

fn recorder(name: &str, fault: Fault) -> (Recorder, Log) {
    let log = Log::default();
    let r = Recorder {
        name: name.to_owned(),
        log: log.clone(),
        fault,
        interval: Some(Duration::from_millis(7)),
        watch: Watch::AllRuns,
        registered_any: false,
    };
    (r, log)
}

struct Oops(&'static str);

impl fmt::Display for Oops {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 == "unprintable" {
            panic!("this error cannot be printed");
        }
        f.write_str(self.0)
    }
}

impl Recorder {
    fn trip(&self, m: Method) {
        if self.fault == Fault::Panics(m) {
            panic!("{m:?} panics on purpose");
        }
    }

    fn outcome(&self, what: &'static str) -> Result<(), Oops> {
        match self.fault {
            Fault::Fails => Err(Oops(what)),
            Fault::UnprintableError if what == "register failed" => Err(Oops("unprintable")),
            _ => Ok(()),
        }
    }
}

impl Monitor for Recorder {
    type Error = Oops;

    fn name(&self) -> &str {
        self.trip(Method::Name);
        &self.name
    }

    fn interval(&self) -> Option<Duration> {
        if self.registered_any {
            self.trip(Method::Interval);
        }
        self.interval
    }

    fn watches(&self) -> Watch {
        self.trip(Method::Watches);
        self.watch
    }

    async fn register(&mut self, run: &MonitoredRun, _: &MonitorContext) -> Result<(), Oops> {
        self.log.push(Call::Register(run.run, run.path.to_string(), run.kind));
        self.registered_any = true;
        self.trip(Method::Register);
        self.outcome("register failed")
    }

    async fn remove(&mut self, run: RunId, _: &MonitorContext) -> Result<(), Oops> {
        self.log.push(Call::Remove(run));
        self.trip(Method::Remove);
        self.outcome("remove failed")
    }

    async fn check(&mut self, _: &MonitorContext) -> Result<(), Oops> {
        self.log.push(Call::Check);
        // A monitor may await anything in its loop.
        tokio::time::sleep(Duration::from_millis(1)).await;
        self.trip(Method::Check);
        self.outcome("check failed")
    }

    fn detail(&self) -> String {
        if self.registered_any {
            self.trip(Method::Detail);
        }
        format!("{} call(s)", self.log.0.lock().unwrap().len())
    }
}

impl Drop for Recorder {
    fn drop(&mut self) {
        if self.fault == Fault::Panics(Method::Drop) && !std::thread::panicking() {
            panic!("Drop panics on purpose");
        }
    }
}

/// Every run in `calls` is registered once, removed once after that, and
/// nothing else is removed; the runs registered, in order.
fn assert_pairs(calls: &[Call]) -> Vec<RunId> {
    let mut open: BTreeMap<RunId, usize> = BTreeMap::new();
    let mut registered = Vec::new();
    for (i, c) in calls.iter().enumerate() {
        match c {
            Call::Register(run, ..) => {
                assert!(!registered.contains(run), "{run:?} registered twice, at {i}: {calls:?}");
                registered.push(*run);
                open.insert(*run, i);
            }
            Call::Remove(run) => {
                assert!(
                    open.remove(run).is_some(),
                    "{run:?} removed unregistered at {i}: {calls:?}"
                );
            }
            Call::Check => {}
        }
    }
    assert!(open.is_empty(), "never removed: {open:?}");
    registered
}

/// Wait until no monitor runs any more (each was stopped with the tree, or
/// panicked); their statuses.
async fn settled(sup: &TreeHandle) -> Vec<MonitorStatus> {
    tokio::time::timeout(SAFETY, async {
        loop {
            let s = sup.monitors().await;
            if s.iter().all(|m| m.state != MonitorState::Running) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("every monitor ends with the tree: {:?}", futures_now(sup)))
}

fn futures_now(sup: &TreeHandle) -> Vec<MonitorStatus> {
    futures_util::FutureExt::now_or_never(sup.monitors()).unwrap_or_default()
}

fn status<'a>(all: &'a [MonitorStatus], name: &str) -> &'a MonitorStatus {
    all.iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("no monitor {name}: {all:?}"))
}

/// Every event until the receiver ends or lags (tests read them at the end).
/// The events already queued (the stream is cancel safe: a receive that
/// would wait is dropped).
fn drain(events: &mut Events) -> Vec<TreeEvent> {
    let mut out = Vec::new();
    while let Some(Some(Ok(e))) = events.recv().now_or_never() {
        out.push(e);
    }
    out
}

/// The runs that came up, by path and generation.
fn started_runs(events: &[TreeEvent]) -> Vec<(String, u64)> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Started { generation, .. } => Some((e.path.to_string(), generation)),
            _ => None,
        })
        .collect()
}

/// The runs registered with a monitor, by path and generation, in order.
fn registered_runs(calls: &[Call]) -> Vec<(String, u64)> {
    calls
        .iter()
        .filter_map(|c| match c {
            Call::Register(run, path, _) => Some((path.clone(), run.generation)),
            _ => None,
        })
        .collect()
}

/// A tree of tasks whose runs end in every way a task run can: crashes,
/// panics, a kill at the shutdown deadline, a brutal kill, a stop, a
/// dynamic child deleted, the shutdown.
fn busy_tree() -> Tree {
    Tree::new(SupervisorSpec::new().intensity(10_000))
        .task(ChildSpec::worker("steady"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .task(ChildSpec::worker("crasher"), |_| async move {
            tokio::time::sleep(Duration::from_millis(10)).await;
            Err::<(), _>("crash")
        })
        .task(ChildSpec::worker("panicker"), |_| async move {
            tokio::time::sleep(Duration::from_millis(15)).await;
            panic!("a task panics on purpose");
            #[allow(unreachable_code)]
            Ok::<(), String>(())
        })
        .task(
            ChildSpec::worker("deaf").shutdown(Shutdown::Timeout(Duration::from_millis(20))),
            |_| async move {
                // Never listens to Stop: killed at its deadline.
                std::future::pending::<()>().await;
                Ok::<(), String>(())
            },
        )
        .task(ChildSpec::worker("brutal").shutdown(Shutdown::Brutal), |_| async move {
            std::future::pending::<()>().await;
            Ok::<(), String>(())
        })
}

/// Run `busy_tree` with `monitors` for a while, then shut it down; the
/// events, and every monitor's status once all have ended.
async fn run_busy(add: impl FnOnce(Tree) -> Tree) -> (Vec<TreeEvent>, Vec<MonitorStatus>) {
    let sup = add(busy_tree()).start().expect("valid tree");
    let mut events = sup.events();
    let mut seen = Vec::new();
    tokio::time::sleep(Duration::from_millis(60)).await;
    seen.extend(drain(&mut events));
    let r = sup
        .start_task("", ChildSpec::worker("dynamic"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .await;
    assert!(r.is_ok(), "{r:?}");
    tokio::time::sleep(Duration::from_millis(30)).await;
    sup.request(Request::TerminateChild { path: "dynamic".into() })
        .await
        .unwrap();
    sup.request(Request::DeleteChild { path: "dynamic".into() })
        .await
        .unwrap();
    sup.request(Request::TerminateChild { path: "brutal".into() })
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(30)).await;
    seen.extend(drain(&mut events));
    let reason = sup.shutdown().await;
    assert!(reason.is_normal(), "{reason}");
    seen.extend(drain(&mut events));
    let statuses = settled(&sup).await;
    (seen, statuses)
}

#[tokio::test(start_paused = true)]
async fn every_run_a_monitor_registers_is_removed_once_after_its_register() {
    let (healthy, log) = recorder("recorder", Fault::Healthy);
    let (events, statuses) = run_busy(|t| t.monitor(healthy)).await;
    let calls = log.calls();
    let registered = assert_pairs(&calls);
    // Exactly the runs that came up, in the order they did.
    assert_eq!(registered.len(), registered_runs(&calls).len());
    assert_eq!(registered_runs(&calls), started_runs(&events));
    assert!(
        registered.len() > 10,
        "crashes and panics restart: {}",
        registered.len()
    );
    for c in &calls {
        if let Call::Register(run, path, kind) = c {
            assert_eq!(*kind, RunKind::Task, "{path}");
            let named = events.iter().any(|e| {
                matches!(e.kind, EventKind::Started { generation, .. } if generation == run.generation)
                    && e.path == *path
            });
            assert!(named, "{path} {run:?}");
        }
    }
    assert!(calls.contains(&Call::Check), "its own loop ran");
    let me = status(&statuses, "recorder");
    assert_eq!((me.state.clone(), me.runs, me.errors), (MonitorState::Stopped, 0, 0));
    assert_eq!(me.detail, format!("{} call(s)", calls.len()));
    // The built-ins watch processes only: a task tree is none of their business.
    assert_eq!(status(&statuses, "process").runs, 0);
    assert_eq!(status(&statuses, "memory").state, MonitorState::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_monitor_that_fails_is_counted_and_goes_on() {
    let (failing, failing_log) = recorder("failing", Fault::Fails);
    let (healthy, log) = recorder("healthy", Fault::Healthy);
    let (_, statuses) = run_busy(|t| t.monitor(failing).monitor(healthy)).await;
    // It was told everything, although every call failed.
    assert_eq!(
        assert_pairs(&failing_log.calls()),
        assert_pairs(&log.calls()),
        "both saw the same runs"
    );
    let failing = status(&statuses, "failing");
    assert_eq!(failing.state, MonitorState::Stopped);
    let calls = failing_log.calls().len() as u64;
    assert_eq!(failing.errors, calls, "every call counted");
    assert!(
        matches!(failing.last_error.as_deref(), Some("remove failed" | "check failed")),
        "{failing:?}"
    );
    assert_eq!(status(&statuses, "healthy").errors, 0);
}

#[tokio::test(start_paused = true)]
async fn an_error_that_panics_when_printed_is_still_only_an_error() {
    let (m, log) = recorder("unprintable", Fault::UnprintableError);
    let (_, statuses) = run_busy(|t| t.monitor(m)).await;
    let me = status(&statuses, "unprintable");
    assert_eq!(me.state, MonitorState::Stopped, "{me:?}");
    let registers = log.calls().iter().filter(|c| matches!(c, Call::Register(..))).count() as u64;
    assert_eq!(me.errors, registers);
    let text = me.last_error.as_deref().unwrap_or_default();
    assert!(text.contains("this error cannot be printed"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn a_monitor_that_panics_in_any_method_is_stopped_alone() {
    for method in [
        Method::Name,
        Method::Watches,
        Method::Interval,
        Method::Register,
        Method::Remove,
        Method::Check,
        Method::Detail,
        Method::Drop,
    ] {
        let (bad, bad_log) = recorder("bad", Fault::Panics(method));
        let (healthy, log) = recorder("healthy", Fault::Healthy);
        let (events, statuses) = run_busy(|t| t.monitor(bad).monitor(healthy)).await;
        // The tree went on: it restarted its crashing children until the end.
        let restarts = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Restart { .. }))
            .count();
        assert!(restarts > 5, "{method:?}: {restarts} restarts");
        // The other monitor saw everything.
        let calls = log.calls();
        assert_pairs(&calls);
        assert_eq!(registered_runs(&calls), started_runs(&events), "{method:?}");
        let me = statuses
            .iter()
            .find(|m| m.name != "healthy" && statuses_user(m))
            .unwrap();
        match method {
            Method::Drop => assert_eq!(me.state, MonitorState::Stopped, "{method:?}"),
            _ => assert_eq!(
                me.state,
                MonitorState::Panicked(format!("{method:?} panics on purpose")),
                "{method:?}"
            ),
        }
        if method == Method::Name {
            assert!(me.name.ends_with("Recorder"), "named after its type: {}", me.name);
            assert!(bad_log.calls().is_empty(), "never called");
        } else {
            assert_eq!(me.name, "bad");
        }
    }
}

/// Not a built-in (nor the control server's feed).
fn statuses_user(m: &MonitorStatus) -> bool {
    !matches!(m.name.as_str(), "process" | "memory" | "control")
}

#[tokio::test(start_paused = true)]
async fn a_monitor_stuck_for_ever_holds_up_nothing() {
    struct Stuck(Arc<AtomicUsize>);
    impl Monitor for Stuck {
        type Error = std::convert::Infallible;
        fn name(&self) -> &str {
            "stuck"
        }
        fn interval(&self) -> Option<Duration> {
            Some(Duration::from_millis(5))
        }
        async fn register(&mut self, _: &MonitoredRun, _: &MonitorContext) -> Result<(), Self::Error> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn remove(&mut self, _: RunId, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
        async fn check(&mut self, _: &MonitorContext) -> Result<(), Self::Error> {
            std::future::pending().await
        }
    }
    let registers = Arc::new(AtomicUsize::new(0));
    let (healthy, log) = recorder("healthy", Fault::Healthy);
    let sup = busy_tree()
        .monitor(Stuck(Arc::clone(&registers)))
        .monitor(healthy)
        .start()
        .expect("valid tree");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Its status is read without asking it.
    let stuck = sup.monitors().await.into_iter().find(|m| m.name == "stuck").unwrap();
    assert_eq!(stuck.state, MonitorState::Running);
    let seen_before_its_first_check = registers.load(Ordering::SeqCst);
    assert!(seen_before_its_first_check >= 1);
    assert!(sup.shutdown().await.is_normal());
    // The others end with the tree; it stays inside its check, told nothing more.
    tokio::time::timeout(SAFETY, async {
        while sup
            .monitors()
            .await
            .iter()
            .any(|m| m.name == "healthy" && m.state == MonitorState::Running)
        {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the healthy monitor ends");
    assert_pairs(&log.calls());
    assert_eq!(registers.load(Ordering::SeqCst), seen_before_its_first_check);
}

/// The answers a monitor got to its evictions.
type Answers = Arc<Mutex<Vec<Result<(), EvictError>>>>;

/// Evicts the run of `target` at each check (or at register), and keeps
/// the answers.
struct Evictor {
    target: &'static str,
    reason: &'static str,
    at_register: bool,
    run: Option<RunId>,
    answers: Answers,
}

impl Monitor for Evictor {
    type Error = std::convert::Infallible;

    fn name(&self) -> &str {
        "evictor"
    }

    fn interval(&self) -> Option<Duration> {
        Some(Duration::from_millis(10))
    }

    async fn register(&mut self, run: &MonitoredRun, ctx: &MonitorContext) -> Result<(), Self::Error> {
        if &*run.path == self.target {
            self.run = Some(run.run);
            if self.at_register {
                let answer = ctx.evict(run.run, self.reason).await;
                self.answers.lock().unwrap().push(answer);
            }
        }
        Ok(())
    }

    async fn remove(&mut self, run: RunId, _: &MonitorContext) -> Result<(), Self::Error> {
        if self.run == Some(run) {
            self.run = None;
        }
        Ok(())
    }

    async fn check(&mut self, ctx: &MonitorContext) -> Result<(), Self::Error> {
        if let (Some(run), false) = (self.run, self.at_register) {
            let answer = ctx.evict(run, self.reason).await;
            self.answers.lock().unwrap().push(answer);
        }
        Ok(())
    }
}

fn evictor(target: &'static str, at_register: bool) -> (Evictor, Answers) {
    let answers = Arc::new(Mutex::new(Vec::new()));
    let e = Evictor {
        target,
        reason: "too deep a queue",
        at_register,
        run: None,
        answers: Arc::clone(&answers),
    };
    (e, answers)
}

fn waiting_task(spec: ChildSpec) -> Tree {
    Tree::new(SupervisorSpec::new().intensity(1).period(Duration::from_secs(3600))).task(spec, |ctx| async move {
        ctx.stopped().await;
        Ok::<(), String>(())
    })
}

#[tokio::test(start_paused = true)]
async fn an_eviction_restarts_the_run_with_the_reason_and_counts_in_the_intensity() {
    let (m, answers) = evictor("a", false);
    let sup = waiting_task(ChildSpec::worker("a"))
        .monitor(m)
        .start()
        .expect("valid tree");
    let mut events = sup.events();
    // Intensity 1: the first eviction is a restart, the second one too many.
    let reason = tokio::time::timeout(SAFETY, sup.wait())
        .await
        .expect("the tree gives up");
    assert_eq!(reason, ExitReason::shutdown());
    let events = drain(&mut events);
    let evicted: Vec<&TreeEvent> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Evicted { .. }))
        .collect();
    assert_eq!(evicted.len(), 2, "{events:?}");
    let why = ExitReason::Evicted("too deep a queue".into());
    for e in &evicted {
        let EventKind::Evicted { generation, reason, .. } = &e.kind else {
            unreachable!()
        };
        assert_eq!((e.path.as_str(), reason), ("a", &why));
        // The run's own exit (shutdown: it was asked to stop) reads as the eviction.
        let exit = events.iter().find_map(|x| match &x.kind {
            EventKind::Exited {
                generation: g, reason, ..
            } if g == generation && x.path == e.path => Some(reason),
            _ => None,
        });
        assert_eq!(exit, Some(&why));
    }
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::Restart { .. }))
            .count(),
        1
    );
    assert!(events.iter().any(|e| matches!(e.kind, EventKind::GiveUp)));
    let answers = answers.lock().unwrap().clone();
    assert_eq!(answers[..2], [Ok(()), Ok(())]);
    let me = settled(&sup).await.into_iter().find(|m| m.name == "evictor").unwrap();
    assert_eq!((me.evictions, me.state), (2, MonitorState::Stopped));
}

#[tokio::test(start_paused = true)]
async fn an_eviction_from_register_finds_the_run_up() {
    let (m, answers) = evictor("a", true);
    let sup = waiting_task(ChildSpec::worker("a"))
        .monitor(m)
        .start()
        .expect("valid tree");
    tokio::time::timeout(SAFETY, sup.wait())
        .await
        .expect("the tree gives up");
    // Each run is evicted as soon as it is up: twice is over the intensity.
    assert_eq!(answers.lock().unwrap()[..2], [Ok(()), Ok(())]);
}

#[tokio::test(start_paused = true)]
async fn a_stale_eviction_says_precisely_why_and_changes_nothing() {
    struct Late {
        runs: Vec<RunId>,
        answer: Arc<Mutex<Option<Result<(), EvictError>>>>,
    }
    impl Monitor for Late {
        type Error = std::convert::Infallible;
        fn name(&self) -> &str {
            "late"
        }
        fn interval(&self) -> Option<Duration> {
            Some(Duration::from_millis(5))
        }
        async fn register(&mut self, run: &MonitoredRun, _: &MonitorContext) -> Result<(), Self::Error> {
            self.runs.push(run.run);
            Ok(())
        }
        async fn remove(&mut self, _: RunId, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
        async fn check(&mut self, ctx: &MonitorContext) -> Result<(), Self::Error> {
            let mut answer = self.answer.lock().unwrap().take();
            if answer.is_none() && self.runs.len() == 2 {
                // The first run ended long ago.
                answer = Some(ctx.evict(self.runs[0], "late").await);
            }
            *self.answer.lock().unwrap() = answer;
            Ok(())
        }
    }
    let answer = Arc::new(Mutex::new(None));
    let sup = waiting_task(ChildSpec::worker("a"))
        .monitor(Late {
            runs: Vec::new(),
            answer: Arc::clone(&answer),
        })
        .start()
        .expect("valid tree");
    tokio::time::sleep(Duration::from_millis(3)).await;
    sup.request(Request::TerminateChild { path: "a".into() }).await.unwrap();
    sup.request(Request::RestartChild { path: "a".into() }).await.unwrap();
    let got = tokio::time::timeout(SAFETY, async {
        loop {
            if let Some(a) = answer.lock().unwrap().clone() {
                return a;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("an answer");
    let Err(
        e @ EvictError::Stale {
            generation,
            state,
            current,
        },
    ) = got
    else {
        panic!("stale, not {got:?}")
    };
    assert_eq!(state, Some(ChildState::Running));
    let current = current.expect("a current run");
    assert!(current > generation);
    assert_eq!(
        e.to_string(),
        format!("run {generation} was not evicted: it has ended; the child's current run is {current} (running)")
    );
    let me = sup.monitors().await.into_iter().find(|m| m.name == "late").unwrap();
    assert_eq!((me.evictions, me.stale_evictions), (0, 1));
    assert!(sup.shutdown().await.is_normal(), "the child was never restarted by it");
}

#[tokio::test(start_paused = true)]
async fn extreme_intervals_neither_spin_nor_panic() {
    struct Counting(Option<Duration>, Arc<AtomicUsize>);
    impl Monitor for Counting {
        type Error = std::convert::Infallible;
        fn name(&self) -> &str {
            "counting"
        }
        fn interval(&self) -> Option<Duration> {
            self.0
        }
        async fn register(&mut self, _: &MonitoredRun, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
        async fn remove(&mut self, _: RunId, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
        async fn check(&mut self, _: &MonitorContext) -> Result<(), Self::Error> {
            self.1.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }
    for (interval, at_most) in [
        (Some(Duration::ZERO), 101),
        (Some(Duration::from_nanos(1)), 101),
        (Some(Duration::MAX), 0),
        (None, 0),
    ] {
        let checks = Arc::new(AtomicUsize::new(0));
        let sup = waiting_task(ChildSpec::worker("a"))
            .monitor(Counting(interval, Arc::clone(&checks)))
            .start()
            .expect("valid tree");
        tokio::time::sleep(Duration::from_millis(100)).await;
        let n = checks.load(Ordering::SeqCst);
        assert!(n <= at_most, "{interval:?}: {n} checks in 100 ms");
        if at_most > 0 {
            assert!(n >= 50, "{interval:?}: {n} checks in 100 ms (one per ms)");
        }
        assert!(sup.shutdown().await.is_normal());
        let me = settled(&sup).await.into_iter().find(|m| m.name == "counting").unwrap();
        assert_eq!(me.state, MonitorState::Stopped, "{interval:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn a_monitor_of_process_runs_is_told_nothing_of_tasks() {
    let (mut m, log) = recorder("processes-only", Fault::Healthy);
    m.watch = Watch::ProcessRuns;
    let (events, statuses) = run_busy(|t| t.monitor(m)).await;
    assert!(!started_runs(&events).is_empty());
    assert!(log.calls().iter().all(|c| *c == Call::Check), "{:?}", log.calls());
    assert_eq!(status(&statuses, "processes-only").runs, 0);
}

fn sh(script: &str) -> ProcessSpec {
    let mut p = ProcessSpec::new(["sh", "-c", script]);
    p.output = vigil_tokio::OutputMode::Null;
    p
}

/// A tree of processes whose runs end in every way a process run can:
/// exits, a kill at the shutdown deadline, runs that never start.
fn process_tree(log_name: &str) -> (Tree, Log) {
    let (m, log) = recorder(log_name, Fault::Healthy);
    let mut limited = sh("exec sleep 1000");
    limited.memory_limit = Some(1 << 40);
    let tree = Tree::new(SupervisorSpec::new().intensity(10_000))
        .process(ChildSpec::worker("sleeper"), limited)
        .process(ChildSpec::worker("quitter"), sh("sleep 0.05; exit 3"))
        .process(
            ChildSpec::worker("deaf").shutdown(Shutdown::Timeout(Duration::from_millis(100))),
            sh("trap '' TERM; while :; do sleep 0.05; done"),
        )
        .task(ChildSpec::worker("task"), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), String>(())
        })
        .monitor(m);
    (tree, log)
}

async fn wait_for(sup: &TreeHandle, what: &str, f: impl Fn(&[MonitorStatus]) -> bool) {
    tokio::time::timeout(SAFETY, async {
        while !f(&sup.monitors().await) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{what} within the hang guard"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn process_runs_are_registered_with_their_group_and_removed_however_they_end() {
    assert!(guard::is_available(), "the test binary serves as a guard");
    let (tree, log) = process_tree("recorder");
    let sup = tree.start().expect("valid tree");
    // A child whose program does not exist never comes up: never registered.
    let missing = sup
        .start_process(
            "",
            ChildSpec::worker("missing"),
            ProcessSpec::new(["/nonexistent/vigil-none"]),
        )
        .await;
    assert!(missing.is_err(), "{missing:?}");
    wait_for(&sup, "three quitter runs", |_| {
        log.calls()
            .iter()
            .filter(|c| matches!(c, Call::Register(_, p, _) if p == "quitter"))
            .count()
            >= 3
    })
    .await;
    assert!(sup.shutdown().await.is_normal());
    let statuses = settled(&sup).await;
    let calls = log.calls();
    assert_pairs(&calls);
    let mut kinds = BTreeMap::new();
    for c in &calls {
        if let Call::Register(_, path, kind) = c {
            kinds.insert(path.clone(), *kind);
        }
    }
    assert!(!kinds.contains_key("missing"), "{kinds:?}");
    assert_eq!(kinds["task"], RunKind::Task);
    let RunKind::Process { pgid, memory_limit } = kinds["sleeper"] else {
        panic!("{kinds:?}")
    };
    assert!(pgid > 1);
    assert_eq!(memory_limit, Some(1 << 40));
    assert!(matches!(kinds["deaf"], RunKind::Process { memory_limit: None, .. }));
    // The built-ins were told the same process runs, and forgot them all.
    for name in ["process", "memory"] {
        let s = status(&statuses, name);
        assert_eq!((s.runs, s.state.clone()), (0, MonitorState::Stopped), "{name}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_all_removes_every_run_too() {
    assert!(guard::is_available(), "the test binary serves as a guard");
    let (tree, log) = process_tree("recorder");
    let sup = tree.start().expect("valid tree");
    wait_for(&sup, "the four children up", |s| status(s, "recorder").runs >= 4).await;
    sup.kill_all().await;
    settled(&sup).await;
    let registered = assert_pairs(&log.calls());
    assert!(registered.len() >= 4);
    assert!(sup.resources().await.is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_monitor_dropped_with_the_tree_is_dropped_once() {
    struct Dropped(Arc<AtomicBool>);
    impl Monitor for Dropped {
        type Error = std::convert::Infallible;
        fn name(&self) -> &str {
            "dropped"
        }
        fn interval(&self) -> Option<Duration> {
            None
        }
        async fn register(&mut self, _: &MonitoredRun, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
        async fn remove(&mut self, _: RunId, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
        async fn check(&mut self, _: &MonitorContext) -> Result<(), Self::Error> {
            unreachable!("no interval, no check")
        }
    }
    impl Drop for Dropped {
        fn drop(&mut self) {
            assert!(!self.0.swap(true, Ordering::SeqCst), "dropped twice");
        }
    }
    let dropped = Arc::new(AtomicBool::new(false));
    let sup = waiting_task(ChildSpec::worker("a"))
        .monitor(Dropped(Arc::clone(&dropped)))
        .start()
        .expect("valid tree");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(!dropped.load(Ordering::SeqCst), "alive with the tree");
    assert!(sup.shutdown().await.is_normal());
    settled(&sup).await;
    assert!(dropped.load(Ordering::SeqCst));
}

/// Releases a blocked task when dropped, so that a failing test does not
/// leave a runtime worker stuck (dropping the runtime would then hang).
struct Release(Arc<AtomicBool>);

impl Drop for Release {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_task_run_is_removed_at_its_kill() {
    let release = Release(Arc::new(AtomicBool::new(false)));
    let (entered, free) = (Arc::new(AtomicBool::new(false)), Arc::clone(&release.0));
    let in_poll = Arc::clone(&entered);
    let (m, log) = recorder("recorder", Fault::Healthy);
    let sup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("stuck").shutdown(Shutdown::Brutal), move |_| {
            let (in_poll, free) = (Arc::clone(&in_poll), Arc::clone(&free));
            async move {
                // Blocking code that never yields: it cannot be dropped.
                in_poll.store(true, Ordering::SeqCst);
                while !free.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Ok::<(), String>(())
            }
        })
        .monitor(m)
        .start()
        .expect("valid tree");
    wait_for(&sup, "the run registered", |s| status(s, "recorder").runs == 1).await;
    tokio::time::timeout(SAFETY, async {
        while !entered.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    })
    .await
    .expect("the task blocks");
    sup.request(Request::TerminateChild { path: "stuck".into() })
        .await
        .unwrap();
    assert_eq!(sup.abandoned_runs(), 1);
    wait_for(&sup, "the run removed", |s| status(s, "recorder").runs == 0).await;
    // Removed at its kill, while its poll still runs (checks may follow).
    let calls: Vec<Call> = log.calls().into_iter().filter(|c| *c != Call::Check).collect();
    assert!(
        matches!(calls.as_slice(), [Call::Register(r, ..), Call::Remove(g)] if r == g),
        "{calls:?}"
    );
    drop(release);
    assert!(sup.shutdown().await.is_normal());
    settled(&sup).await;
    assert_eq!(assert_pairs(&log.calls()).len(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_context_kept_past_the_end_of_the_tree_answers_tree_down() {
    type Kept = Arc<Mutex<Option<(MonitorContext, RunId)>>>;
    struct Keeper(Kept);
    impl Monitor for Keeper {
        type Error = std::convert::Infallible;
        fn name(&self) -> &str {
            "keeper"
        }
        fn interval(&self) -> Option<Duration> {
            None
        }
        async fn register(&mut self, run: &MonitoredRun, ctx: &MonitorContext) -> Result<(), Self::Error> {
            *self.0.lock().unwrap() = Some((ctx.clone(), run.run));
            Ok(())
        }
        async fn remove(&mut self, _: RunId, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
        async fn check(&mut self, _: &MonitorContext) -> Result<(), Self::Error> {
            Ok(())
        }
    }
    let kept: Kept = Arc::default();
    let sup = waiting_task(ChildSpec::worker("a"))
        .monitor(Keeper(Arc::clone(&kept)))
        .start()
        .expect("valid tree");
    tokio::time::sleep(Duration::from_millis(5)).await;
    assert!(sup.shutdown().await.is_normal());
    settled(&sup).await;
    let (ctx, run) = kept.lock().unwrap().take().expect("a run was registered");
    assert_eq!(ctx.name(), "keeper");
    assert_eq!(ctx.evict(run, "too late").await, Err(EvictError::TreeDown));
}
