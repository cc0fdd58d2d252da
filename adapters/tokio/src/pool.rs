//! Pools: a supervisor whose children are all made from one template on
//! demand, with a bound on how many it holds (OTP's `simple_one_for_one`).
//!
//! A pool is a supervisor node like any other (its strategy, intensity and
//! shutdown order are its [`SupervisorSpec`](vigil_core::SupervisorSpec)'s);
//! what makes it a pool is its payload ([`crate::payloads`]): the template,
//! the task each child runs, `max_children`, a name counter and the
//! children it holds. [`PoolRef::start`] asks the driver for a seat (at
//! most `max_children` children held or being started), then adds the child
//! with the engine's `start_child`, whose cost is O(log n) in the pool's size.
//!
//! The driver keeps the seats exact from the engine's notices: a child that
//! is removed (`Removed`: deleted, a temporary child that ended, a failed
//! start) frees its seat, and a pool supervisor that ends (`SupExit`) holds
//! no children any more (dynamic children live only as long as their
//! supervisor's run, docs/SEMANTICS.md §11, on dynamic children).

use std::any::Any;
use std::collections::BTreeSet;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;
use vigil_core::{ChildSpec, Engine, NodeId, Notice, Reply, Request, RequestError};

use crate::builder::{Children, Tree};
use crate::child_ref::ChildRef;
use crate::context::RunContext;
use crate::handle::TreeHandle;
use crate::inbox::{child_path, Inbox, InboxCell, InboxTask};
use crate::mailbox::Mailbox;
use crate::message::{Msg, RequestMsg};
use crate::payloads::{ByTag, Payload, PayloadRegistry};
use crate::task::task_fn;

/// The message type of a pool whose children have no inbox: it has no
/// values, so the [`ChildRef<NoInbox>`](ChildRef) such a pool returns can
/// send nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoInbox {}

/// What one child of a pool runs, bound to its arguments.
struct Bound<M> {
    payload: Payload,
    inbox: Option<Arc<InboxCell<M>>>,
}

type Bind<A, M> = dyn Fn(A) -> Bound<M> + Send + Sync;

/// A pool's children: a template, the task each runs, and at most how many
/// the pool holds. Give it to [`Tree::pool`] with the pool supervisor's own
/// spec.
///
/// Each child is the template with the name `<template name>-<n>`, where `n`
/// counts every start asked of the pool from 1 (refused ones too) and is
/// never reused (not after a failed start, a deleted child, or a restart of
/// the pool supervisor), so a path
/// names one child for the life of the tree. Its task gets the arguments
/// given to [`PoolRef::start`], cloned for each run: a restarted child runs
/// with the same arguments. The children count against `max_children` from
/// the moment their start is asked until they are removed (deleted, or
/// temporary and ended, or gone with the pool supervisor's end); a stopped
/// child that was not deleted still counts.
///
/// ```
/// use std::time::Duration;
/// use vigil_core::{ChildSpec, Restart, SupervisorSpec};
/// use vigil_tokio::{Pool, PoolError, PoolRef, Tree};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tree = Tree::new(SupervisorSpec::new())
///     .pool(
///         ChildSpec::supervisor("jobs", SupervisorSpec::new().intensity(10)),
///         Pool::new(ChildSpec::worker("job").restart(Restart::Temporary), 2, |_ctx, secs: u64| async move {
///             tokio::time::sleep(Duration::from_secs(secs)).await;
///             Ok::<(), String>(())
///         }),
///     )
///     .start()
///     .unwrap();
/// let jobs: PoolRef<u64> = tree.pool("jobs").await.unwrap();
/// assert_eq!(jobs.start(60).await.unwrap().path, "jobs/job-1");
/// assert_eq!(jobs.start(60).await.unwrap().path, "jobs/job-2");
/// assert!(matches!(jobs.start(60).await, Err(PoolError::Full { max_children: 2, .. })));
/// tree.shutdown().await;
/// # });
/// ```
#[must_use = "a pool does nothing until it is given to `Tree::pool`"]
pub struct Pool<A, M = NoInbox> {
    template: ChildSpec,
    max_children: usize,
    bind: Arc<Bind<A, M>>,
}

impl<A, M> std::fmt::Debug for Pool<A, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("template", &self.template.name)
            .field("max_children", &self.max_children)
            .finish()
    }
}

