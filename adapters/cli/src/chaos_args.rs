//! `vigil run --chaos SEED` and its flags: the chaos a real run injects
//! (adapters/tokio/src/chaos.rs; docs/CLI.md, docs/SIMULATION.md "Chaos on
//! a real run"). Only the command line turns it on: no config key, no
//! environment variable.

use std::time::Duration;

use clap::Args;
use vigil_tokio::chaos::{Chaos, ChaosFaults};

/// The chaos options of `vigil run`.
#[derive(Clone, Debug, Default, Args)]
pub struct ChaosArgs {
    /// Inject faults into this run (random SIGKILLs of children, delayed and
    /// failing starts, late readiness), seeded from SEED alone; the seed picks
    /// which faults and how often unless the flags below set them. Off unless
    /// given. Never use on a tree you cannot afford to disturb.
    #[arg(long, value_name = "SEED")]
    pub chaos: Option<u64>,

    /// With --chaos: kill a running child every DURATION on average
    /// (`30s`, `2m`), or `off`.
    #[arg(long, value_name = "DURATION|off", requires = "chaos", value_parser = parse_kill_every)]
    pub chaos_kill_every: Option<KillEvery>,

    /// With --chaos: the share of starts that fail without starting anything (`20%`).
    #[arg(long, value_name = "PERCENT", requires = "chaos", value_parser = parse_percent)]
    pub chaos_start_fail: Option<f64>,

    /// With --chaos: the share of starts that are delayed (`50%`), each by up to --chaos-max-delay.
    #[arg(long, value_name = "PERCENT", requires = "chaos", value_parser = parse_percent)]
    pub chaos_start_delay: Option<f64>,

    /// With --chaos: the share of readiness notifications that reach vigil late (`10%`).
    #[arg(long, value_name = "PERCENT", requires = "chaos", value_parser = parse_percent)]
    pub chaos_ready_delay: Option<f64>,

    /// With --chaos: the longest injected delay (`1s`).
    #[arg(long, value_name = "DURATION", requires = "chaos", value_parser = crate::args::parse_positive_duration)]
    pub chaos_max_delay: Option<Duration>,
}

/// `--chaos-kill-every`: a mean gap, or `off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KillEvery(pub Option<Duration>);

/// Parse `--chaos-kill-every`: `off`, or a positive duration.
pub fn parse_kill_every(text: &str) -> Result<KillEvery, String> {
    if text.trim() == "off" {
        return Ok(KillEvery(None));
    }
    crate::args::parse_positive_duration(text).map(|d| KillEvery(Some(d)))
}

/// Parse a share as a percentage, `0%` to `100%` (`12.5%`).
pub fn parse_percent(text: &str) -> Result<f64, String> {
    let bad = || format!("`{text}` is not a percentage (expected 0% to 100%, such as `20%`)");
    let number = text.trim().strip_suffix('%').ok_or_else(bad)?;
    let p: f64 = number.trim().parse().map_err(|_| bad())?;
    if !(0.0..=100.0).contains(&p) {
        return Err(bad());
    }
    Ok(p / 100.0)
}

impl ChaosArgs {
    /// The chaos asked for, if any: the seed's plan with the flags' changes.
    pub fn chaos(&self) -> Option<Chaos> {
        let seed = self.chaos?;
        let chaos = Chaos::new(seed);
        let mut plan: ChaosFaults = chaos.plan().clone();
        if let Some(KillEvery(every)) = self.chaos_kill_every {
            plan.kill_every = every;
        }
        plan.start_fail = self.chaos_start_fail.unwrap_or(plan.start_fail);
        plan.start_delay = self.chaos_start_delay.unwrap_or(plan.start_delay);
        plan.ready_delay = self.chaos_ready_delay.unwrap_or(plan.ready_delay);
        plan.max_delay = self.chaos_max_delay.unwrap_or(plan.max_delay);
        Some(chaos.faults(plan))
    }
}

/// The line that says, loudly, that this run injects faults.
pub fn announcement(chaos: &Chaos) -> String {
    format!(
        "vigil: CHAOS IS ON (--chaos {}): this run injects faults into its own children: {}. \
         Injection stops at the first SIGTERM or SIGINT.",
        chaos.seed(),
        chaos.plan()
    )
}

/// The keys the trace's meta line gets after its own (docs/TRACE.md, "The
/// meta line"): `,"chaos":SEED,"chaos_faults":"PLAN"`.
pub fn meta_keys(chaos: &Chaos) -> String {
    let plan = serde_json::to_string(&chaos.plan().to_string()).unwrap_or_else(|_| "\"\"".to_owned());
    format!(",\"chaos\":{},\"chaos_faults\":{plan}", chaos.seed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_from_0_to_100() {
        assert_eq!(parse_percent("20%"), Ok(0.2));
        assert_eq!(parse_percent("0%"), Ok(0.0));
        assert_eq!(parse_percent("100%"), Ok(1.0));
        assert_eq!(parse_percent(" 12.5 % "), Ok(0.125));
        for bad in ["20", "101%", "-1%", "NaN%", "inf%", "x%", "%", ""] {
            assert!(
                parse_percent(bad).unwrap_err().contains("is not a percentage"),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn kill_every_is_a_positive_duration_or_off() {
        assert_eq!(parse_kill_every("off"), Ok(KillEvery(None)));
        assert_eq!(parse_kill_every("30s"), Ok(KillEvery(Some(Duration::from_secs(30)))));
        assert!(parse_kill_every("0s").is_err());
        assert!(parse_kill_every("often").is_err());
    }

    #[test]
    fn the_flags_change_only_what_they_name() {
        let seed_only = ChaosArgs {
            chaos: Some(7),
            ..ChaosArgs::default()
        };
        let picked = seed_only.chaos().expect("chaos").plan().clone();
        assert_eq!(&picked, Chaos::new(7).plan());
        let args = ChaosArgs {
            chaos: Some(7),
            chaos_kill_every: Some(KillEvery(None)),
            chaos_start_fail: Some(0.5),
            ..ChaosArgs::default()
        };
        let plan = args.chaos().expect("chaos").plan().clone();
        assert_eq!(plan.kill_every, None);
        assert_eq!(plan.start_fail, 0.5);
        assert_eq!(plan.start_delay, picked.start_delay);
        assert_eq!(plan.max_delay, picked.max_delay);
        assert!(ChaosArgs::default().chaos().is_none());
    }

    #[test]
    fn the_meta_keys_carry_the_seed_and_the_plan() {
        let chaos = Chaos::new(u64::MAX).faults(ChaosFaults {
            start_fail: 0.2,
            ..ChaosFaults::none()
        });
        assert_eq!(
            meta_keys(&chaos),
            r#","chaos":18446744073709551615,"chaos_faults":"20% of starts fail""#
        );
        assert!(announcement(&chaos).contains("--chaos 18446744073709551615"));
    }
}
