#!/usr/bin/env bash
# `mpirun -np 2 revode train` (revode::mpi, docs/mpi.md): the loss curve and the parameters
# equal the single-process run with the same settings (the same chunks) bit for bit, so
# certainly to <= 1e-12 relative; rank 0 alone prints; a run killed under MPI and resumed,
# under MPI or in one process, ends with the uninterrupted run's parameters.
# Usage: mpi_train_test.sh PATH/TO/revode PATH/TO/mpiexec
set -euo pipefail
revode=$1
mpiexec=$2
work=$(mktemp -d)
pid=
cleanup() {
  [[ -n $pid ]] && kill -9 "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
mpi2() { "$mpiexec" --oversubscribe --allow-run-as-root -np 2 "$@"; }

N=300
common=(--dataset ensemble:lotka-volterra:16 --widths 2,16,2 --steps 50 --iterations "$N"
        --batch-size 8 --batch-chunks 2 --seed 3 --schedule cosine)

"$revode" train "${common[@]}" --checkpoint "$work/one.ckpt" >"$work/one.out" 2>&1 ||
  fail "the single-process run failed: $(cat "$work/one.out")"
mpi2 "$revode" train "${common[@]}" --checkpoint "$work/two.ckpt" >"$work/two.out" 2>&1 ||
  fail "the 2-rank run failed: $(cat "$work/two.out")"
[[ $(grep -c '^best loss' "$work/two.out") -eq 1 ]] ||
  fail "expected one summary (rank 0's), got: $(cat "$work/two.out")"
grep -q 'in 2 chunk(s) over 2 MPI ranks' "$work/two.out" ||
  fail "the run did not say it ran on 2 ranks: $(head -n 5 "$work/two.out")"

compare() {  # compare A.ckpt B.ckpt WHAT: equal losses and parameters
  /usr/bin/python3 - "$1" "$2" "$3" <<'PY' || fail "$3"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
assert len(a["losses"]) == len(b["losses"]) == a["iteration"] == b["iteration"]
worst = max(abs(x - y) / abs(x) for x, y in zip(a["losses"], b["losses"]))
assert worst <= 1e-12, f"{sys.argv[3]}: loss curves differ by {worst:.3g} relative"
assert a["losses"] == b["losses"], f"{sys.argv[3]}: loss curves differ in the last bits"
assert a["params"] == b["params"] and a["optimizer"] == b["optimizer"], \
    f"{sys.argv[3]}: parameters or Adam state differ"
PY
}
compare "$work/one.ckpt" "$work/two.ckpt" "mpirun -np 2 against one process"

# Killed under MPI once well under way, then resumed from its checkpoint.
mpi2 "$revode" train "${common[@]}" --checkpoint "$work/run.ckpt" --checkpoint-every 10 \
  --log-every 1 >"$work/killed.out" 2>"$work/killed.log" &
pid=$!
last_logged() { sed -n 's|^iteration \([0-9]*\)/.*ETA.*|\1|p' "$work/killed.log" | tail -n 1; }
for _ in $(seq 1 3000); do
  done_iterations=$(last_logged)
  [[ -n $done_iterations && $done_iterations -ge 40 ]] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01
done
# SIGKILL to the whole tree below the background job (the subshell of mpi2, mpirun, the ranks)
# at once: a signal to mpirun alone is forwarded to the ranks only after a delay in which they
# go on writing checkpoints. Then wait until every one of them is gone, so that the
# checkpoint read below is the last one written.
children() { grep -l "^PPid:[[:space:]]*$1\$" /proc/[0-9]*/status 2>/dev/null |
             sed 's|/proc/\([0-9]*\)/status|\1|' || true; }
descendants() { local c; for c in $(children "$1"); do echo "$c"; descendants "$c"; done; }
tree=$(descendants "$pid")
[[ -n $tree ]] || fail "the run ended before it could be killed; raise N"
kill -9 $tree 2>/dev/null || fail "the run ended before it could be killed; raise N"
wait "$pid" 2>/dev/null && fail "the killed run exited normally"
pid=
for _ in $(seq 1 500); do
  alive=0
  for p in $tree; do  # a zombie (State Z, not yet reaped) writes nothing
    grep -qs "^State:[[:space:]]*[^Z]" "/proc/$p/status" && alive=1
  done
  ((alive == 0)) && break
  sleep 0.01
done
((alive == 0)) || fail "a killed rank is still running"
saved=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["iteration"])' \
  "$work/run.ckpt") || fail "the checkpoint left by the kill is unreadable"
((saved > 0 && saved < N)) || fail "the kill left a checkpoint at iteration $saved"
cp "$work/run.ckpt" "$work/run1.ckpt"

mpi2 "$revode" train "${common[@]}" --resume "$work/run.ckpt" >"$work/resumed.out" 2>&1 ||
  fail "the run resumed under MPI failed: $(cat "$work/resumed.out")"
grep -q "resuming from '$work/run.ckpt' at iteration $saved" "$work/resumed.out" ||
  fail "the resumed run did not start at iteration $saved: $(head -n 6 "$work/resumed.out")"
compare "$work/two.ckpt" "$work/run.ckpt" "resumed under mpirun -np 2"

"$revode" train "${common[@]}" --resume "$work/run1.ckpt" >"$work/resumed1.out" 2>&1 ||
  fail "the 2-rank checkpoint resumed in one process failed: $(cat "$work/resumed1.out")"
compare "$work/two.ckpt" "$work/run1.ckpt" "2-rank checkpoint resumed in one process"

# Too few chunks for the ranks: a clear error and exit status 2 from mpirun, not a hang.
set +e
mpi2 "$revode" train --dataset ensemble:lotka-volterra:4 --iterations 2 --widths 2,8,2 \
  >"$work/bad.out" 2>&1
rc=$?
set -e
[[ $rc -eq 2 ]] || fail "one chunk over 2 ranks: exit $rc, expected 2: $(cat "$work/bad.out")"
grep -q 'every rank needs at least one chunk; give --batch-chunks >= 2' "$work/bad.out" ||
  fail "one chunk over 2 ranks: no clear message: $(cat "$work/bad.out")"
echo "mpi_train_test: all checks passed"
