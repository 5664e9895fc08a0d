#!/usr/bin/env python3
"""bench_ab.py FILTER ROUNDS BIN_A BIN_B: compare two Google Benchmark binaries on a noisy
machine. Alternates them for ROUNDS rounds, each run 40 repetitions of ~5 ms, and prints per
benchmark the minimum, 5th and 25th percentile CPU time over all repetitions, and B/A.
FILTER is Google Benchmark's regex, which rejects an escaped bracket: write '.' for '[' or ']'.
Example: scripts/bench_ab.py 'reversible:midpoint/reversible/1000$' 8 old/revode_bench build/bench/revode_bench"""
import json, os, subprocess, sys, tempfile
filt, rounds, a, b = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
res = [{}, {}]
out = os.path.join(tempfile.mkdtemp(), "bench_ab.json")
def run(binary, k):
    subprocess.run([binary, f"--benchmark_filter={filt}", "--benchmark_min_time=0.005",
                    "--benchmark_repetitions=40", f"--benchmark_out={out}",
                    "--benchmark_out_format=json"], capture_output=True, text=True, check=True)
    for bm in json.load(open(out))["benchmarks"]:
        if bm.get("run_type") == "aggregate": continue
        res[k].setdefault(bm["name"], []).append(bm["cpu_time"])
for i in range(rounds):
    for binary, k in (((a, 0), (b, 1)) if i % 2 == 0 else ((b, 1), (a, 0))): run(binary, k)
def q(v, f): v = sorted(v); return v[int(f * (len(v) - 1))]
for name in res[0]:
    va, vb = res[0][name], res[1].get(name, [])
    if not vb: continue
    sa = [min(va), q(va, .05), q(va, .25)]; sb = [min(vb), q(vb, .05), q(vb, .25)]
    print(f"{name}: A {sa[0]:.4g} {sa[1]:.4g} {sa[2]:.4g} | B {sb[0]:.4g} {sb[1]:.4g} {sb[2]:.4g}"
          f" | B/A {sb[0]/sa[0]:.3f} {sb[1]/sa[1]:.3f} {sb[2]/sa[2]:.3f}")
