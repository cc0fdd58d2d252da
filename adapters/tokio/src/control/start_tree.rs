//! Starting a tree again through the control socket (`start_tree`): the
//! server only passes the request on to the program that owns it, which
//! builds and starts the new tree (with the same server) and answers.
//!
//! A program opts in with [`ControlServer::keep_serving`](super::ControlServer::keep_serving):
//! from then on the server outlives its tree (it serves `status`,
//! `metrics` and `start_tree` while the tree is down) and serves each tree
//! started with it after that.
//!
//! ```
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! use vigil_tokio::control::{client::Client, protocol::Op, ControlOptions, ControlServer};
//! use vigil_tokio::Tree;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("vigil-start-doc-{}", std::process::id()));
//! let server = ControlServer::bind(ControlOptions::new(dir.join("ctl.sock"))).expect("bind");
//! let mut starts = server.keep_serving().expect("first call");
//! let tree = || Tree::new(SupervisorSpec::new()).task(ChildSpec::worker("w"), |ctx| async move {
//!     ctx.stopped().await;
//!     Ok::<(), String>(())
//! });
//! let first = tree().control(server.clone()).start().expect("valid");
//! first.shutdown().await;
//!
//! // An operator asks for the tree again; the owner starts it.
//! let asking = tokio::spawn({
//!     let path = server.path().to_owned();
//!     async move { Client::connect(&path).await?.request(&Op::StartTree {}).await }
//! });
//! let request = starts.next().await.expect("a request");
//! let second = tree().control(server.clone()).start().expect("valid");
//! request.started();
//! assert_eq!(asking.await.unwrap().expect("answered"), "started");
//! second.shutdown().await;
//! server.close();
//! # let _ = std::fs::remove_dir_all(&dir);
//! # });
//! ```

use tokio::sync::{mpsc, oneshot};

use super::reply::Failure;
use super::shared::Shared;

/// The `start_tree` requests of a server that keeps serving.
#[derive(Debug)]
#[must_use = "start requests wait until they are answered"]
pub struct StartRequests {
    rx: mpsc::Receiver<StartRequest>,
}

impl StartRequests {
    pub(crate) fn channel() -> (mpsc::Sender<StartRequest>, StartRequests) {
        let (tx, rx) = mpsc::channel(4);
        (tx, StartRequests { rx })
    }

    /// The next request; `None` once the server is gone.
    pub async fn next(&mut self) -> Option<StartRequest> {
        self.rx.recv().await
    }
}

/// One `start_tree` request; its client waits for the answer (a request
/// dropped unanswered fails with `start_failed`).
#[derive(Debug)]
#[must_use = "the client waits for the answer"]
pub struct StartRequest {
    reply: oneshot::Sender<Result<(), String>>,
}

impl StartRequest {
    /// The tree was started (with the same control server).
    pub fn started(self) {
        let _ = self.reply.send(Ok(()));
    }

    /// The tree could not be started, and why.
    pub fn failed(self, why: impl Into<String>) {
        let _ = self.reply.send(Err(why.into()));
    }
}

/// `start_tree`: refused while the tree is up, or when nobody owns the
/// starting; else passed on and answered as the owner answers.
pub(crate) async fn answer(shared: &Shared) -> Result<&'static str, Failure> {
    let Some(starts) = &shared.starts else {
        return Err(Failure::new(
            "unsupported",
            "this vigil exits when its tree is down, so there is nothing to start; run it with `--keep-running` \
             (or `[run] keep_running = true`)",
        ));
    };
    if !shared.sup.is_down() {
        return Err(Failure::new(
            "tree_up",
            "the tree is up; start-tree starts a tree that is down (use `restart` for a child)",
        ));
    }
    let (reply, answered) = oneshot::channel();
    if starts.send(StartRequest { reply }).await.is_err() {
        return Err(Failure::new("start_failed", "vigil is exiting"));
    }
    match answered.await {
        Ok(Ok(())) => Ok("started"),
        Ok(Err(why)) => Err(Failure::new("start_failed", why)),
        Err(_) => Err(Failure::new(
            "start_failed",
            "the request was dropped: vigil is exiting",
        )),
    }
}
