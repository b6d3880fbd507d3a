#!/bin/sh
# A distill-stream command on Slurm: a plan, an array of N shards, and a merge after them.
#
#   submit.sh PLAN.json N -- CMD [options…]   write the plan, submit the N shards and the merge
#   submit.sh --resubmit PLAN.json            submit only the shards not done, and a new merge
#
# The plan, the archive (--root) and the work folder must be on a filesystem every node sees. The
# plan step runs where this script runs: it lists and cuts the inputs and builds the evidence index
# once, so the shards only read it. Partition, account and time limit come from Slurm's own
# variables (SBATCH_PARTITION, SBATCH_ACCOUNT, SBATCH_TIMELIMIT…).
set -eu

DISTILL_STREAM=${DISTILL_STREAM:-distill-stream} # the CLI: a command on PATH, or its full path
SCRIPTS=${SCRIPTS:-$(dirname "$0")}              # the folder holding shard.sbatch and merge.sbatch
LOGS=${LOGS:-slurm-logs}                         # each job's output: <LOGS>/<job name>-<job id>[_<index>].out
WORK=${WORK:-}                                   # the shards' work folder (default: PLAN.json.shards)
MAX_RUNNING=${MAX_RUNNING:-}                     # at most this many shards at once (default: as many as fit)
export DISTILL_STREAM

usage() {
  echo "usage: $0 PLAN.json N -- CMD [options…]" >&2
  echo "       $0 --resubmit PLAN.json" >&2
  exit 2
}

absolute() { case $1 in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }

# Submits the shards of the --array= expression $2, then the merge after all of them succeed. The
# two job ids go to PLAN.json.jobs, where --resubmit finds them.
submit() {
  array=$(sbatch --parsable --array="$2${MAX_RUNNING:+%$MAX_RUNNING}" --output="$LOGS/%x-%A_%a.out" "$SCRIPTS/shard.sbatch" "$1")
  array=${array%%;*} # --parsable prints <id>[;<cluster>]
  merge=$(sbatch --parsable --dependency=afterok:"$array" --output="$LOGS/%x-%j.out" "$SCRIPTS/merge.sbatch" "$1")
  merge=${merge%%;*}
  echo "$array $merge" >"$1.jobs"
  echo "shards: job $array (--array=$2); merge: job $merge, after them"
}

# Asks the merge which shards are missing: it refuses, naming them as an --array= expression, and
# writes nothing. When none is missing it merges, here.
resubmit() {
  if [ -f "$1.jobs" ]; then
    read -r array merge <"$1.jobs"
    if [ -n "$(squeue --noheader --jobs="$array" --format=%i 2>/dev/null)" ]; then
      echo "job $array still has shards queued or running: wait for it, or scancel $array first" >&2
      exit 1
    fi
    # A merge whose shards failed waits forever (DependencyNeverSatisfied): the new one replaces it.
    scancel --state=PENDING "$merge" 2>/dev/null || true
  fi
  if said=$("$DISTILL_STREAM" merge "$1" 2>&1); then
    printf '%s\n' "$said"
    echo "every shard was done: merged"
    return
  fi
  printf '%s\n' "$said" >&2
  indexes=$(printf '%s\n' "$said" | sed -n 's/^resubmit them: sbatch --array=\([0-9,-]*\).*/\1/p')
  [ -n "$indexes" ] || exit 1 # not a missing shard: the merge's own error, shown above
  submit "$1" "$indexes"
}

[ $# -ge 1 ] || usage
mkdir -p "$LOGS"
if [ "$1" = --resubmit ]; then
  [ $# -eq 2 ] || usage
  resubmit "$(absolute "$2")"
  exit
fi
if [ $# -lt 4 ] || [ "$3" != -- ]; then usage; fi
plan=$(absolute "$1")
shards=$2
shift 3
"$DISTILL_STREAM" plan --shards "$shards" --out "$plan" ${WORK:+--work "$WORK"} -- "$@"
submit "$plan" "0-$((shards - 1))"
