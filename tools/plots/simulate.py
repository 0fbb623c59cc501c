#!/usr/bin/env python3
"""Figure 2 predicted by SimGrid: (a) strong-scaling speed-up S(P) per depth, (b) weak-scaling
time against rank count — the replay of the real solver's schedule (solid, dots) beside the
analytic model from the same calibration (dashed), from `layerpar scaling simulate --json`.
Several files (e.g. two solver set-ups) are drawn together, labelled by --labels.

usage: simulate.py --results SIM.json [SIM2.json …] [--labels A B …] --out FIG.png
"""
import argparse
import json

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import atomic  # tools/plots/atomic.py: temporary file, then rename


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", nargs="+", required=True)
    ap.add_argument("--labels", nargs="*", default=[])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    n = 0
    for i, path in enumerate(a.results):
        out = json.load(open(path))
        tag = a.labels[i] if i < len(a.labels) else ""
        pts = out["points"]
        for d in sorted({p["depth"] for p in pts if p["kind"] == "strong"}):
            s = sorted((p for p in pts if p["kind"] == "strong" and p["depth"] == d), key=lambda p: p["ranks"])
            c = "C%d" % n
            n += 1
            r = [p["ranks"] for p in s]
            ax1.plot(r, [p["speedup"] for p in s], "o-", color=c, label="SimGrid D=%d %s" % (d, tag))
            ax1.plot(r, [p["modelSpeedup"] for p in s], "--", color=c, label="model D=%d %s" % (d, tag))
        w = sorted((p for p in pts if p["kind"] == "weak"), key=lambda p: p["ranks"])
        if w:
            c = "C%d" % n
            n += 1
            r = [p["ranks"] for p in w]
            ax2.plot(r, [p["simulatedSeconds"] for p in w], "o-", color=c, label="SimGrid %s" % tag)
            ax2.plot(r, [p["modelSeconds"] for p in w], "--", color=c, label="model %s" % tag)
            ax2.plot(r, [p["serialSeconds"] for p in w], ":", color=c, label="layer-serial %s" % tag)
    ax1.axhline(1, color="gray", lw=0.8)
    for ax in (ax1, ax2):
        ax.set_xscale("log", base=2)
        ax.set_xlabel("ranks P")
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    ax1.set_yscale("log")
    ax1.set_ylabel("speed-up S(P) = T_serial / T(P)")
    ax1.set_title("(a) strong scaling, %s" % json.load(open(a.results[0]))["platform"])
    ax2.set_ylabel("forward + adjoint time [s]")
    ax2.set_title("(b) weak scaling")
    fig.tight_layout()
    atomic.save(fig, a.out, dpi=120)


if __name__ == "__main__":
    main()
