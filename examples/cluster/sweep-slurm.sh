#!/usr/bin/env bash
# A sweep of examples/web-stack.toml as a Slurm job array: 100 tasks, each
# one shard (its SLURM_ARRAY_TASK_ID) of 0..1000000, writing its sweep file
# to a shared directory (docs/SIMULATION.md, "Sweeps on a cluster"):
#
#   sbatch examples/cluster/sweep-slurm.sh
#   # when the array is done:
#   vigil merge sweep-results/shard-*.json
#
#SBATCH --job-name=vigil-sweep
#SBATCH --array=0-99
#SBATCH --cpus-per-task=2
#SBATCH --output=sweep-results/shard-%a.log
set -u
mkdir -p sweep-results
vigil sim examples/web-stack.toml --seeds 0..1000000 --shard "$SLURM_ARRAY_TASK_ID"/100 --json sweep-results/shard-"$SLURM_ARRAY_TASK_ID".json --jobs "$SLURM_CPUS_PER_TASK" --quiet
code=$?
# 1 (a broken invariant) and 3 (a step budget) are findings kept in the file.
if [ $code -eq 1 ] || [ $code -eq 3 ]; then exit 0; fi
exit $code
