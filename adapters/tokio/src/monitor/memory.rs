//! The memory monitor: per-child limits, a limit over the tree, leaks.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use vigil_core::{Eviction, RunId};

use super::proc_sampler::ProcSampler;
use super::sample::Sample;
use super::settings::MonitorSettings;
use super::{Monitor, MonitorContext, MonitoredRun, Watch};

/// Leak detection: the run's first sample sets a mark; a sample in which its
/// memory exceeds the mark by at least `growth` bytes counts as one growth
/// and moves the mark there; after `count` growths the run is evicted. Smaller
/// rises do not move the mark, so a slow, steady leak adds up to growths too,
/// and falling memory never takes growths back. A run that settles at any
/// level stops counting.
///
/// ```
/// use vigil_tokio::monitor::{LeakDetection, MonitorSettings};
///
/// // Five growths of 64 MiB each (over the highest value so far) are a leak.
/// let settings = MonitorSettings {
///     leak: Some(LeakDetection { growth: 64 << 20, count: 5 }),
///     ..MonitorSettings::default()
/// };
/// # let _ = settings;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LeakDetection {
    /// The least growth over the highest value so far that counts.
    pub growth: u64,
    /// How many growths make a leak (0 reads as 1).
    pub count: u32,
}

/// The built-in `memory` monitor. Evicts (reason `memory`) a run whose
/// process group uses more memory than its child's `memory_limit`, the
/// largest run while the whole tree uses more than the tree limit (one per
/// sample, then the next sample decides again), and a run that leaks
/// ([`LeakDetection`]). Memory is PSS where readable, else RSS, summed over
/// the run's process group. Each run is evicted at most once: the engine
/// stops it, and its next run starts with a clean record. It samples `/proc`
/// every interval while it has something to enforce, and not at all otherwise.
#[derive(Debug)]
pub(crate) struct MemoryMonitor {
    interval: Duration,
    tree_limit: Option<u64>,
    leak: Option<LeakDetection>,
    runs: BTreeMap<RunId, Watched>,
    /// How many of `runs` have their own limit.
    limited: usize,
    /// Made at the first sample (see the process monitor's).
    sampler: Option<ProcSampler>,
}

#[derive(Debug)]
struct Watched {
    path: Arc<str>,
    pgid: u32,
    limit: Option<u64>,
    mark: Option<u64>,
    growths: u32,
    evicted: bool,
}

/// A run the monitor decided to evict, and why (for the log).
type Decision = (RunId, String);

impl MemoryMonitor {
    /// A monitor with `settings`' tree limit and leak detection (per-child
    /// limits come with each registered run).
    pub(crate) fn new(settings: MonitorSettings) -> Self {
        MemoryMonitor {
            interval: settings.interval,
            tree_limit: settings.tree_memory_limit,
            leak: settings.leak.map(|l| LeakDetection {
                count: l.count.max(1),
                ..l
            }),
            runs: BTreeMap::new(),
            limited: 0,
            sampler: None,
        }
    }

    fn note(&mut self, run: &MonitoredRun) {
        let Some(pgid) = run.kind.pgid() else { return };
        let limit = run.kind.memory_limit();
        self.limited += usize::from(limit.is_some());
        let old = self.runs.insert(
            run.run,
            Watched {
                path: Arc::clone(&run.path),
                pgid,
                limit,
                mark: None,
                growths: 0,
                evicted: false,
            },
        );
        if let Some(old) = old {
            self.limited -= usize::from(old.limit.is_some());
        }
    }

    fn forget(&mut self, run: RunId) {
        if let Some(w) = self.runs.remove(&run) {
            self.limited -= usize::from(w.limit.is_some());
        }
    }

    /// Whether it has something to enforce: a run with a limit, or runs
    /// under a tree limit or leak detection.
    fn needs_periodic_samples(&self) -> bool {
        self.limited > 0 || (!self.runs.is_empty() && (self.tree_limit.is_some() || self.leak.is_some()))
    }

    /// Mark `run` evicted (once) and say why.
    fn evict(&mut self, run: RunId, why: String, out: &mut Vec<Decision>) {
        if let Some(w) = self.runs.get_mut(&run) {
            if !w.evicted {
                w.evicted = true;
                out.push((run, why));
            }
        }
    }

