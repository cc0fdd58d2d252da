//! The `script` target: arbitrary bytes as a scenario script.
//!
//! Must hold: no panic; a rejection names a line and column inside the text;
//! the actions of an accepted script are in time order, and the script plays
//! against `examples/web-stack.toml` in the simulator (one minute of virtual
//! time, no random faults) without breaking the oracle.

use std::sync::OnceLock;
use std::time::Duration;

use vigil_config::{parse_script, parse_tree, Script};
use vigil_sim::{run_seed, SimOptions, SimTree, TraceWriter};

use crate::error_position;

/// The tree accepted scripts play against.
fn web_stack() -> &'static SimTree {
    static TREE: OnceLock<SimTree> = OnceLock::new();
    TREE.get_or_init(|| {
        let cfg = parse_tree(
            include_str!("../../../examples/web-stack.toml"),
            "examples/web-stack.toml",
        )
        .expect("the example config parses");
        SimTree::from_config(&cfg).expect("a config's tree")
    })
}

/// Run the target on `data`.
pub fn run(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    match parse_script(&text, "fuzz.toml") {
        Ok(script) => {
            if script.actions.windows(2).any(|w| w[0].time > w[1].time) {
                return Err("accepted script's actions are not in time order".to_owned());
            }
            simulate(script)
        }
        Err(e) => error_position::check(&text, "fuzz.toml", &e),
    }
}

fn simulate(script: Script) -> Result<(), String> {
    let opts = SimOptions {
        duration: Duration::from_secs(60),
        random_faults: false,
        script: Some(script),
        liveness: false,
        ..SimOptions::default()
    };
    let report = run_seed(web_stack(), 0, &opts, TraceWriter::off());
    match report.violation {
        Some(v) => Err(format!("the script breaks the oracle on examples/web-stack.toml: {v}")),
        None => Ok(()),
    }
}
