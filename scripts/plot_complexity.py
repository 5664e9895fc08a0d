"""Plots `revode bench complexity` output: time per gradient and peak RSS against steps."""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

csv_path, png_path = sys.argv[1], sys.argv[2]
rows = defaultdict(list)
with open(csv_path) as f:
    for r in csv.DictReader(f):
        rows[r["method"]].append((int(r["steps"]), float(r["seconds"]), float(r["peak_rss_mib"]),
                                  int(r["stored_floats"])))
fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
for method, points in rows.items():
    points.sort()
    n = [p[0] for p in points]
    axes[0].loglog(n, [1e3 * p[1] for p in points], "o-", label=method)
    axes[1].loglog(n, [p[3] for p in points], "o-", label=method)
axes[0].set_ylabel("time per gradient (ms)")
axes[1].set_ylabel("stored_floats (peak scalars kept)")
for ax in axes:
    ax.set_xlabel("number of steps N")
    ax.grid(True, which="both", alpha=0.3)
axes[0].legend(fontsize=8)
fig.suptitle("gradient methods vs steps (midpoint, MLP [t,y]→10→2, loss at every step)")
fig.tight_layout()
fig.savefig(png_path, dpi=120)
