#!/usr/bin/env bash
# SDEs on the command line (docs/sde.md): solve and grad with --diffusion/--noise/--brownian-seed
# for every noise type; the reversible method's gradient equals backprop's for the same
# Brownian sample; the seed changes the path and fixes it; bad SDE flags exit 2 with a named
# error. Usage: sde_test.sh REVODE
set -u
REVODE=${1:?usage: sde_test.sh PATH/TO/revode}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

base=(--field mlp:2,8,2 --steps 20 --saveat 3 --batch 2 --json)
for case in "diagonal mlp:2,8,2" "scalar linear:0.3,0.2" "additive const:0.1,0.2,0.3,0.4" \
            "general mlp:2,8,6"; do
  read -r noise spec <<<"$case"
  for solver in euler heun midpoint reversible-heun reversible:heun; do
    expect_ok solve "${base[@]}" --diffusion "$spec" --noise "$noise" --solver "$solver"
    methods=(backprop checkpoint:3)
    [[ $solver == reversible* ]] && methods+=(reversible)
    for method in "${methods[@]}"; do
      "$REVODE" grad "${base[@]}" --diffusion "$spec" --noise "$noise" --solver "$solver" \
        --brownian-seed 5 --method "$method" >"$WORK/$method.json" 2>"$WORK/err" ||
        fail "grad $noise $solver $method: $(cat "$WORK/err")"
    done
    "$PYTHON" - "$WORK"/backprop.json "$WORK/${methods[-1]}.json" <<'PY' ||
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["loss"] == b["loss"], (a["loss"], b["loss"])
num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a["grad_params"], b["grad_params"])))
den = math.sqrt(sum(y * y for y in a["grad_params"]))
assert den > 0 and num / den <= 1e-10, num / den
PY
      fail "grad $noise $solver: ${methods[-1]} differs from backprop"
  done
done

# Adaptive SDE steps (--rtol): every exact method replays the forward's accepted steps, so its
# gradient equals backprop's; save times off any grid are landed on.
adaptive=(--field mlp:2,8,2 --diffusion mlp:2,8,2 --rtol 1e-3 --atol 1e-3 --saveat 0,0.37,1 --batch 2
          --brownian-seed 4 --json)
"$REVODE" solve "${adaptive[@]}" --solver heun >"$WORK/adaptive.json" 2>"$WORK/err" ||
  fail "adaptive solve: $(cat "$WORK/err")"
"$PYTHON" - "$WORK/adaptive.json" <<'PY' || fail "adaptive SDE solve: wrong save times or stats"
import json, sys
d = json.load(open(sys.argv[1]))
assert d["ts"] == [0, 0.37, 1], d["ts"]
assert d["stats"]["steps"] > 3, d["stats"]
PY
expect_error "'dopri5 (SDE)' has no embedded error estimate that adaptive steps can use" \
  solve --field mlp:2,8,2 --diffusion const:1 --solver dopri5 --rtol 1e-4
for solver in heun reversible-heun reversible:midpoint; do
  methods=(backprop checkpoint:3)
  [[ $solver == reversible* ]] && methods+=(reversible)
  for method in "${methods[@]}"; do
    "$REVODE" grad "${adaptive[@]}" --solver "$solver" --method "$method" >"$WORK/$method.json" \
      2>"$WORK/err" || fail "adaptive grad $solver $method: $(cat "$WORK/err")"
  done
  "$PYTHON" - "$WORK"/backprop.json "$WORK/${methods[-1]}.json" <<'PY' ||
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["loss"] == b["loss"], (a["loss"], b["loss"])
assert a["stats"]["steps"] > 3 and a["stats"]["rejected"] >= 0, a["stats"]
num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a["grad_params"], b["grad_params"])))
den = math.sqrt(sum(y * y for y in a["grad_params"]))
assert den > 0 and num / den <= 1e-10, num / den
PY
    fail "adaptive grad $solver: ${methods[-1]} differs from backprop"
done

# The seed picks the path: equal seeds give equal states, different seeds different ones.
sde=(solve --field mlp:2,8,2 --diffusion const:0.5 --solver heun --steps 10 --json)
"$REVODE" "${sde[@]}" --brownian-seed 1 >"$WORK/a" && "$REVODE" "${sde[@]}" --brownian-seed 1 >"$WORK/b" &&
  "$REVODE" "${sde[@]}" --brownian-seed 2 >"$WORK/c" || fail "seeded solves failed"
