//! Operations the control server cannot carry out alone and hands to the
//! program that runs the tree: reloading its config (`reload`) and adding
//! a child written as config (`start_child`). The `vigil` binary installs
//! one ([`super::ControlServer::set_operator`]); without one, both
//! operations answer `unavailable`.

use std::future::Future;
use std::pin::Pin;

use serde_json::Value;

/// The answer of an [`Operator`], to come.
pub type OperatorFuture = Pin<Box<dyn Future<Output = Result<Value, OperatorError>> + Send>>;

/// What carries out `reload` and `start_child` for a control server.
///
/// ```
/// use serde_json::json;
/// use vigil_tokio::control::{Operator, OperatorError, OperatorFuture};
///
/// struct NoConfig;
/// impl Operator for NoConfig {
///     fn reload(&self, dry_run: bool) -> OperatorFuture {
///         Box::pin(async move { Ok(json!({ "dry_run": dry_run, "steps": [] })) })
///     }
///     fn start_child(&self, _parent: String, _snippet: String, _source: String) -> OperatorFuture {
///         Box::pin(async { Err(OperatorError::new("unavailable", "no config")) })
///     }
/// }
/// let op: std::sync::Arc<dyn Operator> = std::sync::Arc::new(NoConfig);
/// # let _ = op;
/// ```
pub trait Operator: Send + Sync + 'static {
    /// Apply the config file's current version to the running tree (as
    /// SIGHUP does), or with `dry_run` only say what that would do; the
    /// answer describes the changes.
    fn reload(&self, dry_run: bool) -> OperatorFuture;

    /// Add the child described by `snippet` (one `[[child]]` table of a
    /// config, as TOML text) under the supervisor `parent` and start it.
    /// `source` names the snippet in error messages (its file name).
    fn start_child(&self, parent: String, snippet: String, source: String) -> OperatorFuture;

    /// Set the number of replicas of the template at `path` to `count`
    /// (`vigil ctl scale`). Without an implementation: `unavailable`.
    fn scale(&self, path: String, count: u32) -> OperatorFuture {
        let _ = (path, count);
        Box::pin(async { Err(OperatorError::new("unavailable", NO_TEMPLATES)) })
    }

    /// Restart the replicas of the template at `path` one group of at most
    /// `surge` at a time, each replacement ready before the old run stops
    /// (`vigil ctl restart-all --rolling --surge`). Without an
    /// implementation: `unavailable`.
    fn surge_restart(&self, path: String, surge: u32) -> OperatorFuture {
        let _ = (path, surge);
        Box::pin(async { Err(OperatorError::new("unavailable", NO_TEMPLATES)) })
    }
}

/// Why `scale` and a surge restart are unavailable without an operator that has templates.
const NO_TEMPLATES: &str = "this server has no replica templates (they come from a config's `count`)";

/// Why an [`Operator`] refused: a stable code (the `error.code` of the
/// reply) and a message for people.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct OperatorError {
    /// `bad_config`, `bad_spec`, `not_found`, ... (docs/PROTOCOL.md).
    pub code: &'static str,
    /// What went wrong, precisely (a config error names file, line and column).
    pub message: String,
}

impl OperatorError {
    /// An error with this code and message.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        OperatorError {
            code,
            message: message.into(),
        }
    }
}

/// A server's operator, installed once, read by every connection.
#[derive(Default)]
pub(crate) struct OperatorSlot(std::sync::OnceLock<std::sync::Arc<dyn Operator>>);

impl OperatorSlot {
    /// Install `operator`; `false` if one was installed already.
    pub(crate) fn set(&self, operator: std::sync::Arc<dyn Operator>) -> bool {
        self.0.set(operator).is_ok()
    }

    /// The installed operator.
    pub(crate) fn get(&self) -> Option<&std::sync::Arc<dyn Operator>> {
        self.0.get()
    }
}

impl std::fmt::Debug for OperatorSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("OperatorSlot").field(&self.0.get().is_some()).finish()
    }
}
