//! The two tokio runtime flavors the restart measurements compare, named as
//! the tables in docs/BENCHMARKS.md name them. Shared by the latency examples
//! and `benches/restart.rs`.

/// A tokio runtime flavor.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Flavor {
    /// `new_current_thread`.
    CurrentThread,
    /// `new_multi_thread` with 2 worker threads.
    MultiThread2,
}

impl Flavor {
    /// Both flavors, in the order the tables list them.
    pub const ALL: [Flavor; 2] = [Flavor::CurrentThread, Flavor::MultiThread2];

    /// The name in the examples' tables.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::CurrentThread => "current_thread",
            Flavor::MultiThread2 => "multi_thread(2)",
        }
    }

    /// A new runtime of this flavor, with I/O and time enabled.
    pub fn runtime(self) -> tokio::runtime::Runtime {
        match self {
            Flavor::CurrentThread => tokio::runtime::Builder::new_current_thread().enable_all().build(),
            Flavor::MultiThread2 => tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build(),
        }
        .expect("runtime")
    }
}