    /// Sample the watched groups, with PSS where [`pss_wanted`](Self::pss_wanted)
    /// says, on a blocking thread.
    async fn sample(&mut self) -> Result<Sample, String> {
        let sampler = *self.sampler.get_or_insert_with(ProcSampler::new);
        let groups: BTreeMap<u32, RunId> = self.runs.iter().map(|(r, w)| (w.pgid, *r)).collect();
        // Reading /proc blocks: off the runtime's threads.
        let (mut sample, members) = tokio::task::spawn_blocking(move || sampler.sample(&groups))
            .await
            .map_err(|e| format!("sampling /proc failed: {e}"))?;
        let mut pss = BTreeSet::new();
        self.pss_wanted(&sample, &mut pss);
        if !pss.is_empty() {
            sample = tokio::task::spawn_blocking(move || {
                sampler.add_pss(&mut sample, &members, pss);
                sample
            })
            .await
            .map_err(|e| format!("reading PSS from /proc failed: {e}"))?;
        }
        Ok(sample)
    }
}

impl Monitor for MemoryMonitor {
    type Error = String;

    fn name(&self) -> &str {
        "memory"
    }

    fn interval(&self) -> Option<Duration> {
        self.needs_periodic_samples().then_some(self.interval)
    }

    fn watches(&self) -> Watch {
        Watch::ProcessRuns
    }

    async fn register(&mut self, run: &MonitoredRun, _: &MonitorContext) -> Result<(), String> {
        self.note(run);
        Ok(())
    }

    async fn remove(&mut self, run: RunId, _: &MonitorContext) -> Result<(), String> {
        self.forget(run);
        Ok(())
    }

    async fn check(&mut self, ctx: &MonitorContext) -> Result<(), String> {
        if !self.needs_periodic_samples() {
            return Ok(());
        }
        let sample = self.sample().await?;
        let mut evict = Vec::new();
        self.decide(&sample, &mut evict);
        for (run, why) in evict {
            let path = self.runs.get(&run).map(|w| Arc::clone(&w.path)).unwrap_or_default();
            tracing::warn!(target: "vigil::monitor", path = &*path, generation = run.generation,
                "memory: {why}; restarting it");
            // Stale (the run ended since the sample): nothing to do.
            let _ = ctx.evict_with(run, Eviction::Memory).await;
        }
        Ok(())
    }

    fn detail(&self) -> String {
        let mut detail = String::new();
        use std::fmt::Write as _;
        let _ = write!(detail, "{} run(s) with a memory_limit", self.limited);
        if let Some(l) = self.tree_limit {
            let _ = write!(detail, ", tree limit {l} bytes");
        }
        if let Some(l) = self.leak {
            let _ = write!(detail, ", leak after {} growth(s) of {} bytes", l.count, l.growth);
        }
        detail
    }
}

impl MemoryMonitor {
    /// PSS never exceeds RSS, so a run whose RSS is within its limit is
    /// within it by PSS too: PSS is read only for runs over their limit by
    /// RSS, for every run while the tree is over its limit by RSS, and for
    /// every run under leak detection (its mark must be kept in one measure).
    fn pss_wanted(&self, sample: &Sample, out: &mut BTreeSet<RunId>) {
        let live = || {
            sample
                .usage
                .iter()
                .filter(|(r, _)| self.runs.get(r).is_some_and(|w| !w.evicted))
        };
        let tree_over = self
            .tree_limit
            .is_some_and(|l| live().map(|(_, u)| u.rss_bytes).fold(0u64, u64::saturating_add) > l);
        for (run, u) in live() {
            let own_over = self.runs[run].limit.is_some_and(|l| u.rss_bytes > l);
            if own_over || tree_over || self.leak.is_some() {
                out.insert(*run);
            }
        }
    }

