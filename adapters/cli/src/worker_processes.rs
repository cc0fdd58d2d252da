//! The OS processes of a config's workers, as `vigil run` starts them.

use vigil_config::{TreeConfig, WorkerConfig};
use vigil_tokio::{OutputMode, ProcessSpec};

/// The process of every worker of `cfg`, indexed like `cfg.workers` (a
/// worker's tag is its index in both). Whether a run speaks sd_notify
/// follows the worker's readiness; the driver derives it.
pub(crate) fn processes(cfg: &TreeConfig, output: &OutputMode) -> Vec<ProcessSpec> {
    cfg.workers.iter().map(|w| process(w, output)).collect()
}

fn process(w: &WorkerConfig, output: &OutputMode) -> ProcessSpec {
    ProcessSpec {
        command: w.command.clone(),
        env: w.env.clone(),
        cwd: w.cwd.clone(),
        output: output.clone(),
        memory_limit: w.memory_limit,
    }
}
