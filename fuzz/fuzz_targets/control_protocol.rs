//! libFuzzer entry of the `control_protocol` target; the body and what must
//! hold are in `vigil_fuzz_bodies::control_protocol` (also run on stable by
//! `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(failure) = vigil_fuzz_bodies::control_protocol::run(data) {
        panic!("{failure}");
    }
});
