#!/usr/bin/env bash
# --field cde:FILE on solve and grad: a neural CDE over a file of observations (docs/cde.md).
set -u
REVODE=$1
source "$(dirname "$0")/harness.sh"

# 4 times, 2 channels × batch 2 (sample 0's channels first); nan = missing, filled forward.
cat >"$WORK/obs.csv" <<'CSV'
# t, s0c0, s0c1, s1c0, s1c1
0.0, 0.1, 1.0, 0.5, -1.0
0.5, nan, 0.8, 0.4, -0.7
1.2, 0.3, nan, 0.2, -0.2
2.0, 0.2, 0.1, 0.1, 0.3
CSV

for interpolation in linear hermite natural; do
  field="cde:$WORK/obs.csv,hidden=3,widths=6,interpolation=$interpolation"
  expect_ok solve --field "$field" --batch 2 --solver rk4 --steps 9 --saveat 0.5,1.2,2.0 --json
  grep -q '"t1":2.0' "$WORK/out" || fail "cde solve: t1 is not the last observation time: $(cat "$WORK/out")"
  for method in backprop reversible checkpoint:3; do
    solver=rk4
    [[ $method == reversible ]] && solver=reversible:rk4
    expect_ok grad --field "$field" --batch 2 --solver $solver --steps 9 --method $method --json
  done
done

# Reversible and backprop through the same reversible solver agree (the CDE's θ includes the
# observations, so this covers their gradient too).
field="cde:$WORK/obs.csv,hidden=3,widths=6"
"$REVODE" grad --field "$field" --batch 2 --solver reversible:rk4 --steps 9 --method backprop --json >"$WORK/a.json"
"$REVODE" grad --field "$field" --batch 2 --solver reversible:rk4 --steps 9 --method reversible --json >"$WORK/b.json"
$PYTHON - "$WORK/a.json" "$WORK/b.json" <<'PY' || fail "cde grad: reversible differs from backprop"
import json, sys
import numpy as np
a, b = (json.load(open(p)) for p in sys.argv[1:])
key = next(k for k in ("grad_params", "grad_theta", "gradient") if k in a)
ga, gb = np.array(a[key]), np.array(b[key])
assert np.linalg.norm(ga - gb) <= 1e-10 * np.linalg.norm(ga), (ga, gb)
PY

expect_error "unknown key 'depth'" solve --field "cde:$WORK/obs.csv,depth=3" --batch 2
expect_error "do not split into --batch 3" solve --field "cde:$WORK/obs.csv" --batch 3
expect_error "interpolation 'cubic'" solve --field "cde:$WORK/obs.csv,interpolation=cubic" --batch 2
expect_error "does not exist or is not a regular file" solve --field "cde:$WORK/none.csv"
expect_error "not a regular file" solve --field "cde:/dev/zero"
printf '0 1\n0 2\n' >"$WORK/flat.csv"
expect_error "increase strictly" solve --field "cde:$WORK/flat.csv"
printf '0 1 nan\n1 2 nan\n' >"$WORK/gap.csv"
expect_error "channel 1 of sample 0 is missing" solve --field "cde:$WORK/gap.csv"
expect_error "--time-input does not apply" solve --field "cde:$WORK/obs.csv" --batch 2 --time-input

if ((failures)); then
  echo "$failures failure(s)"
  exit 1
fi
echo "cde CLI: all passed"
