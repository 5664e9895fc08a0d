#!/usr/bin/env bash
# `revode solve` and `revode grad` with --field torchscript:PATH (revode::torch): the TorchScript
# MLP of make_test_modules.py gives the same states, loss and gradient as `--field mlp:2,16,16,2`
# with the same weights (θ mapped between torch's row-major and revode's column-major layout),
# --params replaces the module's θ, float32 runs, and bad modules or flags exit 2 with a message.
# Usage: torchscript_test.sh PATH/TO/revode PATH/TO/make_test_modules.py
set -u

REVODE=${1:?usage: torchscript_test.sh PATH/TO/revode PATH/TO/make_test_modules.py}
MAKE_MODULES=${2:?usage: torchscript_test.sh PATH/TO/revode PATH/TO/make_test_modules.py}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# py 'statements' ARGS...: runs Python with the helpers below; a failed assert is a failure.
py() {
  local code=$1
  shift
  "$PYTHON" -c '
import json, sys
def load(name): return json.load(open(sys.argv[1] + "/" + name))
def close(a, b, tol): return abs(a - b) <= tol * max(abs(b), 1e-300)
def to_native(torch_theta, widths=(2, 16, 16, 2)):
    """revode Mlp θ (per layer W column-major, then b) from torch θ (W row-major, then b)."""
    out, k = [], 0
    for n_in, n_out in zip(widths, widths[1:]):
        w = torch_theta[k:k + n_in * n_out]; k += n_in * n_out
        out += [w[i * n_in + j] for j in range(n_in) for i in range(n_out)]
        out += torch_theta[k:k + n_out]; k += n_out
    return out
'"$code" "$WORK" "$@" || fail "python check: $code"
}

"$PYTHON" "$MAKE_MODULES" "$WORK/modules" || { echo "FAIL: make_test_modules.py"; exit 1; }
MLP="torchscript:$WORK/modules/mlp.pt"
COMMON=(--solver reversible:midpoint --steps 50 --t1 2 --saveat 5 --y0 0.5,-0.3 --batch 2 --json)

# The module's θ (the field starts from it) in torch's layout, the same in revode's Mlp layout,
# and both halved, as --params files.
"$PYTHON" - "$WORK" <<'PY' || fail "writing the module's parameters"
import json, sys, torch
m = torch.jit.load(sys.argv[1] + "/modules/mlp.pt")
theta = [float(x) for p in m.parameters() for x in p.detach().reshape(-1)]
json.dump({"params": theta}, open(sys.argv[1] + "/torch_params.json", "w"))
PY
py '
theta = load("torch_params.json")["params"]
json.dump({"params": to_native(theta)}, open(sys.argv[1] + "/native_params.json", "w"))
json.dump({"params": [0.5 * x for x in theta]}, open(sys.argv[1] + "/torch_half.json", "w"))
json.dump({"params": to_native([0.5 * x for x in theta])}, open(sys.argv[1] + "/native_half.json", "w"))
'

# ---- solve: the same states as the native MLP ------------------------------------------------
expect_ok solve --field "$MLP" "${COMMON[@]}"
cp "$WORK/out" "$WORK/solve_torch.json"
expect_ok solve --field mlp:2,16,16,2 --params "$WORK/native_params.json" "${COMMON[@]}"
cp "$WORK/out" "$WORK/solve_native.json"
py '
t, n = load("solve_torch.json"), load("solve_native.json")
assert t["field"].startswith("torchscript:") and t["param_count"] == n["param_count"] == 354
assert t["ts"] == n["ts"] and len(t["ys"]) == 5
for yt, yn in zip(t["ys"], n["ys"]):
    for st, sn in zip(yt, yn):
        for a, b in zip(st, sn): assert close(a, b, 1e-12), (a, b)
'

# ---- grad: the same loss and gradient, with backprop and reversible ---------------------------
for method in backprop reversible; do
  expect_ok grad --field "$MLP" --method $method "${COMMON[@]}"
  cp "$WORK/out" "$WORK/grad_torch.json"
  expect_ok grad --field mlp:2,16,16,2 --params "$WORK/native_params.json" --method $method "${COMMON[@]}"
  cp "$WORK/out" "$WORK/grad_native.json"
  py '
t, n = load("grad_torch.json"), load("grad_native.json")
assert close(t["loss"], n["loss"], 1e-12), (t["loss"], n["loss"])
g = to_native(t["grad_params"])
err = sum((a - b) ** 2 for a, b in zip(g, n["grad_params"])) ** 0.5 / n["grad_norm"]
assert err <= 1e-10, err
for st, sn in zip(t["grad_y0"], n["grad_y0"]):
    for a, b in zip(st, sn): assert close(a, b, 1e-10), (a, b)
'
done

# ---- --params replaces the module's θ; float32 --------------------------------------------------
expect_ok grad --field "$MLP" --params "$WORK/torch_half.json" "${COMMON[@]}"
cp "$WORK/out" "$WORK/grad_torch.json"
expect_ok grad --field mlp:2,16,16,2 --params "$WORK/native_half.json" "${COMMON[@]}"
cp "$WORK/out" "$WORK/grad_native.json"
py 't, n = load("grad_torch.json"), load("grad_native.json"); assert close(t["loss"], n["loss"], 1e-12)'
expect_ok grad --field "$MLP" --dtype float32 "${COMMON[@]}"
cp "$WORK/out" "$WORK/grad_torch32.json"
py 't, n = load("grad_torch32.json"), load("grad_native.json"); assert t["dtype"] == "float32"'
# A module without a state_dim attribute takes its dimension from --y0.
expect_ok solve --field "torchscript:$WORK/modules/no_state_dim.pt" --y0 1,2,3,4 --steps 10 --json

# ---- bad input: exit 2 with a message -----------------------------------------------------------
expect_error "no such file;missing.pt" solve --field "torchscript:$WORK/missing.pt"
expect_error "not a TorchScript module" solve --field "torchscript:$WORK/modules/not_torchscript.pt"
expect_error "wrong_shape.pt;returned shape [1, 1]; expected [1, 2]" \
  solve --field "torchscript:$WORK/modules/wrong_shape.pt"
expect_error "state dimension is unknown;--y0" solve --field "torchscript:$WORK/modules/no_state_dim.pt"
expect_error "--activation applies to mlp fields only" solve --field "$MLP" --activation relu
echo '{"params": [1, 2, 3, 4]}' >"$WORK/short_params.json"
expect_error "short_params.json;has 4 parameters;expected 354" solve --field "$MLP" --params "$WORK/short_params.json"
expect_error "expected torchscript:PATH" solve --field torchscript:

if ((failures)); then
  echo "$failures torchscript CLI check(s) failed"
  exit 1
fi
echo "all torchscript CLI checks passed"
