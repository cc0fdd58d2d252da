//! The listening side: binding, the accept loop, the connection limit.

use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use super::counters::{spawn_collector, Counters};
use super::error::ControlError;
use super::operator::{Operator, OperatorSlot};
use super::options::ControlOptions;
use super::registry::Registry;
use super::reply::{self, Failure};
use super::run_feed::{FeedMonitor, RunFeed};
use super::shared::Shared;
use super::socket::{remove_if_ours, BoundSocket};
use super::start_tree::{StartRequest, StartRequests};
use super::token::RunTokens;
use super::{connection, peer};
use crate::descriptors::{Allowance, DescriptorBudget, RESERVE};
use crate::handle::TreeHandle;
use tokio::sync::mpsc;

/// A bound control socket, and (once [`serve`](Self::serve)d) the server on
/// it. Cloning is cheap; every clone is the same server.
#[derive(Clone, Debug)]
pub struct ControlServer {
    inner: Arc<ServerInner>,
}

#[derive(Debug)]
struct ServerInner {
    options: ControlOptions,
    socket: Mutex<Option<BoundSocket>>,
    file_id: (u64, u64),
    tokens: Arc<RunTokens>,
    closed: CancellationToken,
    /// Open connections (shared with the serving side).
    open: Arc<AtomicUsize>,
    /// What the tree's process children leave for connections.
    budget: Arc<DescriptorBudget>,
    /// The tree's runs, for subscribers that follow them.
    runs: Arc<RunFeed>,
    /// What carries out `reload` and `start_child`.
    operator: Arc<OperatorSlot>,
    /// What the serving side shares, once served: read by the HTTP
    /// endpoint (`crate::http`).
    current: Mutex<Option<Arc<Shared>>>,
    /// Set by [`ControlServer::keep_serving`]: where `start_tree` goes.
    starts: Mutex<Option<mpsc::Sender<StartRequest>>>,
}

impl ControlServer {
    /// Create the socket (see the [module docs](super)). Needs no runtime;
    /// nothing is accepted until [`serve`](Self::serve).
    pub fn bind(options: ControlOptions) -> Result<ControlServer, ControlError> {
        let socket = BoundSocket::bind(&options.path, options.group)?;
        let budget = Arc::new(match options.descriptor_limit {
            Some(limit) => DescriptorBudget::with_limit(limit),
            None => DescriptorBudget::new(),
        });
        Ok(ControlServer {
            inner: Arc::new(ServerInner {
                file_id: socket.file_id(),
                socket: Mutex::new(Some(socket)),
                options,
                tokens: Arc::default(),
                closed: CancellationToken::new(),
                open: Arc::default(),
                budget,
                runs: Arc::default(),
                operator: Arc::default(),
                current: Mutex::new(None),
                starts: Mutex::new(None),
            }),
        })
    }

    /// The socket path.
    pub fn path(&self) -> &Path {
        &self.inner.options.path
    }

    pub(crate) fn tokens(&self) -> Arc<RunTokens> {
        Arc::clone(&self.inner.tokens)
    }

    /// The monitor that tells this server about the tree's runs (for
    /// `subscribe` with `runs`): for the first tree that asks, `None` after.
    pub(crate) fn run_feed(&self) -> Option<FeedMonitor> {
        self.inner.runs.monitor()
    }

    /// The descriptor budget connections are admitted against; the tree
    /// tells it how many process children it has.
    pub fn budget(&self) -> Arc<DescriptorBudget> {
        Arc::clone(&self.inner.budget)
    }

