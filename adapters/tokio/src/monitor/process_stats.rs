//! The process monitor: CPU, memory, uptime and restarts per child.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vigil_core::RunId;

use super::{EvictionRequest, GroupUsage, Monitor, MonitorStatus, MonitoredRun, Sample};

/// One child's resources, as the process monitor last sampled them.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ChildResources {
    /// The child's path in the tree.
    pub path: String,
    /// The generation of its current run.
    pub generation: u64,
    /// The run's process-group leader.
    pub pid: u32,
    /// Resident set size summed over the run's process group (0 before the
    /// first sample).
    pub rss_bytes: u64,
    /// Proportional set size summed over the group; `None` where it is not
    /// read (no memory check applies to the child) or unreadable.
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

/// Keeps the last sample of every run and the CPU % between the last two;
/// never evicts anything.
#[derive(Debug, Default)]
pub struct ProcessMonitor {
    runs: BTreeMap<RunId, Entry>,
    /// Runs started per path (the first run is not a restart).
    started: BTreeMap<Arc<str>, u64>,
}

#[derive(Debug)]
struct Entry {
    run: MonitoredRun,
    last: Option<(tokio::time::Instant, GroupUsage)>,
    cpu_percent: Option<f64>,
}

impl ProcessMonitor {
    /// A monitor with nothing registered.
    pub fn new() -> Self {
        Self::default()
    }

    /// The resources of every watched run, sorted by path, with uptimes as of `now`.
    pub fn resources(&self, now: tokio::time::Instant) -> Vec<ChildResources> {
        let mut out: Vec<ChildResources> = self
            .runs
            .values()
            .map(|e| {
                let usage = e.last.map(|(_, u)| u).unwrap_or_default();
                ChildResources {
                    path: e.run.path.to_string(),
                    generation: e.run.run.generation,
                    pid: e.run.pgid,
                    rss_bytes: usage.rss_bytes,
                    pss_bytes: usage.pss_bytes,
                    cpu_percent: e.cpu_percent,
                    uptime: now.saturating_duration_since(e.run.started),
                    processes: usage.processes,
                    restarts: self.started.get(&e.run.path).map_or(0, |n| n.saturating_sub(1)),
                    memory_limit: e.run.memory_limit,
                }
            })
            .collect();
        out.sort_by(|a, b| a.path.cmp(&b.path));
        out
    }
}

impl Monitor for ProcessMonitor {
    fn name(&self) -> &'static str {
        "process"
    }

    fn register(&mut self, run: &MonitoredRun) {
        *self.started.entry(Arc::clone(&run.path)).or_default() += 1;
        self.runs.insert(
            run.run,
            Entry {
                run: run.clone(),
                last: None,
                cpu_percent: None,
            },
        );
    }

    fn remove(&mut self, run: RunId) {
        self.runs.remove(&run);
    }

    fn run(&mut self, sample: &Sample, _evict: &mut Vec<EvictionRequest>) {
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

    fn status(&self) -> MonitorStatus {
        MonitorStatus {
            name: self.name(),
            runs: self.runs.len(),
            evictions: 0,
            detail: format!("{} child(ren) sampled", self.started.len()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let mut m = ProcessMonitor::new();
        let watched = |run, pgid| MonitoredRun {
            run,
            path: "a".into(),
            pgid,
            memory_limit: Some(7),
            started: t0,
        };
        m.register(&watched(r1, 10));
        m.remove(r1);
        m.register(&watched(r2, 11));
        let usage = |cpu_ns| GroupUsage {
            rss_bytes: 4096,
            pss_bytes: None,
            cpu_ns,
            processes: 2,
        };
        let mut none = Vec::new();
        m.run(
            &Sample {
                at: t0,
                usage: [(r2, usage(1_000_000_000))].into(),
            },
            &mut none,
        );
        assert_eq!(m.resources(t0)[0].cpu_percent, None, "one sample is not enough");
        m.run(
            &Sample {
                at: t0 + Duration::from_secs(2),
                usage: [(r2, usage(2_000_000_000))].into(),
            },
            &mut none,
        );
        let now = t0 + Duration::from_secs(3);
        let got = m.resources(now);
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
        assert!(none.is_empty(), "the process monitor never evicts");
    }
}
