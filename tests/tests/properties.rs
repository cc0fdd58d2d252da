//! docs/SEMANTICS.md §3-§5 as properties over generated inputs, each checked
//! against a small reference model written here (not against examples):
//!
//! 1. the restart table and the strategies: any restart type, any exit reason,
//!    one_for_one/one_for_all/rest_for_one, 1-6 children (0-5 siblings, each
//!    running, stopped after a normal exit, or terminated by the operator), any
//!    position of the child that ends;
//! 2. restart intensity: a sliding window of decisions, inclusive at its old end,
//!    for any intensity, period and sequence of crash gaps (exact multiples of
//!    the period and single nanoseconds included, to hit the boundary);
//! 3. escalation: a chain of 2-4 supervisors with random restart types and
//!    intensities; a supervisor that gives up ends with `shutdown`, its parent
//!    restarts it iff it is permanent, and that restart counts in the parent's
//!    window (the same reference window one level up).
//!
//! Time is virtual (the harness's clock); starts and stops are answered at once.
//! Scale with `VIGIL_PROPTEST_CASES` (default 256).

use std::time::Duration;

use proptest::prelude::*;
use vigil_core::{ChildSpec, ChildState, ExitReason, Reply, Request, Restart, Strategy as Strat, SupervisorSpec};
use vigil_tests::Harness;

fn cases() -> u32 {
    std::env::var("VIGIL_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256)
}

// ===================================================================== models

/// The restart table (docs/SEMANTICS.md §3), written independently of the engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    Restart,
    KeepStopped,
    Remove,
}

fn is_normal(reason: &ExitReason) -> bool {
    matches!(reason, ExitReason::Normal | ExitReason::Shutdown(_))
}

fn table(restart: Restart, reason: &ExitReason) -> Fate {
    match (restart, is_normal(reason)) {
        (Restart::Permanent, _) => Fate::Restart,
        (Restart::Transient, true) => Fate::KeepStopped,
        (Restart::Transient, false) => Fate::Restart,
        (Restart::Temporary, _) => Fate::Remove,
    }
}

/// The restart-intensity window of one supervisor (docs/SEMANTICS.md §5).
#[derive(Clone, Debug)]
struct Window {
    intensity: u32,
    period: Duration,
    decisions: Vec<Duration>,
}

impl Window {
    fn new(intensity: u32, period: Duration) -> Self {
        Window {
            intensity,
            period,
            decisions: Vec::new(),
        }
    }

    /// A new automatic restart decision at `now`: keep the entries with
    /// `t >= now - period` (inclusive), add `now`; `true` means give up.
    fn decide(&mut self, now: Duration) -> bool {
        let period = self.period;
        self.decisions.retain(|&t| t + period >= now);
        self.decisions.push(now);
        self.decisions.len() > self.intensity as usize
    }

    /// A restarted supervisor is a new one: empty history.
    fn reset(&mut self) {
        self.decisions.clear();
    }
}

// ==================================================================== helpers

fn w(name: &str) -> ChildSpec {
    ChildSpec::worker(name)
}

fn strategy_name(s: Strat) -> &'static str {
    match s {
        Strat::OneForOne => "OneForOne",
        Strat::OneForAll => "OneForAll",
        Strat::RestForOne => "RestForOne",
        Strat::OneTerminateAll => "OneTerminateAll",
    }
}

fn which_children(h: &mut Harness, path: &str) -> Vec<(String, ChildState)> {
    match h.request(Request::WhichChildren { path: path.to_owned() }) {
        Ok(Reply::Children(list)) => list.into_iter().map(|c| (c.name, c.state)).collect(),
        other => panic!("unexpected which_children answer {other:?}"),
    }
}

/// The generation in a `spawn p gen=N` / `exited p gen=N ...` line.
fn generation(line: &str) -> u64 {
    let g = line.split(" gen=").nth(1).expect("a gen= field");
    g.split(' ').next().unwrap().parse().expect("a number")
}

fn restart_type() -> impl Strategy<Value = Restart> {
    prop_oneof![
        Just(Restart::Permanent),
        Just(Restart::Transient),
        Just(Restart::Temporary)
    ]
}

