#!/usr/bin/env python3
"""Predictions against targets (the paper's Figure 6): one row per run, a scatter
with the identity line and a histogram of the residuals.

usage: predictions.py OUT.png [--title T] --run LABEL FILE.csv [--run LABEL FILE.csv ...]
FILE.csv has columns target,prediction,residual (layerpar reproduce writes them).
"""
import argparse
import csv

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import atomic  # tools/plots/atomic.py: temporary file, then rename


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--title", default="")
    p.add_argument("--run", nargs=2, action="append", metavar=("LABEL", "FILE"), required=True)
    a = p.parse_args()
    fig, axes = plt.subplots(len(a.run), 2, figsize=(9, 3.6 * len(a.run)), squeeze=False)
    for row, (label, path) in zip(axes, a.run):
        with open(path) as f:
            rows = list(csv.DictReader(f))
        t = [float(r["target"]) for r in rows]
        y = [float(r["prediction"]) for r in rows]
        e = [float(r["residual"]) for r in rows]
        lo, hi = min(t + y), max(t + y)
        row[0].scatter(t, y, s=4, alpha=0.5)
        row[0].plot([lo, hi], [lo, hi], "k--", lw=1, label="identity")
        row[0].set_xlabel("target")
        row[0].set_ylabel("prediction")
        row[0].set_title(f"{label}: prediction vs target")
        row[0].legend(loc="upper left")
        row[1].hist(e, bins=50)
        row[1].set_xlabel("prediction − target")
        row[1].set_ylabel("validation samples")
        row[1].set_title(f"{label}: residuals")
    if a.title:
        fig.suptitle(a.title)
    fig.tight_layout()
    atomic.save(fig, a.out, dpi=120)


if __name__ == "__main__":
    main()
