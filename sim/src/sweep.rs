//! A sweep file: the summary of a seed range (or of one shard of it) with
//! everything needed to merge it with the others (`vigil sim --json`,
//! `vigil merge`; docs/SIMULATION.md, "Sweeps on a cluster").

use std::collections::BTreeMap;
use std::ops::Range;
use std::time::Duration;

use serde_json::{json, Value};

use crate::options::SimOptions;
use crate::run::replay_command;
use crate::seed_range::Summary;
use crate::shard::Shard;
use crate::sim_tree::SimTree;
use crate::summary_json::Reader;
use crate::sweep_error::SweepError;

/// The version of the file format (`"vigil_sweep"`).
pub const FORMAT: u64 = 1;

/// What every file of one sweep must share: who simulated what, how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepSetup {
    /// The vigil version that ran the seeds (another version may simulate differently).
    pub vigil: String,
    /// The config file as given on the command line.
    pub config: String,
    /// `fnv1a64:` and the FNV-1a hash of the config file's bytes.
    pub config_digest: String,
    /// The simulation options.
    pub options: SweepOptions,
}

/// The options of `vigil sim` that change what a seed does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SweepOptions {
    /// `--duration`, in nanoseconds.
    pub duration_ns: u64,
    /// Not `--no-random-faults`.
    pub random_faults: bool,
    /// `--script` as given.
    pub script: Option<String>,
    /// The digest of the script file's bytes.
    pub script_digest: Option<String>,
    /// Whether the liveness phase runs.
    pub liveness: bool,
    /// `--max-steps`.
    pub max_steps: u64,
    /// Test builds: `--inject-bug`.
    pub inject_bug: Option<String>,
}

/// Which seed was run twice to check determinism, and whether its two traces were identical.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeterminismCheck {
    /// The seed.
    pub seed: u64,
    /// Whether both runs wrote the same trace.
    pub identical: bool,
}

/// The summary of the seeds `seeds` of the sweep `range`, and how it was made.
#[derive(Clone, Debug, PartialEq)]
pub struct Sweep {
    /// What every file of the sweep shares.
    pub setup: SweepSetup,
    /// The whole `--seeds` range of the sweep.
    pub range: Range<u64>,
    /// `--shard K/N`, if the file covers one shard; `None` for a whole range (and a merge).
    pub shard: Option<Shard>,
    /// The seeds this file covers (a shard's block, or the whole range).
    pub seeds: Range<u64>,
    /// Threads used (a merge: their sum over the files).
    pub jobs: u64,
    /// Wall time of the seeds (a merge: the longest file's, as if the shards ran at once).
    pub wall: Duration,
    /// The determinism self-check (a merge: a failed one if any, else the first seed's).
    pub determinism: DeterminismCheck,
    /// The command that replays each seed that broke a rule.
    pub replays: BTreeMap<u64, String>,
    /// The totals.
    pub summary: Summary,
}

/// FNV-1a, 64 bits, as `fnv1a64:<16 hex digits>`: the config digest of
/// trace meta lines ([`vigil_config::ConfigDigest`]), the same on every
/// machine and version.
pub fn fnv1a64(bytes: &[u8]) -> String {
    vigil_config::ConfigDigest::of(bytes).to_string()
}

impl SweepSetup {
    /// The setup of a run of `cfg` (whose file holds `config_text`) with
    /// `opts` (whose script file, if any, holds `script_text`).
    pub fn new(cfg: &SimTree, config_text: &[u8], opts: &SimOptions, script_text: Option<&[u8]>) -> Self {
        SweepSetup {
            vigil: env!("CARGO_PKG_VERSION").to_owned(),
            config: cfg.name().to_owned(),
            config_digest: fnv1a64(config_text),
            options: SweepOptions {
                duration_ns: u64::try_from(opts.duration.as_nanos()).unwrap_or(u64::MAX),
                random_faults: opts.random_faults,
                script: opts.script.as_ref().map(|s| s.source.clone()),
                script_digest: script_text.map(fnv1a64),
                liveness: opts.liveness,
                max_steps: opts.max_steps,
                inject_bug: opts.injected_bug().map(|b| b.name().to_owned()),
            },
        }
    }
}

impl Sweep {
    /// The replay command of every seed of `summary` that broke a rule.
    pub fn replays_of(cfg: &SimTree, opts: &SimOptions, summary: &Summary) -> BTreeMap<u64, String> {
        summary
            .violations
            .iter()
            .map(|r| (r.seed, replay_command(cfg, r.seed, opts)))
            .collect()
    }

    /// The file's JSON, its digest last.
    pub fn to_json(&self) -> Value {
        let o = &self.setup.options;
        let mut v = json!({
            "vigil_sweep": FORMAT,
            "vigil": self.setup.vigil,
            "config": self.setup.config,
            "config_digest": self.setup.config_digest,
            "options": {
                "duration_ns": o.duration_ns, "random_faults": o.random_faults,
                "script": o.script, "script_digest": o.script_digest, "liveness": o.liveness,
                "max_steps": o.max_steps, "inject_bug": o.inject_bug,
            },
            "range": { "start": self.range.start, "end": self.range.end },
            "shard": self.shard.map(|s| json!({ "index": s.index(), "count": s.count() })),
            "seeds": { "start": self.seeds.start, "end": self.seeds.end },
            "jobs": self.jobs,
            "wall": { "secs": self.wall.as_secs(), "nanos": self.wall.subsec_nanos() },
            "determinism": { "seed": self.determinism.seed, "identical": self.determinism.identical },
            "replays": self.replays.iter().map(|(s, c)| json!({ "seed": s, "command": c })).collect::<Vec<_>>(),
            "summary": self.summary.to_json(),
        });
        let digest = fnv1a64(v.to_string().as_bytes());
        if let Some(map) = v.as_object_mut() {
            map.insert("digest".to_owned(), json!(digest));
        }
        v
    }

