#!/usr/bin/env bash
# `revode train --field torchscript:PATH` (revode::torch): a TorchScript MLP trains (its loss
# falls), a run killed mid-way and resumed from its checkpoint ends with exactly the
# parameters of an uninterrupted run, the parameter file holds the checkpoint's θ bit for bit
# and feeds `revode solve`/`grad --params`, and MLP-only flags or bad fields exit 2.
# Usage: torchscript_train_test.sh PATH/TO/revode PATH/TO/make_test_modules.py
set -u

REVODE=${1:?usage: torchscript_train_test.sh PATH/TO/revode PATH/TO/make_test_modules.py}
MAKE_MODULES=${2:?usage: torchscript_train_test.sh PATH/TO/revode PATH/TO/make_test_modules.py}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

"$PYTHON" "$MAKE_MODULES" "$WORK/modules" || { echo "FAIL: make_test_modules.py"; exit 1; }
MLP="torchscript:$WORK/modules/mlp.pt"  # 2 -> 16 -> 16 -> 2 tanh, 354 parameters
# A small dataset (21 points of a damped oscillator), so that an iteration takes milliseconds.
"$PYTHON" - "$WORK/spiral.csv" <<'PY' || fail "writing the dataset"
import math, sys
with open(sys.argv[1], "w") as out:
    out.write("t,y1,y2\n")
    for k in range(21):
        t = 0.1 * k
        out.write(f"{t!r},{math.exp(-0.3 * t) * math.cos(2 * t)!r},{math.exp(-0.3 * t) * math.sin(2 * t)!r}\n")
PY
# --threads 1: one TorchField, no clones (the numbers are the same for any count).
COMMON=(--dataset "$WORK/spiral.csv" --field "$MLP" --steps 20 --method reversible --lr 0.01 --seed 1
        --threads 1)

# ---- training lowers the loss; the parameter file holds the checkpoint's θ --------------------
expect_ok train "${COMMON[@]}" --iterations 30 --checkpoint "$WORK/short.ckpt" \
  --output "$WORK/short.json" --json
cp "$WORK/out" "$WORK/short.out"
"$PYTHON" - "$WORK" <<'PY' || fail "training a TorchScript field"
import json, sys
w = sys.argv[1]
summary = json.loads(open(w + "/short.out").read().splitlines()[-1])
assert summary["model"].startswith("torchscript") or "mlp.pt" in summary["model"], summary["model"]
ckpt, params = json.load(open(w + "/short.ckpt")), json.load(open(w + "/short.json"))
losses = ckpt["losses"]
assert len(losses) == 30 and losses[-1] < 0.5 * losses[0], losses
assert ckpt["settings"]["field"].endswith("mlp.pt"), ckpt["settings"]
assert params["model"]["field"].endswith("mlp.pt") and params["model"]["param_count"] == 354
assert params["params"] == ckpt["params"], "the parameter file's θ is not the checkpoint's"
assert len(params["params"]) == 354
PY
# The parameter file reads back into the module: solve, and grad at the trained θ.
expect_ok solve --field "$MLP" --params "$WORK/short.json" --steps 20 --json
expect_ok grad --field "$MLP" --params "$WORK/short.json" --steps 20 --json
# Without --json the run prints the `revode solve` flags that rebuild the fit; they must work.
expect_ok train "${COMMON[@]}" --iterations 2 --output "$WORK/two.json"
flags=$(sed -n 's/^  revode solve //p' "$WORK/out")
[[ $flags == *"--field $MLP --params $WORK/two.json"* ]] || fail "printed solve flags: '$flags'"
# shellcheck disable=SC2086
expect_ok solve $flags

# ---- killed and resumed: the same bits as the uninterrupted run -----------------------------------
K=10
N=300
expect_ok train "${COMMON[@]}" --iterations "$N" --output "$WORK/straight.json" --json
kill_train_mid_run "$K" "${COMMON[@]}" --iterations "$N" ||
  fail "the run ended before it could be killed; raise N"
((saved > 0 && saved < N)) || fail "the kill left a checkpoint at iteration '$saved'"
expect_ok train "${COMMON[@]}" --iterations "$N" --resume "$WORK/run.ckpt" \
  --checkpoint-every "$K" --output "$WORK/resumed.json"
grep -q "resuming from '$WORK/run.ckpt' at iteration $saved" "$WORK/out" ||
  fail "the resumed run did not start at iteration $saved: $(head -n 5 "$WORK/out")"
"$PYTHON" - "$WORK/straight.json" "$WORK/resumed.json" <<'PY' || fail "resumed parameters differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["params"] == b["params"], "the resumed run's parameters differ from the uninterrupted run's"
assert a["training"]["final_loss"] == b["training"]["final_loss"]
PY
# A resume with another module file is refused (the settings name the file).
cp "$WORK/modules/mlp.pt" "$WORK/other.pt"
expect_error "other settings;field" train --dataset "$WORK/spiral.csv" --field "torchscript:$WORK/other.pt" \
  --steps 20 --method reversible --lr 0.01 --seed 1 --threads 1 --iterations "$N" \
  --resume "$WORK/run.ckpt"

# ---- bad input: exit 2 with a message -----------------------------------------------------------
expect_error "--widths applies to MLP models only" train "${COMMON[@]}" --widths 2,8,2
expect_error "--activation applies to MLP models only" train "${COMMON[@]}" --activation relu
expect_error "--field 'mlp.pt';expected torchscript:PATH" train --dataset "$WORK/spiral.csv" --field mlp.pt
expect_error "no such file;missing.pt" train --dataset "$WORK/spiral.csv" --field "torchscript:$WORK/missing.pt"

if ((failures)); then
  echo "$failures torchscript train check(s) failed"
  exit 1
fi
echo "all torchscript train checks passed (killed after iteration >= $((4 * K)), resumed from $saved)"
