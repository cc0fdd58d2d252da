//! The OS processes of a config's workers, as a reload starts them (the
//! first start builds the whole tree with `Tree::from_config_with_output`,
//! which converts each worker the same way, `ProcessSpec::from_worker`).

use vigil_config::{TreeConfig, WorkerConfig};
use vigil_tokio::{OutputMode, ProcessSpec};

/// The process of every worker of `cfg`, indexed like `cfg.workers` (a
/// worker's tag is its index in both). Whether a run speaks sd_notify
/// follows the worker's readiness; the driver derives it.
pub(crate) fn processes(cfg: &TreeConfig, output: &OutputMode) -> Vec<ProcessSpec> {
    cfg.workers.iter().map(|w| process(w, output)).collect()
}

fn process(w: &WorkerConfig, output: &OutputMode) -> ProcessSpec {
    ProcessSpec::from_worker(w, output)
}
