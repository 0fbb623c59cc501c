#!/usr/bin/env python3
"""Side-by-side table of `layerpar train` runs (summary.json files), printed and written as markdown.

usage: compare.py OUT.md SUMMARY.json [SUMMARY.json ...]
"""
import json
import sys


def fmt(v, f="{:.3e}"):
    return "—" if v is None else f.format(v)


def main():
    out, paths = sys.argv[1], sys.argv[2:]
    runs = [json.load(open(p)) for p in paths]
    rows = [
        ("mode", lambda s: s["configuration"]["mode"]),
        ("ranks", lambda s: str(s["ranks"])),
        ("batch groups × layer groups", lambda s: "—" if s.get("decomposition") is None else
         "{} × {}".format(s["decomposition"]["dataGroups"], s["decomposition"]["layerGroups"])),
        ("steps", lambda s: str(s["steps"])),
        ("affine-fit (plateau) loss", lambda s: fmt(s["affineFitLoss"])),
        ("plateau end (iteration)", lambda s: fmt(s.get("plateauEndIteration"), "{}")),
        ("iterations to reference loss", lambda s: fmt(s.get("iterationsToTarget"), "{}")),
        ("training seconds to reference loss", lambda s: fmt(s.get("secondsToTarget"), "{:.2f}")),
        ("lowest training loss", lambda s: fmt(s.get("lowestTrainLoss"))),
        ("lowest validation loss", lambda s: fmt(s.get("lowestValidationLoss"))),
        ("ms per step: forward", lambda s: fmt(1e3 * s["secondsPerStep"]["forward"], "{:.3f}")),
        ("ms per step: backward", lambda s: fmt(1e3 * s["secondsPerStep"]["backward"], "{:.3f}")),
        ("ms per step: update", lambda s: fmt(1e3 * s["secondsPerStep"]["update"], "{:.3f}")),
        ("ms per step: evaluation", lambda s: fmt(1e3 * s["secondsPerStep"]["evaluation"], "{:.3f}")),
        ("ms per step: training (forward + backward + update)", lambda s: fmt(1e3 * s["secondsPerStep"]["total"], "{:.3f}")),
        ("step time / first run's", lambda s: fmt(s["secondsPerStep"]["total"] / runs[0]["secondsPerStep"]["total"], "{:.2f}")),
        ("mean MGRIT iterations fwd / bwd", lambda s: "—" if s.get("meanForwardMGRITIterations") is None else
         "{:.2f} / {:.2f}".format(s["meanForwardMGRITIterations"], s["meanBackwardMGRITIterations"])),
        ("stop", lambda s: s["stopMessage"]),
    ]
    c = runs[0]["configuration"]
    ref = c.get("targetLoss")
    lines = [f"# Training comparison", "",
             f"Reference loss: {ref if ref else 'the paper reference (f1 5e-4, f2 6e-3)'}; "
             f"depth {c['depth']}, width {c['width']}, batch {c['batchSize']}, "
             f"{c['optimizer']['kind']} lr {c['optimizer']['learningRate']}, seed {c['seed']}. "
             "Times are training time (forward + backward + update), evaluation excluded.", "",
             "| | " + " | ".join(p.split("/")[-2] for p in paths) + " |",
             "|---|" + "---|" * len(paths)]
    for name, f in rows:
        lines.append(f"| {name} | " + " | ".join(f(s) for s in runs) + " |")
    text = "\n".join(lines) + "\n"
    open(out, "w").write(text)
    print(text)


if __name__ == "__main__":
    main()