impl<A: Clone + Send + Sync + 'static> Pool<A, NoInbox> {
    /// A pool of at most `max_children` task children made from `template`
    /// (a worker spec: its name is the children's prefix, its restart,
    /// shutdown, readiness and timeouts are theirs); `f` is called for every
    /// run with the run's [`RunContext`] and the child's arguments. Exit
    /// reasons as for [`Tree::task`]. A `max_children` of 0 refuses every start.
    pub fn new<F, Fut, E>(template: ChildSpec, max_children: usize, f: F) -> Self
    where
        F: Fn(RunContext, A) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let f = Arc::new(f);
        let bind = move |args: A| {
            let f = Arc::clone(&f);
            Bound {
                payload: Payload::Task(task_fn(move |ctx| f(ctx, args.clone()))),
                inbox: None,
            }
        };
        Pool {
            template,
            max_children,
            bind: Arc::new(bind),
        }
    }
}

impl<A: Clone + Send + Sync + 'static, M: Send + 'static> Pool<A, M> {
    /// As [`Pool::new`], and each child has its own inbox of `capacity`
    /// messages of type `M` (see [`Inbox`]): [`PoolRef::start`] returns the
    /// new child's [`ChildRef`].
    ///
    /// ```
    /// # use std::num::NonZeroUsize;
    /// # use std::time::Duration;
    /// # use vigil_core::{ChildSpec, SupervisorSpec};
    /// use tokio::sync::oneshot;
    /// use vigil_tokio::{Inbox, Pool, PoolRef, Tree};
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// // One session per user; each answers its user's greeting.
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .pool(
    ///         ChildSpec::supervisor("sessions", SupervisorSpec::new()),
    ///         Pool::with_inbox(
    ///             ChildSpec::worker("session"),
    ///             1000,
    ///             NonZeroUsize::new(8).unwrap(),
    ///             |_ctx, user: String, mut inbox: Inbox<oneshot::Sender<String>>| async move {
    ///                 while let Some(reply) = inbox.recv().await {
    ///                     let _ = reply.send(format!("hello, {user}"));
    ///                 }
    ///                 Ok::<(), String>(())
    ///             },
    ///         ),
    ///     )
    ///     .start()
    ///     .unwrap();
    /// let sessions: PoolRef<String, oneshot::Sender<String>> = tree.pool("sessions").await.unwrap();
    /// let ada = sessions.start("ada".to_owned()).await.unwrap();
    /// let hello = ada.child.call(|reply| reply, Duration::from_secs(1)).await;
    /// assert_eq!(hello.as_deref(), Ok("hello, ada"));
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub fn with_inbox<F, Fut, E>(template: ChildSpec, max_children: usize, capacity: NonZeroUsize, f: F) -> Self
    where
        F: Fn(RunContext, A, Inbox<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let f = Arc::new(f);
        let bind = move |args: A| {
            let f = Arc::clone(&f);
            let cell = InboxCell::new(capacity);
            Bound {
                payload: Payload::InboxTask(InboxTask::new(Arc::clone(&cell), move |ctx, inbox| {
                    f(ctx, args.clone(), inbox)
                })),
                inbox: Some(cell),
            }
        };
        Pool {
            template,
            max_children,
            bind: Arc::new(bind),
        }
    }
}

impl Children {
    /// Add a pool: `spec` is the pool supervisor's (a
    /// [`ChildSpec::supervisor`] with no children: its strategy, limits and
    /// shutdown order), `pool` its children's template and task. Start
    /// children with [`TreeHandle::pool`] and [`PoolRef::start`]. See
    /// [`Pool`] for an example.
    ///
    /// The pool supervisor's shutdown order is its spec's, reverse start
    /// order unless it says otherwise: OTP's `simple_one_for_one` stops its
    /// children all at once, which is
    /// `SupervisorSpec::shutdown_order(ShutdownOrder::Parallel)`
    /// (docs/ADAPTER.md, "Mailboxes and pools").
    pub fn pool<A, M>(self, spec: ChildSpec, pool: Pool<A, M>) -> Self
    where
        A: Clone + Send + Sync + 'static,
        M: Send + 'static,
    {
        let shared = PoolShared {
            template: pool.template,
            bind: pool.bind,
            next: AtomicU64::new(1),
            seats: Arc::new(Seats {
                max: pool.max_children,
                state: Mutex::default(),
            }),
            closed: Arc::new(Mailbox::closed()),
        };
        self.push_pool(spec, Payload::Pool(Arc::new(shared)))
    }
}

impl Tree {
    /// Add a pool to the root: see [`Children::pool`].
    pub fn pool<A, M>(self, spec: ChildSpec, pool: Pool<A, M>) -> Self
    where
        A: Clone + Send + Sync + 'static,
        M: Send + 'static,
    {
        self.with_children(|c| c.pool(spec, pool))
    }
}

/// A pool as its payload keeps it.
struct PoolShared<A, M> {
    template: ChildSpec,
    bind: Arc<Bind<A, M>>,
    /// The `n` of the next child's name.
    next: AtomicU64,
    seats: Arc<Seats>,
    /// What the [`ChildRef`] of a child without an inbox points to.
    closed: Arc<Mailbox<M>>,
}

/// What the driver and the lookups do with a pool, whatever its types.
pub(crate) trait PoolPort: Send + Sync {
    fn seats(&self) -> &Arc<Seats>;
    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The pool's type, for a wrong-type error.
    fn type_name(&self) -> &'static str;
    /// The spec its children are made from (checked by `Tree::start`).
    fn template(&self) -> &ChildSpec;
}

impl<A: Send + Sync + 'static, M: Send + 'static> PoolPort for PoolShared<A, M> {
    fn seats(&self) -> &Arc<Seats> {
        &self.seats
    }

