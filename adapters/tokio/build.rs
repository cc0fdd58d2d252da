//! The examples are linked like the `vigil` binary (`-no-pie`, see
//! `adapters/cli/build.rs`): the benchmark examples start their children
//! under process guards that are the example binary executed again, so their
//! restart latency includes the same guard start-up as `vigil run`'s.

fn main() {
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg-examples=-no-pie");
    }
}
