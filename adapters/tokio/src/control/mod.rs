//! The control server: operators and workers talk to a running tree over a
//! Unix socket, one JSON object per line (`docs/PROTOCOL.md`).
//!
//! - Operators ask for `status`, `tree`, `metrics`, start / stop / restart
//!   children, `subscribe` to the live trace, `call` a worker. Every
//!   operation goes through the engine's requests ([`crate::TreeHandle::request`]);
//!   the server never touches a child itself.
//! - Workers (process children) find `VIGIL_SOCKET` and a per-run secret
//!   `VIGIL_TOKEN` in their environment; with it they `register`, report
//!   `ready` and `heartbeat`, `publish` a state map and answer forwarded
//!   calls. [`client::Worker`] does this for a Rust worker.
//!
//! The socket is created 0600 (in a directory vigil creates 0700), a stale
//! socket file is replaced, a live one refused; peers must have vigil's uid
//! or be root, or be members of [`ControlOptions::group`] when it is set
//! (then the socket is 0660 and the directories vigil creates 0710, both
//! the group's); at most [`ControlOptions::max_connections`] connections are
//! open, and never more than the descriptor budget leaves once the tree's
//! process children have their share ([`crate::descriptors`]). A client
//! that goes away cancels its calls; calls in flight are capped.
//!
//! ```
//! use vigil_core::{ChildSpec, SupervisorSpec};
//! use vigil_tokio::control::{client::Client, protocol::Op, ControlOptions, ControlServer};
//! use vigil_tokio::Tree;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let dir = std::env::temp_dir().join(format!("vigil-doc-{}", std::process::id()));
//! let server = ControlServer::bind(ControlOptions::new(dir.join("ctl.sock"))).expect("bind");
//! let sup = Tree::new(SupervisorSpec::new())
//!     .task(ChildSpec::worker("ticker"), |ctx| async move {
//!         ctx.stopped().await;
//!         Ok::<(), String>(())
//!     })
//!     .control(server.clone())
//!     .start()
//!     .expect("valid tree");
//!
//! let mut client = Client::connect(server.path()).await.expect("connect");
//! let counts = client.request(&Op::CountChildren { path: String::new() }).await.expect("count");
//! assert_eq!(counts["specs"], 1);
//! sup.shutdown().await;
//! server.close();
//! # let _ = std::fs::remove_dir_all(&dir);
//! # });
//! ```

mod connection;
mod counters;
mod error;
mod framing;
mod group;
mod logs;
mod metrics;
mod operator;
mod ops;
mod options;
mod peer;
pub(crate) mod readout;
mod registry;
mod reply;
mod run_feed;
mod server;
mod session;
pub(crate) mod shared;
mod signal_op;
mod socket;
pub mod start_tree;
mod status;
mod strict_json;
mod token;
mod tree_end;

pub mod client;
pub mod protocol;

pub use error::ControlError;
pub use group::group_id;
pub use operator::{Operator, OperatorError, OperatorFuture};
pub use options::ControlOptions;
pub use server::ControlServer;
pub use socket::{default_socket_path, default_socket_path_beside};
pub(crate) use token::RunTokens;
