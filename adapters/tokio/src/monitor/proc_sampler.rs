//! Reading a [`Sample`] from `/proc`.

use std::collections::BTreeMap;

use vigil_core::RunId;

use super::sample::{GroupUsage, Sample};

/// Reads the usage of watched process groups from `/proc`: one pass over
/// `/proc/<pid>/stat` of every process (the only way to find a group's
/// members), plus `/proc/<pid>/smaps_rollup` of the members of groups whose
/// PSS is wanted.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ProcSampler {
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
    pub(crate) fn new() -> Self {
        let ticks = procfs::ticks_per_second().max(1);
        ProcSampler {
            ns_per_tick: 1_000_000_000 / ticks,
            page_size: procfs::page_size(),
        }
    }

    /// Sample the groups in `groups` (process group id → its run): RSS and
    /// CPU time of every member, from one pass over `/proc/*/stat`. Processes
    /// that vanish while being read are skipped; a group with no process
    /// left is absent from the sample. PSS is left unknown: see
    /// [`add_pss`](Self::add_pss), which needs the returned members.
    pub(crate) fn sample(&self, groups: &BTreeMap<u32, RunId>) -> (Sample, Members) {
        let at = tokio::time::Instant::now();
        let mut usage: BTreeMap<RunId, GroupUsage> = BTreeMap::new();
        let mut members = Members::default();
        let Ok(all) = procfs::process::all_processes() else {
            tracing::warn!(target: "vigil::monitor", "cannot list /proc; no sample");
            return (Sample { at, usage }, members);
        };
        for process in all.flatten() {
            let Ok(stat) = process.stat() else { continue };
            let Ok(pgid) = u32::try_from(stat.pgrp) else { continue };
            let Some(&run) = groups.get(&pgid) else { continue };
            let u = usage.entry(run).or_default();
            u.processes += 1;
            u.rss_bytes += stat.rss * self.page_size;
            u.cpu_ns += (stat.utime + stat.stime) * self.ns_per_tick;
            members.0.entry(run).or_default().push(stat.pid);
        }
        (Sample { at, usage }, members)
    }

    /// Read the PSS of every member of each of `runs` (from
    /// `/proc/<pid>/smaps_rollup`, about 25 µs per process) into `sample`. A
    /// member whose PSS is unreadable makes its group's PSS unknown; a member
    /// that exited since the sample counts as 0.
    pub(crate) fn add_pss(&self, sample: &mut Sample, members: &Members, runs: impl IntoIterator<Item = RunId>) {
        let mut buf = Vec::with_capacity(1024);
        for run in runs {
            let (Some(u), Some(pids)) = (sample.usage.get_mut(&run), members.0.get(&run)) else {
                continue;
            };
            let mut sum = Some(0u64);
            for &pid in pids {
                let pss = match std::fs::File::open(format!("/proc/{pid}/smaps_rollup")) {
                    Ok(f) => pss_bytes(f, &mut buf),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(0),
                    Err(_) => None,
                };
                sum = sum.zip(pss).map(|(a, b)| a + b);
            }
            u.pss_bytes = sum;
        }
    }
}

/// The processes of each sampled group, by pid (for [`ProcSampler::add_pss`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Members(BTreeMap<RunId, Vec<i32>>);

/// The `Pss:` line of a `smaps_rollup` file, in bytes. Reads into `buf`
/// (reused across processes) and parses only that line: procfs's full parser
/// builds a map of every field, which was most of a sample's cost.
fn pss_bytes(mut file: std::fs::File, buf: &mut Vec<u8>) -> Option<u64> {
    use std::io::Read as _;
    buf.clear();
    file.read_to_end(buf).ok()?;
    let text = std::str::from_utf8(buf).ok()?;
    let line = text.lines().find(|l| l.starts_with("Pss:"))?;
    let mut fields = line["Pss:".len()..].split_whitespace();
    let kib: u64 = fields.next()?.parse().ok()?;
    (fields.next() == Some("kB")).then_some(kib * 1024)
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
    fn pss_is_read_from_its_line_in_kib() {
        let dir = std::env::temp_dir().join(format!("vigil-pss-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("smaps_rollup");
        let mut buf = Vec::new();
        let mut read = |text: &str| {
            std::fs::write(&path, text).unwrap();
            pss_bytes(std::fs::File::open(&path).unwrap(), &mut buf)
        };
        let rollup = "55d0c0a00000-7ffd5b9fe000 ---p 00000000 00:00 0    [rollup]\n\
                      Rss:                1860 kB\n\
                      Pss:                 301 kB\n\
                      Pss_Anon:             84 kB\n";
        assert_eq!(read(rollup), Some(301 * 1024));
        assert_eq!(read("Rss: 1 kB\nPss_Anon: 5 kB\n"), None, "no Pss line");
        assert_eq!(read("Pss: many kB\n"), None);
        assert_eq!(read("Pss: 5 MB\n"), None, "an unknown unit is not guessed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn samples_its_own_process_group() {
        let pgid = nix::unistd::getpgrp().as_raw() as u32;
        let run = some_run();
        let sampler = ProcSampler::new();
        let (mut s, members) = sampler.sample(&BTreeMap::from([(pgid, run)]));
        let u = s.usage[&run];
        assert!(u.processes >= 1);
        assert!(u.rss_bytes > 0, "{u:?}");
        assert_eq!(u.pss_bytes, None, "PSS only when asked");
        sampler.add_pss(&mut s, &members, [run]);
        let u = s.usage[&run];
        assert!(u.pss_bytes.is_some_and(|p| p > 0 && p <= u.rss_bytes), "{u:?}");
        let (none, _) = sampler.sample(&BTreeMap::new());
        assert!(none.usage.is_empty());
    }
}
