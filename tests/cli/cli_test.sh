#!/usr/bin/env bash
# End-to-end checks of the `revode` command-line tool: --version and --help, the JSON schema of
# `solve` and `grad`, float32, and one case per kind of bad input (a clear message and a
# non-zero exit, never a crash). Usage: cli_test.sh PATH/TO/revode
set -u

REVODE=${1:?usage: cli_test.sh PATH/TO/revode}
# shellcheck source=tests/cli/harness.sh
source "$(dirname "${BASH_SOURCE[0]}")/harness.sh"

# check_json FILE 'python expression over d' : the file is one JSON object and the expression holds.
check_json() {
  "$PYTHON" -c '
import json, math, sys
d = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)' "$1" "$2" 2>/dev/null || fail "JSON check '$2' on $(head -c 300 "$1")"
}

STATS_KEYS='all(k in d["stats"] for k in ("nfe", "nvjp", "steps", "rejected", "stored_floats"))'

# ---- --version and --help ------------------------------------------------------------------------
expect_ok --version
grep -q "revode" "$WORK/out" || fail "--version printed: $(cat "$WORK/out")"
expect_ok --help
expect_ok solve --help
grep -q -- "--saveat" "$WORK/out" || fail "solve --help lacks --saveat"
expect_ok grad --help
grep -q -- "mse-data" "$WORK/out" || fail "grad --help lacks mse-data"

# ---- JSON output ---------------------------------------------------------------------------------
expect_ok grad --field mlp:2,16,16,2 --solver midpoint --steps 50 --t1 2 --saveat steps --json
cp "$WORK/out" "$WORK/grad.json"
check_json "$WORK/grad.json" 'all(k in d for k in ("loss", "grad_norm", "grad_params", "grad_y0", "seconds", "stats"))'
check_json "$WORK/grad.json" "$STATS_KEYS"
check_json "$WORK/grad.json" 'len(d["grad_params"]) == d["param_count"] == 2*16+16 + 16*16+16 + 16*2+2'
check_json "$WORK/grad.json" 'abs(d["grad_norm"] - math.sqrt(sum(g*g for g in d["grad_params"]))) <= 1e-9 * d["grad_norm"]'
check_json "$WORK/grad.json" 'd["stats"]["steps"] == 50 and len(d["ts"]) == 51 and d["stats"]["stored_floats"] > 0'
check_json "$WORK/grad.json" 'math.isfinite(d["loss"]) and len(d["grad_y0"]) == 1 and len(d["grad_y0"][0]) == 2'

expect_ok solve --field lotka-volterra --rtol 1e-6 --saveat 5 --batch 3 --json
cp "$WORK/out" "$WORK/solve.json"
check_json "$WORK/solve.json" 'all(k in d for k in ("ts", "ys", "seconds", "stats")) and '"$STATS_KEYS"
check_json "$WORK/solve.json" 'len(d["ts"]) == 5 and d["ts"][-1] == 10 and len(d["ys"]) == 5 and len(d["ys"][0]) == 3'
check_json "$WORK/solve.json" 'd["ys"][0][0] == [1.0, 1.0] and d["stats"]["rejected"] >= 0'

# float32, dense output and a time-dependent MLP.
expect_ok grad --field mlp:2,8,2 --time-input --dtype float32 --rtol 1e-4 --saveat 4 --dense --json
check_json "$WORK/out" 'd["dtype"] == "float32" and math.isfinite(d["loss"]) and len(d["ts"]) == 4'
expect_ok solve --field van-der-pol --dtype float32 --solver tsit5 --steps 20 --json
check_json "$WORK/out" 'd["dtype"] == "float32" and all(math.isfinite(v) for v in d["ys"][0][0])'

# Human-readable output.
expect_ok grad --field kepler --solver rk4 --steps 40
grep -q "grad norm" "$WORK/out" || fail "grad without --json: $(cat "$WORK/out")"

