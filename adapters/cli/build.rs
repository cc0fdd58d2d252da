//! Link `vigil` as a position-dependent executable (`-no-pie`).
//!
//! Every child of `vigil run` is started under a process guard, which is this
//! same binary executed again (see `vigil_tokio::guard`). A position-independent
//! executable is relocated at every start, and the relocation writes to the
//! binary's `.data.rel.ro` pages, which then stop being shared: about 300 KiB
//! of private memory per guard, so per supervised process. Linked without PIE,
//! those relocations are resolved at link time and the pages stay shared with
//! every other guard and with vigil itself. The price is no ASLR for vigil's
//! own code and data (libraries, heap and stack are still randomised).

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-bin=vigil=-no-pie");
    }
}
