//! libFuzzer entry of the `config` target; the body and what must hold are in
//! `vigil_fuzz_bodies::config` (also run on stable by `cargo test`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    if let Err(failure) = vigil_fuzz_bodies::config::run(data) {
        panic!("{failure}");
    }
});
