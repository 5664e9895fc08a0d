#!/usr/bin/env python3
"""A convolutional deep equilibrium classifier on Fashion-MNIST: the reversible DEQ against
the implicit-gradient DEQ, through revode.torch.deq.

The RevDEQ paper's image classification (McCallum, Arora & Foster 2025), reduced to this
machine: a stem (conv 3×3 stride 2 + ReLU, 28×28 → 14×14) gives x; the DEQ block solves
z* = f(z*, x) with f(z, x) = tanh(conv(tanh(conv(z))) + x); average pooling to 2×2 and a linear
head read z* out. Two models from the same initial weights and batches:

    RevDEQ      solver "reversible", β = 0.5, a few iterations (--rev-steps), gradient
                "reversible" (exact for the iteration, memory independent of its length)
    DEQ         solver "plain" at the usual iteration count (--deq-steps, tol --deq-tol),
                gradient "implicit" (the implicit-function adjoint, --deq-steps iterations)

Reported per model: test accuracy, function evaluations per batch forward and backward (and
VJPs), time per epoch, peak memory (a fresh process per model: the RSS high-water mark during
training, reset after loading data and model, total and above the RSS at that point), and for RevDEQ the reconstruction drift the
guard reports (the relative drift of the rebuilt start state; repaired when above tolerance).
A float64 check first confirms that the reversible gradient equals backprop through the same
iteration to ~1e-10.

Usage (from the repository root, after building the Python module):
    PYTHONPATH=build/python /usr/bin/python3 examples/conv_revdeq_fashion_mnist.py --quick
    PYTHONPATH=build/python nice -n 10 /usr/bin/python3 examples/conv_revdeq_fashion_mnist.py [--out-dir docs]
Full mode writes conv-revdeq.csv, conv-revdeq-table.md and conv-revdeq.png (docs/conv-revdeq.md).
"""

import argparse
import csv
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from conv_ode_fashion_mnist import in_subprocess as run_script, load  # noqa: E402  (subsets, fresh processes)
from peak_rss import peak_since, start_peak_window  # noqa: E402

MODELS = ["RevDEQ", "DEQ (implicit)"]


def build(a, label, dtype):
    import torch
    from torch import nn

    import revode.torch as rt

    class F(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, z, x):
            return torch.tanh(self.conv2(torch.tanh(self.conv1(z))) + x)

    class DEQBlock(nn.Module):
        def __init__(self, c, gradient="default"):
            super().__init__()
            self.f = F(c)
            self.gradient = gradient
            self.stats = []  # (forward stats, backward stats) per batch, filled by the trainer

        def forward(self, x):
            if label == "RevDEQ":
                grad = "reversible" if self.gradient == "default" else self.gradient
                return rt.deq(self.f, x, solver="reversible", beta=0.5, tol=a.rev_tol, max_steps=a.rev_steps, gradient=grad)
            grad = "implicit" if self.gradient == "default" else self.gradient
            return rt.deq(self.f, x, solver="plain", tol=a.deq_tol, max_steps=a.deq_steps, gradient=grad,
                          adjoint_tol=a.deq_tol, adjoint_max_steps=a.deq_steps)

    torch.manual_seed(a.seed)  # the same initial weights for both models
    c = a.channels
    model = nn.Sequential(
        nn.Conv2d(1, c, 3, stride=2, padding=1), nn.ReLU(),  # stem: 28×28 → 14×14
        DEQBlock(c),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4 * c, 10),
    )
    return model.to(dtype)


def gradient_check(a):
    """Float64: RevDEQ's reversible gradient against backprop through the same iteration."""
    import torch
    from torch import nn

    x, y = load("train", a.check_batch, a.seed)
    x, y = torch.from_numpy(x).double(), torch.from_numpy(y)
    grads = []
    for gradient in ("reversible", "backprop"):
        model = build(a, "RevDEQ", torch.float64)
        model[2].gradient = gradient
        nn.functional.cross_entropy(model(x), y).backward()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return ((grads[0] - grads[1]).abs().max() / grads[1].abs().max()).item()