fn exit_reason() -> impl Strategy<Value = ExitReason> {
    prop_oneof![
        Just(ExitReason::Normal),
        Just(ExitReason::shutdown()),
        "[a-z]{1,8}".prop_map(ExitReason::Shutdown),
        "[a-z]{0,8}".prop_map(ExitReason::Error),
        "[a-z]{0,8}".prop_map(ExitReason::Panic),
        Just(ExitReason::Killed),
        Just(ExitReason::Health),
        Just(ExitReason::Memory),
        "[a-z]{0,8}".prop_map(ExitReason::Evicted),
    ]
}

fn strategy() -> impl Strategy<Value = Strat> {
    prop_oneof![Just(Strat::OneForOne), Just(Strat::OneForAll), Just(Strat::RestForOne)]
}

/// A gap between two crashes.
#[derive(Clone, Copy, Debug)]
enum Gap {
    /// Any number of milliseconds.
    Ms(u64),
    /// Exactly the period (of supervisor `n % depth` in the chain).
    Period(usize),
    /// One nanosecond (just past an inclusive boundary).
    OneNs,
}

fn gap() -> impl Strategy<Value = Gap> {
    prop_oneof![
        3 => (0u64..=4000).prop_map(Gap::Ms),
        // Multiples of half a second: sums of these hit whole-second periods exactly.
        5 => (0u64..=8).prop_map(|k| Gap::Ms(k * 500)),
        3 => (0usize..4).prop_map(Gap::Period),
        1 => Just(Gap::OneNs),
    ]
}

fn resolve(g: Gap, periods: &[Duration]) -> Duration {
    match g {
        Gap::Ms(ms) => Duration::from_millis(ms),
        Gap::Period(i) => periods[i % periods.len()],
        Gap::OneNs => Duration::from_nanos(1),
    }
}

// ===================================================== 1. restart table/strategies

/// What a sibling of the child under test is doing when that child ends.
#[derive(Clone, Copy, Debug)]
enum Sib {
    /// Running, with this restart type.
    Running(Restart),
    /// A transient child that ended normally earlier (stopped, spec kept).
    EndedNormally,
    /// Terminated by the operator earlier (permanent or transient; stopped, spec kept).
    Terminated(Restart),
}

impl Sib {
    fn restart(self) -> Restart {
        match self {
            Sib::Running(r) | Sib::Terminated(r) => r,
            Sib::EndedNormally => Restart::Transient,
        }
    }

    fn live(self) -> bool {
        matches!(self, Sib::Running(_))
    }

    fn state(self) -> ChildState {
        if self.live() {
            ChildState::Running
        } else {
            ChildState::Stopped
        }
    }
}

fn sib() -> impl Strategy<Value = Sib> {
    prop_oneof![
        6 => restart_type().prop_map(Sib::Running),
        1 => Just(Sib::EndedNormally),
        1 => prop_oneof![Just(Restart::Permanent), Just(Restart::Transient)].prop_map(Sib::Terminated),
    ]
}

/// (children, index of the child that ends, siblings by index; the entry at the index is unused)
fn family() -> impl Strategy<Value = (usize, Vec<Sib>)> {
    (1usize..=6).prop_flat_map(|n| (0..n, prop::collection::vec(sib(), n)))
}

fn name(i: usize) -> String {
    format!("c{i}")
}

/// The reference model of one exit: the commands, the removed children, and
/// the `which_children` view afterwards.
struct Expected {
    commands: Vec<String>,
    removed: Vec<String>,
    children: Vec<(String, ChildState)>,
}

fn expected_exit(strategy: Strat, pos: usize, fate: Fate, sibs: &[Sib]) -> Expected {
    let n = sibs.len();
    let mut commands = Vec::new();
    let mut removed = Vec::new();
    let mut state: Vec<Option<ChildState>> = (0..n).map(|i| Some(sibs[i].state())).collect();
    match fate {
        Fate::KeepStopped => state[pos] = Some(ChildState::Stopped),
        Fate::Remove => {
            state[pos] = None;
            removed.push(name(pos));
        }
        Fate::Restart => {
            let affected: Vec<usize> = match strategy {
                Strat::OneForOne => vec![pos],
                Strat::OneForAll => (0..n).collect(),
                Strat::RestForOne => (pos..n).collect(),
                Strat::OneTerminateAll => unreachable!("not generated"),
            };
            let stopped_temporary = |i: usize| i != pos && matches!(sibs[i], Sib::Running(Restart::Temporary));
            // Every other live affected child is stopped, last first ...
            for &i in affected.iter().rev() {
                if i != pos && sibs[i].live() {
                    commands.push(format!("stop {}", name(i)));
                }
            }
            // ... then all affected are started in order, except temporary
            // children stopped by the round: those are removed.
            for &i in &affected {
                if stopped_temporary(i) {
                    removed.push(name(i));
                    state[i] = None;
                } else {
                    commands.push(format!("spawn {}", name(i)));
                    state[i] = Some(ChildState::Running);
                }
            }
        }
    }
    removed.sort();
    let children = (0..n).filter_map(|i| state[i].map(|s| (name(i), s))).collect();
    Expected {
        commands,
        removed,
        children,
    }
}

