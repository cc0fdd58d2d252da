//! Reading a trace line by line into the timeline: which failure each
//! decision answers, the intensity windows, and what each round, request
//! and end stopped and started.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use vigil_core::{ChildKind, ChildSpec, SupervisorSpec};

use super::error::ExplainError;
use super::trace_line::TraceLine;
use super::wall_clock::parse_rfc3339;
use super::window::{Decision, Window};
use super::{Cause, Entry, EntryKind, Explanation, MetaInfo, RequestInfo, WindowView};

/// What the config says of a supervisor.
struct SupInfo {
    strategy: &'static str,
    intensity: u32,
    period: Duration,
}

/// What the config says of a worker's deadlines.
#[derive(Default)]
struct Deadlines {
    startup: Option<Duration>,
    health: Option<Duration>,
}

pub(super) struct Builder {
    sups: BTreeMap<String, SupInfo>,
    workers: BTreeMap<String, Deadlines>,
    windows: BTreeMap<String, Window>,
    /// Failures not yet answered by a decision, by child path.
    pending: BTreeMap<String, Cause>,
    /// Runs the engine asked to stop (their exit is a consequence, not a cause).
    stopping: BTreeSet<(String, u64)>,
    /// Runs killed for a deadline or evicted (their exit is a cause).
    forced: BTreeSet<(String, u64)>,
    /// Supervisors their parent is stopping.
    sup_stopped: BTreeSet<String>,
    /// The open entry of each supervisor (its round, give-up or end).
    round: BTreeMap<String, usize>,
    /// Open requests, by id.
    requests: BTreeMap<u64, usize>,
    /// Each supervisor's latest give-up entry.
    give_ups: BTreeMap<String, usize>,
    out: Explanation,
}

fn parent(path: &str) -> Option<&str> {
    if path.is_empty() {
        return None;
    }
    Some(path.rsplit_once('/').map_or("", |(p, _)| p))
}

fn under(path: &str, prefix: &str) -> bool {
    prefix.is_empty() || path == prefix || path.strip_prefix(prefix).is_some_and(|r| r.starts_with('/'))
}

impl Builder {
    pub(super) fn new(root: &SupervisorSpec) -> Self {
        let mut b = Builder {
            sups: BTreeMap::new(),
            workers: BTreeMap::new(),
            windows: BTreeMap::new(),
            pending: BTreeMap::new(),
            stopping: BTreeSet::new(),
            forced: BTreeSet::new(),
            sup_stopped: BTreeSet::new(),
            round: BTreeMap::new(),
            requests: BTreeMap::new(),
            give_ups: BTreeMap::new(),
            out: Explanation::default(),
        };
        b.learn("", root);
        b
    }

    fn learn(&mut self, path: &str, spec: &SupervisorSpec) {
        let strategy = vigil_trace::strategy_name(spec.strategy);
        self.sups.insert(
            path.to_owned(),
            SupInfo {
                strategy,
                intensity: spec.intensity,
                period: spec.period,
            },
        );
        for c in &spec.children {
            let p = if path.is_empty() {
                c.name.clone()
            } else {
                format!("{path}/{}", c.name)
            };
            self.learn_child(&p, c);
        }
    }

    /// What a child's spec says, the child at `path`: a supervisor's
    /// strategy and limits (and its children's), a worker's deadlines.
    fn learn_child(&mut self, path: &str, c: &ChildSpec) {
        match &c.kind {
            ChildKind::Supervisor(s) => self.learn(path, s),
            ChildKind::Worker => {
                let d = Deadlines {
                    startup: c.startup_timeout,
                    health: c.health_timeout,
                };
                self.workers.insert(path.to_owned(), d);
            }
        }
    }

    pub(super) fn run(mut self, trace: &str) -> Result<Explanation, ExplainError> {
        let ends_whole = trace.is_empty() || trace.ends_with('\n');
        let lines: Vec<&str> = trace.lines().collect();
        let mut previous = 0;
        for (i, text) in lines.iter().enumerate() {
            let n = i + 1;
            if text.trim().is_empty() {
                continue;
            }
            let line = match TraceLine::parse(text, n) {
                Ok(l) => l,
                // A last line without its newline that does not parse: cut short.
                Err(ExplainError::NotJson { .. }) if n == lines.len() && !ends_whole => {
                    self.out.truncated_last_line = Some(n);
                    break;
                }
                Err(e) => return Err(e),
            };
            if line.t < previous {
                return Err(ExplainError::Backwards {
                    line: n,
                    t: line.t,
                    previous,
                });
            }
            previous = line.t;
            self.out.lines = n;
            self.out.last_t = line.t;
            *self.out.counts.entry(line.ev.clone()).or_default() += 1;
            self.event(&line)?;
        }
        Ok(self.out)
    }

