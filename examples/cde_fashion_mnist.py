#!/usr/bin/env python3
"""A neural CDE classifier on irregularly sampled Fashion-MNIST (issue 14 §7, docs/cde.md).

Each 28 × 28 image is read row by row as a series of 28 steps with 28 channels; 30 % of the rows
(8 of 28) are dropped at random per sample, so every sample has its own irregular times. The
control path has a time channel, the 28 pixel channels (missing rows filled forward) and one
shared observation-count channel; it is interpolated by cubic Hermite splines with backward
differences (torchcde's default for causal data). z0 = W0 X(t0) + b0, dz = f(z) dX with f an
MLP h → widths → h·30 ending in tanh, and the logits are W z(t1) + b; loss: softmax cross
entropy. Backprop, checkpointing and reversible backprop are compared over midpoint, rk4 (one
step per row, 27 steps) and dopri5 (adaptive): test accuracy, training time, the gradient
method's stored floats (its memory, counted by revode) and the peak RSS of a fresh process per
row (examples/peak_rss.py; from after loading the data), for the same seeds and data.

    /usr/bin/python3 examples/cde_fashion_mnist.py --quick        # < 60 s, a smoke test
    nice -n 10 /usr/bin/python3 examples/cde_fashion_mnist.py --train 6000 --epochs 3

Reads Debian's dataset-fashion-mnist (/usr/share/datasets/fashion-mnist, no download). Exits 77
(ctest's skip) when the dataset is not installed.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

import revode

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fashion_mnist  # noqa: E402  (examples/fashion_mnist.py: the IDX files)
import peak_rss  # noqa: E402  (examples/peak_rss.py)
ROWS = 28


def load(split, count, rng):
    images, labels = fashion_mnist.split(split)
    pick = rng.choice(len(labels), size=count, replace=False)
    x = images[pick].astype(np.float64) / 255.0  # (count, 28 rows = times, 28 channels)
    drop = int(round(0.3 * ROWS))
    for sample in x:
        sample[rng.choice(ROWS, size=drop, replace=False)] = np.nan  # this sample's lost rows
    return x, labels[pick].astype(np.int64)


def log_softmax(logits):
    shifted = logits - logits.max(axis=0, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=0, keepdims=True))


class Classifier:
    """The trainable parameters beside the CDE's network: z0's map and the readout."""

    def __init__(self, cde, hidden, widths, classes, seed):
        rng = np.random.default_rng(seed)
        self.cde, self.hidden, self.classes = cde, hidden, classes
        self.p = cde.network_param_count
        c = cde.channels
        self.shapes = [(hidden, c), (hidden,), (classes, hidden), (classes,)]
        network = cde.params[:self.p].copy()
        # A small last layer, so that z stays O(1) over the path's total variation at first
        # (dz = F dX is invariant to the time parameterisation; only |F| sets the scale).
        last = hidden * c * ((cde.hidden if not widths else widths[-1]) + 1)
        network[-last:] *= 0.1
        parts = [network,
                 rng.uniform(-1, 1, (hidden, c)) / np.sqrt(c), np.zeros(hidden),
                 rng.uniform(-1, 1, (classes, hidden)) / np.sqrt(hidden), np.zeros(classes)]
        self.theta = np.concatenate([a.ravel() for a in parts])

    def unpack(self):
        out, at = [], self.p
        for shape in self.shapes:
            n = int(np.prod(shape))
            out.append(self.theta[at:at + n].reshape(shape))
            at += n
        return out

    def z0(self):
        w0, b0, _, _ = self.unpack()
        x0 = self.cde.path_values[:, 0, :].T  # channels × batch: X(t0) of every sample
        return w0 @ x0 + b0[:, None], x0

    def gradient(self, labels, solver, method, control):
        """Loss, the gradient of every trainable parameter, and revode's stats."""
        self.cde.params[:self.p] = self.theta[:self.p]
        w0, b0, wr, br = self.unpack()
        z0, x0 = self.z0()
        batch = len(labels)
        onehot = np.eye(self.classes)[:, labels]
        readout = {}

        def loss(k, t, z):  # cross entropy of the final state, mean over the batch
            logits = wr @ z + br[:, None]
            logp = log_softmax(logits)
            g_logits = (np.exp(logp) - onehot) / batch
            readout["wr"], readout["br"] = g_logits @ z.T, g_logits.sum(axis=1)
            return -np.sum(onehot * logp) / batch, wr.T @ g_logits

        t0, t1 = self.cde.times[0], self.cde.times[-1]
        g = revode.gradient(self.cde, z0, [t1], loss=loss, method=method, solver=solver, t0=t0,
                            **control)
        gz0 = g.grad_y0
        grad = np.concatenate([g.grad_params[:self.p], (gz0 @ x0.T).ravel(), gz0.sum(axis=1),
                               readout["wr"].ravel(), readout["br"]])
        return g.loss, grad, g.stats

    def predict(self, solver, control):
        self.cde.params[:self.p] = self.theta[:self.p]
        _, _, wr, br = self.unpack()
        z0, _ = self.z0()
        t0, t1 = self.cde.times[0], self.cde.times[-1]
        z1 = revode.solve(self.cde, z0, [t1], solver=solver, t0=t0, **control).ys[-1]
        return np.argmax(wr @ z1 + br[:, None], axis=0)


