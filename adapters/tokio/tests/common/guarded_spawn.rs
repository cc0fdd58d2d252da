//! `spawn_process` as the suites that include it call it: every run starts
//! under a process guard forked by a process spawner (the test binary is
//! one, see `guard_hook.rs`), as under `vigil run`. Each thread has its own
//! spawner: a spawner's task lives in the runtime that started it, and each
//! test has its own runtime (on its own thread).

use vigil_core::{Readiness, RunId};

use crate::process::{spawn_process as spawn_with, Launch, ProcessHandle, ProcessSpec};
use crate::report::ReportSender;
use crate::spawner::Spawner;

thread_local! {
    static SPAWNER: Spawner = Spawner::default();
}

pub(crate) fn spawn_process(
    spec: &ProcessSpec,
    readiness: Readiness,
    run: RunId,
    path: &str,
    reports: ReportSender,
) -> Result<ProcessHandle, String> {
    SPAWNER.with(|spawner| spawn_with(spec, readiness, run, path, reports, Launch::Guarded, spawner))
}