fn check_restart_table(
    strategy: Strat,
    pos: usize,
    restart: Restart,
    reason: ExitReason,
    mut sibs: Vec<Sib>,
) -> Result<(), TestCaseError> {
    sibs[pos] = Sib::Running(restart);
    let n = sibs.len();
    let mut spec = SupervisorSpec::new().strategy(strategy).intensity(10);
    for (i, s) in sibs.iter().enumerate() {
        spec = spec.child(w(&name(i)).restart(s.restart()));
    }
    let mut h = Harness::new(spec);
    h.start();
    h.advance(Duration::from_secs(1));
    // Bring the siblings into their generated states.
    for (i, s) in sibs.iter().enumerate() {
        match s {
            Sib::Running(_) => {}
            Sib::EndedNormally => {
                h.exit(&name(i), ExitReason::Normal);
            }
            Sib::Terminated(_) => {
                h.request(Request::TerminateChild { path: name(i) })
                    .expect("terminate_child");
            }
        }
    }
    h.advance(Duration::from_secs(1));
    let before: Vec<_> = (0..n).map(|i| (name(i), sibs[i].state())).collect();
    prop_assert_eq!(which_children(&mut h, ""), before, "setup");
    let decisions_before = h.engine().stats().restart_decisions;
    h.take_commands();
    h.take_log();

    let c = name(pos);
    let old = h.run(&c);
    h.exit(&c, reason.clone());
    let fate = table(restart, &reason);
    let exp = expected_exit(strategy, pos, fate, &sibs);

    let commands = h.take_commands();
    let events = h.take_events();
    prop_assert_eq!(&commands, &exp.commands, "commands; events: {:#?}", events);
    prop_assert_eq!(
        events.first().cloned(),
        Some(format!("exited {c} gen={} reason={reason}", old.generation))
    );
    let mut removed: Vec<String> = events
        .iter()
        .filter_map(|e| e.strip_prefix("removed ").map(str::to_owned))
        .collect();
    removed.sort();
    prop_assert_eq!(&removed, &exp.removed, "removed; events: {:#?}", events);
    let restarts: Vec<&String> = events.iter().filter(|e| e.starts_with("restart ")).collect();

    match fate {
        Fate::Restart => {
            let line = format!("restart / child={c} strategy={}", strategy_name(strategy));
            prop_assert_eq!(restarts, vec![&line], "events: {:#?}", events);
            // The decision comes before anything it causes.
            let at = events.iter().position(|e| *e == line).unwrap();
            let first_cmd = events
                .iter()
                .position(|e| e.starts_with("stop ") || e.starts_with("spawn ") || e.starts_with("kill "));
            prop_assert!(first_cmd.is_some_and(|f| at < f), "events: {:#?}", events);
            // A new run of the child, with a newer generation.
            let spawn = events
                .iter()
                .find(|e| e.starts_with(&format!("spawn {c} gen=")))
                .expect("a spawn of the child");
            prop_assert!(generation(spawn) > old.generation, "events: {:#?}", events);
            prop_assert!(h.engine().lookup(&c).is_some());
            prop_assert_eq!(h.state(&c), ChildState::Running);
            prop_assert_eq!(h.run(&c).generation, generation(spawn));
            prop_assert_eq!(h.engine().stats().restart_decisions, decisions_before + 1);
        }
        Fate::KeepStopped => {
            prop_assert!(restarts.is_empty(), "events: {:#?}", events);
            prop_assert_eq!(
                &events,
                &vec![format!("exited {c} gen={} reason={reason}", old.generation)]
            );
            prop_assert_eq!(h.engine().lookup(&c), Some(old.node), "the transient spec is kept");
            prop_assert_eq!(h.state(&c), ChildState::Stopped);
            prop_assert_eq!(h.engine().current_run(old.node), None);
            prop_assert_eq!(h.engine().stats().restart_decisions, decisions_before);
        }
        Fate::Remove => {
            prop_assert!(restarts.is_empty(), "events: {:#?}", events);
            prop_assert_eq!(h.engine().lookup(&c), None, "the temporary spec is removed");
            prop_assert_eq!(h.engine().stats().restart_decisions, decisions_before);
        }
    }
    // A temporary child is gone iff it ended (always, in this property).
    prop_assert_eq!(h.engine().lookup(&c).is_none(), restart == Restart::Temporary);
    prop_assert_eq!(which_children(&mut h, ""), exp.children);
    prop_assert!(!h.engine().is_down());
    Ok(())
}

