#!/usr/bin/env bash
# How much the published experiments' final loss depends on the initial parameters: trains
# each experiment with its published settings (reversible backprop) for seeds 0..N-1 and
# writes experiment,seed,best_loss,final_loss,seconds to a CSV. Usage:
#   scripts/seed_spread.sh [SEEDS=10] [OUT=docs/seed-spread.csv] [EXPERIMENTS="white-dwarf oscillator pendulum"]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-10}
out=${2:-docs/seed-spread.csv}
experiments=${3:-"white-dwarf oscillator pendulum"}
echo "experiment,seed,best_loss,final_loss,seconds" >"$out"
for experiment in $experiments; do
  for ((seed = 0; seed < seeds; ++seed)); do
    ./build/revode train --dataset "$experiment" --seed "$seed" --json 2>/dev/null | tail -n 1 |
      python3 -c 'import json, sys
d = json.load(sys.stdin)
print("%s,%s,%.6e,%.6e,%.3f" % (sys.argv[1], sys.argv[2], d["best_loss"], d["final_loss"], d["seconds"]))' \
        "$experiment" "$seed" | tee -a "$out"
  done
done
