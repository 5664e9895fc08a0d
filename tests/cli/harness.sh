# Shared by the CLI test scripts (source it after setting REVODE): a scratch directory $WORK,
# a failure counter, and the checks every script uses.
#   fail MESSAGE                   count a failure
#   expect_ok ARGS...              revode ARGS exits 0
#   expect_error 'p1;p2' ARGS...   revode ARGS exits 2 (a revode::Error, not a crash or signal)
#                                  and stderr holds every ';'-separated phrase (case-insensitive)
PYTHON=/usr/bin/python3
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
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