    /// Serve `sup` on the current tokio runtime until the tree is down or
    /// [`close`](Self::close) is called; then the socket file is removed.
    /// [`crate::Tree::control`] does this for you when the tree starts (so
    /// that process runs get their socket and token, and counting starts
    /// with the first run); call it yourself only for a tree started
    /// without it, whose runs then cannot register.
    ///
    /// A server that [keeps serving](Self::keep_serving) may be given the
    /// next tree once the last one is down: it serves that one from then on
    /// (connections opened before keep talking to the old tree).
    pub fn serve(&self, sup: TreeHandle) -> Result<(), ControlError> {
        let bound = self.inner.socket.lock().unwrap_or_else(PoisonError::into_inner).take();
        let Some(bound) = bound else {
            return self.serve_next(sup);
        };
        let listener = UnixListener::from_std(bound.listener).map_err(|source| ControlError::Io {
            path: bound.path.clone(),
            source,
        })?;
        let shared = self.shared_for(sup);
        *self.inner.current.lock().unwrap_or_else(PoisonError::into_inner) = Some(shared);
        tokio::spawn(accept_loop(listener, Arc::clone(&self.inner)));
        Ok(())
    }

    /// Serve `sup` instead of a tree that is down (servers that keep serving).
    fn serve_next(&self, sup: TreeHandle) -> Result<(), ControlError> {
        let mut current = self.inner.current.lock().unwrap_or_else(PoisonError::into_inner);
        let keeps = self
            .inner
            .starts
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        match current.as_ref() {
            Some(old) if keeps && old.sup.is_down() && !self.inner.closed.is_cancelled() => {
                *current = Some(self.shared_for(sup));
                Ok(())
            }
            _ => Err(ControlError::AlreadyServing),
        }
    }

    /// What the connections serving `sup` share; its counters start now.
    fn shared_for(&self, sup: TreeHandle) -> Arc<Shared> {
        let registry = Arc::new(Registry::new(self.tokens()));
        let counters = Arc::new(Counters::default());
        spawn_collector(sup.events(), Arc::clone(&counters), Arc::clone(&registry));
        let starts = self.inner.starts.lock().unwrap_or_else(PoisonError::into_inner).clone();
        Arc::new(Shared {
            sup,
            registry,
            counters,
            options: self.inner.options.clone(),
            open: Arc::clone(&self.inner.open),
            closed: self.inner.closed.clone(),
            budget: Arc::clone(&self.inner.budget),
            runs: Arc::clone(&self.inner.runs),
            operator: Arc::clone(&self.inner.operator),
            next_conn: AtomicU64::new(0),
            starts,
        })
    }

    /// Keep serving when the tree is down, until [`close`](Self::close):
    /// `status` then says how the tree ended, and `start_tree` requests come
    /// out of the returned [`StartRequests`](super::start_tree::StartRequests)
    /// (see [`start_tree`](super::start_tree)). Call it before the tree
    /// starts; `None` if it was called before.
    pub fn keep_serving(&self) -> Option<StartRequests> {
        let mut starts = self.inner.starts.lock().unwrap_or_else(PoisonError::into_inner);
        if starts.is_some() {
            return None;
        }
        let (tx, rx) = StartRequests::channel();
        *starts = Some(tx);
        Some(rx)
    }

    /// What the serving side shares (the tree's handle, counters,
    /// registry), once [`serve`](Self::serve)d.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn current(&self) -> Option<Arc<Shared>> {
        self.inner
            .current
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Install what carries out the `reload` and `start_child` operations
    /// (before or after [`serve`](Self::serve)); until then they answer
    /// `unavailable`. Only the first call installs; `false` after.
    ///
    /// ```
    /// # use std::sync::Arc;
    /// use vigil_tokio::control::{ControlOptions, ControlServer, Operator, OperatorError, OperatorFuture};
    ///
    /// struct Refuse;
    /// impl Operator for Refuse {
    ///     fn reload(&self, _: bool) -> OperatorFuture {
    ///         Box::pin(async { Err(OperatorError::new("unavailable", "no config file")) })
    ///     }
    ///     fn start_child(&self, _: String, _: String, _: String) -> OperatorFuture {
    ///         Box::pin(async { Err(OperatorError::new("unavailable", "no config file")) })
    ///     }
    /// }
    /// let dir = std::env::temp_dir().join(format!("vigil-doc-op-{}", std::process::id()));
    /// let server = ControlServer::bind(ControlOptions::new(dir.join("ctl.sock"))).expect("bind");
    /// assert!(server.set_operator(Arc::new(Refuse)));
    /// assert!(!server.set_operator(Arc::new(Refuse)), "only once");
    /// server.close();
    /// # let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn set_operator(&self, operator: Arc<dyn Operator>) -> bool {
        self.inner.operator.set(operator)
    }

    /// [`close`](Self::close), then wait (at most `grace`) until every
    /// connection has ended: connections stop reading, and each ends once
    /// its streams have written their last line (a subscriber's `end`). For
    /// a program about to exit after the tree went down.
    pub async fn finish(&self, grace: Duration) {
        self.close();
        let drained = async {
            while self.inner.open.load(Ordering::SeqCst) > 0 {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        };
        let _ = tokio::time::timeout(grace, drained).await;
    }

    /// Stop accepting connections and remove the socket file (if it is still
    /// this server's). Open connections stop reading requests and end once
    /// what they are doing (and their streams) is done.
    pub fn close(&self) {
        self.inner.closed.cancel();
        remove_if_ours(&self.inner.options.path, self.inner.file_id);
    }
}

