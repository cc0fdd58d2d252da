//! The vigil side: a scenario run by vigil-sim with only its script acting
//! (`--no-random-faults`: workers start, stop and exit at once), its trace
//! turned into the event vocabulary both sides share.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use vigil_sim::{run_seed, SimOptions, TraceWriter};

use crate::scenario::Scenario;
use crate::vigil_text;

/// The config and script files of a scenario, as text.
pub struct VigilFiles {
    pub config: String,
    pub script: String,
}

impl VigilFiles {
    pub fn of(s: &Scenario) -> VigilFiles {
        VigilFiles {
            config: vigil_text::config(s),
            script: vigil_text::script(s),
        }
    }
}

/// The events of `s` in vigil-sim: `start PATH`, `start_failed PATH`,
/// `stop PATH REASON`, `sup_up PATH`, `sup_start_failed PATH`,
/// `sup_end PATH REASON`, `give_up PATH`, `reply OP PATH RESULT`,
/// `tree_down`; a broken invariant is one more line, `violation ...`.
pub fn events(s: &Scenario, files: &VigilFiles) -> Vec<String> {
    events_with(s, files, |_| {})
}

/// [`events`] with the simulation options adjusted by `adjust`.
pub fn events_with(s: &Scenario, files: &VigilFiles, adjust: impl FnOnce(&mut SimOptions)) -> Vec<String> {
    let name = format!("conformance-{}", s.seed);
    let cfg = vigil_config::parse_tree(&files.config, &format!("{name}.toml")).unwrap_or_else(|e| {
        panic!(
            "generated config of seed {} does not parse: {e}\n{}",
            s.seed, files.config
        )
    });
    let script = vigil_config::parse_script(&files.script, &format!("{name}.script.toml")).unwrap_or_else(|e| {
        panic!(
            "generated script of seed {} does not parse: {e}\n{}",
            s.seed, files.script
        )
    });
    let mut opts = SimOptions {
        duration: Duration::from_secs(vigil_text::duration_secs(s)),
        random_faults: false,
        script: Some(script),
        liveness: false,
        ..SimOptions::default()
    };
    adjust(&mut opts);
    let trace = SharedBuffer::default();
    let tree = vigil_sim::SimTree::from_config(&cfg).expect("a config's tree");
    let report = run_seed(&tree, s.seed, &opts, TraceWriter::to_sink(Box::new(trace.clone())));
    let text = trace.take();
    let mut out: Vec<String> = text.lines().filter_map(event).collect();
    if let Some(v) = report.violation {
        out.push(format!("violation {v:?}"));
    }
    out
}

/// One trace line in the shared vocabulary, if it is one of the compared kinds.
fn event(line: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    let field = |k: &str| v.get(k).and_then(serde_json::Value::as_str).unwrap_or_default();
    let path = |k: &str| match field(k) {
        "" => "<root>".to_owned(),
        p => p.to_owned(),
    };
    Some(match field("ev") {
        "started" => format!("start {}", path("path")),
        "start_failed" => format!("start_failed {}", path("path")),
        "exited" => format!("stop {} {}", path("path"), field("reason")),
        "sup_started" => format!("sup_up {}", path("path")),
        // A supervisor whose own start failed (docs/SEMANTICS.md, section 6).
        "sup_exit" if field("reason").starts_with("shutdown(failed_to_start_child") => {
            format!("sup_start_failed {}", path("path"))
        }
        "sup_exit" => format!("sup_end {} {}", path("path"), field("reason")),
        "give_up" => format!("give_up {}", path("path")),
        "tree_down" => "tree_down".to_owned(),
        "reply" if field("op") != "shutdown" => format!("reply {} {} {}", field("op"), path("path"), field("result")),
        _ => return None,
    })
}

/// A trace sink the test can read back.
#[derive(Clone, Default)]
struct SharedBuffer(Arc<Mutex<Vec<u8>>>);

impl SharedBuffer {
    fn take(&self) -> String {
        let bytes = std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()));
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

impl Write for SharedBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
