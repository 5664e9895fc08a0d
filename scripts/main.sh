#!/usr/bin/env bash
# The main job: install what is missing, build, then
#  1. differentiate the reference neural ODE once (MLP 2→64→64→2 tanh, float64, 1000 midpoint
#     steps on [0, 10], loss = mean square of the states at all 1001 grid times);
#  2. reproduce the white-dwarf experiment at full published size (1000 steps, 1000 training
#     iterations, seeds 0-2 as in the paper): reversible backprop against checkpointing with
#     C = 2, 4, 8, 16, 32, 44, printing the table (also written to paper-bench/paper.{md,csv,png}).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
echo "== one gradient through the reference neural ODE (direct backprop) =="
./build/revode grad --field mlp:2,64,64,2 --activation tanh --seed 0 --solver midpoint \
  --steps 1000 --t0 0 --t1 10 --saveat steps --method backprop --loss mse-zero
echo
echo "== white dwarf: reversible vs checkpointed training (ALGORITHMS.md §6) =="
./build/revode bench paper --experiment white-dwarf --seeds 3 --out paper-bench
