#!/usr/bin/env bash
# The reversible guard from the command line: a drifting walk (damped ALF, η = 0.7, 300 steps,
# whose inverse amplifies round-off fivefold a step) is repaired to backprop's gradient with a
# warning on stderr and the guard's stats in JSON; refused with exit 2 under `error`; returned
# flagged under `warn`; bad policies and tolerances are errors. Usage: reversible_guard_test.sh REVODE
set -u
REVODE=${1:?usage: reversible_guard_test.sh PATH/TO/revode}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

drifting=(grad --field mlp:2,16,16,2 --solver alf --damping 0.7 --steps 300 --json)
"$REVODE" "${drifting[@]}" --method backprop >"$WORK/backprop.json" 2>"$WORK/err" ||
  fail "backprop: $(cat "$WORK/err")"

# repair (the default): backprop's gradient, a warning line, the guard's stats.
"$REVODE" "${drifting[@]}" --method reversible >"$WORK/repair.json" 2>"$WORK/err" ||
  fail "repair exited $?: $(cat "$WORK/err")"
grep -q "warning: reversible guard: .*repaired" "$WORK/err" || fail "repair printed no warning: $(cat "$WORK/err")"
"$PYTHON" - "$WORK/repair.json" "$WORK/backprop.json" <<'PY' || fail "repair JSON: $(head -c 400 "$WORK/repair.json")"
import json, math, sys
r, b = (json.load(open(p)) for p in sys.argv[1:3])
g = r["stats"]["guard"]
assert g["policy"] == "repair" and g["repaired"] and not g["flagged"], g
assert g["anchors"] > 0 and g["drift"] > g["tolerance"] == 1e-10, g
assert g["gradient_error_bound"] <= g["tolerance"], g
assert g["y0_cancellation"] >= 1.0, g
num = math.sqrt(sum((x - y) ** 2 for x, y in zip(r["grad_params"], b["grad_params"])))
den = math.sqrt(sum(y * y for y in b["grad_params"]))
assert num / den <= 1e-10, num / den
PY

# error: exit 2 with the drift, the tolerance and what to change.
"$REVODE" "${drifting[@]}" --method reversible --reversible-guard error >"$WORK/out" 2>"$WORK/err"
rc=$?
[[ $rc -eq 2 ]] || fail "error policy: exit $rc, expected 2"
for phrase in "drift" "tolerance" "steps back" "--coupling" "checkpoint:C"; do
  grep -qF -- "$phrase" "$WORK/err" || fail "error policy: stderr lacks '$phrase': $(cat "$WORK/err")"
done

# warn: exit 0, flagged, a warning that says it is unrepaired.
"$REVODE" "${drifting[@]}" --method reversible --reversible-guard warn >"$WORK/warn.json" 2>"$WORK/err" ||
  fail "warn exited $?"
grep -q "unrepaired" "$WORK/err" || fail "warn printed no warning: $(cat "$WORK/err")"
"$PYTHON" -c 'import json,sys; g=json.load(open(sys.argv[1]))["stats"]["guard"]; sys.exit(0 if g["flagged"] and not g["repaired"] else 1)' \
  "$WORK/warn.json" || fail "warn JSON not flagged"

# A well-conditioned walk: no warning, no anchors.
"$REVODE" grad --field mlp:2,16,16,2 --solver reversible:midpoint --steps 300 --method reversible \
  --json >"$WORK/fine.json" 2>"$WORK/err" || fail "fine walk exited $?"
[[ -s "$WORK/err" ]] && fail "fine walk printed on stderr: $(cat "$WORK/err")"
"$PYTHON" -c 'import json,sys; g=json.load(open(sys.argv[1]))["stats"]["guard"]; sys.exit(0 if g["anchors"] == 0 and not g["repaired"] else 1)' \
  "$WORK/fine.json" || fail "fine walk repaired"

# Bad settings are named errors.
for args in "--reversible-guard ignore" "--guard-tolerance -1" "--guard-tolerance 2" "--guard-tolerance nan"; do
  # shellcheck disable=SC2086
  "$REVODE" "${drifting[@]}" --method reversible $args >"$WORK/out" 2>"$WORK/err"
  rc=$?
  [[ $rc -eq 2 ]] || fail "$args: exit $rc, expected 2"
  grep -qi "guard" "$WORK/err" || fail "$args: stderr does not name the guard: $(cat "$WORK/err")"
done

# deq train takes the policy too.
"$REVODE" deq train --method reversible --iterations 2 --max-steps 40 --tol 0 --beta 0.8 \
  --points 20 --check-every 0 --reversible-guard warn >"$WORK/out" 2>"$WORK/err" || fail "deq train warn exited $?: $(cat "$WORK/err")"
grep -q "flagged" "$WORK/err" || fail "deq train warn printed no warning: $(cat "$WORK/err")"

if ((failures)); then
  echo "$failures reversible-guard CLI checks failed"
  exit 1
fi
echo "reversible-guard CLI checks passed"