def train(a, label):
    import torch
    from torch import nn

    import revode.torch as rt

    torch.set_num_threads(a.threads)
    xtr, ytr = load("train", a.train, a.seed)
    xte, yte = load("test", a.test, a.seed + 1)
    xtr, ytr, xte, yte = map(torch.from_numpy, (xtr, ytr, xte, yte))
    model = build(a, label, torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    base_mib = start_peak_window()
    order = torch.Generator().manual_seed(a.seed)
    accuracy, seconds, fwd, bwd, drift, repaired, residual = [], [], [], [], [], 0, []
    for _ in range(a.epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(ytr), generator=order)
        for i in range(0, len(ytr), a.batch):
            idx = perm[i : i + a.batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            f_stats = rt.last_call()["deq_stats"]
            loss.backward()
            b_stats = rt.last_call()["deq_backward_stats"]
            opt.step()
            fwd.append(f_stats["nfe"])
            residual.append(f_stats["residual"])
            bwd.append((b_stats["backward_nfe"], b_stats["nvjp"], b_stats["adjoint_iterations"]))
            guard = b_stats.get("guard")
            if guard is not None:
                drift.append(guard["drift"])
                repaired += int(guard["repaired"])
        seconds.append(time.perf_counter() - start)
        with torch.no_grad():
            correct = sum(int((model(xte[i : i + 500]).argmax(1) == yte[i : i + 500]).sum()) for i in range(0, len(yte), 500))
        accuracy.append(correct / len(yte))
    peak_mib = peak_since()
    bwd = np.array(bwd, dtype=float)
    return {"model": label, "accuracy": accuracy, "seconds": seconds, "forward_nfe": float(np.mean(fwd)),
            "backward_nfe": float(bwd[:, 0].mean()), "backward_nvjp": float(bwd[:, 1].mean()),
            "adjoint_iterations": float(bwd[:, 2].mean()), "forward_residual": float(np.median(residual)),
            "drift_median": float(np.median(drift)) if drift else None, "drift_max": float(np.max(drift)) if drift else None,
            "repaired_batches": repaired, "batches": len(fwd),
            "peak_rss_mib": peak_mib, "peak_above_setup_mib": peak_mib - base_mib}


def write_results(a, check, results):
    os.makedirs(a.out_dir, exist_ok=True)
    keys = ["model", "test_accuracy", "seconds_per_epoch", "forward_nfe", "backward_nfe", "backward_nvjp",
            "adjoint_iterations", "forward_residual", "drift_median", "drift_max", "repaired_batches", "batches",
            "peak_rss_mib", "peak_above_setup_mib"]
    with open(os.path.join(a.out_dir, "conv-revdeq.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(keys)
        for r in results:
            row = dict(r, test_accuracy=r["accuracy"][-1], seconds_per_epoch=float(np.median(r["seconds"])))
            w.writerow([row[k] for k in keys])

    def e(v):
        return "–" if v is None else f"{v:.1e}"

    lines = ["| model | test accuracy | f evals forward | backward: f evals + VJPs | time / epoch | peak RSS | above setup | guard drift (median / max) |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {r['model']} | {100 * r['accuracy'][-1]:.1f} % | {r['forward_nfe']:.1f} | "
                     f"{r['backward_nfe']:.1f} + {r['backward_nvjp']:.1f} | {np.median(r['seconds']):.1f} s | "
                     f"{r['peak_rss_mib']:.0f} MiB | {r['peak_above_setup_mib']:.0f} MiB | {e(r['drift_median'])} / {e(r['drift_max'])} |")
    lines.append("")
    lines.append(f"Float64 check at the initial weights: RevDEQ's reversible gradient vs backprop through the same iteration: {check:.1e} relative.")
    with open(os.path.join(a.out_dir, "conv-revdeq-table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for r in results:
        left.plot(range(1, a.epochs + 1), [100 * x for x in r["accuracy"]], marker="o", label=r["model"])
    left.set(xlabel="epoch", ylabel="test accuracy (%)", title="Fashion-MNIST, conv DEQ block")
    left.legend()
    names = [r["model"] for r in results]
    width = 0.35
    pos = np.arange(len(names))
    right.bar(pos - width / 2, [r["forward_nfe"] for r in results], width, label="forward f evals")
    right.bar(pos + width / 2, [r["backward_nfe"] + r["backward_nvjp"] for r in results], width, label="backward evals + VJPs")
    right.set_xticks(pos, names)
    right.set(ylabel="per batch", title="function evaluations")
    right.legend()
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "conv-revdeq.png"), dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny run (smoke test, under a minute)")
    p.add_argument("--train", type=int, default=4000)
    p.add_argument("--test", type=int, default=2000)
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--channels", type=int, default=12)
    p.add_argument("--rev-steps", type=int, default=8, help="RevDEQ iterations (its stopping tolerance is --rev-tol)")
    p.add_argument("--rev-tol", type=float, default=1e-6)
    p.add_argument("--deq-steps", type=int, default=30, help="implicit DEQ: forward and adjoint iteration cap")
    p.add_argument("--deq-tol", type=float, default=1e-4)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--check-batch", type=int, default=16)
    p.add_argument("--out-dir", default="docs")
    p.add_argument("--model", help=argparse.SUPPRESS)
    p.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.quick:
        a.train, a.test, a.epochs, a.channels, a.check_batch = 128, 128, 1, 4, 4
    if a.model:
        print(json.dumps(train(a, a.model)))
        return
    if a.check:
        print(json.dumps(gradient_check(a)))
        return
    if a.quick:
        check = gradient_check(a)
        results = [train(a, m) for m in MODELS]
    else:
        forwarded = [x for x in sys.argv[1:]]
        check = run_script(forwarded, "--check", script=__file__)
        results = []
        for m in MODELS:
            results.append(run_script(forwarded, "--model", m, script=__file__))
            r = results[-1]
            print(f"{m:16s} acc {r['accuracy']}  {np.median(r['seconds']):.1f} s/epoch  nfe {r['forward_nfe']:.1f} + "
                  f"{r['backward_nfe']:.1f} + {r['backward_nvjp']:.1f} vjp  peak {r['peak_rss_mib']:.0f} MiB", flush=True)
    print(f"gradient check (float64, initial weights): RevDEQ reversible vs backprop through the same iteration: {check:.2e}")
    if check > 1e-10:
        raise SystemExit(f"the reversible DEQ gradient differs from backprop by {check:.2e} > 1e-10")
    if a.quick:
        for r in results:
            assert all(0.0 <= x <= 1.0 for x in r["accuracy"]) and r["forward_nfe"] > 0, r
        assert results[0]["drift_max"] is not None, "the guard reported no drift for RevDEQ"
        print("quick run ok")
        return
    write_results(a, check, results)


if __name__ == "__main__":
    main()
