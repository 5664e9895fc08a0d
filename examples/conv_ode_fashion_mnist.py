#!/usr/bin/env python3
"""A convolutional ODE classifier on Fashion-MNIST trained with every revode gradient method.

ANODE's CIFAR-10 experiment (Gholami, Keutzer & Biros 2019) and MALI's ODE-ResNet (Zhuang et
al. 2021), reduced to this machine: a downsampling stem (conv 3×3 stride 2 + ReLU, 28×28 →
14×14), one ODE block dy/dt = conv(tanh(conv(y))) integrated over [0, 1] with fixed steps,
average pooling to 2×2 and a linear head. The same model (same initial weights, same batches)
is trained through revode.torch with

    backprop, anode, checkpoint:C, symplectic        over rk4 (exact: identical gradients)
    reversible                                       over alf (ALF, MALI's solver) and
                                                     reversible:rk4 (McCallum–Foster over rk4)
    the continuous adjoint (odeint_adjoint)          over rk4 (inexact: the ODE's gradient)

and reports test accuracy, time per epoch and peak memory (a fresh process per method: the RSS
high-water mark during training, reset after loading data and model, total and above the RSS
at that point). Before
training, one float64 batch checks that the exact methods' gradients agree to ~1e-10 and how far
the continuous adjoint's are off (ANODE's claim: its inexact gradients cost accuracy).

Data: Debian's dataset-fashion-mnist IDX files (/usr/share/datasets/fashion-mnist), no download.

Usage (from the repository root, after building the Python module):
    PYTHONPATH=build/python /usr/bin/python3 examples/conv_ode_fashion_mnist.py --quick
    PYTHONPATH=build/python nice -n 10 /usr/bin/python3 examples/conv_ode_fashion_mnist.py \\
        [--train 4000 --test 2000 --epochs 3 --channels 12 --steps 4] [--out-dir docs]
Full mode writes conv-ode.csv, conv-ode-table.md and conv-ode.png to --out-dir (docs/conv-ode.md).
"""

import argparse
import csv
import json
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402  (examples/fashion_mnist.py: the IDX files)
from peak_rss import peak_since, start_peak_window  # noqa: E402

# (label, solver, gradient): the methods compared, all at the same settings.
METHODS = [
    ("backprop", "rk4", "backprop"),
    ("anode", "rk4", "anode"),
    ("checkpoint:2", "rk4", "checkpoint:2"),
    ("symplectic", "rk4", "symplectic"),
    ("reversible (ALF / MALI)", "alf", "reversible"),
    ("reversible (McCallum–Foster rk4)", "reversible:rk4", "reversible"),
    ("continuous adjoint", "rk4", "adjoint"),
]


def load(split, count, seed):
    """`count` images of a split (a fixed random subset, the same for every method), scaled."""
    images, labels = fashion_mnist.split(split)
    pick = np.random.default_rng(seed).permutation(len(labels))[:count]
    x = (images[pick].astype(np.float32) / 255.0 - 0.2860) / 0.3530  # Fashion-MNIST's mean, std
    return x[:, None, :, :], labels[pick].astype(np.int64)


