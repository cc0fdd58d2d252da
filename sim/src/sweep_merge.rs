//! Merging sweep files: the shards of a range into the summary of the range.

use std::ops::Range;

use crate::sweep::{DeterminismCheck, Sweep};
use crate::sweep_error::SweepError;

/// Merge the files of one sweep into the file of its whole range.
///
/// Every file must share the setup (vigil version, config digest, options)
/// and the range; no two may cover the same seed; together they must cover
/// every seed of the range. The merged summary is then exactly the one a
/// single `vigil sim --seeds A..B` would have made: counts are sums,
/// violations are sorted by seed, and the determinism check is a failed one
/// if any file had one, else that of the range's first seed. Only `jobs`
/// (summed) and `wall` (the longest file's) describe the merge itself.
pub fn merge_sweeps(files: &[Sweep]) -> Result<Sweep, SweepError> {
    let first = files.first().ok_or(SweepError::Nothing)?;
    for (i, f) in files.iter().enumerate().skip(1) {
        agree(first, f, i)?;
    }
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| (files[i].seeds.start, i));
    let mut gaps = Vec::new();
    let mut next = first.range.start;
    let mut covered_by = None;
    for &i in &order {
        let seeds = &files[i].seeds;
        if let Some(prev) = covered_by.filter(|_| seeds.start < next) {
            return Err(SweepError::Overlap {
                first: prev,
                second: i,
                seeds: seeds.start..next.min(seeds.end),
            });
        }
        if seeds.start > next {
            gaps.push(next..seeds.start);
        }
        next = seeds.end;
        covered_by = Some(i);
    }
    if next < first.range.end {
        gaps.push(next..first.range.end);
    }
    if !gaps.is_empty() {
        return Err(SweepError::Missing {
            shards: missing_shards(files),
            gaps,
        });
    }
    let mut merged = Sweep {
        shard: None,
        seeds: first.range.clone(),
        jobs: 0,
        wall: std::time::Duration::ZERO,
        replays: Default::default(),
        summary: Default::default(),
        determinism: DeterminismCheck {
            seed: first.range.start,
            identical: true,
        },
        ..first.clone()
    };
    for &i in &order {
        let f = &files[i];
        merged.jobs = merged.jobs.saturating_add(f.jobs);
        merged.wall = merged.wall.max(f.wall);
        merged.replays.extend(f.replays.clone());
        merged.summary.merge(f.summary.clone());
        if f.seeds.start == first.range.start && merged.determinism.identical {
            merged.determinism = f.determinism;
        }
        if !f.determinism.identical && merged.determinism.identical {
            merged.determinism = f.determinism;
        }
    }
    Ok(merged)
}

fn agree(a: &Sweep, b: &Sweep, other: usize) -> Result<(), SweepError> {
    let (x, y) = (&a.setup.options, &b.setup.options);
    let pairs: [(&str, String, String); 10] = [
        ("vigil", a.setup.vigil.clone(), b.setup.vigil.clone()),
        (
            "config_digest",
            a.setup.config_digest.clone(),
            b.setup.config_digest.clone(),
        ),
        ("range", show_range(&a.range), show_range(&b.range)),
        (
            "options.duration_ns",
            x.duration_ns.to_string(),
            y.duration_ns.to_string(),
        ),
        (
            "options.random_faults",
            x.random_faults.to_string(),
            y.random_faults.to_string(),
        ),
        (
            "options.script_digest",
            format!("{:?}", x.script_digest),
            format!("{:?}", y.script_digest),
        ),
        ("options.liveness", x.liveness.to_string(), y.liveness.to_string()),
        ("options.max_steps", x.max_steps.to_string(), y.max_steps.to_string()),
        (
            "options.inject_bug",
            format!("{:?}", x.inject_bug),
            format!("{:?}", y.inject_bug),
        ),
        ("config", a.setup.config.clone(), b.setup.config.clone()),
    ];
    match pairs.into_iter().find(|(_, p, q)| p != q) {
        Some((key, expected, found)) => Err(SweepError::Disagree {
            key: key.to_owned(),
            expected,
            found,
            other,
        }),
        None => Ok(()),
    }
}

fn show_range(r: &Range<u64>) -> String {
    format!("{}..{}", r.start, r.end)
}

/// The shards with no file, when every file is a shard of the same count.
fn missing_shards(files: &[Sweep]) -> Vec<u64> {
    let Some(count) = files.first().and_then(|f| f.shard).map(|s| s.count()) else {
        return Vec::new();
    };
    if files.iter().any(|f| f.shard.map(|s| s.count()) != Some(count)) {
        return Vec::new();
    }
    (0..count)
        .filter(|k| !files.iter().any(|f| f.shard.map(|s| s.index()) == Some(*k)))
        .collect()
}
