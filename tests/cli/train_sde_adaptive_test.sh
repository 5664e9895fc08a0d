#!/usr/bin/env bash
# `revode train --diffusion ... --rtol/--atol`: adaptive SDE steps (docs/sde.md "Adaptive
# steps", docs/training.md "SDEs"). Adaptive reversible Heun trains a few iterations; a run
# killed with SIGKILL and resumed from its checkpoint ends with exactly the parameters of an
# uninterrupted run (the accepted steps are a function of θ and the iteration's Brownian
# sample); SDE solvers without an estimate that sees the noise are a named error before the
# first iteration. Usage: train_sde_adaptive_test.sh PATH/TO/revode
set -u
REVODE=${1:?usage: train_sde_adaptive_test.sh PATH/TO/revode}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

sde=(--dataset ensemble:lotka-volterra:4 --widths 2,8,2 --diffusion const:0.1,0.1 --seed 3
     --brownian-seed 5 --rtol 1e-2 --atol 1e-2 --clip 1)
adaptive=("${sde[@]}" --solver reversible-heun --method reversible)

# A few iterations: the header names the adaptive control, the losses are finite and the
# reversible reconstruction of the adaptive steps is exact to rounding.
expect_ok train "${adaptive[@]}" --iterations 3
grep -q "solver reversible-heun, adaptive rtol 0.01 atol 0.01" "$WORK/out" ||
  fail "adaptive SDE training: the header lacks the adaptive control: $(head -n 3 "$WORK/out")"
expect_ok train "${adaptive[@]}" --iterations 3 --json
"$PYTHON" - "$WORK/out" <<'PY' || fail "adaptive SDE training: $(tail -n 1 "$WORK/out")"
import json, math, sys
j = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
assert math.isfinite(j["final_loss"]), j
assert j["solver"] == "reversible-heun", j["solver"]
assert j["stats"]["reconstruction_error"] < 1e-9, j["stats"]
PY

N=150
K=10
"$REVODE" train "${adaptive[@]}" --iterations "$N" --output "$WORK/straight.json" >"$WORK/straight.out" 2>&1 ||
  fail "the uninterrupted adaptive SDE run failed: $(cat "$WORK/straight.out")"
if kill_train_mid_run "$K" "${adaptive[@]}" --iterations "$N"; then
  ((saved > 0 && saved < N)) || fail "the checkpoint is at iteration '$saved'; expected 1 … $((N - 1))"
  expect_ok train "${adaptive[@]}" --iterations "$N" --resume "$WORK/run.ckpt" --output "$WORK/resumed.json"
  grep -q "resuming from '$WORK/run.ckpt' at iteration $saved" "$WORK/out" ||
    fail "the resumed run did not start at iteration $saved: $(head -n 5 "$WORK/out")"
  "$PYTHON" - "$WORK/straight.json" "$WORK/resumed.json" <<'PY' || fail "resumed adaptive SDE parameters differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["params"] == b["params"], "the resumed run's parameters differ from the uninterrupted run's"
assert a["training"]["final_loss"] == b["training"]["final_loss"]
assert a["settings"]["rtol"] == 1e-2, a["settings"]
PY
else
  fail "the adaptive SDE run ended before it could be killed; raise N"
fi

# Solvers whose estimate does not see the noise (or that have none) are refused by name.
expect_error "SDE solver 'euler (SDE)' has no error estimate;reversible-heun" train "${sde[@]}" --solver euler --method backprop --iterations 2
expect_error "SDE solver 'bosh3 (SDE)' has no error estimate" train "${sde[@]}" --solver bosh3 --method backprop --iterations 2
expect_error "has no error estimate" train "${sde[@]}" --solver reversible:euler --method reversible --iterations 2

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "train adaptive SDE CLI: all passed"
