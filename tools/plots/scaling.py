#!/usr/bin/env python3
"""Scaling plots like the paper's Figure 2: (a) strong-scaling speed-up S(P) per depth,
(b) weak-scaling time against rank count, measured points (from `layerpar scaling
strong|weak --json`) beside the performance model (`layerpar scaling model --json`).

usage: scaling.py [--model MODEL.json] [--measured RUN.json ...] --out FIG.png
Oversubscribed measurements (P > cores) are drawn hollow: correctness only, not scaling data.
"""
import argparse
import json

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
import atomic  # tools/plots/atomic.py: temporary file, then rename


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model")
    ap.add_argument("--measured", nargs="*", default=[])
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    model = json.load(open(a.model)) if a.model else None
    runs = [json.load(open(p)) for p in a.measured]

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.8))
    colors = {}

    def color(key):
        if key not in colors:
            colors[key] = "C%d" % len(colors)
        return colors[key]

    if model:
        for c in model["curves"]:
            style = "-" if c["machine"].startswith("paper") else "--"
            if c["kind"] == "strong":
                ax1.plot(c["ranks"], c["speedup"], style, color=color(c["depth"]),
                         label="model D=%d, %s" % (c["depth"], "cluster" if style == "-" else "this machine"))
            else:
                ax2.plot(c["ranks"], c["seconds"], style, color="k",
                         label="model MGRIT, %s" % ("cluster" if style == "-" else "this machine"))
                # Layer-serial time of the same depths (speed-up × MGRIT time), 1 CPU.
                ax2.plot(c["ranks"], [s * t for s, t in zip(c["speedup"], c["seconds"])], style, color="C0",
                         label="layer-serial (1 CPU), %s" % ("cluster" if style == "-" else "this machine"))
    # Batch x layer grids (--data-groups): pure layer-parallel (D = 1), pure data-parallel
    # (D = P) and, per P, the best grid with both D > 1 and L > 1.
    markers = {"layer": ("o", ":"), "data": ("s", "--"), "2-D": ("^", "-.")}
    for run in runs:
        by_depth = {}
        for p in run["points"]:
            m = p["measurement"]
            d = m.get("dataGroups") or 1
            series = "layer" if d == 1 else "data" if d == m["ranks"] else "2-D"
            key = (m["depth"] if run["kind"] == "strong" else "weak", series)
            row = (m["ranks"], p["speedup"], m["seconds"], m["oversubscribed"], p["serialSeconds"])
            pts = by_depth.setdefault(key, {})
            if m["ranks"] not in pts or row[2] < pts[m["ranks"]][2]:
                pts[m["ranks"]] = row
        grids = len({k[1] for k in by_depth}) > 1
        for (key, series), pts in by_depth.items():
            pts = sorted(pts.values())
            ax = ax1 if run["kind"] == "strong" else ax2
            mk, ls = markers[series] if grids else ("o", ":")
            c = color(key) if run["kind"] == "strong" else "C3"
            for r, s, t, over, ser in pts:
                y = s if run["kind"] == "strong" else t
                ax.plot([r], [y], mk, color=c, markerfacecolor="none" if over else c)
            ys = [p[1] if run["kind"] == "strong" else p[2] for p in pts]
            what = ("D=%d" % key if run["kind"] == "strong" else "MGRIT")
            if grids:
                what += {"layer": ", layer-parallel", "data": ", data-parallel", "2-D": ", best 2-D grid"}[series]
            ax.plot([p[0] for p in pts], ys, ls, color=c, label="measured %s" % what)
            if run["kind"] == "weak" and series == "layer":
                ax2.plot([p[0] for p in pts], [p[4] for p in pts], "s:", color="C0", label="measured layer-serial (1 CPU)")
    ax1.axhline(1.0, color="b", lw=1.5)
    ax1.set_xscale("log", base=2)
    ax1.set_yscale("log")
    ax1.set_xlabel("ranks P")
    ax1.set_ylabel("speed-up S = T_serial / T_MGRIT(P)")
    ax1.set_title("(a) strong scaling (width 16)")
    ax1.legend(fontsize=7)
    ax2.set_xscale("log", base=2)
    ax2.set_yscale("log")
    ax2.set_xlabel("ranks P (depth = layers per rank × P)")
    ax2.set_ylabel("seconds, one forward + one backward")
    ax2.set_title("(b) weak scaling")
    ax2.legend(fontsize=7)
    fig.text(0.5, 0.01, "hollow markers: oversubscribed (P > cores), correctness only", ha="center", fontsize=8)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    atomic.save(fig, a.out, dpi=130)


if __name__ == "__main__":
    main()