// ================================================================ 2. intensity

fn check_intensity(
    intensity: u32,
    period: Duration,
    before: usize,
    after: usize,
    gaps: Vec<Gap>,
) -> Result<(), TestCaseError> {
    let others: Vec<String> = (0..before)
        .map(|i| format!("b{i}"))
        .chain((0..after).map(|i| format!("d{i}")))
        .collect();
    let mut spec = SupervisorSpec::new().intensity(intensity).period(period);
    for o in &others[..before] {
        spec = spec.child(w(o));
    }
    spec = spec.child(w("w"));
    for o in &others[before..] {
        spec = spec.child(w(o));
    }
    let mut h = Harness::new(spec);
    h.start();
    h.take_events();
    let mut model = Window::new(intensity, period);
    let mut now = Duration::ZERO;
    let mut restarts = 0u64;

    for (k, g) in gaps.iter().enumerate() {
        let d = resolve(*g, &[period]);
        h.advance(d);
        now += d;
        prop_assert_eq!(u128::from(h.now().as_nanos()), now.as_nanos());
        let gives_up = model.decide(now);
        h.crash("w");
        let commands = h.take_commands();
        let events = h.take_events();
        let ctx = format!(
            "crash #{k} at {now:?}, window {:?}, events {events:#?}",
            model.decisions
        );
        let gave_up = events.iter().any(|e| e.starts_with("give_up "));
        prop_assert_eq!(gave_up, gives_up, "{}", ctx);
        if !gives_up {
            prop_assert_eq!(&commands, &vec!["spawn w".to_owned()], "{}", ctx);
            prop_assert_eq!(
                events.iter().filter(|e| e.starts_with("restart ")).collect::<Vec<_>>(),
                vec!["restart / child=w strategy=OneForOne"],
                "{}",
                ctx
            );
            prop_assert!(!h.engine().is_down(), "{}", ctx);
            prop_assert_eq!(h.state("w"), ChildState::Running);
            restarts += 1;
            prop_assert_eq!(h.engine().stats().restart_decisions, restarts);
            continue;
        }
        // Gives up: no restart, every other child stopped last first, the tree ends.
        let stops: Vec<String> = others.iter().rev().map(|o| format!("stop {o}")).collect();
        prop_assert_eq!(&commands, &stops, "{}", ctx);
        let decisions: Vec<&String> = events
            .iter()
            .filter(|e| {
                ["restart ", "give_up ", "sup_exit ", "tree_down "]
                    .iter()
                    .any(|p| e.starts_with(p))
            })
            .collect();
        prop_assert_eq!(
            decisions,
            vec!["give_up /", "sup_exit / reason=shutdown", "tree_down reason=shutdown"],
            "{}",
            ctx
        );
        let give_up = events.iter().position(|e| e == "give_up /").unwrap();
        for (i, e) in events.iter().enumerate() {
            if e.starts_with("stop ") || e.starts_with("kill ") || e.starts_with("spawn ") {
                prop_assert!(give_up < i, "give_up after `{}`: {}", e, ctx);
            }
        }
        prop_assert_eq!(events.last().map(String::as_str), Some("tree_down reason=shutdown"));
        prop_assert!(h.engine().is_down(), "{}", ctx);
        prop_assert_eq!(h.engine().stats().give_ups, 1);
        return Ok(());
    }
    prop_assert!(!h.engine().is_down());
    prop_assert_eq!(h.engine().stats().give_ups, 0);
    Ok(())
}

