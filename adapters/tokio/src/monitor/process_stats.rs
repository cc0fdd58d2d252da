//! The process monitor: CPU, memory, uptime and restarts per child.

use std::collections::{BTreeMap, BTreeSet};
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use vigil_core::RunId;

use super::proc_sampler::ProcSampler;
use super::sample::{GroupUsage, Sample};
use super::settings::MonitorSettings;
use super::{Monitor, MonitorContext, MonitoredRun, Watch};

/// One child's resources, as the process monitor last sampled them
/// ([`TreeHandle::resources`](crate::TreeHandle::resources)).
///
/// ```
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::{ProcessSpec, Tree};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let sup = Tree::new(SupervisorSpec::new())
///     .process(ChildSpec::worker("sleeper"), ProcessSpec::new(["sleep", "60"]))
///     .start()
///     .expect("valid tree");
/// let mut events = sup.events();
/// while let Some(Ok(event)) = events.recv().await {
///     if matches!(event.kind, vigil_tokio::EventKind::Started { .. }) {
///         break;
///     }
/// }
/// let resources = sup.resources().await;
/// assert_eq!(resources[0].path, "sleeper");
/// assert!(resources[0].processes >= 1);
/// sup.shutdown().await;
/// # });
/// ```
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChildResources {
    /// The child's path in the tree.
    pub path: String,
    /// The generation of its current run.
    pub generation: u64,
    /// The run's process-group leader (its group's id): the program, or
    /// its process guard ([`RunKind::Process`](super::RunKind::Process)).
    pub pid: u32,
    /// Resident set size summed over the run's process group (0 before the
    /// first sample).
    pub rss_bytes: u64,
    /// Proportional set size summed over the group; `None` where it is not
    /// read (no memory check applies to the child: no `memory_limit`, no
    /// tree limit, no leak detection) or unreadable.
    pub pss_bytes: Option<u64>,
    /// CPU use of the group between the last two samples, in percent of one
    /// core; `None` until there are two samples of this run.
    pub cpu_percent: Option<f64>,
    /// How long the run has existed.
    pub uptime: Duration,
    /// How many processes the group had at the last sample.
    pub processes: u32,
    /// Runs of this child started before the current one, since the tree started.
    pub restarts: u64,
    /// The child's own memory limit in bytes.
    pub memory_limit: Option<u64>,
}

/// The built-in `process` monitor: keeps the last sample of every process
/// run and the CPU % between the last two; samples `/proc` only when asked
/// for the resources ([`TreeHandle::resources`](crate::TreeHandle::resources)),
/// and never evicts anything.
#[derive(Debug)]
pub(crate) struct ProcessMonitor {
    runs: BTreeMap<RunId, Entry>,
    /// Runs started per path (the first run is not a restart).
    started: BTreeMap<Arc<str>, u64>,
    /// Whether a memory check applies to every run (a tree limit or leak
    /// detection): then PSS is read for every run, else for runs with a limit.
    pss_for_all: bool,
    /// Made at the first sample: a tree without process runs never reads
    /// the machine's clock tick and page size.
    sampler: Option<ProcSampler>,
    last_sample: Option<tokio::time::Instant>,
}

#[derive(Debug)]
struct Entry {
    path: Arc<str>,
    pgid: u32,
    memory_limit: Option<u64>,
    started: tokio::time::Instant,
    last: Option<(tokio::time::Instant, GroupUsage)>,
    cpu_percent: Option<f64>,
}

impl ProcessMonitor {
    /// A monitor with nothing registered.
    pub(crate) fn new(settings: MonitorSettings) -> Self {
        ProcessMonitor {
            runs: BTreeMap::new(),
            started: BTreeMap::new(),
            pss_for_all: settings.tree_memory_limit.is_some() || settings.leak.is_some(),
            sampler: None,
            last_sample: None,
        }
    }

    /// The resources of every watched run, sorted by path, from a new
    /// sample unless the last one is younger than `min_age`.
    pub(crate) async fn resources(&mut self, min_age: Duration) -> Vec<ChildResources> {
        let now = tokio::time::Instant::now();
        let fresh = self
            .last_sample
            .is_some_and(|at| now.saturating_duration_since(at) < min_age);
        if !fresh && !self.runs.is_empty() {
            if let Some(sample) = self.sample().await {
                self.record(&sample);
            }
        }
        self.snapshot(tokio::time::Instant::now())
    }

    /// A sample of every watched group, with PSS where a memory check
    /// applies; read on a blocking thread. `None` if that thread failed.
    async fn sample(&mut self) -> Option<Sample> {
        let sampler = *self.sampler.get_or_insert_with(ProcSampler::new);
        let groups: BTreeMap<u32, RunId> = self.runs.iter().map(|(r, e)| (e.pgid, *r)).collect();
        let pss: BTreeSet<RunId> = self
            .runs
            .iter()
            .filter(|(_, e)| self.pss_for_all || e.memory_limit.is_some())
            .map(|(r, _)| *r)
            .collect();
        // Reading /proc blocks (about 10 µs per process, plus about 25 µs
        // per process whose PSS is read): off the runtime's threads.
        tokio::task::spawn_blocking(move || {
            let (mut sample, members) = sampler.sample(&groups);
            if !pss.is_empty() {
                sampler.add_pss(&mut sample, &members, pss);
            }
            sample
        })
        .await
        .ok()
    }