def build(a, label, dtype):
    import torch
    from torch import nn

    import revode.torch as rt

    _, solver, gradient = next(m for m in METHODS if m[0] == label)

    class Field(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, t, y):
            return self.conv2(torch.tanh(self.conv1(y)))

    class ODEBlock(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.field = Field(c)

        def forward(self, x):
            t = torch.tensor([0.0, 1.0], dtype=x.dtype)
            options = {"steps": a.steps}
            if gradient == "adjoint":
                return rt.odeint_adjoint(self.field, x, t, method=solver, options=options)[-1]
            return rt.odeint(self.field, x, t, method=solver, gradient=gradient, options=options)[-1]

    torch.manual_seed(a.seed)  # the same initial weights for every method
    c = a.channels
    model = nn.Sequential(
        nn.Conv2d(1, c, 3, stride=2, padding=1), nn.ReLU(),  # stem: 28×28 → 14×14
        ODEBlock(c),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(4 * c, 10),
    )
    return model.to(dtype)


def gradient_check(a):
    """Float64 gradients of one batch's loss at the initial weights, per method: the exact
    methods against backprop through the same solver, the adjoint against backprop (rk4)."""
    import torch
    from torch import nn

    torch.set_num_threads(1)
    x, y = load("train", a.check_batch, a.seed)
    x, y = torch.from_numpy(x).double(), torch.from_numpy(y)
    grads = {}
    for label, _, _ in METHODS:
        model = build(a, label, torch.float64)
        nn.functional.cross_entropy(model(x), y).backward()
        grads[label] = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    reference = {"rk4": grads["backprop"]}
    for label, solver, gradient in METHODS:
        if solver != "rk4" and solver not in reference:  # backprop through that reversible solver
            model = build(a, label, torch.float64)
            block = model[2]
            saved = block.forward

            def through_backprop(xx, block=block, solver=solver):
                import revode.torch as rt

                t = torch.tensor([0.0, 1.0], dtype=xx.dtype)
                return rt.odeint(block.field, xx, t, method=solver, gradient="backprop", options={"steps": a.steps})[-1]

            block.forward = through_backprop
            nn.functional.cross_entropy(model(x), y).backward()
            block.forward = saved
            reference[solver] = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    # And revode's backprop against plain torch autograd through the same rk4 steps.
    model = build(a, "backprop", torch.float64)
    block = model[2]

    def plain_rk4(xx, field=block.field):
        h = 1.0 / a.steps
        for n in range(a.steps):
            t0 = n * h
            k1 = field(t0, xx)
            k2 = field(t0 + h / 2, xx + (h / 2) * k1)
            k3 = field(t0 + h / 2, xx + (h / 2) * k2)
            k4 = field(t0 + h, xx + h * k3)
            xx = xx + h * (k1 / 6 + k2 / 3 + k3 / 3 + k4 / 6)
        return xx

    block.forward = plain_rk4
    nn.functional.cross_entropy(model(x), y).backward()
    torch_grad = torch.cat([p.grad.reshape(-1) for p in model.parameters()])
    rows = [{"method": "revode backprop vs plain torch autograd", "solver": "rk4",
             "rel_error_vs_backprop": ((grads["backprop"] - torch_grad).abs().max() / torch_grad.abs().max()).item()}]
    for label, solver, _ in METHODS:
        ref = reference[solver]
        err = ((grads[label] - ref).abs().max() / ref.abs().max()).item()
        rows.append({"method": label, "solver": solver, "rel_error_vs_backprop": err})
    return rows


def train(a, label):
    """Trains one method; returns accuracy per epoch, seconds per epoch and peak memory."""
    import torch
    from torch import nn

    torch.set_num_threads(a.threads)
    xtr, ytr = load("train", a.train, a.seed)
    xte, yte = load("test", a.test, a.seed + 1)
    xtr, ytr, xte, yte = map(torch.from_numpy, (xtr, ytr, xte, yte))
    model = build(a, label, torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=a.lr)
    base_mib = start_peak_window()
    order = torch.Generator().manual_seed(a.seed)  # the same batches for every method
    accuracy, seconds, losses = [], [], []
    for _ in range(a.epochs):
        start = time.perf_counter()
        perm = torch.randperm(len(ytr), generator=order)
        for i in range(0, len(ytr), a.batch):
            idx = perm[i : i + a.batch]
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(xtr[idx]), ytr[idx])
            loss.backward()
            opt.step()
            losses.append(loss.item())
        seconds.append(time.perf_counter() - start)
        with torch.no_grad():
            correct = sum(int((model(xte[i : i + 500]).argmax(1) == yte[i : i + 500]).sum()) for i in range(0, len(yte), 500))
        accuracy.append(correct / len(yte))
    peak_mib = peak_since()
    return {"method": label, "accuracy": accuracy, "seconds": seconds, "final_loss": float(np.mean(losses[-10:])),
            "peak_rss_mib": peak_mib, "peak_above_setup_mib": peak_mib - base_mib}