// =============================================================== 3. escalation

/// One supervisor of the chain: its restart type (ignored for the root), its
/// window, and whether it has a worker `x<level>` before the next link.
#[derive(Clone, Copy, Debug)]
struct Link {
    restart: Restart,
    intensity: u32,
    period_s: u64,
    sibling: bool,
}

fn link() -> impl Strategy<Value = Link> {
    // Mostly permanent, so that escalation often reaches the root.
    let restart = prop_oneof![
        3 => Just(Restart::Permanent),
        1 => Just(Restart::Transient),
        1 => Just(Restart::Temporary),
    ];
    (restart, 0u32..=3, 1u64..=10, any::<bool>()).prop_map(|(restart, intensity, period_s, sibling)| Link {
        restart,
        intensity,
        period_s,
        sibling,
    })
}

/// Path of the supervisor at `level` (`""` for the root).
fn sup_path(level: usize) -> String {
    (1..=level).map(|l| format!("s{l}")).collect::<Vec<_>>().join("/")
}

/// Path of a child `name` of the supervisor at `level`.
fn under(level: usize, name: &str) -> String {
    if level == 0 {
        name.to_owned()
    } else {
        format!("{}/{name}", sup_path(level))
    }
}

/// How a supervisor is shown in notices.
fn shown(level: usize) -> String {
    if level == 0 {
        "/".to_owned()
    } else {
        sup_path(level)
    }
}

fn chain_spec(links: &[Link], level: usize) -> SupervisorSpec {
    let l = links[level];
    let mut spec = SupervisorSpec::new()
        .intensity(l.intensity)
        .period(Duration::from_secs(l.period_s));
    if l.sibling {
        spec = spec.child(w(&format!("x{level}")));
    }
    if level + 1 == links.len() {
        spec.child(w("w"))
    } else {
        let next = &links[level + 1];
        spec.child(ChildSpec::supervisor(format!("s{}", level + 1), chain_spec(links, level + 1)).restart(next.restart))
    }
}

/// What the reference model says one crash of the leaf leads to.
#[derive(Debug, PartialEq, Eq)]
enum Outcome {
    /// The supervisor at this level restarted its chain child (the leaf, or a
    /// child supervisor with its whole subtree).
    Restarted(usize),
    /// The supervisor at this level gave up and was not restarted (transient
    /// or temporary); its subtree, leaf included, is gone.
    Gone(usize),
    /// The root gave up.
    TreeDown,
}

struct ChainModel {
    links: Vec<Link>,
    windows: Vec<Window>,
}

impl ChainModel {
    fn new(links: &[Link]) -> Self {
        ChainModel {
            links: links.to_vec(),
            windows: links
                .iter()
                .map(|l| Window::new(l.intensity, Duration::from_secs(l.period_s)))
                .collect(),
        }
    }

    /// The leaf crashes at `now`: the decision lines, the worker commands, and the outcome.
    fn crash(&mut self, now: Duration) -> (Vec<String>, Vec<String>, Outcome) {
        let depth = self.links.len();
        let mut lines = Vec::new();
        let mut cmds = Vec::new();
        let mut level = depth - 1;
        loop {
            let child = if level + 1 == depth {
                under(level, "w")
            } else {
                sup_path(level + 1)
            };
            if !self.windows[level].decide(now) {
                lines.push(format!("restart {} child={child} strategy=OneForOne", shown(level)));
                // Everything below is new: empty histories, workers started in order.
                for l in level + 1..depth {
                    self.windows[l].reset();
                    if self.links[l].sibling {
                        cmds.push(format!("spawn {}", under(l, &format!("x{l}"))));
                    }
                }
                cmds.push(format!("spawn {}", under(depth - 1, "w")));
                return (lines, cmds, Outcome::Restarted(level));
            }
            lines.push(format!("give_up {}", shown(level)));
            if self.links[level].sibling {
                cmds.push(format!("stop {}", under(level, &format!("x{level}"))));
            }
            lines.push(format!("sup_exit {} reason=shutdown", shown(level)));
            if level == 0 {
                lines.push("tree_down reason=shutdown".to_owned());
                return (lines, cmds, Outcome::TreeDown);
            }
            // The parent sees an exit with `shutdown` (normal): the table decides.
            match table(self.links[level].restart, &ExitReason::shutdown()) {
                Fate::Restart => level -= 1,
                Fate::KeepStopped | Fate::Remove => return (lines, cmds, Outcome::Gone(level)),
            }
        }
    }
}

