#!/usr/bin/env python3
"""Reference implementation of a layerpar network, from `layerpar export` alone.

Rebuilds the ResNet from a safetensors file (parsed by hand: 8-byte little-endian
header length, JSON header, raw little-endian float64 tensors) or an .npz archive
(numpy.load), and predicts a CSV in the data's units:

    x0      = relu(W_open @ ((x - feature_shift) / feature_scale) + b_open)
    x(n+1)  = x(n) + beta * relu(W_n @ x(n) + b_n)      n = 0 .. depth-1
    y       = (W_close @ x(depth) + b_close) * target_scale + target_shift

usage: tools/predict.py MODEL.safetensors|MODEL.npz INPUT.csv OUTPUT.csv [--backend auto|numpy|torch]

INPUT.csv: header row, then the network's feature columns (extra columns after
them, e.g. targets, are ignored). OUTPUT.csv: one predicted_yK column per output,
full float64 precision. Prints the backend used on stderr.
"""
import argparse
import json
import struct
import sys

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n].decode("utf-8"))
    body = data[8 + n:]
    metadata = header.pop("__metadata__", {})
    tensors = {}
    for name, d in header.items():
        if d["dtype"] != "F64":
            raise SystemExit(f"{path}: tensor {name} has dtype {d['dtype']}, expected F64")
        begin, end = d["data_offsets"]
        tensors[name] = np.frombuffer(body[begin:end], dtype="<f8").reshape(d["shape"])
    return tensors, metadata


def read_npz(path):
    with np.load(path, allow_pickle=False) as z:
        tensors = {k: z[k] for k in z.files if k != "__metadata__"}
        metadata = json.loads(str(z["__metadata__"])) if "__metadata__" in z.files else {}
    return tensors, metadata


def load(path):
    with open(path, "rb") as f:
        magic = f.read(4)
    tensors, metadata = read_npz(path) if magic == b"PK\x03\x04" else read_safetensors(path)
    if metadata.get("format") != "layerpar-resnet":
        raise SystemExit(f"{path}: not a layerpar export (metadata format {metadata.get('format')!r})")
    return tensors, metadata


def predict_numpy(t, depth, x):
    """x: samples x inputs (raw units); returns samples x outputs (raw units)."""
    beta = float(t["beta"])
    h = (x - t["scaling.feature_shift"]) / t["scaling.feature_scale"]
    h = np.maximum(h @ t["opening.weight"].T + t["opening.bias"], 0.0)
    for n in range(depth):
        z = h @ t[f"hidden.{n}.weight"].T + t[f"hidden.{n}.bias"]
        h = h + beta * np.maximum(z, 0.0)
    y = h @ t["closing.weight"].T + t["closing.bias"]
    return y * t["scaling.target_scale"] + t["scaling.target_shift"]


def predict_torch(t, depth, x):
    import torch

    class ResNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            w, inputs = t["opening.weight"].shape
            outputs = t["closing.weight"].shape[0]
            self.beta = float(t["beta"])
            self.opening = torch.nn.Linear(inputs, w, dtype=torch.float64)
            self.hidden = torch.nn.ModuleList(torch.nn.Linear(w, w, dtype=torch.float64) for _ in range(depth))
            self.closing = torch.nn.Linear(w, outputs, dtype=torch.float64)
            state = {f"{k}": torch.from_numpy(np.array(v)) for k, v in t.items()
                     if k.startswith(("opening.", "hidden.", "closing."))}
            self.load_state_dict(state)
            for k in ("feature_shift", "feature_scale", "target_shift", "target_scale"):
                self.register_buffer(k, torch.from_numpy(np.array(t["scaling." + k])))

        def forward(self, x):
            h = torch.relu(self.opening((x - self.feature_shift) / self.feature_scale))
            for layer in self.hidden:
                h = h + self.beta * torch.relu(layer(h))
            return self.closing(h) * self.target_scale + self.target_shift

    with torch.no_grad():
        return ResNet()(torch.from_numpy(x)).numpy()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("model")
    p.add_argument("input")
    p.add_argument("output")
    p.add_argument("--backend", choices=["auto", "numpy", "torch"], default="auto")
    a = p.parse_args()
    tensors, metadata = load(a.model)
    depth, inputs = int(metadata["depth"]), int(metadata["inputs"])
    x = np.loadtxt(a.input, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)[:, :inputs]
    backend = a.backend
    if backend == "auto":
        try:
            import torch  # noqa: F401
            backend = "torch"
        except ImportError:
            backend = "numpy"
    y = (predict_torch if backend == "torch" else predict_numpy)(tensors, depth, x)
    print(f"predict.py: backend {backend}, {len(x)} rows, depth {depth}", file=sys.stderr)
    with open(a.output, "w") as f:
        f.write(",".join(f"predicted_y{k + 1}" for k in range(y.shape[1])) + "\n")
        for row in y:
            f.write(",".join(repr(float(v)) for v in row) + "\n")


if __name__ == "__main__":
    main()
