#!/usr/bin/env bash
# The main job: install what is missing, build, then solve and differentiate the reference
# neural ODE (MLP 2→64→64→2 tanh, float64, 1000 midpoint steps on [0, 10], loss = mean square
# of the states at all 1001 grid times) and print the result and statistics.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
reference=(--field mlp:2,64,64,2 --activation tanh --seed 0 --solver midpoint --steps 1000
           --t0 0 --t1 10)
echo "== revode solve: the final state =="
./build/revode solve "${reference[@]}" --saveat final
echo "== revode grad --method backprop: L = mean square of the states at all 1001 grid times =="
./build/revode grad "${reference[@]}" --saveat steps --method backprop --loss mse-zero
