//! The address of a child with an inbox: [`ChildRef`], and how sending to it fails.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::handle::TreeHandle;
use crate::mailbox::{Mailbox, Refused};
use crate::message::Msg;
use crate::payloads::Payload;

/// The address of a task child with an inbox (see [`Inbox`](crate::Inbox)),
/// from [`TreeHandle::child`], [`TreeHandle::start_task_with_inbox`] or a
/// pool's [`start`](crate::PoolRef::start). Cheap to clone; every clone
/// sends to the same inbox.
///
/// The inbox is the child's: a message sent while the child restarts waits
/// for the next run. When the child is deleted (an operator's delete, a
/// temporary child that ended, its supervisor removed, the tree down) the
/// inbox closes for good: every send fails with the message given back,
/// senders waiting for room included, and a child added again under the
/// same name has a new inbox that this ref does not reach.
///
/// One sender's messages are received in the order it sent them
/// (`cast(a).await` then `cast(b).await`).
///
/// ```
/// use std::num::NonZeroUsize;
/// use vigil_core::{ChildSpec, Request, SupervisorSpec};
/// use vigil_tokio::{Inbox, Tree};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let tree = Tree::new(SupervisorSpec::new())
///     .task_with_inbox(ChildSpec::worker("log"), NonZeroUsize::new(16).unwrap(), |_ctx, mut inbox: Inbox<String>| async move {
///         while let Some(line) = inbox.recv().await {
///             println!("{line}");
///         }
///         Ok::<(), String>(())
///     })
///     .start()
///     .unwrap();
/// let log = tree.child::<String>("log").await.unwrap();
/// log.cast("started".to_owned()).await.unwrap();
/// tree.request(Request::TerminateChild { path: "log".into() }).await.unwrap();
/// tree.request(Request::DeleteChild { path: "log".into() }).await.unwrap();
/// let refused = log.cast("too late".to_owned()).await.unwrap_err();
/// assert_eq!(refused.into_inner(), "too late");
/// # });
/// ```
pub struct ChildRef<M> {
    mailbox: Arc<Mailbox<M>>,
    path: Arc<str>,
}

impl<M> Clone for ChildRef<M> {
    fn clone(&self) -> Self {
        ChildRef {
            mailbox: Arc::clone(&self.mailbox),
            path: Arc::clone(&self.path),
        }
    }
}

impl<M> std::fmt::Debug for ChildRef<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChildRef")
            .field("path", &self.path)
            .field("closed", &self.mailbox.is_closed())
            .finish()
    }
}

impl<M> ChildRef<M> {
    pub(crate) fn new(mailbox: Arc<Mailbox<M>>, path: Arc<str>) -> Self {
        ChildRef { mailbox, path }
    }
}

