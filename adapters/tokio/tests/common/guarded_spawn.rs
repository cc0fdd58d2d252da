//! `spawn_process` as the suites that include it call it: every run starts
//! under a process guard (the test binary is one, see `guard_hook.rs`), as
//! under `vigil run`.

use vigil_core::{Readiness, RunId};

use crate::process::{spawn_process as spawn_with, Launch, ProcessHandle, ProcessSpec};
use crate::report::ReportSender;

pub(crate) fn spawn_process(
    spec: &ProcessSpec,
    readiness: Readiness,
    run: RunId,
    path: &str,
    reports: ReportSender,
) -> Result<ProcessHandle, String> {
    spawn_with(spec, readiness, run, path, reports, Launch::Guarded)
}
