//! One shard of a seed range: the partition `vigil sim --shard K/N` runs.
//!
//! Shard `K` of `N` is the `K`-th of `N` contiguous blocks of the range,
//! counted from 0 (as Kubernetes' `JOB_COMPLETION_INDEX`): seeds
//! `A + ⌊K·L/N⌋` up to (excluded) `A + ⌊(K+1)·L/N⌋` of a range `A..B` of
//! `L = B − A` seeds. Every seed is in exactly one shard, the blocks differ in
//! size by at most one, and there are never more shards than seeds (no block
//! is empty).

use std::fmt;
use std::ops::Range;

/// Shard `index` of `count` (`0 <= index < count`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Shard {
    index: u64,
    count: u64,
}

/// Why a shard is not one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    /// Not `K/N` with two whole numbers.
    #[error("`{0}` is not a shard (expected K/N: shard K of N, K from 0 to N-1)")]
    Syntax(String),
    /// `N` is 0.
    #[error("a range cannot be split into 0 shards (N must be at least 1)")]
    NoShards,
    /// `K` is not below `N`.
    #[error("shard {index} of {count} does not exist: shards are numbered from 0 to {}", count.saturating_sub(1))]
    NoSuchShard {
        /// K.
        index: u64,
        /// N.
        count: u64,
    },
    /// `N` is larger than the range's number of seeds: some shard would be empty.
    #[error("{count} shards of {seeds} seed(s): a shard would have no seed (use at most {seeds} shards)")]
    MoreShardsThanSeeds {
        /// N.
        count: u64,
        /// Seeds in the range.
        seeds: u64,
    },
}

impl Shard {
    /// Shard `index` of `count`.
    pub fn new(index: u64, count: u64) -> Result<Shard, ShardError> {
        if count == 0 {
            return Err(ShardError::NoShards);
        }
        if index >= count {
            return Err(ShardError::NoSuchShard { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Read `K/N`.
    pub fn parse(text: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_owned());
        let (k, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let num = |x: &str| x.trim().parse::<u64>().map_err(|_| syntax());
        Shard::new(num(k)?, num(n)?)
    }

    /// K: which shard, from 0.
    pub fn index(self) -> u64 {
        self.index
    }

    /// N: how many shards.
    pub fn count(self) -> u64 {
        self.count
    }

    /// The seeds of this shard of `range`: never empty.
    pub fn seeds(self, range: &Range<u64>) -> Result<Range<u64>, ShardError> {
        let len = range.end.saturating_sub(range.start);
        if self.count > len {
            return Err(ShardError::MoreShardsThanSeeds {
                count: self.count,
                seeds: len,
            });
        }
        let at = |k: u64| {
            // k <= count <= len, so k * len / count <= len: it fits in a u64.
            let offset = u128::from(k) * u128::from(len) / u128::from(self.count);
            range.start + u64::try_from(offset).unwrap_or(len)
        };
        Ok(at(self.index)..at(self.index + 1))
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_tile_the_range_in_order() {
        for (range, n) in [(0..300, 3), (5..17, 4), (0..10, 10), (7..8, 1), (0..u64::MAX, 7)] {
            let mut next = range.start;
            for k in 0..n {
                let s = Shard::new(k, n).unwrap().seeds(&range).unwrap();
                assert_eq!(s.start, next, "{range:?} {k}/{n}");
                assert!(s.end > s.start, "{range:?} {k}/{n}: empty");
                next = s.end;
            }
            assert_eq!(next, range.end, "{range:?} /{n}");
        }
        assert_eq!(Shard::new(1, 3).unwrap().seeds(&(0..300)), Ok(100..200));
    }

    #[test]
    fn bad_shards_are_refused_with_the_reason() {
        assert_eq!(Shard::parse("2/5"), Shard::new(2, 5));
        assert_eq!(Shard::parse(" 0 / 1 ").map(|s| s.to_string()), Ok("0/1".to_owned()));
        for text in ["3", "a/3", "1/", "-1/3", "1/2/3", ""] {
            assert_eq!(Shard::parse(text), Err(ShardError::Syntax(text.to_owned())));
        }
        assert_eq!(Shard::parse("0/0"), Err(ShardError::NoShards));
        assert_eq!(Shard::parse("3/3"), Err(ShardError::NoSuchShard { index: 3, count: 3 }));
        let err = Shard::new(0, 11).unwrap().seeds(&(0..10)).unwrap_err();
        assert_eq!(err, ShardError::MoreShardsThanSeeds { count: 11, seeds: 10 });
        assert!(err.to_string().contains("at most 10 shards"), "{err}");
    }
}