    /// Take in a new sample: each run's usage, and its CPU % since its last one.
    fn record(&mut self, sample: &Sample) {
        self.last_sample = Some(sample.at);
        for (run, usage) in &sample.usage {
            let Some(e) = self.runs.get_mut(run) else { continue };
            if let Some((at, before)) = e.last {
                let wall = sample.at.saturating_duration_since(at).as_nanos() as f64;
                if wall > 0.0 {
                    // A process of the group that exited takes its CPU time
                    // with it: never report less than nothing.
                    let used = usage.cpu_ns.saturating_sub(before.cpu_ns) as f64;
                    e.cpu_percent = Some(used / wall * 100.0);
                }
            }
            e.last = Some((sample.at, *usage));
        }
    }

    /// The resources of every watched run, sorted by path, with uptimes as of `now`.
    fn snapshot(&self, now: tokio::time::Instant) -> Vec<ChildResources> {
        let mut out: Vec<ChildResources> = self
            .runs
            .iter()
            .map(|(run, e)| {
                let usage = e.last.map(|(_, u)| u).unwrap_or_default();
                ChildResources {
                    path: e.path.to_string(),
                    generation: run.generation,
                    pid: e.pgid,
                    rss_bytes: usage.rss_bytes,
                    pss_bytes: usage.pss_bytes,
                    cpu_percent: e.cpu_percent,
                    uptime: now.saturating_duration_since(e.started),
                    processes: usage.processes,
                    restarts: self.started.get(&e.path).map_or(0, |n| n.saturating_sub(1)),
                    memory_limit: e.memory_limit,
                }
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }

    fn note(&mut self, run: &MonitoredRun) {
        let Some(pgid) = run.kind.pgid() else { return };
        *self.started.entry(Arc::clone(&run.path)).or_default() += 1;
        self.runs.insert(
            run.run,
            Entry {
                path: Arc::clone(&run.path),
                pgid,
                memory_limit: run.kind.memory_limit(),
                started: run.started,
                last: None,
                cpu_percent: None,
            },
        );
    }
}

impl Monitor for ProcessMonitor {
    type Error = Infallible;

    fn name(&self) -> &str {
        "process"
    }

    /// Never periodic: it samples when asked for the resources.
    fn interval(&self) -> Option<Duration> {
        None
    }

    fn watches(&self) -> Watch {
        Watch::ProcessRuns
    }

    async fn register(&mut self, run: &MonitoredRun, _: &MonitorContext) -> Result<(), Infallible> {
        self.note(run);
        Ok(())
    }

    async fn remove(&mut self, run: RunId, _: &MonitorContext) -> Result<(), Infallible> {
        self.runs.remove(&run);
        Ok(())
    }

    async fn check(&mut self, _: &MonitorContext) -> Result<(), Infallible> {
        Ok(())
    }

    fn detail(&self) -> String {
        format!("{} child(ren) sampled", self.started.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::monitor::RunKind;
    use vigil_core::{ChildSpec, Command, Engine, Input, Instant, SupervisorSpec};

    #[tokio::test(start_paused = true)]
    async fn cpu_percent_comes_from_two_samples_and_restarts_are_counted_per_path() {
        let mut e = Engine::new(SupervisorSpec::new().intensity(5).child(ChildSpec::worker("a")), 0).unwrap();
        e.start(Instant::ZERO);
        let Some(Command::Spawn(r1)) = e.poll_command() else {
            panic!()
        };
        e.handle(Input::Started(r1), Instant::ZERO);
        e.handle(Input::Exited(r1, vigil_core::ExitReason::Killed), Instant::ZERO);
        let Some(Command::Spawn(r2)) = e.poll_command() else {
            panic!()
        };

        let t0 = tokio::time::Instant::now();
        let mut m = ProcessMonitor::new(MonitorSettings::default());
        let watched = |run, pgid| MonitoredRun {
            run,
            path: "a".into(),
            kind: RunKind::Process {
                pgid,
                memory_limit: Some(7),
            },
            started: t0,
        };
        m.note(&watched(r1, 10));
        m.runs.remove(&r1);
        m.note(&watched(r2, 11));
        // A task run is not this monitor's business.
        m.note(&MonitoredRun {
            kind: RunKind::Task,
            ..watched(r1, 0)
        });
        let usage = |cpu_ns| GroupUsage {
            rss_bytes: 4096,
            pss_bytes: None,
            cpu_ns,
            processes: 2,
        };
        m.record(&Sample {
            at: t0,
            usage: [(r2, usage(1_000_000_000))].into(),
        });
        assert_eq!(m.snapshot(t0)[0].cpu_percent, None, "one sample is not enough");
        m.record(&Sample {
            at: t0 + Duration::from_secs(2),
            usage: [(r2, usage(2_000_000_000))].into(),
        });
        let now = t0 + Duration::from_secs(3);
        let got = m.snapshot(now);
        assert_eq!(
            got,
            [ChildResources {
                path: "a".into(),
                generation: r2.generation,
                pid: 11,
                rss_bytes: 4096,
                pss_bytes: None,
                cpu_percent: Some(50.0),
                uptime: Duration::from_secs(3),
                processes: 2,
                restarts: 1,
                memory_limit: Some(7),
            }]
        );
    }
}
