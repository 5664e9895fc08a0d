#!/usr/bin/env bash
# `revode train` survives SIGKILL: a run killed mid-way and resumed from its checkpoint ends
# with exactly the parameters of an uninterrupted run, and the kill lost at most K iterations
# (the checkpoint interval). Usage: train_kill_test.sh PATH/TO/revode
set -u
REVODE=${1:?usage: train_kill_test.sh PATH/TO/revode}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

K=25
N=1000
common=(--dataset white-dwarf --steps 100 --iterations "$N" --method backprop --seed 3
        --schedule cosine --clip 1)

"$REVODE" train "${common[@]}" --output "$WORK/straight.json" --json >"$WORK/straight.out" 2>&1 ||
  fail "the uninterrupted run failed: $(cat "$WORK/straight.out")"

# The same run in the background, logging every iteration, killed once it is well under way.
kill_train_mid_run "$K" "${common[@]}" || fail "the run ended before it could be killed; raise N"
[[ -n $killed_after && $killed_after -lt $N ]] ||
  fail "the run logged '$killed_after' iterations before the kill; expected fewer than $N"
[[ -n $saved ]] || fail "the checkpoint left by the kill is unreadable"
lost=$((killed_after - saved))
# A checkpoint is written before its iteration's progress line, so a kill between the two
# leaves the checkpoint one iteration ahead of the log (lost = -1).
((lost >= -1 && lost <= K)) ||
  fail "the kill after iteration $killed_after lost $lost iterations (checkpoint at $saved); at most $K allowed"

"$REVODE" train "${common[@]}" --resume "$WORK/run.ckpt" --checkpoint-every "$K" \
  --output "$WORK/resumed.json" >"$WORK/resumed.out" 2>&1 ||
  fail "the resumed run failed: $(cat "$WORK/resumed.out")"
grep -q "resuming from '$WORK/run.ckpt' at iteration $saved" "$WORK/resumed.out" ||
  fail "the resumed run did not start at iteration $saved: $(head -n 5 "$WORK/resumed.out")"

"$PYTHON" - "$WORK/straight.json" "$WORK/resumed.json" <<'PY' || fail "parameters differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["params"] == b["params"], "the resumed run's parameters differ from the uninterrupted run's"
assert a["training"]["final_loss"] == b["training"]["final_loss"]
assert a["training"]["best_loss"] == b["training"]["best_loss"]
PY
if ((failures > 0)); then
  echo "train_kill_test: $failures failure(s)"
  exit 1
fi
echo "train_kill_test: killed after iteration $killed_after, resumed from $saved (lost $lost <= $K); parameters identical"
