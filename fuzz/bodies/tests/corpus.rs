//! Every fuzz target's body on stable: the committed corpus, the crash
//! regressions and seeded mutations of them (`VIGIL_FUZZ_CASES`, default 2000
//! per target). One line per target.

use vigil_fuzz_bodies::{config, control_protocol, engine, replay, script};

#[test]
fn engine_target() {
    replay("engine", engine::run);
}

#[test]
fn config_target() {
    replay("config", config::run);
}

#[test]
fn script_target() {
    replay("script", script::run);
}

#[test]
fn control_protocol_target() {
    replay("control_protocol", control_protocol::run);
}
