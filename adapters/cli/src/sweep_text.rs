//! The summary of a seed range as `vigil sim --seeds` and `vigil merge`
//! print it, and the exit code it means: one renderer, so that a merge of
//! shards prints exactly what the unsharded run prints.

use std::fmt::Write as _;
use std::process::ExitCode;

use vigil_config::format_duration;
use vigil_sim::{Rule, Sweep};

use crate::exit::STEP_BUDGET;

/// The summary, the determinism line, and the verdict with every failing
/// seed and its replay command.
pub fn render(sweep: &Sweep) -> String {
    let s = &sweep.summary;
    let mut out = String::new();
    let secs = sweep.wall.as_secs_f64().max(1e-9);
    let hours = s.virtual_time.as_secs_f64() / 3600.0;
    let shard = sweep.shard.map_or(String::new(), |k| {
        format!(", shard {k} of {}..{}", sweep.range.start, sweep.range.end)
    });
    let _ = writeln!(
        out,
        "{}: {} seeds ({}..{}{shard}) on {} thread(s) in {:.2}s",
        sweep.setup.config, s.seeds, sweep.seeds.start, sweep.seeds.end, sweep.jobs, secs
    );
    let _ = writeln!(
        out,
        "  virtual time: {} in all ({:.1} hours), {:.0}x faster than real time",
        format_duration(std::time::Duration::from_secs(s.virtual_time.as_secs())),
        hours,
        s.virtual_time.as_secs_f64() / secs
    );
    let _ = writeln!(
        out,
        "  events: {} ({:.2} M events/s)",
        s.events,
        s.events as f64 / secs / 1e6
    );
    let _ = writeln!(out, "  how the runs ended:");
    for (outcome, n) in &s.outcomes {
        let share = *n as f64 * 100.0 / s.seeds.max(1) as f64;
        let _ = writeln!(out, "    {n:>7} ({share:>5.1}%)  {outcome}");
    }
    let _ = writeln!(
        out,
        "  restart decisions: {} ({:.1} per simulated hour), give-ups: {}, spawns: {}",
        s.restart_decisions,
        s.restart_decisions as f64 / hours.max(1e-9),
        s.give_ups,
        s.spawns
    );
    let d = sweep.determinism;
    let same = if d.identical { "identical" } else { "DIFFERENT" };
    let _ = writeln!(out, "determinism: seed {} run twice gave {same} traces", d.seed);
    if s.violations.is_empty() && d.identical {
        let _ = writeln!(out, "ok: every invariant held in every run");
        return out;
    }
    let _ = writeln!(out, "{} run(s) broke an invariant:", s.violations.len());
    for r in &s.violations {
        if let Some(v) = &r.violation {
            let _ = writeln!(out, "  seed {}: {v}", r.seed);
            let replay = sweep.replays.get(&r.seed).map_or("(unknown)", String::as_str);
            let _ = writeln!(out, "    replay: {replay}");
        }
    }
    out
}

/// 0 when every run passed, 3 when every failed run only exceeded its step
/// budget, else 1 (a determinism failure is always 1).
pub fn exit_code(sweep: &Sweep) -> ExitCode {
    let failed = &sweep.summary.violations;
    if !sweep.determinism.identical {
        return ExitCode::from(1);
    }
    if failed.is_empty() {
        return ExitCode::SUCCESS;
    }
    let budget_only = failed
        .iter()
        .all(|r| r.violation.as_ref().is_some_and(|v| v.rule == Rule::StepBudget));
    ExitCode::from(if budget_only { STEP_BUDGET } else { 1 })
}
