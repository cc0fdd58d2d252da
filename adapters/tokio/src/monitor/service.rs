//! The monitor service: one task that samples `/proc` on an interval, runs
//! every monitor over the sample and sends their evictions to the driver.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::time::MissedTickBehavior;
use vigil_core::RunId;

use super::{
    ChildResources, LeakDetection, MemoryMonitor, Monitor, MonitorStatus, MonitoredRun, ProcSampler, ProcessMonitor,
};
use crate::report::{ReportSender, RunnerReport};

/// How a tree's process children are watched.
///
/// ```
/// use std::time::Duration;
/// use vigil_tokio::monitor::{LeakDetection, MonitorSettings};
///
/// let settings = MonitorSettings {
///     interval: Duration::from_secs(2),
///     tree_memory_limit: Some(8 << 30),
///     leak: Some(LeakDetection { growth: 64 << 20, count: 5 }),
///     ..MonitorSettings::default()
/// };
/// assert_eq!(MonitorSettings::default().interval, Duration::from_secs(5));
/// # let _ = settings;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MonitorSettings {
    /// How often `/proc` is sampled while a monitor enforces a limit on at
    /// least one process run.
    pub interval: Duration,
    /// Asked for the resources, the service samples anew unless its last
    /// sample is younger than this (default 1 s).
    pub min_sample_age: Duration,
    /// A limit on the memory of all process children together, in bytes.
    pub tree_memory_limit: Option<u64>,
    /// Leak detection for every process child.
    pub leak: Option<LeakDetection>,
}

impl Default for MonitorSettings {
    fn default() -> Self {
        MonitorSettings {
            interval: Duration::from_secs(5),
            min_sample_age: Duration::from_secs(1),
            tree_memory_limit: None,
            leak: None,
        }
    }
}

enum Msg {
    Register(MonitoredRun),
    Remove(RunId),
    Resources(oneshot::Sender<Vec<ChildResources>>),
    Status(oneshot::Sender<Vec<MonitorStatus>>),
}

/// The driver's and the handles' way to the monitor service. Cheap to clone;
/// the service ends when every handle is gone.
#[derive(Clone, Debug)]
pub(crate) struct MonitorHandle {
    tx: mpsc::UnboundedSender<Msg>,
}

impl MonitorHandle {
    /// Watch a run that just started.
    pub(crate) fn register(&self, run: MonitoredRun) {
        let _ = self.tx.send(Msg::Register(run));
    }

    /// Stop watching a run that ended.
    pub(crate) fn remove(&self, run: RunId) {
        let _ = self.tx.send(Msg::Remove(run));
    }

    /// The last sample of every watched run, sorted by path.
    pub(crate) async fn resources(&self) -> Vec<ChildResources> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Resources(tx));
        rx.await.unwrap_or_default()
    }

    /// Every monitor's summary.
    pub(crate) async fn status(&self) -> Vec<MonitorStatus> {
        let (tx, rx) = oneshot::channel();
        let _ = self.tx.send(Msg::Status(tx));
        rx.await.unwrap_or_default()
    }
}

/// The task behind [`MonitorHandle`].
pub(crate) struct MonitorService {
    settings: MonitorSettings,
    process: ProcessMonitor,
    memory: MemoryMonitor,
    /// Process group → its run, for the sampler.
    groups: BTreeMap<u32, RunId>,
    reports: ReportSender,
    sampler: ProcSampler,
    last_sample: Option<tokio::time::Instant>,
}

impl MonitorService {
    /// Start the service on the current runtime; evictions go to `reports`.
    pub(crate) fn spawn(settings: MonitorSettings, reports: ReportSender) -> MonitorHandle {
        let (tx, rx) = mpsc::unbounded_channel();
        let service = MonitorService {
            settings,
            process: ProcessMonitor::new(),
            memory: MemoryMonitor::new(settings.tree_memory_limit, settings.leak),
            groups: BTreeMap::new(),
            reports,
            sampler: ProcSampler::new(),
            last_sample: None,
        };
        tokio::spawn(service.run(rx));
        MonitorHandle { tx }
    }

    fn monitors(&mut self) -> [&mut dyn Monitor; 2] {
        [&mut self.process, &mut self.memory]
    }

    /// Whether some monitor needs a sample every interval.
    fn periodic(&self) -> bool {
        self.process.needs_periodic_samples() || self.memory.needs_periodic_samples()
    }

    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Msg>) {
        let mut ticks = tokio::time::interval(self.settings.interval.max(Duration::from_millis(10)));
        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    Some(msg) => self.message(msg).await,
                    None => return,
                },
                // Nothing to sample while no monitor enforces anything.
                _ = ticks.tick(), if self.periodic() => self.tick().await,
            }
        }
    }

    async fn message(&mut self, msg: Msg) {
        match msg {
            Msg::Register(run) => {
                self.groups.insert(run.pgid, run.run);
                for m in self.monitors() {
                    m.register(&run);
                }
            }
            Msg::Remove(run) => {
                self.groups.retain(|_, r| *r != run);
                for m in self.monitors() {
                    m.remove(run);
                }
            }
            Msg::Resources(reply) => {
                let now = tokio::time::Instant::now();
                let fresh = self
                    .last_sample
                    .is_some_and(|at| now.saturating_duration_since(at) < self.settings.min_sample_age);
                if !fresh && !self.groups.is_empty() {
                    self.tick().await;
                }
                let _ = reply.send(self.process.resources(tokio::time::Instant::now()));
            }
            Msg::Status(reply) => {
                let _ = reply.send(self.monitors().iter().map(|m| m.status()).collect());
            }
        }
    }

    async fn tick(&mut self) {
        let sampler = self.sampler;
        let groups = self.groups.clone();
        // Reading /proc blocks (about 10 µs per process, plus about 25 µs
        // per process whose PSS is read): off the runtime's threads.
        let Ok((sample, members)) = tokio::task::spawn_blocking(move || sampler.sample(&groups)).await else {
            return;
        };
        let mut pss = BTreeSet::new();
        for m in self.monitors() {
            m.pss_wanted(&sample, &mut pss);
        }
        let sample = if pss.is_empty() {
            sample
        } else {
            let mut sample = sample;
            let Ok(sample) = tokio::task::spawn_blocking(move || {
                sampler.add_pss(&mut sample, &members, pss);
                sample
            })
            .await
            else {
                return;
            };
            sample
        };
        self.last_sample = Some(sample.at);
        let mut evict = Vec::new();
        for m in self.monitors() {
            m.run(&sample, &mut evict);
        }
        for (run, why) in evict {
            let _ = self.reports.send((run, RunnerReport::Evict(why)));
        }
    }
}
