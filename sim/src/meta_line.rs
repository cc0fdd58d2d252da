//! The trace's first line, the `meta` line: everything needed to replay a
//! run. Written ([`meta_line`]) and read back ([`parse_meta`]) here, together,
//! so that the two stay each other's inverse.

use std::time::Duration;

use vigil_config::Script;

use crate::options::{SimOptions, DEFAULT_MAX_STEPS};
use crate::replay_error::ReplayError;
use crate::sim_tree::SimTree;

/// What a trace's first line says about the run that wrote it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceMeta {
    /// The seed.
    pub seed: u64,
    /// The config file it simulated.
    pub config: String,
    /// The faulty phase's duration.
    pub duration: Duration,
    /// Whether random faults were on.
    pub random_faults: bool,
    /// The script file, if any.
    pub script: Option<String>,
    /// Whether the liveness phase ran.
    pub liveness: bool,
    /// The step budget (`max_steps` in the meta line; absent: the default).
    pub max_steps: u64,
    /// Test-only: the deliberate engine bug the run had (`inject_bug` in the
    /// meta line, which only a build with the feature `bug-injection` writes).
    pub inject_bug: Option<vigil_core::InjectedBug>,
    /// The config's digest (`digest`; absent in traces written before it
    /// was recorded, `null` for a config built in code).
    pub digest: Option<String>,
}

/// What a real run's meta line (`vigil run --trace`, `"origin":"run"`) says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTraceMeta {
    /// The engine's seed.
    pub seed: u64,
    /// The config file the run started with, as given.
    pub config: String,
    /// The config's digest, if recorded.
    pub digest: Option<String>,
    /// The wall-clock time of `t = 0`, RFC 3339 UTC.
    pub t0_utc: String,
    /// The vigil version that wrote it.
    pub vigil: String,
}

/// A trace's first line, by where the trace comes from (its `origin`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordedMeta {
    /// `vigil sim --trace` (`"origin":"sim"`, or no `origin`: written before
    /// the key existed): replayed from its seed.
    Sim(TraceMeta),
    /// `vigil run --trace` (`"origin":"run"`): replayed from its inputs.
    Run(RunTraceMeta),
}

impl RecordedMeta {
    /// The config digest the trace records, if any.
    pub fn digest(&self) -> Option<&str> {
        match self {
            RecordedMeta::Sim(m) => m.digest.as_deref(),
            RecordedMeta::Run(m) => m.digest.as_deref(),
        }
    }
}

/// Refuse to replay a trace against a config other than the one it was
/// recorded with: both digests known and different. A trace that records
/// none (written before digests) or a config with none (built in code) is
/// not checked.
pub fn check_digest(recorded: Option<&str>, config: Option<vigil_config::ConfigDigest>) -> Result<(), ReplayError> {
    match (recorded, config) {
        (Some(r), Some(c)) if r != c.to_string() => Err(ReplayError::DigestMismatch {
            recorded: r.to_owned(),
            config: c.to_string(),
        }),
        _ => Ok(()),
    }
}

/// The first trace line: everything needed to replay the run. Keys follow
/// the trace's order: `t`, `ev`, then the run's own fields.
pub fn meta_line(tree: &SimTree, seed: u64, opts: &SimOptions) -> String {
    let text = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned());
    let script = opts.script.as_ref().map_or("null".to_owned(), |s| text(&s.source));
    let mut line = format!(
        "{{\"t\":0,\"ev\":\"meta\",\"seed\":{seed},\"config\":{},\"duration_ns\":{},\"random_faults\":{},\"script\":{script},\"liveness\":{},\"vigil\":{}",
        text(tree.name()),
        u64::try_from(opts.duration.as_nanos()).unwrap_or(u64::MAX),
        opts.random_faults,
        opts.liveness,
        text(env!("CARGO_PKG_VERSION")),
    );
    // Only a budget other than the default is recorded (older traces stay valid).
    if opts.max_steps != DEFAULT_MAX_STEPS {
        line.push_str(&format!(",\"max_steps\":{}", opts.max_steps));
    }
    if let Some(bug) = opts.injected_bug() {
        line.push_str(&format!(",\"inject_bug\":{}", text(bug.name())));
    }
    // Added later (docs/TRACE.md, "Compatibility"): where `t` comes from,
    // and which version of the config this is.
    let digest = tree.digest().map_or("null".to_owned(), |d| text(&d.to_string()));
    line.push_str(&format!(",\"origin\":\"sim\",\"digest\":{digest}"));
    line.push('}');
    line
}

/// Read the meta line of a simulated trace (a real run's is refused: see
/// [`parse_recorded_meta`]).
pub fn parse_meta(first_line: &str) -> Result<TraceMeta, ReplayError> {
    match parse_recorded_meta(first_line)? {
        RecordedMeta::Sim(m) => Ok(m),
        RecordedMeta::Run(_) => Err(ReplayError::BadMeta(
            "the trace of a real run (`origin` is `run`), not of a simulated one".into(),
        )),
    }
}

