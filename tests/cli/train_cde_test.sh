#!/usr/bin/env bash
# `revode train --field cde:FILE` (docs/training.md "CDEs"): a neural CDE whose observation
# file holds one sample per trajectory of the dataset trains its network (the loss falls; θ is
# the network alone, the observations held fixed); a run resumed from a checkpoint ends with
# exactly the parameters of an uninterrupted one; the parameter file's printed solve flags
# solve the trained CDE; mini-batches, chunks and --plot solve each trajectory over its own
# path (a chunked loss equals the single chunk's); a mismatched file and a bad spec are named
# errors. Usage: train_cde_test.sh PATH/TO/revode
set -u
REVODE=${1:?usage: train_cde_test.sh PATH/TO/revode}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# 3 trajectories of a 2-dimensional state at 6 irregular times, each driven by its own
# one-channel path (with a missing value: filled forward); the targets depend on the path.
"$PYTHON" - "$WORK" <<'PY'
import math, sys
work = sys.argv[1]
ts = [0.0, 0.15, 0.4, 0.5, 0.8, 1.0]
paths = [[0.0, 0.4, 0.3, 0.9, 1.2, 0.8], [0.0, -0.5, -0.2, -0.6, -0.1, 0.2],
         [0.0, 0.2, 0.7, 0.5, 0.1, -0.3]]
with open(f"{work}/obs.csv", "w") as f:
    f.write("# t, sample 0, sample 1, sample 2\n")
    for k, t in enumerate(ts):
        row = ["nan" if (k, b) == (3, 1) else str(paths[b][k]) for b in range(3)]
        f.write(", ".join([str(t)] + row) + "\n")
with open(f"{work}/data.csv", "w") as f:
    f.write("trajectory,t,a,b\n")
    for b in range(3):
        for k, t in enumerate(ts):
            f.write(f"{b},{t},{0.5 * math.sin(2 * paths[b][k]):.6f},{0.3 * t * paths[b][k]:.6f}\n")
PY

field="cde:$WORK/obs.csv,hidden=2,widths=8,interpolation=hermite"
common=(--dataset "$WORK/data.csv" --field "$field" --solver midpoint --steps 10
        --method reversible --lr 0.02 --seed 4)

# Training: the loss falls; θ is the network's (mlp:2,8,6 = 24 + 54 = 78 values, the
# observations' 3 channels × 6 knots × 3 samples are not in it).
expect_ok train "${common[@]}" --iterations 40 --output "$WORK/straight.json" --json
"$PYTHON" - "$WORK/straight.json" <<'PY' || fail "CDE training: θ is not the network's"
import json, sys
a = json.load(open(sys.argv[1]))
assert len(a["params"]) == 78 and a["model"]["param_count"] == 78, len(a["params"])
assert a["model"]["field"].startswith("cde:"), a["model"]
PY
# The loss history (the progress lines) falls by half over the run.
"$REVODE" train "${common[@]}" --iterations 40 --log-every 1 >"$WORK/log.out" 2>"$WORK/log.err" ||
  fail "the logged CDE run failed: $(cat "$WORK/log.err")"
"$PYTHON" - "$WORK/log.err" <<'PY' || fail "CDE training: the loss did not fall by half"
import re, sys
losses = [float(m) for m in re.findall(r"loss ([0-9.e+-]+)  best", open(sys.argv[1]).read())]
assert len(losses) == 40 and losses[-1] < 0.5 * losses[0], (losses[:1], losses[-1:])
PY

# Resume: a run killed with SIGKILL and resumed from its checkpoint ends with exactly the
# parameters of the uninterrupted run (mini-batches drawn from the checkpointed rng).
N=1500
K=20
# Mini-batches of 2 in 2 chunks: each chunk solves the CDE over its own trajectories' paths.
mini=(--batch-size 2 --batch-chunks 2)
expect_ok train "${common[@]}" "${mini[@]}" --iterations "$N" --output "$WORK/long.json"
if kill_train_mid_run "$K" "${common[@]}" "${mini[@]}" --iterations "$N"; then
  ((saved > 0 && saved < N)) || fail "the checkpoint is at iteration '$saved'; expected 1 … $((N - 1))"
  expect_ok train "${common[@]}" "${mini[@]}" --iterations "$N" --resume "$WORK/run.ckpt" --output "$WORK/resumed.json"
  grep -q "resuming from '$WORK/run.ckpt' at iteration $saved" "$WORK/out" ||
    fail "the resumed CDE run did not start at iteration $saved: $(head -n 5 "$WORK/out")"
  "$PYTHON" - "$WORK/long.json" "$WORK/resumed.json" <<'PY' || fail "resumed CDE parameters differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["params"] == b["params"], "the resumed run's parameters differ from the uninterrupted run's"
assert a["training"]["final_loss"] == b["training"]["final_loss"]
PY
else
  fail "the CDE run ended before it could be killed; raise N"
fi

# Chunks pair every trajectory with its own path: the full batch in 3 chunks (one trajectory
# each) has the loss of the single chunk, up to the order of the sum.
for chunks in 1 3; do
  expect_ok train "${common[@]}" --iterations 1 --batch-chunks $chunks --json
  tail -n 1 "$WORK/out" >"$WORK/chunks$chunks.json"
done
"$PYTHON" - "$WORK/chunks1.json" "$WORK/chunks3.json" <<'PY' || fail "CDE chunks: the loss differs from the single chunk's"
import json, sys
a, b = (json.load(open(p))["final_loss"] for p in sys.argv[1:3])
assert abs(a - b) <= 1e-13 * abs(a), (a, b)
PY
# --plot draws trajectory 0 over its own path (predict uses the trajectory's own CDE).
"$REVODE" train "${common[@]}" --iterations 2 --plot "$WORK/fit.png" >"$WORK/out" 2>"$WORK/err" ||
  fail "the plotted CDE run failed: $(cat "$WORK/err")"
if grep -q "cannot be solved" "$WORK/err"; then fail "CDE predict failed: $(cat "$WORK/err")"; fi

# The printed solve flags solve the trained CDE (the params file holds the network's θ; the
# observations come from the file); sample 0 starts at trajectory 0's first state.
expect_ok train "${common[@]}" --iterations 3 --output "$WORK/three.json"
flags=$(sed -n 's/^  revode solve //p' "$WORK/out")
[[ $flags == *"--batch 3"* ]] || fail "the printed solve flags lack --batch 3: $flags"
# shellcheck disable=SC2086
"$REVODE" solve $flags --json >"$WORK/solve.json" 2>"$WORK/solve.err" ||
  fail "the printed solve flags fail: $flags: $(cat "$WORK/solve.err")"

# Named errors.
printf '0 1 2\n1 2 3\n' >"$WORK/two.csv"  # 2 values per row: not 3 samples
expect_error "3 trajectories;must hold 3 samples;do not split" train "${common[@]/$field/cde:$WORK/two.csv,hidden=2}" --iterations 2
expect_error "unknown key 'depth'" train "${common[@]/$field/cde:$WORK/obs.csv,hidden=2,depth=3}" --iterations 2
expect_error "state dimension 3;2 state columns" train "${common[@]/$field/cde:$WORK/obs.csv,hidden=3}" --iterations 2
expect_error "every chunk needs at least one trajectory" train "${common[@]}" --iterations 2 --batch-chunks 4
expect_error "--widths applies to MLP models only;a CDE" train "${common[@]}" --iterations 2 --widths 2,8,2
expect_error "--field 'cde'" train "${common[@]/$field/cde}" --iterations 2

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "train CDE CLI: all passed"
