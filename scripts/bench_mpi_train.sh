#!/usr/bin/env bash
# One training iteration at batch 1024 under `mpirun -np 1` and `-np 2` (docs/mpi.md): the
# Lotka–Volterra ensemble of 1024 trajectories (101 data times on [0, 10]), MLP 2→64→64→2
# tanh, float64, reversible midpoint with 1000 steps, full batch in 2 chunks (so both runs
# compute the same bits). Prints the median seconds per iteration of REPEATS runs of
# ITERATIONS iterations each (the training loop only, as `revode train --json` reports it:
# without MPI start-up and data generation), and the speed-up.
# Ranks are not bound to cores (--bind-to none): on a shared, loaded machine a bound rank
# cannot move off a busy core. Each rank runs under setsid -w, in a session of its own: with the
# kernel's autogroup scheduling (/proc/sys/kernel/sched_autogroup_enabled = 1) the processes
# of one session share one session's CPU share, so on a machine that others load, P ranks of
# one session would get no more CPU than one rank. MPIRUN_FLAGS adds flags (e.g. "--bind-to core"); STEPS
# changes the step count; THREADS the threads per rank (default 1: without it every rank would
# take all the machine's cores, and -np 1 would already use both of them).
# Usage: scripts/bench_mpi_train.sh [PATH/TO/revode] [REPEATS] [ITERATIONS]
set -euo pipefail
revode=${1:-build/revode}
repeats=${2:-3}
iterations=${3:-2}
read -ra extra <<<"${MPIRUN_FLAGS:-}"
args=(train --dataset ensemble:lotka-volterra:1024 --widths 2,64,64,2 --steps "${STEPS:-1000}"
      --iterations "$iterations" --batch-chunks 2 --threads "${THREADS:-1}" --json)
per_iteration() {  # RANKS: one seconds-per-iteration value per repeat
  for _ in $(seq 1 "$repeats"); do
    mpirun --oversubscribe --allow-run-as-root --bind-to none "${extra[@]}" -np "$1" setsid -w "$revode" \
      "${args[@]}" 2>/dev/null | tail -n 1 | /usr/bin/python3 -c '
import json, sys
j = json.load(sys.stdin)
t = j["seconds"] / j["iterations"]
print(t)
print("  np", sys.argv[1], ":", round(t, 3), "s/iteration", file=sys.stderr)' "$1"
  done
}
median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
one=$(per_iteration 1 | median)
two=$(per_iteration 2 | median)
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "np 1: ${one} s/iteration; np 2: ${two} s/iteration; speed-up $(/usr/bin/python3 -c "print(f'{$one/$two:.2f}')")x"
