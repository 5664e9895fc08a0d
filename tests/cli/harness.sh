# Shared by the CLI test scripts (source it after setting REVODE): a scratch directory $WORK,
# a failure counter, and the checks every script uses.
#   fail MESSAGE                   count a failure
#   expect_ok ARGS...              revode ARGS exits 0
#   expect_error 'p1;p2' ARGS...   revode ARGS exits 2 (a revode::Error, not a crash or signal)
#                                  and stderr holds every ';'-separated phrase (case-insensitive)
#   kill_train_mid_run K ARGS...   the kill half of a kill-and-resume test: starts
#                                  `revode train ARGS --checkpoint $WORK/run.ckpt --checkpoint-every K
#                                  --log-every 1` in the background (stdout $WORK/killed.out, stderr
#                                  $WORK/killed.log), SIGKILLs it once it has logged iteration 4K
#                                  (polling every 10 ms, for at most 30 s), waits for it, and sets
#                                  killed_after (the last iteration logged before the kill) and
#                                  saved (the iteration in $WORK/run.ckpt; empty if unreadable).
#                                  Returns 1 (no kill; the caller fails, "raise N") when the run
#                                  ended (exit 0) first. ARGS must give --iterations N well above 4K. The
#                                  resume and the comparison are the caller's. The EXIT trap kills
#                                  the run if the script stops half-way.
PYTHON=/usr/bin/python3
WORK=$(mktemp -d)
train_pid=
trap '[[ -n $train_pid ]] && kill -9 "$train_pid" 2>/dev/null; rm -rf "$WORK"' EXIT
failures=0

fail() {
  echo "FAIL: $*"
  failures=$((failures + 1))
}

expect_ok() {
  if ! "$REVODE" "$@" >"$WORK/out" 2>"$WORK/err"; then
    fail "revode $* exited $?: $(cat "$WORK/err")"
  fi
}

expect_error() {
  local phrases=$1
  shift
  "$REVODE" "$@" >"$WORK/out" 2>"$WORK/err"
  local rc=$?
  if [[ $rc -ne 2 ]]; then
    fail "revode $*: exit $rc, expected 2; stderr: $(cat "$WORK/err")"
    return
  fi
  local phrase
  IFS=';' read -ra list <<<"$phrases"
  for phrase in "${list[@]}"; do
    grep -qiF -- "$phrase" "$WORK/err" || fail "revode $*: stderr lacks '$phrase': $(cat "$WORK/err")"
  done
}

last_logged_iteration() { sed -n 's|^iteration \([0-9]*\)/.*ETA.*|\1|p' "$WORK/killed.log" | tail -n 1; }

kill_train_mid_run() {
  local k=$1
  shift
  killed_after=
  saved=
  "$REVODE" train "$@" --checkpoint "$WORK/run.ckpt" --checkpoint-every "$k" --log-every 1 \
    >"$WORK/killed.out" 2>"$WORK/killed.log" &
  train_pid=$!
  local _
  for _ in $(seq 1 3000); do
    killed_after=$(last_logged_iteration)
    [[ -n $killed_after && $killed_after -ge $((4 * k)) ]] && break
    kill -0 "$train_pid" 2>/dev/null || break
    sleep 0.01
  done
  if ! kill -9 "$train_pid" 2>/dev/null; then
    wait "$train_pid" 2>/dev/null
    train_pid=
    return 1
  fi
  # A run that had already exited (a zombie still takes the signal) exits 0, not 137.
  local rc=0
  wait "$train_pid" 2>/dev/null || rc=$?
  train_pid=
  ((rc != 0)) || return 1
  killed_after=$(last_logged_iteration)
  saved=$("$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["iteration"])' \
    "$WORK/run.ckpt" 2>/dev/null) || saved=
  return 0
}
