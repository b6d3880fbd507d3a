#!/bin/sh
# A distill-stream command on Slurm: a plan, an array of N shards, and a merge after them.
#
#   submit.sh PLAN.json N -- CMD [options…]   write the plan, submit the N shards and the merge
#   submit.sh PLAN.json N -- run-all [options…]
#                                             write the plan, submit every phase (one per stage):
#                                             its N shards after the previous phase's merge, its merge after them
#   submit.sh --resubmit PLAN.json            submit only the shards not done, and a new merge
#                                             (for run-all, and the phases after it)
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

# sbatch --parsable prints <id>[;<cluster>]: the id.
job() { id=$(sbatch --parsable "$@") && echo "${id%%;*}"; }

# Submits the shards of the --array= expression $2, then the merge after all of them succeed. The
# two job ids go to PLAN.json.jobs, where --resubmit finds them.
submit() {
  array=$(job --array="$2${MAX_RUNNING:+%$MAX_RUNNING}" --output="$LOGS/%x-%A_%a.out" "$SCRIPTS/shard.sbatch" "$1")
  merge=$(job --dependency=afterok:"$array" --output="$LOGS/%x-%j.out" "$SCRIPTS/merge.sbatch" "$1")
  echo "$array $merge" >"$1.jobs"
  echo "shards: job $array (--array=$2); merge: job $merge, after them"
}

# run-all's phases from phase $3 of $4, each of $5 shards: that phase's shards of the --array=
# expression $2, then every later phase whole, each array after the merge before it. A job whose
# dependency failed is cancelled (--kill-on-invalid-dep), so a failed shard or a run that ended on a
# failed stage leaves no job of the chain waiting. Every job id goes to PLAN.json.jobs.
submit_phases() {
  indexes=$2 phase=$3 after='' jobs=''
  while [ "$phase" -le "$4" ]; do
    array=$(job ${after:+--dependency=afterok:"$after"} --kill-on-invalid-dep=yes --array="$indexes${MAX_RUNNING:+%$MAX_RUNNING}" --output="$LOGS/%x-%A_%a.out" "$SCRIPTS/shard.sbatch" "$1")
    merge=$(job --dependency=afterok:"$array" --kill-on-invalid-dep=yes --output="$LOGS/%x-%j.out" "$SCRIPTS/merge.sbatch" "$1")
    echo "phase $phase of $4: shards: job $array (--array=$indexes)${after:+, after job $after}; merge: job $merge, after them"
    jobs="$jobs $array $merge" after=$merge indexes=0-$(($5 - 1)) phase=$((phase + 1))
  done
  echo "${jobs# }" >"$1.jobs"
}

# The run-all phase the plan or a merge says to run next — "phase P of T (…) … (--array=0-<N-1>)" —
# as "P T N"; nothing for any other command's output.
next_phase() {
  printf '%s\n' "$1" | sed -n 's/.*phase \([0-9]*\) of \([0-9]*\) (.*(--array=0-\([0-9]*\)).*/\1 \2 \3/p' | {
    read -r p t last && echo "$p $t $((last + 1))"
  } || true
}

# Asks the merge which shards are missing: it refuses, naming them as an --array= expression (for
# run-all, and which phase of how many), and writes nothing; the missing shards are submitted, and a
# new merge (for run-all, and the phases after it). When none is missing it merges, here, and for
# run-all submits the phases after. $2 is `quiet` right after the plan, when every shard is missing.
from_merge() {
  if said=$("$DISTILL_STREAM" merge "$1" 2>&1); then
    printf '%s\n' "$said"
    echo "every shard was done: merged"
    next=$(next_phase "$said")
    [ -n "$next" ] || return 0
    read -r phase phases count <<EOF
$next
EOF
    submit_phases "$1" "0-$((count - 1))" "$phase" "$phases" "$count"
    return
  fi
  indexes=$(printf '%s\n' "$said" | sed -n 's/^resubmit them: sbatch --array=\([0-9,-]*\).*/\1/p')
  if [ "${2:-}" != quiet ] || [ -z "$indexes" ]; then printf '%s\n' "$said" >&2; fi
  [ -n "$indexes" ] || exit 1 # not a missing shard: the merge's own error, shown above
  phases=$(printf '%s\n' "$said" | sed -n 's/.*run-all phase \([0-9]*\) of \([0-9]*\) (.*: shards .* of \([0-9]*\) are not done.*/\1 \2 \3/p')
  if [ -z "$phases" ]; then
    submit "$1" "$indexes"
    return
  fi
  read -r phase phases count <<EOF
$phases
EOF
  submit_phases "$1" "$indexes" "$phase" "$phases" "$count"
}

# --resubmit: once the jobs submitted before have ended, what the merge says is missing.
resubmit() {
  if [ -f "$1.jobs" ]; then
    read -r array merge rest <"$1.jobs"
    if [ -n "$rest" ]; then
      # A run-all chain: every job of it has ended (a failed one cancels those after it).
      for id in $array $merge $rest; do
        if [ -n "$(squeue --noheader --jobs="$id" --format=%i 2>/dev/null)" ]; then
          echo "job $id of the run-all chain is still queued or running: wait for it, or scancel $array $merge $rest first" >&2
          exit 1
        fi
      done
    else
      if [ -n "$(squeue --noheader --jobs="$array" --format=%i 2>/dev/null)" ]; then
        echo "job $array still has shards queued or running: wait for it, or scancel $array first" >&2
        exit 1
      fi
      # A merge whose shards failed waits forever (DependencyNeverSatisfied): the new one replaces it.
      scancel --state=PENDING "$merge" 2>/dev/null || true
    fi
  fi
  from_merge "$1"
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
# run-all is planned phase by phase: the merge names the first phase and how many there are.
if [ "$1" = run-all ]; then from_merge "$plan" quiet; else submit "$plan" "0-$((shards - 1))"; fi