def in_subprocess(args, *extra, script=__file__):
    """`script` (default: this one) run with `extra` in a fresh process (its own peak RSS); its
    JSON answer."""
    out = subprocess.run([sys.executable, script, *args, *extra], capture_output=True, text=True, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(extra)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def write_results(a, check, results):
    os.makedirs(a.out_dir, exist_ok=True)
    errors = {r["method"]: r["rel_error_vs_backprop"] for r in check}
    with open(os.path.join(a.out_dir, "conv-ode-gradient-check.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "solver", "rel_error_vs_backprop_float64"])
        for r in check:
            w.writerow([r["method"], r["solver"], f"{r['rel_error_vs_backprop']:.3e}"])
    with open(os.path.join(a.out_dir, "conv-ode.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["method", "solver", "test_accuracy", "seconds_per_epoch", "peak_rss_mib", "peak_above_setup_mib",
                    "grad_rel_error_at_init_float64", "final_train_loss"])
        for (label, solver, _), r in zip(METHODS, results):
            w.writerow([label, solver, f"{r['accuracy'][-1]:.4f}", f"{np.median(r['seconds']):.2f}", f"{r['peak_rss_mib']:.1f}",
                        f"{r['peak_above_setup_mib']:.1f}", f"{errors[label]:.2e}", f"{r['final_loss']:.4f}"])
    lines = ["| method | solver | test accuracy | time / epoch (median) | peak RSS | above setup | gradient error at init (float64) |",
             "|---|---|---|---|---|---|---|"]
    for (label, solver, _), r in zip(METHODS, results):
        lines.append(f"| {label} | {solver} | {100 * r['accuracy'][-1]:.1f} % | {np.median(r['seconds']):.1f} s | "
                     f"{r['peak_rss_mib']:.0f} MiB | {r['peak_above_setup_mib']:.0f} MiB | {errors[label]:.1e} |")
    with open(os.path.join(a.out_dir, "conv-ode-table.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    for r in results:
        left.plot(range(1, a.epochs + 1), [100 * x for x in r["accuracy"]], marker="o", label=r["method"])
    left.set(xlabel="epoch", ylabel="test accuracy (%)", title="Fashion-MNIST, conv ODE block")
    left.legend(fontsize=7)
    names = [r["method"].replace(" (", "\n(") for r in results]
    right.bar(names, [r["peak_above_setup_mib"] for r in results], color="tab:gray")
    right.set(ylabel="peak RSS above setup (MiB)", title="memory per method")
    right.tick_params(axis="x", labelsize=6, rotation=45)
    fig.tight_layout()
    fig.savefig(os.path.join(a.out_dir, "conv-ode.png"), dpi=120)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny run (smoke test, under a minute)")
    p.add_argument("--train", type=int, default=4000, help="training images (a fixed random subset)")
    p.add_argument("--test", type=int, default=2000, help="test images (a fixed random subset)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--channels", type=int, default=12)
    p.add_argument("--steps", type=int, default=4, help="fixed steps of the ODE block over [0, 1]")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--check-batch", type=int, default=16, help="images in the float64 gradient check")
    p.add_argument("--out-dir", default="docs")
    p.add_argument("--method", help=argparse.SUPPRESS)
    p.add_argument("--check", action="store_true", help="only the float64 gradient check (prints JSON)")
    a = p.parse_args()
    if a.quick:
        a.train, a.test, a.epochs, a.channels, a.steps, a.check_batch = 128, 128, 1, 4, 2, 4
    if a.method:
        print(json.dumps(train(a, a.method)))
        return
    if a.check:
        print(json.dumps(gradient_check(a)))
        return
    forwarded = [x for x in sys.argv[1:] if x != "--quick"]
    if a.quick:  # everything in this process (memory figures are then not per method)
        check = gradient_check(a)
        results = [train(a, label) for label, _, _ in METHODS]
    else:
        forwarded += [f"--{k}={v}" for k, v in (("train", a.train), ("test", a.test), ("epochs", a.epochs),
                                                 ("channels", a.channels), ("steps", a.steps), ("check-batch", a.check_batch))]
        check = in_subprocess(forwarded, "--check")
        results = []
        for label, _, _ in METHODS:
            results.append(in_subprocess(forwarded, "--method", label))
            r = results[-1]
            print(f"{label:34s} acc {r['accuracy']}  {np.median(r['seconds']):.1f} s/epoch  peak {r['peak_rss_mib']:.0f} MiB "
                  f"(+{r['peak_above_setup_mib']:.0f})", flush=True)
    for r in check:
        print(f"gradient check (float64, initial weights): {r['method']:34s} rel. error vs backprop through {r['solver']}: "
              f"{r['rel_error_vs_backprop']:.2e}")
    exact = [r for r in check if r["method"] != "continuous adjoint"]
    worst = max(r["rel_error_vs_backprop"] for r in exact)
    if worst > 1e-10:
        raise SystemExit(f"exact methods disagree: worst relative gradient error {worst:.2e} > 1e-10")
    if a.quick:
        for r in results:
            assert all(0.0 <= x <= 1.0 for x in r["accuracy"]) and np.isfinite(r["final_loss"]), r
        print("quick run ok")
        return
    write_results(a, check, results)


if __name__ == "__main__":
    main()
