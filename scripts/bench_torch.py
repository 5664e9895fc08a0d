#!/usr/bin/env python3
"""The reference gradient called from PyTorch (issue #12, docs/torch.md): MLP 2→64→64→2 tanh,
float64, 1000 midpoint steps on [0, 10], loss = mean of y² over all 1001 save times.

Compares revode.torch.odeint (fast path: the module's weights in revode's native MLP; and the
generic path, options={"native": False}, with batch 1 only since it is one Python call per
evaluation) against torchdiffeq's fixed-step `odeint(..., method="midpoint")` + backward.
torchdiffeq is not installable here, so its fixed-grid midpoint loop is written below in
plain torch (what torchdiffeq's FixedGridODESolver does for method="midpoint" with the save
times as the grid: one torch graph over all steps, autograd through it).

Usage: PYTHONPATH=build/python /usr/bin/python3 scripts/bench_torch.py [--repeats 5] [--threads 1]
Prints one line per case with the median wall time per gradient (forward + backward).
"""

import argparse
import statistics
import time

import torch
from torch import nn

import revode.torch as rt


def plain_midpoint_odeint(func, y0, t):
    """torchdiffeq's fixed-grid midpoint on the grid t, as torch ops (autograd through all)."""
    ys = [y0]
    y = y0
    for t0, t1 in zip(t[:-1], t[1:]):
        h = t1 - t0
        k1 = func(t0, y)
        y = y + h * func(t0 + h / 2, y + (h / 2) * k1)
        ys.append(y)
    return torch.stack(ys)


def timed(fn, repeats):
    fn()  # warm-up: first-call allocations, torch's lazy initialisation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (revode runs single-threaded)")
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 256])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2)).double()
    func = rt.SequentialField(net)
    t = torch.linspace(0.0, 10.0, 1001, dtype=torch.float64)
    print(f"reference gradient: MLP 2-64-64-2 tanh, float64, 1000 midpoint steps on [0, 10], loss at 1001 times; "
          f"torch {torch.__version__}, {args.threads} torch thread(s), median of {args.repeats}")
    for batch in args.batches:
        y0 = torch.randn(batch, 2, dtype=torch.float64)
        grads = {}

        def revode_grad(native):
            net.zero_grad()
            y = y0.clone().requires_grad_(True)
            ys = rt.odeint(func, y, t, method="midpoint", options={"steps": 1000, "native": native})
            ys.pow(2).mean().backward()
            grads[native] = [p.grad.clone() for p in net.parameters()]

        def torch_grad():
            net.zero_grad()
            y = y0.clone().requires_grad_(True)
            ys = plain_midpoint_odeint(func, y, t)
            ys.pow(2).mean().backward()
            grads["torch"] = [p.grad.clone() for p in net.parameters()]

        fast = timed(lambda: revode_grad(True), args.repeats)
        plain = timed(torch_grad, args.repeats)
        err = max(((a - b).abs().max() / b.abs().max()).item() for a, b in zip(grads[True], grads["torch"]))
        print(f"batch {batch:4d}: revode.torch fast path {fast * 1e3:9.2f} ms   plain-torch midpoint odeint + backward "
              f"{plain * 1e3:9.2f} ms   speed-up {plain / fast:6.1f}x   (max rel. grad difference {err:.1e})")
        if batch == 1:
            generic = timed(lambda: revode_grad(False), max(1, args.repeats // 2))
            print(f"batch {batch:4d}: revode.torch generic path (one torch call per evaluation) {generic * 1e3:9.2f} ms   "
                  f"{plain / generic:6.2f}x plain torch")


if __name__ == "__main__":
    main()
