//! Sweep files: a range run in shards and merged is exactly the range run
//! at once; damaged, duplicated, foreign or missing shards are refused with
//! the reason.

use std::ops::Range;
use std::time::Duration;

use proptest::prelude::*;
use vigil_sim::{merge_sweeps, run_seeds, DeterminismCheck, Shard, SimOptions, Sweep, SweepError, SweepSetup};

const CONFIG: &str = r#"
[supervisor]
intensity = 2
period = "10s"
[[child]]
name = "a"
command = ["a"]
sim = { lifetime = "exp(2m)", exit = "error" }
[[child]]
name = "b"
command = ["b"]
sim = { lifetime = "exp(5m)", exit = "panic" }
"#;

fn opts() -> SimOptions {
    SimOptions {
        duration: Duration::from_secs(600),
        ..SimOptions::default()
    }
}

fn sweep(range: Range<u64>, shard: Option<Shard>) -> Sweep {
    let cfg = vigil_config::parse_tree(CONFIG, "small.toml").expect("valid");
    let cfg = vigil_sim::SimTree::from_config(&cfg).expect("every worker modelled");
    let seeds = shard.map_or(Ok(range.clone()), |s| s.seeds(&range)).expect("a shard");
    let summary = run_seeds(&cfg, seeds.clone(), &opts(), 2, &|_| {});
    Sweep {
        setup: SweepSetup::new(&cfg, CONFIG.as_bytes(), &opts(), None),
        range,
        shard,
        seeds: seeds.clone(),
        jobs: 2,
        wall: Duration::from_millis(seeds.start),
        determinism: DeterminismCheck {
            seed: seeds.start,
            identical: true,
        },
        replays: Sweep::replays_of(&cfg, &opts(), &summary),
        summary,
    }
}

fn shards(range: &Range<u64>, n: u64) -> Vec<Sweep> {
    (0..n)
        .map(|k| sweep(range.clone(), Some(Shard::new(k, n).unwrap())))
        .collect()
}

/// Through the file format: written, read back.
fn through_file(s: &Sweep) -> Sweep {
    Sweep::from_json_text(&s.to_json().to_string()).expect("reads back")
}

#[test]
fn three_shards_of_0_to_300_merge_into_the_unsharded_summary() {
    let whole = sweep(0..300, None);
    let files: Vec<Sweep> = shards(&(0..300), 3).iter().map(through_file).collect();
    // In any order.
    let merged = merge_sweeps(&[files[2].clone(), files[0].clone(), files[1].clone()]).expect("merges");
    assert_eq!(merged.summary, whole.summary);
    assert_eq!(merged.replays, whole.replays);
    assert_eq!(merged.determinism, whole.determinism);
    assert_eq!((merged.seeds.clone(), merged.shard), (0..300, None));
    assert!(
        whole.summary.outcomes.len() > 1,
        "a range with several outcomes: {:?}",
        whole.summary.outcomes
    );
    // The JSON is the same but for the merge's own jobs and wall time.
    let norm = |s: &Sweep| {
        Sweep {
            jobs: 0,
            wall: Duration::ZERO,
            ..s.clone()
        }
        .to_json()
    };
    assert_eq!(norm(&merged), norm(&whole));
    // A merged file merges again, alone.
    assert_eq!(merge_sweeps(&[through_file(&merged)]).unwrap().summary, whole.summary);
}

#[test]
fn damaged_files_are_refused_with_the_reason() {
    let text = sweep(0..20, Some(Shard::new(1, 2).unwrap())).to_json().to_string();
    let cut = Sweep::from_json_text(&text[..text.len() / 2]).unwrap_err();
    assert!(matches!(cut, SweepError::Json(ref m) if m.contains("EOF")), "{cut}");
    let edited = text.replacen("\"seeds\":10", "\"seeds\":11", 1);
    assert_ne!(edited, text);
    assert!(matches!(Sweep::from_json_text(&edited), Err(SweepError::Tampered(_))));
    assert_eq!(Sweep::from_json_text("[1]").unwrap_err(), SweepError::NotASweep);
    assert_eq!(
        Sweep::from_json_text("{\"vigil_sweep\":7}").unwrap_err(),
        SweepError::Format { found: 7 }
    );
    // Self-consistent tampering with a recomputed digest is still caught by the counts.
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["summary"]["seeds"] = serde_json::json!(11);
    let redigested = redigest(v);
    assert!(
        matches!(Sweep::from_json_text(&redigested), Err(SweepError::Inconsistent(_))),
        "{redigested}"
    );
}

fn redigest(mut v: serde_json::Value) -> String {
    v.as_object_mut().unwrap().remove("digest");
    let d = vigil_sim::fnv1a64(v.to_string().as_bytes());
    v.as_object_mut().unwrap().insert("digest".into(), serde_json::json!(d));
    v.to_string()
}

#[test]
fn duplicate_missing_and_foreign_shards_are_refused() {
    let files = shards(&(0..30), 3);
    let twice = merge_sweeps(&[files[0].clone(), files[1].clone(), files[1].clone(), files[2].clone()]);
    assert_eq!(
        twice.unwrap_err(),
        SweepError::Overlap {
            first: 1,
            second: 2,
            seeds: 10..20
        }
    );
    let missing = merge_sweeps(&[files[2].clone(), files[0].clone()]).unwrap_err();
    assert_eq!(
        missing,
        SweepError::Missing {
            gaps: std::iter::once(10..20).collect(),
            shards: vec![1]
        }
    );
    assert!(missing.to_string().contains("missing shard(s) 1"), "{missing}");
    let mut foreign = files[1].clone();
    foreign.setup.config_digest = vigil_sim::fnv1a64(b"another config");
    let e = merge_sweeps(&[files[0].clone(), foreign, files[2].clone()]).unwrap_err();
    assert!(
        matches!(e, SweepError::Disagree { ref key, other: 1, .. } if key == "config_digest"),
        "{e}"
    );
    let mut longer = files[2].clone();
    longer.setup.options.duration_ns += 1;
    let e = merge_sweeps(&[files[0].clone(), files[1].clone(), longer]).unwrap_err();
    assert!(
        matches!(e, SweepError::Disagree { ref key, other: 2, .. } if key == "options.duration_ns"),
        "{e}"
    );
    let other_range = sweep(0..31, Some(Shard::new(2, 3).unwrap()));
    let e = merge_sweeps(&[files[0].clone(), files[1].clone(), other_range]).unwrap_err();
    assert!(
        matches!(e, SweepError::Disagree { ref key, .. } if key == "range"),
        "{e}"
    );
    assert_eq!(merge_sweeps(&[]).unwrap_err(), SweepError::Nothing);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, ..ProptestConfig::default() })]

    #[test]
    fn any_sharding_merges_into_the_unsharded_summary(start in 0u64..1000, len in 1u64..40, n in 1u64..8) {
        let range = start..start + len;
        let n = n.min(len);
        let whole = sweep(range.clone(), None);
        let merged = merge_sweeps(&shards(&range, n)).expect("merges");
        prop_assert_eq!(merged.summary, whole.summary);
        prop_assert_eq!(merged.determinism, whole.determinism);
    }
}
