//! The `script` target: arbitrary bytes as a scenario script.
//!
//! Must hold: no panic; a rejection names a line and column inside the text;
//! the actions of an accepted script are in time order.

use vigil_config::parse_script;

use crate::error_position;

/// Run the target on `data`.
pub fn run(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    match parse_script(&text, "fuzz.toml") {
        Ok(script) => {
            if script.actions.windows(2).any(|w| w[0].time > w[1].time) {
                return Err("accepted script's actions are not in time order".to_owned());
            }
            Ok(())
        }
        Err(e) => error_position::check(&text, "fuzz.toml", &e),
    }
}