    /// Read a sweep file: its digest, every key, and that its counts agree.
    pub fn from_json_text(text: &str) -> Result<Sweep, SweepError> {
        let mut v: Value = serde_json::from_str(text).map_err(|e| SweepError::Json(e.to_string()))?;
        let map = v.as_object_mut().ok_or(SweepError::NotASweep)?;
        let format = map.get("vigil_sweep").ok_or(SweepError::NotASweep)?;
        let found = format.as_u64().ok_or(SweepError::NotASweep)?;
        if found != FORMAT {
            return Err(SweepError::Format { found });
        }
        let digest = map
            .remove("digest")
            .ok_or_else(|| SweepError::malformed("digest".to_owned(), "missing"))?;
        let actual = fnv1a64(v.to_string().as_bytes());
        if digest.as_str() != Some(actual.as_str()) {
            return Err(SweepError::Tampered(format!(
                "recorded {digest}, computed \"{actual}\""
            )));
        }
        let sweep = Sweep::from_value(&v)?;
        sweep.check()?;
        Ok(sweep)
    }

    fn from_value(v: &Value) -> Result<Sweep, SweepError> {
        let r = Reader::new(v, "file")?;
        let o = Reader::new(r.get("options")?, "options")?;
        let range = |key: &str| -> Result<Range<u64>, SweepError> {
            let x = Reader::new(r.get(key)?, key)?;
            Ok(x.u64("start")?..x.u64("end")?)
        };
        let shard = match r.get("shard")? {
            Value::Null => None,
            s => {
                let s = Reader::new(s, "shard")?;
                Some(
                    Shard::new(s.u64("index")?, s.u64("count")?)
                        .map_err(|e| SweepError::Inconsistent(e.to_string()))?,
                )
            }
        };
        let d = Reader::new(r.get("determinism")?, "determinism")?;
        let mut replays = BTreeMap::new();
        for (i, x) in r.array("replays")?.iter().enumerate() {
            let at = format!("replays[{i}]");
            let x = Reader::new(x, &at)?;
            replays.insert(x.u64("seed")?, x.str("command")?.to_owned());
        }
        Ok(Sweep {
            setup: SweepSetup {
                vigil: r.str("vigil")?.to_owned(),
                config: r.str("config")?.to_owned(),
                config_digest: r.str("config_digest")?.to_owned(),
                options: SweepOptions {
                    duration_ns: o.u64("duration_ns")?,
                    random_faults: o.bool("random_faults")?,
                    script: o.opt_str("script")?.map(str::to_owned),
                    script_digest: o.opt_str("script_digest")?.map(str::to_owned),
                    liveness: o.bool("liveness")?,
                    max_steps: o.u64("max_steps")?,
                    inject_bug: o.opt_str("inject_bug")?.map(str::to_owned),
                },
            },
            range: range("range")?,
            shard,
            seeds: range("seeds")?,
            jobs: r.u64("jobs")?,
            wall: r.duration("wall")?,
            determinism: DeterminismCheck {
                seed: d.u64("seed")?,
                identical: d.bool("identical")?,
            },
            replays,
            summary: Summary::from_json(r.get("summary")?)?,
        })
    }

    /// The counts agree with each other and with the seeds covered.
    fn check(&self) -> Result<(), SweepError> {
        let bad = |why: String| Err(SweepError::Inconsistent(why));
        let (range, seeds, s) = (&self.range, &self.seeds, &self.summary);
        if seeds.start >= seeds.end || seeds.start < range.start || seeds.end > range.end {
            return bad(format!(
                "seeds {seeds:?} are not a non-empty part of the range {range:?}"
            ));
        }
        if let Some(shard) = self.shard {
            let expected = shard
                .seeds(range)
                .map_err(|e| SweepError::Inconsistent(e.to_string()))?;
            if expected != *seeds {
                return bad(format!(
                    "shard {shard} of {range:?} is seeds {expected:?}, not {seeds:?}"
                ));
            }
        } else if seeds != range {
            return bad(format!(
                "a file that is no shard covers the whole range {range:?}, not {seeds:?}"
            ));
        }
        if s.seeds != seeds.end - seeds.start
            || s.outcomes.values().try_fold(0u64, |a, n| a.checked_add(*n)) != Some(s.seeds)
        {
            return bad(format!(
                "{} seeds ran, {} were counted, {} covered",
                s.seeds,
                s.outcomes.values().sum::<u64>(),
                seeds.end - seeds.start
            ));
        }
        let failing: Vec<u64> = s.violations.iter().map(|r| r.seed).collect();
        if failing.windows(2).any(|w| w[0] >= w[1]) || failing.iter().any(|x| !seeds.contains(x)) {
            return bad("the failing seeds are not distinct seeds of the file in order".to_owned());
        }
        if !failing.iter().copied().eq(self.replays.keys().copied()) {
            return bad("the replay commands are not those of the failing seeds".to_owned());
        }
        if !seeds.contains(&self.determinism.seed) {
            return bad(format!(
                "the determinism check ran seed {}, not one of the file",
                self.determinism.seed
            ));
        }
        Ok(())
    }
}