async fn accept_loop(listener: UnixListener, server: Arc<ServerInner>) {
    tracing::info!(socket = %server.options.path.display(), "control server listening");
    let keeps = server.starts.lock().unwrap_or_else(PoisonError::into_inner).is_some();
    loop {
        // The tree served now (another one after a `start_tree`).
        let Some(shared) = server.current() else {
            break;
        };
        tokio::select! {
            _ = server.closed.cancelled() => break,
            _ = shared.sup.wait(), if !keeps => break,
            accepted = listener.accept() => match accepted {
                // The tree served at this moment: a `start_tree` may have
                // replaced it while this loop waited.
                Ok((stream, _)) => admit(&server.current().unwrap_or_else(|| Arc::clone(&shared)), stream),
                Err(e) => {
                    // EMFILE and the like: wait a little rather than spin.
                    tracing::warn!(error = %e, "control server: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }
    drop(listener);
    remove_if_ours(&server.options.path, server.file_id);
}

/// Admit an accepted connection, or refuse it at once (one error line, then
/// closed, without a task: a flood of refused clients holds no descriptor
/// for longer than this call). Runs in the accept loop only, so the count
/// of open connections cannot change between the check and the admission.
fn admit(shared: &Arc<Shared>, stream: UnixStream) {
    if let Err(e) = peer::check(&stream, shared.options.group) {
        tracing::warn!(error = %e, "control connection refused");
        refuse(&stream, Failure::new("unauthorized", e.to_string()));
        return;
    }
    let open = shared.open.load(Ordering::SeqCst);
    let max = shared.options.max_connections;
    let budget = shared.budget.allowance();
    if open >= max.min(budget.connections) {
        refuse(&stream, too_many(open, max, budget));
        return;
    }
    shared.open.fetch_add(1, Ordering::SeqCst);
    let slot = OpenSlot(Arc::clone(&shared.open));
    let conn = shared.next_connection_id();
    let shared = Arc::clone(shared);
    tokio::spawn(async move {
        connection::serve(shared, stream, conn).await;
        drop(slot);
    });
}

/// The refusal of a connection over the limit: which limit, and why.
fn too_many(open: usize, max: usize, budget: Allowance) -> Failure {
    let message = if budget.connections < max {
        format!(
            "{open} control connections are open, all that vigil's descriptor budget allows: its open-files \
             limit is {limit}, its {children} process children reserve {reserved} descriptors, vigil itself \
             {RESERVE}; try again later, or raise `ulimit -n` for vigil",
            limit = budget.limit,
            children = budget.children,
            reserved = budget.reserved,
        )
    } else {
        format!("the server has {open} connections open, its maximum (max_connections); try again later")
    };
    Failure::new("too_many_connections", message)
}

/// One admitted connection; the count goes down when it ends, however.
struct OpenSlot(Arc<AtomicUsize>);

impl ServerInner {
    fn current(&self) -> Option<Arc<Shared>> {
        self.current.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Write one error line, if the socket takes it at once (a fresh socket's
/// buffer always does), and close.
fn refuse(stream: &UnixStream, failure: Failure) {
    let _ = stream.try_write(&reply::error(&None, &failure));
}
