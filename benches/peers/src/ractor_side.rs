//! ractor 0.16 with ractor-supervisor 0.2: a static `Supervisor` (one_for_one)
//! with idle siblings and one child that fails on every run. The child's
//! `pre_start` is its first statement; it then sends itself `()`, whose
//! handler returns `Err` (the actor fails and its supervisor restarts it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use ractor::{Actor, ActorCell, ActorProcessingErr, ActorRef, SpawnErr};
use ractor_supervisor::{
    ChildSpec, Restart, SpawnFn, Supervisor, SupervisorArguments, SupervisorOptions, SupervisorStrategy,
};

use crate::probe::Probe;

/// Actor names are global in ractor: every case gets its own prefix.
static CASE: AtomicU64 = AtomicU64::new(0);

struct Idle;

#[ractor::async_trait]
impl Actor for Idle {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
}

struct Crasher(Arc<Probe>);

#[ractor::async_trait]
impl Actor for Crasher {
    type Msg = ();
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, me: ActorRef<()>, _: ()) -> Result<(), ActorProcessingErr> {
        if self.0.arrived() {
            let _ = me.cast(());
        }
        Ok(())
    }

    async fn handle(&self, _: ActorRef<()>, _: (), _: &mut ()) -> Result<(), ActorProcessingErr> {
        self.0.crash_now();
        Err("crash".into())
    }
}

async fn spawn_idle(sup: ActorCell, id: String) -> Result<ActorCell, SpawnErr> {
    let (r, _) = Supervisor::spawn_linked(id, Idle, (), sup).await?;
    Ok(r.get_cell())
}

fn child(id: String, spawn_fn: SpawnFn) -> ChildSpec {
    ChildSpec {
        id,
        restart: Restart::Permanent,
        spawn_fn,
        backoff_fn: None,
        reset_after: None,
    }
}

pub async fn run(siblings: usize, probe: Arc<Probe>) {
    let case = CASE.fetch_add(1, Ordering::Relaxed);
    let mut child_specs: Vec<ChildSpec> = (0..siblings)
        .map(|i| child(format!("c{case}-s{i}"), SpawnFn::new(spawn_idle)))
        .collect();
    let p = Arc::clone(&probe);
    child_specs.push(child(
        format!("c{case}-crasher"),
        SpawnFn::new(move |sup, id| {
            let p = Arc::clone(&p);
            async move {
                let (r, _) = Supervisor::spawn_linked(id, Crasher(p), (), sup).await?;
                Ok(r.get_cell())
            }
        }),
    ));
    let args = SupervisorArguments {
        child_specs,
        options: SupervisorOptions {
            strategy: SupervisorStrategy::OneForOne,
            max_restarts: usize::MAX,
            max_window: Duration::from_nanos(1),
            reset_after: None,
        },
    };
    let (root, handle) = Supervisor::spawn(format!("c{case}-root"), args)
        .await
        .expect("ractor supervisor starts");
    probe.done.notified().await;
    root.stop(None);
    let _ = handle.await;
}
