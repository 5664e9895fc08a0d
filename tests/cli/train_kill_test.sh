#!/usr/bin/env bash
# `revode train` survives SIGKILL: a run killed mid-way and resumed from its checkpoint ends
# with exactly the parameters of an uninterrupted run, and the kill lost at most K iterations
# (the checkpoint interval). Usage: train_kill_test.sh PATH/TO/revode
set -euo pipefail
revode=$1
work=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

K=25
N=1000
common=(--dataset white-dwarf --steps 100 --iterations "$N" --method backprop --seed 3
        --schedule cosine --clip 1)

"$revode" train "${common[@]}" --output "$work/straight.json" --json >"$work/straight.out" 2>&1 ||
  fail "the uninterrupted run failed: $(cat "$work/straight.out")"

# The same run in the background, logging every iteration, killed once it is well under way.
"$revode" train "${common[@]}" --checkpoint "$work/run.ckpt" --checkpoint-every "$K" \
  --log-every 1 >"$work/killed.out" 2>"$work/killed.log" &
pid=$!
last_logged() { sed -n 's|^iteration \([0-9]*\)/.*ETA.*|\1|p' "$work/killed.log" | tail -n 1; }
for _ in $(seq 1 1500); do
  done_iterations=$(last_logged)
  [[ -n $done_iterations && $done_iterations -ge $((4 * K)) ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01
done
kill -9 "$pid" 2>/dev/null || fail "the run ended before it could be killed; raise N"
wait "$pid" 2>/dev/null && fail "the killed run exited normally"
pid=
done_iterations=$(last_logged)
[[ -n $done_iterations && $done_iterations -lt $N ]] ||
  fail "the run logged '$done_iterations' iterations before the kill; expected fewer than $N"

saved=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["iteration"])' \
  "$work/run.ckpt") || fail "the checkpoint left by the kill is unreadable"
lost=$((done_iterations - saved))
# A checkpoint is written before its iteration's progress line, so a kill between the two
# leaves the checkpoint one iteration ahead of the log (lost = -1).
((lost >= -1 && lost <= K)) ||
  fail "the kill after iteration $done_iterations lost $lost iterations (checkpoint at $saved); at most $K allowed"

"$revode" train "${common[@]}" --resume "$work/run.ckpt" --checkpoint-every "$K" \
  --output "$work/resumed.json" >"$work/resumed.out" 2>&1 ||
  fail "the resumed run failed: $(cat "$work/resumed.out")"
grep -q "resuming from '$work/run.ckpt' at iteration $saved" "$work/resumed.out" ||
  fail "the resumed run did not start at iteration $saved: $(head -n 5 "$work/resumed.out")"

/usr/bin/python3 - "$work/straight.json" "$work/resumed.json" <<'PY' || fail "parameters differ"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert a["params"] == b["params"], "the resumed run's parameters differ from the uninterrupted run's"
assert a["training"]["final_loss"] == b["training"]["final_loss"]
assert a["training"]["best_loss"] == b["training"]["best_loss"]
PY
echo "train_kill_test: killed after iteration $done_iterations, resumed from $saved (lost $lost <= $K); parameters identical"
