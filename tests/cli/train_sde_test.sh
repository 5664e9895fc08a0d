#!/usr/bin/env bash
# `revode train` on SDEs (docs/training.md "SDEs"): --diffusion trains θ = [θ_f; θ_g]; a run
# killed with SIGKILL and resumed from its checkpoint ends with exactly the parameters of an
# uninterrupted run (the Brownian sample of each iteration is a function of the settings and
# the iteration, so the checkpoint needs nothing more); the parameter file's solve flags solve
# the trained SDE; a different --brownian-seed trains differently; bad combinations exit 2
# with a named error. Usage: train_sde_test.sh PATH/TO/revode
set -u
REVODE=${1:?usage: train_sde_test.sh PATH/TO/revode}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

K=10
N=200
# Mini-batches in two chunks (each chunk its own Brownian tree), an MLP diffusion, a method
# that recomputes steps (the recomputed noise must be the forward's).
sde=(--dataset ensemble:van-der-pol:6 --widths 2,8,2 --diffusion mlp:2,8,2 --noise diagonal
     --steps 20 --batch-size 4 --batch-chunks 2 --method checkpoint:3 --solver midpoint --seed 3
     --clip 1)
common=("${sde[@]}" --brownian-seed 7 --iterations "$N")

"$REVODE" train "${common[@]}" --output "$WORK/straight.json" --json >"$WORK/straight.out" 2>&1 ||
  fail "the uninterrupted SDE run failed: $(cat "$WORK/straight.out")"

if kill_train_mid_run "$K" "${common[@]}"; then
  ((saved > 0 && saved < N)) || fail "the checkpoint is at iteration '$saved'; expected 1 … $((N - 1))"
  "$REVODE" train "${common[@]}" --resume "$WORK/run.ckpt" --output "$WORK/resumed.json" \
    >"$WORK/resumed.out" 2>&1 || fail "the resumed SDE run failed: $(cat "$WORK/resumed.out")"
  grep -q "resuming from '$WORK/run.ckpt' at iteration $saved" "$WORK/resumed.out" ||
    fail "the resumed run did not start at iteration $saved: $(head -n 5 "$WORK/resumed.out")"
  "$PYTHON" - "$WORK/straight.json" "$WORK/resumed.json" <<'PY' || fail "resumed SDE parameters differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["params"] == b["params"], "the resumed run's parameters differ from the uninterrupted run's"
assert a["training"]["final_loss"] == b["training"]["final_loss"]
# θ = [θ_f; θ_g]: the MLP 2-8-2 (42) and the diffusion MLP 2-8-2 (42), both trained.
assert len(a["params"]) == 84 and a["model"]["param_count"] == 84, len(a["params"])
assert a["settings"]["diffusion"] == "mlp:2,8,2" and a["settings"]["brownian_seed"] == 7
PY
  # Resuming under another Brownian seed would not continue the same run.
  expect_error "brownian_seed: 7 vs 8" train "${sde[@]}" --iterations "$N" --brownian-seed 8 --resume "$WORK/run.ckpt"
else
  fail "the SDE run ended before it could be killed; raise N"
fi

# The diffusion is trained: θ_g moved from its initialisation (an untrained run's).
"$REVODE" train "${sde[@]}" --brownian-seed 7 --iterations 1 --lr 1e-12 --output "$WORK/init.json" >/dev/null 2>&1 ||
  fail "the one-iteration run failed"
"$PYTHON" - "$WORK/init.json" "$WORK/straight.json" <<'PY' || fail "the diffusion's parameters were not trained"
import json, sys
a, b = (json.load(open(p))["params"] for p in sys.argv[1:3])
assert max(abs(x - y) for x, y in zip(a[42:], b[42:])) > 1e-3
PY

# Another Brownian seed, another run; the parameter file's flags solve the trained SDE.
"$REVODE" train "${sde[@]}" --iterations 5 --brownian-seed 8 --output "$WORK/other.json" \
  >"$WORK/other.out" 2>&1 || fail "the seed-8 run failed: $(cat "$WORK/other.out")"
"$REVODE" train "${sde[@]}" --iterations 5 --brownian-seed 7 --output "$WORK/five.json" >"$WORK/five.out" 2>&1 ||
  fail "the 5-iteration run failed"
"$PYTHON" - "$WORK/five.json" "$WORK/other.json" <<'PY' || fail "--brownian-seed does not change the noise"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["params"] != b["params"]
PY
grep -q "SDE: diagonal noise" "$WORK/five.out" || fail "no SDE line in the header: $(head -n 4 "$WORK/five.out")"
flags=$(sed -n 's|^  revode solve ||p' "$WORK/five.out")
[[ $flags == *"--diffusion mlp:2,8,2 --noise diagonal --brownian-seed 7"* ]] ||
  fail "the solve flags lack the SDE: $flags"
# shellcheck disable=SC2086
"$REVODE" solve $flags --json >"$WORK/solve.json" 2>"$WORK/err" ||
  fail "revode solve with the parameter file's flags failed: $(cat "$WORK/err")"

# Every reversible SDE solver trains; reversible Heun with the reversible method.
expect_ok train --dataset oscillator --widths 4,8,4 --diffusion const:0.05 --noise additive \
  --solver reversible-heun --method reversible --steps 30 --iterations 3
expect_ok train --dataset oscillator --widths 4,8,4 --diffusion linear:0.1 --noise scalar \
  --solver midpoint --method reversible --steps 30 --iterations 3
expect_ok train --dataset oscillator --widths 4,8,4 --diffusion mlp:4,8,8 --noise general \
  --solver heun --method backprop --steps 30 --iterations 3

# Bad combinations: named errors, exit 2.
ode=(train --dataset oscillator --widths 4,8,4 --steps 30 --iterations 2)
expect_error "apply to SDEs only;--diffusion" "${ode[@]}" --noise scalar
expect_error "apply to SDEs only" "${ode[@]}" --brownian-seed 3
expect_error "has no error estimate for adaptive steps;reversible-heun" train --dataset oscillator \
  --widths 4,8,4 --diffusion const:0.1 --rtol 1e-3 --solver euler --method backprop --iterations 2
expect_error "dense output does not apply to SDEs" "${ode[@]}" --diffusion const:0.1 --dense true
expect_error "method 'symplectic'" "${ode[@]}" --diffusion const:0.1 --method symplectic
expect_error "method 'adjoint'" "${ode[@]}" --diffusion const:0.1 --method adjoint
expect_error "mlp:3,8,3" "${ode[@]}" --diffusion mlp:3,8,3
expect_error "'brownian_seed';below the minimum 0" "${ode[@]}" --diffusion const:0.1 --brownian-seed -1
expect_error "'noise';bogus" "${ode[@]}" --diffusion const:0.1 --noise bogus
expect_error "asynchronous-leapfrog" "${ode[@]}" --diffusion const:0.1 --solver asynchronous-leapfrog \
  --method backprop

if ((failures > 0)); then
  echo "train_sde_test: $failures failure(s)"
  exit 1
fi
echo "train_sde_test: SDE training resumes bit for bit; named errors for bad combinations"