# mse-data: broadcast rows and per-sample rows, with comments and mixed separators.
printf '# t, x, y\n0 1 1\n0.5, 0.9, 1.1\n\n1\t1 2\n' >"$WORK/data.txt"
expect_ok grad --field lotka-volterra --t1 1 --saveat 3 --batch 2 --loss "mse-data:$WORK/data.txt" --json
check_json "$WORK/out" 'd["loss"] > 0 and len(d["grad_y0"]) == 2'
printf '0 1 1 2 2\n1 1 1 2 2\n' >"$WORK/batch_data.txt"
expect_ok grad --field lotka-volterra --t1 1 --saveat 2 --batch 2 --loss "mse-data:$WORK/batch_data.txt"

# --params overrides θ.
echo '{"params": [1.5, 1, 1, 3]}' >"$WORK/params.json"
expect_ok solve --field lotka-volterra --params "$WORK/params.json"

# Checkpointing with few slots against many steps says how much it recomputed, and what cuts it;
# with enough slots it says nothing.
expect_ok grad --field mlp:2,8,2 --solver midpoint --steps 2000 --method checkpoint:2
grep -q "warning: checkpoint:2 re-ran [0-9]* forward steps for a solve of 2000 .*more slots" \
  "$WORK/err" || fail "checkpoint:2 over 2000 steps: no recomputation warning: $(cat "$WORK/err")"
expect_ok grad --field mlp:2,8,2 --solver midpoint --steps 2000 --method checkpoint:32
[[ ! -s "$WORK/err" ]] || fail "checkpoint:32 over 2000 steps warned: $(cat "$WORK/err")"

# ---- bad input: a clear message and exit status 2 ------------------------------------------------
# Flags CLI11 rejects exit 2 as well, not with CLI11's own codes (109, 114, ...).
expect_error "not expected: --bogus" solve --bogus
expect_error "--steps: 1 required INT missing" solve --steps
expect_error "A subcommand is required"
expect_error "unknown solver 'dopri7';known: euler;dopri5;tsit5" solve --solver dopri7
expect_error "unknown analytic field 'foo';lotka-volterra" solve --field foo
expect_error "MLP spec;'x';positive integer" solve --field mlp:2,x,2
expect_error "first width 2;last width 3" solve --field mlp:2,64,3
expect_error "width 1 is 99999999999, above the limit" solve --field mlp:2,99999999999,2
expect_error "--field 'mlp2';mlp:WIDTHS" solve --field mlp2
expect_error "--y0 has 3 entries;expected 2" solve --field mlp:2,8,2 --y0 1,2,3
expect_error "--y0 entry 1 is nan;finite" solve --y0 1,nan
expect_error "--y0 entry 0;finite in float32" solve --y0 1e200,1 --dtype float32
expect_error "--y0 entry 1 is 'abc';expected a number" solve --y0 1,abc
echo '{"params": [1.5, null, 1, 3]}' >"$WORK/nan_params.json"
expect_error "params[1] is null;finite" solve --field lotka-volterra --params "$WORK/nan_params.json"
echo '{"params": [1.5, 1e400, 1, 3]}' >"$WORK/inf_params.json"
expect_error "inf_params.json;finite" solve --field lotka-volterra --params "$WORK/inf_params.json"
echo '{"params": [1.5, 1e39, 1, 3]}' >"$WORK/big_params.json"
expect_error "params[1];not finite in float32" solve --field lotka-volterra --dtype float32 --params "$WORK/big_params.json"
echo '{"params": [1.5, 1, 1]}' >"$WORK/short_params.json"
expect_error "has 3 parameters;expected 4" solve --field lotka-volterra --params "$WORK/short_params.json"
expect_error "cannot be opened" solve --params "$WORK/missing.json"
expect_error "rtol = 0;rtol > 0" solve --field van-der-pol --rtol 0
expect_error "atol = -1;atol > 0" solve --field van-der-pol --atol -1
expect_error "--steps 10;--rtol/--atol" solve --steps 10 --rtol 1e-3
expect_error "--steps 0;>= 1" solve --steps 0
expect_error "no embedded error estimate" solve --solver rk4 --rtol 1e-3
expect_error "max_steps;t = " solve --field van-der-pol --rtol 1e-12 --max-steps 5
expect_error "dtmin;t = 0" solve --field van-der-pol --rtol 1e-3 --dtmin 1
expect_error "NaN or Inf;t = 0" solve --field lotka-volterra --y0 1e200,1e200 --steps 10
expect_error "--saveat '0';K >= 1" solve --saveat 0
expect_error "strictly increasing;0.2" solve --saveat 0,0.5,0.2
expect_error "outside [t0, t1]" solve --saveat 0,0.5,2
expect_error "--t0 1 --t1 1;different" solve --t0 1 --t1 1
expect_error "--batch 0" solve --batch 0
expect_error "--dtype 'float16';float32 or float64" solve --dtype float16
expect_error "--activation;mlp fields only" solve --field kepler --activation relu
expect_error "unknown activation" solve --activation sine
expect_error "--loss 'mse';mse-zero or mse-data:FILE" grad --loss mse
expect_error "unknown gradient method 'foo';backprop" grad --method foo
# Adaptive steps' recorded step times grow with the solve: the memory limit holds for them too.
REVODE_MEMORY_LIMIT=2K expect_error "recording the step times of an adaptive solve;steps so far;above the limit of 2.0 KiB;REVODE_MEMORY_LIMIT;loosen rtol/atol;fixed steps" \
  grad --solver reversible-heun --method reversible --rtol 1e-9 --max-steps 100000000