    /// Look at a sample; push the runs to evict, and why, onto `evict`.
    fn decide(&mut self, sample: &Sample, evict: &mut Vec<Decision>) {
        let mut total: u64 = 0;
        let mut largest: Option<(u64, RunId)> = None;
        let mut over: Vec<(RunId, u64, u64)> = Vec::new();
        let mut leaking: Vec<(RunId, u64, u32)> = Vec::new();
        for (&run, usage) in &sample.usage {
            let Some(w) = self.runs.get_mut(&run) else { continue };
            if w.evicted {
                continue;
            }
            let memory = usage.memory();
            total = total.saturating_add(memory);
            if largest.is_none_or(|(m, _)| memory > m) {
                largest = Some((memory, run));
            }
            if let Some(limit) = w.limit.filter(|&l| memory > l) {
                over.push((run, memory, limit));
            }
            if let Some(leak) = self.leak {
                match w.mark {
                    None => w.mark = Some(memory),
                    Some(mark) if memory >= mark.saturating_add(leak.growth) => {
                        w.mark = Some(memory);
                        w.growths = w.growths.saturating_add(1);
                        if w.growths >= leak.count {
                            leaking.push((run, memory, w.growths));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        for (run, memory, limit) in over {
            self.evict(run, format!("{memory} bytes, over its limit of {limit}"), evict);
        }
        for (run, memory, growths) in leaking {
            self.evict(run, format!("a leak: {growths} growths, now {memory} bytes"), evict);
        }
        if let (Some(limit), Some((memory, run))) = (self.tree_limit, largest) {
            let already = evict.iter().any(|(r, _)| *r == run);
            if total > limit && !already {
                self.evict(
                    run,
                    format!(
                        "the tree uses {total} bytes, over its limit of {limit}; this is its largest child ({memory} bytes)"
                    ),
                    evict,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::sample::GroupUsage;
    use crate::monitor::RunKind;
    use vigil_core::{ChildSpec, Command, Engine, SupervisorSpec};

    /// `n` distinct runs (of workers w0..wn).
    fn runs(n: usize) -> Vec<RunId> {
        let mut spec = SupervisorSpec::new();
        for i in 0..n {
            spec = spec.child(ChildSpec::worker(format!("w{i}")));
        }
        let mut e = Engine::new(spec, 0).unwrap();
        e.start(vigil_core::Instant::ZERO);
        let mut out = Vec::new();
        while let Some(Command::Spawn(r)) = e.poll_command() {
            out.push(r);
            e.handle(vigil_core::Input::Started(r), vigil_core::Instant::ZERO);
        }
        out
    }

    fn watched(run: RunId, limit: Option<u64>) -> MonitoredRun {
        MonitoredRun {
            run,
            path: format!("w{}", run.node.index()).into(),
            kind: RunKind::Process {
                pgid: 1,
                memory_limit: limit,
            },
            started: tokio::time::Instant::now(),
        }
    }

    fn sample(usage: &[(RunId, u64)]) -> Sample {
        Sample {
            at: tokio::time::Instant::now(),
            usage: usage
                .iter()
                .map(|&(r, m)| {
                    (
                        r,
                        GroupUsage {
                            rss_bytes: m * 2,
                            pss_bytes: Some(m),
                            cpu_ns: 0,
                            processes: 1,
                        },
                    )
                })
                .collect(),
        }
    }

    /// The runs a sample makes the monitor evict.
    fn tick(m: &mut MemoryMonitor, usage: &[(RunId, u64)]) -> Vec<RunId> {
        let mut out = Vec::new();
        m.decide(&sample(usage), &mut out);
        out.into_iter().map(|(r, _)| r).collect()
    }

    fn monitor(tree_limit: Option<u64>, leak: Option<LeakDetection>) -> MemoryMonitor {
        MemoryMonitor::new(MonitorSettings {
            tree_memory_limit: tree_limit,
            leak,
            ..MonitorSettings::default()
        })
    }

    #[test]
    fn a_run_over_its_limit_is_evicted_once_and_others_are_left_alone() {
        let r = runs(2);
        let mut m = monitor(None, None);
        assert!(!m.needs_periodic_samples());
        m.note(&watched(r[1], None));
        assert!(!m.needs_periodic_samples(), "nothing to enforce");
        m.note(&watched(r[0], Some(100)));
        assert!(m.needs_periodic_samples());
        let wanted = |m: &MemoryMonitor, usage: &[(RunId, u64)]| {
            let mut out = BTreeSet::new();
            m.pss_wanted(&sample(usage), &mut out);
            out.into_iter().collect::<Vec<_>>()
        };
        // RSS is twice the PSS in these samples: 2 × 50 is within 100, 2 × 51 is not.
        assert_eq!(wanted(&m, &[(r[0], 50), (r[1], 10_000)]), []);
        assert_eq!(wanted(&m, &[(r[0], 51), (r[1], 10_000)]), [r[0]]);
        assert_eq!(
            tick(&mut m, &[(r[0], 100), (r[1], 10_000)]),
            [],
            "at the limit is not over it"
        );
        assert_eq!(tick(&mut m, &[(r[0], 101), (r[1], 10_000)]), [r[0]]);
        assert_eq!(tick(&mut m, &[(r[0], 500)]), [], "evicted once per run");
        assert_eq!(m.interval(), Some(MonitorSettings::default().interval));
        m.forget(r[0]);
        assert_eq!(m.runs.len(), 1);
        assert!(!m.needs_periodic_samples());
        assert_eq!(m.interval(), None, "nothing to enforce: no sampling");
    }

    #[test]
    fn pss_is_compared_when_known_else_rss() {
        let r = runs(1);
        let mut m = monitor(None, None);
        m.note(&watched(r[0], Some(150)));
        // rss 200, pss 100: under the limit by PSS.
        assert_eq!(tick(&mut m, &[(r[0], 100)]), []);
        let mut s = sample(&[(r[0], 100)]);
        s.usage.get_mut(&r[0]).unwrap().pss_bytes = None;
        let mut out = Vec::new();
        m.decide(&s, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].0, r[0], "rss 200 > 150");
        assert_eq!(out[0].1, "200 bytes, over its limit of 150");
    }

    #[test]
    fn over_the_tree_limit_the_largest_run_is_evicted_one_per_sample() {
        let r = runs(3);
        let mut m = monitor(Some(1000), None);
        for &x in &r {
            m.note(&watched(x, None));
        }
        assert_eq!(tick(&mut m, &[(r[0], 300), (r[1], 400), (r[2], 300)]), []);
        assert_eq!(tick(&mut m, &[(r[0], 300), (r[1], 500), (r[2], 300)]), [r[1]]);
        // r[1] is being stopped and no longer counts; the rest fit.
        assert_eq!(tick(&mut m, &[(r[0], 300), (r[1], 500), (r[2], 300)]), []);
        assert_eq!(tick(&mut m, &[(r[0], 600), (r[1], 500), (r[2], 500)]), [r[0]]);
    }

    #[test]
    fn a_leak_is_n_growths_of_at_least_the_threshold_over_the_mark() {
        let r = runs(1);
        let leak = LeakDetection { growth: 10, count: 3 };
        let mut m = monitor(None, Some(leak));
        m.note(&watched(r[0], None));
        for (memory, expect) in [
            (100, false), // the mark
            (109, false), // not a growth: under 100 + 10; the mark stays
            (110, false), // growth 1, the mark moves to 110
            (90, false),  // shrinking never counts down the record
            (119, false), // under 110 + 10
            (125, false), // growth 2
            (200, true),  // growth 3: a leak
        ] {
            let out = tick(&mut m, &[(r[0], memory)]);
            assert_eq!(!out.is_empty(), expect, "at {memory}");
        }
        assert!(m.detail().contains("leak after 3 growth(s) of 10 bytes"));
    }

    #[test]
    fn a_slow_steady_leak_adds_up() {
        let r = runs(1);
        let mut m = monitor(None, Some(LeakDetection { growth: 10, count: 2 }));
        m.note(&watched(r[0], None));
        let evicted_at = (0..100u64).find(|i| !tick(&mut m, &[(r[0], 100 + 3 * i)]).is_empty());
        // +3 per sample: growths at 112 (i=4) and 124 (i=8).
        assert_eq!(evicted_at, Some(8));
    }

    #[test]
    fn a_flat_run_never_leaks() {
        let r = runs(1);
        let mut m = monitor(None, Some(LeakDetection { growth: 1, count: 1 }));
        m.note(&watched(r[0], None));
        for _ in 0..100 {
            assert_eq!(tick(&mut m, &[(r[0], 4096)]), []);
        }
    }
}
