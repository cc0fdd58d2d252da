//! Replay: run again from a trace's meta line and compare line by line.

use std::io::{self, Write};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_config::{Script, TreeConfig};

use crate::run::{run_seed, SimOptions};
use vigil_trace::TraceWriter;

/// What a trace's first line says about the run that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceMeta {
    /// The seed.
    pub seed: u64,
    /// The config file it simulated.
    pub config: String,
    /// The faulty phase's duration.
    pub duration: Duration,
    /// Whether random faults were on.
    pub random_faults: bool,
    /// The script file, if any.
    pub script: Option<String>,
    /// Whether the liveness phase ran.
    pub liveness: bool,
    /// The step budget (`max_steps` in the meta line; absent: the default).
    pub max_steps: u64,
    /// Test-only: the deliberate engine bug the run had (`inject_bug` in the meta line).
    #[cfg(feature = "bug-injection")]
    pub inject_bug: Option<vigil_core::InjectedBug>,
}

/// Why a replay could not be done, or how it differed.
#[derive(Debug, PartialEq, Eq)]
pub enum ReplayError {
    /// The first line is not a vigil meta line.
    BadMeta(String),
    /// The replayed run wrote a different trace.
    Diverged {
        /// 1-based line number of the first difference.
        line: usize,
        /// The line in the file (`None`: the file ended first).
        recorded: Option<String>,
        /// The line of the replay (`None`: the replay ended first).
        replayed: Option<String>,
    },
}

impl std::fmt::Display for ReplayError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReplayError::BadMeta(m) => write!(f, "not a vigil trace: {m}"),
            ReplayError::Diverged {
                line,
                recorded,
                replayed,
            } => write!(
                f,
                "the replay differs at line {line}:\n  recorded: {}\n  replayed: {}",
                recorded.as_deref().unwrap_or("(end of trace)"),
                replayed.as_deref().unwrap_or("(end of replay)")
            ),
        }
    }
}

impl std::error::Error for ReplayError {}

/// Read the meta line of a trace.
pub fn parse_meta(first_line: &str) -> Result<TraceMeta, ReplayError> {
    let v: serde_json::Value =
        serde_json::from_str(first_line).map_err(|e| ReplayError::BadMeta(format!("first line: {e}")))?;
    if v.get("ev").and_then(|e| e.as_str()) != Some("meta") {
        return Err(ReplayError::BadMeta("the first line is not a meta line".into()));
    }
    let num = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_u64())
            .ok_or_else(|| ReplayError::BadMeta(format!("missing `{k}`")))
    };
    let flag = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_bool())
            .ok_or_else(|| ReplayError::BadMeta(format!("missing `{k}`")))
    };
    Ok(TraceMeta {
        seed: num("seed")?,
        config: v
            .get("config")
            .and_then(|x| x.as_str())
            .ok_or_else(|| ReplayError::BadMeta("missing `config`".into()))?
            .to_owned(),
        duration: Duration::from_nanos(num("duration_ns")?),
        random_faults: flag("random_faults")?,
        script: v.get("script").and_then(|x| x.as_str()).map(str::to_owned),
        liveness: flag("liveness")?,
        max_steps: match v.get("max_steps") {
            None => crate::run::DEFAULT_MAX_STEPS,
            Some(_) => num("max_steps")?,
        },
        #[cfg(feature = "bug-injection")]
        inject_bug: v
            .get("inject_bug")
            .and_then(|x| x.as_str())
            .and_then(vigil_core::InjectedBug::from_name),
    })
}

/// Options equivalent to the recorded run (the script already loaded).
pub fn options_for(meta: &TraceMeta, script: Option<Script>) -> SimOptions {
    SimOptions {
        duration: meta.duration,
        random_faults: meta.random_faults,
        script,
        liveness: meta.liveness,
        max_steps: meta.max_steps,
        #[cfg(feature = "bug-injection")]
        inject_bug: meta.inject_bug,
    }
}

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

/// Run `cfg` again as `meta` says and compare with `recorded` (the whole trace text).
pub fn replay(cfg: &TreeConfig, meta: &TraceMeta, script: Option<Script>, recorded: &str) -> Result<u64, ReplayError> {
    let sink = Collect::default();
    let opts = options_for(meta, script);
    let report = run_seed(cfg, meta.seed, &opts, TraceWriter::to_sink(Box::new(sink.clone())));
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