/// Read the meta line of any trace: simulated or recorded by a real run.
pub fn parse_recorded_meta(first_line: &str) -> Result<RecordedMeta, ReplayError> {
    let v: serde_json::Value =
        serde_json::from_str(first_line).map_err(|e| ReplayError::BadMeta(format!("first line: {e}")))?;
    if v.get("ev").and_then(|e| e.as_str()) != Some("meta") {
        return Err(ReplayError::BadMeta("the first line is not a meta line".into()));
    }
    let digest = v.get("digest").and_then(|d| d.as_str()).map(str::to_owned);
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .map(str::to_owned)
            .ok_or_else(|| ReplayError::BadMeta(format!("missing `{k}`")))
    };
    match v.get("origin").map(|o| o.as_str()) {
        None | Some(Some("sim")) => parse_sim_meta(&v, digest).map(RecordedMeta::Sim),
        Some(Some("run")) => Ok(RecordedMeta::Run(RunTraceMeta {
            seed: v
                .get("seed")
                .and_then(|x| x.as_u64())
                .ok_or_else(|| ReplayError::BadMeta("missing `seed`".into()))?,
            config: text("config")?,
            digest,
            t0_utc: text("t0_utc")?,
            vigil: text("vigil")?,
        })),
        Some(Some("own_code")) => Err(ReplayError::BadMeta(
            "the trace of an own-code simulation (vigil_tokio::dst): it ran your task code, which only your \
             own test can run again (VIGIL_DST_SEED=<seed> cargo test ...)"
                .into(),
        )),
        Some(other) => Err(ReplayError::BadMeta(format!(
            "unknown `origin` {} (expected `sim`, `run` or `own_code`)",
            other.map_or_else(|| "(not a string)".to_owned(), |o| format!("`{o}`"))
        ))),
    }
}

/// The keys of a simulated trace's meta line.
fn parse_sim_meta(v: &serde_json::Value, digest: Option<String>) -> Result<TraceMeta, ReplayError> {
    let num = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_u64())
            .ok_or_else(|| ReplayError::BadMeta(format!("missing `{k}`")))
    };
    let flag = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_bool())
            .ok_or_else(|| ReplayError::BadMeta(format!("missing `{k}`")))
    };
    Ok(TraceMeta {
        seed: num("seed")?,
        config: v
            .get("config")
            .and_then(|x| x.as_str())
            .ok_or_else(|| ReplayError::BadMeta("missing `config`".into()))?
            .to_owned(),
        duration: Duration::from_nanos(num("duration_ns")?),
        random_faults: flag("random_faults")?,
        script: v.get("script").and_then(|x| x.as_str()).map(str::to_owned),
        liveness: flag("liveness")?,
        max_steps: match v.get("max_steps") {
            None => DEFAULT_MAX_STEPS,
            Some(_) => num("max_steps")?,
        },
        inject_bug: v
            .get("inject_bug")
            .and_then(|x| x.as_str())
            .and_then(vigil_core::InjectedBug::from_name),
        digest,
    })
}

/// Options equivalent to the recorded run (the script already loaded).
pub fn options_for(meta: &TraceMeta, script: Option<Script>) -> SimOptions {
    SimOptions {
        duration: meta.duration,
        random_faults: meta.random_faults,
        script,
        liveness: meta.liveness,
        max_steps: meta.max_steps,
        inject_bug: meta.inject_bug,
    }
}

#[cfg(test)]
mod tests {
    use vigil_core::InjectedBug;

    use super::*;

    #[test]
    fn a_bug_is_recorded_only_by_a_build_that_can_have_it() {
        let cfg = vigil_config::parse_tree("[[child]]\nname = \"w\"\ncommand = [\"x\"]\n", "t.toml").expect("valid");
        let cfg = SimTree::from_config(&cfg).expect("a config's tree");
        let opts = SimOptions {
            inject_bug: Some(InjectedBug::SkipIntensity),
            ..SimOptions::default()
        };
        let line = meta_line(&cfg, 1, &opts);
        assert_eq!(
            line.contains(r#""inject_bug":"skip_intensity""#),
            InjectedBug::ENABLED,
            "{line}"
        );
        let replay = crate::replay_command(&cfg, 1, &opts);
        assert_eq!(
            replay.contains(" --inject-bug skip_intensity"),
            InjectedBug::ENABLED,
            "{replay}"
        );
        let meta = parse_meta(&line).expect("a meta line");
        assert_eq!(options_for(&meta, None).injected_bug(), opts.injected_bug());
        assert_eq!(opts.injected_bug().is_some(), InjectedBug::ENABLED);
    }
}
