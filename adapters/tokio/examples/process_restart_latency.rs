//! Latency of an OS process restart under the vigil-tokio driver, next to the
//! fork+exec floor measured the same way without vigil.
//!
//! ```sh
//! cargo run --release -p vigil-tokio --example process_restart_latency
//! cargo run --release -p vigil-tokio --example process_restart_latency -- --samples 300 --ballast-mib 1024
//! ```
//!
//! Options: `--samples N`, the number of samples per case (default 2 000;
//! 10 % more are taken first as warm-up and dropped); `--ballast-mib N`, MiB
//! of heap the supervising process allocates and writes before it starts
//! (default 0), to see how the spawn cost grows with the supervisor's
//! resident memory (`fork` copies the page tables; `posix_spawn` does not);
//! `--guard on|off|both` (default both), which vigil cases to run: with the
//! process guard (this binary calls `vigil_tokio::guard::enter_if_guard()`,
//! so it can be one; the tree's process spawner, this binary started once
//! with `posix_spawn`, forks the guard, which spawns the child with
//! `posix_spawnp`) and without it (`Tree::process_guard(false)`:
//! `fork` + `exec` with `PR_SET_PDEATHSIG`). The two positional arguments of
//! earlier versions (samples, then ballast) are still accepted.
//!
//! The crashing process is this same binary run as `--child`. It reads
//! CLOCK_MONOTONIC as the first statement of `main` (`start`), stores it in a
//! shared memory file (`/dev/shm`, one slot per generation, taken from
//! `VIGIL_GENERATION`), reads the clock again (`exit`), stores that, and calls
//! `_exit(1)`. A child whose generation is the last one wanted waits in
//! `pause()` instead (until it is stopped), so the restarts end.
//!
//! Two measurements of the same restarts:
//!
//! - **child clock**: `start` of generation g+1 minus `exit` of generation g.
//!   Everything between the two: the kernel tearing the process down, SIGCHLD,
//!   tokio reaping it, the driver and the engine, fork, exec, and the dynamic
//!   loader and Rust runtime start-up of the replacement up to `main`.
//! - **events**: the `time` of the replacement's `Started` event minus that of
//!   the `Exited` event, both from `TreeHandle::events()`. Without the guard,
//!   the driver's own share: from the engine handling the exit to the
//!   replacement exec'd (`Command::spawn` returns once the child has called
//!   `execve`), without the exit detection and without the child's start-up
//!   after exec. With the guard, `Started` comes when the guard reports the
//!   program spawned: this also covers the spawner's fork of the guard and
//!   the passing of the request and the reply (the driver itself only
//!   writes the request).
//!
//! The floors, on the same runtime flavor and with the same child:
//!
//! - `spawn+wait loop (plain)`: a task that runs `Command::new(exe).spawn()`,
//!   `wait().await`, and again, with the child clock measured as above. Rust's
//!   standard library uses `posix_spawn` (a `CLONE_VFORK` clone) here.
//! - `spawn+wait loop (as vigil)`: the same with what vigil's `spawn_process`
//!   adds to the command: `process_group(0)`, the same environment variables,
//!   and a `pre_exec` hook calling `prctl(PR_SET_PDEATHSIG)` and `getppid`.
//!   A `pre_exec` hook makes the standard library use `fork` + `exec` instead
//!   of `posix_spawn`.
//! - `true`: `Command::new("true").spawn()` then `wait().await`, timed around
//!   both by the parent.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use vigil_core::{ChildSpec, SupervisorSpec};
use vigil_tokio::{EventKind, Lagged, OutputMode, ProcessSpec, Tree};

use common::flavor::Flavor;
use common::percentiles::Percentiles;

mod common;

const SLOT: usize = 16;