def observe(cde, x):
    """A minibatch into the field, with the count channel (the last) scaled to [0, 1]."""
    cde.set_observations(x)
    values = cde.params[cde.network_param_count:].reshape(cde.batch, ROWS, cde.channels)
    values[:, :, -1] /= ROWS  # a view: scales θ in place


# (method, solver for that method) per base scheme: reversible backprop runs McCallum–Foster
# over the same tableau; checkpointing keeps C checkpoints of the forward's steps.
def methods(checkpoints):
    return [("backprop", ""), (f"checkpoint:{checkpoints}", ""), ("reversible", "reversible:")]


def configurations(args):
    """(scheme, method, solver) of every row, in the table's order."""
    return [(scheme, method, prefix + scheme) for scheme in args.solvers
            for method, prefix in methods(args.checkpoints)]


def train_one(args, scheme, method, solver):
    """One row: train and test one solver × method; peak RSS from after loading the data."""
    rng = np.random.default_rng(args.seed)
    train_x, train_y = load("train", args.train, rng)
    test_x, test_y = load("test", args.test, rng)
    times = np.arange(ROWS, dtype=np.float64) / (ROWS - 1)  # rows at t = 0, 1/27, …, 1
    b = args.batch
    control = dict(steps=ROWS - 1) if scheme != "dopri5" else dict(rtol=args.rtol, atol=args.rtol)
    setup = peak_rss.start_peak_window()
    cde = revode.cde_field(times, train_x[:b], hidden=args.hidden,
                           hidden_widths=args.widths, interpolation="hermite",
                           count_channels="shared", seed=args.seed)
    model = Classifier(cde, args.hidden, args.widths, 10, args.seed)
    adam = revode.Adam(model.theta.size)
    stored, start, losses = 0, time.perf_counter(), []
    for epoch in range(args.epochs):
        order = np.random.default_rng(args.seed + epoch).permutation(args.train)
        for i in range(0, args.train - b + 1, b):
            idx = order[i:i + b]
            observe(cde, train_x[idx])
            value, grad, stats = model.gradient(train_y[idx], solver, method, control)
            revode.clip_global_norm(grad, 1.0)
            adam.step(args.lr, model.theta, grad)
            stored = max(stored, stats["stored_floats"])
            losses.append(value)
    train_s = time.perf_counter() - start
    correct = 0
    for i in range(0, args.test - b + 1, b):
        observe(cde, test_x[i:i + b])
        correct += int(np.sum(model.predict(scheme, control) == test_y[i:i + b]))
    peak = peak_rss.peak_since()
    accuracy = correct / (args.test // b * b)
    return dict(solver=solver, method=method, accuracy=accuracy,
                final_loss=float(np.mean(losses[-10:])), train_s=train_s,
                stored_floats=int(stored), stored_mb=stored * 8 / 2**20,
                peak_rss_mib=peak, peak_above_setup_mib=peak - setup)


def in_subprocess(argv, *extra):
    """This script with `extra` in a fresh process (its own peak RSS); its JSON answer."""
    out = subprocess.run([sys.executable, __file__, *argv, *extra], capture_output=True,
                         text=True, timeout=7200)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(extra)} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def run(args, argv):
    """Every row; each in a fresh process (its own peak RSS) unless --quick."""
    rows = []
    for scheme, method, solver in configurations(args):
        if args.quick:
            row = train_one(args, scheme, method, solver)
        else:
            row = in_subprocess(argv, "--one", f"{scheme}/{method}/{solver}")
        rows.append(row)
        print(f"{solver:22s} {method:14s} accuracy {row['accuracy']:.3f}  loss {row['final_loss']:.3f}"
              f"  train {row['train_s']:7.1f} s  stored {row['stored_mb']:8.2f} MB"
              f"  peak RSS {row['peak_rss_mib']:.0f} MiB (+{row['peak_above_setup_mib']:.1f})",
              flush=True)
    return rows


def sweep_one(args, steps, method, prefix):
    """One gradient (median of 3 for the time) at `steps` rk4 steps; peak RSS from after set-up."""
    rng = np.random.default_rng(args.seed)
    x, y = load("train", args.batch, rng)
    times = np.arange(ROWS, dtype=np.float64) / (ROWS - 1)
    cde = revode.cde_field(times, x, hidden=args.hidden, hidden_widths=args.widths,
                           interpolation="hermite", count_channels="shared", seed=args.seed)
    observe(cde, x)
    model = Classifier(cde, args.hidden, args.widths, 10, args.seed)
    setup = peak_rss.start_peak_window()
    seconds = []
    for _ in range(3):  # median of 3
        start = time.perf_counter()
        _, _, stats = model.gradient(y, prefix + "rk4", method, dict(steps=steps))
        seconds.append(time.perf_counter() - start)
    peak = peak_rss.peak_since()
    return dict(steps=steps, method=method, solver=prefix + "rk4",
                stored_mb=stats["stored_floats"] * 8 / 2**20, seconds=float(np.median(seconds)),
                peak_rss_mib=peak, peak_above_setup_mib=peak - setup)


