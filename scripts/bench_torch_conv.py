#!/usr/bin/env python3
"""A convolutional ODE field from PyTorch (issue #12, docs/torch.md): time and peak memory per
gradient for every revode gradient method (generic path: one torch call per evaluation, one
torch graph per VJP) beside torchdiffeq-style autograd through the same fixed-step rk4 in plain
torch (torchdiffeq is not installable here; its fixed-grid rk4 + backward is written below).

Field: conv 3x3 (C -> C) + tanh + conv 3x3 (C -> C), state (batch, C, H, W), float64 or
float32, `steps` rk4 steps on [0, 1], loss = mean square of the final state.
Each case runs in a fresh process so that its peak RSS (ru_maxrss above the process's state
after building the model) is its own.

Each revode case is compared with autograd through the same solver: rk4 for the rk4 cases,
McCallum–Foster over rk4 (torch-reversible) for reversible. Times are medians of --repeat.

Usage: PYTHONPATH=build/python /usr/bin/python3 scripts/bench_torch_conv.py
           [--channels 16] [--size 14] [--batch 64] [--steps 100] [--dtype float32]
           [--repeat 3] [--no-graph-reuse]
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time

CASES = ["torch-backprop", "backprop", "anode", "checkpoint:8", "symplectic", "adjoint", "torch-reversible", "reversible"]
# Each revode case's "same solver" baseline: plain torch autograd through the same discrete steps.
BASELINE = {"reversible": "torch-reversible"}


def make_gradient(case, a):
    """A closure computing one gradient of `case` (the model built once, seeded)."""
    import torch
    from torch import nn

    import revode.torch as rt

    torch.set_num_threads(a.threads)
    dtype = getattr(torch, a.dtype)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(a.channels, a.channels, 3, padding=1), nn.Tanh(), nn.Conv2d(a.channels, a.channels, 3, padding=1)).to(dtype)
    func = lambda t, y: net(y)  # noqa: E731
    y0 = torch.randn(a.batch, a.channels, a.size, a.size, dtype=dtype)
    t = torch.tensor([0.0, 1.0], dtype=dtype)
    params = tuple(net.parameters())

    def rk4_step(t0, t1, y):
        h = t1 - t0
        k1 = func(t0, y)
        k2 = func(t0 + h / 2, y + (h / 2) * k1)
        k3 = func(t0 + h / 2, y + (h / 2) * k2)
        k4 = func(t1, y + h * k3)
        return y + h * (k1 / 6 + k2 / 3 + k3 / 3 + k4 / 6)

    def plain_rk4(y):
        h = 1.0 / a.steps
        for n in range(a.steps):
            y = rk4_step(n * h, (n + 1) * h, y)
        return y

    def plain_reversible_rk4(y, coupling=0.999):
        # McCallum–Foster over rk4 on the pair (y, z), as revode's reversible:rk4 steps.
        h, z = 1.0 / a.steps, y
        for n in range(a.steps):
            t0, t1 = n * h, (n + 1) * h
            y1 = coupling * (y - z) + rk4_step(t0, t1, z)
            z = z + (y1 - rk4_step(t1, t0, y1))
            y = y1
        return y

    def gradient():
        y = y0.clone().requires_grad_(True)
        if case == "torch-backprop":
            yT = plain_rk4(y)
        elif case == "torch-reversible":
            yT = plain_reversible_rk4(y)
        else:
            solver = "reversible:rk4" if case == "reversible" else "rk4"
            options = {"steps": a.steps, "graph_reuse": not a.no_graph_reuse}
            yT = rt.odeint(func, y, t, method=solver, gradient=case, options=options, adjoint_params=params)[-1]
        yT.pow(2).mean().backward()
        net.zero_grad()

    return gradient


def run_case(case, a):
    gradient = make_gradient(case, a)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(a.repeat):
        start = time.perf_counter()
        gradient()
        times.append(time.perf_counter() - start)
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024.0
    return {"case": case, "seconds": statistics.median(times), "peak_mib": peak}


def interleaved(a):
    """Time ratios robust to a loaded machine: every round times each case once, back to back
    in one process, and each case's ratio to its baseline is the median over rounds of the
    ratio within a round (so load that changes between cases cancels)."""
    import torch

    torch.set_num_threads(a.threads)
    grads = {case: make_gradient(case, a) for case in CASES}
    rounds = []
    for _ in range(a.repeat):
        row = {}
        for case, gradient in grads.items():
            start = time.perf_counter()
            gradient()
            row[case] = time.perf_counter() - start
        rounds.append(row)
    for case in CASES:
        base = BASELINE.get(case, "torch-backprop")
        ratio = statistics.median(r[case] / r[base] for r in rounds)
        seconds = statistics.median(r[case] for r in rounds)
        print(f"{case:16s} {seconds:8.2f} s   {ratio:5.2f}x {base} (median of {len(rounds)} within-round ratios)", flush=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--size", type=int, default=14)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=3, help="gradients per case; the time is their median")
    p.add_argument("--no-graph-reuse", action="store_true", help="options graph_reuse=False (every VJP re-runs func)")
    p.add_argument("--interleaved", action="store_true",
                   help="time only: all cases in one process, round-robin, ratios within rounds")
    p.add_argument("--case", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:
        print(json.dumps(run_case(a.case, a)))
        return
    print(f"conv field {a.channels} ch, {a.size}x{a.size}, batch {a.batch}, {a.steps} rk4 steps, {a.dtype}, {a.threads} thread(s)")
    if a.interleaved:
        interleaved(a)
        return
    results = {}
    for case in CASES:
        out = subprocess.run([sys.executable, __file__, *sys.argv[1:], "--case", case], capture_output=True, text=True)
        if out.returncode != 0:
            print(f"{case:16s} failed: {out.stderr.strip().splitlines()[-1]}")
            continue
        r = results[case] = json.loads(out.stdout.strip().splitlines()[-1])
        base = results.get(BASELINE.get(case, "torch-backprop"), r)
        print(f"{case:16s} {r['seconds']:8.2f} s ({r['seconds'] / base['seconds']:5.2f}x {base['case']})   "
              f"peak {r['peak_mib']:8.1f} MiB ({r['peak_mib'] / max(base['peak_mib'], 1e-9):5.2f}x)", flush=True)


if __name__ == "__main__":
    main()