fn mono_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid timespec to write to.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The crashing child: timestamps into the shared slot file, then `_exit(1)`.
fn child() -> ! {
    let start = mono_ns();
    let path = std::env::var("BENCH_SLOTS").expect("BENCH_SLOTS");
    let generation: usize = std::env::var("VIGIL_GENERATION").expect("generation").parse().unwrap();
    let stop_at: usize = std::env::var("BENCH_STOP_AT").expect("BENCH_STOP_AT").parse().unwrap();
    let file = OpenOptions::new().read(true).write(true).open(path).expect("slot file");
    let len = file.metadata().unwrap().len() as usize;
    use std::os::fd::AsRawFd as _;
    // SAFETY: a shared mapping of the whole slot file, written only at this
    // generation's slot (each generation is a different process).
    let base = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    assert_ne!(base, libc::MAP_FAILED);
    let slots = base as *mut u64;
    let in_range = (generation + 1) * SLOT <= len;
    if in_range {
        // SAFETY: in bounds of the mapping (checked above).
        unsafe { slots.add(generation * 2).write_volatile(start) };
    }
    if generation >= stop_at {
        loop {
            // SAFETY: plain system call; the child waits to be stopped.
            unsafe { libc::pause() };
        }
    }
    let exit = mono_ns();
    if in_range {
        // SAFETY: as above.
        unsafe { slots.add(generation * 2 + 1).write_volatile(exit) };
    }
    // SAFETY: ends the process at once, as a crash would.
    unsafe { libc::_exit(1) }
}

/// A zeroed slot file in /dev/shm, removed on drop.
struct Slots(PathBuf);

impl Slots {
    fn new(case: &str, slots: usize) -> Self {
        let path = PathBuf::from(format!("/dev/shm/vigil-bench-{}-{case}", std::process::id()));
        let f = std::fs::File::create(&path).expect("slot file");
        f.set_len((slots * SLOT) as u64).unwrap();
        Slots(path)
    }

    /// (start, exit) of every generation.
    fn read(&self) -> Vec<(u64, u64)> {
        let bytes = std::fs::read(&self.0).unwrap();
        bytes
            .chunks_exact(SLOT)
            .map(|c| {
                (
                    u64::from_ne_bytes(c[..8].try_into().unwrap()),
                    u64::from_ne_bytes(c[8..].try_into().unwrap()),
                )
            })
            .collect()
    }

    /// `start[g + 1] - exit[g]` for the generations `from..to` (both present).
    fn latencies(&self, from: usize, to: usize) -> Vec<u64> {
        let s = self.read();
        (from..to)
            .map(|g| {
                let (exit, next) = (s[g].1, s[g + 1].0);
                assert!(exit != 0 && next != 0, "generation {g} or {} missing", g + 1);
                next - exit
            })
            .collect()
    }
}

