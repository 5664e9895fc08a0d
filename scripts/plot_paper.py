"""Plots `revode bench paper`: training time and final loss (mean ± std over the seeds) per
method for each experiment (reversible vs checkpointing with C slots), from its CSV."""
import csv
import sys
from collections import defaultdict

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("matplotlib is not installed (Debian: apt-get install python3-matplotlib)")

csv_path, png_path = sys.argv[1], sys.argv[2]
runs = defaultdict(list)
with open(csv_path) as f:
    for r in csv.DictReader(f):
        runs[r["experiment"]].append(r)

fig, axes = plt.subplots(2, len(runs), figsize=(4.8 * len(runs), 6.4), squeeze=False)
for column, (experiment, rows) in enumerate(runs.items()):
    labels = ["reversible" if r["method"] == "reversible" else f"C={r['effective_checkpoints']}"
              for r in rows]
    colours = ["tab:green" if r["method"] == "reversible" else "tab:blue" for r in rows]
    axes[0][column].bar(labels, [float(r["seconds"]) for r in rows], color=colours)
    axes[0][column].set_title(f"{experiment} ({rows[0]['iterations']} iterations)")
    axes[0][column].set_ylabel("training time (s)")
    means = [float(r["final_loss"]) for r in rows]
    stds = [float(r["final_loss_std"]) for r in rows]
    # On a log axis a bar reaching zero or below vanishes, so the lower bar stops short of it.
    lower = [min(s, 0.999 * m) for m, s in zip(means, stds)]
    axes[1][column].bar(labels, means, yerr=[lower, stds], capsize=3, color=colours)
    axes[1][column].set_ylabel(f"final loss (seeds: {rows[0]['seeds']})")
    axes[1][column].set_yscale("log")
    for ax in axes[:, column]:
        ax.tick_params(axis="x", labelrotation=45)
        ax.grid(True, axis="y", alpha=0.3)
fig.suptitle("reversible (2 effective checkpoints) vs checkpointing with C slots")
fig.tight_layout()
fig.savefig(png_path, dpi=120)
