//! A task run's stop signal: what [`RunContext::stopped`],
//! [`RunContext::is_stop_requested`] and [`RunContext::stop_token`] read.
//!
//! It lives inline in the run's shared state (no allocation of its own):
//! a flag, a [`Notify`] for the waiters, and a [`CancellationToken`] made
//! only when the run asks for one. Most runs never do, and a token costs an
//! allocation (with its own lock) per run on the restart path. Once made,
//! the token is the same signal: a stop cancels it, and cancelling it (as
//! code holding a token may) counts as the stop, as it always did.
//!
//! [`RunContext::stopped`]: crate::RunContext::stopped
//! [`RunContext::is_stop_requested`]: crate::RunContext::is_stop_requested
//! [`RunContext::stop_token`]: crate::RunContext::stop_token

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// One run's stop signal (see the module docs).
#[derive(Debug, Default)]
pub(crate) struct StopSignal {
    /// The supervisor asked the run to stop (set under `token`'s lock).
    requested: AtomicBool,
    /// A token exists (set under `token`'s lock): only then is it read.
    has_token: AtomicBool,
    /// Wakes the waiters of [`StopSignal::wait`] at a stop, and when the
    /// token is made (they then wait on it, which a user may cancel).
    notify: Notify,
    /// The run's token, made by its first [`StopSignal::token`].
    token: Mutex<Option<CancellationToken>>,
}

impl StopSignal {
    /// Stop the run: every waiter wakes, the token (if any) is cancelled.
    pub(crate) fn stop(&self) {
        let token = {
            let token = self.token.lock().unwrap_or_else(PoisonError::into_inner);
            self.requested.store(true, Ordering::SeqCst);
            token.clone()
        };
        self.notify.notify_waiters();
        if let Some(token) = token {
            token.cancel();
        }
    }

    /// Whether the run was asked to stop (or its token was cancelled).
    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst) || self.made_token().is_some_and(|t| t.is_cancelled())
    }

    /// Resolves once [`is_requested`](Self::is_requested) is true.
    pub(crate) async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the checks: a stop (or a token made) after
            // them wakes this waiter.
            notified.as_mut().enable();
            if self.requested.load(Ordering::SeqCst) {
                return;
            }
            if let Some(token) = self.made_token() {
                // A stop cancels it too.
                return token.cancelled_owned().await;
            }
            notified.await;
        }
    }

    /// The run's token: made at the first call (cancelled already if the
    /// run was asked to stop), the same token after.
    pub(crate) fn token(&self) -> CancellationToken {
        let (token, made) = {
            let mut slot = self.token.lock().unwrap_or_else(PoisonError::into_inner);
            match &*slot {
                Some(token) => (token.clone(), false),
                None => {
                    let token = CancellationToken::new();
                    if self.requested.load(Ordering::SeqCst) {
                        token.cancel();
                    }
                    *slot = Some(token.clone());
                    self.has_token.store(true, Ordering::SeqCst);
                    (token, true)
                }
            }
        };
        if made {
            // Waiters switch to the token, so that its cancel wakes them.
            self.notify.notify_waiters();
        }
        token
    }

    /// The token, if one was made.
    fn made_token(&self) -> Option<CancellationToken> {
        if !self.has_token.load(Ordering::SeqCst) {
            return None;
        }
        self.token.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[tokio::test]
    async fn a_stop_wakes_a_waiter_and_cancels_a_token_made_before_or_after() {
        let signal = Arc::new(StopSignal::default());
        let before = signal.token();
        let waiter = tokio::spawn({
            let signal = Arc::clone(&signal);
            async move { signal.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!signal.is_requested());
        assert!(!before.is_cancelled());
        signal.stop();
        waiter.await.expect("the waiter ends");
        assert!(signal.is_requested());
        assert!(before.is_cancelled());
        assert!(signal.token().is_cancelled(), "the same token, cancelled");
    }

    #[tokio::test]
    async fn a_token_made_after_the_stop_is_cancelled() {
        let signal = StopSignal::default();
        signal.stop();
        assert!(signal.token().is_cancelled());
        signal.wait().await;
    }

    #[tokio::test]
    async fn a_waiter_without_a_token_wakes_at_the_stop() {
        let signal = Arc::new(StopSignal::default());
        let waiter = tokio::spawn({
            let signal = Arc::clone(&signal);
            async move { signal.wait().await }
        });
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        signal.stop();
        waiter.await.expect("the waiter ends");
    }

    #[tokio::test]
    async fn cancelling_the_token_is_the_stop_even_for_a_waiter_from_before_it_was_made() {
        let signal = Arc::new(StopSignal::default());
        let waiter = tokio::spawn({
            let signal = Arc::clone(&signal);
            async move { signal.wait().await }
        });
        // The waiter waits on the notify: no token yet.
        tokio::task::yield_now().await;
        let token = signal.token();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished());
        token.cancel();
        waiter.await.expect("the waiter ends");
        assert!(signal.is_requested());
    }

    #[tokio::test]
    async fn a_stop_racing_a_token_from_another_thread_always_cancels_it() {
        for _ in 0..200 {
            let signal = Arc::new(StopSignal::default());
            let maker = std::thread::spawn({
                let signal = Arc::clone(&signal);
                move || signal.token()
            });
            signal.stop();
            let token = maker.join().expect("the thread ends");
            assert!(token.is_cancelled());
        }
    }
}
