//! A task child's inbox: typed, bounded, and the child's own, not its run's.
//!
//! The queue ([`crate::mailbox`]) lives with what the child runs (its
//! payload, [`crate::payloads`]): it is created with the child, survives
//! every restart of it (and of the supervisors above it), and is closed when
//! the child is deleted. Each run gets an [`Inbox`], the receiving side for
//! that run only; senders hold a [`ChildRef`](crate::ChildRef).
//!
//! The driver opens the inbox to each new run at its spawn, and withdraws it
//! at the run's stop, kill and teardown (see [`InboxLink`]). It closes the
//! inbox when the child's node is removed ([`close_removed`]: deleted, a
//! temporary child that ended, its supervisor removed) and when the payload
//! is dropped (the child's spec is gone: [`InboxCell`]'s `Drop`). A node built
//! again from the same payload (a static child of a nested supervisor that
//! was deleted, then rebuilt when that supervisor restarts) gets a new inbox:
//! [`InboxCell::open`].

use std::any::Any;
use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use vigil_core::{ChildKind, ChildSpec, Engine, NodeId, Notice, Reply, RequestError, RunId};

use crate::builder::{Children, Tree};
use crate::child_ref::ChildRef;
use crate::context::RunContext;
use crate::handle::TreeHandle;
use crate::mailbox::{Mailbox, RunGate, Take};
use crate::payloads::{Payload, PayloadRegistry};
use crate::report::ReportSender;
use crate::task::{spawn_task, task_fn, TaskFn, TaskRun};

/// The receiving side of a child's inbox, for one run of the child.
///
/// Messages wait in the inbox while the child restarts; each run receives
/// those its predecessors did not take. When the run is asked to stop,
/// [`recv`](Inbox::recv) returns `None` (so the usual loop ends) and what is
/// still queued stays for the next run, unless this run drains it with
/// [`try_recv`](Inbox::try_recv) before it returns. A run receives nothing
/// once it ended or was killed, nor once the child is deleted (the inbox
/// closes). A message a run has taken is in that run's hands: if
/// the run crashes before handling it, it is lost, and a reply sender in it
/// is dropped, which fails its [`call`](crate::ChildRef::call) at once with
/// [`CallError::Dropped`](crate::CallError::Dropped).
///
/// ```
/// use std::num::NonZeroUsize;
/// use std::time::Duration;
/// use tokio::sync::oneshot;
/// use vigil_core::{ChildSpec, SupervisorSpec};
/// use vigil_tokio::{Inbox, Tree};
///
/// enum Counter {
///     Add(u64),
///     Get(oneshot::Sender<u64>),
/// }
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tree = Tree::new(SupervisorSpec::new())
///     .task_with_inbox(
///         ChildSpec::worker("counter"),
///         NonZeroUsize::new(64).unwrap(),
///         |_ctx, mut inbox: Inbox<Counter>| async move {
///             let mut total = 0;
///             // Ends when the run is asked to stop.
///             while let Some(msg) = inbox.recv().await {
///                 match msg {
///                     Counter::Add(n) => total += n,
///                     Counter::Get(reply) => {
///                         let _ = reply.send(total);
///                     }
///                 }
///             }
///             Ok::<(), String>(())
///         },
///     )
///     .start()
///     .unwrap();
/// let counter = tree.child::<Counter>("counter").await.unwrap();
/// counter.cast(Counter::Add(2)).await.unwrap();
/// counter.cast(Counter::Add(3)).await.unwrap();
/// assert_eq!(counter.call(Counter::Get, Duration::from_secs(5)).await, Ok(5));
/// tree.shutdown().await;
/// # });
/// ```
pub struct Inbox<M> {
    mailbox: Arc<Mailbox<M>>,
    generation: u64,
}

impl<M> std::fmt::Debug for Inbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("generation", &self.generation)
            .field("queued", &self.mailbox.len())
            .field("capacity", &self.mailbox.capacity())
            .finish()
    }
}

/// Why [`Inbox::try_recv`] returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing is queued now.
    #[error("the inbox is empty")]
    Empty,
    /// This run receives no more: it ended or was killed, or the child was
    /// deleted.
    #[error("this run receives no more messages")]
    Ended,
}

