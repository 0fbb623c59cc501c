#!/usr/bin/env python3
"""Loss curves of one or more `layerpar train` runs (history.csv).

usage: loss.py OUT.png [--title T] [--reference L] [--x iteration|seconds|cpu_seconds]
               --run LABEL HISTORY.csv [--run LABEL HISTORY.csv ...]

Plots the batch loss (thin) and the full training / validation losses (markers
at evaluation steps) on a log scale, with the reference loss as a black line.
"""
import argparse
import csv

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import atomic  # tools/plots/atomic.py: temporary file, then rename


def read(path):
    rows = list(csv.DictReader(open(path)))
    def col(name):
        return [(float(r["iteration"]), float(r["seconds"]), float(r[name]), float(r.get("cpu_seconds") or "nan"))
                for r in rows if r.get(name)]
    return col("batch_loss"), col("train_loss"), col("validation_loss")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--title", default="")
    ap.add_argument("--reference", type=float)
    ap.add_argument("--x", choices=["iteration", "seconds", "cpu_seconds"], default="iteration")
    ap.add_argument("--train-only", action="store_true", help="only the full training loss (many runs)")
    ap.add_argument("--run", nargs=2, action="append", metavar=("LABEL", "CSV"), required=True)
    a = ap.parse_args()
    xi = {"iteration": 0, "seconds": 1, "cpu_seconds": 3}[a.x]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for k, (label, path) in enumerate(a.run):
        batch, train, val = read(path)
        c = f"C{k}"
        if a.train_only:
            ax.plot([r[xi] for r in train], [r[2] for r in train], color=c, lw=1.2, label=label)
            continue
        ax.plot([r[xi] for r in batch[1:]], [r[2] for r in batch[1:]], color=c, alpha=0.25, lw=0.6)
        ax.plot([r[xi] for r in train], [r[2] for r in train], color=c, lw=1.6, label=f"{label} train")
        ax.plot([r[xi] for r in val], [r[2] for r in val], color=c, lw=1.0, ls="--", label=f"{label} validation")
    if a.reference:
        ax.axhline(a.reference, color="k", lw=1, label=f"reference {a.reference:g}")
    ax.set_yscale("log")
    ax.set_xlabel({0: "optimiser iteration", 1: "training time (s)", 3: "training CPU time (s)"}[xi])
    ax.set_ylabel("loss ½·mean (pred − target)²")
    ax.set_title(a.title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    atomic.save(fig, a.out, dpi=120)


if __name__ == "__main__":
    main()