REVODE_MEMORY_LIMIT=1M expect_ok grad --solver reversible-heun --method reversible --rtol 1e-9

# mse-data file errors name the file and the line.
printf '# header\n0 1 1\n0.5 0.9 abc\n1 1 2\n' >"$WORK/bad_number.txt"
expect_error "bad_number.txt' line 3;'abc';expected a number" grad --field lotka-volterra --t1 1 --saveat 3 --loss "mse-data:$WORK/bad_number.txt"
printf '0 1 1\n0.5 0.9\n1 1 2\n' >"$WORK/bad_columns.txt"
expect_error "bad_columns.txt' line 2;2 columns;expected 1 + 2" grad --field lotka-volterra --t1 1 --saveat 3 --loss "mse-data:$WORK/bad_columns.txt"
printf '0 1 1\n0.5 0.9 nan\n1 1 2\n' >"$WORK/bad_nan.txt"
expect_error "bad_nan.txt' line 2;finite" grad --field lotka-volterra --t1 1 --saveat 3 --loss "mse-data:$WORK/bad_nan.txt"
expect_error "has 3 rows;saves at 4 times" grad --field lotka-volterra --t1 1 --saveat 4 --loss "mse-data:$WORK/data.txt"
expect_error "line 3: time 0.5;save time #1" grad --field lotka-volterra --t1 2 --saveat 3 --loss "mse-data:$WORK/data.txt"
expect_error "data file;data.txt" grad --field lotka-volterra --t1 1 --saveat steps --rtol 1e-4 --loss "mse-data:$WORK/data.txt"
expect_error "cannot be opened" grad --loss "mse-data:$WORK/missing.txt"

# --threads: bit-identical JSON for every thread count (batch 150: three chunks); per-sample
# steps report the spread; a bad count is a named error.
expect_ok grad --batch 150 --rtol 1e-6 --threads 1 --json
cp "$WORK/out" "$WORK/threads1.json"
expect_ok grad --batch 150 --rtol 1e-6 --threads 3 --json
sed 's/"seconds":[^,}]*//' "$WORK/out" >"$WORK/threads3.json"
sed -i 's/"seconds":[^,}]*//' "$WORK/threads1.json"
cmp -s "$WORK/threads1.json" "$WORK/threads3.json" || fail "grad --threads 1 and 3 differ"
expect_ok grad --batch 5 --rtol 1e-6 --per-sample-steps --json
grep -q '"chunks":{"count":5' "$WORK/out" || fail "grad --per-sample-steps: no chunk spread: $(cat "$WORK/out")"
expect_error "threads is -1" grad --threads -1

# CLI11's own parse errors: non-zero, but not a crash.
"$REVODE" solve --no-such-flag >/dev/null 2>&1
rc=$?
[[ $rc -ne 0 && $rc -lt 128 ]] || fail "unknown flag: exit $rc"
"$REVODE" >/dev/null 2>&1
rc=$?
[[ $rc -ne 0 && $rc -lt 128 ]] || fail "no subcommand: exit $rc"

if [[ $failures -ne 0 ]]; then
  echo "$failures CLI check(s) failed"
  exit 1
fi
echo "all CLI checks passed"
