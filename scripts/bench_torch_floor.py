#!/usr/bin/env python3
"""What the torch goals of issue #12 can reach on this machine (docs/torch.md, "Limits").

1. Conv field (scripts/bench_torch_conv.py's): the cost of one evaluation of func without a
   graph (F0), with one (F1), and of its backward (B). A gradient method that keeps no torch
   graph across steps runs every stage forward once in the forward solve and once more, with a
   graph, before its VJP, so against autograd through the same solver (F1 + B per stage) it
   needs at least (F0 + F1 + B) / (F1 + B): the floor printed here.
2. The reference gradient at batch 256 (MLP 2-64-64-2 tanh, float64, 1000 midpoint steps):
   its floating-point work, this core's float64 GEMM rate (torch.mm on the field's shapes and
   on a large square), and so the fastest any implementation could run it, against the time
   of plain-torch midpoint + backward measured here: the largest speed-up physically possible.

Usage: PYTHONPATH=build/python /usr/bin/python3 scripts/bench_torch_floor.py [--repeat 7]
"""

import argparse
import statistics
import time

import torch
from torch import nn


def median_time(fn, repeat, inner=1):
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        times.append((time.perf_counter() - start) / inner)
    return statistics.median(times)


def conv_costs(a):
    dtype = getattr(torch, a.dtype)
    torch.manual_seed(0)
    c = a.channels
    net = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.Tanh(), nn.Conv2d(c, c, 3, padding=1)).to(dtype)
    params = list(net.parameters())
    y = torch.randn(a.batch, c, a.size, a.size, dtype=dtype)
    g = torch.randn_like(y)

    def f0():
        with torch.no_grad():
            net(y)

    def f1():
        yt = y.clone().requires_grad_(True)
        return yt, net(yt)

    def fb():
        yt, out = f1()
        torch.autograd.grad(out, [yt, *params], grad_outputs=g)

    # Interleaved: each round times the three back to back, and the figures are medians over
    # rounds of per-round values, so load that changes between rounds cancels in the ratios.
    rows = []
    for fn in (f0, f1, fb):
        fn()
    for _ in range(a.repeat):
        t0, t1, tfb = (median_time(fn, 1, 10) for fn in (f0, f1, fb))
        rows.append((t0, t1, tfb - t1, (t0 + tfb) / tfb))
    t0, t1, b, floor = (statistics.median(r[i] for r in rows) for i in range(4))
    print(f"conv field {c} ch, {a.size}x{a.size}, batch {a.batch}, {a.dtype}, {torch.get_num_threads()} thread(s), "
          f"median of {a.repeat} rounds:")
    print(f"  forward without graph F0 = {t0 * 1e3:.3f} ms, with graph F1 = {t1 * 1e3:.3f} ms, "
          f"backward B = {b * 1e3:.3f} ms (B / F1 = {b / t1:.2f})")
    print(f"  floor of a method that re-runs each stage once with a graph: (F0 + F1 + B) / (F1 + B) = {floor:.2f}x "
          f"autograd through the same solver")
    print(f"  1.2x would need F0 <= 0.2 (F1 + B), i.e. B / F1 >= {(t0 / t1 - 0.2) / 0.2:.1f}")


def gemm_rate(m, k, n, repeat):
    x = torch.randn(m, k, dtype=torch.float64)
    w = torch.randn(k, n, dtype=torch.float64)
    out = torch.empty(m, n, dtype=torch.float64)
    inner = max(1, int(2e8 / (2 * m * k * n)))
    t = median_time(lambda: torch.mm(x, w, out=out), repeat, inner)
    return 2 * m * k * n / t / 1e9


def reference_limit(a):
    batch, steps = 256, 1000
    widths = [2, 64, 64, 2]
    macs = batch * sum(i * o for i, o in zip(widths, widths[1:]))
    evals = 2 * steps  # midpoint
    # Forward: one GEMM per layer; backward: two (input and weight cotangents) per layer,
    # the first layer's input cotangent included (∂L/∂y0 is wanted).
    flop = evals * 2 * macs * 3
    rates = {shape: gemm_rate(*shape, a.repeat) for shape in [(256, 64, 64), (64, 256, 64), (1024, 1024, 1024)]}
    peak = max(rates.values())
    print(f"reference gradient, batch {batch}: {flop / 1e9:.1f} GFLOP of GEMMs (forward + backward, "
          f"{evals} evaluations of {2 * macs / 1e6:.2f} MFLOP, backward 2x forward)")
    for (m, k, n), r in rates.items():
        print(f"  float64 torch.mm {m}x{k} @ {k}x{n}: {r:.1f} GFLOP/s ({torch.get_num_threads()} thread(s))")
    fastest = flop / (peak * 1e9)
    print(f"  at the best measured rate ({peak:.1f} GFLOP/s) the GEMMs alone take >= {fastest * 1e3:.0f} ms")

    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(2, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 2)).double()
    t = torch.linspace(0.0, 10.0, steps + 1, dtype=torch.float64)
    y0 = torch.randn(batch, 2, dtype=torch.float64)

    def plain():
        net.zero_grad()
        y = y0.clone().requires_grad_(True)
        ys, yy = [y], y
        for t0, t1 in zip(t[:-1], t[1:]):
            h = t1 - t0
            yy = yy + h * net(yy + (h / 2) * net(yy))
            ys.append(yy)
        torch.stack(ys).pow(2).mean().backward()

    tp = median_time(plain, max(3, a.repeat // 2))
    print(f"  plain-torch midpoint + backward: {tp * 1e3:.0f} ms ({flop / tp / 1e9:.1f} GFLOP/s)")
    print(f"  the largest possible speed-up over it on this core: {tp / fastest:.1f}x; "
          f"30x would need {tp / 30 * 1e3:.0f} ms, i.e. {flop / (tp / 30) / 1e9:.0f} GFLOP/s")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--channels", type=int, default=16)
    p.add_argument("--size", type=int, default=14)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--repeat", type=int, default=7)
    p.add_argument("--part", choices=["conv", "reference", "both"], default="both")
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    if a.part in ("conv", "both"):
        conv_costs(a)
    if a.part in ("reference", "both"):
        reference_limit(a)


if __name__ == "__main__":
    main()
