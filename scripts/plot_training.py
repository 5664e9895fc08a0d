"""Plots `revode train --plot`: the loss per iteration, and the trained model's trajectory
against the data, one panel per state component. Input: the JSON file the command writes."""
import json
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("matplotlib is not installed (Debian: apt-get install python3-matplotlib)")

json_path, png_path = sys.argv[1], sys.argv[2]
with open(json_path) as f:
    run = json.load(f)

columns = run["columns"]
fig, axes = plt.subplots(1, 1 + len(columns), figsize=(4.2 * (1 + len(columns)), 3.8),
                         squeeze=False)
loss_axis = axes[0][0]
loss_axis.semilogy(range(1, len(run["losses"]) + 1), run["losses"], lw=1)
loss_axis.set_xlabel("iteration")
loss_axis.set_ylabel("loss (MSE)")
loss_axis.grid(True, which="both", alpha=0.3)
for i, name in enumerate(columns):
    ax = axes[0][1 + i]
    ax.plot(run["times"], run["data"][i], "k.", ms=2, label="data")
    ax.plot(run["times"], run["prediction"][i], "-", lw=1.5, label="model")
    ax.set_xlabel("t")
    ax.set_ylabel(name)
    ax.grid(True, alpha=0.3)
axes[0][1].legend(fontsize=8)
fig.suptitle(run["title"])
fig.tight_layout()
fig.savefig(png_path, dpi=120)
