//! Value parsers for the command line: durations, seed ranges, job counts.
//!
//! Each returns `Err(message)`; clap turns it into a usage error (exit 2) that
//! names the option and the offending value.

use std::num::NonZeroUsize;
use std::ops::Range;
use std::time::Duration;

/// Parse a positive duration (`--duration`) as the config files write them
/// ([`vigil_config::parse_duration`]: `250ms`, `1.5s`, `2m`, `1h`), not zero.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    let d = vigil_config::parse_duration(text).map_err(|e| e.message().to_owned())?;
    if d.is_zero() {
        return Err(format!("`{text}`: the duration must be greater than zero"));
    }
    Ok(d)
}

/// Parse a time from the start of a trace (`explain --from/--to`): a
/// duration as the config files write them, zero allowed.
pub fn parse_duration_from_start(text: &str) -> Result<Duration, String> {
    vigil_config::parse_duration(text).map_err(|e| e.message().to_owned())
}

/// Parse `--seed`: a whole number below `u64::MAX` (so that the one-seed
/// range `N..N+1` exists).
pub fn parse_seed(text: &str) -> Result<u64, String> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&n| n < u64::MAX)
        .ok_or_else(|| {
            format!(
                "`{text}` is not a seed (expected a whole number from 0 to {})",
                u64::MAX - 1
            )
        })
}

/// Parse `--seeds` into a non-empty half-open range: `A..B` is seeds A to B-1,
/// like a Rust range (`0..100` is 100 seeds); `A..=B` includes B.
pub fn parse_seed_range(text: &str) -> Result<Range<u64>, String> {
    let bad = |why: &str| {
        format!("`{text}` is not a seed range ({why}; expected A..B, seeds A to B-1, or A..=B, seeds A to B)")
    };
    let s = text.trim();
    let (a, b, inclusive) = if let Some((a, b)) = s.split_once("..=") {
        (a, b, true)
    } else if let Some((a, b)) = s.split_once("..") {
        (a, b, false)
    } else {
        return Err(bad("no `..`"));
    };
    let num = |x: &str| {
        x.trim().parse::<u64>().map_err(|_| {
            bad(&format!(
                "`{}` is not a seed: a whole number from 0 to {}",
                x.trim(),
                u64::MAX
            ))
        })
    };
    let (start, end) = (num(a)?, num(b)?);
    let end = if inclusive {
        end.checked_add(1)
            .ok_or_else(|| bad(&format!("the last seed can be at most {}", u64::MAX - 1)))?
    } else {
        end
    };
    if end <= start {
        return Err(bad("the range is empty"));
    }
    Ok(start..end)
}

/// Parse `--shard K/N`: shard K (from 0) of N, K below N ([`vigil_sim::Shard`]).
pub fn parse_shard(text: &str) -> Result<vigil_sim::Shard, String> {
    vigil_sim::Shard::parse(text).map_err(|e| e.to_string())
}

/// Parse `--jobs`: a whole number of worker threads, at least 1.
pub fn parse_jobs(text: &str) -> Result<NonZeroUsize, String> {
    text.trim()
        .parse::<NonZeroUsize>()
        .map_err(|_| format!("`{text}` is not a number of jobs (expected a whole number, at least 1)"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_the_configs_and_positive() {
        assert_eq!(parse_positive_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_positive_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_positive_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_positive_duration("10").unwrap_err().contains("no unit"));
        assert!(parse_positive_duration("5 parsecs").is_err());
        assert!(parse_positive_duration("-1s").is_err());
        assert!(parse_positive_duration("0ms")
            .unwrap_err()
            .contains("greater than zero"));
    }

    #[test]
    fn seed_ranges_are_half_open_or_inclusive() {
        assert_eq!(parse_seed_range("0..100"), Ok(0..100));
        assert_eq!(parse_seed_range("5..=5"), Ok(5..6));
        assert_eq!(parse_seed_range(" 1..2 "), Ok(1..2));
        assert_eq!(parse_seed_range("0..18446744073709551615"), Ok(0..u64::MAX));
        assert_eq!(parse_seed_range("3..=18446744073709551614"), Ok(3..u64::MAX));
    }

    #[test]
    fn bad_seed_ranges_are_refused_with_the_reason() {
        for (text, why) in [
            ("5", "no `..`"),
            ("5..5", "empty"),
            ("6..5", "empty"),
            ("6..=5", "empty"),
            ("0..0", "empty"),
            ("a..5", "`a` is not a seed"),
            ("1..", "`` is not a seed"),
            ("-1..5", "`-1` is not a seed"),
            ("1...5", "`.5` is not a seed"),
            ("0..=18446744073709551615", "at most 18446744073709551614"),
        ] {
            let err = parse_seed_range(text).unwrap_err();
            assert!(err.contains(why), "{text:?}: {err}");
        }
    }

    #[test]
    fn seeds_are_below_the_largest_u64() {
        assert_eq!(parse_seed("42"), Ok(42));
        assert_eq!(parse_seed("18446744073709551614"), Ok(u64::MAX - 1));
        for bad in ["18446744073709551615", "-1", "x", ""] {
            assert!(parse_seed(bad).unwrap_err().contains("is not a seed"), "{bad:?}");
        }
    }

    #[test]
    fn jobs_are_positive() {
        assert_eq!(parse_jobs("4").unwrap().get(), 4);
        assert!(parse_jobs("0").is_err());
        assert!(parse_jobs("-2").is_err());
        assert!(parse_jobs("many").is_err());
    }
}
