//! `vigil run` under systemd (`Type=notify`): vigil's own notify socket,
//! if it has one, taken out of the environment its children inherit, and
//! what vigil tells it (vigil_tokio::systemd; docs/OPERATING.md, "systemd").

use std::sync::Arc;

use vigil_tokio::systemd::{Reporter, SystemdNotify};
use vigil_tokio::TreeHandle;

/// vigil's notify socket, or nothing (not run by systemd): each message
/// is then a no-op.
#[derive(Clone)]
pub struct Notify(Option<Arc<SystemdNotify>>);

/// Read `NOTIFY_SOCKET` and the watchdog variables, then remove them from
/// the environment. Call before the runtime starts threads. A value that
/// cannot be used is logged, and vigil runs without notifying.
pub fn from_env() -> Notify {
    let notify = match SystemdNotify::from_env() {
        Ok(n) => n.map(Arc::new),
        Err(e) => {
            tracing::error!("{e}; vigil will not notify systemd");
            None
        }
    };
    SystemdNotify::remove_env();
    if let Some(n) = &notify {
        tracing::info!(watchdog = ?n.watchdog_interval(), "notifying systemd");
    }
    Notify(notify)
}

impl Notify {
    /// Report the tree (READY=1, STATUS=, WATCHDOG=1) while the reporter lives.
    pub fn report(&self, sup: &TreeHandle) -> Option<Reporter> {
        self.0.as_ref().map(|n| n.report(sup.clone()))
    }

    /// `STOPPING=1`.
    pub fn stopping(&self) {
        self.send(SystemdNotify::stopping);
    }

    /// `RELOADING=1` and `MONOTONIC_USEC=`.
    pub fn reloading(&self) {
        self.send(SystemdNotify::reloading);
    }

    /// `READY=1` once `reload` has ended (applied, or failed and logged: the
    /// tree runs on either way).
    pub fn ready_after(&self, reload: tokio::task::JoinHandle<()>) {
        if let Some(n) = self.0.clone() {
            tokio::spawn(async move {
                let _ = reload.await;
                if let Err(e) = n.ready() {
                    tracing::warn!(error = %e, "cannot notify systemd");
                }
            });
        }
    }

    fn send(&self, f: impl FnOnce(&SystemdNotify) -> std::io::Result<()>) {
        if let Some(n) = &self.0 {
            if let Err(e) = f(n) {
                tracing::warn!(error = %e, "cannot notify systemd");
            }
        }
    }
}