impl Drop for Slots {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn row(what: &str, flavor: Flavor, measure: &str, s: &Percentiles) {
    println!(
        "| {what} | {} | {measure} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
        flavor.name(),
        s.n(),
        s.at(0.50),
        s.at(0.90),
        s.at(0.99),
        s.max()
    );
}

/// vigil restarting the crashing child about `warmup + n` times.
fn vigil(flavor: Flavor, output: OutputMode, guard: bool, warmup: usize, n: usize) {
    let exe = std::env::current_exe().unwrap().to_string_lossy().into_owned();
    // Generations are engine-wide; the first run's is small (1 or 2). The run
    // whose generation reaches `stop_at` pauses instead of crashing.
    let stop_at = warmup + n + 2;
    let slots = std::sync::Arc::new(Slots::new("vigil", stop_at + 2));
    let mut env = BTreeMap::new();
    env.insert("BENCH_SLOTS".to_owned(), slots.0.to_string_lossy().into_owned());
    env.insert("BENCH_STOP_AT".to_owned(), stop_at.to_string());
    let out_name = match (&output, guard) {
        (OutputMode::Null, true) => "vigil, guard, output null",
        (OutputMode::Null, false) => "vigil, no guard (fork), output null",
        (OutputMode::Tracing, true) => "vigil, guard, output tracing (default)",
        (OutputMode::Tracing, false) => "vigil, no guard (fork), output tracing (default)",
        _ => "vigil",
    };
    let mut spec = ProcessSpec::new([exe, "--child".to_owned()]).output(output);
    spec.env = env;
    let rt = flavor.runtime();
    // The crasher's runs in order: (generation, Exited time, Started time).
    // Measured by a task of the runtime, as the floor is (`block_on`'s own
    // future runs on the main thread: with multi_thread, a third thread
    // woken at every event, which the floor does not have).
    let task_slots = std::sync::Arc::clone(&slots);
    let measured = async move {
        let slots = task_slots;
        let sup = Tree::new(
            SupervisorSpec::new()
                .intensity(1_000_000_000)
                .period(Duration::from_nanos(1)),
        )
        .process(ChildSpec::worker("crasher"), spec)
        .process_guard(guard)
        .start()
        .expect("valid tree");
        let mut events = sup.events();
        let mut runs: Vec<(usize, u64, u64)> = Vec::with_capacity(stop_at);
        let mut exited = BTreeMap::new();
        let mut lagged = 0;
        loop {
            match events.recv().await {
                Some(Ok(e)) => match e.kind {
                    EventKind::Exited { generation, .. } => {
                        exited.insert(generation as usize, e.time.as_nanos());
                    }
                    EventKind::Started { generation, .. } => {
                        let g = generation as usize;
                        runs.push((g, 0, e.time.as_nanos()));
                        if g >= stop_at {
                            break;
                        }
                    }
                    EventKind::GiveUp | EventKind::TreeDown { .. } => panic!("the tree went down"),
                    _ => {}
                },
                Some(Err(Lagged(k))) => lagged += k,
                None => panic!("the tree went down"),
            }
        }
        assert_eq!(lagged, 0, "the event receiver lagged");
        // The last run writes its start time after exec; wait for it.
        let last = runs.last().unwrap().0;
        let t0 = Instant::now();
        while slots.read()[last].0 == 0 {
            assert!(t0.elapsed() < Duration::from_secs(10), "the last run never wrote");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        assert!(sup.shutdown().await.is_normal());
        for r in &mut runs {
            r.1 = exited.get(&r.0).copied().unwrap_or(0);
        }
        runs
    };
    let runs = rt
        .block_on(async { tokio::spawn(measured).await })
        .expect("the measuring task");
    drop(rt);
    let s = slots.read();
    let pairs = runs.windows(2).skip(warmup);
    let (mut child_lat, mut event_lat) = (Vec::new(), Vec::new());
    for w in pairs {
        let ((g, exited, _), (g2, _, started)) = (w[0], w[1]);
        assert!(
            s[g].1 != 0 && s[g2].0 != 0 && exited != 0,
            "generation {g} or {g2} missing"
        );
        child_lat.push(s[g2].0 - s[g].1);
        event_lat.push(started - exited);
    }
    row(out_name, flavor, "child clock", &Percentiles::of(child_lat));
    row(out_name, flavor, "events Exited→Started", &Percentiles::of(event_lat));
}

/// The floor: spawn the same child, wait for it, spawn the next.
fn floor(flavor: Flavor, as_vigil: bool, warmup: usize, n: usize) {
    let exe = std::env::current_exe().unwrap();
    let first = 1 + warmup;
    let stop_at = first + n + 1; // never reached: every child crashes
    let slots = Slots::new("floor", stop_at + 2);
    let rt = flavor.runtime();
    rt.block_on(async {
        let slots_path = slots.0.clone();
        tokio::spawn(async move {
            for g in 1..=first + n {
                let mut cmd = tokio::process::Command::new(&exe);
                cmd.arg("--child")
                    .env("BENCH_SLOTS", &slots_path)
                    .env("BENCH_STOP_AT", stop_at.to_string())
                    .env("VIGIL_GENERATION", g.to_string())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                if as_vigil {
                    let parent = std::process::id() as libc::pid_t;
                    cmd.env_remove("NOTIFY_SOCKET")
                        .env("VIGIL_PATH", "crasher")
                        .process_group(0)
                        .kill_on_drop(false);
                    // SAFETY: the same async-signal-safe hook as vigil's
                    // `die_with_parent` (prctl and getppid only).
                    unsafe {
                        cmd.pre_exec(move || {
                            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == -1 {
                                return Err(std::io::Error::last_os_error());
                            }
                            if libc::getppid() != parent {
                                return Err(std::io::Error::from_raw_os_error(libc::ESRCH));
                            }
                            Ok(())
                        });
                    }
                }
                let status = cmd.spawn().expect("spawn").wait().await.expect("wait");
                assert_eq!(status.code(), Some(1));
            }
        })
        .await
        .unwrap();
    });
    drop(rt);
    let what = if as_vigil {
        "spawn+wait loop (as vigil: pgroup + pre_exec)"
    } else {
        "spawn+wait loop (plain)"
    };
    row(
        what,
        flavor,
        "child clock",
        &Percentiles::of(slots.latencies(first, first + n)),
    );
}

/// `true`, spawned and waited for, timed by the parent.
fn spawn_true(flavor: Flavor, warmup: usize, n: usize) {
    let rt = flavor.runtime();
    let v = rt.block_on(async {
        tokio::spawn(async move {
            let mut v = Vec::with_capacity(n);
            for i in 0..warmup + n {
                let t0 = Instant::now();
                let status = tokio::process::Command::new("true")
                    .spawn()
                    .expect("spawn true")
                    .wait()
                    .await
                    .expect("wait");
                let dt = t0.elapsed().as_nanos() as u64;
                assert!(status.success());
                if i >= warmup {
                    v.push(dt);
                }
            }
            v
        })
        .await
        .unwrap()
    });
    row(
        "`Command::new(\"true\").spawn()` + `wait()`",
        flavor,
        "parent clock, round trip",
        &Percentiles::of(v),
    );
}

/// The command line: samples per case, MiB of ballast, which guard modes.
struct Args {
    samples: usize,
    ballast_mib: usize,
    guard: Vec<bool>,
}

fn args() -> Args {
    let mut args = Args {
        samples: 2_000,
        ballast_mib: 0,
        guard: vec![true, false],
    };
    let mut positional = 0;
    let mut it = std::env::args().skip(1);
    let number = |v: Option<String>, what: &str| -> usize {
        v.and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{what} needs a number"))
    };
    while let Some(a) = it.next() {
        match a.as_str() {
            "--samples" => args.samples = number(it.next(), "--samples"),
            "--ballast-mib" => args.ballast_mib = number(it.next(), "--ballast-mib"),
            "--guard" => {
                args.guard = match it.next().as_deref() {
                    Some("on") => vec![true],
                    Some("off") => vec![false],
                    Some("both") => vec![true, false],
                    _ => panic!("--guard takes on, off or both"),
                }
            }
            _ => {
                let v = number(Some(a), "a positional argument");
                match positional {
                    0 => args.samples = v,
                    1 => args.ballast_mib = v,
                    _ => panic!("too many arguments"),
                }
                positional += 1;
            }
        }
    }
    args
}

fn main() {
    // This binary serves as the process guard of its vigil cases.
    vigil_tokio::guard::enter_if_guard();
    if std::env::args().nth(1).as_deref() == Some("--child") {
        child();
    }
    let Args {
        samples: n,
        ballast_mib,
        guard,
    } = args();
    // Resident memory of the supervising process, as an application that
    // embeds vigil would have: every page written once, so it is mapped.
    let mut ballast = vec![0u8; ballast_mib << 20];
    for i in (0..ballast.len()).step_by(4096) {
        ballast[i] = 1;
    }
    if ballast_mib > 0 {
        println!("(supervising process holds {ballast_mib} MiB of written heap)\n");
    }
    let warmup = n / 10;
    println!("| harness | runtime | measured | samples | p50 µs | p90 µs | p99 µs | max µs |");
    println!("|---|---|---|---|---|---|---|---|");
    for flavor in Flavor::ALL {
        spawn_true(flavor, warmup, n);
        floor(flavor, false, warmup, n);
        floor(flavor, true, warmup, n);
        for &guard in &guard {
            vigil(flavor, OutputMode::Null, guard, warmup, n);
            vigil(flavor, OutputMode::Tracing, guard, warmup, n);
        }
    }
    std::hint::black_box(&ballast);
}
