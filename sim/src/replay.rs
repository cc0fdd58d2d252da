//! Replay: run again from a trace's meta line and compare line by line.

use vigil_config::Script;

use crate::meta_line::{options_for, TraceMeta};
use crate::replay_error::ReplayError;
use crate::run::run_seed;
use crate::sim_tree::SimTree;
use vigil_trace::{SharedBuffer, TraceWriter};

/// Run `tree` again as `meta` says and compare with `recorded` (the whole trace text).
pub fn replay(tree: &SimTree, meta: &TraceMeta, script: Option<Script>, recorded: &str) -> Result<u64, ReplayError> {
    let sink = SharedBuffer::default();
    let opts = options_for(meta, script);
    let report = run_seed(tree, meta.seed, &opts, TraceWriter::to_sink(Box::new(sink.clone())));
    let replayed = sink.text();
    let mut a = recorded.lines();
    let mut b = replayed.lines();
    let mut line = 0;
    loop {
        line += 1;
        match (a.next(), b.next()) {
            (None, None) => return Ok(report.trace_lines),
            (x, y) if x == y => continue,
            (x, y) => {
                return Err(ReplayError::Diverged {
                    line,
                    recorded: x.map(str::to_owned),
                    replayed: y.map(str::to_owned),
                })
            }
        }
    }
}