fn check_escalation(links: Vec<Link>, gaps: Vec<Gap>) -> Result<(), TestCaseError> {
    let depth = links.len();
    let periods: Vec<Duration> = links.iter().map(|l| Duration::from_secs(l.period_s)).collect();
    let leaf = under(depth - 1, "w");
    let mut h = Harness::new(chain_spec(&links, 0));
    h.start();
    h.take_events();
    let mut model = ChainModel::new(&links);
    let mut now = Duration::ZERO;

    for (k, g) in gaps.iter().enumerate() {
        let d = resolve(*g, &periods);
        h.advance(d);
        now += d;
        let (exp_lines, exp_cmds, outcome) = model.crash(now);
        h.crash(&leaf);
        let commands = h.take_commands();
        let events = h.take_events();
        let ctx = format!("crash #{k} at {now:?}, expected {outcome:?}, events {events:#?}");
        let decisions: Vec<String> = events
            .iter()
            .filter(|e| {
                ["restart ", "give_up ", "sup_exit ", "tree_down "]
                    .iter()
                    .any(|p| e.starts_with(p))
            })
            .cloned()
            .collect();
        prop_assert_eq!(&decisions, &exp_lines, "{}", ctx);
        prop_assert_eq!(&commands, &exp_cmds, "{}", ctx);
        // Each give-up is reported before any of that supervisor's own children is stopped.
        for (gi, e) in events.iter().enumerate() {
            let Some(sup) = e.strip_prefix("give_up ") else {
                continue;
            };
            let prefix = if sup == "/" { String::new() } else { format!("{sup}/") };
            for (si, s) in events.iter().enumerate() {
                let Some(rest) = s.strip_prefix("stop ").or_else(|| s.strip_prefix("kill ")) else {
                    continue;
                };
                let target = rest.split(' ').next().unwrap();
                let direct = target.strip_prefix(&prefix).is_some_and(|r| !r.contains('/'));
                if direct {
                    prop_assert!(gi < si, "`{}` before `{}`: {}", s, e, ctx);
                }
            }
        }
        match outcome {
            Outcome::Restarted(_) => {
                prop_assert!(!h.engine().is_down(), "{}", ctx);
                prop_assert_eq!(h.state(&leaf), ChildState::Running);
                for l in 1..depth {
                    prop_assert_eq!(h.state(&sup_path(l)), ChildState::Running);
                }
            }
            Outcome::Gone(level) => {
                prop_assert!(!h.engine().is_down(), "{}", ctx);
                let p = sup_path(level);
                match links[level].restart {
                    Restart::Transient => prop_assert_eq!(h.state(&p), ChildState::Stopped, "{}", ctx),
                    Restart::Temporary => prop_assert_eq!(h.engine().lookup(&p), None, "{}", ctx),
                    Restart::Permanent => unreachable!(),
                }
                // The parent and everything above it are untouched.
                for l in 1..level {
                    prop_assert_eq!(h.state(&sup_path(l)), ChildState::Running);
                }
                return Ok(());
            }
            Outcome::TreeDown => {
                prop_assert!(h.engine().is_down(), "{}", ctx);
                return Ok(());
            }
        }
    }
    Ok(())
}

// ================================================================= properties

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn restart_table_and_strategy_decide_what_is_stopped_and_started(
        restart in restart_type(),
        reason in exit_reason(),
        strategy in strategy(),
        (pos, sibs) in family(),
    ) {
        check_restart_table(strategy, pos, restart, reason, sibs)?;
    }

    #[test]
    fn supervisor_gives_up_exactly_when_the_reference_window_overflows(
        intensity in 0u32..6,
        period_s in 1u64..=10,
        before in 0usize..=2,
        after in 0usize..=2,
        gaps in prop::collection::vec(gap(), 1..=30),
    ) {
        check_intensity(intensity, Duration::from_secs(period_s), before, after, gaps)?;
    }

    #[test]
    fn escalation_restarts_permanent_child_supervisors_and_counts_them_one_level_up(
        links in prop::collection::vec(link(), 2..=4),
        gaps in prop::collection::vec(gap(), 1..=30),
    ) {
        check_escalation(links, gaps)?;
    }
}