impl<M: Send + 'static> Inbox<M> {
    /// The next message, waiting for one; `None` once this run receives no
    /// more (see [`Inbox`]): the usual loop is
    /// `while let Some(msg) = inbox.recv().await { .. }`, which ends when the
    /// run is asked to stop.
    ///
    /// Cancel safe: a `recv` dropped before it returns (a `select!` branch
    /// that lost) took nothing.
    pub async fn recv(&mut self) -> Option<M> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// [`recv`](Inbox::recv) as a poll function, for hand-written futures and
    /// streams.
    ///
    /// Like tokio's own channels, a receive spends the task's cooperative
    /// budget ([`tokio::task::coop`]): a run that always finds a message
    /// still yields to the runtime now and then.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<M>> {
        let coop = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let polled = self.mailbox.poll_take(self.generation, cx);
        if polled.is_ready() {
            coop.made_progress();
        }
        polled
    }

    /// The next message if one is queued now. Also after the run was asked
    /// to stop, so that it can drain its inbox before it returns (within
    /// its shutdown time): `while let Ok(msg) = inbox.try_recv() { .. }`.
    ///
    /// ```
    /// # use std::num::NonZeroUsize;
    /// # use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{Inbox, Tree, TryRecvError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let (seen_tx, seen) = tokio::sync::oneshot::channel();
    /// let seen_tx = std::sync::Mutex::new(Some(seen_tx));
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .task_with_inbox(ChildSpec::worker("w"), NonZeroUsize::MIN, move |ctx, mut inbox: Inbox<u8>| {
    ///         let first = inbox.try_recv();
    ///         if let Some(tx) = seen_tx.lock().unwrap().take() {
    ///             let _ = tx.send(first);
    ///         }
    ///         async move {
    ///             ctx.stopped().await;
    ///             Ok::<(), String>(())
    ///         }
    ///     })
    ///     .start()
    ///     .unwrap();
    /// assert_eq!(seen.await.unwrap(), Err(TryRecvError::Empty));
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub fn try_recv(&mut self) -> Result<M, TryRecvError> {
        match self.mailbox.try_take(self.generation) {
            Take::Message(m) => Ok(m),
            Take::Empty => Err(TryRecvError::Empty),
            Take::Ended => Err(TryRecvError::Ended),
        }
    }

    /// How many messages wait in the inbox now.
    pub fn len(&self) -> usize {
        self.mailbox.len()
    }

    /// Whether no message waits in the inbox now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many messages the inbox holds at most.
    pub fn capacity(&self) -> usize {
        self.mailbox.capacity()
    }
}

/// A child's inbox as its payload keeps it: the current queue, replaced
/// only when a closed one is opened again (see the module docs). Only the
/// driver task opens, attaches and closes, so these never race.
pub(crate) struct InboxCell<M> {
    capacity: usize,
    current: Mutex<Arc<Mailbox<M>>>,
}

impl<M: Send + 'static> InboxCell<M> {
    pub(crate) fn new(capacity: NonZeroUsize) -> Arc<Self> {
        Arc::new(InboxCell {
            capacity: capacity.get(),
            current: Mutex::new(Arc::new(Mailbox::new(capacity.get()))),
        })
    }

    fn current(&self) -> Arc<Mailbox<M>> {
        Arc::clone(&self.current.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// The queue, a new one if the current one was closed (its node was
    /// removed, and this payload built a new node since).
    fn open(&self) -> Arc<Mailbox<M>> {
        let mut current = self.current.lock().unwrap_or_else(PoisonError::into_inner);
        if current.is_closed() {
            *current = Arc::new(Mailbox::new(self.capacity));
        }
        Arc::clone(&current)
    }

    /// A ref to the current queue, for the child at `path`.
    pub(crate) fn child_ref(&self, path: &str) -> ChildRef<M> {
        ChildRef::new(self.current(), path.into())
    }
}

impl<M> Drop for InboxCell<M> {
    fn drop(&mut self) {
        // The child's spec is gone: nothing will receive from it again.
        self.current.get_mut().unwrap_or_else(PoisonError::into_inner).close();
    }
}

/// What the driver does with an inbox, whatever its message type.
pub(crate) trait InboxPort: Send + Sync {
    /// Open the inbox to the run `generation` (the child's new live run).
    fn attach(&self, generation: u64) -> InboxLink;
    /// Open it again if it was closed, before a ref to it is handed out.
    fn reopen(&self);
    /// Close it (the child's node was removed).
    fn close(&self);
    /// A `ChildRef<M>` to it for the child at `path`, boxed.
    fn child_ref(&self, path: &str) -> Box<dyn Any + Send>;
    /// The name of `M`, for a wrong-type error.
    fn message_type(&self) -> &'static str;
}

impl<M: Send + 'static> InboxPort for InboxCell<M> {
    fn attach(&self, generation: u64) -> InboxLink {
        let mailbox = self.open();
        mailbox.attach(generation);
        InboxLink { mailbox, generation }
    }

    fn reopen(&self) {
        self.open();
    }

    fn close(&self) {
        self.current().close();
    }

    fn child_ref(&self, path: &str) -> Box<dyn Any + Send> {
        Box::new(InboxCell::child_ref(self, path))
    }

    fn message_type(&self) -> &'static str {
        std::any::type_name::<M>()
    }
}

