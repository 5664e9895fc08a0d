#!/usr/bin/env python3
"""A continuous normalizing flow on two moons through revode.torch (docs/cnf.md).

McCallum & Foster's CNF experiment (arXiv 2410.11648, FFJORD-style): n = 1000 points of
sklearn's make_moons (noise 0.05, standardised) as one batch; the field is four concat-squash
layers of width 128 with tanh between them; the state is [x, Δlogp] with the exact trace of
the 2 × 2 Jacobian (two autograd passes inside the field, create_graph when a gradient is
being taken); T = 1, h = 0.01 (100 steps); AdamW, lr 1e-3.

Gradient methods compared at equal settings: revode's backprop, checkpoint:C, symplectic and
reversible (McCallum–Foster over the same base solver) over midpoint, rk4 and dopri5 (fixed
step), and, as the outside baseline, plain torch autograd through the same fixed-step solver
written below in a few lines of torch (what torchdiffeq's odeint does; torchdiffeq itself is
not packaged in Debian and is not installed here).

    /usr/bin/python3 examples/cnf_two_moons.py --quick          # smoke test (< 60 s)
    /usr/bin/python3 examples/cnf_two_moons.py --table          # docs/cnf/cnf_table.{csv,md}
    /usr/bin/python3 examples/cnf_two_moons.py --memory-steps   # docs/cnf/memory_vs_steps.*
    /usr/bin/python3 examples/cnf_two_moons.py --figure         # docs/cnf/samples_density.png

Every memory figure is the peak resident set size (VmHWM, reset after set-up through
/proc/self/clear_refs) of a fresh subprocess per configuration, minus its RSS after set-up:
the memory one training iteration (forward + gradient) adds.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import pathlib
import statistics
import subprocess
import sys
import time

SKIP = 77  # ctest's SKIP_RETURN_CODE: torch, sklearn or the compiled module is missing
try:
    import torch
    from torch import nn
    from sklearn.datasets import make_moons
except ImportError as e:  # the smoke test skips (not fails) where the optional packages are absent
    print(f"cnf_two_moons: skipped ({e}; needs python3-torch and python3-sklearn)")
    sys.exit(SKIP)
import revode.torch as rt  # noqa: E402  (the compiled module: a missing one is a failure)

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from peak_rss import reset_peak, status_mib  # noqa: E402  (examples/peak_rss.py)

HERE = pathlib.Path(__file__).resolve()
DOCS = HERE.parent.parent / "docs" / "cnf"


# ---- data and model ----


def two_moons(n, seed, dtype):
    x, _ = make_moons(n_samples=n, noise=0.05, random_state=seed)
    x = (x - x.mean(0)) / x.std(0)
    return torch.as_tensor(x, dtype=dtype)


class ConcatSquash(nn.Module):
    """FFJORD's ConcatSquashLinear: W x · σ(a t + c) + b t."""

    def __init__(self, dim_in, dim_out):
        super().__init__()
        self.linear = nn.Linear(dim_in, dim_out)
        self.gate = nn.Linear(1, dim_out)
        self.bias = nn.Linear(1, dim_out, bias=False)

    def forward(self, t, x):
        tt = t.reshape(1, 1)
        return self.linear(x) * torch.sigmoid(self.gate(tt)) + self.bias(tt)


class CNF(nn.Module):
    """d/dt [x, Δlogp] = [g(t, x), −tr ∂g/∂x], g four concat-squash layers with tanh between.

    The trace takes two autograd passes (d = 2) inside the field. create_graph is on exactly
    when an outer gradient is being taken (revode.torch's VJPs and the plain-torch baseline
    run func under enable_grad; its f evaluations run under no_grad), so the VJP of this field
    differentiates the trace too (second derivatives of g)."""

    def __init__(self, width=128, layers=4, dim=2):
        super().__init__()
        sizes = [dim] + [width] * (layers - 1) + [dim]
        self.layers = nn.ModuleList(ConcatSquash(a, b) for a, b in zip(sizes, sizes[1:]))
        self.dim = dim

    def g(self, t, x):
        for i, layer in enumerate(self.layers):
            x = layer(t, x)
            if i + 1 < len(self.layers):
                x = torch.tanh(x)
        return x

    def forward(self, t, z):
        outer = torch.is_grad_enabled()
        with torch.enable_grad():
            x = z[:, : self.dim]
            if not x.requires_grad:
                x = x.detach().requires_grad_(True)
            dx = self.g(t, x)
            trace = 0.0
            for i in range(self.dim):
                (col,) = torch.autograd.grad(dx[:, i].sum(), x, create_graph=outer, retain_graph=True)
                trace = trace + col[:, i]
        if not outer:
            dx, trace = dx.detach(), trace.detach()
        return torch.cat([dx, -trace[:, None]], dim=1)