"$PYTHON" - "$WORK/a" "$WORK/b" "$WORK/c" <<'PY' || fail "--brownian-seed does not fix the path"
import json, sys
a, b, c = (json.load(open(p))["ys"] for p in sys.argv[1:4])
assert a == b and a != c
PY

expect_error 'Brownian seed -1 is outside its range' "${sde[@]}" --brownian-seed -1
expect_error "noise type 'pink'" "${sde[@]}" --noise pink
expect_error '--noise applies to SDEs only' solve --field mlp:2,8,2 --noise scalar
expect_error '--brownian-seed applies to SDEs only' solve --field mlp:2,8,2 --brownian-seed 3
expect_error 'general noise;needs d·m' solve --field mlp:2,8,2 --diffusion mlp:2,8,3 --noise general
expect_error 'depends on y;additive' solve --field mlp:2,8,2 --diffusion linear:1 --noise additive
expect_error "solver 'alf' has no SDE form" solve --field mlp:2,8,2 --diffusion const:1 --solver alf
expect_error "'euler (SDE)' has no embedded error estimate" solve --field mlp:2,8,2 --diffusion const:1 --solver euler --rtol 1e-4
expect_error '--dense does not apply to SDEs' "${sde[@]}" --dense
expect_error 'SDE steps go forward in time' "${sde[@]}" --t0 1 --t1 0
expect_error "continuous adjoint of an ODE; it does not apply to the SDE;use backprop, anode" \
  grad --field mlp:2,8,2 --diffusion const:0.5 --solver heun --steps 10 --method adjoint
expect_error 'is not finite' solve --field mlp:2,8,2 --diffusion linear:1e300 --y0 1e300,1 --steps 2

# ShARK (additive noise, over a tree with space-time Lévy area): solve, and checkpointing's
# gradient equals backprop's; other noise types are refused by name.
shark=(--field mlp:2,8,2 --diffusion const:0.3,0.2,-0.1,0.4 --noise additive --solver shark
       --steps 16 --saveat 3 --batch 2 --brownian-seed 4 --json)
expect_ok solve "${shark[@]}"
"$REVODE" grad "${shark[@]}" --method backprop >"$WORK/shark_b.json" &&
  "$REVODE" grad "${shark[@]}" --method checkpoint:3 >"$WORK/shark_c.json" ||
  fail "shark grad failed"
"$PYTHON" - "$WORK/shark_b.json" "$WORK/shark_c.json" <<'PY' || fail "shark: checkpoint:3 differs from backprop"
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["loss"] == b["loss"], (a["loss"], b["loss"])
num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a["grad_params"], b["grad_params"])))
den = math.sqrt(sum(y * y for y in a["grad_params"]))
assert den > 0 and num / den <= 1e-10, num / den
PY
# Adaptive ShARK (--rtol, its embedded estimate): checkpointing replays backprop's accepted
# steps, landing on the save time 0.37.
shark_adaptive=(--field mlp:2,8,2 --diffusion const:0.9,0.6,-0.3,1.2 --noise additive
                --solver shark --rtol 1e-4 --atol 1e-4 --saveat 0,0.37,1 --batch 2
                --brownian-seed 4 --json)
"$REVODE" grad "${shark_adaptive[@]}" --method backprop >"$WORK/shark_ab.json" 2>"$WORK/err" &&
  "$REVODE" grad "${shark_adaptive[@]}" --method checkpoint:3 >"$WORK/shark_ac.json" 2>>"$WORK/err" ||
  fail "adaptive shark grad failed: $(cat "$WORK/err")"
"$PYTHON" - "$WORK/shark_ab.json" "$WORK/shark_ac.json" <<'PY' || fail "adaptive shark: checkpoint:3 differs from backprop"
import json, math, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
same = all(a["stats"][k] == b["stats"][k] for k in ("steps", "rejected"))
assert a["stats"]["steps"] > 3 and a["stats"]["rejected"] > 0 and same, (a["stats"], b["stats"])
assert a["loss"] == b["loss"], (a["loss"], b["loss"])
num = math.sqrt(sum((x - y) ** 2 for x, y in zip(a["grad_params"], b["grad_params"])))
den = math.sqrt(sum(y * y for y in a["grad_params"]))
assert den > 0 and num / den <= 1e-10, num / den
PY
expect_error "solver 'shark' (ShARK) is for additive noise only" solve --field mlp:2,8,2 \
  --diffusion mlp:2,8,2 --noise diagonal --solver shark

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "sde CLI: all passed"