    fn into_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }

    fn type_name(&self) -> &'static str {
        std::any::type_name::<Pool<A, M>>()
    }

    fn template(&self) -> &ChildSpec {
        &self.template
    }
}

/// The children a pool holds and the starts it admitted, against its bound.
/// Only the driver changes them.
pub(crate) struct Seats {
    max: usize,
    state: Mutex<SeatState>,
}

#[derive(Default)]
struct SeatState {
    /// Children the engine has under the pool supervisor.
    members: BTreeSet<NodeId>,
    /// Starts admitted and not answered yet.
    starting: usize,
}

impl Seats {
    fn lock(&self) -> MutexGuard<'_, SeatState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Children held or being started.
    fn len(&self) -> usize {
        let s = self.lock();
        s.members.len().saturating_add(s.starting)
    }

    /// Admit one more start, if the bound allows.
    fn take(self: &Arc<Self>) -> Option<Seat> {
        let mut s = self.lock();
        if s.members.len().saturating_add(s.starting) >= self.max {
            return None;
        }
        s.starting += 1;
        Some(Seat(Arc::clone(self)))
    }
}

/// One admitted start: it holds its seat until answered (or dropped, when
/// the tree goes down first).
pub(crate) struct Seat(Arc<Seats>);

impl Seat {
    /// The start of the child at `path` was answered: an accepted child
    /// holds its seat as a member from now on.
    pub(crate) fn answered(self, engine: &Engine, path: &str, result: &Result<Reply, RequestError>) {
        if let (Ok(_), Some(node)) = (result, engine.lookup(path)) {
            self.0.lock().members.insert(node);
        }
    }
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut s = self.0.lock();
        s.starting = s.starting.saturating_sub(1);
    }
}

/// A pool's start as a handle sends it to the driver: admitted (or refused)
/// first, then carried out as an ordinary `start_child`.
pub(crate) struct PoolStart {
    pub(crate) pool: String,
    pub(crate) seats: Arc<Seats>,
    pub(crate) admitted: oneshot::Sender<Result<(), PoolError>>,
    pub(crate) request: RequestMsg,
}

/// The pool payload at the supervisor `sup`, if it is a pool.
fn pool_at<'a>(engine: &Engine, payloads: &'a PayloadRegistry, sup: NodeId) -> Option<&'a Arc<dyn PoolPort>> {
    match payloads.of_node(engine, sup) {
        Some(Payload::Pool(p)) => Some(p),
        _ => None,
    }
}

/// Admit `start` if its pool is still the one at its path and has room.
pub(crate) fn admit(engine: &Engine, payloads: &PayloadRegistry, start: &PoolStart) -> Result<Seat, PoolError> {
    let here = engine.lookup(&start.pool).and_then(|n| pool_at(engine, payloads, n));
    match here {
        Some(p) if Arc::ptr_eq(p.seats(), &start.seats) => {}
        _ => return Err(PoolError::Gone(start.pool.clone())),
    }
    start.seats.take().ok_or_else(|| PoolError::Full {
        pool: start.pool.clone(),
        max_children: start.seats.max,
    })
}