impl<M: Send + 'static> ChildRef<M> {
    /// The child's path in the tree.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Queue `msg` in the child's inbox, waiting while it is full. Fails,
    /// giving `msg` back, once the inbox is closed (the child was deleted).
    /// Dropping the future before it completes drops `msg` unsent.
    ///
    /// Like tokio's own channels, a cast spends the task's cooperative
    /// budget ([`tokio::task::coop`]).
    pub async fn cast(&self, msg: M) -> Result<(), CastError<M>> {
        tokio::task::coop::cooperative(self.mailbox.send(msg))
            .await
            .map_err(CastError)
    }

    /// Queue `msg` if the inbox has room now; else give it back with why.
    ///
    /// ```
    /// # use std::num::NonZeroUsize;
    /// # use vigil_core::{ChildSpec, SupervisorSpec};
    /// use vigil_tokio::{Inbox, Tree, TryCastError};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// // A child that never reads its one-message inbox.
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .task_with_inbox(ChildSpec::worker("busy"), NonZeroUsize::MIN, |ctx, _inbox: Inbox<u32>| async move {
    ///         ctx.stopped().await;
    ///         Ok::<(), String>(())
    ///     })
    ///     .start()
    ///     .unwrap();
    /// let busy = tree.child::<u32>("busy").await.unwrap();
    /// assert_eq!(busy.try_cast(1), Ok(()));
    /// assert_eq!(busy.try_cast(2), Err(TryCastError::Full(2)));
    /// tree.shutdown().await;
    /// assert_eq!(busy.try_cast(3), Err(TryCastError::Closed(3)));
    /// # });
    /// ```
    pub fn try_cast(&self, msg: M) -> Result<(), TryCastError<M>> {
        self.mailbox.try_send(msg).map_err(|(msg, why)| match why {
            Refused::Full => TryCastError::Full(msg),
            Refused::Closed => TryCastError::Closed(msg),
        })
    }

    /// Send the message `make` builds around a reply sender, and wait for
    /// the child's reply; at most `timeout` in all (waiting for room in the
    /// inbox included). `Duration::MAX` waits for ever, and saves arming a
    /// timer (about a third of a call's cost on a current-thread runtime,
    /// docs/BENCHMARKS.md).
    ///
    /// A message whose call timed out may still be handled later (it stays
    /// queued; its reply then goes nowhere). If the run handling it crashes,
    /// is killed or drops the reply sender, the call fails at once with
    /// [`CallError::Dropped`]; if the child is deleted first, with
    /// [`CallError::Closed`].
    ///
    /// ```
    /// # use std::num::NonZeroUsize;
    /// # use std::time::Duration;
    /// # use vigil_core::{ChildSpec, SupervisorSpec};
    /// use tokio::sync::oneshot;
    /// use vigil_tokio::{Inbox, Tree};
    ///
    /// struct Double(u64, oneshot::Sender<u64>);
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let tree = Tree::new(SupervisorSpec::new())
    ///     .task_with_inbox(ChildSpec::worker("doubler"), NonZeroUsize::new(4).unwrap(), |_ctx, mut inbox: Inbox<Double>| async move {
    ///         while let Some(Double(n, reply)) = inbox.recv().await {
    ///             let _ = reply.send(2 * n);
    ///         }
    ///         Ok::<(), String>(())
    ///     })
    ///     .start()
    ///     .unwrap();
    /// let doubler = tree.child::<Double>("doubler").await.unwrap();
    /// let four = doubler.call(|reply| Double(2, reply), Duration::from_secs(1)).await;
    /// assert_eq!(four, Ok(4));
    /// tree.shutdown().await;
    /// # });
    /// ```
    pub async fn call<R>(&self, make: impl FnOnce(oneshot::Sender<R>) -> M, timeout: Duration) -> Result<R, CallError> {
        let (reply, answer) = oneshot::channel();
        let exchange = async {
            tokio::task::coop::cooperative(self.mailbox.send(make(reply)))
                .await
                .map_err(|_| CallError::Closed)?;
            answer.await.map_err(|_| {
                if self.mailbox.is_closed() {
                    CallError::Closed
                } else {
                    CallError::Dropped
                }
            })
        };
        if timeout == Duration::MAX {
            // No deadline: no timer to arm.
            return exchange.await;
        }
        tokio::time::timeout(timeout, exchange)
            .await
            .unwrap_or(Err(CallError::Timeout))
    }

    /// Whether the inbox is closed (the child was deleted): every send fails.
    pub fn is_closed(&self) -> bool {
        self.mailbox.is_closed()
    }

    /// How many messages wait in the inbox now (for a monitor watching the
    /// child's backlog).
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

/// [`ChildRef::cast`] failed: the inbox is closed (the child was deleted).
/// Holds the message.
#[derive(Clone, PartialEq, Eq)]
pub struct CastError<M>(pub M);

impl<M> CastError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        self.0
    }
}

impl<M> std::fmt::Debug for CastError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CastError(..)")
    }
}

impl<M> std::fmt::Display for CastError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the child's inbox is closed: the child was deleted")
    }
}

