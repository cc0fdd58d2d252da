//! The `config` target: arbitrary bytes as a tree config (invalid UTF-8 is
//! replaced, as a file that could be read would be).
//!
//! Must hold: no panic; a rejection names a line and column inside the text;
//! an accepted config is valid for the engine, which accepts it, and renders.

use vigil_config::parse_tree;
use vigil_core::Engine;

use crate::error_position;

/// Run the target on `data`.
pub fn run(data: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(data);
    match parse_tree(&text, "fuzz.toml") {
        Ok(config) => {
            config
                .spec
                .validate()
                .map_err(|e| format!("accepted config fails validation: {e}"))?;
            Engine::new(config.spec.clone(), 0).map_err(|e| format!("the engine rejects an accepted config: {e}"))?;
            if config.render().is_empty() {
                return Err("an accepted config renders as nothing".to_owned());
            }
            Ok(())
        }
        Err(e) => error_position::check(&text, "fuzz.toml", &e),
    }
}
