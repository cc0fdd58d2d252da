#!/usr/bin/env sh
# A sweep of examples/web-stack.toml in 8 shards with GNU parallel, on one
# machine or, with `--sshloginfile`, on many (docs/SIMULATION.md, "Sweeps on
# a cluster"); every shard gets one thread, parallel runs 8 at a time, and
# `vigil merge` prints the summary of the whole range. Exit codes 1 and 3 of
# a shard are findings kept in its file; merge reports them.
#
#   sh examples/cluster/sweep-parallel.sh [SEEDS] [SHARDS]
set -u
SEEDS=${1:-0..100000}
SHARDS=${2:-8}
OUT=${OUT:-sweep-results}
mkdir -p "$OUT"
seq 0 $((SHARDS - 1)) | parallel -j "$SHARDS" \
  vigil sim examples/web-stack.toml --seeds "$SEEDS" --shard {}/"$SHARDS" --json "$OUT"/shard-{}.json --jobs 1 --quiet
vigil merge "$OUT"/shard-*.json