/// Keep the pools' seats in step with the tree (see the module docs).
pub(crate) fn observe(engine: &Engine, payloads: &PayloadRegistry, notice: &Notice) {
    match notice {
        Notice::Removed { child } => {
            if let Some(p) = engine.parent(*child).and_then(|s| pool_at(engine, payloads, s)) {
                p.seats().lock().members.remove(child);
            }
        }
        Notice::SupExit { sup, .. } => {
            if let Some(p) = pool_at(engine, payloads, *sup) {
                p.seats().lock().members.clear();
            }
        }
        _ => {}
    }
}

/// The handle of a pool, from [`TreeHandle::pool`]: `A` is the type of its
/// children's arguments, `M` of their inbox's messages ([`NoInbox`] for a
/// pool made with [`Pool::new`]). Cheap to clone. See [`Pool`] for an example.
pub struct PoolRef<A, M = NoInbox> {
    shared: Arc<PoolShared<A, M>>,
    path: Arc<str>,
    handle: TreeHandle,
}

impl<A, M> Clone for PoolRef<A, M> {
    fn clone(&self) -> Self {
        PoolRef {
            shared: Arc::clone(&self.shared),
            path: Arc::clone(&self.path),
            handle: self.handle.clone(),
        }
    }
}

impl<A, M> std::fmt::Debug for PoolRef<A, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolRef")
            .field("path", &self.path)
            .field("max_children", &self.shared.seats.max)
            .finish()
    }
}

/// A child a pool started: its path, and its address (a closed one for a
/// pool without inboxes).
pub struct PoolChild<M> {
    /// The child's path (`<pool>/<template name>-<n>`).
    pub path: String,
    /// The child's inbox.
    pub child: ChildRef<M>,
}

impl<M> std::fmt::Debug for PoolChild<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PoolChild").field("path", &self.path).finish()
    }
}

/// Why a pool did not start or stop a child.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PoolError {
    /// The pool holds (or is starting) `max_children` children already.
    #[error("pool `{pool}` is full: it holds {max_children} children")]
    Full {
        /// The pool's path.
        pool: String,
        /// Its bound.
        max_children: usize,
    },
    /// The pool this ref was taken from was deleted or given another spec.
    #[error("pool `{0}` is gone: it was deleted or replaced")]
    Gone(String),
    /// [`PoolRef::terminate`] was given a path that is not a child of this pool.
    #[error("`{child}` is not a child of pool `{pool}`")]
    NotInPool {
        /// The pool's path.
        pool: String,
        /// The path given.
        child: String,
    },
    /// The engine refused or failed the request (the pool supervisor is not
    /// running or is shutting down, the child failed to start, the tree is
    /// down, ...).
    #[error(transparent)]
    Request(#[from] RequestError),
}

/// Why [`TreeHandle::pool`] gave no ref.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolRefError {
    /// Nothing at that path.
    #[error("no child at `{0}`")]
    NotFound(String),
    /// The node at that path is not a pool.
    #[error("`{0}` is not a pool")]
    NotAPool(String),
    /// The pool has other argument or message types.
    #[error("`{path}` is a {found}, not a {expected}")]
    WrongType {
        /// The pool.
        path: String,
        /// The pool type asked for.
        expected: &'static str,
        /// The pool's type.
        found: &'static str,
    },
    /// The tree is down.
    #[error("the tree is down")]
    TreeDown,
}

impl TreeHandle {
    /// The pool at `path` (added with [`Tree::pool`]), whose children take
    /// arguments of type `A` and messages of type `M` ([`NoInbox`] for a
    /// pool without inboxes). See [`Pool`] for an example.
    pub async fn pool<A, M>(&self, path: &str) -> Result<PoolRef<A, M>, PoolRefError>
    where
        A: Send + Sync + 'static,
        M: Send + 'static,
    {
        let port = match self.lookup(path).await {
            Err(_down) => return Err(PoolRefError::TreeDown),
            Ok(None) => return Err(PoolRefError::NotFound(path.to_owned())),
            Ok(Some(Some(Payload::Pool(p)))) => p,
            Ok(Some(_)) => return Err(PoolRefError::NotAPool(path.to_owned())),
        };
        let found = port.type_name();
        let shared = port
            .into_any()
            .downcast::<PoolShared<A, M>>()
            .map_err(|_| PoolRefError::WrongType {
                path: path.to_owned(),
                expected: std::any::type_name::<Pool<A, M>>(),
                found,
            })?;
        Ok(PoolRef {
            shared,
            path: path.into(),
            handle: self.clone(),
        })
    }
}

