#!/usr/bin/env python3
"""Residual histories of `layerpar convergence` (the paper's Figure 1).

usage: convergence.py OUT.png (--json RUNS.json | --csv RUNS.csv) [--title T]

Two panels, forward and adjoint pass: relative residual ‖r_k‖/‖r_1‖ (log scale)
against MGRIT iteration, one line per network (depth, or width when several
widths share a depth).
"""
import argparse
import csv
import json

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import atomic  # tools/plots/atomic.py: temporary file, then rename


def load(a):
    if a.json:
        return json.load(open(a.json))["runs"]
    runs = {}
    for r in csv.DictReader(open(a.csv)):
        key = (int(r["depth"]), int(r["width"]), r["pass"])
        runs.setdefault(key, {"depth": key[0], "width": key[1], "pass": key[2], "relative": []})
        runs[key]["relative"].append(float(r["relative"]))
    return list(runs.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--json")
    ap.add_argument("--csv")
    ap.add_argument("--title", default="")
    a = ap.parse_args()
    runs = load(a)
    widths = {r["width"] for r in runs}
    depths = {r["depth"] for r in runs}
    fig, axes = plt.subplots(1, 2, figsize=(10, 4.2), sharey=True)
    for ax, pass_ in zip(axes, ["forward", "adjoint"]):
        for r in [r for r in runs if r["pass"] == pass_]:
            rel = [max(v, 1e-300) for v in r["relative"]]
            if len(depths) == 1 and len(widths) > 1:
                label = f"W = {r['width']}"
            elif len(widths) > 1:
                label = f"D = {r['depth']}, W = {r['width']}"
            else:
                label = f"D = {r['depth']}"
            ax.semilogy(range(1, len(rel) + 1), rel, marker="o", ms=3, label=label)
        ax.set_title(f"{pass_} pass")
        ax.set_xlabel("MGRIT iteration k")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("relative residual ‖r_k‖ / ‖r_1‖")
    fig.suptitle(a.title)
    fig.tight_layout()
    atomic.save(fig, a.out, dpi=120)


if __name__ == "__main__":
    main()