def sweep(args, argv):
    """Memory and time of one gradient (batch args.batch, untrained model) against the number
    of rk4 steps: what each method stores as the steps grow; each row in a fresh process."""
    rows = []
    for steps in args.sweep_steps:
        for method, prefix in methods(args.checkpoints):
            rows.append(in_subprocess(argv, "--sweep-one", f"{steps}/{method}/{prefix}"))
            r = rows[-1]
            print(f"{steps:5d} steps  {prefix + 'rk4':15s} {method:14s} stored "
                  f"{r['stored_mb']:8.2f} MB  {r['seconds']:.3f} s  peak RSS {r['peak_rss_mib']:.0f} MiB "
                  f"(+{r['peak_above_setup_mib']:.1f})", flush=True)
    return rows


def plot(rows, path):
    """Panels (test accuracy, training time, stored MB, peak RSS above set-up), one bar per
    solver × method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['solver']}\n{r['method']}" for r in rows]
    panels = [("accuracy", "test accuracy"), ("train_s", "training time (s)"),
              ("stored_mb", "stored by the method (MB)")]
    if all("peak_above_setup_mib" in r for r in rows):
        panels.append(("peak_above_setup_mib", "peak RSS above set-up (MiB)"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 4.5))
    for ax, (key, title) in zip(axes, panels):
        ax.bar(range(len(rows)), [r[key] for r in rows],
               color=[{"backprop": "C0", "reversible": "C2"}.get(r["method"], "C1") for r in rows])
        ax.set_xticks(range(len(rows)), labels, rotation=90, fontsize=7)
        ax.set_title(title)
    fig.suptitle("Neural CDE on Fashion-MNIST rows, 30 % of rows dropped per sample")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes: a smoke test (< 60 s)")
    parser.add_argument("--train", type=int, default=4000)
    parser.add_argument("--test", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--hidden", type=int, default=16)
    parser.add_argument("--widths", type=int, nargs="*", default=[32])
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--rtol", type=float, default=1e-3, help="dopri5's rtol and atol")
    parser.add_argument("--checkpoints", type=int, default=4)
    parser.add_argument("--solvers", nargs="+", default=["midpoint", "rk4", "dopri5"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the table's rows to this file")
    parser.add_argument("--plot", help="draw accuracy, time and stored memory to this PNG")
    parser.add_argument("--sweep", action="store_true",
                        help="instead of training: one gradient's memory and time vs rk4 steps")
    parser.add_argument("--sweep-steps", type=int, nargs="+", default=[27, 108, 432, 1728])
    parser.add_argument("--from-json", help="plot the rows of an earlier --json run (no training)")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # SCHEME/METHOD/SOLVER: one row, as JSON
    parser.add_argument("--sweep-one", help=argparse.SUPPRESS)  # STEPS/METHOD/PREFIX
    args = parser.parse_args()
    if args.quick:
        args.train, args.test, args.batch, args.epochs = 64, 64, 32, 1
        args.hidden, args.widths = 8, [16]
    if args.from_json:
        with open(args.from_json) as f:
            plot(json.load(f)["rows"], args.plot)
        return 0
    if not fashion_mnist.available():
        print(f"skipped: {fashion_mnist.DATA_DIR} not found (Debian package dataset-fashion-mnist)")
        return 77
    if args.one:
        print(json.dumps(train_one(args, *args.one.split("/"))))
        return 0
    if args.sweep_one:
        steps, method, prefix = args.sweep_one.split("/")
        print(json.dumps(sweep_one(args, int(steps), method, prefix)))
        return 0
    # What a fresh process per row needs to rebuild the same run.
    forwarded = ["--train", str(args.train), "--test", str(args.test), "--batch", str(args.batch),
                 "--epochs", str(args.epochs), "--hidden", str(args.hidden), "--widths",
                 *map(str, args.widths), "--lr", repr(args.lr), "--rtol", repr(args.rtol),
                 "--checkpoints", str(args.checkpoints), "--seed", str(args.seed)]
    if args.sweep:
        rows = sweep(args, forwarded)
        if args.json:
            with open(args.json, "w") as f:
                json.dump(dict(args=vars(args), rows=rows), f, indent=1)
        return 0
    rows = run(args, forwarded)
    if args.plot:
        plot(rows, args.plot)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(args=vars(args), rows=rows), f, indent=1)
    # The smoke test's check: every run trained to a finite loss and made predictions.
    bad = [r for r in rows if not np.isfinite(r["final_loss"])]
    if bad:
        print(f"FAIL: non-finite loss in {bad}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
