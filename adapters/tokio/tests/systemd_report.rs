//! vigil_tokio::systemd against a fake service manager: what a reporter
//! sends for an embedded tree. Waits have a safety net, never a timing
//! assertion.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixDatagram;
use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::systemd::SystemdNotify;
use vigil_tokio::Tree;

/// Receive until `want`; everything received on the way.
async fn until(manager: &UnixDatagram, want: &str) -> Vec<String> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 1024];
    let found = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let n = manager.recv(&mut buf).await.expect("recv");
            let m = String::from_utf8_lossy(&buf[..n]).into_owned();
            let done = m == want;
            seen.push(m);
            if done {
                return;
            }
        }
    })
    .await;
    assert!(found.is_ok(), "no {want:?} in {seen:?}");
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reporter_says_ready_status_watchdog_and_why_the_tree_is_down() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify");
    let manager = UnixDatagram::bind(&path).expect("bind");
    let notify = Arc::new(
        SystemdNotify::from_vars(Some(path.as_os_str()), Some("20000"), None)
            .expect("valid")
            .expect("a socket"),
    );
    let idle = |ctx: vigil_tokio::RunContext| async move {
        ctx.stopped().await;
        Ok::<(), String>(())
    };
    let sup = Tree::new(SupervisorSpec::new())
        .task(ChildSpec::worker("a"), idle)
        .task(ChildSpec::worker("b"), idle)
        .start()
        .expect("valid");
    let first = notify.report(sup.clone());
    until(&manager, "READY=1").await;
    until(&manager, "STATUS=2 children running, 0 restarting").await;
    until(&manager, "WATCHDOG=1").await;
    // Dropped: its task ends (no panic); a new one reports the same tree,
    // and says READY=1 again at once (the root has started already).
    drop(first);
    let second = notify.report(sup.clone());
    until(&manager, "READY=1").await;
    sup.shutdown().await;
    second.finish(Duration::from_secs(30)).await;
    until(&manager, "STATUS=tree down: tree shut down").await;
}
