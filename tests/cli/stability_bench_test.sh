#!/usr/bin/env bash
# `revode stability` against the closed forms; `revode bench complexity` and `revode bench paper`
# producing their tables.
set -euo pipefail
revode=$1
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
py=/usr/bin/python3
fail() { echo "FAIL: $*"; exit 1; }

interval() {  # prints "lo hi" of the real stability interval
  "$revode" stability "$@" --plot "" --json | $py -c 'import json,sys; j=json.load(sys.stdin); print(*j["real_interval"])'
}
check_interval() {  # expected lo, expected hi, solver args...
  local lo=$1 hi=$2; shift 2
  read -r got_lo got_hi < <(interval "$@")
  $py -c "import sys; sys.exit(0 if abs($got_lo-($lo))<1e-6 and abs($got_hi-($hi))<1e-6 else 1)" ||
    fail "$*: interval [$got_lo, $got_hi], expected [$lo, $hi]"
}
check_interval -0.1 0 --solver reversible:euler --coupling 0.9
check_interval 0 0 --solver reversible-heun
check_interval 0 0 --solver alf
check_interval -0.6666666667 0 --solver alf --damping 0.75
check_interval -2 0 --solver euler

"$revode" stability --solver reversible:euler --coupling 0 2>err.txt && fail "coupling 0 accepted"
grep -q "coupling" err.txt || fail "coupling error message: $(cat err.txt)"

"$revode" bench complexity --methods backprop,reversible --steps 10,20 --repeats 1 --plot "" >out.txt
[ "$(wc -l < complexity.csv)" -eq 5 ] || fail "complexity.csv rows: $(cat complexity.csv)"
grep -q "^reversible,20," complexity.csv || fail "no reversible row"
"$revode" bench complexity --methods nope --steps 10 2>err.txt && fail "unknown method accepted"
grep -q "unknown gradient method 'nope'" err.txt || fail "bench error message: $(cat err.txt)"

# `revode bench paper` at toy size: every configuration, losses as mean ± std over the seeds.
"$revode" bench paper --experiment white-dwarf --iterations 3 --seeds 2 --out paper >out.txt
[ "$(grep -c '^| white-dwarf |' paper/paper.md)" -eq 7 ] || fail "paper.md rows: $(cat paper/paper.md)"
grep -q '^| white-dwarf | reversible | reversible:midpoint | 2 | 3 | 2 | .* ± .* | 1.7 min | 0.9e-4 |$' \
  paper/paper.md || fail "reversible row: $(cat paper/paper.md)"
$py - <<'PY' || fail "paper.csv: $(cat paper/paper.csv)"
import csv
rows = list(csv.DictReader(open("paper/paper.csv")))
assert [r["method"] for r in rows] == ["reversible"] + [f"checkpoint:{c}" for c in (2, 4, 8, 16, 32, 44)]
for r in rows:
    assert r["seeds"] == "2" and float(r["final_loss_std"]) >= 0 and float(r["final_loss"]) > 0, r
# Exact gradients: checkpointing through midpoint gives the same losses whatever C.
assert len({r["final_loss"] for r in rows[1:]}) == 1, rows
PY
if $py -c 'import matplotlib' 2>/dev/null; then
  [ -s paper/paper.png ] || fail "no paper.png although matplotlib is installed"
fi
"$revode" bench paper --experiment white-dwarf --seeds 0 2>err.txt && fail "--seeds 0 accepted"
grep -q -- "--seeds 0; required: >= 1" err.txt || fail "seeds error message: $(cat err.txt)"
"$revode" bench paper --experiment moon 2>err.txt && fail "unknown experiment accepted"
grep -q "expected white-dwarf, oscillator, pendulum or all" err.txt || fail "experiment error: $(cat err.txt)"
echo "1 passed, 0 failed"