def nll(z1):
    """−mean log p(x): log p(x) = log N(z(T); 0, I) − Δlogp(T) (Δlogp' = −tr, Δlogp(0) = 0)."""
    x, dlogp = z1[:, :2], z1[:, 2]
    logpz = -0.5 * (x**2).sum(1) - math.log(2 * math.pi)
    return -(logpz - dlogp).mean()


# ---- the outside baseline: the same fixed-step solvers in plain torch, autograd through them ----

TABLEAUS = {
    "midpoint": ([[], [0.5]], [0.0, 1.0], [0.0, 0.5]),
    "rk4": ([[], [0.5], [0.0, 0.5], [0.0, 0.0, 1.0]], [1 / 6, 1 / 3, 1 / 3, 1 / 6], [0.0, 0.5, 0.5, 1.0]),
    "dopri5": (
        [
            [],
            [1 / 5],
            [3 / 40, 9 / 40],
            [44 / 45, -56 / 15, 32 / 9],
            [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
            [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
            [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
        ],
        [35 / 384, 0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84, 0],
        [0, 1 / 5, 3 / 10, 4 / 5, 8 / 9, 1, 1],
    ),
}


def rk_step(f, solver, t, h, y):
    a, b, c = TABLEAUS[solver]
    ks = []
    for i in range(len(b)):
        yi = y
        for aij, k in zip(a[i], ks):
            if aij:
                yi = yi + (h * aij) * k
        ks.append(f(torch.tensor(t + c[i] * h, dtype=y.dtype), yi))
    return y + h * sum(bi * k for bi, k in zip(b, ks) if bi)


def torch_solve(f, solver, y0, steps, T=1.0, coupling=None):
    """y(T) by `steps` fixed steps in plain torch; with `coupling` λ, McCallum–Foster's
    reversible scheme over the solver (Y_{n+1} = λY_n + (1−λ)Z_n + Ψ_h(Z_n),
    Z_{n+1} = Z_n − Ψ_{−h}(Y_{n+1}), Ψ_h(x) = Φ_h(x) − x; arXiv 2410.11648), output Y."""
    h = T / steps
    if coupling is None:
        y = y0
        for n in range(steps):
            y = rk_step(f, solver, n * h, h, y)
        return y
    y = z = y0
    for n in range(steps):
        t = n * h
        y = coupling * y + (1 - coupling) * z + (rk_step(f, solver, t, h, z) - z)
        z = z - (rk_step(f, solver, t + h, -h, y) - y)
    return y


# ---- one gradient ----


def loss_of(model, z0, solver, gradient, steps):
    """The loss of one forward solve whose backward is the named gradient method."""
    if gradient == "torch":
        return nll(torch_solve(model, solver, z0, steps))
    if gradient == "torch-reversible":
        return nll(torch_solve(model, solver, z0, steps, coupling=0.999))
    t = torch.tensor([0.0, 1.0], dtype=torch.float64)
    method = f"reversible:{solver}" if gradient == "reversible" else solver
    ys = rt.odeint(model, z0, t, method=method, gradient=gradient, options={"steps": steps})
    return nll(ys[-1])


def setup(n, width, dtype, seed=0):
    torch.manual_seed(seed)
    model = CNF(width=width).to(dtype)
    x = two_moons(n, seed, dtype)
    z0 = torch.cat([x, torch.zeros(n, 1, dtype=dtype)], dim=1)
    return model, z0


def flat_grad(model, z0, solver, gradient, steps):
    model.zero_grad()
    loss = loss_of(model, z0, solver, gradient, steps)
    loss.backward()
    return loss.item(), torch.cat([p.grad.reshape(-1) for p in model.parameters()])


# ---- memory: a fresh subprocess per configuration ----


def worker(cfg):
    """Runs cfg["iters"] AdamW iterations; returns loss, time and peak-memory figures."""
    torch.set_num_threads(int(cfg.get("threads", 1)))
    dtype = torch.float64 if cfg.get("dtype", "float32") == "float64" else torch.float32
    model, z0 = setup(cfg["n"], cfg["width"], dtype, cfg.get("seed", 0))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    # Warm torch's allocator and kernels with one small solve, so the baseline RSS is torch's.
    with torch.no_grad():
        model(torch.tensor(0.0, dtype=dtype), z0)
    base = status_mib("VmRSS")
    exact_peak = reset_peak()
    losses, times = [], []
    for _ in range(cfg["iters"]):
        start = time.perf_counter()
        opt.zero_grad()
        loss = loss_of(model, z0, cfg["solver"], cfg["gradient"], cfg["steps"])
        loss.backward()
        opt.step()
        times.append(time.perf_counter() - start)
        losses.append(loss.item())
        if len(losses) == 1:
            first_peak = status_mib("VmHWM")
    peak = status_mib("VmHWM")
    return {
        **cfg,
        "base_rss_mb": round(base, 1),
        "peak_rss_mb": round(peak, 1),
        "peak_minus_base_mb": round(peak - base, 1),
        # The first iteration's alone: later iterations can raise the RSS peak through the
        # allocator (glibc keeps freed heap memory that the next graph does not fully reuse).
        "first_peak_minus_base_mb": round(first_peak - base, 1),
        "peak_exact": exact_peak,
        "median_s_per_iter": statistics.median(times),
        "final_loss": losses[-1],
        "best_loss": min(losses),
        "first_loss": losses[0],
    }


def run_worker(cfg, timeout):
    cmd = [sys.executable, str(HERE), "--worker", json.dumps(cfg)]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if out.returncode != 0:
        raise RuntimeError(f"worker {cfg} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ---- modes ----

SOLVERS = ["midpoint", "rk4", "dopri5"]
GRADIENTS = ["torch", "backprop", "checkpoint:10", "symplectic", "reversible"]


def quick():
    """Gradients of every method agree (float64, iteration 0) with plain torch autograd through
    the same discrete solver; reversible's memory is below plain torch's. Tiny sizes."""
    torch.set_num_threads(1)
    model, z0 = setup(n=24, width=16, dtype=torch.float64)
    steps = 6
    worst = 0.0
    for solver in SOLVERS:
        _, ref = flat_grad(model, z0, solver, "torch", steps)
        for gradient in ["backprop", "checkpoint:2", "symplectic"]:
            _, g = flat_grad(model, z0, solver, gradient, steps)
            err = ((g - ref).norm() / ref.norm()).item()
            worst = max(worst, err)
            assert err <= 1e-10, f"{solver} {gradient}: relative gradient error {err:.2e} against torch autograd"
        _, ref_rev = flat_grad(model, z0, solver, "torch-reversible", steps)
        _, g_rev = flat_grad(model, z0, solver, "reversible", steps)
        err = ((g_rev - ref_rev).norm() / ref_rev.norm()).item()
        worst = max(worst, err)
        assert err <= 1e-10, f"reversible:{solver}: relative gradient error {err:.2e} against torch autograd"
    print(f"cnf_two_moons --quick: 15 gradients agree with torch autograd, worst relative error {worst:.1e}")
    # Central finite differences along a random direction: the loss's gradient includes the
    # trace's (second-derivative) terms, which a field without create_graph would drop in both
    # revode and the plain-torch reference alike.
    _, g = flat_grad(model, z0, "rk4", "reversible", steps)
    v = torch.randn(g.shape, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    params = list(model.parameters())
    theta = torch.cat([p.detach().reshape(-1) for p in params])

    def loss_at(th):
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(th, params)
        with torch.no_grad():
            return loss_of(model, z0, "rk4", "reversible", steps).item()

    eps = 1e-5
    fd = (loss_at(theta + eps * v) - loss_at(theta - eps * v)) / (2 * eps)
    loss_at(theta)
    exact = float(g @ v)
    err = abs(fd - exact) / abs(exact)
    print(f"  finite differences (reversible:rk4): directional derivative {exact:.10f}, FD {fd:.10f}, relative error {err:.1e}")
    assert err <= 1e-6, f"reversible:rk4 gradient against central finite differences: relative error {err:.2e}"
    # Memory: reversible stays below autograd through the solve (which keeps every step's graph).
    cfg = {"n": 200, "width": 32, "steps": 50, "iters": 1, "solver": "midpoint", "dtype": "float32"}
    rev = run_worker({**cfg, "gradient": "reversible"}, timeout=120)
    bp = run_worker({**cfg, "gradient": "torch"}, timeout=120)
    print(f"  peak memory of one gradient (midpoint, 50 steps): torch autograd {bp['peak_minus_base_mb']:.1f} MB, "
          f"reversible {rev['peak_minus_base_mb']:.1f} MB")
    assert rev["peak_minus_base_mb"] < bp["peak_minus_base_mb"], (rev, bp)


def write_csv(rows, path, keys):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys, extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)


def table(args):
    rows = []
    for solver in args.solvers:
        for gradient in args.gradients:
            cfg = {"n": args.n, "width": args.width, "steps": args.steps, "iters": args.iters, "solver": solver,
                   "gradient": gradient, "dtype": args.dtype}
            r = run_worker(cfg, timeout=args.timeout)
            print(json.dumps(r), flush=True)
            rows.append(r)
            write_csv(rows, DOCS / f"{args.name}.csv", list(r.keys()))
    names = {"torch": "torch autograd (baseline)", "reversible": "reversible (McCallum–Foster)"}
    lines = [
        f"| solver | gradient | peak memory (MB over set-up) | median s / iteration | loss after {args.iters} it. | best loss |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['solver']} | {names.get(r['gradient'], r['gradient'])} | {r['peak_minus_base_mb']:.0f} | "
            f"{r['median_s_per_iter']:.2f} | {r['final_loss']:.4f} | {r['best_loss']:.4f} |"
        )
    (DOCS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def memory_steps(args):
    rows = []
    for steps in args.step_counts:
        for gradient in ["torch", "backprop", "symplectic", "reversible"]:
            cfg = {"n": args.n, "width": args.width, "steps": steps, "iters": 1, "solver": args.solvers[0],
                   "gradient": gradient, "dtype": args.dtype}
            r = run_worker(cfg, timeout=args.timeout)
            print(json.dumps(r), flush=True)
            rows.append(r)
            write_csv(rows, DOCS / "memory_vs_steps.csv", list(r.keys()))
    plot_memory_steps(rows, args)


def plot_memory_steps(rows, args):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    labels = {"torch": "torch autograd (backprop through the graph)", "backprop": "revode backprop",
              "symplectic": "revode symplectic", "reversible": f"revode reversible:{args.solvers[0]}"}
    for gradient, label in labels.items():
        pts = [(int(r["steps"]), float(r["peak_minus_base_mb"])) for r in rows if r["gradient"] == gradient]
        ax.plot(*zip(*pts), marker="o", label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("number of steps N (T = 1)")
    ax.set_ylabel("peak RSS of one gradient over set-up (MB)")
    ax.set_title(f"CNF two moons, {args.solvers[0]}, n = {args.n}, width {args.width}, {args.dtype}")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(DOCS / "memory_vs_steps.png", dpi=120)


def paired_timing(args):
    """Time per gradient with the methods interleaved round by round in one process, so that
    the machine's load (shared, noisy) hits every method alike; the median over the rounds."""
    torch.set_num_threads(1)
    model, z0 = setup(args.n, args.width, torch.float32)
    rows = []
    for solver in args.solvers:
        times = {g: [] for g in args.gradients}
        for _ in range(args.rounds):
            for gradient in args.gradients:
                start = time.perf_counter()
                flat_grad(model, z0, solver, gradient, args.steps)
                times[gradient].append(time.perf_counter() - start)
        base = statistics.median(times["torch"]) if "torch" in times else None
        for gradient, ts in times.items():
            med = statistics.median(ts)
            rows.append({"solver": solver, "gradient": gradient, "n": args.n, "width": args.width, "steps": args.steps,
                         "rounds": args.rounds, "median_s": round(med, 3),
                         "vs_torch": round(med / base, 2) if base else "", "all_s": " ".join(f"{t:.2f}" for t in ts)})
            print(json.dumps(rows[-1]), flush=True)
        write_csv(rows, DOCS / "paired_timing.csv", list(rows[0].keys()))
    lines = ["| solver | gradient | median s / gradient | × torch autograd |", "|---|---|---:|---:|"]
    lines += [f"| {r['solver']} | {r['gradient']} | {r['median_s']:.2f} | {r['vs_torch']} |" for r in rows]
    (DOCS / "paired_timing.md").write_text("\n".join(lines) + "\n")


def figure(args):
    """Trains with reversible:<solver> and plots data, samples and the learned density
    (rewritten every --figure-every iterations, so a cut-short run still leaves a figure)."""
    torch.set_num_threads(1)
    dtype = torch.float32
    solver = args.solvers[0]
    model, z0 = setup(args.n, args.width, dtype)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr)
    for it in range(1, args.iters + 1):
        opt.zero_grad()
        loss = loss_of(model, z0, solver, "reversible", args.steps)
        loss.backward()
        opt.step()
        print(f"iteration {it}: loss {loss.item():.4f}", flush=True)
        if it % args.figure_every == 0 or it == args.iters:
            plot_density(model, z0, solver, args, it, loss.item())


def plot_density(model, z0, solver, args, iters, loss):
    dtype = z0.dtype
    t_back = torch.tensor([1.0, 0.0], dtype=torch.float64)
    t_fwd = torch.tensor([0.0, 1.0], dtype=torch.float64)
    opts = {"steps": args.steps}
    with torch.no_grad():
        g = torch.Generator().manual_seed(1)
        zs = torch.cat([torch.randn(2000, 2, generator=g, dtype=dtype), torch.zeros(2000, 1, dtype=dtype)], 1)
        samples = rt.odeint(model, zs, t_back, method=solver, options=opts)[-1][:, :2]
        lin = torch.linspace(-2.5, 2.5, 60, dtype=dtype)
        gx, gy = torch.meshgrid(lin, lin, indexing="xy")
        grid = torch.stack([gx.reshape(-1), gy.reshape(-1), torch.zeros(gx.numel(), dtype=dtype)], 1)
        z1 = rt.odeint(model, grid, t_fwd, method=solver, options=opts)[-1]
        logp = -0.5 * (z1[:, :2] ** 2).sum(1) - math.log(2 * math.pi) - z1[:, 2]
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 4))
    x = z0[:, :2].numpy()
    axes[0].scatter(x[:, 0], x[:, 1], s=2)
    axes[0].set_title(f"data (n = {args.n}, standardised)")
    s = samples.numpy()
    axes[1].scatter(s[:, 0], s[:, 1], s=2, color="C1")
    axes[1].set_title("samples: z ~ N(0, I) integrated from t = 1 to 0")
    axes[2].imshow(logp.exp().reshape(60, 60).numpy(), origin="lower", extent=(-2.5, 2.5, -2.5, 2.5), cmap="viridis")
    axes[2].set_title(f"density; reversible:{solver}, {iters} it., loss {loss:.3f}", fontsize=9)
    for ax in axes:
        ax.set_xlim(-2.5, 2.5)
        ax.set_ylim(-2.5, 2.5)
        ax.set_aspect("equal")
    fig.tight_layout()
    DOCS.mkdir(parents=True, exist_ok=True)
    fig.savefig(DOCS / "samples_density.png", dpi=100)
    plt.close(fig)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="smoke test: gradients agree, reversible memory below backprop")
    p.add_argument("--table", action="store_true", help="memory / time / loss per solver and gradient method")
    p.add_argument("--memory-steps", action="store_true", help="peak memory against the number of steps")
    p.add_argument("--figure", action="store_true", help="train reversible:<first solver>, plot samples and density")
    p.add_argument("--width", type=int, default=128)
    p.add_argument("--figure-every", type=int, default=25, help="--figure: redraw every this many iterations")
    p.add_argument("--lr", type=float, default=1e-3, help="AdamW's learning rate (--figure)")
    p.add_argument("--name", default="cnf_table", help="file name of the --table outputs under docs/cnf")
    p.add_argument("--paired-timing", action="store_true", help="time per gradient, methods interleaved")
    p.add_argument("--rounds", type=int, default=3, help="rounds of --paired-timing")
    p.add_argument("--replot", action="store_true", help="--memory-steps: redraw the plot from its CSV")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--iters", type=int, default=200)
    p.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    p.add_argument("--solvers", nargs="+", default=SOLVERS)
    p.add_argument("--gradients", nargs="+", default=GRADIENTS)
    p.add_argument("--step-counts", nargs="+", type=int, default=[25, 50, 100, 200, 400])
    p.add_argument("--timeout", type=float, default=3600)
    args = p.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
    elif args.quick:
        quick()
    elif args.table:
        table(args)
    elif args.memory_steps and args.replot:
        with open(DOCS / "memory_vs_steps.csv") as fh:
            plot_memory_steps(list(csv.DictReader(fh)), args)
    elif args.memory_steps:
        memory_steps(args)
    elif args.figure:
        figure(args)
    elif args.paired_timing:
        paired_timing(args)
    else:
        p.print_help()


if __name__ == "__main__":
    main()