impl<M> std::error::Error for CastError<M> {}

/// [`ChildRef::try_cast`] failed. Holds the message.
#[derive(Clone, PartialEq, Eq)]
pub enum TryCastError<M> {
    /// The inbox is full now.
    Full(M),
    /// The inbox is closed: the child was deleted.
    Closed(M),
}

impl<M> TryCastError<M> {
    /// The message that was not sent.
    pub fn into_inner(self) -> M {
        match self {
            TryCastError::Full(m) | TryCastError::Closed(m) => m,
        }
    }
}

impl<M> std::fmt::Debug for TryCastError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryCastError::Full(_) => f.write_str("Full(..)"),
            TryCastError::Closed(_) => f.write_str("Closed(..)"),
        }
    }
}

impl<M> std::fmt::Display for TryCastError<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TryCastError::Full(_) => f.write_str("the child's inbox is full"),
            TryCastError::Closed(_) => f.write_str("the child's inbox is closed: the child was deleted"),
        }
    }
}

impl<M> std::error::Error for TryCastError<M> {}

/// Why [`ChildRef::call`] got no reply.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// No reply within the timeout (the message may still be queued, and
    /// handled later).
    #[error("no reply within the call's timeout")]
    Timeout,
    /// The reply sender was dropped unanswered: the run handling the message
    /// crashed, was killed or stopped before replying, or dropped it.
    #[error("the child dropped the reply without answering (it crashed or was stopped while handling the call)")]
    Dropped,
    /// The inbox is closed (the child was deleted) before the message was
    /// handled.
    #[error("the child's inbox is closed: the child was deleted")]
    Closed,
}

/// Why [`TreeHandle::child`] gave no ref.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ChildRefError {
    /// No child at that path.
    #[error("no child at `{0}`")]
    NotFound(String),
    /// The child has no inbox (a task declared without one, a process, or a
    /// supervisor).
    #[error("`{0}` has no inbox")]
    NoInbox(String),
    /// The child's inbox takes another message type.
    #[error("the inbox of `{path}` takes `{found}`, not `{expected}`")]
    WrongType {
        /// The child.
        path: String,
        /// The message type asked for.
        expected: &'static str,
        /// The message type the inbox takes.
        found: &'static str,
    },
    /// The tree is down.
    #[error("the tree is down")]
    TreeDown,
}

impl TreeHandle {
    /// The address of the child at `path`, whose inbox takes messages of
    /// type `M` (declared with [`Tree::task_with_inbox`](crate::Tree::task_with_inbox)
    /// or a pool with an inbox). See [`ChildRef`] for an example.
    pub async fn child<M: Send + 'static>(&self, path: &str) -> Result<ChildRef<M>, ChildRefError> {
        let inbox = match self.lookup(path).await {
            Err(_down) => return Err(ChildRefError::TreeDown),
            Ok(None) => return Err(ChildRefError::NotFound(path.to_owned())),
            Ok(Some(Some(Payload::InboxTask(t)))) => t,
            Ok(Some(_)) => return Err(ChildRefError::NoInbox(path.to_owned())),
        };
        let port = inbox.port();
        port.child_ref(path)
            .downcast::<ChildRef<M>>()
            .map(|r| *r)
            .map_err(|_| ChildRefError::WrongType {
                path: path.to_owned(),
                expected: std::any::type_name::<M>(),
                found: port.message_type(),
            })
    }

    /// What the driver finds at `path` (see [`crate::inbox::lookup`]);
    /// `Err` once the tree is down.
    pub(crate) async fn lookup(&self, path: &str) -> Result<Option<Option<Payload>>, TreeDown> {
        let (reply, found) = oneshot::channel();
        self.tx
            .send(Msg::Lookup {
                path: path.to_owned(),
                reply,
            })
            .map_err(|_| TreeDown)?;
        found.await.map_err(|_| TreeDown)
    }
}

/// The tree is down: the driver no longer answers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct TreeDown;
