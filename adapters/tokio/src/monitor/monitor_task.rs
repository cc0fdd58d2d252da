//! The task that runs one monitor: its notices in order, its checks at its
//! interval, and every call isolated (an error is counted, a panic stops
//! this monitor and nothing else).

use std::collections::VecDeque;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::context::MonitorContext;
use super::eviction::Forward;
use super::run_queue::{RunNotice, RunQueue, Taken};
use super::status::{MonitorShared, MonitorState};
use super::{Monitor, Watch};
use crate::task::panic_message;

/// The shortest interval between two checks of a monitor (1 ms): a
/// [`Monitor::interval`] below it reads as it, so a monitor asking for
/// zero does not spin.
pub const MIN_INTERVAL: Duration = Duration::from_millis(1);

/// Something the crate asks of one of its own monitors, in its task (the
/// process monitor's resources).
pub(crate) type Visit<M> = Box<dyn for<'a> FnOnce(&'a mut M) -> Pin<Box<dyn Future<Output = ()> + Send + 'a>> + Send>;

/// The driver's side of one running monitor.
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) queue: Arc<RunQueue>,
    pub(crate) shared: Arc<MonitorShared>,
    pub(crate) watch: Watch,
    /// Notices were pushed since it was last woken.
    pub(crate) told: bool,
}

/// Start `monitor` in a task of its own; evictions go to the driver
/// through `forward`. `visits`: what the crate may ask of it besides.
pub(crate) fn spawn<M: Monitor>(
    monitor: M,
    forward: Forward,
    visits: Option<mpsc::UnboundedReceiver<Visit<M>>>,
) -> Link {
    // The monitor's own code: a panic here is a panic of the monitor
    // (named after its type if it cannot say its name).
    let (name, watch, panicked) = match std::panic::catch_unwind(AssertUnwindSafe(|| Arc::<str>::from(monitor.name())))
    {
        Err(p) => (
            Arc::from(std::any::type_name::<M>()),
            Watch::AllRuns,
            Some(("name", panic_message(p.as_ref()))),
        ),
        Ok(name) => match std::panic::catch_unwind(AssertUnwindSafe(|| monitor.watches())) {
            Ok(watch) => (name, watch, None),
            Err(p) => (name, Watch::AllRuns, Some(("watches", panic_message(p.as_ref())))),
        },
    };
    let shared = Arc::new(MonitorShared::new(name));
    let queue = Arc::new(RunQueue::default());
    let link = Link {
        queue: Arc::clone(&queue),
        shared: Arc::clone(&shared),
        watch,
        told: false,
    };
    match panicked {
        Some((method, message)) => {
            stopped_by_panic(&shared, &queue, method, &message);
            forget(monitor);
        }
        None => {
            let ctx = MonitorContext::new(Arc::clone(&shared), forward);
            tokio::spawn(run(monitor, ctx, queue, shared, visits));
        }
    }
    link
}

impl Link {
    /// Queue a notice for the monitor, to be woken at the end of the
    /// driver's step; `false` if the monitor is gone.
    pub(crate) fn tell(&mut self, notice: RunNotice) -> bool {
        self.told = true;
        self.queue.push(notice, &self.shared)
    }
}

/// What a call of the monitor came to.
enum Flow {
    Go,
    Panicked,
}

/// One monitor in its task, and what the task knows about it.
struct Runner<M> {
    monitor: M,
    ctx: MonitorContext,
    queue: Arc<RunQueue>,
    shared: Arc<MonitorShared>,
    schedule: Schedule,
    /// Its detail as last published (compared here, without a lock).
    detail: String,
}

async fn run<M: Monitor>(
    monitor: M,
    ctx: MonitorContext,
    queue: Arc<RunQueue>,
    shared: Arc<MonitorShared>,
    mut visits: Option<mpsc::UnboundedReceiver<Visit<M>>>,
) {
    let mut r = Runner {
        monitor,
        ctx,
        queue,
        shared,
        schedule: Schedule::default(),
        detail: String::new(),
    };
    if let Flow::Panicked = r.refresh() {
        return forget(r.monitor);
    }
    let mut batch = VecDeque::new();
    // A query that came in while the monitor waited: answered once the
    // notices queued before it are told, so that it sees them.
    let mut query = None;
    loop {
        let last = r.queue.take(&mut batch) == Taken::Last;
        let mut flow = Flow::Go;
        if !batch.is_empty() {
            flow = r.tell(&mut batch).await;
            // A monitor kept busy by notices still checks when it is due.
            if let (Flow::Go, true) = (&flow, r.schedule.is_due()) {
                flow = r.check().await;
            }
        }
        let query_now = query.take().or_else(|| visits.as_mut().and_then(|v| v.try_recv().ok()));
        if let (Flow::Go, Some(visit), false) = (&flow, query_now, last) {
            flow = r.answer(visit).await;
        }
        match flow {
            Flow::Panicked => return forget(r.monitor),
            Flow::Go if last => break,
            Flow::Go => {}
        }
        // Until something is pushed (a wake-up after the take above is
        // kept), asked, or due.
        let queue = Arc::clone(&r.queue);
        let flow = tokio::select! {
            biased;
            _ = queue.changed() => Flow::Go,
            visit = next_visit(&mut visits) => {
                match visit {
                    Some(visit) => query = Some(visit),
                    None => visits = None,
                }
                Flow::Go
            }
            _ = r.schedule.due() => r.check().await,
        };
        if let Flow::Panicked = flow {
            return forget(r.monitor);
        }
    }
    r.shared.set_state(MonitorState::Stopped);
    forget(r.monitor);
}