/// The inbox as one run's [`TaskRun`] holds it: the driver stops and ends
/// the run's right to receive through it, and its drop (the run's teardown)
/// ends it too.
pub(crate) struct InboxLink {
    mailbox: Arc<dyn RunGate>,
    generation: u64,
}

impl InboxLink {
    /// The run was asked to stop: its `recv` ends (its `try_recv` may still
    /// drain the queue).
    pub(crate) fn stop(&self) {
        self.mailbox.stop(self.generation);
    }

    /// The run was killed or ended: it receives no more.
    pub(crate) fn end(&self) {
        self.mailbox.end(self.generation);
    }
}

impl Drop for InboxLink {
    fn drop(&mut self) {
        self.end();
    }
}

impl std::fmt::Debug for InboxLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboxLink")
            .field("generation", &self.generation)
            .finish()
    }
}

/// What a task child with an inbox runs: its closure (which hands each run
/// its [`Inbox`]) and its inbox.
#[derive(Clone)]
pub(crate) struct InboxTask {
    run: TaskFn,
    port: Arc<dyn InboxPort>,
}

impl InboxTask {
    /// A task child running `f` with an inbox in `cell`.
    pub(crate) fn new<M, F, Fut, E>(cell: Arc<InboxCell<M>>, f: F) -> Self
    where
        M: Send + 'static,
        F: Fn(RunContext, Inbox<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let queue = Arc::clone(&cell);
        let run = task_fn(move |ctx: RunContext| {
            let inbox = Inbox {
                // Attached by `spawn` just before: the run's own queue.
                mailbox: queue.current(),
                generation: ctx.generation(),
            };
            f(ctx, inbox)
        });
        InboxTask { run, port: cell }
    }

    /// Start the run `run`: the inbox is opened to it first.
    pub(crate) fn spawn(
        &self,
        run: RunId,
        path: Arc<str>,
        reports: ReportSender,
        faults: crate::context::FaultLink,
    ) -> Result<TaskRun, String> {
        let link = self.port.attach(run.generation);
        spawn_task(&self.run, run, path, reports, faults).map(|t| t.with_inbox(link))
    }

    /// The inbox, for the driver and for lookups.
    pub(crate) fn port(&self) -> &dyn InboxPort {
        &*self.port
    }
}

/// Close the inboxes of the children a `Removed` notice takes out of the
/// tree: the removed worker's, or every worker's in the removed
/// supervisor's spec (its dynamic children close with their payloads).
/// Structural queries still resolve a node removed during the latest call.
pub(crate) fn close_removed(engine: &Engine, payloads: &PayloadRegistry, notice: &Notice) {
    if let Notice::Removed { child } = notice {
        close_under(engine, payloads, *child);
    }
}

fn close_under(engine: &Engine, payloads: &PayloadRegistry, node: NodeId) {
    match engine.supervisor_spec(node) {
        Some(spec) => spec.children.iter().for_each(|c| close_spec(payloads, c)),
        None => close_payload(payloads.of_node(engine, node)),
    }
}

