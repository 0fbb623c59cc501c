#!/usr/bin/env python3
"""Plot `layerpar bench kernels --json` results: GFLOP/s of every
implementation per shape, one panel per kernel, with the measured peaks
(256-bit, and 512-bit where the CPU has AVX-512).

usage: kernels.py RESULTS.json OUT.png
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import atomic  # tools/plots/atomic.py: temporary file, then rename

IMPLS = ["reference", "avx2", "avx512", "avx2-mask", "openblas", "openblas-gemm", "libxsmm", "libxsmm-gemm"]
COLORS = {"reference": "#999999", "avx2": "#d62728", "avx512": "#9467bd", "avx2-mask": "#ff9896", "openblas": "#1f77b4",
          "openblas-gemm": "#aec7e8", "libxsmm": "#2ca02c", "libxsmm-gemm": "#98df8a"}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        report = json.load(f)
    results = report["results"]
    kernels = [k for k in ("forward", "adjoint") if any(r["kernel"] == k for r in results)]
    fig, axes = plt.subplots(len(kernels), 1, figsize=(12, 4 * len(kernels)), squeeze=False)
    for ax, kernel in zip(axes[:, 0], kernels):
        rows = [r for r in results if r["kernel"] == kernel]
        shapes = sorted({(r["width"], r["batch"]) for r in rows})
        impls = [i for i in IMPLS if any(r["impl"] == i for r in rows)]
        width = 0.8 / max(len(impls), 1)
        for n, impl in enumerate(impls):
            g = {(r["width"], r["batch"]): r["gflops"] for r in rows if r["impl"] == impl}
            xs = [s + (n - (len(impls) - 1) / 2) * width for s in range(len(shapes))]
            ax.bar(xs, [g.get(s, 0) for s in shapes], width, label=impl, color=COLORS.get(impl))
        for key, bits, style in (("peakGflops", 256, "--"), ("peak512Gflops", 512, ":")):
            if report.get(key):
                ax.axhline(report[key], color="black", linestyle=style, linewidth=1,
                           label="measured %d-bit peak %.1f" % (bits, report[key]))
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels(["w=%d\nB=%d" % s for s in shapes], fontsize=8)
        ax.set_ylabel("GFLOP/s (%s, 1 thread)" % report.get("precision", ""))
        ax.set_title("%s kernel" % kernel)
        top = max([r["gflops"] for r in rows] + [report.get("peakGflops") or 0, report.get("peak512Gflops") or 0])
        ax.set_ylim(0, top * 1.3)
        ax.legend(fontsize=8, ncol=5, loc="upper left")
    fig.suptitle("layerpar bench kernels — %s, %s" % (report["machine"]["cpuModel"], report.get("date", "")))
    fig.tight_layout()
    atomic.save(fig, sys.argv[2], dpi=120)


if __name__ == "__main__":
    main()
