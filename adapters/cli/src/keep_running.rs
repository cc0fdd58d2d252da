//! `vigil run --keep-running` (or `[run] keep_running = true`): a tree
//! that gave up or failed to start leaves vigil up, inspectable (`ctl
//! status`, metrics, HTTP) and startable again with `vigil ctl start-tree`
//! (docs/OPERATING.md, "Keeping vigil up when the tree is down").

use std::path::Path;

use vigil_config::TreeConfig;
use vigil_core::Outcome;
use vigil_tokio::control::start_tree::{StartRequest, StartRequests};
use vigil_tokio::control::ControlServer;
use vigil_tokio::{OutputMode, Tree, TreeHandle};

/// Whether vigil stays up after a tree that ended so: a root give-up or a
/// failed start. A shutdown (a signal, `ctl shutdown`, `auto_shutdown`,
/// `lifespan`) still ends vigil.
pub fn stays_up(outcome: Outcome) -> bool {
    matches!(outcome, Outcome::RootGaveUp | Outcome::StartFailed)
}

/// The next `start-tree` request, or never (no `--keep-running`).
pub async fn next(starts: &mut Option<StartRequests>) -> Option<StartRequest> {
    match starts {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// Answer `request`: start the tree again from the config file as it reads
/// now (the control socket and the HTTP endpoint stay as they are), served
/// by `control`. The new tree and its config, or `None` if it could not
/// start (the client is told why).
pub fn restart(
    request: StartRequest,
    config: &Path,
    output: &OutputMode,
    control: &ControlServer,
) -> Option<(TreeHandle, TreeConfig)> {
    let cfg = match vigil_config::load_tree(config) {
        Ok(c) => c,
        Err(e) => {
            request.failed(format!("the config does not load, the tree stays down: {e}"));
            return None;
        }
    };
    let tree = Tree::from_config_with_output(&cfg, output)
        .control(control.clone())
        .seed(crate::run_cmd::ENGINE_SEED);
    match tree.start() {
        Ok(sup) => {
            tracing::info!(config = %cfg.source, "the tree is started again (start-tree)");
            request.started();
            Some((sup, cfg))
        }
        Err(e) => {
            request.failed(format!("the tree cannot start: {e}"));
            None
        }
    }
}
