//! Replay: run again from a trace's meta line and compare line by line.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};

use vigil_config::Script;

use crate::meta_line::{options_for, TraceMeta};
use crate::replay_error::ReplayError;
use crate::run::run_seed;
use crate::sim_tree::SimTree;
use vigil_trace::TraceWriter;

/// A `Write` that collects lines into shared memory.
#[derive(Clone, Default)]
struct Collect(Arc<Mutex<Vec<u8>>>);

impl Write for Collect {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Run `tree` again as `meta` says and compare with `recorded` (the whole trace text).
pub fn replay(tree: &SimTree, meta: &TraceMeta, script: Option<Script>, recorded: &str) -> Result<u64, ReplayError> {
    let sink = Collect::default();
    let opts = options_for(meta, script);
    let report = run_seed(tree, meta.seed, &opts, TraceWriter::to_sink(Box::new(sink.clone())));
    let bytes = sink.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
    let replayed = String::from_utf8_lossy(&bytes);
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
