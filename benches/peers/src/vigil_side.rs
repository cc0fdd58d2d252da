//! vigil-tokio: a one_for_one root with idle siblings and one task that fails
//! (`Err`) on every run.

use std::sync::Arc;
use std::time::Duration;

use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::Tree;

use crate::probe::Probe;

pub async fn run(siblings: usize, probe: Arc<Probe>) {
    let mut tree = Tree::new(
        SupervisorSpec::new()
            .intensity(u32::MAX)
            .period(Duration::from_nanos(1)),
    );
    for i in 0..siblings {
        tree = tree.task(ChildSpec::worker(format!("s{i}")), |ctx| async move {
            ctx.stopped().await;
            Ok::<(), &'static str>(())
        });
    }
    let p = Arc::clone(&probe);
    let tree = tree.task(ChildSpec::worker("crasher"), move |ctx| {
        let p = Arc::clone(&p);
        async move {
            if !p.arrived() {
                ctx.stopped().await;
                return Ok(());
            }
            p.crash_now();
            Err("crash")
        }
    });
    let sup = tree.start().expect("a valid tree");
    probe.done.notified().await;
    let _ = sup.shutdown().await;
}
