//! The cost of vigil writing a child's log files: a child writes MB
//! megabytes of output in lines of 100 bytes (`head -c | tr | fold -w 99`),
//! under four output modes, one after the other in one run; for each, the
//! wall time from the start until the child's exit is handled and vigil's
//! CPU time (user + system of this process: the child's own CPU is not
//! counted), each also as a ratio to the floor (output to `/dev/null`).
//! Prints a markdown table (docs/BENCHMARKS.md, "Log files and rotation").
//!
//! ```text
//! cargo run --release -p vigil-tokio --example log_rotation -- [MB]
//! ```
//!
//! Default: 100 MB. The modes: `OutputMode::Null` (the floor),
//! `OutputMode::Files` (the child writes its files itself), `OutputMode::Log`
//! with rotation (`max_size` 10 MiB, `keep` 5), and the same with
//! timestamps. At the child's exit up to one pipe's worth (64 KiB) may still
//! be on its way to the file: under 0.1 % of 100 MB.

use std::path::Path;
use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, Restart, SupervisorSpec};
use vigil_tokio::{EventKind, LogFiles, OutputMode, ProcessSpec, Tree};

/// vigil's CPU time so far (user + system), this process only.
fn cpu() -> Duration {
    let usage = nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_SELF).expect("getrusage");
    let tv = |t: nix::sys::time::TimeVal| Duration::new(t.tv_sec() as u64, t.tv_usec() as u32 * 1000);
    tv(usage.user_time()) + tv(usage.system_time())
}

/// Run the writing child once under `output`: (wall, vigil's CPU).
fn measure(mb: u64, output: OutputMode) -> (Duration, Duration) {
    let script = format!("head -c {} /dev/zero | tr '\\0' 'x' | fold -w 99", mb * 1_000_000);
    let spec = ProcessSpec::new(["sh".to_owned(), "-c".to_owned(), script]).output(output);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    rt.block_on(async {
        let (cpu0, t0) = (cpu(), Instant::now());
        let sup = Tree::new(SupervisorSpec::new())
            .process(ChildSpec::worker("writer").restart(Restart::Temporary), spec)
            .start()
            .expect("a valid tree");
        let mut events = sup.events();
        loop {
            match events.recv().await {
                Some(Ok(e)) if matches!(e.kind, EventKind::Exited { .. }) => break,
                Some(_) => {}
                None => panic!("the tree went down before the writer's exit"),
            }
        }
        let took = (t0.elapsed(), cpu() - cpu0);
        sup.shutdown().await;
        took
    })
}

fn main() {
    vigil_tokio::guard::enter_if_guard();
    let mb: u64 = std::env::args()
        .nth(1)
        .map_or(100, |a| a.parse().expect("MB: a number of megabytes"));
    let dir = std::env::temp_dir().join(format!("vigil-log-rotation-{}", std::process::id()));
    let sub = |name: &str| dir.join(name);
    let rotated = LogFiles::new(sub("rotated")).max_size(10 << 20).keep(5);
    let cases: [(&str, OutputMode); 4] = [
        ("output null (floor)", OutputMode::Null),
        (
            "`OutputMode::Files`: the child writes",
            OutputMode::Files { dir: sub("files") },
        ),
        ("`log`: max_size 10MiB, keep 5", OutputMode::Log(rotated)),
        (
            "`log`: the same, timestamps = true",
            OutputMode::Log(
                LogFiles::new(sub("stamped"))
                    .max_size(10 << 20)
                    .keep(5)
                    .timestamps(true),
            ),
        ),
    ];
    let results: Vec<(&str, Duration, Duration)> = cases
        .into_iter()
        .map(|(name, output)| {
            let (wall, cpu) = measure(mb, output);
            (name, wall, cpu)
        })
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    let (floor_wall, floor_cpu) = (results[0].1, results[0].2);
    println!("{mb} MB of output in lines of 100 bytes");
    println!();
    println!("| output | wall | × floor | vigil CPU | × floor | vigil CPU per MB |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, wall, cpu) in &results {
        // A floor of almost no CPU makes a ratio meaningless: say so.
        let cpu_ratio = if floor_cpu >= Duration::from_millis(10) {
            format!("{:.1}", cpu.as_secs_f64() / floor_cpu.as_secs_f64())
        } else {
            "(floor < 10 ms)".to_owned()
        };
        println!(
            "| {name} | {:.3} s | {:.2} | {:.3} s | {cpu_ratio} | {:.2} ms |",
            wall.as_secs_f64(),
            wall.as_secs_f64() / floor_wall.as_secs_f64(),
            cpu.as_secs_f64(),
            cpu.as_secs_f64() * 1000.0 / mb.max(1) as f64,
        );
    }
    assert!(!Path::new(&dir).exists());
}
