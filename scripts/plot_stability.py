"""Plots a stability region written by `revode stability` (CSV: re,im,radius,stable)."""
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

csv_path, png_path, title = sys.argv[1], sys.argv[2], sys.argv[3]
data = np.genfromtxt(csv_path, delimiter=",", names=True)
re, im = np.unique(data["re"]), np.unique(data["im"])
stable = data["stable"].reshape(len(im), len(re))
fig, ax = plt.subplots(figsize=(5, 5))
ax.contourf(re, im, stable, levels=[0.5, 1.5], colors=["#4c72b0"], alpha=0.6)
ax.contour(re, im, stable, levels=[0.5], colors="k", linewidths=0.8)
ax.axhline(0, color="grey", lw=0.5)
ax.axvline(0, color="grey", lw=0.5)
ax.set_xlabel("Re(h·a)")
ax.set_ylabel("Im(h·a)")
ax.set_title(f"stability region: {title}")
ax.set_aspect("equal")
fig.tight_layout()
fig.savefig(png_path, dpi=120)
