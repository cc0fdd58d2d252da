//! The queue behind a child's inbox: bounded, first in first out, shared by
//! every sender and by the child's live run, and outliving each run.
//!
//! One mutex guards the queue, the receiving run's waker and who may
//! receive; a [`Semaphore`] with one permit per free slot gives senders
//! back-pressure in arrival order and wakes every waiting sender when the
//! mailbox closes. No user code runs under the lock (messages dropped at
//! close are dropped after it is released).
//!
//! **Who may receive.** The driver names the one run that may take
//! messages ([`Mailbox::attach`], at each spawn) and withdraws that right
//! when the run is killed or torn down ([`RunGate::end`]); when the run is
//! asked to stop ([`RunGate::stop`]) its waiting receives end, and only
//! receives that do not wait may still drain the queue. A run without the right gets nothing, so a run that
//! was abandoned inside a poll (docs/ADAPTER.md, "Task workers") cannot take
//! messages meant for its successor; messages it did not take stay queued.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll, Waker};

use tokio::sync::{Semaphore, TryAcquireError};

/// A queue that grew past this many slots and then emptied gives its buffer
/// back, so an idle child holds no memory for a past burst.
const KEEP_SLOTS: usize = 64;

/// The run allowed to receive, and whether it was asked to stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owner {
    generation: u64,
    stopping: bool,
}

struct State<M> {
    queue: VecDeque<M>,
    owner: Option<Owner>,
    /// The receiving run's waker, while it waits for a message.
    waker: Option<Waker>,
    closed: bool,
}

/// Why a send did not queue its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Every slot is taken (only for [`Mailbox::try_send`]).
    Full,
    /// The mailbox is closed: its child was deleted.
    Closed,
}

/// What a receive without waiting found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Take<M> {
    Message(M),
    /// Nothing queued now.
    Empty,
    /// This run may receive no more (stop, end, or closed mailbox).
    Ended,
}

/// A bounded queue of `M` (see the module docs).
pub(crate) struct Mailbox<M> {
    state: Mutex<State<M>>,
    /// One permit per free slot.
    slots: Semaphore,
    capacity: usize,
}

impl<M> Mailbox<M> {
    /// An open, empty mailbox of `capacity` slots (at most
    /// [`Semaphore::MAX_PERMITS`]; a larger capacity is that), which no run
    /// may receive from until one is attached. Allocates nothing but itself.
    pub(crate) fn new(capacity: usize) -> Self {
        let capacity = capacity.min(Semaphore::MAX_PERMITS);
        Mailbox {
            state: Mutex::new(State {
                queue: VecDeque::new(),
                owner: None,
                waker: None,
                closed: false,
            }),
            slots: Semaphore::new(capacity),
            capacity,
        }
    }

    /// A closed mailbox, for the refs of children that have no inbox.
    pub(crate) fn closed() -> Self {
        let m = Mailbox::new(1);
        m.close();
        m
    }