impl<A: Send + Sync + 'static, M: Send + 'static> PoolRef<A, M> {
    /// The pool supervisor's path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The most children the pool holds.
    pub fn max_children(&self) -> usize {
        self.shared.seats.max
    }

    /// How many children the pool holds or is starting now.
    pub fn len(&self) -> usize {
        self.shared.seats.len()
    }

    /// Whether the pool holds no child and is starting none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Start a child with `args`; once it has started (for a
    /// `Readiness::Notify` template: once it is ready), its path and its
    /// [`ChildRef`]. See [`Pool`] for the child's name and what counts
    /// against `max_children`.
    pub async fn start(&self, args: A) -> Result<PoolChild<M>, PoolError> {
        // A supervisor's template was refused by `Tree::start` (`NotAWorker`).
        let template = &self.shared.template;
        let n = self.shared.next.fetch_add(1, Ordering::Relaxed);
        let mut spec = template.clone();
        spec.name = format!("{}-{n}", template.name);
        let path = child_path(&self.path, &spec.name);
        let Bound { payload, inbox } = (self.shared.bind)(args);
        let child = match inbox {
            Some(cell) => cell.child_ref(&path),
            None => ChildRef::new(Arc::clone(&self.shared.closed), path.as_str().into()),
        };
        let (admitted, admission) = oneshot::channel();
        let (reply, answer) = oneshot::channel();
        let start = PoolStart {
            pool: self.path.to_string(),
            seats: Arc::clone(&self.shared.seats),
            admitted,
            request: RequestMsg {
                request: Request::StartChild {
                    parent: self.path.to_string(),
                    spec: spec.tag(0),
                },
                payloads: ByTag::from([(0, payload)]),
                reply,
            },
        };
        let down = PoolError::Request(RequestError::TreeDown);
        self.handle
            .tx
            .send(Msg::PoolStart(Box::new(start)))
            .map_err(|_| down.clone())?;
        admission.await.unwrap_or(Err(down))?;
        answer.await.unwrap_or(Err(RequestError::TreeDown))?;
        Ok(PoolChild { path, child })
    }

    /// Stop the pool's child at `child` (a path [`start`](Self::start)
    /// returned) and delete it, which frees its seat (OTP's
    /// `terminate_child` of a `simple_one_for_one` child).
    ///
    /// ```
    /// # use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{Pool, PoolError, PoolRef, Tree};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .pool(
    ///         ChildSpec::supervisor("conns", SupervisorSpec::new()),
    ///         Pool::new(ChildSpec::worker("conn"), 1, |ctx, _peer: String| async move {
    ///             ctx.stopped().await;
    ///             Ok::<(), String>(())
    ///         }),
    ///     )
    ///     .start()
    ///     .unwrap();
    /// let conns: PoolRef<String> = tree.pool("conns").await.unwrap();
    /// let first = conns.start("10.0.0.1".into()).await.unwrap();
    /// assert!(matches!(conns.start("10.0.0.2".into()).await, Err(PoolError::Full { .. })));
    /// conns.terminate(&first.path).await.unwrap();
    /// assert_eq!(conns.start("10.0.0.2".into()).await.unwrap().path, "conns/conn-3");
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub async fn terminate(&self, child: &str) -> Result<(), PoolError> {
        let in_pool = child
            .strip_prefix(&*self.path)
            .and_then(|rest| rest.strip_prefix('/'))
            .is_some_and(|name| !name.is_empty() && !name.contains('/'));
        if !in_pool {
            return Err(PoolError::NotInPool {
                pool: self.path.to_string(),
                child: child.to_owned(),
            });
        }
        let path = child.to_owned();
        self.handle
            .request(Request::TerminateChild { path: path.clone() })
            .await?;
        self.handle.request(Request::DeleteChild { path }).await?;
        Ok(())
    }
}