impl<M: Monitor> Runner<M> {
    /// Tell the monitor every notice of `batch`, in order, then read its
    /// detail and interval again.
    async fn tell(&mut self, batch: &mut VecDeque<RunNotice>) -> Flow {
        while let Some(notice) = batch.pop_front() {
            let flow = match notice {
                RunNotice::Register(run) => {
                    self.shared.runs.fetch_add(1, Ordering::Relaxed);
                    let call = self.monitor.register(&run, &self.ctx);
                    guarded(&self.shared, &self.queue, "register", call).await
                }
                RunNotice::Remove(run) => {
                    let _ = self
                        .shared
                        .runs
                        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
                    let call = self.monitor.remove(run, &self.ctx);
                    guarded(&self.shared, &self.queue, "remove", call).await
                }
            };
            if let Flow::Panicked = flow {
                return flow;
            }
        }
        self.refresh()
    }

    /// One check of the monitor, and the next one scheduled.
    async fn check(&mut self) -> Flow {
        let began = Instant::now();
        let call = self.monitor.check(&self.ctx);
        let flow = guarded(&self.shared, &self.queue, "check", call).await;
        self.schedule.checked(began);
        match flow {
            Flow::Go => self.refresh(),
            panicked => panicked,
        }
    }

    /// Answer one of the crate's queries (the process monitor's resources).
    async fn answer(&mut self, visit: Visit<M>) -> Flow {
        let query = async {
            visit(&mut self.monitor).await;
            Ok::<(), String>(())
        };
        guarded(&self.shared, &self.queue, "a query", query).await
    }

    /// Read the monitor's detail and interval again (both its own code).
    fn refresh(&mut self) -> Flow {
        let monitor = &self.monitor;
        match std::panic::catch_unwind(AssertUnwindSafe(|| (monitor.detail(), monitor.interval()))) {
            Ok((detail, interval)) => {
                if detail != self.detail {
                    self.shared.set_detail(detail.clone());
                    self.detail = detail;
                }
                self.schedule.set(interval);
                Flow::Go
            }
            Err(p) => {
                stopped_by_panic(
                    &self.shared,
                    &self.queue,
                    "detail or interval",
                    &panic_message(p.as_ref()),
                );
                Flow::Panicked
            }
        }
    }
}

/// Run one call of the monitor: an error is logged and counted, a panic
/// stops the monitor.
async fn guarded<E: std::fmt::Display>(
    shared: &MonitorShared,
    queue: &RunQueue,
    method: &'static str,
    call: impl Future<Output = Result<(), E>>,
) -> Flow {
    match AssertUnwindSafe(call).catch_unwind().await {
        Ok(Ok(())) => Flow::Go,
        Ok(Err(e)) => {
            // Even its error's `Display` is the monitor's code.
            let text = std::panic::catch_unwind(AssertUnwindSafe(|| e.to_string()))
                .unwrap_or_else(|p| format!("(its error panicked when formatted: {})", panic_message(p.as_ref())));
            tracing::warn!(target: "vigil::monitor", monitor = &*shared.name, method, error = %text,
                "a monitor's call failed; the monitor goes on");
            shared.error(text);
            Flow::Go
        }
        Err(p) => {
            stopped_by_panic(shared, queue, method, &panic_message(p.as_ref()));
            Flow::Panicked
        }
    }
}

fn stopped_by_panic(shared: &MonitorShared, queue: &RunQueue, method: &str, message: &str) {
    tracing::error!(target: "vigil::monitor", monitor = &*shared.name, method, panic = message,
        "a monitor panicked: it is stopped and called no more; the tree and the other monitors go on");
    queue.stop();
    shared.set_state(MonitorState::Panicked(message.to_owned()));
}

/// Drop the monitor; a panic in its `Drop` is caught (and logged) too.
fn forget<M>(monitor: M) {
    if let Err(p) = std::panic::catch_unwind(AssertUnwindSafe(move || drop(monitor))) {
        tracing::error!(target: "vigil::monitor", panic = %panic_message(p.as_ref()),
            "a monitor panicked while being dropped");
    }
}

async fn next_visit<M>(visits: &mut Option<mpsc::UnboundedReceiver<Visit<M>>>) -> Option<Visit<M>> {
    match visits {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// When the next check is due.
#[derive(Debug, Default)]
struct Schedule {
    every: Option<Duration>,
    next: Option<Instant>,
}

impl Schedule {
    /// The monitor's interval now: a new one counts from now.
    fn set(&mut self, interval: Option<Duration>) {
        let every = interval.map(|d| d.max(MIN_INTERVAL));
        if every != self.every {
            self.every = every;
            self.next = every.and_then(|d| Instant::now().checked_add(d));
        }
    }

    /// A check that began at `began` is over.
    fn checked(&mut self, began: Instant) {
        let now = Instant::now();
        self.next = self.every.and_then(|d| {
            let next = began.checked_add(d)?;
            if next > now {
                Some(next)
            } else {
                now.checked_add(d)
            }
        });
    }

    /// Whether a check is due now.
    fn is_due(&self) -> bool {
        self.next.is_some_and(|at| at <= Instant::now())
    }

    async fn due(&self) {
        match self.next {
            Some(at) => tokio::time::sleep_until(at).await,
            None => std::future::pending().await,
        }
    }
}
