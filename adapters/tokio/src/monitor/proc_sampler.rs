//! Reading a [`Sample`] from `/proc`.

use std::collections::BTreeMap;

use vigil_core::RunId;

use super::sample::{GroupUsage, Sample};

/// Reads the usage of watched process groups from `/proc`: one pass over
/// `/proc/<pid>/stat` of every process (the only way to find a group's
/// members), plus `/proc/<pid>/smaps_rollup` of the members of groups whose
/// PSS is wanted.
#[derive(Clone, Copy, Debug)]
pub struct ProcSampler {
    ns_per_tick: u64,
    page_size: u64,
}

impl Default for ProcSampler {
    fn default() -> Self {
        Self::new()
    }
}

impl ProcSampler {
    /// A sampler for this machine's clock tick and page size.
    pub fn new() -> Self {
        let ticks = procfs::ticks_per_second().max(1);
        ProcSampler {
            ns_per_tick: 1_000_000_000 / ticks,
            page_size: procfs::page_size(),
        }
    }

    /// Sample the groups in `groups` (process group id → the run, and
    /// whether to read its PSS). Processes that vanish while being read are
    /// skipped; a group with no process left is absent from the sample.
    pub fn sample(&self, groups: &BTreeMap<u32, (RunId, bool)>) -> Sample {
        let at = tokio::time::Instant::now();
        let mut usage: BTreeMap<RunId, GroupUsage> = BTreeMap::new();
        let Ok(all) = procfs::process::all_processes() else {
            tracing::warn!(target: "vigil::monitor", "cannot list /proc; no sample");
            return Sample { at, usage };
        };
        for process in all.flatten() {
            let Ok(stat) = process.stat() else { continue };
            let Ok(pgid) = u32::try_from(stat.pgrp) else { continue };
            let Some(&(run, wants_pss)) = groups.get(&pgid) else {
                continue;
            };
            let u = usage.entry(run).or_default();
            u.processes += 1;
            u.rss_bytes += stat.rss * self.page_size;
            u.cpu_ns += (stat.utime + stat.stime) * self.ns_per_tick;
            if wants_pss {
                let pss = process.smaps_rollup().ok().and_then(|r| {
                    r.memory_map_rollup
                        .iter()
                        .find_map(|m| m.extension.map.get("Pss").copied())
                });
                u.pss_bytes = match (u.processes, u.pss_bytes, pss) {
                    // The first process of the group sets it; a process whose
                    // PSS is unreadable makes the group's unknown.
                    (1, _, p) => p,
                    (_, Some(sum), Some(p)) => Some(sum + p),
                    _ => None,
                };
            }
        }
        Sample { at, usage }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use vigil_core::{ChildSpec, Engine, SupervisorSpec};

    fn some_run() -> RunId {
        let mut e = Engine::new(SupervisorSpec::new().child(ChildSpec::worker("a")), 0).unwrap();
        e.start(vigil_core::Instant::ZERO);
        match e.poll_command() {
            Some(vigil_core::Command::Spawn(r)) => r,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn samples_its_own_process_group() {
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        let run = some_run();
        let sampler = ProcSampler::new();
        let s = sampler.sample(&BTreeMap::from([(pgid, (run, true))]));
        let u = s.usage.get(&run).expect("this test's own group is alive");
        assert!(u.processes >= 1);
        assert!(u.rss_bytes > 0, "{u:?}");
        assert!(u.pss_bytes.is_some_and(|p| p > 0), "{u:?}");
        let none = sampler.sample(&BTreeMap::new());
        assert!(none.usage.is_empty());
    }
}