fn close_spec(payloads: &PayloadRegistry, spec: &ChildSpec) {
    match &spec.kind {
        ChildKind::Worker => close_payload(payloads.get(spec.tag)),
        ChildKind::Supervisor(s) => s.children.iter().for_each(|c| close_spec(payloads, c)),
    }
}

fn close_payload(payload: Option<&Payload>) {
    if let Some(Payload::InboxTask(t)) = payload {
        t.port().close();
    }
}

/// What a handle's lookup of `path` finds: `None` if no node is there, else
/// the node's payload (none for a supervisor without a pool). An inbox is
/// opened again first if its node was rebuilt since it closed.
pub(crate) fn lookup(engine: &Engine, payloads: &PayloadRegistry, path: &str) -> Option<Option<Payload>> {
    let node = engine.lookup(path)?;
    let payload = payloads.of_node(engine, node).cloned();
    if let Some(Payload::InboxTask(t)) = &payload {
        t.port().reopen();
    }
    Some(payload)
}

impl Children {
    /// Add a task worker with an inbox of `capacity` messages of type `M`:
    /// `f` is called for every run with that run's [`RunContext`] and its
    /// [`Inbox`]. The inbox is the child's: messages sent while it restarts
    /// wait for the next run. [`TreeHandle::child`] gives its address.
    /// Exit reasons as for [`Children::task`]. See [`Inbox`] for an example.
    pub fn task_with_inbox<M, F, Fut, E>(self, spec: ChildSpec, capacity: NonZeroUsize, f: F) -> Self
    where
        M: Send + 'static,
        F: Fn(RunContext, Inbox<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.push_worker(spec, Payload::InboxTask(InboxTask::new(InboxCell::new(capacity), f)))
    }
}

impl Tree {
    /// Add a task worker with an inbox to the root: see [`Children::task_with_inbox`].
    pub fn task_with_inbox<M, F, Fut, E>(self, spec: ChildSpec, capacity: NonZeroUsize, f: F) -> Self
    where
        M: Send + 'static,
        F: Fn(RunContext, Inbox<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        self.with_children(|c| c.task_with_inbox(spec, capacity, f))
    }
}

impl TreeHandle {
    /// Add a task worker with an inbox (as [`Tree::task_with_inbox`]) under
    /// the supervisor at `parent` and start it; on success, also its
    /// [`ChildRef`]. A child added again under a deleted child's name gets a
    /// new inbox: refs to the old one stay closed.
    ///
    /// ```
    /// # use std::num::NonZeroUsize;
    /// # use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{Inbox, Tree};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new()).start().unwrap();
    /// let echo = tree
    ///     .start_task_with_inbox("", ChildSpec::worker("echo"), NonZeroUsize::new(8).unwrap(), |_ctx, mut inbox: Inbox<String>| async move {
    ///         while let Some(line) = inbox.recv().await {
    ///             println!("{line}");
    ///         }
    ///         Ok::<(), String>(())
    ///     })
    ///     .await
    ///     .unwrap();
    /// echo.cast("hello".to_owned()).await.unwrap();
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub async fn start_task_with_inbox<M, F, Fut, E>(
        &self,
        parent: &str,
        spec: ChildSpec,
        capacity: NonZeroUsize,
        f: F,
    ) -> Result<ChildRef<M>, RequestError>
    where
        M: Send + 'static,
        F: Fn(RunContext, Inbox<M>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: std::fmt::Display + Send + 'static,
    {
        let path = child_path(parent, &spec.name);
        let cell = InboxCell::new(capacity);
        let child = cell.child_ref(&path);
        let payload = Payload::InboxTask(InboxTask::new(cell, f));
        let _: Reply = self.start_worker(parent, spec, payload).await?;
        Ok(child)
    }
}

/// The path of the child `name` of the supervisor at `parent`.
pub(crate) fn child_path(parent: &str, name: &str) -> String {
    if parent.is_empty() {
        name.to_owned()
    } else {
        format!("{parent}/{name}")
    }
}