    fn lock(&self) -> MutexGuard<'_, State<M>> {
        // Nothing panics under the lock; a poisoned lock still holds a
        // consistent queue.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// How many slots it has.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many messages wait in it now.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Whether it is closed (its child was deleted).
    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Queue `msg`, waiting for a free slot; gives it back if the mailbox is
    /// closed (before or while waiting). Waiting senders are served in the
    /// order they started waiting.
    pub(crate) async fn send(&self, msg: M) -> Result<(), M> {
        match self.slots.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::Closed) => return Err(msg),
            Err(TryAcquireError::NoPermits) => match self.slots.acquire().await {
                Ok(permit) => permit.forget(),
                Err(_closed) => return Err(msg),
            },
        }
        self.push(msg)
    }

    /// Queue `msg` if a slot is free now.
    pub(crate) fn try_send(&self, msg: M) -> Result<(), (M, Refused)> {
        match self.slots.try_acquire() {
            Ok(permit) => permit.forget(),
            Err(TryAcquireError::Closed) => return Err((msg, Refused::Closed)),
            Err(TryAcquireError::NoPermits) => return Err((msg, Refused::Full)),
        }
        self.push(msg).map_err(|msg| (msg, Refused::Closed))
    }

    /// Append `msg` (its slot is taken) and wake the receiving run.
    fn push(&self, msg: M) -> Result<(), M> {
        let waker = {
            let mut s = self.lock();
            if s.closed {
                return Err(msg);
            }
            s.queue.push_back(msg);
            s.waker.take()
        };
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// The next message for the run `generation`: `Ready(None)` once that
    /// run was asked to stop or may receive no more; otherwise it waits (the
    /// waker is kept).
    pub(crate) fn poll_take(&self, generation: u64, cx: &mut Context<'_>) -> Poll<Option<M>> {
        let mut s = self.lock();
        match s.take(generation, true) {
            Take::Message(m) => {
                drop(s);
                self.slots.add_permits(1);
                Poll::Ready(Some(m))
            }
            Take::Ended => Poll::Ready(None),
            Take::Empty => {
                match &s.waker {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => s.waker = Some(cx.waker().clone()),
                }
                Poll::Pending
            }
        }
    }

    /// The next message for the run `generation`, without waiting; a run
    /// asked to stop may still take what is queued (to drain it before it
    /// returns), until it ends.
    pub(crate) fn try_take(&self, generation: u64) -> Take<M> {
        let taken = self.lock().take(generation, false);
        if matches!(taken, Take::Message(_)) {
            self.slots.add_permits(1);
        }
        taken
    }

    /// Let the run `generation` receive (it is the child's live run now);
    /// `false` if the mailbox is closed.
    pub(crate) fn attach(&self, generation: u64) -> bool {
        let mut s = self.lock();
        if s.closed {
            return false;
        }
        s.owner = Some(Owner {
            generation,
            stopping: false,
        });
        // A waker of an earlier run: that run receives nothing any more.
        s.waker = None;
        true
    }

    /// Close it for good: senders (waiting ones too) get their message back,
    /// the receiving run gets `None`, and what was queued is dropped (a
    /// call's reply sender among it tells its caller).
    pub(crate) fn close(&self) {
        let (queued, waker) = {
            let mut s = self.lock();
            if s.closed {
                return;
            }
            s.closed = true;
            s.owner = None;
            (std::mem::take(&mut s.queue), s.waker.take())
        };
        self.slots.close();
        // The driver closes inboxes: a message whose `drop` panics must not
        // take it down. One at a time, so a second such panic is not raised
        // while the first unwinds (which would abort).
        for msg in queued {
            if let Err(panic) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(msg))) {
                tracing::error!(
                    panic = %crate::task::panic_message(panic.as_ref()),
                    "a message dropped with its closed inbox panicked in its drop"
                );
            }
        }
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Change the owner if it is still the run `generation`, and wake it.
    fn withdraw(&self, generation: u64, to: impl FnOnce(Owner) -> Option<Owner>) {
        let waker = {
            let mut s = self.lock();
            match s.owner {
                Some(o) if o.generation == generation => {
                    s.owner = to(o);
                    s.waker.take()
                }
                _ => None,
            }
        };
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<M> State<M> {
    /// The next message for the run `generation`; `waiting` says the run
    /// would wait for one (a `recv`), which ends at its stop, while a
    /// `try_recv` may still drain the queue until the run ends.
    fn take(&mut self, generation: u64, waiting: bool) -> Take<M> {
        let may = match self.owner {
            Some(o) => o.generation == generation && !(waiting && o.stopping),
            None => false,
        };
        if self.closed || !may {
            return Take::Ended;
        }
        match self.queue.pop_front() {
            Some(m) => {
                if self.queue.is_empty() && self.queue.capacity() > KEEP_SLOTS {
                    self.queue = VecDeque::new();
                }
                Take::Message(m)
            }
            None => Take::Empty,
        }
    }
}

/// The driver's side of a mailbox for one run, whatever its message type.
pub(crate) trait RunGate: Send + Sync {
    /// The run `generation` was asked to stop: its waiting receives end
    /// (what is queued stays for the next run, unless this one drains it
    /// without waiting).
    fn stop(&self, generation: u64);
    /// The run `generation` was killed or ended: it receives no more.
    fn end(&self, generation: u64);
}

impl<M: Send> RunGate for Mailbox<M> {
    fn stop(&self, generation: u64) {
        self.withdraw(generation, |o| Some(Owner { stopping: true, ..o }));
    }

    fn end(&self, generation: u64) {
        self.withdraw(generation, |_| None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn noop_cx() -> Context<'static> {
        Context::from_waker(Waker::noop())
    }

    #[test]
    fn only_the_attached_run_receives_waiting_until_its_stop_and_at_all_until_its_end() {
        let m = Mailbox::new(4);
        m.try_send(1).unwrap();
        assert_eq!(m.try_take(7), Take::Ended, "no run attached yet");
        assert!(m.attach(7));
        assert_eq!(m.try_take(8), Take::Ended, "another run");
        assert_eq!(m.try_take(7), Take::Message(1));
        assert_eq!(m.try_take(7), Take::Empty);
        m.try_send(2).unwrap();
        m.try_send(3).unwrap();
        m.stop(7);
        assert!(
            matches!(m.poll_take(7, &mut noop_cx()), Poll::Ready(None)),
            "a waiting receive ends at the stop"
        );
        assert_eq!(m.try_take(7), Take::Message(2), "the stopping run may still drain");
        assert!(m.attach(9));
        m.end(7); // a late end of the old run changes nothing
        assert_eq!(m.try_take(7), Take::Ended);
        assert_eq!(m.try_take(9), Take::Message(3));
        m.end(9);
        assert_eq!(m.try_take(9), Take::Ended);
    }

    #[test]
    fn a_full_mailbox_refuses_and_a_take_frees_a_slot() {
        let m = Mailbox::new(2);
        assert!(m.attach(1));
        m.try_send('a').unwrap();
        m.try_send('b').unwrap();
        assert_eq!(m.try_send('c'), Err(('c', Refused::Full)));
        assert_eq!(m.try_take(1), Take::Message('a'));
        m.try_send('c').unwrap();
        assert_eq!(m.len(), 2);
    }

    #[test]
    fn closing_refuses_senders_ends_the_receiver_and_drops_what_was_queued() {
        let m = Mailbox::new(2);
        assert!(m.attach(1));
        let dropped = Arc::new(());
        m.try_send(Arc::clone(&dropped)).unwrap();
        m.close();
        assert_eq!(Arc::strong_count(&dropped), 1, "the queued message was dropped");
        assert!(matches!(m.try_send(Arc::new(())), Err((_, Refused::Closed))));
        assert!(matches!(m.poll_take(1, &mut noop_cx()), Poll::Ready(None)));
        assert!(!m.attach(2), "a closed mailbox is never reopened");
    }

    #[test]
    fn a_huge_capacity_is_capped_instead_of_panicking() {
        let m: Mailbox<()> = Mailbox::new(usize::MAX);
        assert_eq!(m.capacity(), Semaphore::MAX_PERMITS);
    }

    #[test]
    fn a_drained_burst_gives_its_buffer_back() {
        let m = Mailbox::new(1000);
        assert!(m.attach(1));
        for i in 0..500 {
            m.try_send(i).unwrap();
        }
        while let Take::Message(_) = m.try_take(1) {}
        assert_eq!(m.lock().queue.capacity(), 0);
    }

    #[tokio::test]
    async fn a_sender_waiting_for_a_slot_gets_its_message_back_at_close() {
        let m = Arc::new(Mailbox::new(1));
        m.try_send(1).unwrap();
        let m2 = Arc::clone(&m);
        let waiting = tokio::spawn(async move { m2.send(2).await });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished(), "it waits for a slot");
        m.close();
        assert_eq!(waiting.await.unwrap(), Err(2));
    }
}
