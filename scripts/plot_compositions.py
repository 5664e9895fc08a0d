#!/usr/bin/python3
"""Plots the compositions experiment (bench/compositions_experiment.cpp): for each problem,
evaluations per training iteration and wall time per training run against the target solver
accuracy, one line per solver and step mode. Usage:

    scripts/plot_compositions.py [compositions.csv] [docs/compositions.png]
"""
import csv
import sys
from collections import defaultdict

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {
    "alf": "tab:gray",
    "alf-yoshida4": "tab:blue",
    "alf-yoshida6": "tab:purple",
    "reversible:rk4": "tab:orange",
    "reversible:dopri5": "tab:red",
}


def main() -> None:
    src = sys.argv[1] if len(sys.argv) > 1 else "compositions.csv"
    dst = sys.argv[2] if len(sys.argv) > 2 else "docs/compositions.png"
    rows = list(csv.DictReader(open(src)))
    problems = list(dict.fromkeys(r["problem"] for r in rows))  # in file order
    fig, axes = plt.subplots(2, len(problems), figsize=(5.5 * len(problems), 7.5), squeeze=False)
    for col, problem in enumerate(problems):
        series = defaultdict(list)
        for r in rows:
            if r["problem"] == problem:
                series[(r["solver"], r["mode"])].append(r)
        for (solver, mode), points in sorted(series.items()):
            points.sort(key=lambda r: -float(r["target"]))
            x = [float(r["target"]) for r in points]
            style = dict(color=COLORS.get(solver, "black"), marker="o" if mode == "fixed" else "s",
                         linestyle="-" if mode == "fixed" else "--", label=f"{solver} ({mode})")
            axes[0][col].plot(x, [float(r["nfe_per_iter"]) for r in points], **style)
            axes[1][col].plot(x, [float(r["wall_s"]) for r in points], **style)
        for row, label in enumerate(["evaluations per iteration (forward + backward)",
                                     "wall time per training run [s]"]):
            ax = axes[row][col]
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.invert_xaxis()
            ax.grid(True, which="both", alpha=0.3)
            ax.set_ylabel(label)
            ax.set_xlabel("target solver accuracy (relative, on the trained model)")
        axes[0][col].set_title(problem)
    axes[0][0].legend(fontsize=7)
    fig.suptitle("Reversible backprop at matched accuracy: compositions vs ALF and McCallum–Foster")
    fig.tight_layout()
    fig.savefig(dst, dpi=110)
    print(f"wrote {dst}")


if __name__ == "__main__":
    main()
