//! kameo 0.22: a supervisor actor (one_for_one) with idle supervised
//! siblings and one supervised child that fails on every run. The child's
//! `on_start` is its first statement; it then tells itself `Crash`, whose
//! handler returns `Err` (kameo stops an actor whose `tell` handler fails, and
//! its supervisor restarts it).

use std::sync::Arc;
use std::time::Duration;

use kameo::actor::{Actor, ActorRef, Spawn};
use kameo::error::Infallible;
use kameo::message::{Context, Message};
use kameo::supervision::{RestartPolicy, SupervisionStrategy};

use crate::probe::Probe;

#[derive(Clone)]
struct Idle;

impl Actor for Idle {
    type Args = Self;
    type Error = Infallible;
    async fn on_start(state: Self::Args, _: ActorRef<Self>) -> Result<Self, Self::Error> {
        Ok(state)
    }
}

#[derive(Clone)]
struct Crasher(Arc<Probe>);

struct Crash;

impl Actor for Crasher {
    type Args = Self;
    type Error = Infallible;
    async fn on_start(state: Self::Args, me: ActorRef<Self>) -> Result<Self, Self::Error> {
        if state.0.arrived() {
            let _ = me.tell(Crash).try_send();
        }
        Ok(state)
    }
}

impl Message<Crash> for Crasher {
    type Reply = Result<(), &'static str>;
    async fn handle(&mut self, _: Crash, _: &mut Context<Self, Self::Reply>) -> Self::Reply {
        self.0.crash_now();
        Err("crash")
    }
}

struct Root {
    siblings: usize,
    probe: Arc<Probe>,
}

impl Actor for Root {
    type Args = Self;
    type Error = Infallible;

    fn supervision_strategy() -> SupervisionStrategy {
        SupervisionStrategy::OneForOne
    }

    async fn on_start(state: Self::Args, me: ActorRef<Self>) -> Result<Self, Self::Error> {
        for _ in 0..state.siblings {
            Idle::supervise(&me, Idle)
                .restart_policy(RestartPolicy::Permanent)
                .restart_limit(u32::MAX, Duration::from_nanos(1))
                .spawn()
                .await;
        }
        Crasher::supervise(&me, Crasher(Arc::clone(&state.probe)))
            .restart_policy(RestartPolicy::Permanent)
            .restart_limit(u32::MAX, Duration::from_nanos(1))
            .spawn()
            .await;
        Ok(state)
    }
}

pub async fn run(siblings: usize, probe: Arc<Probe>) {
    let root = Root::spawn(Root {
        siblings,
        probe: Arc::clone(&probe),
    });
    probe.done.notified().await;
    let _ = root.stop_gracefully().await;
    root.wait_for_shutdown().await;
}
