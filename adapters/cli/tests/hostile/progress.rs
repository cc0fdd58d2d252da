//! Class 2: the simulator must always finish. `health_timeout = "1ns"` made
//! heartbeats re-arm at the same virtual instant for ever (1 GB of trace in
//! 5 s); 1 ns lifetimes and backoffs made a 100 ms simulation take minutes.
//! Heartbeats now always move virtual time forward, and a run that exceeds
//! its step budget (`--max-steps`, docs/SIMULATION.md) stops with a clear
//! error and exit code 3.

use crate::support::{exit_code, vigil_output, Scratch};

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn both(out: &std::process::Output) -> String {
    format!(
        "stdout:\n{}\nstderr:\n{}",
        stdout(out),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn a_health_timeout_of_one_or_two_nanoseconds_finishes_with_a_small_trace() {
    let s = Scratch::new("progress-heartbeat");
    let config = s.write(
        "hb.toml",
        "[[child]]\nname = \"n\"\ncommand = [\"x\"]\nreadiness = \"notify\"\nhealth_timeout = \"1ns\"\n\n\
         [[child]]\nname = \"m\"\ncommand = [\"x\"]\nhealth_timeout = \"2ns\"\n",
    );
    let trace = s.p("hb.jsonl");
    let out = vigil_output(&[
        "sim",
        config.to_str().expect("utf-8"),
        "--duration",
        "100ms",
        "--trace",
        &trace,
    ]);
    assert_eq!(exit_code(&out), 0, "{}", both(&out));
    assert!(stdout(&out).contains("ok: every invariant held"), "{}", both(&out));
    let size = std::fs::metadata(&trace).expect("the trace was written").len();
    assert!(size < 1 << 20, "a {size}-byte trace for a tree that gives up at once");
}

#[test]
fn a_run_stuck_at_one_instant_stops_at_its_step_budget_with_exit_3() {
    let s = Scratch::new("progress-stuck");
    // Lifetime 0 and an intensity that never gives up: restarts at t = 0 for ever.
    let config = s.write(
        "stuck.toml",
        "[supervisor]\nintensity = 4294967295\nperiod = \"1h\"\n\n\
         [[child]]\nname = \"w\"\ncommand = [\"x\"]\nsim = { lifetime = \"0ns\" }\n",
    );
    let trace = s.p("stuck.jsonl");
    let out = vigil_output(&[
        "sim",
        config.to_str().expect("utf-8"),
        "--duration",
        "100ms",
        "--max-steps",
        "20000",
        "--trace",
        &trace,
    ]);
    assert_eq!(exit_code(&out), 3, "{}", both(&out));
    let text = stdout(&out);
    assert!(text.contains("stopped at its step budget"), "{}", both(&out));
    assert!(text.contains("step_budget: the run took 20000 steps"), "{}", both(&out));
    assert!(text.contains("virtual time never advanced"), "{}", both(&out));
    assert!(
        text.contains("replay: vigil sim") && text.contains("--max-steps 20000"),
        "{}",
        both(&out)
    );
    // The trace is bounded by the budget and ends with a whole line.
    let written = std::fs::read_to_string(&trace).expect("the trace was written");
    assert!(written.ends_with('\n'));
    assert!(written.lines().count() < 100_000, "{} lines", written.lines().count());
    assert!(written
        .lines()
        .next()
        .is_some_and(|l| l.contains("\"max_steps\":20000")));
}

#[test]
fn one_nanosecond_lifetimes_and_backoffs_stop_at_the_budget_across_a_seed_range() {
    let s = Scratch::new("progress-1ns");
    let config = s.write(
        "fast.toml",
        "[supervisor]\nintensity = 4294967295\n\n\
         [[child]]\nname = \"w\"\ncommand = [\"x\"]\n\
         backoff = { initial = \"1ns\", max = \"1ns\" }\nsim = { lifetime = \"1ns\" }\n",
    );
    let out = vigil_output(&[
        "sim",
        config.to_str().expect("utf-8"),
        "--duration",
        "100ms",
        "--seeds",
        "0..3",
        "--max-steps",
        "10000",
        "-q",
    ]);
    assert_eq!(exit_code(&out), 3, "{}", both(&out));
    let text = stdout(&out);
    assert!(
        text.contains("3 run(s) broke an invariant") || text.contains("step_budget"),
        "{}",
        both(&out)
    );
    assert_eq!(text.matches("step_budget").count(), 3, "{}", both(&out));
}

#[test]
fn the_budget_is_settable_and_documented_in_the_help() {
    let out = vigil_output(&["sim", "--help"]);
    assert_eq!(exit_code(&out), 0);
    let help = stdout(&out);
    assert!(
        help.contains("--max-steps <N>") && help.contains("[default: 10000000]"),
        "{help}"
    );
    assert!(help.contains("3 a run exceeded its step budget"), "{help}");
    let zero = vigil_output(&["sim", "x.toml", "--max-steps", "0"]);
    assert_eq!(exit_code(&zero), 2, "{}", both(&zero));
}