    fn event(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        match l.ev.as_str() {
            "meta" if l.line == 1 => self.meta(l),
            "spawn" => self.spawn(l)?,
            "stop" | "kill" => self.stop(l)?,
            "sup_stop" => {
                let p = l.need_path()?.to_owned();
                self.credit(&p, false, &p);
                self.sup_stopped.insert(p);
            }
            "sup_starting" => {
                let p = l.need_path()?.to_owned();
                self.windows.remove(&p);
                self.sup_stopped.remove(&p);
                self.pending.remove(&p);
                if !p.is_empty() {
                    self.credit(&p, true, &p);
                }
            }
            "exited" => self.exited(l)?,
            "start_failed" => {
                let p = l.need_path()?.to_owned();
                let reason = l.text("error").unwrap_or_default().to_owned();
                self.fail(l, p, "start_failed", reason, None);
            }
            "timeout" | "evict" => self.forced(l)?,
            "restart" => self.restart(l)?,
            "backoff" => self.backoff(l)?,
            "give_up" => self.give_up(l)?,
            "sup_ending" => self.sup_ending(l)?,
            "sup_exit" => self.sup_exit(l)?,
            "tree_down" => self.tree_down(l),
            "request" => self.request(l)?,
            "reply" => {
                if let Some(i) = l.number("id").and_then(|id| self.requests.remove(&id)) {
                    if let Some(r) = self.out.entries[i].request.as_mut() {
                        r.result = l.text("result").map(str::to_owned);
                        r.reply_t = Some(l.t);
                    }
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn meta(&mut self, l: &TraceLine) {
        let wall_origin_ns = l.strings().find_map(|(_, v)| parse_rfc3339(v));
        self.out.meta = Some(MetaInfo {
            seed: l.number("seed"),
            origin: l.text("origin").map(str::to_owned),
            wall_origin_ns,
        });
    }

    fn entry(&mut self, l: &TraceLine, kind: EntryKind, path: &str) -> usize {
        self.out.entries.push(Entry {
            t: l.t,
            line: l.line,
            kind,
            path: path.to_owned(),
            child: None,
            gen: l.gen,
            strategy: None,
            cause: None,
            window: None,
            agrees: true,
            stopped: Vec::new(),
            started: Vec::new(),
            backoff_ns: None,
            reason: None,
            deadline: None,
            request: None,
            chain: Vec::new(),
        });
        self.out.entries.len() - 1
    }

    /// Credit a start or stop of `path` (`label`) to the open request that
    /// covers it, else to its supervisor's open round.
    fn credit(&mut self, path: &str, started: bool, label: &str) {
        let by_request = self
            .requests
            .values()
            .rev()
            .copied()
            .find(|&i| under(path, &self.out.entries[i].path));
        let target = by_request.or_else(|| parent(path).and_then(|p| self.round.get(p).copied()));
        if let Some(i) = target {
            let e = &mut self.out.entries[i];
            let list = if started { &mut e.started } else { &mut e.stopped };
            list.push(label.to_owned());
        }
    }

    fn spawn(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let p = l.need_path()?.to_owned();
        self.pending.remove(&p);
        self.credit(&p, true, &p);
        Ok(())
    }

    fn stop(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let p = l.need_path()?.to_owned();
        let run = (p.clone(), l.gen.unwrap_or(u64::MAX));
        if self.forced.contains(&run) {
            return Ok(());
        }
        if l.ev == "kill" {
            if self.stopping.contains(&run) {
                // Killed after its shutdown time: mark the stop already credited.
                self.credit(&p, false, &format!("{p} (killed after its shutdown time)"));
            } else {
                self.stopping.insert(run);
                self.credit(&p, false, &format!("{p} (killed)"));
            }
            return Ok(());
        }
        self.stopping.insert(run);
        self.credit(&p, false, &p);
        Ok(())
    }

    fn exited(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let p = l.need_path()?.to_owned();
        let gen = l.gen.unwrap_or(u64::MAX);
        let run = (p.clone(), gen);
        self.forced.remove(&run);
        if self.stopping.remove(&run) {
            return Ok(());
        }
        let reason = l.text("reason").unwrap_or_default().to_owned();
        self.fail(l, p, "exited", reason, None);
        Ok(())
    }

    fn fail(&mut self, l: &TraceLine, path: String, what: &'static str, reason: String, gave_up: Option<usize>) {
        let cause = Cause {
            t: l.t,
            line: l.line,
            path: path.clone(),
            gen: l.gen,
            what,
            reason,
            gave_up,
        };
        self.pending.insert(path, cause);
    }

    fn forced(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let p = l.need_path()?.to_owned();
        let kind = if l.ev == "timeout" {
            EntryKind::Timeout
        } else {
            EntryKind::Evict
        };
        let reason = l.need("reason")?.to_owned();
        let deadline = self.workers.get(&p).and_then(|d| match reason.as_str() {
            "health" => d.health,
            "start_timeout" => d.startup,
            _ => None,
        });
        self.forced.insert((p.clone(), l.gen.unwrap_or(u64::MAX)));
        let i = self.entry(l, kind, &p);
        self.out.entries[i].reason = Some(reason);
        self.out.entries[i].deadline = deadline;
        Ok(())
    }

    /// Record a decision of supervisor `s` in its window: `None` for a
    /// supervisor neither the config nor a request of the trace describes
    /// (its limits are unknown: counted, not guessed).
    fn decide(&mut self, l: &TraceLine, s: &str, child: Option<String>) -> Option<WindowView> {
        let Some(info) = self.sups.get(s) else {
            self.out.unknown_windows = self.out.unknown_windows.saturating_add(1);
            return None;
        };
        let (intensity, period) = (info.intensity, info.period);
        let w = self.windows.entry(s.to_owned()).or_default();
        let exceeded = w.record(Decision { t: l.t, child }, intensity, period);
        Some(WindowView {
            intensity,
            period,
            decisions: w.decisions(),
            exceeded,
        })
    }

    fn restart(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let s = l.need_path()?.to_owned();
        let child = l.need("child")?.to_owned();
        let window = self.decide(l, &s, Some(child.clone()));
        let i = self.entry(l, EntryKind::Restart, &s);
        let e = &mut self.out.entries[i];
        e.agrees = window.as_ref().is_none_or(|w| !w.exceeded);
        e.gen = None;
        e.strategy = l.text("strategy").map(str::to_owned);
        e.cause = self.pending.remove(&child);
        e.child = Some(child);
        e.window = window;
        self.out.disagreements += u64::from(!self.out.entries[i].agrees);
        self.round.insert(s, i);
        Ok(())
    }

    fn backoff(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let p = l.need_path()?;
        let open = parent(p).and_then(|s| self.round.get(s).copied());
        if let Some(i) = open.filter(|&i| self.out.entries[i].child.as_deref() == Some(p)) {
            self.out.entries[i].backoff_ns = l.number("delay_ns");
        }
        Ok(())
    }

    /// The failure a supervisor's give-up or end answers: the latest
    /// unanswered one of its children, taken.
    fn take_latest_failure_under(&mut self, sup: &str) -> Option<Cause> {
        let key = self
            .pending
            .iter()
            .filter(|(p, _)| parent(p) == Some(sup))
            .max_by_key(|(_, c)| c.line)
            .map(|(p, _)| p.clone())?;
        self.pending.remove(&key)
    }

    fn give_up(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let s = l.need_path()?.to_owned();
        let cause = self.take_latest_failure_under(&s);
        let window = self.decide(l, &s, cause.as_ref().map(|c| c.path.clone()));
        let i = self.entry(l, EntryKind::GiveUp, &s);
        let e = &mut self.out.entries[i];
        e.gen = None;
        e.agrees = window.as_ref().is_none_or(|w| w.exceeded);
        e.strategy = self.sups.get(&s).map(|x| x.strategy.to_owned());
        e.cause = cause;
        e.window = window;
        self.out.disagreements += u64::from(!self.out.entries[i].agrees);
        self.round.insert(s.clone(), i);
        self.give_ups.insert(s, i);
        Ok(())
    }

    fn sup_ending(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let s = l.need_path()?.to_owned();
        let reason = l.need("reason")?.to_owned();
        let gave_up_now = self
            .round
            .get(&s)
            .copied()
            .filter(|&i| self.out.entries[i].kind == EntryKind::GiveUp && self.out.entries[i].t == l.t);
        if let Some(i) = gave_up_now {
            self.out.entries[i].reason = Some(reason);
            return Ok(());
        }
        self.round.remove(&s);
        if self.sup_stopped.contains(&s) {
            // Its parent is stopping it: part of the parent's round.
            return Ok(());
        }
        let i = self.entry(l, EntryKind::Shutdown, &s);
        let by_request = self.requests.values().copied().find(|&r| {
            let e = &self.out.entries[r];
            e.request.as_ref().is_some_and(|q| q.op == "shutdown") && under(&s, &e.path)
        });
        let cause = if by_request.is_some() {
            None
        } else {
            self.take_latest_failure_under(&s)
        };
        let request = by_request.and_then(|r| self.out.entries[r].request.clone());
        let e = &mut self.out.entries[i];
        e.reason = Some(reason);
        e.cause = cause;
        e.request = request;
        self.round.insert(s, i);
        Ok(())
    }

    fn sup_exit(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let s = l.need_path()?.to_owned();
        self.windows.remove(&s);
        self.round.remove(&s);
        let stopped = self.sup_stopped.remove(&s);
        if !s.is_empty() && !stopped {
            let reason = l.need("reason")?.to_owned();
            let gave_up = self.give_ups.get(&s).copied();
            self.fail(l, s, "ended", reason, gave_up);
        }
        Ok(())
    }

    fn tree_down(&mut self, l: &TraceLine) {
        let reason = l.text("reason").unwrap_or_default().to_owned();
        let chain = self.chain();
        let i = self.entry(l, EntryKind::TreeDown, "");
        let e = &mut self.out.entries[i];
        e.gen = None;
        e.reason = Some(reason);
        e.chain = chain;
    }

    /// How the root came to end: its give-up (or end) and, through each
    /// nested supervisor that gave up, down to the first failure.
    fn chain(&self) -> Vec<String> {
        let mut chain = Vec::new();
        let ended = self
            .out
            .entries
            .iter()
            .rposition(|e| e.path.is_empty() && matches!(e.kind, EntryKind::GiveUp | EntryKind::Shutdown));
        let mut next = ended;
        while let Some(i) = next.take() {
            let e = &self.out.entries[i];
            let at = super::render::secs(e.t);
            let who = super::render::sup_name(&e.path);
            chain.push(match e.kind {
                EntryKind::GiveUp => format!("{who} gave up at {at}"),
                _ => format!("{who} ended at {at}: {}", e.reason.as_deref().unwrap_or("?")),
            });
            if let Some(r) = &e.request {
                chain.push(format!("request #{} {}", r.id, r.op));
            }
            if let Some(c) = &e.cause {
                match c.gave_up {
                    Some(g) if chain.len() <= 64 => next = Some(g),
                    _ => chain.push(super::render::cause_text(c)),
                }
            }
        }
        chain
    }

    fn request(&mut self, l: &TraceLine) -> Result<(), ExplainError> {
        let p = l.need_path()?.to_owned();
        let op = l.need("op")?.to_owned();
        let id = l.number("id").unwrap_or_default();
        // A child added or replaced at run time (a reload, `ctl start-child`):
        // a real run's trace records its spec (docs/TRACE.md).
        if matches!(op.as_str(), "start_child" | "replace_child") {
            if let Some(spec) = l.field("spec").and_then(|v| vigil_trace::read_child_spec(v).ok()) {
                self.learn_child(&p, &spec);
            }
        }
        let i = self.entry(l, EntryKind::Request, &p);
        self.out.entries[i].gen = None;
        self.out.entries[i].request = Some(RequestInfo {
            op,
            id,
            result: None,
            reply_t: None,
        });
        self.requests.insert(id, i);
        Ok(())
    }
}
